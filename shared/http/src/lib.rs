//! HTTP plumbing every function shares, written once: routing, body parsing (64 KiB,
//! `400 malformed_request`), bearer tokens, problem+json, `Idempotency-Key`. Start-up is
//! `billing-wiring`'s: this crate knows no SDK.

pub mod auth;
pub mod body;
pub mod idempotency;
pub mod problem;
pub mod route;

use lambda_http::{Body, Response};
use serde::Serialize;

pub use billing_domain::{Error, Result};
pub use lambda_http::Request;

pub type HttpResponse = Response<Body>;

/// A JSON response.
pub fn json<T: Serialize>(status: u16, value: &T) -> HttpResponse {
    match serde_json::to_string(value) {
        Ok(body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::Text(body))
            .expect("static parts are valid"),
        Err(e) => problem::response(&Error::internal(e)),
    }
}

/// Turns an operation's outcome into the response: the error side always as problem+json.
pub fn respond(result: Result<HttpResponse>) -> HttpResponse {
    result.unwrap_or_else(|e| problem::response(&e))
}

/// The span of one HTTP request: every log line of it names the route's path (with the ids
/// in it) and, once known, who called. Never the query string, a header or the body: they
/// carry signatures, tokens and passwords.
pub fn request_span(req: &Request) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        caller = tracing::field::Empty,
        action = tracing::field::Empty,
        instance = tracing::field::Empty,
    )
}

/// What every HTTP function holds across invocations.
pub struct App {
    pub deps: billing_domain::service::Deps,
    pub idempotency: std::sync::Arc<dyn billing_domain::ports::IdempotencyStore>,
}

impl App {
    /// A POST route's work, run at most once per `Idempotency-Key` of `subject` (the caller of
    /// an authenticated route; `None` on open routes).
    pub async fn once<F>(&self, scope: &str, subject: Option<&str>, req: &Request, run: F) -> Result<HttpResponse>
    where
        F: std::future::Future<Output = Result<HttpResponse>>,
    {
        let now = self.deps.clock.now();
        idempotency::once(&*self.idempotency, scope, subject, req, now, async { respond(run.await) }).await
    }

    /// Who the request's bearer token acts as (named in the request's log lines).
    pub async fn caller(&self, req: &Request) -> Result<billing_domain::crypto::token::Principal> {
        let principal = self.deps.principal(auth::bearer(req)?).await?;
        tracing::Span::current().record("caller", principal.subject());
        Ok(principal)
    }
}
