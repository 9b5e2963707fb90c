//! A counting HTTP proxy: the functions reach DynamoDB Local, moto and the Marketplace
//! emulator through one each, so the benchmark counts the round trips each route really
//! makes, by operation, and the capacity units DynamoDB bills for them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub type Ops = BTreeMap<String, u64>;

/// Capacity units, as DynamoDB bills them: item sizes rounded up (1 KB a write unit, 4 KB a
/// read unit), transactional items twice, every global secondary index written counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub read: f64,
    pub write: f64,
}

impl Units {
    pub fn per(self, n: f64) -> Units {
        Units { read: self.read / n, write: self.write / n }
    }
}

impl std::ops::Sub for Units {
    type Output = Units;
    fn sub(self, o: Units) -> Units {
        Units { read: self.read - o.read, write: self.write - o.write }
    }
}

pub struct Proxy {
    pub url: String,
    ops: Arc<Mutex<Ops>>,
    units: Arc<Mutex<Units>>,
}

struct Target {
    base: String,
    client: reqwest::Client,
    ops: Arc<Mutex<Ops>>,
    units: Arc<Mutex<Units>>,
}

/// The operation a request names: `X-Amz-Target` (JSON protocols), else the `Action` of a
/// query-protocol body (SES v1) or query string (Alibaba Cloud's RPC calls).
fn operation(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> String {
    if let Some(t) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return t.rsplit('.').next().unwrap_or(t).to_string();
    }
    let action = |params: &str| params.split('&').find_map(|kv| kv.strip_prefix("Action=")).map(str::to_string);
    action(&String::from_utf8_lossy(body)).or_else(|| query.and_then(action)).unwrap_or_else(|| "unknown".into())
}

const WRITES: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];
const READS: &[&str] = &["GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"];

fn is_dynamodb(headers: &HeaderMap) -> bool {
    headers.get("x-amz-target").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("DynamoDB_"))
}

/// The request with `ReturnConsumedCapacity: INDEXES`, so DynamoDB says what it billed
/// (DynamoDB Local does not check signatures, so the body may change).
fn asking_capacity(op: &str, body: &Bytes) -> Option<Bytes> {
    if !WRITES.contains(&op) && !READS.contains(&op) {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    if v.get("ReturnConsumedCapacity").is_some() {
        return None; // the caller asked itself: leave its request alone
    }
    v.as_object_mut()?.insert("ReturnConsumedCapacity".into(), Value::String("INDEXES".into()));
    Some(Bytes::from(serde_json::to_vec(&v).ok()?))
}

/// What a transaction is billed at least: DynamoDB charges two units for each item a
/// transaction writes or reads ("Amazon DynamoDB Transactions: How it works", capacity
/// management: "two underlying reads or writes of every item in the transaction: one to prepare
/// the transaction and one to commit the transaction"), 1 KB (writes) or 4 KB
/// (reads) at a time, and DynamoDB Local reports two units for the whole transaction whatever
/// it holds. Items are counted at their minimum size: index writes and larger items only add.
fn transaction_floor(op: &str, request: &[u8]) -> f64 {
    if op != "TransactWriteItems" && op != "TransactGetItems" {
        return 0.0;
    }
    let items = serde_json::from_slice::<Value>(request)
        .ok()
        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(0);
    2.0 * items as f64
}

/// The units an answer reports, and the answer as the caller would have had it.
fn billed(body: Bytes) -> (f64, Bytes) {
    let Ok(mut v) = serde_json::from_slice::<Value>(&body) else {
        return (0.0, body);
    };
    // A refused conditional write is billed as a write of at least one unit; DynamoDB Local
    // reports no capacity with an error.
    if v.get("__type").and_then(Value::as_str).is_some_and(|t| t.ends_with("ConditionalCheckFailedException")) {
        return (1.0, body);
    }
    let Some(c) = v.as_object_mut().and_then(|o| o.remove("ConsumedCapacity")) else {
        return (0.0, body);
    };
    let units = match &c {
        Value::Array(all) => all.iter().filter_map(|c| c["CapacityUnits"].as_f64()).sum(),
        c => c["CapacityUnits"].as_f64().unwrap_or(0.0),
    };
    (units, serde_json::to_vec(&v).map(Bytes::from).unwrap_or(body))
}

async fn forward(
    State(t): State<Arc<Target>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let op = operation(&headers, uri.query(), &body);
    if std::env::var("BENCH_TRACE").is_ok() {
        eprintln!("    -> {op}");
    }
    *t.ops.lock().unwrap().entry(op.clone()).or_default() += 1;
    let counting = is_dynamodb(&headers);
    let asked = if counting { asking_capacity(&op, &body) } else { None };
    let url = format!("{}{}", t.base, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut req = t.client.request(method, url).body(asked.clone().unwrap_or(body));
    for (k, v) in headers.iter() {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    match req.send().await {
        Ok(r) => {
            let status = r.status();
            let mut out = HeaderMap::new();
            for (k, v) in r.headers() {
                // The body may change (capacity taken out): its checksum would no longer hold.
                if k != "content-length" && k != "transfer-encoding" && !(asked.is_some() && k == "x-amz-crc32") {
                    out.insert(k.clone(), v.clone());
                }
            }
            let mut body = r.bytes().await.unwrap_or_default();
            if asked.is_some() {
                let (units, stripped) = billed(body);
                body = stripped;
                let units = units.max(transaction_floor(&op, asked.as_deref().unwrap_or_default()));
                let mut u = t.units.lock().unwrap();
                if WRITES.contains(&op.as_str()) {
                    u.write += units;
                } else {
                    u.read += units;
                }
            }
            (status, out, body).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

impl Proxy {
    pub async fn start(base: &str) -> Proxy {
        let ops = Arc::new(Mutex::new(Ops::new()));
        let units = Arc::new(Mutex::new(Units::default()));
        let target = Arc::new(Target {
            base: base.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            ops: ops.clone(),
            units: units.clone(),
        });
        let app = Router::new().fallback(forward).with_state(target);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Proxy { url, ops, units }
    }

    /// Requests so far, by operation.
    pub fn ops(&self) -> Ops {
        self.ops.lock().unwrap().clone()
    }

    pub fn count(&self) -> u64 {
        self.ops.lock().unwrap().values().sum()
    }

    /// Capacity units billed so far (DynamoDB only).
    pub fn units(&self) -> Units {
        *self.units.lock().unwrap()
    }
}

/// What happened between two snapshots.
pub fn since(before: &Ops, after: &Ops) -> Ops {
    after.iter().map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_asked_of_reads_and_writes_only_and_taken_out_of_the_answer() {
        let body = Bytes::from(r#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#);
        let asked: Value = serde_json::from_slice(&asking_capacity("PutItem", &body).unwrap()).unwrap();
        assert_eq!(asked["ReturnConsumedCapacity"], "INDEXES");
        assert!(asking_capacity("DescribeTable", &body).is_none());
        let answer =
            Bytes::from(r#"{"ConsumedCapacity":[{"TableName":"t","CapacityUnits":6.0},{"CapacityUnits":2.5}]}"#);
        let (units, stripped) = billed(answer);
        assert_eq!((units, &stripped[..]), (8.5, &b"{}"[..]));
        let refused = Bytes::from(r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}"#);
        assert_eq!(billed(refused).0, 1.0);
    }

    #[test]
    fn a_transaction_is_billed_two_units_an_item_at_least() {
        let three = br#"{"TransactItems":[{"Put":{}},{"Update":{}},{"ConditionCheck":{}}]}"#;
        assert_eq!(transaction_floor("TransactWriteItems", three), 6.0);
        assert_eq!(transaction_floor("TransactGetItems", br#"{"TransactItems":[{"Get":{}}]}"#), 2.0);
        assert_eq!(transaction_floor("PutItem", three), 0.0);
    }
}
