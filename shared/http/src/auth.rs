//! `Authorization: Bearer <token>`: who is asking.

use billing_domain::{Error, Result};
use lambda_http::Request;

/// The bearer token of the request (checked by `Deps::principal`).
pub fn bearer(req: &Request) -> Result<&str> {
    let header = req.headers().get("authorization").and_then(|h| h.to_str().ok()).ok_or(Error::Unauthenticated)?;
    let token =
        header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).ok_or(Error::Unauthenticated)?;
    Ok(token.trim())
}

/// The IAM identity API Gateway puts in the request context of an IAM-authorised route;
/// without it the request did not come through such a route: `403`.
pub fn iam_caller(req: &Request) -> Result<String> {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone()))
            .filter(|who| !who.is_empty())
            .inspect(|who| {
                tracing::Span::current().record("caller", who.as_str());
            })
            .ok_or(Error::Forbidden),
        _ => Err(Error::Forbidden),
    }
}
