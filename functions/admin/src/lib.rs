//! `admin`: `PUT /v1/admin/billing-accounts/{username}/free-choice`, for the vendor's customer
//! managers, behind an IAM-authorised route.

use billing_domain::service::settlement;
use billing_domain::Error;
use billing_http::{body, json, respond, route, App, HttpResponse, Request, Result};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use serde::Deserialize;
use serde_json::json as j;

pub const ROUTES: &[route::Route] = &[("PUT", "/v1/admin/billing-accounts/{username}/free-choice")];

#[derive(Deserialize)]
struct FreeChoice {
    enabled: Option<bool>,
}

/// API Gateway puts the caller's IAM identity in the request context; without it the
/// request did not come through the IAM-authorised route.
fn iam_caller(req: &Request) -> Result<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone()))
            .ok_or(Error::Forbidden),
        _ => Err(Error::Forbidden),
    }
}

pub async fn handle(app: &App, req: Request) -> HttpResponse {
    respond(dispatch(app, &req).await)
}

async fn dispatch(app: &App, req: &Request) -> Result<HttpResponse> {
    let (_, ids) = route::find(req, ROUTES)?;
    let who = iam_caller(req)?;
    let input = body::json::<FreeChoice>(req)?;
    let account = settlement::set_free_choice(&app.deps, &ids[0], input.enabled).await?;
    tracing::info!(admin = %who, billing_account = %account.username, free_choice = account.free_choice, "free choice set");
    Ok(json(200, &j!({ "username": account.username, "free_choice": account.free_choice })))
}
