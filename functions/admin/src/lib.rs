//! `admin`: the vendor's staff, behind IAM-authorised routes: free choice for a billing
//! account (customer managers), top-ups (finance).

use billing_domain::service::{billing, metering, settlement};
use billing_domain::Error;
use billing_http::{auth, body, json, respond, route, App, HttpResponse, Request, Result};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json as j;

/// What this function reads at start-up and at run time (no secret; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::BASIC;

pub const ROUTES: &[route::Route] = &[
    ("PUT", "/v1/admin/billing-accounts/{username}/free-choice"),
    ("POST", "/v1/admin/billing-accounts/{username}/top-ups"),
    ("GET", "/v1/admin/metering"),
];

#[derive(Deserialize)]
struct FreeChoice {
    enabled: Option<bool>,
}

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    let (route, ids) = route::find(req, ROUTES)?;
    let who = auth::iam_caller(req)?;
    if route == 2 {
        let (from, to) = period(req)?;
        let rows = metering::reconciliation(&app.deps, from, to).await?;
        return Ok(json(200, &j!({ "from": from, "to": to, "rows": rows })));
    }
    if route == 1 {
        return app
            .once("admin", Some(&who), req, async {
                let input = body::json::<billing::TopUpRequest>(req)?;
                let (created, topped) = billing::top_up(&app.deps, &ids[0], input).await?;
                tracing::info!(admin = %who, billing_account = %ids[0], reference = %topped.top_up.reference, created, "top-up");
                Ok(json(if created { 201 } else { 200 }, &topped))
            })
            .await;
    }
    let input = body::json::<FreeChoice>(req)?;
    let account = settlement::set_free_choice(&app.deps, &ids[0], input.enabled).await?;
    tracing::info!(admin = %who, billing_account = %account.username, free_choice = account.free_choice, "free choice set");
    Ok(json(200, &j!({ "username": account.username, "free_choice": account.free_choice })))
}

/// `from` and `to` of the reconciliation (RFC 3339); the last day when absent.
fn period(req: &Request) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let params = body::query_params(req)?;
    let time = |name: &str| -> Result<Option<DateTime<Utc>>> {
        match params.iter().find(|(k, _)| k == name) {
            None => Ok(None),
            Some((_, v)) => DateTime::parse_from_rfc3339(v)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| Error::field(name, "invalid", "must be an RFC 3339 time")),
        }
    };
    let to = time("to")?.unwrap_or_else(Utc::now);
    let from = time("from")?.unwrap_or(to - Duration::days(1));
    Ok((from, to))
}
