//! `upgrade`: `POST /v1/workspaces/{workspace_id}/upgrade`.

use billing_domain::service::upgrade::{self, UpgradeRequest};
use billing_http::{body, json, respond, route, App, HttpResponse, Request, Result};

/// What this function reads at start-up and at run time (the token keys; KooGallery's order query
/// AK/SK for a binding whose buyer is not known yet; template.yaml gives them).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::BINDING;

pub const ROUTES: &[route::Route] = &[("POST", "/v1/workspaces/{workspace_id}/upgrade")];

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    let (_, ids) = route::find(req, ROUTES)?;
    let caller = app.caller(req).await?;
    app.once("upgrade", Some(&caller.subject()), req, async {
        let input = body::json::<UpgradeRequest>(req)?;
        Ok(json(200, &upgrade::upgrade(&app.deps, &caller, &ids[0], input).await?))
    })
    .await
}
