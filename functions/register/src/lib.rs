//! `register`: `POST /v1/registrations`, `GET /v1/sites`.

use billing_domain::service::register::{self, RegisterRequest};
use billing_domain::sites::SITES;
use billing_http::{body, json, respond, route, App, HttpResponse, Request, Result};
use serde_json::json as j;

/// What this function reads at start-up and at run time (the token keys; KooGallery's order query
/// AK/SK for a binding whose buyer is not known yet; template.yaml gives them).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::BINDING;

pub const ROUTES: &[route::Route] = &[("POST", "/v1/registrations"), ("GET", "/v1/sites")];

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    match route::find(req, ROUTES)?.0 {
        0 => {
            app.once("register", None, req, async {
                let registration = body::json::<RegisterRequest>(req)?.validate()?;
                Ok(json(201, &register::register(&app.deps, registration).await?))
            })
            .await
        }
        _ => Ok(json(200, &j!({ "sites": SITES }))),
    }
}
