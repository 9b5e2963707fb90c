//! Start-up of function binaries (debug or release) under the harness's Runtime API, without
//! the rest of `make bench`: for each function, the median over `COLDSTART_RUNS` fresh
//! processes of (1) exec to its first request for work (the cold start), and (2) exec to its
//! answer to a first request that needs the function's secret (the secrets' fetch included),
//! next to the hello-world `lambda_runtime` binary.
//!
//! `COLDSTART_BIN_DIR` (default `$CARGO_TARGET_DIR/debug`), `COLDSTART_RUNS` (default 20),
//! `COLDSTART_FUNCTIONS` (comma-separated, default all), `COLDSTART_LEGACY_ENV` (set: hand the
//! binaries the secrets' values in their environment, as before they were read at run time),
//! plus the local stack's `.local/env`.

use billing_tests::bench::events::secret_request;
use billing_tests::bench::runtime_api::Hosted;
use billing_tests::bench::stats::{ms, percentile};
use serde_json::Value;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = std::env::var("COLDSTART_BIN_DIR").unwrap_or_else(|_| format!("{target}/debug"));
    let runs: usize = std::env::var("COLDSTART_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let all = "register,login,upgrade,change-settlement,marketplace-webhook,admin,sweeper,usage,bills,metering";
    let functions = std::env::var("COLDSTART_FUNCTIONS").unwrap_or_else(|_| all.into());
    let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| !k.starts_with("COLDSTART_")).collect();
    env.retain(|(k, _)| k != "RUST_LOG");
    env.push(("RUST_LOG".into(), "info".into()));
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));

    let (hello, _) = measure(&format!("{dir}/hello"), "hello", &env, runs, None).await;
    println!("| function | cold start p50 ms | first answer p50 ms (secrets fetched) |\n|---|---:|---:|");
    println!("| hello-world | {:.2} | — |", ms(hello));
    for f in functions.split(',').filter(|f| !f.is_empty()) {
        let (cold, first) = measure(&format!("{dir}/{f}"), f, &env, runs, Some(secret_request(f))).await;
        println!("| {f} | {:.2} | {:.2} |", ms(cold), ms(first));
    }
}

async fn measure(
    binary: &str,
    name: &str,
    env: &[(String, String)],
    runs: usize,
    event: Option<Value>,
) -> (Duration, Duration) {
    // Binaries from before secrets were read at run time take them from the environment.
    let legacy = std::env::var("COLDSTART_LEGACY_ENV").is_ok();
    let (mut colds, mut firsts) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let hosted =
            if legacy { Hosted::start_as_is(binary, name, env).await } else { Hosted::start(binary, name, env).await };
        let cold = hosted.cold_start().await;
        colds.push(cold);
        if let Some(e) = &event {
            // The function is already waiting for work: exec to answer is the cold start
            // plus this first invocation.
            let (_, _, took) = hosted.invoke(e.clone()).await;
            firsts.push(cold + took);
        }
        hosted.stop();
    }
    let first = if firsts.is_empty() { Duration::ZERO } else { percentile(&firsts, 50.0) };
    (percentile(&colds, 50.0), first)
}
