//! The reliability suite's driver (`make reliability`, see scripts/reliability.sh).
//!
//! - `load run --seconds S --clients C --tag T [--allow-5xx]`: C concurrent clients for S
//!   seconds through the real handlers against the local stack, mixing every route, with
//!   deliberate collisions (shared emails, phones, billing usernames, concurrent upgrades and
//!   changes) and cancellations while clients bind. Fails on any 5xx unless allowed.
//! - `load cancel-prepare --workspaces N --tag T` / `load cancel-release --tag T`: a
//!   cancellation of N workspaces, split so the script can stop moto in between.
//! - `load check --tag T`: drains the sweeper, then checks the invariants from the table.
//! - `load run ... --at TIME`: the same load on a clock set to TIME (the money phase: a month
//!   that can then be closed); `load issue --month YYYY-MM`: the `issue-bills` run after that
//!   month closed, again until it finishes (DynamoDB may be killed under it); `load settle
//!   --month YYYY-MM`: metering drained after the close, so late fallbacks meet issued bills.

use billing_tests::money_check as money;

use billing_domain::model::Language;
use billing_tests::*;
use chrono::Duration as ChronoDuration;
use futures::future::join_all;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// What the clients share, so that they collide on purpose.
struct Shared {
    tag: String,
    emails: Vec<String>,
    phones: Vec<String>,
    billing_names: Vec<String>,
    uid: String,
    instances: Mutex<Vec<String>>,
    free_workspaces: Mutex<Vec<(String, String)>>,
    commercial: Mutex<Vec<(String, String, String)>>,
    statuses: Mutex<BTreeMap<String, u64>>,
    server_errors: AtomicU64,
    calls: AtomicU64,
    /// What the sites sent: record id → (workspace, hour, quantity, answered).
    usage: Mutex<HashMap<String, (String, String, String, bool)>>,
    sent_batches: Mutex<Vec<Vec<Value>>>,
}

impl Shared {
    fn tally(&self, route: &str, status: u16, body: &Value) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let code = body["code"].as_str().unwrap_or("");
        *self.statuses.lock().unwrap().entry(format!("{route} {status} {code}")).or_default() += 1;
        if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn email(&self, i: usize) -> String {
        self.emails[i % self.emails.len()].clone()
    }
}

fn pick<T: Clone>(v: &Mutex<Vec<T>>) -> Option<T> {
    let v = v.lock().unwrap();
    (!v.is_empty()).then(|| v[fastrand::usize(..v.len())].clone())
}

async fn one_step(w: &marketplace_webhook::Webhook, s: &Shared, step: usize) {
    let app = &w.app;
    let post = |path: String, body: Value, tok: Option<String>| async move {
        match path.as_str() {
            "/v1/registrations" => {
                parts(register::handle(app, request("POST", &path, Some(&body), tok.as_deref())).await)
            }
            p if p.ends_with("/upgrade") => {
                parts(upgrade::handle(app, request("POST", &path, Some(&body), tok.as_deref())).await)
            }
            _ => parts(login::handle(app, request("POST", &path, Some(&body), tok.as_deref())).await),
        }
    };
    match fastrand::usize(..16) {
        0 | 1 => {
            // Free registrations on two sites, on a small pool of emails and phones.
            let mut r = free_registration(if fastrand::bool() { "cn1" } else { "us1" });
            r["email"] = s.email(fastrand::usize(..)).into();
            r["phone"] = s.phones[fastrand::usize(..s.phones.len())].clone().into();
            let (st, b) = post("/v1/registrations".into(), r, None).await;
            s.tally("register free", st, &b);
            if st == 201 {
                s.free_workspaces
                    .lock()
                    .unwrap()
                    .push((b["workspace"]["id"].as_str().unwrap().into(), token(&b, "session")));
            }
        }
        2 => {
            // Commercial registrations on a small pool of billing usernames, some with Alibaba.
            let mut r = commercial_registration("cn1");
            r["email"] = format!("c{}@{}", unique(), s.tag).into();
            r["username"] = s.billing_names[fastrand::usize(..s.billing_names.len())].clone().into();
            if let (true, Some(i)) = (fastrand::bool(), pick(&s.instances)) {
                r["settlement"] = json!({"method": "aliyun", "account_id": s.uid, "instance_id": i});
            }
            let (st, b) = post("/v1/registrations".into(), r, None).await;
            s.tally("register commercial", st, &b);
            if st == 201 {
                s.commercial.lock().unwrap().push((
                    b["workspace"]["id"].as_str().unwrap().into(),
                    token(&b, "session"),
                    token(&b, "billing_session"),
                ));
            }
        }
        3 => {
            let body = json!({"site": "cn1", "login": s.email(fastrand::usize(..)), "password": if fastrand::bool() { "s3cret-pass" } else { "wrong-pass1" }});
            let (st, b) = post("/v1/sessions".into(), body, None).await;
            s.tally("login", st, &b);
        }
        4 => {
            let body = json!({"username": s.billing_names[fastrand::usize(..s.billing_names.len())], "password": "s3cret-pass"});
            let (st, b) = post("/v1/billing/sessions".into(), body, None).await;
            s.tally("billing login", st, &b);
        }
        5 => {
            // Upgrades, sometimes of the same workspace by two clients at once.
            if let Some((ws, tok)) = pick(&s.free_workspaces) {
                let body = json!({"billing_account": {"mode": "create", "username": format!("u{}", unique()),
                                  "password": "billing-pass1", "email": format!("u{}@{}", unique(), s.tag)}, "accept_agreement": true});
                let (st, b) = post(format!("/v1/workspaces/{ws}/upgrade"), body, Some(tok.clone())).await;
                s.tally("upgrade", st, &b);
                if st == 200 {
                    s.commercial.lock().unwrap().push((ws, tok, token(&b, "billing_session")));
                }
            }
        }
        6 => {
            if let Some((ws, tok, _)) = pick(&s.commercial) {
                let (st, b) = post("/v1/billing/sso".into(), json!({"workspace_id": ws}), Some(tok)).await;
                s.tally("sso", st, &b);
            }
        }
        7 | 8 => {
            // Settlement changes onto pool instances, racing cancellations of those instances.
            if let (Some((ws, _, billing)), Some(i)) = (pick(&s.commercial), pick(&s.instances)) {
                let body = if fastrand::u8(..4) == 0 {
                    json!({"method": "enterprise"})
                } else {
                    json!({"method": "aliyun", "account_id": s.uid, "instance_id": i})
                };
                let path = format!("/v1/workspaces/{ws}/settlement");
                let (st, b) =
                    parts(change_settlement::handle(app, request("PUT", &path, Some(&body), Some(&billing))).await);
                s.tally("change settlement", st, &b);
            }
        }
        9 => {
            if let Some((ws, _, billing)) = pick(&s.commercial) {
                let path = format!("/v1/workspaces/{ws}/settlement-options");
                let (st, b) = parts(change_settlement::handle(app, request("GET", &path, None, Some(&billing))).await);
                s.tally("settlement options", st, &b);
                let (st, b) = parts(
                    change_settlement::handle(app, request("GET", "/v1/billing/workspaces", None, Some(&billing)))
                        .await,
                );
                s.tally("billing workspaces", st, &b);
                let (st, b) = parts(
                    change_settlement::handle(app, request("GET", "/v1/billing/cloud-accounts", None, Some(&billing)))
                        .await,
                );
                s.tally("billing cloud accounts", st, &b);
            }
        }
        10 => {
            // The marketplace opens instances and, now and then, releases one while clients bind it.
            if step.is_multiple_of(3) {
                if let Some(i) = pick(&s.instances) {
                    let (st, b) = spi(w, &[("action", "releaseInstance"), ("instanceId", &i)]).await;
                    s.tally("spi release", st, &b);
                    s.instances.lock().unwrap().retain(|x| x != &i);
                }
            }
            let order = format!("order{}", unique());
            let (st, b) = spi(w, &[("action", "createInstance"), ("aliUid", &s.uid), ("orderBizId", &order)]).await;
            s.tally("spi create", st, &b);
            if st == 200 {
                s.instances.lock().unwrap().push(order);
            }
        }
        11 => {
            let customer = format!("load{}", unique());
            let token = mint_marketplace_token(&customer, "111122223333", "prod", 3600).await;
            let landed = marketplace_webhook::handle_http(w, landing_request(&token), None).await;
            let location = landed.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string);
            let (st, b) = parts(landed);
            s.tally("aws landing", st, &b);
            let Some(claim) = location.and_then(|l| l.split("aws_subscription=").nth(1).map(str::to_string)) else {
                return;
            };
            let now = chrono::Utc::now();
            let mut events = vec![("subscribe-success", 0), ("unsubscribe-pending", 1), ("unsubscribe-success", 2)];
            fastrand::shuffle(&mut events);
            let mut r = commercial_registration("us1");
            r["email"] = format!("a{}@{}", unique(), s.tag).into();
            r["settlement"] = json!({"method": "aws", "subscription": claim});
            let (st, b) = post("/v1/registrations".into(), r, None).await;
            s.tally("register aws", st, &b);
            if st == 201 {
                s.commercial.lock().unwrap().push((
                    b["workspace"]["id"].as_str().unwrap().into(),
                    billing_tests::token(&b, "session"),
                    billing_tests::token(&b, "billing_session"),
                ));
            }
            for (action, at) in events {
                let out =
                    deliver_sqs(w, sqs_event(&[(action, &customer, "prod", now + ChronoDuration::seconds(at))])).await;
                let failed = out["batchItemFailures"].as_array().map(|a| a.len()).unwrap_or(0);
                s.tally("sqs", if failed == 0 { 200 } else { 500 }, &Value::Null);
            }
        }
        12 => {
            let (st, b) = parts(register::handle(app, request("GET", "/v1/sites", None, None)).await);
            s.tally("sites", st, &b);
            // A customer manager flips free choice on a billing account while its owners change settlements.
            let u = &s.billing_names[fastrand::usize(..s.billing_names.len())];
            let (st, b) = parts(admin::handle(app, admin_request(u, fastrand::bool(), true)).await);
            s.tally("admin free choice", st, &b);
        }
        14 | 15 => {
            // A site reports usage of workspaces whose settlement moves meanwhile, and now and
            // then sends a batch again (its retry after a lost answer).
            let resend = fastrand::u8(..4) == 0;
            let batch = match (resend, pick(&s.sent_batches)) {
                (true, Some(b)) => b,
                _ => {
                    let mut batch = Vec::new();
                    for _ in 0..fastrand::usize(1..6) {
                        let Some((ws, _, _)) = pick(&s.commercial) else { break };
                        // Most of this hour; some of hours before the workspaces existed (refused).
                        let back = if fastrand::u8(..4) == 0 { fastrand::i64(1..6) } else { 0 };
                        let hour = billing_domain::rules::usage::hour_start(app.deps.clock.now())
                            - ChronoDuration::hours(back);
                        let q = if flag("--whole") {
                            fastrand::u32(1..20).to_string()
                        } else {
                            format!("{}.{:02}", fastrand::u32(0..50), fastrand::u32(0..100))
                        };
                        let id = format!("u-{}-{}", s.tag, unique());
                        s.usage.lock().unwrap().insert(id.clone(), (ws.clone(), hour.to_rfc3339(), q.clone(), false));
                        batch.push(usage_record(
                            &id,
                            &ws,
                            billing_domain::billing_items::ITEMS[fastrand::usize(..10)].id,
                            hour,
                            &q,
                        ));
                    }
                    if batch.is_empty() {
                        return;
                    }
                    s.sent_batches.lock().unwrap().push(batch.clone());
                    batch
                }
            };
            for _ in 0..5 {
                let (st, b) = report_usage(app, &batch).await;
                s.tally("usage", st, &b);
                if st == 200 {
                    let rejected: HashSet<String> = b["rejected"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r["id"].as_str().map(str::to_string))
                        .collect();
                    let mut ledger = s.usage.lock().unwrap();
                    for r in &batch {
                        let id = r["id"].as_str().unwrap_or_default();
                        if !rejected.contains(id) {
                            if let Some(e) = ledger.get_mut(id) {
                                e.3 = true;
                            }
                        }
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        _ if step.is_multiple_of(4) => match billing_domain::service::subscription::run_metering(&app.deps, None).await
        {
            Ok(f) => s.tally("metering", if f.failed == 0 { 200 } else { 500 }, &Value::Null),
            Err(_) => s.tally("metering", 500, &Value::Null),
        },
        _ => match sweeper::sweep(&app.deps, None).await {
            Ok(_) => s.tally("sweep", 200, &Value::Null),
            Err(e) => {
                if s.server_errors.load(Ordering::Relaxed) == 0 {
                    eprintln!("first sweep failure: {e}");
                }
                s.tally("sweep", 500, &Value::Null)
            }
        },
    }
}

async fn run_load(tag: String) {
    let seconds: u64 = arg("--seconds").unwrap_or("30".into()).parse().unwrap();
    let clients: usize = arg("--clients").unwrap_or("32".into()).parse().unwrap();
    let h = Harness::new().await;
    if let Some(at) = arg("--at") {
        h.clock.set(
            chrono::DateTime::parse_from_rfc3339(&at).expect("--at: an RFC 3339 time").with_timezone(&chrono::Utc),
        );
    }
    let w = Arc::new(webhook(h));
    let shared = Arc::new(Shared {
        emails: (0..40).map(|i| format!("shared{i}@{tag}")).collect(),
        phones: (0..40).map(|_| unique_phone()).collect(),
        billing_names: (0..20).map(|i| format!("acct{i}-{}", unique())).collect(),
        uid: aliyun_uid(),
        instances: Mutex::new(vec![]),
        free_workspaces: Mutex::new(vec![]),
        commercial: Mutex::new(vec![]),
        statuses: Mutex::new(BTreeMap::new()),
        server_errors: AtomicU64::new(0),
        calls: AtomicU64::new(0),
        usage: Mutex::new(HashMap::new()),
        sent_batches: Mutex::new(Vec::new()),
        tag,
    });
    for _ in 0..3 {
        let i = open_instance(&w, &shared.uid).await;
        shared.instances.lock().unwrap().push(i);
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks = (0..clients).map(|_| {
        let (w, s) = (w.clone(), shared.clone());
        tokio::spawn(async move {
            let mut step = 0;
            while Instant::now() < end {
                one_step(&w, &s, step).await;
                step += 1;
            }
        })
    });
    for t in join_all(tasks).await {
        if let Err(e) = t {
            eprintln!("a client panicked: {e}");
            shared.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    let took = started.elapsed().as_secs_f64();
    let calls = shared.calls.load(Ordering::Relaxed);
    let errors = shared.server_errors.load(Ordering::Relaxed);
    println!(
        "load: {clients} clients for {took:.0} s: {calls} calls ({:.0}/s), {errors} answered 5xx",
        calls as f64 / took
    );
    for (k, v) in shared.statuses.lock().unwrap().iter() {
        println!("  {v:>6}  {k}");
    }
    // The sites' side of the usage check: every record sent, with its quantity.
    let ledger: HashMap<String, (String, String, String, bool)> = shared.usage.lock().unwrap().clone();
    std::fs::write(format!(".local/run/usage-{}.json", shared.tag), serde_json::to_string(&ledger).unwrap()).unwrap();
    if errors > 0 && !flag("--allow-5xx") {
        eprintln!("FAIL: {errors} server errors");
        std::process::exit(1);
    }
}

async fn cancel_prepare(tag: &str) {
    let n: usize = arg("--workspaces").unwrap_or("2000".into()).parse().unwrap();
    let w = webhook(Harness::new().await);
    let uid = aliyun_uid();
    let instance = open_instance(&w, &uid).await;
    let cloud = w.app.deps.marketplace.cloud_account(&format!("aliyun-{instance}")).await.unwrap().unwrap();
    for i in 0..3 {
        let mut owner = commercial_registration("cn1");
        owner["email"] = format!("owner{i}{}@{tag}", unique()).into();
        registered(&w.app, &owner).await;
        seed_workspaces(&w.app.deps, owner["username"].as_str().unwrap(), &cloud, n / 3, Language::En).await;
    }
    std::fs::write(format!(".local/run/cancel-{tag}"), &instance).unwrap();
    println!("prepared {n} workspaces on instance {instance}");
}

async fn cancel_release(tag: &str) {
    let instance = std::fs::read_to_string(format!(".local/run/cancel-{tag}")).unwrap();
    let w = webhook(Harness::new().await);
    let started = Instant::now();
    let (status, body) = spi(&w, &[("action", "releaseInstance"), ("instanceId", &instance)]).await;
    println!("release with SES unreachable: HTTP {status} {body} in {:.1} s", started.elapsed().as_secs_f64());
    if status != 200 {
        std::process::exit(1);
    }
}

/// Drains the sweeper (pending mail, open cancellation runs, rechecks), then checks the
/// invariants from the table itself.
async fn check(tag: &str) {
    let h = Harness::new().await;
    for _ in 0..20 {
        h.clock.advance(billing_domain::service::cancellation::RECHECK_AFTER + ChronoDuration::seconds(1));
        sweeper::sweep(h.deps(), None).await.expect("sweep");
        let open = h.deps().cancellations.open_runs().await.unwrap().len();
        let pending = h.deps().outbox.pending(1).await.unwrap().len();
        if open == 0 && pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if flag("--metering") {
        // Drain (the faults are off by now): the hours pass until nothing is due.
        drain_metering(&h).await;
    }
    let items = scan_all(&h).await;
    let mut violations = Vec::new();
    let s = |i: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
        i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
    };
    let num = |i: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| -> i64 {
        i.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
    };

    // No email or phone held by two users of a site; every guard names a user that holds it.
    let users: Vec<_> = items.iter().filter(|i| s(i, "sk") == "USER").collect();
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    for u in &users {
        for key in ["email", "phone"] {
            if let Some(other) = seen.insert((s(u, "site"), format!("{key}:{}", s(u, key))), s(u, "id")) {
                violations.push(format!(
                    "{key} {} on {} held by {} and {}",
                    s(u, key),
                    s(u, "site"),
                    other,
                    s(u, "id")
                ));
            }
        }
    }
    let user_ids: HashSet<String> = users.iter().map(|u| s(u, "id")).collect();
    for g in items.iter().filter(|i| s(i, "sk") == "GUARD") {
        if !user_ids.contains(&s(g, "user_id")) {
            violations.push(format!("guard {} names no user", s(g, "pk")));
        }
    }
    let guards = items.iter().filter(|i| s(i, "sk") == "GUARD").count();
    if guards != users.len() * 2 {
        violations.push(format!("{} users but {guards} guards", users.len()));
    }

    // No billing username twice, whatever its case.
    let mut names = HashSet::new();
    for b in items.iter().filter(|i| s(i, "sk") == "ACCOUNT") {
        if !names.insert(s(b, "username").to_lowercase()) {
            violations.push(format!("billing username {} twice", s(b, "username")));
        }
    }

    // No workspace settled by a cancelled cloud account; every workspace has an owner.
    let cancelled: HashSet<String> = items
        .iter()
        .filter(|i| s(i, "sk") == "CLOUD" && s(i, "status") == "cancelled")
        .map(|i| s(i, "pk").trim_start_matches("CLOUD#").to_string())
        .collect();
    let mut workspaces = 0;
    for ws in items.iter().filter(|i| s(i, "sk") == "WS") {
        workspaces += 1;
        if !s(ws, "gsi2pk").is_empty() && cancelled.contains(s(ws, "gsi2pk").trim_start_matches("CLOUD#")) {
            violations.push(format!("workspace {} still settled by cancelled {}", s(ws, "id"), s(ws, "gsi2pk")));
        }
        if !user_ids.contains(&s(ws, "owner_id")) {
            violations.push(format!("workspace {} has no owner", s(ws, "id")));
        }
    }

    // Every email intent of this run sent, and sent exactly once (moto's own record). With
    // `--mail-since T` (moto was restarted at T, losing what it had), only intents made
    // after T are counted against it.
    let since = arg("--mail-since").unwrap_or_default();
    let mails: Vec<_> = items.iter().filter(|i| s(i, "sk") == "MAIL" && s(i, "to").ends_with(tag)).collect();
    let mut intended: HashMap<(String, String), i64> = HashMap::new();
    // An intent whose sender died between SES and the record is sent again by the one that takes
    // its lease over, which counts it (`takeovers`): SES may have had the first copy.
    let mut taken_over: HashMap<(String, String), i64> = HashMap::new();
    let mut known: HashSet<(String, String)> = HashSet::new();
    for m in &mails {
        if s(m, "status") != "sent" {
            violations.push(format!("email {} still {}", s(m, "id"), s(m, "status")));
        }
        known.insert((s(m, "to"), s(m, "subject")));
        if s(m, "created_at") >= since {
            *intended.entry((s(m, "to"), s(m, "subject"))).or_default() += 1;
            *taken_over.entry((s(m, "to"), s(m, "subject"))).or_default() += num(m, "takeovers");
        }
    }
    // An email SES took for a commit the store acknowledged and then lost (DynamoDB Local killed
    // under it) is recorded beside its intent's key; the change is made again, with its email.
    for u in items.iter().filter(|i| s(i, "sk") == "UNRECORDED") {
        if let Some(m) = mails.iter().find(|m| s(m, "pk") == s(u, "pk")) {
            if s(m, "created_at") >= since {
                *taken_over.entry((s(m, "to"), s(m, "subject"))).or_default() += 1;
            }
        }
    }
    let takeovers: i64 = taken_over.values().sum();
    if takeovers > 0 {
        println!("{takeovers} emails sent again: their sender died before recording the outcome, or the table lost their commit");
    }
    let moto = format!("{}/moto-api/data.json", std::env::var("MOTO_URL").unwrap());
    let data: Value = reqwest::get(moto).await.unwrap().json().await.unwrap();
    let mut delivered: HashMap<(String, String), i64> = HashMap::new();
    for m in data["ses"]["Message"].as_array().cloned().unwrap_or_default() {
        for to in m["destinations"]["ToAddresses"].as_array().cloned().unwrap_or_default() {
            let to = to.as_str().unwrap_or_default().to_string();
            if to.ends_with(tag) {
                *delivered.entry((to, m["subject"].as_str().unwrap_or_default().to_string())).or_default() += 1;
            }
        }
    }
    for (k, n) in &intended {
        let got = delivered.get(k).copied().unwrap_or(0);
        let again = taken_over.get(k).copied().unwrap_or(0);
        if got < *n || got > n + again {
            violations.push(format!("email to {} ({}) intended {n}, delivered {got}", k.0, k.1));
        }
    }
    for (k, n) in &delivered {
        if !intended.contains_key(k) && (!known.contains(k) || *n > 1) {
            violations.push(format!("email to {} ({}) delivered {n} times with no intent", k.0, k.1));
        }
    }
    let usage_checked = check_usage(tag, &items, &mut violations);
    let issued = money::check(&items, &mut violations);
    money::unchanged(&items, &mut violations);
    let metered = if flag("--metering") { check_metering(tag, &items, &mut violations).await } else { 0 };

    let cancelled_runs = items.iter().filter(|i| s(i, "sk") == "RUN").count();
    println!(
        "check: {} users, {workspaces} workspaces, {} billing accounts, {} cancelled cloud accounts ({cancelled_runs} runs), {} emails of this run, {usage_checked} usage records, {metered} metered cloud accounts, {issued} issued bills: {} violations",
        users.len(),
        names.len(),
        cancelled.len(),
        mails.len(),
        violations.len()
    );
    for v in violations.iter().take(20) {
        println!("  violation: {v}");
    }
    if !violations.is_empty() {
        std::process::exit(1);
    }
}

/// Usage (flows 8, 9): every record a site got an answer for is stored once with the quantity
/// it sent; every stored record has the payer in force at the start of its hour by the
/// workspace's history; for every workspace, item and month, the lines as attributed add up
/// exactly to the records charged; and what fell back is on fallback lines, exactly. Returns
/// how many records were checked.
fn check_usage(
    tag: &str,
    items: &[HashMap<String, aws_sdk_dynamodb::types::AttributeValue>],
    violations: &mut Vec<String>,
) -> usize {
    use billing_domain::model::{SettlementChange, Workspace};
    use billing_domain::rules::usage::{settlement_at, Payer};
    use rust_decimal::Decimal;
    use std::str::FromStr;
    let Ok(text) = std::fs::read_to_string(format!(".local/run/usage-{tag}.json")) else {
        return 0;
    };
    let ledger: HashMap<String, (String, String, String, bool)> = serde_json::from_str(&text).unwrap();
    let str_of = |i: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
        i.get(k).and_then(|v| v.as_s().ok().or_else(|| v.as_n().ok())).cloned().unwrap_or_default()
    };
    let dec = |v: &str| Decimal::from_str(v).unwrap_or_default();
    let workspaces: HashMap<String, Workspace> = items
        .iter()
        .filter(|i| str_of(i, "sk") == "WS")
        .filter_map(|i| serde_dynamo::from_item(i.clone()).ok())
        .map(|w: Workspace| (w.id.clone(), w))
        .collect();
    let mut histories: HashMap<String, Vec<SettlementChange>> = HashMap::new();
    for i in items.iter().filter(|i| str_of(i, "sk").starts_with("HIST#")) {
        if let Ok(h) = serde_dynamo::from_item::<_, SettlementChange>(i.clone()) {
            histories.entry(str_of(i, "pk").trim_start_matches("WS#").to_string()).or_default().push(h);
        }
    }
    for h in histories.values_mut() {
        h.sort_by_key(|e| e.at);
    }
    let mut stored: HashMap<String, Decimal> = HashMap::new();
    let mut charged: HashMap<(String, String, String), Decimal> = HashMap::new();
    for r in items.iter().filter(|i| str_of(i, "sk") == "UREC" && str_of(i, "pk").contains(&format!("#u-{tag}-"))) {
        let id = str_of(r, "pk").rsplit('#').next().unwrap_or_default().to_string();
        let q = dec(&str_of(r, "quantity"));
        if stored.insert(id.clone(), q).is_some() {
            violations.push(format!("usage record {id} stored twice"));
        }
        match ledger.get(&id) {
            Some((_, _, sent, _)) if dec(sent) == q => {}
            other => violations.push(format!("usage record {id}: stored {q}, sent {other:?}")),
        }
        let ws_id = str_of(r, "workspace_id");
        let hour = chrono::DateTime::parse_from_rfc3339(&str_of(r, "hour")).map(|t| t.with_timezone(&chrono::Utc));
        let payer: Option<Payer> = r.get("payer").and_then(|p| serde_dynamo::from_attribute_value(p.clone()).ok());
        if let (Some(ws), Ok(hour), Some(payer)) = (workspaces.get(&ws_id), hour, payer.clone()) {
            let want = Payer::of(
                settlement_at(ws, histories.get(&ws_id).map(Vec::as_slice).unwrap_or_default(), hour).as_ref(),
            );
            if want != payer {
                violations.push(format!("usage record {id}: paid by {payer:?}, the history says {want:?}"));
            }
        }
        if payer != Some(Payer::Free) {
            let month = str_of(r, "hour").get(..7).unwrap_or_default().to_string();
            *charged.entry((ws_id, str_of(r, "item"), month)).or_default() += q;
        }
    }
    for (id, (_, _, _, answered)) in &ledger {
        if *answered && !stored.contains_key(id) {
            violations.push(format!("usage record {id} was accepted but is not stored"));
        }
    }
    // The records of a month are on its lines as attributed: enterprise and cloud lines (a
    // cloud line keeps what later fell back). What fell back moved to fallback lines, on the
    // same month's bill or, once that was issued, on the open month's: per workspace and item,
    // the fallback lines hold exactly what the cloud lines gave up.
    let mut on_lines: HashMap<(String, String, String), Decimal> = HashMap::new();
    let mut moved: HashMap<(String, String), (Decimal, Decimal)> = HashMap::new();
    for l in items.iter().filter(|i| str_of(i, "sk").starts_with("L#") && str_of(i, "pk").starts_with("BILL#")) {
        let key = (str_of(l, "workspace_id"), str_of(l, "item"), str_of(l, "month"));
        if !(charged.contains_key(&key) || ledger.values().any(|(ws, ..)| *ws == key.0)) {
            continue;
        }
        let payer: Option<billing_domain::rules::rating::LinePayer> =
            l.get("payer").and_then(|p| serde_dynamo::from_attribute_value(p.clone()).ok());
        let m = moved.entry((key.0.clone(), key.1.clone())).or_default();
        match payer {
            Some(billing_domain::rules::rating::LinePayer::FellBack { .. }) => m.1 += dec(&str_of(l, "quantity")),
            _ => {
                m.0 += dec(&str_of(l, "fell_back"));
                *on_lines.entry(key).or_default() += dec(&str_of(l, "quantity"));
            }
        }
    }
    for key in charged.keys().chain(on_lines.keys()).collect::<HashSet<_>>() {
        let (records, lines) =
            (charged.get(key).copied().unwrap_or_default(), on_lines.get(key).copied().unwrap_or_default());
        if records != lines {
            violations.push(format!("usage of {key:?}: records {records}, bill lines {lines}"));
        }
    }
    for (key, (gave_up, landed)) in moved {
        if gave_up != landed {
            violations.push(format!("usage of {key:?}: {gave_up} left cloud lines, {landed} is on fallback lines"));
        }
    }
    stored.len()
}

/// Metering (flow 10): for every cloud account that paid for usage, what its marketplace took
/// (the emulator's ledger) plus what fell back to enterprise equals what was attributed to it,
/// exactly; nothing is left uncovered or unsent. Returns how many accounts were checked.
async fn check_metering(
    tag: &str,
    items: &[HashMap<String, aws_sdk_dynamodb::types::AttributeValue>],
    violations: &mut Vec<String>,
) -> usize {
    use rust_decimal::Decimal;
    use std::str::FromStr;
    let text = |i: &HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, k: &str| {
        i.get(k).and_then(|v| v.as_s().ok().or_else(|| v.as_n().ok())).cloned().unwrap_or_default()
    };
    let dec = |v: String| Decimal::from_str(&v).unwrap_or_default();
    // This phase's workspaces (its usage was whole units, so nothing is carried or rounded).
    let ledger: HashMap<String, (String, String, String, bool)> =
        serde_json::from_str(&std::fs::read_to_string(format!(".local/run/usage-{tag}.json")).unwrap_or_default())
            .unwrap_or_default();
    let ours: HashSet<String> = ledger.values().map(|(ws, ..)| ws.clone()).collect();
    // attributed, covered, fell back per cloud account, from its cloud lines.
    let mut accounts: HashMap<String, (Decimal, Decimal, Decimal)> = HashMap::new();
    for l in items.iter().filter(|i| text(i, "gsi2pk").starts_with("METER#") && ours.contains(&text(i, "workspace_id")))
    {
        let e = accounts.entry(text(l, "gsi2pk").trim_start_matches("METER#").to_string()).or_default();
        e.0 += dec(text(l, "quantity"));
        e.1 += dec(text(l, "covered"));
        e.2 += dec(text(l, "fell_back"));
    }
    let open = items
        .iter()
        .filter(|i| text(i, "pk").starts_with("METERREP#") && text(i, "status") == "fixed")
        .filter(|i| accounts.contains_key(text(i, "pk").trim_start_matches("METERREP#")))
        .count();
    if open > 0 {
        violations.push(format!("{open} metering reports still open after draining"));
    }
    let clouds: HashMap<String, billing_domain::model::CloudAccount> = items
        .iter()
        .filter(|i| text(i, "sk") == "CLOUD")
        .filter_map(|i| serde_dynamo::from_item(i.clone()).ok())
        .map(|a: billing_domain::model::CloudAccount| (a.id.clone(), a))
        .collect();
    for (id, (attributed, covered, fell_back)) in &accounts {
        let Some(account) = clouds.get(id) else {
            violations.push(format!("metered cloud account {id} missing"));
            continue;
        };
        let customer = match (&account.license_arn, &account.customer_identifier, &account.instance_id) {
            (Some(l), _, _) => format!("acct:{}|{l}", account.account_id),
            (None, Some(c), _) => format!("id:{c}"),
            (None, None, Some(i)) => format!("instance:{i}"),
            _ => String::new(),
        };
        // What the marketplace bills (Alibaba takes usage of an expired instance's later hours
        // without billing it).
        let taken: Decimal = emulator_ledger(&customer)
            .await
            .iter()
            .filter(|r| r["billed"] != false)
            .map(|r| dec(r["quantity"].as_str().unwrap_or("0").to_string()))
            .sum();
        if covered != attributed {
            violations.push(format!("{id}: attributed {attributed}, covered {covered}"));
        }
        if taken + fell_back != *attributed {
            violations.push(format!("{id}: ledger {taken} + fell back {fell_back} != attributed {attributed}"));
        }
    }
    accounts.len()
}

fn month_arg() -> chrono::DateTime<chrono::Utc> {
    let month = arg("--month").expect("--month YYYY-MM");
    billing_domain::rules::usage::parse_month(&month).expect("--month YYYY-MM")
}

/// The `issue-bills` run an hour after `month` closed, again until it finishes. A run that
/// fails (DynamoDB killed under it) is run again: what it issued stays issued, what it did not
/// is issued by the next.
async fn issue(month: chrono::DateTime<chrono::Utc>) {
    let h = Harness::new().await;
    h.clock.set(billing_domain::rules::usage::closes_at(month) + ChronoDuration::hours(1));
    let started = Instant::now();
    let (mut issued, mut failures) = (0, 0);
    while started.elapsed() < Duration::from_secs(120) {
        match issue_bills::run(h.deps(), Some(Instant::now() + Duration::from_secs(30))).await {
            Ok(f) => {
                issued += f.issued;
                failures += f.failed;
                if f.finished && f.failed == 0 {
                    println!(
                        "issue: {issued} bills issued in {:.1} s ({failures} failed on the way and were issued again)",
                        started.elapsed().as_secs_f64()
                    );
                    // What the checks after this must find unchanged.
                    let mut violations = Vec::new();
                    money::unchanged(&scan_all(&h).await, &mut violations);
                    return;
                }
            }
            Err(e) => {
                failures += 1;
                eprintln!("issue run failed (retrying): {e}");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("FAIL: issuing did not finish in 120 s");
    std::process::exit(1);
}

/// After the close: metering drained (reports left pending fall back or are taken; a
/// fallback of an issued month's usage lands on the open month), then the sweeper.
async fn settle(month: chrono::DateTime<chrono::Utc>) {
    let h = Harness::new().await;
    h.clock.set(billing_domain::rules::usage::closes_at(month) + ChronoDuration::hours(2));
    let totals = drain_metering(&h).await;
    sweeper::sweep(h.deps(), None).await.expect("sweep");
    println!("settle: {} reports taken, {} fell back after the close", totals.reported, totals.fell_back);
}

/// Runs metering as the hours pass, until nothing is due and no report is open: a run every
/// quarter of an hour, on the harness's clock and on the clock every marketplace sees for the
/// subscriptions metered (an hour is reported once it has ended; Alibaba takes one push per
/// instance a minute). Refused subscriptions end, as the `metering` function ends them.
async fn drain_metering(h: &Harness) -> billing_domain::service::metering::RunFigures {
    let mut totals = billing_domain::service::metering::RunFigures::default();
    // The first run at once (a report whose answer was lost is sent again within its window),
    // then one a quarter of an hour, as scheduled.
    for i in 0..40 {
        if i > 0 {
            h.clock.advance(ChronoDuration::minutes(15));
        }
        let now = h.deps().clock.now();
        for scope in metered_scopes(h).await {
            emulator_clock(&scope, now).await;
        }
        let f = billing_domain::service::subscription::run_metering(h.deps(), None).await.expect("metering");
        totals.fell_back += f.fell_back;
        totals.reported += f.reported;
        let (due, open) =
            (h.deps().metering.due_accounts().await.unwrap(), h.deps().metering.open_accounts().await.unwrap());
        if f.pending == 0 && f.failed == 0 && f.deferred == 0 && due.is_empty() && open.is_empty() {
            break;
        }
    }
    totals
}

/// What the marketplaces' clocks are kept by for the subscriptions with usage: AWS licences and
/// products, Alibaba and KooGallery instances.
async fn metered_scopes(h: &Harness) -> Vec<String> {
    let mut scopes = Vec::new();
    for id in h.deps().metering.due_accounts().await.unwrap() {
        if let Some(a) = h.deps().marketplace.cloud_account(&id).await.unwrap() {
            scopes.extend(a.license_arn.into_iter().chain(a.product_code).chain(a.instance_id));
        }
    }
    scopes
}

async fn scan_all(h: &Harness) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(&h.wired_sdk);
    let table = std::env::var("TABLE_NAME").unwrap();
    let mut out = vec![];
    let mut start = None;
    loop {
        let page = client.scan().table_name(&table).set_exclusive_start_key(start).send().await.unwrap();
        out.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return out,
        }
    }
}

#[tokio::main]
async fn main() {
    let command = std::env::args().nth(1).unwrap_or_default();
    // Emails of a run share a domain, so its checks ignore other runs' mail.
    let tag = format!("{}.load.example", arg("--tag").unwrap_or_else(|| "default".into()));
    match command.as_str() {
        "run" => run_load(tag).await,
        "cancel-prepare" => cancel_prepare(&tag).await,
        "cancel-release" => cancel_release(&tag).await,
        "check" => check(&tag).await,
        "issue" => issue(month_arg()).await,
        "settle" => settle(month_arg()).await,
        _ => {
            eprintln!("usage: load run|cancel-prepare|cancel-release|check|issue|settle [--tag T] [--seconds S] [--clients C] [--workspaces N] [--allow-5xx] [--at TIME] [--month YYYY-MM]");
            std::process::exit(2);
        }
    }
}
