//! Money that adds up (issue 20): amounts read exactly, exporters bound to their sites, usage
//! before a workspace existed, and a balance shown and judged by one figure. Through the real
//! handlers against DynamoDB Local and moto; each test failed on the code before.

use billing_domain::ports::Clock;
use billing_tests::*;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

struct Account {
    username: String,
    email: String,
    workspace: String,
}

async fn commercial(h: &Harness, site: &str, language: &str) -> Account {
    let mut req = commercial_registration(site);
    req["workspace"]["language"] = language.into();
    let reg = registered(&h.app, &req).await;
    Account {
        username: req["username"].as_str().unwrap().to_string(),
        email: req["email"].as_str().unwrap().to_string(),
        workspace: reg["workspace"]["id"].as_str().unwrap().to_string(),
    }
}

async fn bill(h: &Harness, username: &str, month: &str) -> Value {
    let tok = billing_token(&h.app, username).await;
    let (s, b) = call!(bills::handle, h, "GET", &format!("/v1/billing/bills/{month}"), None, Some(&tok));
    assert_eq!(s, 200, "{b}");
    b
}

async fn balance(h: &Harness, username: &str) -> Value {
    let tok = billing_token(&h.app, username).await;
    let (s, b) = call!(bills::handle, h, "GET", "/v1/billing/balance", None, Some(&tok));
    assert_eq!(s, 200, "{b}");
    b
}

/// `POST /v1/usage` with a body written by hand (numbers with every digit, repeated keys).
async fn post_usage(h: &Harness, site: &str, body: &str) -> (u16, Value) {
    parts(usage::handle(&h.app, iam_request_as("POST", "/v1/usage", body, Some(&exporter_arn(site)))).await)
}

fn record_text(id: &str, ws: &str, hour: &str, quantity_json: &str) -> String {
    format!(
        r#"{{"id": "{id}", "workspace_id": "{ws}", "item": "log_events", "hour": "{hour}", "quantity": {quantity_json}}}"#
    )
}

#[tokio::test]
async fn a_quantity_or_an_amount_is_taken_exactly_as_written_or_refused() {
    let h = Harness::new().await;
    h.clock.set(t("2026-11-10T08:20:00Z"));
    let a = commercial(&h, "cn1", "zh").await;
    let hour = "2026-11-10T08:00:00Z";
    let quantities = [
        r#""1.00000000000000000000000000004""#, // 29 decimals: was billed as 1
        r#""1_000""#,                           // was read as 1000
        r#""1e3""#,
        "1e3",
        "-1",
        r#"" 1""#,
        "1.0000000000001", // a JSON number with 13 decimals
        r#""0.000000000001""#,
        "2.5",
        r#""7""#,
    ];
    let records: Vec<String> = quantities
        .iter()
        .enumerate()
        .map(|(i, q)| record_text(&format!("q{i}-{}", a.workspace), &a.workspace, hour, q))
        .collect();
    let (s, r) = post_usage(&h, "cn1", &format!(r#"{{"records": [{}]}}"#, records.join(","))).await;
    assert_eq!(s, 200, "{r}");
    let refused: Vec<(u64, &str)> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["index"].as_u64().unwrap(), x["code"].as_str().unwrap()))
        .collect();
    assert_eq!(refused, (0..7).map(|i| (i, "invalid_field")).collect::<Vec<_>>(), "{r}");
    assert_eq!(r["accepted"], 3);
    let b = bill(&h, &a.username, "2026-11").await;
    assert_eq!(b["lines"][0]["quantity"], "9.500000000001", "exactly what was written: {b}");

    // A key twice in a record is not "the last one wins": the whole body is malformed.
    let dup = format!(
        r#"{{"records": [{{"id": "dup-{ws}", "workspace_id": "{ws}", "item": "log_events", "hour": "{hour}", "quantity": "1", "quantity": "100"}}]}}"#,
        ws = a.workspace
    );
    let (s, r) = post_usage(&h, "cn1", &dup).await;
    assert_eq!((s, r["code"].as_str()), (400, Some("malformed_request")), "{r}");
    assert_eq!(bill(&h, &a.username, "2026-11").await["lines"][0]["quantity"], "9.500000000001", "nothing recorded");

    // Top-ups: two decimals at most, above zero, no underscores, signs or exponents.
    for bad in [r#""5_0.00""#, r#""1.001""#, r#""0""#, r#""0.00""#, r#""-5""#, "1e2", r#""1e2""#, r#"" 5""#, "null"] {
        let body = format!(r#"{{"amount": {bad}, "currency": "CNY", "reference": "ref-{}"}}"#, unique());
        let req = iam_request_as(
            "POST",
            &format!("/v1/admin/billing-accounts/{}/top-ups", a.username),
            &body,
            Some("arn:aws:iam::123456789012:user/manager"),
        );
        let (s, r) = parts(admin::handle(&h.app, req).await);
        assert_eq!((s, r["code"].as_str()), (422, Some("invalid_field")), "{bad}: {r}");
    }
    let path = format!("/v1/admin/billing-accounts/{}/top-ups", a.username);
    let manager = Some("arn:aws:iam::123456789012:user/manager");
    let dup =
        format!(r#"{{"amount": "1.00", "amount": "1000.00", "currency": "CNY", "reference": "ref-{}"}}"#, unique());
    let (s, r) = parts(admin::handle(&h.app, iam_request_as("POST", &path, &dup, manager)).await);
    assert_eq!((s, r["code"].as_str()), (400, Some("malformed_request")), "{r}");
    let number = format!(r#"{{"amount": 50.5, "currency": "CNY", "reference": "ref-{}"}}"#, unique());
    let (s, r) = parts(admin::handle(&h.app, iam_request_as("POST", &path, &number, manager)).await);
    assert_eq!((s, r["top_up"]["amount"].as_str()), (201, Some("50.50")), "{r}");
    assert_eq!(balance(&h, &a.username).await["balances"][0]["top_ups"], "50.50");
}

#[tokio::test]
async fn an_exporter_reports_only_its_own_sites_workspaces_and_a_stranger_records_nothing() {
    let h = Harness::new().await;
    let cn1 = commercial(&h, "cn1", "zh").await;
    let us1 = commercial(&h, "us1", "en").await;
    let hour = billing_domain::rules::usage::hour_start(h.clock.now());
    let month = billing_domain::rules::usage::month_of(hour);
    let rec = |ws: &str, tag: &str| usage_record(&format!("{tag}-{ws}"), ws, "log_events", hour, "2");

    // cn1's exporter, by its assumed-role ARN: its own workspace counts, us1's is refused.
    let (s, r) =
        report_usage_as(&h.app, &exporter_arn("cn1"), &[rec(&cn1.workspace, "a"), rec(&us1.workspace, "a")]).await;
    assert_eq!((s, r["accepted"].as_u64()), (200, Some(1)), "{r}");
    assert_eq!(r["rejected"], json!([{"index": 1, "id": format!("a-{}", us1.workspace), "code": "site_not_allowed"}]));
    assert_eq!(bill(&h, &us1.username, &month).await["lines"], json!([]), "never charged");

    // us1's exporter by its role ARN, with a path: its role name is the last segment.
    let with_path = "arn:aws:iam::123456789012:role/exporters/us1/us1-exporter";
    let (_, r) = report_usage_as(&h.app, with_path, &[rec(&us1.workspace, "b")]).await;
    assert_eq!((r["accepted"].as_u64(), r["rejected"].clone()), (Some(1), json!([])), "{r}");

    // Callers no site names: 403, and nothing is recorded.
    for stranger in [
        "arn:aws:iam::123456789012:user/cn1-exporter",
        "arn:aws:iam::123456789012:role/someone-else",
        "arn:aws:sts::123456789012:assumed-role/manager/s",
    ] {
        let body = json!({"records": [rec(&cn1.workspace, "c")]}).to_string();
        let req = iam_request_as("POST", "/v1/usage", &body, Some(stranger));
        let (s, r) = parts(usage::handle(&h.app, req).await);
        assert_eq!((s, r["code"].as_str()), (403, Some("forbidden")), "{stranger}: {r}");
    }
    let (_, r) = report_usage_as(&h.app, &exporter_arn("cn1"), &[rec(&cn1.workspace, "c")]).await;
    assert_eq!(r["accepted"], 1, "the strangers' record was never stored: {r}");
    let lines = bill(&h, &cn1.username, &month).await["lines"].clone();
    assert_eq!(lines[0]["quantity"], "4", "{lines}");
}

#[tokio::test]
async fn usage_of_an_hour_that_ended_before_the_workspace_existed_is_refused() {
    let h = Harness::new().await;
    h.clock.set(t("2026-11-01T10:17:00Z"));
    let a = commercial(&h, "cn1", "zh").await;
    h.clock.set(t("2026-11-01T12:05:00Z"));
    let records = [
        usage_record(&format!("early-{}", a.workspace), &a.workspace, "log_events", t("2026-11-01T09:00:00Z"), "5"),
        usage_record(&format!("same-{}", a.workspace), &a.workspace, "log_events", t("2026-11-01T10:00:00Z"), "1"),
        usage_record(&format!("after-{}", a.workspace), &a.workspace, "log_events", t("2026-11-01T11:00:00Z"), "1"),
    ];
    let (s, r) = report_usage(&h.app, &records).await;
    assert_eq!((s, r["accepted"].as_u64()), (200, Some(2)), "{r}");
    assert_eq!(
        r["rejected"],
        json!([{"index": 0, "id": format!("early-{}", a.workspace), "code": "before_workspace"}])
    );
    let b = bill(&h, &a.username, "2026-11").await;
    assert_eq!(b["lines"][0]["quantity"], "2", "{b}");
}

#[tokio::test]
async fn a_balance_of_minus_0_004_shows_0_00_and_is_not_in_arrears_and_the_email_names_the_shown_figure() {
    let h = Harness::new().await;
    let a = commercial(&h, "us1", "en").await;
    let hour = billing_domain::rules::usage::hour_start(h.clock.now());
    let charge =
        |tag: &str, q: &str| usage_record(&format!("{tag}-{}", a.workspace), &a.workspace, "metrics_storage", hour, q);
    let arrears_mail = || async {
        mail_to(&a.email)
            .await
            .into_iter()
            .filter(|m| m["subject"].as_str().unwrap_or("").contains("below zero"))
            .collect::<Vec<_>>()
    };

    report_usage(&h.app, &[charge("a", "0.8")]).await; // 0.8 GB-day × 0.005 USD = 0.004
    let b = balance(&h, &a.username).await;
    assert_eq!(
        (b["balances"][0]["charges"].as_str(), b["balances"][0]["balance"].as_str(), b["in_arrears"].as_bool()),
        (Some("0.00"), Some("0.00"), Some(false)),
        "{b}"
    );
    assert!(arrears_mail().await.is_empty(), "no email for a balance that shows 0.00");

    report_usage(&h.app, &[charge("b", "0.2")]).await; // 0.005 in all: shows −0.01
    let b = balance(&h, &a.username).await;
    assert_eq!((b["balances"][0]["balance"].as_str(), b["in_arrears"].as_bool()), (Some("-0.01"), Some(true)), "{b}");
    let mail = arrears_mail().await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0]["body"].as_str().unwrap().contains("is -0.01, below zero"), "{}", mail[0]["body"]);
}

#[tokio::test]
async fn a_repeat_within_a_batch_is_judged_against_what_its_id_stands_for() {
    let h = Harness::new().await;
    let a = commercial(&h, "cn1", "zh").await;
    let hour = billing_domain::rules::usage::hour_start(h.clock.now());
    let rec = |id: &str, q: &str| usage_record(&format!("{id}-{}", a.workspace), &a.workspace, "log_events", hour, q);
    let (_, r) = report_usage(&h.app, &[rec("x", "1")]).await;
    assert_eq!(r["accepted"], 1);
    // Stored as 1: a 2 is a conflict, and so is every copy of it; a 1 is the stored record again.
    let (_, r) =
        report_usage(&h.app, &[rec("x", "2"), rec("x", "1"), rec("x", "2"), rec("y", "3"), rec("y", "3")]).await;
    let codes: Vec<(u64, &str)> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["index"].as_u64().unwrap(), x["code"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, vec![(0, "usage_record_conflict"), (2, "usage_record_conflict")], "{r}");
    assert_eq!((r["accepted"].as_u64(), r["duplicates"].as_u64()), (Some(1), Some(2)), "{r}");
    let b = bill(&h, &a.username, &billing_domain::rules::usage::month_of(hour)).await;
    assert_eq!(b["lines"][0]["quantity"], "4");
}
