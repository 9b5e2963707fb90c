//! `change-settlement`: settlement options and changes, and the billing center's lists.

use billing_domain::service::cloud::SettlementInput;
use billing_domain::service::settlement;
use billing_http::{body, json, respond, route, App, HttpResponse, Request, Result};
use serde_json::json as j;

/// What this function reads at start-up and at run time (the token keys; KooGallery's order query
/// AK/SK for a binding whose buyer is not known yet; template.yaml gives them).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::BINDING;

pub const ROUTES: &[route::Route] = &[
    ("GET", "/v1/workspaces/{workspace_id}/settlement-options"),
    ("PUT", "/v1/workspaces/{workspace_id}/settlement"),
    ("GET", "/v1/billing/workspaces"),
    ("GET", "/v1/billing/cloud-accounts"),
];

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    let (route, ids) = route::find(req, ROUTES)?;
    let caller = app.caller(req).await?;
    let deps = &app.deps;
    Ok(match route {
        0 => json(200, &settlement::options(deps, &caller, &ids[0]).await?),
        1 => {
            let input = body::json::<SettlementInput>(req)?;
            json(200, &j!({ "workspace": settlement::change(deps, &caller, &ids[0], input).await? }))
        }
        2 => json(200, &j!({ "workspaces": settlement::billing_workspaces(deps, &caller).await? })),
        _ => json(200, &j!({ "cloud_accounts": settlement::billing_cloud_accounts(deps, &caller).await? })),
    })
}
