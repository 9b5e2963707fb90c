//! `login`: `POST /v1/sessions`, `POST /v1/billing/sessions`, `POST /v1/billing/sso`.

use billing_domain::service::session::{self, BillingLogin, ConsoleLogin, SsoRequest};
use billing_http::{body, json, respond, route, App, HttpResponse, Request, Result};
use serde_json::json as j;

/// What this function reads at start-up and at run time (the token signing keys; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::TOKENS;

pub const ROUTES: &[route::Route] =
    &[("POST", "/v1/sessions"), ("POST", "/v1/billing/sessions"), ("POST", "/v1/billing/sso")];

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    let (route, _) = route::find(req, ROUTES)?;
    // SSO acts for its caller: its Idempotency-Keys are the caller's own.
    let caller = if route == 2 { Some(app.caller(req).await?) } else { None };
    let subject = caller.as_ref().map(|c| c.subject());
    app.once("login", subject.as_deref(), req, async {
        match (route, &caller) {
            (0, _) => {
                let (s, user_id) = session::console_login(&app.deps, body::json::<ConsoleLogin>(req)?).await?;
                Ok(json(200, &j!({ "token": s.token, "expires_at": s.expires_at, "user_id": user_id })))
            }
            (1, _) => Ok(json(200, &session::billing_login(&app.deps, body::json::<BillingLogin>(req)?).await?)),
            (_, Some(caller)) => Ok(json(200, &session::sso(&app.deps, caller, body::json::<SsoRequest>(req)?).await?)),
            _ => Err(billing_http::Error::Unauthenticated),
        }
    })
    .await
}
