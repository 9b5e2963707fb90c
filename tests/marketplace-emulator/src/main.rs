//! A local stand-in for the marketplaces' APIs, for tests and local runs (moto lacks them).
//! A test fixture, not product code.
//!
//! - AWS Marketplace Metering over its real JSON 1.1 protocol: `ResolveCustomer` (the new
//!   shape: no `CustomerIdentifier` unless the token was minted for an old-style product) and
//!   `BatchMeterUsage` with AWS's rules: one product a call, at most 25 records, timestamps
//!   within the last 6 hours (else the whole call is refused), a customer named by
//!   `CustomerAWSAccountId` (+ `LicenseArn`) or `CustomerIdentifier`, a record with the key of
//!   an earlier one (customer, dimension, timestamp to the minute) and its quantity is that record again, with
//!   another quantity `DuplicateRecord`; `CustomerNotSubscribed` after an unsubscribe.
//! - Alibaba Cloud Marketplace's `PushMeteringData` (RPC style, form body, HMAC-SHA1 signature
//!   checked with `ALIYUN_ACCESS_KEY_SECRET`): at most 100 records, duplicates by (instance,
//!   start, end, item), `InstanceReleased` after an unsubscribe.
//! - Huawei Cloud KooGallery's usage push (`POST /koogallery/usage`, AK/SK signature checked
//!   with `KOOGALLERY_SECRET_KEY`): serial numbers deduplicated, 2-hour window.
//!
//! Test endpoints: `POST /_emulator/registration-tokens`, `GET /_emulator/metering` (the
//! ledger of every record taken), `POST|DELETE /_emulator/faults` (throttle, 5xx, drop the
//! answer after applying, leave records unprocessed), `POST /_emulator/unsubscribe`, and
//! `POST /_emulator/clock` (the time one product or instance sees, for tests that move their
//! own clock).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{json, Value};
use sha1::Sha1;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Customer {
    /// Only for a product integrated before licences: new integrations get none.
    customer_identifier: Option<String>,
    aws_account_id: String,
    product_code: String,
    license_arn: Option<String>,
    expires: Instant,
}

struct Fault {
    operation: String,
    /// Only calls for this product code or instance id (all calls when absent).
    scope: Option<String>,
    mode: String,
    remaining: u32,
    every: u32,
    seen: u32,
}

/// What identifies a record taken: (platform, scope, customer, dimension, time).
type RecordKey = (String, String, String, String, i64);

#[derive(Default)]
struct World {
    tokens: HashMap<String, Customer>,
    /// Every record taken, in order.
    ledger: Vec<Value>,
    /// (platform, scope, customer, dimension, time) → (quantity, record id).
    taken: HashMap<RecordKey, (String, String)>,
    unsubscribed: HashSet<String>,
    faults: Vec<Fault>,
    /// Seconds added to the real clock for a product code or an instance id.
    clocks: HashMap<String, i64>,
}

type Shared = Arc<Mutex<World>>;

impl World {
    fn now(&self, scope: &str) -> i64 {
        chrono::Utc::now().timestamp() + self.clocks.get(scope).copied().unwrap_or(0)
    }

    /// The fault, if any, this call of `operation` suffers.
    fn fault(&mut self, operation: &str, scope: &str) -> Option<String> {
        let applies = |f: &Fault| {
            f.remaining > 0
                && (f.operation == operation || f.operation == "any")
                && f.scope.as_deref().is_none_or(|s| s == scope)
        };
        for f in self.faults.iter_mut().filter(|f| applies(f)) {
            f.seen += 1;
            if f.seen % f.every.max(1) == 0 {
                f.remaining -= 1;
                return Some(f.mode.clone());
            }
        }
        None
    }
}

#[derive(Deserialize)]
struct Mint {
    customer_identifier: Option<String>,
    license_arn: Option<String>,
    aws_account_id: String,
    product_code: String,
    /// Seconds the token stays valid (default one hour; 0 mints an expired one).
    ttl_seconds: Option<u64>,
}

async fn mint(State(w): State<Shared>, Json(m): Json<Mint>) -> Json<Value> {
    let token = format!("emu-{}", ulid::Ulid::new());
    let c = Customer {
        customer_identifier: m.customer_identifier,
        aws_account_id: m.aws_account_id,
        product_code: m.product_code,
        license_arn: m.license_arn,
        expires: Instant::now() + Duration::from_secs(m.ttl_seconds.unwrap_or(3600)),
    };
    w.lock().expect("lock").tokens.insert(token.clone(), c);
    Json(json!({ "token": token }))
}

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({ "__type": kind, "message": message }).to_string();
    (status, [("content-type", "application/x-amz-json-1.1"), ("x-amzn-errortype", kind)], body).into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], v.to_string()).into_response()
}

fn resolve(w: &Shared, input: &Value) -> Response {
    let token = input["RegistrationToken"].as_str().unwrap_or_default();
    let found = w.lock().expect("lock").tokens.get(token).cloned();
    match found {
        None => aws_error(StatusCode::BAD_REQUEST, "InvalidTokenException", "Registration token is invalid"),
        Some(c) if c.expires <= Instant::now() => {
            aws_error(StatusCode::BAD_REQUEST, "ExpiredTokenException", "Registration token has expired")
        }
        Some(c) => {
            let mut out = json!({ "CustomerAWSAccountId": c.aws_account_id, "ProductCode": c.product_code });
            if let Some(id) = c.customer_identifier {
                out["CustomerIdentifier"] = id.into();
            }
            if let Some(arn) = c.license_arn {
                out["LicenseArn"] = arn.into();
            }
            ok(out)
        }
    }
}

/// The customer a record names: an account with its licence, or a customer identifier.
fn aws_customer(r: &Value) -> Result<String, &'static str> {
    let identifier = r["CustomerIdentifier"].as_str().filter(|s| !s.is_empty());
    let account = r["CustomerAWSAccountId"].as_str().filter(|s| !s.is_empty());
    match (identifier, account) {
        (Some(_), Some(_)) => Err("CustomerIdentifier and CustomerAWSAccountId are mutually exclusive"),
        (Some(id), None) => Ok(format!("id:{id}")),
        (None, Some(acct)) => Ok(format!("acct:{acct}|{}", r["LicenseArn"].as_str().unwrap_or_default())),
        (None, None) => Err("a record must name CustomerIdentifier or CustomerAWSAccountId"),
    }
}

fn batch_meter_usage(w: &Shared, input: &Value) -> Response {
    let mut world = w.lock().expect("lock");
    let product = input["ProductCode"].as_str().unwrap_or_default().to_string();
    if product.is_empty() {
        return aws_error(StatusCode::BAD_REQUEST, "InvalidProductCodeException", "ProductCode is required");
    }
    let records = input["UsageRecords"].as_array().cloned().unwrap_or_default();
    if records.len() > 25 {
        return aws_error(StatusCode::BAD_REQUEST, "ValidationException", "UsageRecords must have at most 25 members");
    }
    let fault = world.fault("BatchMeterUsage", &product);
    match fault.as_deref() {
        Some("throttle") => return aws_error(StatusCode::BAD_REQUEST, "ThrottlingException", "Rate exceeded"),
        Some("error") => {
            return aws_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServiceErrorException", "injected")
        }
        Some("unprocessed") => return ok(json!({ "Results": [], "UnprocessedRecords": records })),
        _ => {}
    }
    let now = world.now(&product);
    // One record out of the window refuses the whole call, as on AWS.
    for r in &records {
        let ts = r["Timestamp"].as_f64().unwrap_or(0.0) as i64;
        if ts <= now - 6 * 3600 || ts > now + 300 {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "TimestampOutOfBoundsException",
                "Timestamp is out of the allowed range",
            );
        }
    }
    let mut results = Vec::new();
    for r in records {
        let customer = match aws_customer(&r) {
            Ok(c) => c,
            Err(m) => return aws_error(StatusCode::BAD_REQUEST, "ValidationException", m),
        };
        let dimension = r["Dimension"].as_str().unwrap_or_default().to_string();
        // AWS ignores a timestamp's seconds: records a minute apart or less share a key.
        let ts = (r["Timestamp"].as_f64().unwrap_or(0.0) as i64).div_euclid(60) * 60;
        let quantity = r["Quantity"].as_i64().unwrap_or(1).to_string();
        let status = if world.unsubscribed.contains(&customer) {
            ("CustomerNotSubscribed", None)
        } else {
            let key = ("aws".to_string(), product.clone(), customer.clone(), dimension.clone(), ts);
            match world.taken.get(&key) {
                Some((q, id)) if *q == quantity => ("Success", Some(id.clone())),
                Some(_) => ("DuplicateRecord", None),
                None => {
                    let id = ulid::Ulid::new().to_string();
                    world.taken.insert(key, (quantity.clone(), id.clone()));
                    world.ledger.push(json!({"platform": "aws", "product_code": product, "customer": customer,
                        "dimension": dimension, "timestamp": ts, "quantity": quantity, "id": id}));
                    ("Success", Some(id))
                }
            }
        };
        let mut result = json!({ "UsageRecord": r, "Status": status.0 });
        if let Some(id) = status.1 {
            result["MeteringRecordId"] = id.into();
        }
        results.push(result);
    }
    if fault.as_deref() == Some("drop") {
        // Applied, but the answer is lost on the way back.
        return aws_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServiceErrorException", "injected: answer lost");
    }
    ok(json!({ "Results": results, "UnprocessedRecords": [] }))
}

const RPC: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn rpc_encode(s: &str) -> String {
    utf8_percent_encode(s, RPC).to_string()
}

fn aliyun_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "Code": code, "Message": message, "RequestId": ulid::Ulid::new().to_string() })))
        .into_response()
}

fn push_metering(w: &Shared, params: BTreeMap<String, String>) -> Response {
    let secret = std::env::var("ALIYUN_ACCESS_KEY_SECRET").unwrap_or_default();
    let given = params.get("Signature").cloned().unwrap_or_default();
    let unsigned: BTreeMap<&String, &String> = params.iter().filter(|(k, _)| *k != "Signature").collect();
    let canonical =
        unsigned.iter().map(|(k, v)| format!("{}={}", rpc_encode(k), rpc_encode(v))).collect::<Vec<_>>().join("&");
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("any key");
    mac.update(format!("POST&%2F&{}", rpc_encode(&canonical)).as_bytes());
    if secret.is_empty() || B64.encode(mac.finalize().into_bytes()) != given {
        return aliyun_error(StatusCode::BAD_REQUEST, "SignatureDoesNotMatch", "the signature does not match");
    }
    let Ok(records) = serde_json::from_str::<Vec<Value>>(params.get("Metering").map(String::as_str).unwrap_or("[]"))
    else {
        return aliyun_error(StatusCode::BAD_REQUEST, "InvalidParameter", "Metering is not a JSON array");
    };
    if records.is_empty() || records.len() > 100 {
        return aliyun_error(StatusCode::BAD_REQUEST, "InvalidParameter", "Metering holds 1 to 100 records");
    }
    let mut world = w.lock().expect("lock");
    let instance = records.first().and_then(|r| r["InstanceId"].as_str()).unwrap_or_default().to_string();
    let fault = world.fault("PushMeteringData", &instance);
    match fault.as_deref() {
        Some("throttle") => {
            return aliyun_error(
                StatusCode::BAD_REQUEST,
                "Throttling.User",
                "Request was denied due to user flow control.",
            )
        }
        Some("error") | Some("unprocessed") => {
            return aliyun_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "injected")
        }
        _ => {}
    }
    // All or nothing, as the push answers one Success for the request.
    let mut new = Vec::new();
    for r in &records {
        let instance = r["InstanceId"].as_str().unwrap_or_default().to_string();
        if world.unsubscribed.contains(&format!("instance:{instance}")) {
            return aliyun_error(StatusCode::BAD_REQUEST, "InstanceReleased", "the instance is released");
        }
        let (start, end) = (r["StartTime"].as_str().unwrap_or("0"), r["EndTime"].as_str().unwrap_or("0"));
        let (start, end) = (start.parse::<i64>().unwrap_or(0), end.parse::<i64>().unwrap_or(0));
        if end <= start || start > world.now(&instance) + 300 {
            return aliyun_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "StartTime and EndTime are not a period that has begun",
            );
        }
        for e in r["Entities"].as_array().cloned().unwrap_or_default() {
            let key = e["Key"].as_str().unwrap_or_default().to_string();
            let value = e["Value"].as_str().unwrap_or_default().to_string();
            match world.taken.get(&("aliyun".into(), instance.clone(), format!("{start}-{end}"), key.clone(), start)) {
                Some((q, _)) if *q == value => {}
                Some(_) => {
                    return aliyun_error(
                        StatusCode::BAD_REQUEST,
                        "MeteringConflict",
                        "the record was pushed with another value",
                    )
                }
                None => new.push((instance.clone(), start, end, key, value)),
            }
        }
    }
    for (instance, start, end, key, value) in new {
        let id = ulid::Ulid::new().to_string();
        world.taken.insert(
            ("aliyun".into(), instance.clone(), format!("{start}-{end}"), key.clone(), start),
            (value.clone(), id.clone()),
        );
        world.ledger.push(json!({"platform": "aliyun", "customer": format!("instance:{instance}"), "dimension": key,
            "timestamp": start, "end": end, "quantity": value, "id": id}));
    }
    if fault.as_deref() == Some("drop") {
        return aliyun_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", "injected: answer lost");
    }
    Json(json!({ "RequestId": ulid::Ulid::new().to_string(), "Success": true })).into_response()
}

async fn api(State(w): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let Ok(input) = serde_json::from_str::<Value>(&body) else {
            return aws_error(StatusCode::BAD_REQUEST, "SerializationException", "body is not JSON");
        };
        return match target.rsplit('.').next().unwrap_or_default() {
            "ResolveCustomer" => resolve(&w, &input),
            "BatchMeterUsage" => batch_meter_usage(&w, &input),
            other => {
                aws_error(StatusCode::BAD_REQUEST, "UnknownOperationException", &format!("unknown operation {other}"))
            }
        };
    }
    let params: BTreeMap<String, String> = body
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let d = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (d(k), d(v))
        })
        .collect();
    match params.get("Action").map(String::as_str) {
        Some("PushMeteringData") => push_metering(&w, params),
        _ => aliyun_error(StatusCode::BAD_REQUEST, "InvalidAction.NotFound", "unknown action"),
    }
}

/// KooGallery's usage push: the AK/SK signature (`SDK-HMAC-SHA256`) checked with
/// `KOOGALLERY_SECRET_KEY`; at most 1,000 records; a record's `recordId` again with the same
/// content is that record, with other content `RECORD_CONFLICT`; `beginTime` within the last
/// 2 hours; a released or frozen instance (`/_emulator/unsubscribe`) `INSTANCE_RELEASED`.
async fn koogallery_usage(State(w): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let fail = |status: StatusCode, code: &str| (status, Json(json!({ "resultCode": code }))).into_response();
    let sk = std::env::var("KOOGALLERY_SECRET_KEY").unwrap_or_default();
    let auth = header("authorization");
    let given = auth.rsplit("Signature=").next().unwrap_or_default().to_string();
    let canonical = format!(
        "POST\n/koogallery/usage/\n\ncontent-type:{}\nhost:{}\nx-sdk-date:{}\n\ncontent-type;host;x-sdk-date\n{}",
        header("content-type"),
        header("host"),
        header("x-sdk-date"),
        hex_sha256(body.as_bytes())
    );
    let to_sign = format!("SDK-HMAC-SHA256\n{}\n{}", header("x-sdk-date"), hex_sha256(canonical.as_bytes()));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(sk.as_bytes()).expect("any key");
    mac.update(to_sign.as_bytes());
    if sk.is_empty() || hex_bytes(&mac.finalize().into_bytes()) != given {
        return fail(StatusCode::UNAUTHORIZED, "APIGW.0301");
    }
    let records = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["usageRecords"].as_array().cloned())
        .unwrap_or_default();
    if records.is_empty() || records.len() > 1000 {
        return fail(StatusCode::BAD_REQUEST, "INVALID_PARAMETER");
    }
    let mut world = w.lock().expect("lock");
    let instance = records[0]["instanceId"].as_str().unwrap_or_default().to_string();
    let fault = world.fault("PushUsage", &instance);
    match fault.as_deref() {
        Some("throttle") => return fail(StatusCode::TOO_MANY_REQUESTS, "THROTTLED"),
        Some("error") | Some("unprocessed") => return fail(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR"),
        _ => {}
    }
    let mut new = Vec::new();
    for r in &records {
        let instance = r["instanceId"].as_str().unwrap_or_default().to_string();
        if world.unsubscribed.contains(&format!("hwinstance:{instance}")) {
            return fail(StatusCode::BAD_REQUEST, "INSTANCE_RELEASED");
        }
        let begin = r["beginTime"].as_i64().unwrap_or(0) / 1000;
        let now = world.now(&instance);
        if begin <= now - 2 * 3600 || begin > now + 300 {
            return fail(StatusCode::BAD_REQUEST, "TIME_OUT_OF_RANGE");
        }
        let id = r["recordId"].as_str().unwrap_or_default().to_string();
        let content = format!("{}|{}|{}|{}", instance, r["meteringItem"], r["usage"], r["beginTime"]);
        match world.taken.get(&("huawei".into(), id.clone(), String::new(), String::new(), 0)) {
            Some((c, _)) if *c == content => {}
            Some(_) => return fail(StatusCode::BAD_REQUEST, "RECORD_CONFLICT"),
            None => new.push((id, content, instance, r.clone(), begin)),
        }
    }
    for (id, content, instance, r, begin) in new {
        world.taken.insert(("huawei".into(), id.clone(), String::new(), String::new(), 0), (content, id.clone()));
        world.ledger.push(
            json!({"platform": "huawei", "customer": format!("huawei:{instance}"), "dimension": r["meteringItem"],
            "timestamp": begin, "quantity": r["usage"].as_u64().unwrap_or(0).to_string(), "id": id}),
        );
    }
    if fault.as_deref() == Some("drop") {
        return fail(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR");
    }
    Json(json!({ "resultCode": "000000" })).into_response()
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex_bytes(&sha2::Sha256::digest(b))
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Deserialize)]
struct LedgerQuery {
    customer: Option<String>,
}

async fn ledger(State(w): State<Shared>, Query(q): Query<LedgerQuery>) -> Json<Value> {
    let world = w.lock().expect("lock");
    let records: Vec<&Value> =
        world.ledger.iter().filter(|r| q.customer.as_deref().is_none_or(|c| r["customer"] == c)).collect();
    Json(json!({ "records": records }))
}

#[derive(Deserialize)]
struct FaultSpec {
    /// `BatchMeterUsage`, `PushMeteringData` or `any`.
    operation: String,
    /// A product code or an instance id: only its calls fail.
    scope: Option<String>,
    /// `throttle`, `error`, `drop` (applied, answer lost) or `unprocessed`.
    mode: String,
    /// How many calls fail (default: a great many).
    count: Option<u32>,
    /// One call in this many fails (default 1: every call).
    every: Option<u32>,
}

async fn add_fault(State(w): State<Shared>, Json(f): Json<FaultSpec>) -> StatusCode {
    w.lock().expect("lock").faults.push(Fault {
        operation: f.operation,
        scope: f.scope,
        mode: f.mode,
        remaining: f.count.unwrap_or(u32::MAX),
        every: f.every.unwrap_or(1),
        seen: 0,
    });
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct ScopeQuery {
    scope: Option<String>,
}

/// Clears the faults of a scope, or all of them.
async fn clear_faults(State(w): State<Shared>, Query(q): Query<ScopeQuery>) -> StatusCode {
    w.lock().expect("lock").faults.retain(|f| q.scope.is_some() && f.scope != q.scope);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Unsubscribe {
    customer_identifier: Option<String>,
    aws_account_id: Option<String>,
    license_arn: Option<String>,
    instance_id: Option<String>,
    huawei_instance_id: Option<String>,
}

async fn unsubscribe(State(w): State<Shared>, Json(u): Json<Unsubscribe>) -> StatusCode {
    let key = match (u.customer_identifier, u.aws_account_id, u.instance_id, u.huawei_instance_id) {
        (Some(id), ..) => format!("id:{id}"),
        (_, Some(acct), ..) => format!("acct:{acct}|{}", u.license_arn.unwrap_or_default()),
        (_, _, Some(i), _) => format!("instance:{i}"),
        (_, _, _, Some(i)) => format!("hwinstance:{i}"),
        _ => return StatusCode::BAD_REQUEST,
    };
    w.lock().expect("lock").unsubscribed.insert(key);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct ClockSpec {
    /// A product code (AWS) or an instance id (Alibaba).
    scope: String,
    now: chrono::DateTime<chrono::Utc>,
}

async fn clock(State(w): State<Shared>, Json(c): Json<ClockSpec>) -> StatusCode {
    let offset = c.now.timestamp() - chrono::Utc::now().timestamp();
    w.lock().expect("lock").clocks.insert(c.scope, offset);
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8602".into());
    let world: Shared = Arc::default();
    let app = Router::new()
        .route("/", post(api))
        .route("/koogallery/usage", post(koogallery_usage))
        .route("/_emulator/registration-tokens", post(mint))
        .route("/_emulator/metering", get(ledger))
        .route("/_emulator/faults", post(add_fault).delete(clear_faults))
        .route("/_emulator/unsubscribe", post(unsubscribe))
        .route("/_emulator/clock", post(clock))
        .with_state(world);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("marketplace emulator on http://{addr}");
    axum::serve(listener, app).await.expect("serve");
}
