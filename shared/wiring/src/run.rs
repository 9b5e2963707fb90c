//! The runtime's loops: tracing and wiring once, then the handler for every invocation.

use crate::{http_event, telemetry, wire, Needs, Settings, Wired};
use billing_http::{App, HttpResponse, Request};
use chrono::{DateTime, Utc};
use lambda_http::Service;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// JSON logs when Lambda asks for them (`AWS_LAMBDA_LOG_FORMAT=JSON`), each line carrying
/// the invocation's request id.
fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Tracing, settings, the metrics exporter, then the wiring: what every function does
/// before its loop.
pub async fn start(needs: Needs) -> Result<Wired, crate::SettingsError> {
    init_tracing();
    let settings = Settings::from_env(needs)?;
    telemetry::init(&settings.metrics_namespace);
    Ok(wire(settings).await)
}

/// Runs an HTTP function. The event is read by [`http_event::read`] (an event `lambda_http`
/// would fail or panic on is answered `400`), then converted and answered by `lambda_http`'s own
/// adapter.
pub async fn run_http<H, Fut>(needs: Needs, handler: H) -> Result<(), lambda_http::Error>
where
    H: Fn(Arc<App>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let app = Arc::new(App::from(start(needs).await?));
    let handler = Arc::new(handler);
    run_events(move |e: LambdaEvent<Value>| {
        let (app, handler) = (app.clone(), handler.clone());
        async move {
            let event = match http_event::read(e.payload) {
                Ok(event) => event,
                Err(why) => {
                    tracing::warn!(why, "event refused before routing");
                    return Ok(http_event::refusal(why));
                }
            };
            let mut adapter = lambda_http::Adapter::from(lambda_http::service_fn(move |req: Request| {
                let span = billing_http::request_span(&req);
                let fut = handler(app.clone(), req).instrument(span);
                async move { Ok::<_, std::convert::Infallible>(fut.await) }
            }));
            let response = adapter.call(LambdaEvent::new(event, e.context)).await?;
            Ok(serde_json::to_value(response)?)
        }
    })
    .await
}

/// Runs a scheduled function (EventBridge `rate(...)`): `job` for every invocation with its
/// deadline and the schedule's time (the event's `time`; `None` for an event without one, a run
/// by hand); its result is the invocation's answer.
pub async fn run_scheduled<F, Fut, T>(name: &'static str, needs: Needs, job: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<Wired>, Instant, Option<DateTime<Utc>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = billing_domain::Result<T>> + Send + 'static,
    T: Serialize,
{
    let wired = Arc::new(start(needs).await?);
    run_events(move |e: LambdaEvent<Value>| {
        let deadline = wired.deadline(e.context.deadline);
        let slot = e.payload["time"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc());
        let fut = job(wired.clone(), deadline, slot).instrument(tracing::info_span!("scheduled", function = name));
        async move {
            let done = fut.await?;
            let answer = serde_json::to_value(done)?;
            tracing::info!(function = name, answer = %answer, "scheduled run done");
            Ok(answer)
        }
    })
    .await
}

/// Runs a function of raw JSON events (several triggers in one function).
pub async fn run_events<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(LambdaEvent<Value>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, lambda_runtime::Error>> + Send + 'static,
{
    // The handler's future is boxed: its type would otherwise nest inside the runtime's,
    // deeper than the compiler follows.
    lambda_runtime::run(lambda_runtime::service_fn(
        move |e: LambdaEvent<Value>| -> BoxFuture<Result<Value, lambda_runtime::Error>> {
            telemetry::begin(&e.context.request_id);
            let fut = handler(e);
            Box::pin(async move {
                let answer = fut.await;
                telemetry::end();
                answer
            })
        },
    ))
    .await
}

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;
