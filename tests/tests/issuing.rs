//! Issuing bills (出账, issue 20): a closed month's bill is issued once, the balance settled to
//! its total to the cent, its statement sent once in the account's language, and it answers the
//! same bytes forever, as JSON and as CSV. The real `issue-bills` run and handlers, on tables of
//! their own in DynamoDB Local, with a clock the tests move.

use billing_domain::ports::Clock;
use billing_domain::service::issuing::IssueFigures;
use billing_http::App;
use billing_tests::*;
use chrono::{DateTime, Duration, Utc};
use lambda_http::Body;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

struct Account {
    username: String,
    email: String,
    workspace: String,
}

async fn commercial(app: &App, site: &str, language: &str) -> Account {
    let mut req = commercial_registration(site);
    req["workspace"]["language"] = language.into();
    let reg = registered(app, &req).await;
    Account {
        username: req["username"].as_str().unwrap().to_string(),
        email: req["email"].as_str().unwrap().to_string(),
        workspace: reg["workspace"]["id"].as_str().unwrap().to_string(),
    }
}

/// A bill as the handler answers it: status, content type, the body's exact text.
async fn bill_text(app: &App, username: &str, month: &str, accept: Option<&str>) -> (u16, String, String) {
    let tok = billing_token(app, username).await;
    let mut req = request("GET", &format!("/v1/billing/bills/{month}"), None, Some(&tok));
    if let Some(a) = accept {
        req.headers_mut().insert("accept", a.parse().unwrap());
    }
    let r = bills::handle(app, req).await;
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = match r.body() {
        Body::Text(t) => t.clone(),
        other => panic!("not text: {other:?}"),
    };
    (r.status().as_u16(), ct, body)
}

async fn bill(app: &App, username: &str, month: &str) -> Value {
    let (s, _, b) = bill_text(app, username, month, None).await;
    assert_eq!(s, 200, "{b}");
    serde_json::from_str(&b).unwrap()
}

async fn balance(app: &App, username: &str) -> Value {
    let tok = billing_token(app, username).await;
    let (s, b) = parts(bills::handle(app, request("GET", "/v1/billing/balance", None, Some(&tok))).await);
    assert_eq!(s, 200, "{b}");
    b
}

async fn issue(app: &App) -> IssueFigures {
    issue_bills::run(&app.deps, None).await.unwrap()
}

fn statements(mail: &[Value]) -> Vec<&Value> {
    mail.iter()
        .filter(|m| {
            let s = m["subject"].as_str().unwrap_or_default();
            s.contains(" bill: billing account") || s.contains("账单已出")
        })
        .collect()
}

/// RFC 4180 rows of a CSV text (quoted fields may hold commas, quotes and line breaks).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field, mut quoted) = (vec![], vec![], String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) if chars.peek() == Some(&'\n') => {
                chars.next();
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the last row ends with CRLF");
    rows
}

#[tokio::test]
async fn a_closed_month_is_issued_once_settled_to_the_cent_with_one_statement_and_the_same_bytes_forever() {
    let h = Harness::isolated().await;
    h.clock.set(t("2026-10-05T09:10:00Z"));
    let a = commercial(&h.app, "cn1", "en").await;
    let hour = t("2026-10-05T09:00:00Z");
    // Three lines of 0.005 each: every line rounds to 0.01 (a bill of 0.03) while the balance
    // accrues 0.015 exactly, shown as 0.02 — the bill and the balance disagree until issue.
    let records = [
        usage_record(&format!("a-{}", a.workspace), &a.workspace, "apm_traces", hour, "0.0025"),
        usage_record(&format!("b-{}", a.workspace), &a.workspace, "synthetics", hour, "0.005"),
        usage_record(&format!("c-{}", a.workspace), &a.workspace, "log_storage", hour, "0.1"),
    ];
    let (s, r) = report_usage(&h.app, &records).await;
    assert_eq!((s, r["accepted"].as_u64()), (200, Some(3)), "{r}");
    assert_eq!(top_up(&h.app, &a.username, "0.02", "CNY", &format!("wire-{}", unique())).await.0, 201);
    let open = bill(&h.app, &a.username, "2026-10").await;
    assert_eq!((open["status"].as_str(), open["issued_at"].clone()), (Some("open"), Value::Null));
    assert_eq!(open["totals"][0]["amount"], "0.03");
    let before = balance(&h.app, &a.username).await;
    assert_eq!(
        (before["balances"][0]["charges"].as_str(), before["in_arrears"].as_bool()),
        (Some("0.02"), Some(false))
    );

    // Not yet closed (48 h after the month ends): nothing to issue.
    h.clock.set(t("2026-11-02T23:59:00Z"));
    assert_eq!(issue(&h.app).await, IssueFigures { finished: true, ..IssueFigures::default() });

    h.clock.set(t("2026-11-03T00:30:00Z"));
    let figures = issue(&h.app).await;
    assert_eq!((figures.issued, figures.failed, figures.finished), (1, 0, true), "{figures:?}");
    let (s, ct, json_text) = bill_text(&h.app, &a.username, "2026-10", None).await;
    assert_eq!((s, ct.as_str()), (200, "application/json"));
    let issued: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(
        (issued["status"].as_str(), issued["issued_at"].as_str(), issued["closed"].as_bool()),
        (Some("issued"), Some("2026-11-03T00:30:00Z"), Some(true))
    );
    assert_eq!(issued["lines"], open["lines"], "the lines as they stood");
    assert_eq!(issued["totals"], open["totals"]);

    // The balance is charged the issued total, to the cent: 0.03, so 0.02 topped up is −0.01.
    let after = balance(&h.app, &a.username).await;
    assert_eq!(
        (
            after["balances"][0]["charges"].as_str(),
            after["balances"][0]["balance"].as_str(),
            after["in_arrears"].as_bool()
        ),
        (Some("0.03"), Some("-0.01"), Some(true)),
        "{after}"
    );
    let entries = items_where(&h, "pk", &format!("BILLING#{}", a.username.to_lowercase())).await;
    let settle: Vec<_> = entries.iter().filter(|i| i["sk"].as_s().unwrap().starts_with("SETTLE#")).collect();
    assert_eq!(settle.len(), 1, "one explicit entry");
    assert_eq!(
        (
            settle[0]["accrued"].as_n().unwrap().as_str(),
            settle[0]["issued"].as_n().unwrap().as_str(),
            settle[0]["adjustment"].as_n().unwrap().as_str()
        ),
        ("0.015", "0.03", "0.015")
    );

    // The statement: once, in the account's language, with its lines and totals; and the
    // arrears email the settlement's cent caused.
    let mail = mail_to(&a.email).await;
    let st = statements(&mail);
    assert_eq!(st.len(), 1, "{mail:?}");
    assert_eq!(st[0]["subject"], format!("Your 2026-10 bill: billing account {}", a.username.to_lowercase()));
    let body = st[0]["body"].as_str().unwrap();
    assert!(
        body.contains("Enterprise total (CNY): 0.03") && body.contains("APM traces 0.0025 × 1M spans · CNY 0.01"),
        "{body}"
    );
    assert!(mail.iter().any(|m| m["body"].as_str().unwrap().contains("is -0.01, below zero")));

    // CSV: RFC 4180, a header, a row per line, a row per total.
    let (s, ct, csv) = bill_text(&h.app, &a.username, "2026-10", Some("text/csv")).await;
    assert_eq!((s, ct.as_str()), (200, "text/csv; charset=utf-8"));
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 1 + 3 + 1, "{csv}");
    assert_eq!(rows[0][..3], ["month", "billing_account", "row"]);
    assert_eq!(
        rows[4][2..],
        ["total", "", "", "", "", "", "", "enterprise", "", "CNY", "0.03", "", ""].map(String::from)
    );
    let line_sum: Decimal = rows[1..4].iter().map(|r| d(&r[12])).sum();
    assert_eq!(line_sum, d("0.03"), "the total is the sum of the lines");

    // Issued for good: another run, a year later, late usage — the same bytes, one statement.
    let again = issue(&h.app).await;
    assert_eq!((again.issued, again.failed), (0, 0), "{again:?}");
    let issued_mod = bill_text(&h.app, &a.username, "2026-10", None).await.2;
    assert_eq!(issued_mod, json_text);
    let (_, r) =
        report_usage(&h.app, &[usage_record(&format!("late-{}", a.workspace), &a.workspace, "apm_traces", hour, "9")])
            .await;
    assert_eq!(r["rejected"][0]["code"], "usage_period_closed");
    h.clock.set(t("2027-11-03T00:00:00Z"));
    assert_eq!(issue(&h.app).await.issued, 0);
    assert_eq!(bill_text(&h.app, &a.username, "2026-10", None).await.2, json_text);
    assert_eq!(bill_text(&h.app, &a.username, "2026-10", Some("text/csv")).await.2, csv);
    assert_eq!(statements(&mail_to(&a.email).await).len(), 1);
    assert_eq!(balance(&h.app, &a.username).await["balances"][0]["charges"], "0.03");
}

#[tokio::test]
async fn a_statement_is_sent_once_even_when_the_mailer_is_down_at_issue_and_a_run_stops_half_way() {
    let h = Harness::isolated().await;
    // SES where nothing listens: the statements cannot leave at issue.
    let ses_down = aws_sdk_ses::config::Builder::from(&h.wired_sdk).endpoint_url("http://127.0.0.1:9").build();
    h.clock.set(t("2026-09-10T12:05:00Z"));
    let mut accounts = Vec::new();
    for i in 0..12 {
        let a = commercial(&h.app, if i % 2 == 0 { "cn1" } else { "us1" }, if i % 3 == 0 { "zh" } else { "en" }).await;
        let rec =
            usage_record(&format!("u-{}", a.workspace), &a.workspace, "time_series", t("2026-09-10T12:00:00Z"), "1.5");
        assert_eq!(report_usage(&h.app, &[rec]).await.1["accepted"], 1);
        accounts.push(a);
    }
    h.clock.set(t("2026-10-03T01:00:00Z"));
    // A run whose deadline has passed issues nothing and says it did not finish.
    let stopped = issue_bills::run(h.deps(), Some(std::time::Instant::now())).await.unwrap();
    assert_eq!((stopped.issued, stopped.finished), (0, false));

    // Issue with the mailer down: every bill issued, every statement left pending.
    let mut deps = h.deps().clone();
    deps.mailer = std::sync::Arc::new(billing_adapters::ses::SesMailer::new(
        aws_sdk_ses::Client::from_conf(ses_down),
        std::env::var("SENDER_EMAIL").unwrap(),
    ));
    let f = issue_bills::run(&deps, None).await.unwrap();
    assert_eq!((f.issued, f.finished), (12, true), "{f:?}");
    for a in &accounts {
        assert!(statements(&mail_to(&a.email).await).is_empty());
    }
    // The run again (the index may still list them) and the sweeper: each statement once.
    assert_eq!(issue(&h.app).await.issued, 0);
    sweeper::sweep(h.deps(), None).await.unwrap();
    sweeper::sweep(h.deps(), None).await.unwrap();
    for (i, a) in accounts.iter().enumerate() {
        let mail = mail_to(&a.email).await;
        let st = statements(&mail);
        assert_eq!(st.len(), 1, "{}: {mail:?}", a.email);
        let zh = st[0]["subject"].as_str().unwrap().contains("账单已出");
        assert_eq!(zh, i % 3 == 0, "the account's language: {}", st[0]["subject"]);
    }
}

#[tokio::test]
async fn a_fallback_after_its_month_is_issued_lands_on_the_next_bill_and_the_issued_bill_never_changes() {
    let h = Harness::isolated().await;
    let clock = h.clock.clone();
    let w = webhook(h);
    clock.set(t("2026-08-31T21:10:00Z"));
    let uid = aliyun_uid();
    let instance = open_instance(&w, &uid).await;
    let mut req = commercial_registration("cn1");
    req["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
    let reg = registered(&w.app, &req).await;
    let (ws, user) =
        (reg["workspace"]["id"].as_str().unwrap().to_string(), req["username"].as_str().unwrap().to_string());
    let hour = t("2026-08-31T21:00:00Z");
    let (s, r) = report_usage(&w.app, &[usage_record(&format!("cloud-{ws}"), &ws, "log_events", hour, "5")]).await;
    assert_eq!((s, r["accepted"].as_u64()), (200, Some(1)), "{r}");
    // Alibaba throttles every push of it: the report stays pending while August closes.
    emulator_fault("PushMeteringData", Some(&instance), "throttle", u32::MAX, 1).await;
    clock.set(t("2026-08-31T22:05:00Z"));
    emulator_clock(&instance, clock.now()).await;
    assert_eq!(metering::run(&w.app.deps, None, None).await.unwrap().pending, 1);

    // August closes and is issued before its cloud usage was reported: the line is pending.
    clock.set(t("2026-09-03T00:10:00Z"));
    assert_eq!(issue(&w.app).await.issued, 1);
    let (_, _, august) = bill_text(&w.app, &user, "2026-08", None).await;
    let issued: Value = serde_json::from_str(&august).unwrap();
    assert_eq!(issued["lines"][0]["report"]["status"], "pending", "{issued}");
    assert_eq!(issued["totals"].as_array().unwrap().len(), 1, "the cloud account's total only: {issued}");

    // Then its window has passed (Alibaba takes an hour's usage until 1 h 59 min past it): it falls
    // back to enterprise, onto September's bill, since August's is issued.
    emulator_clock(&instance, clock.now()).await;
    let m = metering::run(&w.app.deps, None, None).await.unwrap();
    assert_eq!(m.fell_back, 1, "{m:?}");
    assert_eq!(bill_text(&w.app, &user, "2026-08", None).await.2, august, "the issued bill never changes");
    let september = bill(&w.app, &user, "2026-09").await;
    let line = &september["lines"][0];
    assert_eq!(
        (line["report"]["reason"].as_str(), line["quantity"].as_str(), line["amount"].as_str()),
        (Some("window_passed"), Some("5"), Some("6.00")),
        "{september}"
    );
    assert_eq!(balance(&w.app, &user).await["balances"][0]["charges"], "6.00");

    // September issues with it: charges for closed months = the issued totals, to the cent.
    clock.set(t("2026-10-03T00:10:00Z"));
    assert_eq!(issue(&w.app).await.issued, 1);
    let issued_sep = bill(&w.app, &user, "2026-09").await;
    assert_eq!(
        (issued_sep["status"].as_str(), issued_sep["totals"][0]["amount"].as_str()),
        (Some("issued"), Some("6.00"))
    );
    assert_eq!(balance(&w.app, &user).await["balances"][0]["charges"], "6.00");
    assert_eq!(bill_text(&w.app, &user, "2026-08", None).await.2, august);
}

#[tokio::test]
async fn a_bill_of_a_thousand_lines_is_issued_whole_and_answers_the_same_bytes() {
    let h = Harness::isolated().await;
    let owner = commercial_registration("us1");
    registered(&h.app, &owner).await;
    let username = owner["username"].as_str().unwrap().to_string();
    let workspaces = seed_enterprise_workspaces(h.deps(), &username, 100).await;
    let hour = billing_domain::rules::usage::hour_start(h.clock.now());
    let month = billing_domain::rules::usage::month_of(hour);
    let records: Vec<Value> = workspaces
        .iter()
        .flat_map(|ws| billing_domain::billing_items::ITEMS.iter().map(move |i| (ws, i)))
        .map(|(ws, i)| usage_record(&format!("k-{ws}-{}", i.id), ws, i.id, hour, "1.000000000001"))
        .collect();
    let (s, r) = report_usage(&h.app, &records).await;
    assert_eq!((s, r["accepted"].as_u64()), (200, Some(1000)), "{}", r["rejected"]);
    let open = bill(&h.app, &username, &month).await;

    h.clock.set(
        billing_domain::rules::usage::closes_at(billing_domain::rules::usage::month_start(hour)) + Duration::minutes(1),
    );
    assert_eq!(issue(&h.app).await.issued, 1);
    let (_, _, json_text) = bill_text(&h.app, &username, &month, None).await;
    let (_, _, csv) = bill_text(&h.app, &username, &month, Some("text/csv")).await;
    let pk = format!("BILL#{}#{month}", username.to_lowercase());
    let kept = items_where(&h, "pk", &pk).await;
    let in_parts = kept.iter().filter(|i| i["sk"].as_s().unwrap().starts_with("ISSUED#")).count();
    assert!(json_text.len() + csv.len() > 300 * 1024 && in_parts >= 2, "kept in parts: {in_parts}");
    let issued: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(issued["lines"], open["lines"]);
    assert_eq!(issued["totals"], open["totals"]);
    let total: Decimal = issued["lines"].as_array().unwrap().iter().map(|l| d(l["amount"].as_str().unwrap())).sum();
    assert_eq!(d(issued["totals"][0]["amount"].as_str().unwrap()), total);
    assert_eq!(d(balance(&h.app, &username).await["balances"][0]["charges"].as_str().unwrap()), total);
    assert_eq!(csv_rows(&csv).len(), 1 + 1000 + 1);
    h.clock.advance(Duration::days(400));
    assert_eq!(bill_text(&h.app, &username, &month, None).await.2, json_text);
    assert_eq!(bill_text(&h.app, &username, &month, Some("text/csv")).await.2, csv);
}
