//! Requests as API Gateway hands them to the handlers, and the calls most tests make through
//! them (register, log in, report usage, top up).

use crate::*;
use billing_http::App;
use chrono::{DateTime, Utc};
use lambda_http::{Body, Request};
use serde_json::Value;

pub fn request(method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> Request {
    let mut b = http::Request::builder().method(method).uri(format!("https://api.example.com{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let body = body.map(|v| Body::Text(v.to_string())).unwrap_or(Body::Empty);
    b.body(body).unwrap()
}

pub fn raw(method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Request {
    let mut b = http::Request::builder().method(method).uri(format!("https://api.example.com{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::Text(body.to_string())).unwrap()
}

/// Status and JSON body of a response.
pub fn parts(r: billing_http::HttpResponse) -> (u16, Value) {
    let status = r.status().as_u16();
    let v = match r.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::String(t.clone())),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, v)
}

/// A valid free registration for `site`.
pub fn free_registration(site: &str) -> Value {
    let u = unique();
    serde_json::json!({
        "edition": "free", "site": site, "username": format!("user{u}"),
        "email": format!("{u}@example.com"), "phone": unique_phone(), "password": "s3cret-pass",
        "workspace": {"name": format!("ws {u}"), "language": "zh"}
    })
}

/// A valid commercial registration (enterprise settlement, new billing account).
pub fn commercial_registration(site: &str) -> Value {
    let mut v = free_registration(site);
    v["edition"] = "commercial".into();
    v["company"] = serde_json::json!({"name": "Acme 有限公司"});
    v["accept_agreement"] = true.into();
    v
}

/// Calls a function's handler and returns status and JSON body.
#[macro_export]
macro_rules! call {
    ($f:path, $h:expr, $method:expr, $path:expr, $body:expr, $token:expr) => {
        $crate::parts($f(&$h.app, $crate::request($method, $path, $body, $token)).await)
    };
}

/// Registers and returns the response body.
pub async fn registered(app: &App, body: &Value) -> Value {
    let (s, b) = parts(register::handle(app, request("POST", "/v1/registrations", Some(body), None)).await);
    assert_eq!(s, 201, "{b}");
    b
}

pub fn token(v: &Value, which: &str) -> String {
    v[which]["token"].as_str().unwrap().to_string()
}

/// `PUT .../free-choice` as API Gateway hands it over, with or without an IAM caller.
pub fn admin_request(username: &str, enabled: bool, iam: bool) -> lambda_http::Request {
    iam_request(
        "PUT",
        &format!("/v1/admin/billing-accounts/{username}/free-choice"),
        &serde_json::json!({"enabled": enabled}),
        iam,
    )
}

/// A request to an IAM-authorised route as API Gateway hands it over, with or without the
/// IAM caller (a customer manager's user) in its context.
pub fn iam_request(method: &str, path: &str, body: &Value, iam: bool) -> lambda_http::Request {
    let caller = iam.then_some("arn:aws:iam::123456789012:user/manager");
    iam_request_as(method, path, &body.to_string(), caller)
}

/// A request to an IAM-authorised route from the caller `user_arn` (none: no IAM context).
pub fn iam_request_as(method: &str, path: &str, body: &str, user_arn: Option<&str>) -> lambda_http::Request {
    use lambda_http::aws_lambda_events::apigw::*;
    use lambda_http::RequestExt;
    let req = raw(method, path, body, &[("content-type", "application/json")]);
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    if let Some(arn) = user_arn {
        let mut auth = ApiGatewayRequestAuthorizer::default();
        let mut desc = ApiGatewayRequestAuthorizerIamDescription::default();
        desc.user_arn = Some(arn.to_string());
        auth.iam = Some(desc);
        ctx.authorizer = Some(auth);
    }
    req.with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(ctx))
}

/// The ARN API Gateway passes for a site's exporter, which assumed the role `<site>-exporter`
/// that `make up` allows for that site (`SITE_EXPORTERS`).
pub fn exporter_arn(site: &str) -> String {
    format!("arn:aws:sts::123456789012:assumed-role/{site}-exporter/exporter-session")
}

/// `POST /v1/usage` as the sites' exporters send it: each site's records (by their workspace;
/// cn1's exporter for records that name none) from that site's exporter, the answers merged
/// into one, indices as in `records`. Returns the status (the first that is not 200, if any)
/// and the merged body.
pub async fn report_usage(app: &App, records: &[Value]) -> (u16, Value) {
    let ids: Vec<String> = records
        .iter()
        .filter_map(|r| r["workspace_id"].as_str())
        .filter(|id| billing_domain::rules::fields::is_id(id))
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // A store that cannot answer (reliability kills it) leaves the route to answer for itself.
    let sites: std::collections::HashMap<String, String> =
        app.deps.accounts.workspaces(&ids).await.unwrap_or_default().into_iter().map(|w| (w.id, w.site)).collect();
    let mut by_site: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, r) in records.iter().enumerate() {
        let site = r["workspace_id"].as_str().and_then(|id| sites.get(id)).cloned().unwrap_or_else(|| "cn1".into());
        by_site.entry(site).or_default().push(i);
    }
    if by_site.len() <= 1 {
        let site = by_site.into_keys().next().unwrap_or_else(|| "cn1".into());
        return report_usage_as(app, &exporter_arn(&site), records).await;
    }
    let (mut status, mut accepted, mut duplicates, mut rejected) = (200, 0, 0, Vec::new());
    for (site, indices) in by_site {
        let batch: Vec<Value> = indices.iter().map(|i| records[*i].clone()).collect();
        let (s, b) = report_usage_as(app, &exporter_arn(&site), &batch).await;
        if s != 200 {
            return (s, b);
        }
        status = s;
        accepted += b["accepted"].as_u64().unwrap_or(0);
        duplicates += b["duplicates"].as_u64().unwrap_or(0);
        for mut r in b["rejected"].as_array().cloned().unwrap_or_default() {
            r["index"] = indices[r["index"].as_u64().unwrap() as usize].into();
            rejected.push(r);
        }
    }
    rejected.sort_by_key(|r| r["index"].as_u64());
    (status, serde_json::json!({"accepted": accepted, "duplicates": duplicates, "rejected": rejected}))
}

/// `POST /v1/usage` from the IAM caller `user_arn`; returns status and body.
pub async fn report_usage_as(app: &App, user_arn: &str, records: &[Value]) -> (u16, Value) {
    let body = serde_json::json!({ "records": records }).to_string();
    parts(usage::handle(app, iam_request_as("POST", "/v1/usage", &body, Some(user_arn))).await)
}

/// One usage record.
pub fn usage_record(id: &str, workspace_id: &str, item: &str, hour: DateTime<Utc>, quantity: &str) -> Value {
    serde_json::json!({"id": id, "workspace_id": workspace_id, "item": item,
                       "hour": hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "quantity": quantity})
}

/// `POST /v1/admin/billing-accounts/{username}/top-ups` (IAM).
pub async fn top_up(app: &App, username: &str, amount: &str, currency: &str, reference: &str) -> (u16, Value) {
    let body = serde_json::json!({"amount": amount, "currency": currency, "reference": reference});
    let req = iam_request("POST", &format!("/v1/admin/billing-accounts/{username}/top-ups"), &body, true);
    parts(admin::handle(app, req).await)
}

/// A fresh billing token by password (tokens last an hour; tests move the clock).
pub async fn billing_token(app: &App, username: &str) -> String {
    let body = serde_json::json!({"username": username, "password": "s3cret-pass"});
    let (s, b) = parts(login::handle(app, request("POST", "/v1/billing/sessions", Some(&body), None)).await);
    assert_eq!(s, 200, "{b}");
    b["token"].as_str().unwrap().to_string()
}

/// `PUT /v1/workspaces/{id}/settlement` through the real handler, as `tok`'s holder.
pub async fn settle(h: &marketplace_webhook::Webhook, ws: &Value, body: Value, tok: &str) -> (u16, Value) {
    parts(
        change_settlement::handle(
            &h.app,
            request("PUT", &format!("/v1/workspaces/{}/settlement", ws.as_str().unwrap()), Some(&body), Some(tok)),
        )
        .await,
    )
}

/// `GET /v1/workspaces/{id}/settlement-options` through the real handler.
pub async fn options(h: &marketplace_webhook::Webhook, ws: &Value, tok: &str) -> (u16, Value) {
    parts(
        change_settlement::handle(
            &h.app,
            request("GET", &format!("/v1/workspaces/{}/settlement-options", ws.as_str().unwrap()), None, Some(tok)),
        )
        .await,
    )
}

/// The workspace as stored.
pub async fn workspace(w: &marketplace_webhook::Webhook, id: &Value) -> billing_domain::model::Workspace {
    w.app.deps.accounts.workspace(id.as_str().unwrap()).await.unwrap().unwrap()
}
