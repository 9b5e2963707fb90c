//! `usage`: `POST /v1/usage`, the sites' exporters reporting usage, behind an IAM-authorised
//! route. The caller's role must be one a site names (`SITE_EXPORTERS`); each record must be of
//! a workspace of a site it reports for.

use billing_domain::service::usage::{self, UsageBatch};
use billing_http::{auth, body, json, respond, route, App, HttpResponse, Request, Result};

/// What this function reads at start-up and at run time (which roles report which site's usage; no secret; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::USAGE;

pub const ROUTES: &[route::Route] = &[("POST", "/v1/usage")];

/// A batch of 1,000 records is about 150 KB: this route takes bodies up to 1 MiB.
pub const MAX_BODY: usize = 1024 * 1024;

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    route::find_within(req, ROUTES, MAX_BODY)?;
    let caller = auth::iam_caller(req)?;
    // A caller no site names is refused before anything is read or recorded.
    let exporter = usage::exporter(&app.deps, &caller)?;
    app.once("usage", Some(&caller), req, async {
        let batch = body::json::<UsageBatch>(req)?;
        let report = usage::ingest(&app.deps, &exporter, batch).await?;
        billing_domain::telemetry::usage_batch(
            report.accepted,
            report.duplicates,
            report.rejected.iter().map(|r| r.code),
        );
        Ok(json(200, &report))
    })
    .await
}
