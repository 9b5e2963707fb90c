//! `make bench`: runs the release `bootstrap` of every function under a Runtime API served
//! here, against DynamoDB Local and moto behind counting proxies, and prints a markdown
//! report (also written to `target/bench/report.md`).
//!
//! Settings (environment): `BENCH_BIN_DIR` (release binaries), `BENCH_ARM64_DIR` (optional,
//! `cargo lambda build --arm64` output), `BENCH_ITERATIONS` (per route, default 100),
//! `BENCH_CANCEL_WORKSPACES` (default 10000), `BENCH_USAGE_HOURS` (hours of 1,000 records
//! ingested for the usage figures, default 24), `BENCH_METERING_ACCOUNTS` (AWS licences and
//! Alibaba instances of the metering run, 1000 each), `BENCH_ISSUE_ACCOUNTS` (billing accounts whose
//! closed month one `issue-bills` run issues, default 2000), `BENCH_RUST_LOG` (the functions' log level,
//! default info as deployed), `BENCH_TRACE` (set: print every call's DynamoDB
//! requests and time), plus the local stack's `.local/env`.

use billing_domain::model::Language;
use billing_domain::ports::Clock;
use billing_tests::bench::baseline;
use billing_tests::bench::cost::{self, Work};
use billing_tests::bench::events::{apigw, apigw_as, get, json_post, scheduled};
use billing_tests::bench::proxy::{since, Ops, Proxy, Units};
use billing_tests::bench::runtime_api::Hosted;
use billing_tests::bench::stats::{ms, percentile};
use billing_tests::*;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const FUNCTIONS: &[&str] = &[
    "register",
    "login",
    "upgrade",
    "change-settlement",
    "marketplace-webhook",
    "admin",
    "sweeper",
    "usage",
    "bills",
    "metering",
    "issue-bills",
];
const WARMUP: usize = 5;
const COLD_RUNS: usize = 20;

struct Scenario {
    function: &'static str,
    route: &'static str,
    /// argon2id operations the route performs (hash or verify), priced apart.
    argon2: u32,
    events: Vec<Value>,
}

struct RouteResult {
    function: &'static str,
    route: &'static str,
    argon2: u32,
    p50: Duration,
    p99: Duration,
    /// Calls per invocation, by operation: DynamoDB's, then the other AWS services'.
    dynamodb: BTreeMap<String, f64>,
    other: BTreeMap<String, f64>,
    failures: usize,
}

impl RouteResult {
    fn dynamodb_calls(&self) -> f64 {
        self.dynamodb.values().sum()
    }
    fn other_calls(&self) -> f64 {
        self.other.values().sum()
    }
}

fn per_call(ops: Ops, n: f64) -> BTreeMap<String, f64> {
    ops.into_iter().map(|(k, v)| (k, v as f64 / n)).collect()
}

fn describe(ops: &BTreeMap<String, f64>) -> String {
    if ops.is_empty() {
        return "0".into();
    }
    let total: f64 = ops.values().sum();
    let parts: Vec<String> =
        ops.iter().map(|(k, v)| if (*v - 1.0).abs() < 0.05 { k.clone() } else { format!("{v:.1}×{k}") }).collect();
    format!("{total:.1}: {}", parts.join(", "))
}

struct FunctionResult {
    name: String,
    size_x86: Option<u64>,
    size_arm: Option<u64>,
    cold: Duration,
    /// Exec to the answer of a first request that reads the function's secret (Secrets Manager).
    first: Option<Duration>,
    peak_rss_kib: u64,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn size(dir: &str, path: &str) -> Option<u64> {
    std::fs::metadata(format!("{dir}/{path}")).ok().map(|m| m.len())
}

fn mb(bytes: Option<u64>) -> String {
    bytes.map(|b| format!("{:.2} MB", b as f64 / 1_000_000.0)).unwrap_or_else(|| "n/a".into())
}

fn ok_response(v: &Value) -> bool {
    match v.get("statusCode").and_then(Value::as_i64) {
        Some(s) => (200..400).contains(&s),
        None => v.get("batchItemFailures").map(|f| f == &json!([])).unwrap_or(true),
    }
}

/// Medians of exec to the first request for work and, where the function reads a secret, of
/// exec to its answer to a first request that reads it.
async fn median_cold_start(binary: &str, name: &str, env: &[(String, String)]) -> (Duration, Option<Duration>) {
    let (mut colds, mut firsts) = (Vec::new(), Vec::new());
    for _ in 0..COLD_RUNS {
        let hosted = Hosted::start(binary, name, env).await;
        let cold = hosted.cold_start().await;
        colds.push(cold);
        if billing_tests::bench::events::reads_a_secret(name) {
            let (_, _, took) = hosted.invoke(billing_tests::bench::events::secret_request(name)).await;
            firsts.push(cold + took);
        }
        hosted.stop();
    }
    (percentile(&colds, 50.0), (!firsts.is_empty()).then(|| percentile(&firsts, 50.0)))
}

/// Builds every route's events. Data a route needs is prepared here, through the real
/// handlers in-process and straight to DynamoDB Local, so it is not counted.
/// Also returns a workspace and its billing account: what the baselines read.
async fn scenarios(w: &marketplace_webhook::Webhook, n: usize) -> (Vec<Scenario>, (String, String)) {
    let app = &w.app;
    let owner = commercial_registration("cn1");
    let reg = registered(app, &owner).await;
    let (console, billing) = (token(&reg, "session"), token(&reg, "billing_session"));
    let ws = reg["workspace"]["id"].as_str().unwrap().to_string();
    let username = owner["username"].as_str().unwrap().to_string();
    let uid = aliyun_uid();
    let instance = open_instance(w, &uid).await;

    // The settlement changes happen on workspaces of another billing account, so the one
    // the list routes read keeps a customer's usual handful of workspaces.
    let changer = commercial_registration("cn1");
    let changer_reg = registered(app, &changer).await;
    let changer_billing = token(&changer_reg, "billing_session");
    let mut free_for_upgrade = Vec::new();
    let mut commercial_for_change = Vec::new();
    for _ in 0..n {
        free_for_upgrade.push(registered(app, &free_registration("cn2")).await);
        let mut c = commercial_registration("cn1");
        c["billing_account"] = json!({"mode": "bind", "username": changer["username"], "password": "s3cret-pass"});
        commercial_for_change.push(registered(app, &c).await);
    }
    let mut landing_tokens = Vec::new();
    for _ in 0..n {
        landing_tokens.push(mint_marketplace_token(&format!("bench{}", unique()), "111122223333", "prod", 3600).await);
    }
    let customer = format!("bench{}", unique());
    let t0 = chrono::Utc::now();

    let probe = (ws.clone(), username.clone());
    let repeat = |e: Value| vec![e; n];
    let form = |body: String| {
        apigw(
            "POST",
            "/v1/marketplace/aws/landing",
            "",
            Some(body),
            &[("content-type", "application/x-www-form-urlencoded".into())],
            false,
        )
    };
    let list = vec![
        Scenario { function: "register", route: "GET /v1/sites", argon2: 0, events: repeat(get("/v1/sites", None)) },
        Scenario {
            function: "register",
            route: "POST /v1/registrations (free)",
            argon2: 1,
            events: (0..n).map(|_| json_post("POST", "/v1/registrations", &free_registration("cn1"), None)).collect(),
        },
        Scenario {
            function: "register",
            route: "POST /v1/registrations (commercial)",
            argon2: 1,
            events: (0..n).map(|_| json_post("POST", "/v1/registrations", &commercial_registration("us1"), None)).collect(),
        },
        Scenario {
            function: "login",
            route: "POST /v1/sessions",
            argon2: 1,
            events: repeat(json_post("POST", "/v1/sessions", &json!({"site": "cn1", "login": owner["email"], "password": "s3cret-pass"}), None)),
        },
        Scenario {
            function: "login",
            route: "POST /v1/billing/sessions",
            argon2: 1,
            events: repeat(json_post("POST", "/v1/billing/sessions", &json!({"username": username, "password": "s3cret-pass"}), None)),
        },
        Scenario {
            function: "login",
            route: "POST /v1/billing/sso",
            argon2: 0,
            events: repeat(json_post("POST", "/v1/billing/sso", &json!({"workspace_id": ws}), Some(&console))),
        },
        Scenario {
            function: "upgrade",
            route: "POST /v1/workspaces/{id}/upgrade (create)",
            argon2: 1,
            events: free_for_upgrade
                .iter()
                .map(|r| {
                    let body = json!({"billing_account": {"mode": "create", "username": format!("b{}", unique()),
                                      "password": "billing-pass1", "email": format!("{}@example.com", unique())}, "accept_agreement": true});
                    let path = format!("/v1/workspaces/{}/upgrade", r["workspace"]["id"].as_str().unwrap());
                    json_post("POST", &path, &body, Some(&token(r, "session")))
                })
                .collect(),
        },
        Scenario {
            function: "change-settlement",
            route: "GET /v1/workspaces/{id}/settlement-options",
            argon2: 0,
            events: repeat(get(&format!("/v1/workspaces/{ws}/settlement-options"), Some(&billing))),
        },
        Scenario {
            function: "change-settlement",
            route: "PUT /v1/workspaces/{id}/settlement (aliyun)",
            argon2: 0,
            events: commercial_for_change
                .iter()
                .map(|r| {
                    let path = format!("/v1/workspaces/{}/settlement", r["workspace"]["id"].as_str().unwrap());
                    json_post(
                        "PUT",
                        &path,
                        &json!({"method": "aliyun", "account_id": uid, "instance_id": instance}),
                        Some(&changer_billing),
                    )
                })
                .collect(),
        },
        Scenario {
            function: "change-settlement",
            route: "GET /v1/billing/workspaces",
            argon2: 0,
            events: repeat(get("/v1/billing/workspaces", Some(&billing))),
        },
        Scenario {
            function: "change-settlement",
            route: "GET /v1/billing/cloud-accounts",
            argon2: 0,
            events: repeat(get("/v1/billing/cloud-accounts", Some(&billing))),
        },
        Scenario {
            function: "admin",
            route: "PUT /v1/admin/billing-accounts/{u}/free-choice",
            argon2: 0,
            events: repeat(apigw(
                "PUT",
                &format!("/v1/admin/billing-accounts/{username}/free-choice"),
                "",
                Some(json!({"enabled": false}).to_string()),
                &[("content-type", "application/json".into())],
                true,
            )),
        },
        Scenario {
            function: "marketplace-webhook",
            route: "GET /v1/marketplace/aliyun (createInstance)",
            argon2: 0,
            events: (0..n)
                .map(|_| {
                    let q = spi_query(&[("action", "createInstance"), ("aliUid", &uid), ("orderBizId", &format!("o{}", unique()))]);
                    apigw("GET", "/v1/marketplace/aliyun", &q, None, &[], false)
                })
                .collect(),
        },
        Scenario {
            function: "marketplace-webhook",
            route: "GET /v1/marketplace/aliyun (renewInstance)",
            argon2: 0,
            events: repeat(apigw(
                "GET",
                "/v1/marketplace/aliyun",
                &spi_query(&[("action", "renewInstance"), ("instanceId", &instance)]),
                None,
                &[],
                false,
            )),
        },
        Scenario {
            function: "marketplace-webhook",
            route: "POST /v1/marketplace/aws/landing",
            argon2: 0,
            events: landing_tokens.iter().map(|t| form(format!("x-amzn-marketplace-token={t}"))).collect(),
        },
        Scenario {
            function: "marketplace-webhook",
            route: "SQS subscribe-success",
            argon2: 0,
            events: (0..n)
                .map(|i| sqs_event(&[("subscribe-success", &customer, "prod", t0 + chrono::Duration::seconds(i as i64))]))
                .collect(),
        },
        Scenario { function: "sweeper", route: "scheduled sweep", argon2: 0, events: repeat(scheduled()) },
    ];
    (list, probe)
}

struct Proxies {
    dynamodb: Proxy,
    ses: Proxy,
    metering: Proxy,
}

impl Proxies {
    fn snapshot(&self) -> (Ops, Ops) {
        let mut other = self.ses.ops();
        other.extend(self.metering.ops());
        (self.dynamodb.ops(), other)
    }
}

async fn run_scenario(hosted: &Hosted, s: Scenario, proxies: &Proxies) -> RouteResult {
    let mut events = s.events.into_iter();
    let mut failures = 0;
    for e in events.by_ref().take(WARMUP) {
        let (ok, v, _) = hosted.invoke(e).await;
        failures += usize::from(!(ok && ok_response(&v)));
    }
    let (d0, o0) = proxies.snapshot();
    let mut samples = Vec::new();
    let trace = std::env::var("BENCH_TRACE").is_ok();
    for e in events {
        let before = proxies.dynamodb.count();
        let (ok, v, took) = hosted.invoke(e).await;
        if trace {
            eprintln!(
                "  {} {}: {} DynamoDB calls, {:.2} ms",
                s.function,
                s.route,
                proxies.dynamodb.count() - before,
                ms(took)
            );
        }
        if !(ok && ok_response(&v)) {
            failures += 1;
            if failures == 1 {
                eprintln!("{} {}: unexpected answer {v}", s.function, s.route);
            }
        }
        samples.push(took);
    }
    let n = samples.len().max(1) as f64;
    let (d1, o1) = proxies.snapshot();
    RouteResult {
        function: s.function,
        route: s.route,
        argon2: s.argon2,
        p50: percentile(&samples, 50.0),
        p99: percentile(&samples, 99.0),
        dynamodb: per_call(since(&d0, &d1), n),
        other: per_call(since(&o0, &o1), n),
        failures,
    }
}

#[tokio::main]
async fn main() {
    let bin_dir = env_or("BENCH_BIN_DIR", "target/release");
    let arm_dir = std::env::var("BENCH_ARM64_DIR").ok();
    let n: usize = env_or("BENCH_ITERATIONS", "100").parse().unwrap();
    let cancel_n: usize = env_or("BENCH_CANCEL_WORKSPACES", "10000").parse().unwrap();
    let out_path = env_or("BENCH_OUT", "target/bench/report.md");

    let endpoint =
        |name: &str| std::env::var(name).expect("run through make bench: the local stack's settings are missing");
    // A table of its own: beside a `make up` stack that holds data, the bench must not meter its
    // due cloud accounts or sweep its emails (the metering figures count this run's accounts).
    let table = format!("bench-{}", unique());
    create_table(&aws_sdk_dynamodb::Client::new(&billing_adapters::config::sdk_config().await), &table).await;
    std::env::set_var("TABLE_NAME", &table);
    let proxies = Proxies {
        dynamodb: Proxy::start(&endpoint("AWS_ENDPOINT_URL_DYNAMODB")).await,
        ses: Proxy::start(&endpoint("AWS_ENDPOINT_URL_SES")).await,
        metering: Proxy::start(&endpoint("AWS_ENDPOINT_URL_MARKETPLACE_METERING")).await,
    };
    let routed = [
        ("AWS_ENDPOINT_URL_DYNAMODB", &proxies.dynamodb.url),
        ("AWS_ENDPOINT_URL_SES", &proxies.ses.url),
        ("AWS_ENDPOINT_URL_MARKETPLACE_METERING", &proxies.metering.url),
    ];
    let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| !k.starts_with("BENCH_")).collect();
    env.retain(|(k, _)| k != "RUST_LOG" && k != "ALIYUN_MARKET_ENDPOINT" && !routed.iter().any(|(r, _)| r == k));
    env.extend(routed.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    // Alibaba's metering push is counted with the other marketplace calls.
    env.push(("ALIYUN_MARKET_ENDPOINT".into(), format!("{}/", proxies.metering.url)));
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    // As deployed (template.yaml): the CA bundle named, no certificate directory to scan.
    env.retain(|(k, _)| k != "SSL_CERT_DIR" && k != "SSL_CERT_FILE");
    if let Some(bundle) = ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
    {
        env.push(("SSL_CERT_FILE".into(), bundle.to_string()));
    }
    // Production logs at info (template.yaml); BENCH_RUST_LOG prices logging itself.
    env.push(("RUST_LOG".into(), env_or("BENCH_RUST_LOG", "info")));

    let h = Harness::new().await;
    let clock = h.clock.clone();
    let w = webhook(h);
    let (all, probe) = scenarios(&w, n + WARMUP).await;

    // Baselines: each kind of call on its own through the same proxies (reads of an existing
    // workspace, as the routes do), and argon2id on its own.
    let sdk = billing_adapters::config::sdk_config().await;
    let table = std::env::var("TABLE_NAME").unwrap();
    let mut tokens = Vec::new();
    for _ in 0..n + 10 {
        tokens.push(mint_marketplace_token(&format!("base{}", unique()), "111122223333", "prod", 3600).await);
    }
    let billing_key = format!("BILLING#{}", probe.1.to_lowercase());
    let units = baseline::measure(
        &baseline::Probe {
            sdk: &sdk,
            dynamodb_url: &proxies.dynamodb.url,
            ses_url: &proxies.ses.url,
            metering_url: &proxies.metering.url,
            table: &table,
            workspace_id: &probe.0,
            billing_key,
            tokens,
            sender: std::env::var("SENDER_EMAIL").unwrap(),
        },
        n,
    )
    .await;
    let get_samples = units["GetItem"].clone();
    let (mut hash_samples, mut verify_samples) = (Vec::new(), Vec::new());
    let phc = billing_domain::crypto::password::hash("bench-pass1");
    for _ in 0..20 {
        let t = Instant::now();
        billing_domain::crypto::password::hash("bench-pass1");
        hash_samples.push(t.elapsed());
        let t = Instant::now();
        billing_domain::crypto::password::verify("bench-pass1", &phc);
        verify_samples.push(t.elapsed());
    }
    let argon2_p50 = percentile(&hash_samples, 50.0).max(percentile(&verify_samples, 50.0));
    eprintln!("baselines: GetItem p50 {:.2} ms, argon2id {:.1} ms", ms(percentile(&get_samples, 50.0)), ms(argon2_p50));

    // Cold starts, next to a hello-world lambda_runtime binary built in the same run.
    let (hello, _) = median_cold_start(&format!("{bin_dir}/hello"), "hello", &env).await;
    let mut functions = Vec::new();
    for f in FUNCTIONS {
        let (cold, first) = median_cold_start(&format!("{bin_dir}/{f}"), f, &env).await;
        eprintln!("cold start {f}: {:.1} ms (hello {:.1} ms)", ms(cold), ms(hello));
        functions.push(FunctionResult {
            name: f.to_string(),
            size_x86: size(&bin_dir, f),
            size_arm: arm_dir.as_deref().and_then(|d| size(d, &format!("{f}/bootstrap"))),
            cold,
            first,
            peak_rss_kib: 0,
        });
    }

    // Warm routes: one process per function, as one Lambda execution environment.
    let mut routes = Vec::new();
    for f in functions.iter_mut() {
        let hosted = Hosted::start(&format!("{bin_dir}/{}", f.name), &f.name, &env).await;
        hosted.cold_start().await;
        for s in all.iter().filter(|s| s.function == f.name) {
            let s = Scenario { function: s.function, route: s.route, argon2: s.argon2, events: s.events.clone() };
            let r = run_scenario(&hosted, s, &proxies).await;
            eprintln!("{} {}: p50 {:.2} ms, DynamoDB {}", r.function, r.route, ms(r.p50), describe(&r.dynamodb));
            routes.push(r);
        }
        f.peak_rss_kib = hosted.peak_rss_kib();
        hosted.stop();
    }

    // Cancellation of many workspaces on one cloud account, through the release webhook.
    let uid = aliyun_uid();
    let instance = open_instance(&w, &uid).await;
    let owner = commercial_registration("cn1");
    registered(&w.app, &owner).await;
    let cloud = w.app.deps.marketplace.cloud_account(&format!("aliyun-{instance}")).await.unwrap().unwrap();
    let seeding = Instant::now();
    seed_workspaces(&w.app.deps, owner["username"].as_str().unwrap(), &cloud, cancel_n, Language::Zh).await;
    eprintln!("seeded {cancel_n} workspaces in {:.1} s", seeding.elapsed().as_secs_f64());
    let hosted = Hosted::start(&format!("{bin_dir}/marketplace-webhook"), "marketplace-webhook", &env).await;
    hosted.cold_start().await;
    let release = apigw(
        "GET",
        "/v1/marketplace/aliyun",
        &spi_query(&[("action", "releaseInstance"), ("instanceId", &instance)]),
        None,
        &[],
        false,
    );
    let d0 = proxies.dynamodb.count();
    let (ok, answer, took) = hosted.invoke(release).await;
    let cancel_calls = proxies.dynamodb.count() - d0;
    let cancel_rss = hosted.peak_rss_kib();
    hosted.stop();
    let left = w.app.deps.cancellations.settled_by(&cloud.id, 10).await.unwrap().len();
    assert!(ok && ok_response(&answer) && left == 0, "cancellation did not finish: {answer} ({left} left)");
    eprintln!("cancellation of {cancel_n}: {:.2} s", took.as_secs_f64());

    let usage = usage_bench(&w, &bin_dir, &env, &proxies, n).await;
    let metering = metering_bench(&w, &clock, &bin_dir, &env, &proxies).await;
    let issuing = issue_bench(&w, &clock, &bin_dir, &env, &proxies).await;

    let report = render(&RenderInput {
        n,
        units: &units,
        get_samples: &get_samples,
        hash: &hash_samples,
        verify: &verify_samples,
        argon2_p50,
        hello,
        functions: &functions,
        routes: &routes,
        cancel: (cancel_n, took, cancel_calls, cancel_rss),
        usage: &usage,
        metering: &metering,
        issuing: &issuing,
    });
    println!("{report}");
    if let Some(dir) = std::path::Path::new(&out_path).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&out_path, &report).unwrap();
    eprintln!("report written to {out_path}");
}

struct RenderInput<'a> {
    n: usize,
    units: &'a BTreeMap<String, Vec<Duration>>,
    get_samples: &'a [Duration],
    hash: &'a [Duration],
    verify: &'a [Duration],
    argon2_p50: Duration,
    hello: Duration,
    functions: &'a [FunctionResult],
    routes: &'a [RouteResult],
    cancel: (usize, Duration, u64, u64),
    usage: &'a UsageFigures,
    metering: &'a MeteringFigures,
    issuing: &'a IssueBenchFigures,
}

struct MeteringFigures {
    aws_accounts: usize,
    aliyun_instances: usize,
    reports: u64,
    took: Duration,
    calls: BTreeMap<String, f64>,
    units: Units,
    metering_calls: BTreeMap<String, f64>,
    rss_kib: u64,
}

/// One planning run (the schedule's slot in the first quarter of an hour) of the release
/// `metering` binary over `BENCH_METERING_ACCOUNTS` (1,000) AWS
/// licences of one product × 5 items and as many Alibaba instances × 5 items.
async fn metering_bench(
    w: &marketplace_webhook::Webhook,
    clock: &TestClock,
    bin_dir: &str,
    env: &[(String, String)],
    proxies: &Proxies,
) -> MeteringFigures {
    use billing_domain::billing_items::ITEMS;
    use billing_domain::model::{CloudAccount, CloudStatus, Platform};
    let n: usize = env_or("BENCH_METERING_ACCOUNTS", "1000").parse().unwrap();
    let owner = commercial_registration("us1");
    registered(&w.app, &owner).await;
    let username = owner["username"].as_str().unwrap().to_string();
    let product = format!("bench-{}", unique());
    // The release binary reads the wall clock, and Alibaba takes an hour's usage until 1 h 59 min
    // past its start: the seeded hour must be the one that just ended, with time left to seed and
    // run. The in-process deps get the same now (the harness's clock stopped when it started).
    let minute = chrono::Timelike::minute(&chrono::Utc::now());
    if minute >= 45 {
        let wait = Duration::from_secs(u64::from(61 - minute) * 60);
        eprintln!("metering: waiting {} min for the next hour (Alibaba's window)", wait.as_secs() / 60);
        tokio::time::sleep(wait).await;
    }
    clock.set(chrono::Utc::now());
    let now = w.app.deps.clock.now();
    // The usage of the hour that ended: the run reports an hour once it has ended.
    let hour = billing_domain::rules::usage::hour_start(now) - chrono::Duration::hours(1);
    let account = |i: usize, platform: Platform| {
        let (id, account_id, instance_id, license_arn, product_code) = match platform {
            Platform::Aws => {
                let (acct, lic) = (format!("{:012}", 100_000_000_000u64 + i as u64), license_arn());
                (CloudAccount::aws_license_id(&acct, &lic), acct, None, Some(lic), Some(product.clone()))
            }
            _ => {
                let order = format!("bench{}", unique());
                (CloudAccount::aliyun_id(&order), aliyun_uid(), Some(order), None, None)
            }
        };
        CloudAccount {
            id,
            platform,
            account_id,
            instance_id,
            customer_identifier: None,
            product_code,
            license_arn,
            status: CloudStatus::Active,
            last_event_at: now,
            cancelled_at: None,
            refused_at: None,
            opened_at: Some(now - chrono::Duration::days(1)),
            order: None,
            freezes: Vec::new(),
        }
    };
    let seeding = Instant::now();
    let clouds: Vec<CloudAccount> =
        (0..n).map(|i| account(i, Platform::Aws)).chain((0..n).map(|i| account(i, Platform::Aliyun))).collect();
    let hash = billing_domain::crypto::password::hash("seeded-pass1");
    let deps = &w.app.deps;
    let seeded: Vec<String> = futures::stream::iter(clouds.iter().enumerate())
        .map(|(i, c)| {
            let mut write =
                settled_registration(&username, c, format!("metered {i}"), Language::En, hash.clone(), true);
            // Created, and settled by its cloud account, when that hour began, so that its usage
            // is neither before it nor of another payer.
            write.workspace.created_at = hour;
            write.workspace.settlement_since = Some(hour);
            async move {
                // The marketplaces take records of subscriptions they know only ("Alibaba Cloud
                // Marketplace: PushMeteringData", "AWS Marketplace: BatchMeterUsage").
                match (&c.license_arn, &c.product_code) {
                    (Some(lic), Some(product)) => register_aws_licence(lic, &c.account_id, product, c.opened_at).await,
                    _ => register_aliyun_instance(c.instance_id.as_deref().unwrap(), None, None).await,
                }
                deps.marketplace.open_cloud_account(c).await.unwrap();
                deps.accounts.commit_registration(&write).await.unwrap();
                write.workspace.id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let records: Vec<Value> = seeded
        .iter()
        .flat_map(|ws| {
            ITEMS.iter().take(5).map(move |i| usage_record(&format!("m-{ws}-{}", i.id), ws, i.id, hour, "3"))
        })
        .collect();
    for batch in records.chunks(1000) {
        let (_, r) = report_usage(&w.app, batch).await;
        assert_eq!(r["accepted"].as_u64(), Some(batch.len() as u64), "seeding usage: {r}");
    }
    eprintln!(
        "seeded {} cloud accounts and {} usage records in {:.1} s",
        clouds.len(),
        records.len(),
        seeding.elapsed().as_secs_f64()
    );

    let hosted = Hosted::start(&format!("{bin_dir}/metering"), "metering", env).await;
    hosted.cold_start().await;
    let (d0, o0) = proxies.snapshot();
    let u0 = proxies.dynamodb.units();
    let (ok, answer, took) = hosted.invoke(scheduled()).await;
    let (d1, o1) = proxies.snapshot();
    let units = proxies.dynamodb.units() - u0;
    let rss_kib = hosted.peak_rss_kib();
    hosted.stop();
    let reports = answer["reported"].as_u64().unwrap_or(0);
    assert!(ok && reports as usize == clouds.len() * 5, "metering run: {answer}");
    eprintln!("metering run over {} accounts: {:.2} s", clouds.len(), took.as_secs_f64());
    MeteringFigures {
        aws_accounts: n,
        aliyun_instances: n,
        reports,
        took,
        calls: per_call(since(&d0, &d1), 1.0),
        units,
        metering_calls: per_call(since(&o0, &o1), 1.0),
        rss_kib,
    }
}

struct IssueBenchFigures {
    seeded: usize,
    issued: u64,
    took: Duration,
    calls: BTreeMap<String, f64>,
    units: Units,
    other_calls: BTreeMap<String, f64>,
    rss_kib: u64,
}

/// `BENCH_ISSUE_ACCOUNTS` (2,000) billing accounts, each with a workspace and two enterprise
/// lines (each rounded to the cent, so every balance gets a settlement entry) in the month
/// before last, which the wall clock has closed; then one run of the release `issue-bills`.
async fn issue_bench(
    w: &marketplace_webhook::Webhook,
    clock: &TestClock,
    bin_dir: &str,
    env: &[(String, String)],
    proxies: &Proxies,
) -> IssueBenchFigures {
    use billing_domain::rules::usage::{hour_start, month_start};
    let n: usize = env_or("BENCH_ISSUE_ACCOUNTS", "2000").parse().unwrap();
    let saved = clock.now();
    let before_last =
        month_start(month_start(month_start(saved) - chrono::Duration::days(1)) - chrono::Duration::days(1));
    let at = before_last + chrono::Duration::days(10) + chrono::Duration::minutes(10);
    clock.set(at);
    let seeding = Instant::now();
    let accounts = seed_billing_accounts(&w.app.deps, n, at).await;
    let records: Vec<Value> = accounts
        .iter()
        .flat_map(|(_, ws)| {
            [("log_events", "0.004167"), ("time_series", "1.0125")]
                .map(|(item, q)| usage_record(&format!("i-{ws}-{item}"), ws, item, hour_start(at), q))
        })
        .collect();
    for batch in records.chunks(1000) {
        let (_, r) = report_usage(&w.app, batch).await;
        assert_eq!(r["accepted"].as_u64(), Some(batch.len() as u64), "seeding usage: {r}");
    }
    clock.set(saved);
    eprintln!("seeded {n} billing accounts with a closed month in {:.1} s", seeding.elapsed().as_secs_f64());

    let mut env = env.to_vec();
    env.push(("FUNCTION_TIMEOUT_SECONDS".into(), "600".into())); // as template.yaml gives it
    let hosted = Hosted::start(&format!("{bin_dir}/issue-bills"), "issue-bills", &env).await;
    hosted.cold_start().await;
    let (d0, o0) = proxies.snapshot();
    let u0 = proxies.dynamodb.units();
    let (ok, answer, took) = hosted.invoke(scheduled()).await;
    let (d1, o1) = proxies.snapshot();
    let units = proxies.dynamodb.units() - u0;
    let rss_kib = hosted.peak_rss_kib();
    hosted.stop();
    let issued = answer["issued"].as_u64().unwrap_or(0);
    assert!(ok && answer["finished"] == true && issued >= n as u64, "issue-bills run: {answer}");
    eprintln!("issue-bills run: {issued} bills in {:.2} s", took.as_secs_f64());
    IssueBenchFigures {
        seeded: n,
        issued,
        took,
        calls: per_call(since(&d0, &d1), issued as f64),
        units: units.per(issued.max(1) as f64),
        other_calls: per_call(since(&o0, &o1), issued as f64),
        rss_kib,
    }
}

struct UsageFigures {
    batches: usize,
    /// Per 1,000-record batch through the `usage` function.
    batch_p50: Duration,
    records_per_s: f64,
    calls_per_batch: BTreeMap<String, f64>,
    /// Capacity units per batch, as DynamoDB bills them.
    units_per_batch: Units,
    /// The same 1,000 items written with plain `BatchWriteItem` (25 a call, 4 in flight).
    floor: Duration,
    floor_calls: f64,
    floor_units: Units,
    usage_rss_kib: u64,
    bill_lines: usize,
    bill_p50: Duration,
    bill_p99: Duration,
    bill_calls: BTreeMap<String, f64>,
}

/// 100 enterprise workspaces of one billing account × 10 items, one batch of 1,000 records an
/// hour, through the release `usage` binary; then that account's bill through `bills`.
async fn usage_bench(
    w: &marketplace_webhook::Webhook,
    bin_dir: &str,
    env: &[(String, String)],
    proxies: &Proxies,
    n: usize,
) -> UsageFigures {
    use billing_domain::billing_items::ITEMS;
    let hours: usize = env_or("BENCH_USAGE_HOURS", "24").parse().unwrap();
    let owner = commercial_registration("us1");
    let reg = registered(&w.app, &owner).await;
    let username = owner["username"].as_str().unwrap().to_string();
    let workspaces = seed_enterprise_workspaces(&w.app.deps, &username, 100).await;
    let start = billing_domain::rules::usage::month_start(chrono::Utc::now());
    let now_hour = billing_domain::rules::usage::hour_start(chrono::Utc::now());
    let first = (now_hour - chrono::Duration::hours(hours as i64 - 1)).max(start);
    let run = unique();
    let batch = |h: usize| {
        let hour = first + chrono::Duration::hours(h as i64);
        let records: Vec<Value> = workspaces
            .iter()
            .flat_map(|ws| ITEMS.iter().map(move |i| (ws, i)))
            .map(|(ws, i)| usage_record(&format!("b{run}-{h}-{ws}-{}", i.id), ws, i.id, hour, "1.5"))
            .collect();
        let body = json!({ "records": records }).to_string();
        let exporter = exporter_arn("us1");
        apigw_as("POST", "/v1/usage", "", Some(body), &[("content-type", "application/json".into())], Some(&exporter))
    };
    let hosted = Hosted::start(&format!("{bin_dir}/usage"), "usage", env).await;
    hosted.cold_start().await;
    let batches = (now_hour - first).num_hours() as usize + 1;
    let (d0, _) = proxies.snapshot();
    let u0 = proxies.dynamodb.units();
    let mut samples = Vec::new();
    for h in 0..batches {
        let (ok, answer, took) = hosted.invoke(batch(h)).await;
        let accepted = serde_json::from_str::<Value>(answer["body"].as_str().unwrap_or("{}")).unwrap_or_default()
            ["accepted"]
            .clone();
        assert!(ok && accepted == 1000, "usage batch {h}: {answer}");
        samples.push(took);
    }
    let (d1, _) = proxies.snapshot();
    let units_per_batch = (proxies.dynamodb.units() - u0).per(batches as f64);
    let usage_rss_kib = hosted.peak_rss_kib();
    hosted.stop();
    let batch_p50 = percentile(&samples, 50.0);
    let total: f64 = samples.iter().map(|d| d.as_secs_f64()).sum();

    // The floor: the same number of items with plain BatchWriteItem, as fast as it goes.
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&billing_adapters::config::sdk_config().await)
            .endpoint_url(&proxies.dynamodb.url)
            .build(),
    );
    let table = std::env::var("TABLE_NAME").unwrap();
    let mut floors = Vec::new();
    let before = proxies.dynamodb.count();
    let floor_u0 = proxies.dynamodb.units();
    for round in 0..5 {
        let t = Instant::now();
        let chunks: Vec<Vec<aws_sdk_dynamodb::types::WriteRequest>> = (0..1000)
            .map(|i| {
                use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
                let item =
                    [("pk", format!("FLOOR#{run}#{round}#{i}")), ("sk", "F".to_string()), ("q", "1.5".to_string())]
                        .into_iter()
                        .map(|(k, v)| {
                            (k.to_string(), if k == "q" { AttributeValue::N(v) } else { AttributeValue::S(v) })
                        })
                        .collect();
                WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().unwrap()).build()
            })
            .collect::<Vec<_>>()
            .chunks(25)
            .map(|c| c.to_vec())
            .collect();
        let writes = chunks.into_iter().map(|c| {
            let (client, table) = (client.clone(), table.clone());
            async move { client.batch_write_item().request_items(table, c).send().await.unwrap() }
        });
        futures::stream::iter(writes).buffer_unordered(4).collect::<Vec<_>>().await;
        floors.push(t.elapsed());
    }
    let floor_calls = (proxies.dynamodb.count() - before) as f64 / 5.0;
    let floor_units = (proxies.dynamodb.units() - floor_u0).per(5.0);

    // The month's bill of that account: 100 workspaces × 10 items, one line each.
    let tok = billing_token(&w.app, &username).await;
    let month = billing_domain::rules::usage::month_of(now_hour);
    let bills = Hosted::start(&format!("{bin_dir}/bills"), "bills", env).await;
    bills.cold_start().await;
    let mut bill_samples = Vec::new();
    let mut bill_lines = 0;
    let (b0, _) = proxies.snapshot();
    for _ in 0..n {
        let (ok, answer, took) = bills.invoke(get(&format!("/v1/billing/bills/{month}"), Some(&tok))).await;
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("{}")).unwrap_or_default();
        bill_lines = body["lines"].as_array().map(|l| l.len()).unwrap_or(0);
        assert!(ok && bill_lines == 1000, "bill: {} lines", bill_lines);
        bill_samples.push(took);
    }
    let (b1, _) = proxies.snapshot();
    bills.stop();
    drop(reg);
    UsageFigures {
        batches,
        batch_p50,
        records_per_s: 1000.0 * batches as f64 / total,
        calls_per_batch: per_call(since(&d0, &d1), batches as f64),
        units_per_batch,
        floor: percentile(&floors, 50.0),
        floor_calls,
        floor_units,
        usage_rss_kib,
        bill_lines,
        bill_p50: percentile(&bill_samples, 50.0),
        bill_p99: percentile(&bill_samples, 99.0),
        bill_calls: per_call(since(&b0, &b1), n as f64),
    }
}

fn render(r: &RenderInput) -> String {
    let get_p50 = percentile(r.get_samples, 50.0);
    let unit = baseline::p50s(r.units);
    let mut o = String::new();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    writeln!(o, "# Benchmark report\n").unwrap();
    writeln!(
        o,
        "{} · {cpus} CPUs · DynamoDB Local, moto and the Marketplace emulator on 127.0.0.1 behind counting proxies · {} measured calls per route after {WARMUP} warm-up calls · release binaries under a local Lambda Runtime API\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        r.n
    )
    .unwrap();
    o.push_str(&floors(r));
    writeln!(o, "## Baselines\n\nEach kind of call on its own, through the same proxies as the functions.\n").unwrap();
    writeln!(o, "| call | p50 ms | p99 ms |\n|---|---:|---:|").unwrap();
    for (op, samples) in r.units {
        let note = if op == "GetItem" { " (the target's unit)" } else { "" };
        writeln!(o, "| `{op}`{note} | {:.2} | {:.2} |", ms(percentile(samples, 50.0)), ms(percentile(samples, 99.0)))
            .unwrap();
    }
    writeln!(
        o,
        "| argon2id hash (m=19 MiB, t=2, p=1), priced apart | {:.1} | {:.1} |",
        ms(percentile(r.hash, 50.0)),
        ms(percentile(r.hash, 99.0))
    )
    .unwrap();
    writeln!(
        o,
        "| argon2id verify | {:.1} | {:.1} |\n",
        ms(percentile(r.verify, 50.0)),
        ms(percentile(r.verify, 99.0))
    )
    .unwrap();

    writeln!(
        o,
        "## Functions\n\n| function | bootstrap x86_64 | bootstrap arm64 | cold start (median of {COLD_RUNS}) | vs hello-world ({:.1} ms) | first answer, secret read (median) | peak RSS |",
        ms(r.hello)
    )
    .unwrap();
    writeln!(o, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
    for f in r.functions {
        writeln!(
            o,
            "| {} | {} | {} | {:.1} ms | {:.2}× | {} | {:.1} MiB |",
            f.name,
            mb(f.size_x86),
            mb(f.size_arm),
            ms(f.cold),
            f.cold.as_secs_f64() / r.hello.as_secs_f64(),
            f.first.map(|t| format!("{:.1} ms", ms(t))).unwrap_or_else(|| "—".into()),
            f.peak_rss_kib as f64 / 1024.0
        )
        .unwrap();
    }
    writeln!(
        o,
        "\n## Routes, warm\n\nFloor = round trips (DynamoDB and other AWS calls) × `GetItem` p50 + argon2id operations × {:.1} ms: \
         the target's measure. Floor by call = each call priced at its own baseline above (a transaction or a query costs more \
         than a `GetItem`) + argon2id.\n",
        ms(r.argon2_p50)
    )
    .unwrap();
    writeln!(o, "| function | route | p50 ms | p99 ms | DynamoDB calls | other AWS calls | argon2 | floor ms | p50 / floor | floor by call ms | p50 / floor by call |").unwrap();
    writeln!(o, "|---|---|---:|---:|---|---|---:|---:|---:|---:|---:|").unwrap();
    let mut misses = Vec::new();
    for x in r.routes {
        let argon2 = x.argon2 as f64 * ms(r.argon2_p50);
        let floor = (x.dynamodb_calls() + x.other_calls()) * ms(get_p50) + argon2;
        let by_call: f64 = x
            .dynamodb
            .iter()
            .chain(x.other.iter())
            .map(|(op, count)| count * ms(unit.get(op).copied().unwrap_or(get_p50)))
            .sum::<f64>()
            + argon2;
        let ratio = |f: f64| if f > 0.0 { format!("{:.2}×", ms(x.p50) / f) } else { "—".into() };
        writeln!(
            o,
            "| {} | {} | {:.2} | {:.2} | {} | {} | {} | {:.2} | {} | {:.2} | {} |",
            x.function,
            x.route,
            ms(x.p50),
            ms(x.p99),
            describe(&x.dynamodb),
            describe(&x.other),
            x.argon2,
            floor,
            ratio(floor),
            by_call,
            ratio(by_call)
        )
        .unwrap();
        if floor > 0.0 && ms(x.p50) / floor > 1.5 {
            misses.push(format!(
                "route `{} {}`: p50 is {:.2}× its floor ({:.2}× priced by call)",
                x.function,
                x.route,
                ms(x.p50) / floor,
                ms(x.p50) / by_call
            ));
        }
        if x.failures > 0 {
            misses.push(format!("route `{} {}`: {} calls did not answer 2xx/3xx", x.function, x.route, x.failures));
        }
    }
    let (cn, took, calls, rss) = r.cancel;
    writeln!(o, "\n## Cancellation\n\n| workspaces on one cloud account | seconds | workspaces/s | DynamoDB calls | webhook peak RSS |").unwrap();
    writeln!(o, "|---:|---:|---:|---:|---:|").unwrap();
    writeln!(
        o,
        "| {cn} | {:.2} | {:.0} | {calls} | {:.1} MiB |",
        took.as_secs_f64(),
        cn as f64 / took.as_secs_f64(),
        rss as f64 / 1024.0
    )
    .unwrap();

    let u = r.usage;
    writeln!(
        o,
        "\n## Usage and bills\n\n{} batches of 1,000 records (100 workspaces × 10 items, one hour each) through the release \
         `usage` binary; the floor writes the same 1,000 items with plain `BatchWriteItem` (25 a call, 4 in flight) in the same run.\n",
        u.batches
    )
    .unwrap();
    writeln!(o, "| figure | value |\n|---|---:|").unwrap();
    writeln!(o, "| 1,000-record batch, p50 | {:.0} ms |", ms(u.batch_p50)).unwrap();
    writeln!(o, "| ingestion | {:.0} records/s |", u.records_per_s).unwrap();
    writeln!(o, "| DynamoDB calls per 1,000 records | {} |", describe(&u.calls_per_batch)).unwrap();
    writeln!(
        o,
        "| DynamoDB capacity per record | {:.2} write units, {:.2} read units |",
        u.units_per_batch.write / 1000.0,
        u.units_per_batch.read / 1000.0
    )
    .unwrap();
    writeln!(
        o,
        "| plain `BatchWriteItem` of 1,000 items (floor), p50 | {:.0} ms ({:.0} items/s, {:.0} calls) |",
        ms(u.floor),
        1000.0 / u.floor.as_secs_f64(),
        u.floor_calls
    )
    .unwrap();
    writeln!(o, "| floor's capacity per item | {:.2} write units |", u.floor_units.write / 1000.0).unwrap();
    writeln!(o, "| batch / floor | {:.2}× |", u.batch_p50.as_secs_f64() / u.floor.as_secs_f64()).unwrap();
    writeln!(o, "| `usage` peak RSS | {:.1} MiB |", u.usage_rss_kib as f64 / 1024.0).unwrap();
    writeln!(
        o,
        "| bill of {} lines (100 workspaces × 10 items), p50 / p99 | {:.1} / {:.1} ms |",
        u.bill_lines,
        ms(u.bill_p50),
        ms(u.bill_p99)
    )
    .unwrap();
    writeln!(o, "| DynamoDB calls per bill | {} |", describe(&u.bill_calls)).unwrap();
    if u.records_per_s < 5000.0 {
        misses.push(format!("ingestion: {:.0} records/s (goal 5,000)", u.records_per_s));
    }
    if u.bill_p50.as_millis() >= 300 {
        misses.push(format!("bill of 100 workspaces: {:.0} ms (goal 300 ms)", ms(u.bill_p50)));
    }

    let m = r.metering;
    let aws_floor = (m.aws_accounts * 5).div_ceil(25);
    writeln!(
        o,
        "\n## Metering\n\nOne planning run (a slot in the first quarter of an hour) of the release `metering` binary over {} AWS licences (one product) × 5 items and {} Alibaba instances × 5 items, every report taken.\n",
        m.aws_accounts, m.aliyun_instances
    )
    .unwrap();
    writeln!(o, "| figure | value |\n|---|---:|").unwrap();
    writeln!(o, "| reports taken | {} |", m.reports).unwrap();
    writeln!(o, "| seconds | {:.2} |", m.took.as_secs_f64()).unwrap();
    let batch = m.metering_calls.get("BatchMeterUsage").copied().unwrap_or(0.0);
    writeln!(o, "| `BatchMeterUsage` calls (floor ⌈{} / 25⌉ = {aws_floor}) | {batch:.0} |", m.aws_accounts * 5)
        .unwrap();
    writeln!(
        o,
        "| `PushMeteringData` calls (one per instance) | {:.0} |",
        m.metering_calls.get("PushMeteringData").copied().unwrap_or(0.0)
    )
    .unwrap();
    writeln!(o, "| DynamoDB calls | {} |", describe(&m.calls)).unwrap();
    writeln!(
        o,
        "| DynamoDB calls per cloud account | {:.1} |",
        m.calls.values().sum::<f64>() / (m.aws_accounts + m.aliyun_instances) as f64
    )
    .unwrap();
    writeln!(
        o,
        "| DynamoDB capacity per cloud account | {:.1} write units, {:.1} read units |",
        m.units.write / (m.aws_accounts + m.aliyun_instances) as f64,
        m.units.read / (m.aws_accounts + m.aliyun_instances) as f64
    )
    .unwrap();
    writeln!(o, "| `metering` peak RSS | {:.1} MiB |", m.rss_kib as f64 / 1024.0).unwrap();
    if batch > aws_floor as f64 {
        misses.push(format!("BatchMeterUsage calls: {batch:.0} (floor {aws_floor})"));
    }

    let i = r.issuing;
    writeln!(
        o,
        "\n## Issuing bills\n\nOne run of the release `issue-bills` over {} billing accounts with a closed month (a workspace, two \
         enterprise lines each: the bill issued as JSON and CSV, the balance settled with an entry, the statement sent), plus \
         whatever closed months the table held.\n",
        i.seeded
    )
    .unwrap();
    writeln!(o, "| figure | value |\n|---|---:|").unwrap();
    writeln!(o, "| bills issued | {} |", i.issued).unwrap();
    writeln!(o, "| seconds | {:.2} |", i.took.as_secs_f64()).unwrap();
    writeln!(o, "| accounts issued per second | {:.0} |", i.issued as f64 / i.took.as_secs_f64()).unwrap();
    writeln!(o, "| DynamoDB calls per account | {} |", describe(&i.calls)).unwrap();
    writeln!(o, "| DynamoDB capacity per account | {:.1} write units, {:.1} read units |", i.units.write, i.units.read)
        .unwrap();
    writeln!(o, "| other AWS calls per account | {} |", describe(&i.other_calls)).unwrap();
    writeln!(o, "| `issue-bills` peak RSS | {:.1} MiB |", i.rss_kib as f64 / 1024.0).unwrap();

    for f in r.functions {
        let ratio = f.cold.as_secs_f64() / r.hello.as_secs_f64();
        if ratio > 1.5 {
            misses.push(format!("cold start of `{}`: {ratio:.2}× hello-world", f.name));
        }
        if f.peak_rss_kib > 32 * 1024 {
            misses.push(format!("peak RSS of `{}`: {:.1} MiB", f.name, f.peak_rss_kib as f64 / 1024.0));
        }
        if f.size_arm.is_some_and(|s| s > 9_000_000) {
            misses.push(format!("arm64 bootstrap of `{}`: {}", f.name, mb(f.size_arm)));
        }
    }
    if took.as_secs() >= 60 {
        misses.push(format!("cancellation of {cn} workspaces: {:.1} s", took.as_secs_f64()));
    }
    if rss > 32 * 1024 {
        misses.push(format!("webhook peak RSS during the cancellation: {:.1} MiB", rss as f64 / 1024.0));
    }
    writeln!(o, "\n## Against the targets\n").unwrap();
    writeln!(o, "Targets: cold start ≤ 1.5× hello-world; warm p50 ≤ 1.5× floor; peak RSS < 32 MiB; arm64 bootstrap < 9 MB; {cn}-workspace cancellation < 60 s; goals: ingestion ≥ 5,000 records/s, a 100-workspace bill < 300 ms.\n").unwrap();
    if misses.is_empty() {
        writeln!(o, "Every figure meets its target.").unwrap();
    } else {
        for m in misses {
            writeln!(o, "- miss: {m}").unwrap();
        }
    }
    o
}

/// Issue 19's table: each path, its floor measured in the same run, and the ratio.
fn floors(r: &RenderInput) -> String {
    let mut o = String::new();
    let (u, m) = (r.usage, r.metering);
    let accounts = (m.aws_accounts + m.aliyun_instances) as f64;
    writeln!(o, "## Against the floors\n").unwrap();
    writeln!(o, "| path | measured | its floor in this run | ratio | goal |\n|---|---|---|---:|---|").unwrap();
    writeln!(
        o,
        "| a 1,000-record usage batch (100 workspaces × 10 items) | {:.0} ms p50, {:.0} records/s; DynamoDB {}; {:.2} write units a record | plain `BatchWriteItem` of 1,000 items: {:.0} ms, {:.2} write units an item | {:.2}× time, {:.2}× write units | ≤ 2× time, ≤ 3 write units a record |",
        ms(u.batch_p50),
        u.records_per_s,
        describe(&u.calls_per_batch),
        u.units_per_batch.write / 1000.0,
        ms(u.floor),
        u.floor_units.write / 1000.0,
        u.batch_p50.as_secs_f64() / u.floor.as_secs_f64(),
        u.units_per_batch.write / u.floor_units.write.max(1.0),
    )
    .unwrap();
    let aws_floor = (m.aws_accounts * 5).div_ceil(25);
    let batch = m.metering_calls.get("BatchMeterUsage").copied().unwrap_or(0.0);
    writeln!(
        o,
        "| an hourly metering run, {} cloud accounts × 5 items | {:.1} s; {:.2} DynamoDB calls a cloud account ({:.0} in all); {:.1} write units a cloud account; {batch:.0} `BatchMeterUsage` | `BatchMeterUsage` at ⌈{} / 25⌉ = {aws_floor} | {:.2}× `BatchMeterUsage` | ≤ 8 DynamoDB calls a cloud account |",
        m.aws_accounts + m.aliyun_instances,
        m.took.as_secs_f64(),
        m.calls.values().sum::<f64>() / accounts,
        m.calls.values().sum::<f64>(),
        m.units.write / accounts,
        m.aws_accounts * 5,
        batch / aws_floor.max(1) as f64,
    )
    .unwrap();
    let colds: Vec<f64> = r.functions.iter().map(|f| ms(f.cold)).collect();
    let (lo, hi) = colds.iter().fold((f64::MAX, 0.0f64), |(lo, hi), c| (lo.min(*c), hi.max(*c)));
    writeln!(
        o,
        "| cold start, every function | {lo:.1}–{hi:.1} ms | hello-world `lambda_runtime`: {:.1} ms | {:.2}–{:.2}× | ≤ 1.5× |\n",
        ms(r.hello),
        lo / ms(r.hello),
        hi / ms(r.hello)
    )
    .unwrap();
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap_or_default();
    let total_s = u.records_per_s.recip() * 1000.0; // mean seconds per batch
    let per_record = Work {
        write_units: u.units_per_batch.write / 1000.0,
        read_units: u.units_per_batch.read / 1000.0,
        seconds: total_s / 1000.0,
        memory_mb: cost::memory_mb(&template, "usage"),
        invocations: 1.0 / 1000.0,
        marketplace_calls: 0.0,
    };
    let per_account_run = Work {
        write_units: m.units.write / accounts,
        read_units: m.units.read / accounts,
        seconds: m.took.as_secs_f64() / accounts,
        memory_mb: cost::memory_mb(&template, "metering"),
        invocations: 1.0 / accounts,
        marketplace_calls: m.metering_calls.values().sum::<f64>() / accounts,
    };
    writeln!(o, "## Cost model\n\nFrom this run's counts: capacity units as DynamoDB bills them (reported by DynamoDB Local), Lambda time at each function's `MemorySize` in template.yaml (batches at their mean time; metering runs at this run's time per cloud account), marketplace calls as the emulator received them.\n").unwrap();
    o.push_str(&cost::render(per_record, per_account_run));
    o.push('\n');
    o
}
