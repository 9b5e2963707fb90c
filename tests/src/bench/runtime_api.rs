//! A minimal Lambda Runtime API (the `2018-06-01` interface `lambda_runtime` speaks), one
//! per function process, so a release `bootstrap` runs here as it runs on Lambda.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

#[derive(Default)]
struct Shared {
    first_next: Mutex<Option<Instant>>,
    waiters: Mutex<HashMap<String, oneshot::Sender<(bool, Value)>>>,
}

struct AppState {
    shared: Arc<Shared>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
}

/// A function process under the harness's Runtime API.
pub struct Hosted {
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<(String, Value)>,
    child: Child,
    started: Instant,
    /// Its stdout's lines, when kept (`start_capturing`).
    output: Option<Arc<Mutex<Vec<String>>>>,
}

async fn next(State(s): State<Arc<AppState>>) -> impl IntoResponse {
    s.shared.first_next.lock().unwrap().get_or_insert_with(Instant::now);
    let Some((id, event)) = s.events.lock().await.recv().await else {
        // The harness let go of this function: nothing more will come.
        return StatusCode::GONE.into_response();
    };
    let deadline =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + Duration::from_secs(900);
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    h.insert("lambda-runtime-deadline-ms", deadline.as_millis().to_string().parse().unwrap());
    h.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".parse().unwrap(),
    );
    h.insert("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000".parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    (h, event.to_string()).into_response()
}

fn finish(s: &AppState, id: &str, ok: bool, body: &str) -> StatusCode {
    let v = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    if let Some(w) = s.shared.waiters.lock().unwrap().remove(id) {
        let _ = w.send((ok, v));
    }
    StatusCode::ACCEPTED
}

async fn response(State(s): State<Arc<AppState>>, Path(id): Path<String>, body: String) -> StatusCode {
    finish(&s, &id, true, &body)
}

async fn error(State(s): State<Arc<AppState>>, Path(id): Path<String>, body: String) -> StatusCode {
    finish(&s, &id, false, &body)
}

async fn init_error(body: String) -> StatusCode {
    eprintln!("function failed to start: {body}");
    StatusCode::ACCEPTED
}

impl Hosted {
    /// Starts `binary` against a fresh Runtime API with `env`, less the secrets' values: as
    /// on Lambda, a function reads its secrets from Secrets Manager.
    pub async fn start(binary: &str, name: &str, env: &[(String, String)]) -> Hosted {
        Self::spawn(binary, name, &without_secrets(env), false).await
    }

    /// Starts `binary` with exactly `env`.
    pub async fn start_as_is(binary: &str, name: &str, env: &[(String, String)]) -> Hosted {
        Self::spawn(binary, name, env, false).await
    }

    /// As `start`, its stdout kept: `output()` gives its lines (logs and metrics), which also
    /// go to `$BILLING_LOG_DIR/functions/<name>.log`, with the local stack's logs.
    pub async fn start_capturing(binary: &str, name: &str, env: &[(String, String)]) -> Hosted {
        Self::spawn(binary, name, &without_secrets(env), true).await
    }

    /// Every line the function has written to stdout so far.
    pub fn output(&self) -> Vec<String> {
        self.output.as_ref().map(|o| o.lock().unwrap().clone()).unwrap_or_default()
    }

    async fn spawn(binary: &str, name: &str, env: &[(String, String)], capture: bool) -> Hosted {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let state = Arc::new(AppState { shared: shared.clone(), events: tokio::sync::Mutex::new(rx) });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let started = Instant::now();
        let child = Command::new(binary)
            .env_clear()
            .envs(env.iter().cloned())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .stdout(if capture { Stdio::piped() } else { Stdio::null() })
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let mut hosted = Hosted { shared, events: tx, child, started, output: None };
        if let Some(stdout) = hosted.child.stdout.take() {
            hosted.output = Some(keep_lines(stdout, name));
        }
        hosted
    }

    /// Time from exec to the function's first request for work.
    pub async fn cold_start(&self) -> Duration {
        let limit = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(t) = *self.shared.first_next.lock().unwrap() {
                return t - self.started;
            }
            assert!(Instant::now() < limit, "the function never asked for work");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// One invocation; returns the response and its latency as the Runtime API saw it.
    pub async fn invoke(&self, event: Value) -> (bool, Value, Duration) {
        let (_, ok, v, took) = self.invoke_as(&ulid::Ulid::new().to_string(), event).await;
        (ok, v, took)
    }

    /// One invocation under the request id `id`.
    pub async fn invoke_as(&self, id: &str, event: Value) -> (String, bool, Value, Duration) {
        let id = id.to_string();
        let (tx, rx) = oneshot::channel();
        self.shared.waiters.lock().unwrap().insert(id.clone(), tx);
        let t0 = Instant::now();
        self.events.send((id.clone(), event)).unwrap();
        let (ok, v) = tokio::time::timeout(Duration::from_secs(900), rx).await.expect("no response").unwrap();
        (id, ok, v, t0.elapsed())
    }

    /// Peak resident memory of the process so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a function's stdout line by line into memory and, with the local stack's logs, into
/// `$BILLING_LOG_DIR/functions/<name>.log`.
fn keep_lines(stdout: std::process::ChildStdout, name: &str) -> Arc<Mutex<Vec<String>>> {
    use std::io::{BufRead, Write};
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut file = std::env::var("BILLING_LOG_DIR").ok().and_then(|dir| {
        let dir = std::path::Path::new(&dir).join("functions");
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{name}.log"))).ok()
    });
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            kept.lock().unwrap().push(line);
        }
    });
    lines
}

fn without_secrets(env: &[(String, String)]) -> Vec<(String, String)> {
    env.iter().filter(|(k, _)| !crate::SECRET_VALUE_VARS.contains(&k.as_str())).cloned().collect()
}
