//! A counting HTTP proxy: the functions reach DynamoDB Local (or moto) through it, so the
//! benchmark counts the round trips each route really makes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct Proxy {
    pub url: String,
    count: Arc<AtomicU64>,
}

struct Target {
    base: String,
    client: reqwest::Client,
    count: Arc<AtomicU64>,
}

async fn forward(
    State(t): State<Arc<Target>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    t.count.fetch_add(1, Ordering::SeqCst);
    if std::env::var("BENCH_TRACE").is_ok() {
        eprintln!("    -> {}", headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("?"));
    }
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
        let count = Arc::new(AtomicU64::new(0));
        let target = Arc::new(Target {
            base: base.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            count: count.clone(),
        });
        let app = Router::new().fallback(forward).with_state(target);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Proxy { url, count }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}
