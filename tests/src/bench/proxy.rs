//! A counting HTTP proxy: the functions reach DynamoDB Local, moto and the Marketplace
//! emulator through one each, so the benchmark counts the round trips each route really
//! makes, by operation.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub type Ops = BTreeMap<String, u64>;

pub struct Proxy {
    pub url: String,
    ops: Arc<Mutex<Ops>>,
}

struct Target {
    base: String,
    client: reqwest::Client,
    ops: Arc<Mutex<Ops>>,
}

/// The operation a request names: `X-Amz-Target` (JSON protocols) or the `Action` of a
/// query-protocol body (SES v1).
fn operation(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(t) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return t.rsplit('.').next().unwrap_or(t).to_string();
    }
    String::from_utf8_lossy(body).split('&').find_map(|kv| kv.strip_prefix("Action=")).unwrap_or("unknown").to_string()
}

async fn forward(
    State(t): State<Arc<Target>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let op = operation(&headers, &body);
    if std::env::var("BENCH_TRACE").is_ok() {
        eprintln!("    -> {op}");
    }
    *t.ops.lock().unwrap().entry(op).or_default() += 1;
    let url = format!("{}{}", t.base, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut req = t.client.request(method, url).body(body);
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
                if k != "content-length" && k != "transfer-encoding" {
                    out.insert(k.clone(), v.clone());
                }
            }
            let body = r.bytes().await.unwrap_or_default();
            (status, out, body).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

impl Proxy {
    pub async fn start(base: &str) -> Proxy {
        let ops = Arc::new(Mutex::new(Ops::new()));
        let target = Arc::new(Target {
            base: base.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            ops: ops.clone(),
        });
        let app = Router::new().fallback(forward).with_state(target);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Proxy { url, ops }
    }

    /// Requests so far, by operation.
    pub fn ops(&self) -> Ops {
        self.ops.lock().unwrap().clone()
    }

    pub fn count(&self) -> u64 {
        self.ops.lock().unwrap().values().sum()
    }
}

/// What happened between two snapshots.
pub fn since(before: &Ops, after: &Ops) -> Ops {
    after.iter().map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}
