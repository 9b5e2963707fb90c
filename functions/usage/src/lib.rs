//! `usage`: `POST /v1/usage`, the sites' exporters reporting usage, behind an IAM-authorised
//! route.

use billing_domain::service::usage::{self, UsageBatch};
use billing_http::{auth, body, json, respond, route, App, HttpResponse, Request, Result};

/// What this function reads at start-up and at run time (no secret; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::BASIC;

pub const ROUTES: &[route::Route] = &[("POST", "/v1/usage")];

/// A batch of 1,000 records is about 150 KB: this route takes bodies up to 1 MiB.
pub const MAX_BODY: usize = 1024 * 1024;

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    route::find_within(req, ROUTES, MAX_BODY)?;
    let site = auth::iam_caller(req)?;
    app.once("usage", Some(&site), req, async {
        let batch = body::json::<UsageBatch>(req)?;
        let report = usage::ingest(&app.deps, batch).await?;
        billing_domain::telemetry::usage_batch(&report);
        Ok(json(200, &report))
    })
    .await
}
