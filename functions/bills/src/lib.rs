//! `bills`: the billing items, a month's bill, balances, and a workspace's settlement history.

use billing_domain::billing_items::{BillingItemView, ITEMS};
use billing_domain::service::billing;
use billing_http::{json, respond, route, App, HttpResponse, Request, Result};
use serde_json::json as j;

/// What this function reads at start-up and at run time (the token signing keys; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::TOKENS;

pub const ROUTES: &[route::Route] = &[
    ("GET", "/v1/billing/items"),
    ("GET", "/v1/billing/bills/{month}"),
    ("GET", "/v1/billing/balance"),
    ("GET", "/v1/workspaces/{workspace_id}/settlement-history"),
];

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    let (route, ids) = route::find(req, ROUTES)?;
    if route == 0 {
        let items: Vec<BillingItemView> = ITEMS.iter().map(BillingItemView::from).collect();
        return Ok(json(200, &j!({ "items": items })));
    }
    let caller = app.caller(req).await?;
    let deps = &app.deps;
    Ok(match route {
        1 => json(200, &billing::bill(deps, &caller, &ids[0]).await?),
        2 => json(200, &billing::balances(deps, &caller).await?),
        _ => json(200, &j!({ "entries": billing::history(deps, &caller, &ids[0]).await? })),
    })
}
