//! The business figures come out of the functions themselves: each test runs a function's
//! binary as Lambda runs it, on a table of its own, and reads the embedded-metric records it
//! writes to stdout (what CloudWatch Logs turns into the metrics template.yaml alarms on).

use billing_domain::rules::usage::hour_start;
use billing_domain::telemetry::*;
use billing_tests::bench::events::{apigw_as, scheduled};
use billing_tests::hosted::{host, metrics, total, values, Datum};
use billing_tests::*;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

fn usage_event(records: &[Value]) -> Value {
    // From the exporter `make up` allows for cn1 (`SITE_EXPORTERS`).
    let body = Some(json!({ "records": records }).to_string());
    let mut e = apigw_as("POST", "/v1/usage", "", body, &[], Some(&exporter_arn("cn1")));
    e["headers"] = json!({"content-type": "application/json"});
    e
}

fn every_record_is_of_the_invocation(data: &[Datum], ids: &[&str]) {
    assert!(!data.is_empty());
    for d in data {
        assert_eq!(d.namespace, "BillingCenter");
        assert!(d.request_id.as_deref().is_some_and(|r| ids.contains(&r)), "{d:?}");
    }
}

#[tokio::test]
async fn the_usage_function_counts_records_accepted_duplicate_and_rejected_and_the_fall_into_arrears() {
    let h = Harness::isolated().await;
    let reg = registered(&h.app, &commercial_registration("cn1")).await;
    let ws = reg["workspace"]["id"].as_str().unwrap();
    let hour = hour_start(Utc::now());
    let (r1, r2) = (
        usage_record(&format!("a-{ws}"), ws, "log_events", hour, "10"),
        usage_record(&format!("b-{ws}"), ws, "apm_traces", hour, "2"),
    );
    let bad = usage_record(&format!("c-{ws}"), ws, "no_such_item", hour, "1");

    let usage = host("usage", &h.table).await;
    let (first, ok, answer, _) = usage.invoke_as(&unique(), usage_event(&[r1.clone(), r2, bad])).await;
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert!(ok && body["accepted"] == 2, "{answer}");
    let code = body["rejected"][0]["code"].as_str().unwrap().to_string();
    let (second, _, answer, _) = usage.invoke_as(&unique(), usage_event(&[r1])).await;
    assert!(answer["body"].as_str().unwrap().contains(r#""duplicates":1"#), "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let data = metrics(&usage.output());
    usage.stop();

    every_record_is_of_the_invocation(&data, &[&first, &second]);
    assert_eq!(total(&data, USAGE_ACCEPTED, &[]), 2.0);
    assert_eq!(total(&data, USAGE_DUPLICATE, &[]), 1.0);
    assert_eq!(total(&data, USAGE_REJECTED, &[("Code", &code)]), 1.0);
    // The account had no top-up: its first charge takes the balance below zero, once.
    assert_eq!(total(&data, BALANCES_INTO_ARREARS, &[("Currency", "CNY")]), 1.0);
    assert_eq!(total(&data, EMAILS_SENT, &[]), 1.0, "the arrears email");
    let unit = |name: &str| data.iter().find(|d| d.name == name).and_then(|d| d.unit.clone());
    assert_eq!(unit(USAGE_ACCEPTED).as_deref(), Some("Count"));
}

fn aws_account_id() -> String {
    format!("{:012}", ulid::Ulid::new().random() % 1_000_000_000_000)
}

/// An AWS customer of its own product (faults are scoped by product), subscribed, with one
/// hour of usage to report.
async fn aws_customer_with_usage(w: &marketplace_webhook::Webhook) -> (String, String, String) {
    let (product, customer) = (format!("prod-{}", unique()), format!("cust{}", unique()));
    let claim = land(w, &customer, &aws_account_id(), &product).await;
    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.app, &req).await;
    let ws = reg["workspace"]["id"].as_str().unwrap().to_string();
    deliver_sqs(w, sqs_event(&[("subscribe-success", &customer, &product, Utc::now())])).await;
    let (s, r) =
        report_usage(&w.app, &[usage_record(&format!("u-{ws}"), &ws, "log_events", hour_start(Utc::now()), "3")]).await;
    assert_eq!((s, r["accepted"].clone()), (200, json!(1)), "{r}");
    (product, customer, req["username"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn the_metering_run_counts_reports_taken_pending_and_fallen_back_and_each_marketplace_call() {
    let h = Harness::isolated().await;
    let (table, clock) = (h.table.clone(), h.clock.clone());
    let w = webhook(h);
    let (taken, _, _) = aws_customer_with_usage(&w).await;
    let (throttled, _, _) = aws_customer_with_usage(&w).await;
    let (gone_product, gone, _) = aws_customer_with_usage(&w).await;
    let uid = aliyun_uid();
    let instance = open_instance(&w, &uid).await;
    let mut req = commercial_registration("cn1");
    req["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
    let ws = registered(&w.app, &req).await["workspace"]["id"].as_str().unwrap().to_string();
    report_usage(&w.app, &[usage_record(&format!("y-{ws}"), &ws, "log_events", hour_start(Utc::now()), "2")]).await;

    // The function runs on the wall clock, which may be in any quarter of the hour: the reports
    // are planned first, in process, in the next hour's planning run, and every call of it is
    // throttled, so they are all in flight when the function runs (planning or retrying, it
    // sends them).
    let scopes = [taken.as_str(), throttled.as_str(), gone_product.as_str(), instance.as_str()];
    let planning = hour_start(Utc::now()) + Duration::hours(1) + Duration::minutes(5);
    clock.set(planning);
    for scope in scopes {
        emulator_clock(scope, planning).await;
        let op = if scope == instance { "PushMeteringData" } else { "BatchMeterUsage" };
        emulator_fault(op, Some(scope), "throttle", u32::MAX, 1).await;
    }
    let planned = billing_domain::service::metering::run(&w.app.deps, None).await.unwrap();
    assert_eq!((planned.reports_fixed, planned.pending), (4, 4), "{planned:?}");
    for scope in scopes {
        emulator_clear_faults(Some(scope)).await;
    }
    emulator_fault("BatchMeterUsage", Some(&throttled), "throttle", 10, 1).await;
    emulator_unsubscribe(json!({"customer_identifier": gone})).await;

    let metering = host("metering", &table).await;
    let (id, ok, figures, _) = metering.invoke_as(&unique(), scheduled()).await;
    emulator_clear_faults(Some(&throttled)).await;
    assert!(ok, "{figures}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let data = metrics(&metering.output());
    metering.stop();

    every_record_is_of_the_invocation(&data, &[&id]);
    let aws = [("Marketplace", "aws")];
    assert_eq!(total(&data, METERING_ACCOUNTS, &[]), 4.0, "{figures}");
    assert_eq!(total(&data, METERING_ACCOUNTS_FAILED, &[]), 0.0);
    assert_eq!(total(&data, METERING_REPORTED, &aws), 1.0, "{figures}");
    assert_eq!(total(&data, METERING_REPORTED, &[("Marketplace", "aliyun")]), 1.0, "{figures}");
    assert_eq!(total(&data, METERING_PENDING, &aws), 1.0);
    let ages = values(&data, METERING_PENDING_AGE, &aws);
    assert!(ages.len() == 1 && (0.0..3600.0).contains(&ages[0]), "{ages:?}");
    assert_eq!(total(&data, METERING_FELL_BACK, &[("Marketplace", "aws"), ("Reason", "customer_not_subscribed")]), 1.0);
    // The refusal ended that subscription: its workspace switched, its billing account told.
    assert_eq!(total(&data, CANCELLATIONS_FINISHED, &[]), 1.0);
    assert_eq!(total(&data, WORKSPACES_SWITCHED, &[]), 1.0);
    assert!(total(&data, EMAILS_SENT, &[]) >= 1.0);

    let batch = [("Marketplace", "aws"), ("Operation", "BatchMeterUsage")];
    let calls = total(&data, MARKETPLACE_CALLS, &batch);
    assert!(calls >= 2.0, "one call a product: {calls}");
    assert!(total(&data, MARKETPLACE_CALL_ERRORS, &batch) >= 1.0, "the throttled product's call");
    assert_eq!(values(&data, MARKETPLACE_CALL_LATENCY, &batch).len() as f64, calls);
    let push = [("Marketplace", "aliyun"), ("Operation", "PushMeteringData")];
    assert_eq!((total(&data, MARKETPLACE_CALLS, &push), total(&data, MARKETPLACE_CALL_ERRORS, &push)), (1.0, 0.0));
    assert!(values(&data, MARKETPLACE_CALL_LATENCY, &push).iter().all(|ms| *ms > 0.0));
}

#[tokio::test]
async fn the_sweeper_counts_emails_retried_and_reports_how_long_the_oldest_has_waited() {
    let mut h = Harness::isolated().await;
    let ses_down = aws_sdk_ses::config::Builder::from(&h.wired_sdk)
        .endpoint_url("http://127.0.0.1:1")
        .retry_config(aws_sdk_ses::config::retry::RetryConfig::disabled())
        .build();
    h.app.deps.mailer = std::sync::Arc::new(billing_adapters::ses::SesMailer::new(
        aws_sdk_ses::Client::from_conf(ses_down),
        "billing@example.com".into(),
    ));
    // A commercial registration 20 minutes ago whose activation email SES never took.
    h.clock.set(Utc::now() - Duration::minutes(20));
    registered(&h.app, &commercial_registration("cn1")).await;

    let mut down: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k != "AWS_ENDPOINT_URL_SES").collect();
    down.push(("AWS_ENDPOINT_URL_SES".into(), "http://127.0.0.1:1".into()));
    let sweeper = {
        let mut env = down.clone();
        env.retain(|(k, _)| k != "TABLE_NAME");
        env.push(("TABLE_NAME".into(), h.table.clone()));
        env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
        billing_tests::bench::runtime_api::Hosted::start_capturing(
            &billing_tests::hosted::function_binary("sweeper"),
            "sweeper",
            &env,
        )
        .await
    };
    sweeper.cold_start().await;
    let (_, _, answer, _) = sweeper.invoke_as(&unique(), scheduled()).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let data = metrics(&sweeper.output());
    sweeper.stop();
    assert_eq!(total(&data, EMAIL_SEND_FAILURES, &[]), 1.0, "{answer}");
    assert_eq!(total(&data, EMAILS_RETRIED, &[]), 0.0);
    let oldest = values(&data, EMAILS_OLDEST_UNSENT_AGE, &[]);
    assert!(oldest.len() == 1 && oldest[0] >= 1200.0 && oldest[0] < 1800.0, "past the 15-minute alarm: {oldest:?}");

    let sweeper = host("sweeper", &h.table).await;
    let (_, _, answer, _) = sweeper.invoke_as(&unique(), scheduled()).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let data = metrics(&sweeper.output());
    sweeper.stop();
    assert_eq!((total(&data, EMAILS_RETRIED, &[]), total(&data, EMAILS_SENT, &[])), (1.0, 1.0), "{answer}");
    assert_eq!(values(&data, EMAILS_OLDEST_UNSENT_AGE, &[]), vec![0.0]);
}

#[test]
fn the_operations_runbook_lists_every_metric_with_its_unit_and_dimensions() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md")).unwrap();
    for m in CATALOGUE {
        let unit = format!("{:?}", m.unit);
        let dims = if m.dimensions.is_empty() { "—".to_string() } else { m.dimensions.join(", ") };
        let row = format!("| `{}` | {unit} | {dims} |", m.name);
        assert!(doc.contains(&row), "docs/operations.md lacks the row {row}");
    }
}
