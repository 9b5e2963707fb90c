//! Metering (issue 12): cloud-paid usage reaches the marketplaces exactly once. Real handlers
//! and the `metering` run, on a table of their own in DynamoDB Local, against the Marketplace
//! emulator (AWS `BatchMeterUsage`, Alibaba's metering push) with its ledger and faults. Each
//! test's product code or instance has the emulator's clock set to the test's own.

use billing_domain::model::{CloudAccount, Settlement};
use billing_domain::ports::Clock;
use billing_domain::rules::usage::hour_start;
use billing_tests::*;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn aws_account_id() -> String {
    format!("{:012}", ulid::Ulid::new().random() % 1_000_000_000_000)
}

/// Sum of the ledger's quantities by dimension.
fn ledger_sum(ledger: &[Value], dimension: &str) -> Decimal {
    ledger.iter().filter(|r| r["dimension"] == dimension).map(|r| d(r["quantity"].as_str().unwrap())).sum()
}

struct World {
    w: marketplace_webhook::Webhook,
    clock: std::sync::Arc<TestClock>,
}

async fn world(start: DateTime<Utc>) -> World {
    let h = Harness::isolated().await;
    h.clock.set(start);
    let clock = h.clock.clone();
    World { w: webhook(h), clock }
}

impl World {
    async fn at(&self, t: DateTime<Utc>, scopes: &[&str]) {
        self.clock.set(t);
        for s in scopes {
            emulator_clock(s, t).await;
        }
    }

    async fn run(&self) -> billing_domain::service::metering::RunFigures {
        metering::run(&self.w.app.deps, None, None).await.unwrap()
    }

    async fn report(&self, records: &[Value]) {
        let (s, r) = report_usage(&self.w.app, records).await;
        assert_eq!((s, r["rejected"].clone()), (200, json!([])), "{r}");
    }

    async fn bill(&self, username: &str, month: &str) -> Value {
        let tok = billing_token(&self.w.app, username).await;
        let (s, b) = parts(
            bills::handle(&self.w.app, request("GET", &format!("/v1/billing/bills/{month}"), None, Some(&tok))).await,
        );
        assert_eq!(s, 200, "{b}");
        b
    }

    async fn reconciliation(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
        let path = format!("/v1/admin/metering?from={}&to={}", enc(from), enc(to));
        let (s, b) = parts(admin::handle(&self.w.app, iam_request("GET", &path, &json!({}), true)).await);
        assert_eq!(s, 200, "{b}");
        b
    }
}

fn enc(t: DateTime<Utc>) -> String {
    percent_encoding::utf8_percent_encode(&t.to_rfc3339(), percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A new-style AWS customer registered on us1 with its licence, the licence active.
async fn aws_customer(w: &World, product: &str) -> (String, String, String, String) {
    let (acceptor, license) = (aws_account_id(), license_arn());
    let claim = land_license(&w.w, &acceptor, &license, product).await;
    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.w.app, &req).await;
    let agreement = format!("agmt-{}", unique());
    let up = agreement_event(
        "License Updated - Manufacturer",
        &agreement,
        &acceptor,
        json!({"license": {"arn": license}, "product": {"code": product}}),
        w.clock.now(),
    );
    let r = deliver_sqs(&w.w, sqs_bodies(&[up])).await;
    assert_eq!(r["batchItemFailures"], json!([]));
    (
        reg["workspace"]["id"].as_str().unwrap().to_string(),
        req["username"].as_str().unwrap().to_string(),
        acceptor,
        license,
    )
}

/// An Alibaba instance and a cn1 workspace settled by it.
async fn aliyun_customer(w: &World) -> (String, String, String) {
    let uid = aliyun_uid();
    let instance = open_instance(&w.w, &uid).await;
    let mut req = commercial_registration("cn1");
    req["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
    let reg = registered(&w.w.app, &req).await;
    (reg["workspace"]["id"].as_str().unwrap().to_string(), req["username"].as_str().unwrap().to_string(), instance)
}

#[tokio::test]
async fn a_month_of_hourly_usage_reaches_each_marketplace_in_whole_units_exactly_once() {
    let start = hour_start(Utc::now()) - Duration::days(30);
    let w = world(start + Duration::minutes(5)).await;
    let product = format!("prod-{}", unique());
    let (aws_ws, aws_user, acceptor, license) = aws_customer(&w, &product).await;
    let (ali_ws, _, instance) = aliyun_customer(&w).await;
    let scopes = [product.as_str(), instance.as_str()];
    let (mut aws_logs, mut aws_ts, mut ali) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for h in 0..720 {
        let hour = start + Duration::hours(h);
        w.at(hour + Duration::hours(1) + Duration::minutes(5), &scopes).await;
        let (q1, q2, q3) = (d("0.35") + Decimal::from(h % 3), d("1.2"), d("0.7"));
        w.report(&[
            usage_record(&format!("a-{aws_ws}-{h}"), &aws_ws, "log_events", hour, &q1.to_string()),
            usage_record(&format!("b-{aws_ws}-{h}"), &aws_ws, "time_series", hour, &q2.to_string()),
            usage_record(&format!("c-{ali_ws}-{h}"), &ali_ws, "log_events", hour, &q3.to_string()),
        ])
        .await;
        (aws_logs, aws_ts, ali) = (aws_logs + q1, aws_ts + q2, ali + q3);
        let f = w.run().await;
        assert_eq!((f.failed, f.pending), (0, 0), "hour {h}: {f:?}");
    }
    // Hourly: whole units only, the fraction carried.
    let aws_key = format!("acct:{acceptor}|{license}");
    let ledger = emulator_ledger(&aws_key).await;
    assert_eq!(ledger_sum(&ledger, "LogEvents"), aws_logs.floor());
    assert_eq!(ledger_sum(&ledger, "TimeSeries"), aws_ts.floor());
    assert_eq!(ledger_sum(&emulator_ledger(&format!("instance:{instance}")).await, "log_events"), ali.floor());
    assert!(ledger.iter().all(|r| r["product_code"] == product.as_str()));

    // The subscriptions end: the final reports round the remainder up, at once.
    let end = start + Duration::days(30) + Duration::hours(1) + Duration::minutes(30);
    w.at(end, &scopes).await;
    let agreement = format!("agmt-{}", unique());
    let ended = [
        agreement_event(
            "License Updated - Manufacturer",
            &agreement,
            &acceptor,
            json!({"license": {"arn": license}, "product": {"code": product}}),
            end,
        ),
        agreement_event(
            "Purchase Agreement Ended - Proposer",
            &agreement,
            &acceptor,
            json!({"agreement": {"status": "CANCELLED"}}),
            end,
        ),
    ];
    assert_eq!(deliver_sqs(&w.w, sqs_bodies(&ended)).await["batchItemFailures"], json!([]));
    assert_eq!(spi(&w.w, &[("action", "releaseInstance"), ("instanceId", &instance)]).await.0, 200);
    let ledger = emulator_ledger(&aws_key).await;
    assert_eq!(ledger_sum(&ledger, "LogEvents"), aws_logs.ceil());
    assert_eq!(ledger_sum(&ledger, "TimeSeries"), aws_ts.ceil());
    assert_eq!(ledger_sum(&emulator_ledger(&format!("instance:{instance}")).await, "log_events"), ali.ceil());
    let keys: std::collections::HashSet<String> =
        ledger.iter().map(|r| format!("{}{}", r["dimension"], r["timestamp"])).collect();
    assert_eq!(keys.len(), ledger.len(), "one record per (customer, dimension, time)");

    // Reconciliation: everything attributed is reported, nothing pending.
    let rec = w.reconciliation(start, end + Duration::hours(1)).await;
    let rows = rec["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["pending"] == "0" && r["fell_back"] == "0"), "{rec}");
    let attributed: Decimal = rows
        .iter()
        .filter(|r| r["cloud_account_id"] == CloudAccount::aws_license_id(&acceptor, &license))
        .map(|r| d(r["attributed"].as_str().unwrap()))
        .sum();
    assert_eq!(attributed, aws_logs + aws_ts);
    // The bill shows the cloud lines reported.
    let month = billing_domain::rules::usage::month_of(start + Duration::days(15));
    let b = w.bill(&aws_user, &month).await;
    assert!(
        b["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["payer"]["method"] == "aws")
            .all(|l| l["report"]["status"] == "reported"),
        "{b}"
    );
}

#[tokio::test]
async fn faults_on_every_kind_of_call_change_nothing_in_the_ledger() {
    let now = hour_start(Utc::now());
    let w = world(now + Duration::minutes(5)).await;
    let product = format!("prod-{}", unique());
    let (aws_ws, _, acceptor, license) = aws_customer(&w, &product).await;
    let (ali_ws, _, instance) = aliyun_customer(&w).await;
    let scopes = [product.as_str(), instance.as_str()];
    let modes = ["throttle", "error", "drop", "unprocessed"];
    for (i, mode) in modes.iter().enumerate() {
        let hour = now + Duration::hours(i as i64);
        w.at(hour + Duration::hours(1) + Duration::minutes(1), &scopes).await;
        w.report(&[
            usage_record(&format!("f-{aws_ws}-{i}"), &aws_ws, "log_events", hour, "2"),
            usage_record(&format!("f-{ali_ws}-{i}"), &ali_ws, "log_events", hour, "3"),
        ])
        .await;
        // Every call fails a few times over (the SDK's own retries included), then recovers.
        emulator_fault("BatchMeterUsage", Some(&product), mode, 4, 1).await;
        emulator_fault("PushMeteringData", Some(&instance), mode, 1, 1).await;
        // A minute apart: Alibaba takes one push per instance a minute ("60秒一次").
        for k in 0..4 {
            w.at(hour + Duration::hours(1) + Duration::minutes(2 + k), &scopes).await;
            w.run().await;
        }
        emulator_clear_faults(Some(&product)).await;
        emulator_clear_faults(Some(&instance)).await;
        w.at(hour + Duration::hours(1) + Duration::minutes(8), &scopes).await;
        let f = w.run().await;
        assert_eq!((f.pending, f.failed), (0, 0), "{mode}: {f:?}");
    }
    let aws = emulator_ledger(&format!("acct:{acceptor}|{license}")).await;
    let ali = emulator_ledger(&format!("instance:{instance}")).await;
    assert_eq!((aws.len(), ledger_sum(&aws, "LogEvents")), (4, d("8")), "{aws:?}");
    assert_eq!((ali.len(), ledger_sum(&ali, "log_events")), (4, d("12")), "{ali:?}");
    let rec = w.reconciliation(now, now + Duration::hours(6)).await;
    assert!(
        rec["rows"].as_array().unwrap().iter().all(|r| r["pending"] == "0" && r["reported"] == r["attributed"]),
        "{rec}"
    );
}

#[tokio::test]
async fn unsubscribe_pending_sends_the_final_report_within_the_same_invocation() {
    let now = hour_start(Utc::now());
    let w = world(now + Duration::minutes(20)).await;
    let product = format!("prod-{}", unique());
    let customer = format!("cust{}", unique());
    let claim = land(&w.w, &customer, &aws_account_id(), &product).await;
    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.w.app, &req).await;
    let ws = reg["workspace"]["id"].as_str().unwrap();
    emulator_clock(&product, w.clock.now()).await;
    deliver_sqs(&w.w, sqs_event(&[("subscribe-success", &customer, &product, w.clock.now())])).await;
    w.report(&[usage_record(&format!("p-{ws}"), ws, "apm_traces", now, "2.5")]).await;
    assert!(emulator_ledger(&format!("id:{customer}")).await.is_empty());
    let r = deliver_sqs(&w.w, sqs_event(&[("unsubscribe-pending", &customer, &product, w.clock.now())])).await;
    assert_eq!(r["batchItemFailures"], json!([]));
    let ledger = emulator_ledger(&format!("id:{customer}")).await;
    assert_eq!(
        (ledger.len(), ledger_sum(&ledger, "ApmTraces")),
        (1, d("3")),
        "final: the remainder rounded up, {ledger:?}"
    );
}

#[tokio::test]
async fn usage_the_marketplace_cannot_take_lands_on_the_enterprise_bill_with_its_reason() {
    let now = hour_start(Utc::now());
    let w = world(now + Duration::minutes(5)).await;
    let month = billing_domain::rules::usage::month_of(now);

    // 1. After unsubscribe-success, late usage of an hour it paid for: the subscription ended.
    let product = format!("prod-{}", unique());
    let customer = format!("cust{}", unique());
    let claim = land(&w.w, &customer, &aws_account_id(), &product).await;
    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.w.app, &req).await;
    let (ws, user) =
        (reg["workspace"]["id"].as_str().unwrap().to_string(), req["username"].as_str().unwrap().to_string());
    emulator_clock(&product, w.clock.now()).await;
    deliver_sqs(&w.w, sqs_event(&[("subscribe-success", &customer, &product, w.clock.now())])).await;
    w.clock.advance(Duration::minutes(5));
    deliver_sqs(&w.w, sqs_event(&[("unsubscribe-success", &customer, &product, w.clock.now())])).await;
    emulator_unsubscribe(json!({"customer_identifier": customer})).await;
    assert_eq!(settlement_of(&w.w.app, &ws).await, Some(Settlement::Enterprise));
    w.report(&[usage_record(&format!("late-{ws}"), &ws, "log_events", now, "4")]).await;
    w.run().await;
    let b = w.bill(&user, &month).await;
    let fell: Vec<&Value> =
        b["lines"].as_array().unwrap().iter().filter(|l| l["report"]["status"] == "fell_back").collect();
    assert_eq!(fell.len(), 1, "{b}");
    assert_eq!(
        (fell[0]["report"]["reason"].as_str(), fell[0]["quantity"].as_str(), fell[0]["amount"].as_str()),
        (Some("subscription_ended"), Some("4"), Some("0.72"))
    );
    assert_eq!(fell[0]["payer"]["method"], "enterprise");
    assert!(emulator_ledger(&format!("id:{customer}")).await.is_empty());

    // 2. Six hours unreported (the marketplace throttled every call): the window passed.
    let product = format!("prod-{}", unique());
    let (ws2, user2, acceptor, license) = aws_customer(&w, &product).await;
    w.at(now + Duration::minutes(30), &[&product]).await;
    w.report(&[usage_record(&format!("w-{ws2}"), &ws2, "time_series", now, "5")]).await;
    emulator_fault("BatchMeterUsage", Some(&product), "throttle", u32::MAX, 1).await;
    w.at(now + Duration::hours(1) + Duration::minutes(1), &[&product]).await;
    assert_eq!(w.run().await.pending, 1);
    w.at(now + Duration::hours(7) + Duration::minutes(1), &[&product]).await;
    let f = w.run().await;
    assert_eq!((f.fell_back, f.pending), (1, 0), "{f:?}");
    emulator_clear_faults(Some(&product)).await;
    let b = w.bill(&user2, &month).await;
    let line = b["lines"].as_array().unwrap().iter().find(|l| l["report"]["status"] == "fell_back").cloned().unwrap();
    assert_eq!((line["report"]["reason"].as_str(), line["amount"].as_str()), (Some("window_passed"), Some("0.45")));
    assert!(emulator_ledger(&format!("acct:{acceptor}|{license}")).await.is_empty());
    let rec = w.reconciliation(now, now + Duration::hours(8)).await;
    let row = rec["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cloud_account_id"] == CloudAccount::aws_license_id(&acceptor, &license))
        .cloned()
        .unwrap();
    assert_eq!(
        (row["fell_back"].as_str(), row["pending"].as_str(), row["reported"].as_str()),
        (Some("5"), Some("0"), Some("0"))
    );

    // 3. The marketplace says the customer is not subscribed: the usage falls back, and the
    //    subscription is over — its workspaces switch, with the refusal as the cause.
    let product = format!("prod-{}", unique());
    w.at(now + Duration::hours(7) + Duration::minutes(2), &[&product]).await;
    let (ws3, user3, acceptor, license) = aws_customer(&w, &product).await;
    let hour = hour_start(w.clock.now());
    w.report(&[usage_record(&format!("r-{ws3}"), &ws3, "log_events", hour, "1")]).await;
    emulator_unsubscribe(json!({"aws_account_id": acceptor, "license_arn": license})).await;
    w.at(hour + Duration::hours(1) + Duration::minutes(1), &[&product]).await;
    let f = w.run().await;
    assert_eq!(f.fell_back, 1, "{f:?}");
    assert_eq!(settlement_of(&w.w.app, &ws3).await, Some(Settlement::Enterprise));
    let tok = billing_token(&w.w.app, &user3).await;
    let (_, hist) = parts(
        bills::handle(&w.w.app, request("GET", &format!("/v1/workspaces/{ws3}/settlement-history"), None, Some(&tok)))
            .await,
    );
    assert_eq!(hist["entries"].as_array().unwrap().last().unwrap()["cause"], "marketplace_refusal", "{hist}");
    let b = w.bill(&user3, &billing_domain::rules::usage::month_of(hour)).await;
    assert!(b["lines"].as_array().unwrap().iter().any(|l| l["report"]["reason"] == "customer_not_subscribed"), "{b}");
    assert_eq!(cancellation_mail(req_email(&w, &user3).await.as_str()).await.len(), 1);
}

/// One record per (customer, item, time) at the marketplace: usage that comes after its item
/// was reported this hour waits for the next hour, the account still due; a final report's
/// key is its minute; a record AWS answers `DuplicateRecord` to falls back.
#[tokio::test]
async fn usage_after_its_item_was_reported_this_hour_waits_for_the_next_hour() {
    let now = hour_start(Utc::now()) - Duration::hours(4);
    let w = world(now + Duration::minutes(5)).await;
    let product = format!("prod-{}", unique());
    let (ws, user, acceptor, license) = aws_customer(&w, &product).await;
    let cloud = CloudAccount::aws_license_id(&acceptor, &license);
    let key = format!("acct:{acceptor}|{license}");
    // An hour is reported once it has ended: this one at the next hour.
    w.at(now + Duration::hours(1) + Duration::minutes(10), &[&product]).await;
    w.report(&[usage_record(&format!("h1-{ws}"), &ws, "log_events", now, "3")]).await;
    assert_eq!(w.run().await.reported, 1);

    // Later in that hour's planning run: more usage of the hour reported. Reporting it now would
    // reuse its key.
    w.at(now + Duration::hours(1) + Duration::minutes(12), &[&product]).await;
    w.report(&[usage_record(&format!("h2-{ws}"), &ws, "log_events", now, "2")]).await;
    let f = w.run().await;
    assert_eq!((f.deferred, f.reported, f.failed), (1, 0, 0), "{f:?}");
    assert!(w.w.app.deps.metering.due_accounts().await.unwrap().contains(&cloud), "the account stays due");
    assert_eq!(ledger_sum(&emulator_ledger(&key).await, "LogEvents"), d("3"));

    // Next hour it goes, under the next hour's key: both records, each once.
    w.at(now + Duration::hours(2) + Duration::minutes(2), &[&product]).await;
    let f = w.run().await;
    assert_eq!((f.deferred, f.reported), (0, 1), "{f:?}");
    let ledger = emulator_ledger(&key).await;
    assert_eq!((ledger.len(), ledger_sum(&ledger, "LogEvents")), (2, d("5")), "{ledger:?}");
    let times: Vec<i64> = ledger.iter().map(|r| r["timestamp"].as_i64().unwrap()).collect();
    assert_eq!(
        times,
        vec![(now + Duration::minutes(5)).timestamp(), (now + Duration::hours(1)).timestamp()],
        "the first hour stamped from the licence's start, the next on the hour"
    );
    assert!(!w.w.app.deps.metering.due_accounts().await.unwrap().contains(&cloud));

    // Someone else metered this customer's next hour with another quantity: AWS answers
    // DuplicateRecord and does not take ours, so the usage falls back, not counted reported.
    let next = now + Duration::hours(2);
    w.at(next + Duration::minutes(3), &[&product]).await;
    let taken = foreign_record(&acceptor, &license, "LogEvents", next, 9).await;
    assert_eq!(taken, "Success");
    w.report(&[usage_record(&format!("h3-{ws}"), &ws, "log_events", next, "4")]).await;
    w.at(next + Duration::hours(1) + Duration::minutes(3), &[&product]).await;
    let f = w.run().await;
    assert_eq!((f.fell_back, f.reported), (1, 0), "{f:?}");
    let b = w.bill(&user, &billing_domain::rules::usage::month_of(next)).await;
    assert!(
        b["lines"].as_array().unwrap().iter().any(|l| l["report"]["reason"] == "duplicate_record"
            && l["quantity"] == "4"
            && l["payer"]["method"] == "enterprise"),
        "{b}"
    );
}

/// The function runs every quarter of an hour: the run in an hour's first quarter plans that
/// hour's reports, the others only send again the reports in flight. A report whose answer was
/// lost goes again a quarter of an hour later (AWS takes the same record again as the same
/// record), and nothing new is planned between hourly runs.
#[tokio::test]
async fn a_report_whose_answer_was_lost_goes_again_at_the_next_quarter_hour_and_nothing_new_is_planned_there() {
    let now = hour_start(Utc::now()) - Duration::hours(3);
    let w = world(now + Duration::minutes(5)).await;
    let product = format!("prod-{}", unique());
    let (ws, _user, acceptor, license) = aws_customer(&w, &product).await;
    let cloud = CloudAccount::aws_license_id(&acceptor, &license);
    let key = format!("acct:{acceptor}|{license}");
    w.report(&[usage_record(&format!("q1-{ws}"), &ws, "log_events", now, "3")]).await;

    // The hourly run: AWS takes the record, the answer is lost on the way back.
    w.at(now + Duration::hours(1) + Duration::minutes(2), &[&product]).await;
    emulator_fault("BatchMeterUsage", Some(&product), "drop", u32::MAX, 1).await;
    let f = w.run().await;
    assert_eq!((f.reported, f.pending), (0, 1), "{f:?}");
    emulator_clear_faults(Some(&product)).await;
    assert!(w.w.app.deps.metering.open_accounts().await.unwrap().contains(&cloud));

    // Usage of the hour now running comes in; the next run is a retry run.
    w.report(&[usage_record(&format!("q2-{ws}"), &ws, "log_events", now + Duration::hours(1), "2")]).await;
    w.at(now + Duration::hours(1) + Duration::minutes(17), &[&product]).await;
    let f = w.run().await;
    assert_eq!((f.reported, f.pending, f.reports_fixed), (1, 0, 0), "{f:?}");
    assert!(!w.w.app.deps.metering.open_accounts().await.unwrap().contains(&cloud));
    assert!(w.w.app.deps.metering.due_accounts().await.unwrap().contains(&cloud), "the new usage stays due");
    let ledger = emulator_ledger(&key).await;
    assert_eq!((ledger.len(), ledger_sum(&ledger, "LogEvents")), (1, d("3")), "one record, once: {ledger:?}");

    // A retry run with nothing in flight sends nothing.
    w.at(now + Duration::hours(1) + Duration::minutes(32), &[&product]).await;
    let f = w.run().await;
    assert_eq!((f.accounts, f.reported, f.reports_fixed), (0, 0, 0), "{f:?}");

    // The next hourly run reports the next hour.
    w.at(now + Duration::hours(2) + Duration::minutes(2), &[&product]).await;
    assert_eq!(w.run().await.reported, 1);
    let ledger = emulator_ledger(&key).await;
    assert_eq!((ledger.len(), ledger_sum(&ledger, "LogEvents")), (2, d("5")), "{ledger:?}");
}

/// A record sent to the emulator's `BatchMeterUsage` by another party; its status.
async fn foreign_record(acceptor: &str, license: &str, dimension: &str, at: DateTime<Utc>, quantity: i64) -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_MARKETPLACE_METERING").unwrap();
    let body = json!({"UsageRecords": [{"CustomerAWSAccountId": acceptor, "LicenseArn": license,
        "Dimension": dimension, "Timestamp": at.timestamp(), "Quantity": quantity}]});
    let v: Value = reqwest::Client::new()
        .post(endpoint)
        .header("x-amz-target", "AWSMPMeteringService.BatchMeterUsage")
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["Results"][0]["Status"].as_str().unwrap_or_default().to_string()
}

async fn req_email(w: &World, username: &str) -> String {
    w.w.app.deps.accounts.billing_account(username).await.unwrap().unwrap().email
}

/// Reconciliation (对账) adds up at every moment: a carried fraction shows as usage in no report
/// (`hour: null`) even when no run is due for its account.
#[tokio::test]
async fn a_carried_fraction_shows_in_the_reconciliation_though_no_run_is_due() {
    let now = hour_start(Utc::now()) - Duration::hours(2);
    let w = world(now + Duration::minutes(1)).await;
    let product = format!("prod-{}", unique());
    let (ws, _, acceptor, license) = aws_customer(&w, &product).await;
    let cloud = CloudAccount::aws_license_id(&acceptor, &license);
    w.report(&[usage_record(&format!("c-{ws}"), &ws, "log_events", now, "7.25")]).await;
    w.at(now + Duration::hours(1) + Duration::minutes(5), &[&product]).await;
    let f = w.run().await;
    assert_eq!((f.reported, f.pending), (1, 0), "{f:?}");
    assert!(!w.w.app.deps.metering.due_accounts().await.unwrap().contains(&cloud), "nothing left to run for");
    let rec = w.reconciliation(now - Duration::hours(1), now + Duration::hours(3)).await;
    let rows: Vec<&Value> =
        rec["rows"].as_array().unwrap().iter().filter(|r| r["cloud_account_id"] == cloud.as_str()).collect();
    let reported: Decimal = rows.iter().map(|r| d(r["reported"].as_str().unwrap())).sum();
    let carried: Vec<&&Value> = rows.iter().filter(|r| r["hour"].is_null()).collect();
    assert_eq!(reported, d("7"), "{rec}");
    assert_eq!(carried.len(), 1, "{rec}");
    assert_eq!((carried[0]["attributed"].as_str(), carried[0]["item"].as_str()), (Some("0.25"), Some("log_events")));
    let attributed: Decimal = rows.iter().map(|r| d(r["attributed"].as_str().unwrap())).sum();
    assert_eq!(attributed, d("7.25"), "attributed = reported + fell back + pending + carried");
}

/// A report of more lines than one transaction holds (120 workspaces on one instance) is fixed,
/// covered and counted reported once each, as a small one is.
#[tokio::test]
async fn a_report_of_more_lines_than_a_transaction_holds_is_counted_once() {
    let hour = hour_start(Utc::now());
    let w = world(Utc::now()).await;
    let uid = aliyun_uid();
    let instance = open_instance(&w.w, &uid).await;
    let cloud = w.w.app.deps.marketplace.cloud_account(&CloudAccount::aliyun_id(&instance)).await.unwrap().unwrap();
    let mut req = commercial_registration("cn1");
    req["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
    let reg = registered(&w.w.app, &req).await;
    let user = req["username"].as_str().unwrap().to_string();
    let hash = billing_domain::crypto::password::hash("seeded-pass1");
    let mut records = vec![usage_record(
        &format!("m-{}", unique()),
        reg["workspace"]["id"].as_str().unwrap(),
        "log_events",
        hour,
        "1.5",
    )];
    for i in 0..119 {
        let write = settled_registration(
            &user,
            &cloud,
            format!("ws {i}"),
            billing_domain::model::Language::Zh,
            hash.clone(),
            true,
        );
        w.w.app.deps.accounts.commit_registration(&write).await.unwrap();
        records.push(usage_record(&format!("m-{}", unique()), &write.workspace.id, "log_events", hour, "1.5"));
    }
    for chunk in records.chunks(100) {
        w.report(chunk).await;
    }
    w.at(hour + Duration::hours(1) + Duration::minutes(5), &[&instance]).await;
    let f = w.run().await;
    assert_eq!((f.reported, f.pending, f.failed), (1, 0, 0), "{f:?}");
    let ledger = emulator_ledger(&format!("instance:{instance}")).await;
    assert_eq!(ledger_sum(&ledger, "log_events"), d("180"), "{ledger:?}");
    // Again: nothing is planned or counted twice.
    w.at(hour + Duration::hours(2) + Duration::minutes(5), &[&instance]).await;
    let f = w.run().await;
    assert_eq!((f.reports_fixed, f.reported), (0, 0), "{f:?}");
    let lines = w.w.app.deps.metering.meter_lines(&cloud.id).await.unwrap();
    assert_eq!(lines.len(), 120);
    assert!(lines.iter().all(|l| l.covered == l.quantity), "each line covered once");
    let b = w.bill(&user, &billing_domain::rules::usage::month_of(hour)).await;
    assert!(b["lines"].as_array().unwrap().iter().all(|l| l["report"]["status"] == "reported"), "{b}");
}
