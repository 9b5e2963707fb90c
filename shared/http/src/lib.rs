//! HTTP plumbing every function shares, written once: routing, body parsing (64 KiB,
//! `400 malformed_request`), bearer tokens, problem+json, `Idempotency-Key`, and start-up.

pub mod auth;
pub mod body;
pub mod idempotency;
pub mod problem;
pub mod route;
pub mod startup;

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

/// What every HTTP function holds across invocations.
pub struct App {
    pub deps: billing_domain::service::Deps,
    pub idempotency: std::sync::Arc<dyn billing_domain::ports::IdempotencyStore>,
}

impl From<startup::Wired> for App {
    fn from(w: startup::Wired) -> Self {
        Self { deps: w.deps, idempotency: w.store }
    }
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

    pub fn caller(&self, req: &Request) -> Result<billing_domain::crypto::token::Principal> {
        auth::principal(req, &self.deps.tokens, self.deps.clock.now())
    }
}

/// Runs an HTTP function: tracing, wiring, then the handler for every invocation.
pub async fn run_http<H, Fut>(handler: H) -> std::result::Result<(), lambda_http::Error>
where
    H: Fn(std::sync::Arc<App>, Request) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = HttpResponse> + Send,
{
    startup::init_tracing();
    let app = std::sync::Arc::new(App::from(startup::wire().await?));
    lambda_http::run(lambda_http::service_fn(move |req| {
        let fut = handler(app.clone(), req);
        async move { Ok::<_, std::convert::Infallible>(fut.await) }
    }))
    .await
}

/// Runs a scheduled function (EventBridge Scheduler / `rate(...)`): tracing, wiring, then
/// `job` for every invocation with its deadline; its result is the invocation's answer.
pub async fn run_scheduled<F, Fut, T>(name: &'static str, job: F) -> std::result::Result<(), lambda_runtime::Error>
where
    F: Fn(std::sync::Arc<startup::Wired>, std::time::Instant) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = billing_domain::Result<T>> + Send,
    T: Serialize,
{
    startup::init_tracing();
    let wired = std::sync::Arc::new(startup::wire().await?);
    lambda_runtime::run(lambda_runtime::service_fn(move |e: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let deadline = startup::invocation_deadline(e.context.deadline);
        let fut = job(wired.clone(), deadline);
        async move {
            let done = fut.await?;
            let answer = serde_json::to_value(done)?;
            tracing::info!(function = name, answer = %answer, "scheduled run done");
            Ok::<_, lambda_runtime::Error>(answer)
        }
    }))
    .await
}
