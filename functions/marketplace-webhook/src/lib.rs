//! `marketplace-webhook`: the Alibaba Cloud SPI, Huawei Cloud KooGallery's SaaS interface and
//! the AWS landing over HTTP, and AWS Marketplace events as SQS records: EventBridge
//! agreement events and SNS notifications.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use billing_adapters::aliyun::spi;
use billing_adapters::aws::events::{self, Message};
use billing_adapters::koogallery::saas;
use billing_domain::service::{agreements, aliyun, aws, koogallery};
use billing_http::{body, json, respond, route, App, HttpResponse, Request, Result};
use billing_wiring::{http_event, Secret};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// What this function reads at start-up and at run time (the marketplaces' keys, both ways; template.yaml gives it).
pub const NEEDS: billing_wiring::Needs = billing_wiring::Needs::WEBHOOK;

pub const ROUTES: &[route::Route] = &[
    ("GET", "/v1/marketplace/aliyun"),
    ("POST", "/v1/marketplace/aliyun"),
    ("POST", "/v1/marketplace/aws/landing"),
    ("POST", "/v1/marketplace/huawei"),
];

pub struct Webhook {
    pub app: App,
    /// The key the Alibaba marketplace signs SPI calls with.
    pub spi_key: Arc<Secret<String>>,
    /// The key KooGallery signs its calls with (and checks our signed answers by).
    pub huawei_key: Arc<Secret<String>>,
    pub registration_url: String,
}

pub async fn handle_http(w: &Webhook, req: Request, deadline: Option<Instant>) -> HttpResponse {
    respond(dispatch(w, &req, deadline).await)
}

async fn dispatch(w: &Webhook, req: &Request, deadline: Option<Instant>) -> Result<HttpResponse> {
    let (route, _) = route::find(req, ROUTES)?;
    if route == 3 {
        let a = huawei(w, &body::query_params(req)?, body::text(req)?, deadline).await?;
        return Ok(http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("body-sign", a.body_sign)
            .body(lambda_http::Body::Text(a.body))
            .expect("static parts are valid"));
    }
    let params = body::form_params(req)?;
    if route < 2 {
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or_default();
        // The call's business ids in its log lines (never its `token`: the signature).
        let span = tracing::Span::current();
        span.record("action", param("action"));
        span.record("instance", if param("instanceId").is_empty() { param("orderBizId") } else { param("instanceId") });
        let key = w.spi_key.get().await?;
        let (status, answer) = match spi::read(&params, &key) {
            Ok(call) => spi::answer(aliyun::spi(&w.app.deps, call, deadline).await?),
            Err(refused) => refused,
        };
        return Ok(json(status, &answer));
    }
    let token = params.iter().find(|(k, _)| k == "x-amzn-marketplace-token").map(|(_, v)| v.as_str());
    let claim = aws::landing(&w.app.deps, token).await?;
    let sep = if w.registration_url.contains('?') { '&' } else { '?' };
    Ok(http::Response::builder()
        .status(303)
        .header("location", format!("{}{sep}aws_subscription={claim}", w.registration_url))
        .body(lambda_http::Body::Empty)
        .expect("static parts are valid"))
}

/// KooGallery: every call is checked before anything is read (signature over the body as sent,
/// timestamp within 60 s, nonce seen once); a forged, stale or replayed call changes nothing.
async fn huawei(
    w: &Webhook,
    params: &[(String, String)],
    body: &str,
    deadline: Option<Instant>,
) -> Result<saas::Answer> {
    if let Ok(call) = serde_json::from_str::<Value>(body) {
        // The call's business ids in its log lines (its signature is a URL parameter).
        let span = tracing::Span::current();
        span.record("action", call["activity"].as_str().unwrap_or_default());
        span.record("instance", call["instanceId"].as_str().or(call["orderId"].as_str()).unwrap_or_default());
    }
    let key = &*w.huawei_key.get().await?;
    let Some((nonce, sent_at)) = saas::verify(key, params, body) else {
        return Ok(saas::code(key, saas::AUTH_FAILED));
    };
    if !koogallery::admit(&w.app.deps, &nonce, sent_at).await? {
        return Ok(saas::code(key, saas::AUTH_FAILED));
    }
    let call = match saas::read(body) {
        Ok(call) => call,
        Err(code) => return Ok(saas::code(key, code)),
    };
    let outcome = koogallery::handle(&w.app.deps, call, sent_at, deadline).await?;
    Ok(saas::render(key, outcome, &w.registration_url))
}

/// A record's body is an EventBridge agreement event (current listings) or an SNS envelope
/// of a subscription notification (listings integrated before); an EventBridge event that
/// reached the queue through SNS is read as what it is.
async fn one_record(w: &Webhook, body: &str, deadline: Option<Instant>) -> Result<()> {
    let deps = &w.app.deps;
    match events::parse(body)? {
        Message::Notification(n) => aws::notification(deps, &n, deadline).await,
        Message::Agreement(event) => agreements::apply(deps, &event, deadline).await,
        Message::Ignored(what) => {
            tracing::info!(message = %what, "marketplace message not acted on");
            Ok(())
        }
    }
}

/// Each record on its own: only the failed ones are reported back, so only they are retried.
pub async fn handle_sqs(w: &Webhook, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("record", message_id = %id);
        if let Err(e) = one_record(w, record.body.as_deref().unwrap_or_default(), deadline).instrument(span).await {
            tracing::warn!(message_id = %id, error = %e, "marketplace notification failed; it will be retried");
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            failures.push(f);
        }
    }
    let mut r = SqsBatchResponse::default();
    r.batch_item_failures = failures;
    r
}

/// An SQS event's records one by one: a record that is no SQS message (SQS sends none, the
/// Invoke API may) fails alone, named by its `messageId` as far as it has one, instead of
/// failing the invocation and with it every other record of the batch.
fn sqs_records(event: Value) -> (SqsEvent, Vec<BatchItemFailure>) {
    let mut sqs = SqsEvent::default();
    let mut unreadable = Vec::new();
    let records = match event {
        Value::Object(mut o) => o.remove("Records"),
        _ => None,
    };
    for record in records.and_then(|r| if let Value::Array(a) = r { Some(a) } else { None }).unwrap_or_default() {
        let id = match &record["messageId"] {
            Value::String(id) => id.clone(),
            other => other.to_string(),
        };
        match serde_json::from_value(record) {
            Ok(message) => sqs.records.push(message),
            Err(e) => {
                tracing::warn!(message_id = %id, error = %e, "an SQS record that is no SQS message: reported failed");
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                unreadable.push(f);
            }
        }
    }
    (sqs, unreadable)
}

/// One function, two triggers: SQS records or an HTTP API (payload 2.0) request.
pub async fn handle_event(
    w: &Webhook,
    event: Value,
    deadline: Option<Instant>,
) -> std::result::Result<Value, lambda_runtime::Error> {
    if event["Records"][0]["eventSource"] == "aws:sqs" {
        let (sqs, unreadable) = sqs_records(event);
        let mut answer = handle_sqs(w, sqs, deadline).await;
        answer.batch_item_failures.extend(unreadable);
        return Ok(serde_json::to_value(answer)?);
    }
    let req: Request = match http_event::read(event) {
        Ok(event) => event.into(),
        Err(why) => {
            tracing::warn!(why, "event refused before routing");
            return Ok(http_event::refusal(why));
        }
    };
    let span = billing_http::request_span(&req);
    let resp = handle_http(w, req, deadline).instrument(span).await;
    Ok(http_event::response(resp))
}
