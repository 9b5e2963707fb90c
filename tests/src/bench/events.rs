//! Lambda events as API Gateway (HTTP API, payload 2.0), SQS and EventBridge send them.

use serde_json::{json, Value};

pub fn apigw(
    method: &str,
    path: &str,
    query: &str,
    body: Option<String>,
    headers: &[(&str, String)],
    iam: bool,
) -> Value {
    let manager = iam.then_some("arn:aws:iam::123456789012:user/manager");
    apigw_as(method, path, query, body, headers, manager)
}

/// An API Gateway event from the IAM caller `user_arn` (none: no IAM authorizer context).
pub fn apigw_as(
    method: &str,
    path: &str,
    query: &str,
    body: Option<String>,
    headers: &[(&str, String)],
    user_arn: Option<&str>,
) -> Value {
    let mut h = serde_json::Map::new();
    for (k, v) in headers {
        h.insert(k.to_string(), Value::String(v.clone()));
    }
    let mut ctx = json!({
        "accountId": "123456789012", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
        "requestId": ulid::Ulid::new().to_string(), "routeKey": "$default", "stage": "$default",
        "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 0
    });
    if let Some(arn) = user_arn {
        ctx["authorizer"] = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
                                           "userArn": arn, "userId": "AIDA"}});
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": h, "requestContext": ctx, "body": body, "isBase64Encoded": false
    })
}

pub fn json_post(method: &str, path: &str, body: &Value, token: Option<&str>) -> Value {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(t) = token {
        headers.push(("authorization", format!("Bearer {t}")));
    }
    apigw(method, path, "", Some(body.to_string()), &headers, false)
}

pub fn get(path: &str, token: Option<&str>) -> Value {
    let headers: Vec<(&str, String)> = token.map(|t| ("authorization", format!("Bearer {t}"))).into_iter().collect();
    apigw("GET", path, "", None, &headers, false)
}

pub fn scheduled() -> Value {
    json!({"version": "0", "id": ulid::Ulid::new().to_string(), "detail-type": "Scheduled Event", "source": "aws.events",
           "account": "123456789012", "time": "2026-11-22T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}})
}

/// A well-formed token of an unknown key: checking it reads the keys (twice, at most).
const FORGED: &str = "k.eyJ4IjoxfQ.AAAA";

/// A first request to `function` that needs its secret, where one does (the token keys, the
/// Alibaba SPI key); for the others any cheap request, and the schedule for scheduled ones.
/// Its answer is a refusal (`401`, `403`, `404`, `422`): what is timed is reading the secret.
pub fn secret_request(function: &str) -> Value {
    match function {
        "login" => json_post("POST", "/v1/billing/sso", &json!({"workspace_id": "ws_x"}), Some(FORGED)),
        "upgrade" => json_post("POST", "/v1/workspaces/ws_x/upgrade", &json!({}), Some(FORGED)),
        "change-settlement" => get("/v1/billing/workspaces", Some(FORGED)),
        "bills" => get("/v1/billing/balance", Some(FORGED)),
        // Issues tokens only after a registration is checked and written: no cheap request
        // reads its keys, so this one (refused) does not.
        "register" => json_post("POST", "/v1/registrations", &json!({}), None),
        "marketplace-webhook" => apigw("GET", "/v1/marketplace/aliyun", "action=x&token=y", None, &[], false),
        "admin" | "usage" => get("/v1/nowhere", None),
        _ => scheduled(),
    }
}

/// Whether `secret_request(function)` reads a secret.
pub fn reads_a_secret(function: &str) -> bool {
    matches!(function, "login" | "upgrade" | "change-settlement" | "bills" | "marketplace-webhook")
}
