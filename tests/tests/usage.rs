//! Usage, who pays each hour, bills and balance (issue 11), through the real handlers
//! against DynamoDB Local and moto.

use billing_domain::ports::Clock;
use billing_tests::*;
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

async fn bill(app: &billing_http::App, username: &str, month: &str) -> Value {
    let tok = billing_token(app, username).await;
    let (s, b) =
        parts(bills::handle(app, request("GET", &format!("/v1/billing/bills/{month}"), None, Some(&tok))).await);
    assert_eq!(s, 200, "{b}");
    b
}

async fn balance(app: &billing_http::App, username: &str) -> Value {
    let tok = billing_token(app, username).await;
    let (s, b) = parts(bills::handle(app, request("GET", "/v1/billing/balance", None, Some(&tok))).await);
    assert_eq!(s, 200, "{b}");
    b
}

fn lines_of<'a>(bill: &'a Value, method: &str) -> Vec<&'a Value> {
    bill["lines"].as_array().unwrap().iter().filter(|l| l["payer"]["method"] == method).collect()
}

#[tokio::test]
async fn a_month_moving_enterprise_to_alibaba_to_enterprise_bills_each_hour_to_its_payer() {
    let h = Harness::new().await;
    let clock = h.clock.clone();
    let w = webhook(h);
    clock.set(t("2026-11-01T10:17:00Z"));
    let req = commercial_registration("cn1");
    let reg = registered(&w.app, &req).await;
    let (ws, username) =
        (reg["workspace"]["id"].as_str().unwrap().to_string(), req["username"].as_str().unwrap().to_string());
    let uid = aliyun_uid();
    let instance = open_instance(&w, &uid).await;

    clock.set(t("2026-11-10T08:30:00Z"));
    let tok = billing_token(&w.app, &username).await;
    let body = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
    let (s, b) =
        call!(change_settlement::handle, w, "PUT", &format!("/v1/workspaces/{ws}/settlement"), Some(&body), Some(&tok));
    assert_eq!(s, 200, "{b}");

    clock.set(t("2026-11-20T14:15:00Z"));
    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &instance)]).await.0, 200);

    // Every hour of the month that the workspace existed, with a quantity that tells hours apart.
    clock.set(t("2026-11-30T23:40:00Z"));
    let first = t("2026-11-01T10:00:00Z");
    let hours: Vec<DateTime<Utc>> =
        (0..).map(|i| first + Duration::hours(i)).take_while(|h| *h <= t("2026-11-30T23:00:00Z")).collect();
    let qty = |i: usize| Decimal::from(i as i64 + 1) / Decimal::from(8);
    let records: Vec<Value> = hours
        .iter()
        .enumerate()
        .map(|(i, hour)| usage_record(&format!("r-{ws}-{i}"), &ws, "log_events", *hour, &qty(i).to_string()))
        .collect();
    let (s, r) = report_usage(&w.app, &records).await;
    assert_eq!((s, r["accepted"].as_u64(), r["rejected"].clone()), (200, Some(hours.len() as u64), json!([])), "{r}");

    let (cloud_from, cloud_to) = (t("2026-11-10T09:00:00Z"), t("2026-11-20T14:00:00Z"));
    let (mut enterprise, mut cloud) = (Decimal::ZERO, Decimal::ZERO);
    for (i, hour) in hours.iter().enumerate() {
        if *hour >= cloud_from && *hour <= cloud_to {
            cloud += qty(i);
        } else {
            enterprise += qty(i);
        }
    }
    let b = bill(&w.app, &username, "2026-11").await;
    let ent = lines_of(&b, "enterprise");
    let ali = lines_of(&b, "aliyun");
    assert_eq!((ent.len(), ali.len()), (1, 1), "{b}");
    assert_eq!(d(ent[0]["quantity"].as_str().unwrap()), enterprise);
    assert_eq!(d(ali[0]["quantity"].as_str().unwrap()), cloud);
    assert_eq!(ali[0]["payer"]["cloud_account_id"], format!("aliyun-{instance}"));
    assert_eq!((ali[0]["amount"].clone(), ali[0]["report"]["status"].clone()), (Value::Null, json!("pending")));
    let amount =
        (enterprise * d("1.20")).round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(ent[0]["amount"], format!("{amount:.2}"));
    assert_eq!((ent[0]["currency"].as_str(), ent[0]["unit"].as_str()), (Some("CNY"), Some("1M events")));
    assert_eq!(
        b["totals"][0],
        json!({"payer": {"method": "enterprise"}, "currency": "CNY", "amount": format!("{amount:.2}")})
    );
    assert_eq!(b["closed"], false);

    // The history attribution read, with who made each change.
    let tok = billing_token(&w.app, &username).await;
    let (s, hist) =
        call!(bills::handle, w, "GET", &format!("/v1/workspaces/{ws}/settlement-history"), None, Some(&tok));
    assert_eq!(s, 200, "{hist}");
    let causes: Vec<&str> = hist["entries"].as_array().unwrap().iter().map(|e| e["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, ["registration", "change", "cancellation"]);
    assert_eq!(hist["entries"][1]["to"]["method"], "aliyun");
    assert_eq!(hist["entries"][1]["at"], "2026-11-10T08:30:00Z");
    assert_eq!(hist["entries"][2]["actor"], format!("marketplace:aliyun-{instance}"));

    // Two days after the month ends it closes: its bill says so, and late usage is refused.
    clock.set(t("2026-12-03T00:00:00Z"));
    assert_eq!(bill(&w.app, &username, "2026-11").await["closed"], true);
    let (_, r) =
        report_usage(&w.app, &[usage_record(&format!("late-{ws}"), &ws, "log_events", t("2026-11-30T23:00:00Z"), "1")])
            .await;
    assert_eq!(r["rejected"][0]["code"], "usage_period_closed");
}

#[tokio::test]
async fn a_record_counts_once_a_conflict_changes_nothing_and_each_record_gets_its_own_code() {
    let h = Harness::new().await;
    let req = commercial_registration("us1");
    let reg = registered(&h.app, &req).await;
    let (ws, username) =
        (reg["workspace"]["id"].as_str().unwrap().to_string(), req["username"].as_str().unwrap().to_string());
    let hour = super_hour(&h);
    let batch: Vec<Value> =
        (0..3).map(|i| usage_record(&format!("dup-{ws}-{i}"), &ws, "time_series", hour, "2.5")).collect();
    let (s, r) = report_usage(&h.app, &batch).await;
    assert_eq!((s, r["accepted"].as_u64(), r["duplicates"].as_u64()), (200, Some(3), Some(0)), "{r}");
    let (_, again) = report_usage(&h.app, &batch).await;
    assert_eq!((again["accepted"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(3)), "{again}");
    let month = usage_month(hour);
    let before = bill(&h.app, &username, &month).await;
    assert_eq!(before["lines"][0]["quantity"], "7.5");
    assert_eq!(before["lines"][0]["currency"], "USD");

    let free = registered(&h.app, &free_registration("us1")).await;
    let free_ws = free["workspace"]["id"].as_str().unwrap();
    let mixed = vec![
        usage_record(&format!("dup-{ws}-0"), &ws, "time_series", hour, "99"), // same id, other content
        usage_record(&format!("new-{ws}"), &ws, "time_series", hour, "1"),
        usage_record(&format!("new-{ws}"), &ws, "time_series", hour, "1"), // twice in one batch
        usage_record(&format!("x-{ws}"), "ws_nope", "time_series", hour, "1"),
        usage_record(&format!("y-{ws}"), &ws, "gold_bars", hour, "1"),
        usage_record(&format!("z-{ws}"), &ws, "time_series", hour, "-1"),
        usage_record(&format!("old-{ws}"), &ws, "time_series", hour - Duration::days(120), "1"),
        usage_record(&format!("free-{ws}"), free_ws, "time_series", hour, "5"),
        json!({"id": format!("w-{ws}"), "workspace_id": ws, "item": "time_series", "hour": "yesterday", "quantity": 1}),
    ];
    let (s, r) = report_usage(&h.app, &mixed).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!((r["accepted"].as_u64(), r["duplicates"].as_u64()), (Some(2), Some(1)), "{r}");
    let codes: Vec<(u64, &str)> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["index"].as_u64().unwrap(), x["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (0, "usage_record_conflict"),
            (3, "workspace_not_found"),
            (4, "unknown_item"),
            (5, "invalid_field"),
            (6, "usage_period_closed"),
            (8, "invalid_field")
        ]
    );
    let after = bill(&h.app, &username, &month).await;
    assert_eq!(after["lines"][0]["quantity"], "8.5", "the conflict changed nothing, the new record counted once");
    assert!(balance(&h.app, &username).await["balances"][0]["charges"].as_str().is_some());

    // Batches are refused as a whole only for their shape, and only through IAM.
    let (s, b) = report_usage(&h.app, &[]).await;
    assert_eq!((s, b["code"].as_str()), (422, Some("invalid_field")));
    let too_many: Vec<Value> =
        (0..1001).map(|i| usage_record(&format!("m{i}"), &ws, "time_series", hour, "1")).collect();
    assert_eq!(report_usage(&h.app, &too_many).await.0, 422);
    let no_iam = iam_request("POST", "/v1/usage", &json!({"records": batch}), false);
    assert_eq!(parts(usage::handle(&h.app, no_iam).await).0, 403);
}

/// The hour that began most recently, for tests that report the current hour.
fn super_hour(h: &Harness) -> DateTime<Utc> {
    billing_domain::rules::usage::hour_start(h.clock.now())
}

fn usage_month(hour: DateTime<Utc>) -> String {
    billing_domain::rules::usage::month_of(hour)
}

#[tokio::test]
async fn twenty_concurrent_batches_for_one_workspace_hour_give_the_exact_sum() {
    let h = Harness::new().await;
    let req = commercial_registration("cn6");
    let reg = registered(&h.app, &req).await;
    let (ws, username) =
        (reg["workspace"]["id"].as_str().unwrap().to_string(), req["username"].as_str().unwrap().to_string());
    let hour = super_hour(&h);
    let batches: Vec<Vec<Value>> = (0..20)
        .map(|b| {
            (0..10)
                .map(|i| {
                    usage_record(
                        &format!("c-{ws}-{b}-{i}"),
                        &ws,
                        "apm_traces",
                        hour,
                        &(Decimal::from(b * 10 + i + 1) / Decimal::from(100)).to_string(),
                    )
                })
                .collect()
        })
        .collect();
    let results = join_all(batches.iter().map(|b| report_usage(&h.app, b))).await;
    for (s, r) in &results {
        assert_eq!((*s, r["accepted"].as_u64()), (200, Some(10)), "{r}");
    }
    let expected: Decimal = (1..=200).map(|k| Decimal::from(k) / Decimal::from(100)).sum();
    let b = bill(&h.app, &username, &usage_month(hour)).await;
    assert_eq!(d(b["lines"][0]["quantity"].as_str().unwrap()), expected, "{b}");
    let charges = d(balance(&h.app, &username).await["balances"][0]["charges"].as_str().unwrap());
    assert_eq!(charges, (expected * d("2.00")).round_dp(2));
}

#[tokio::test]
async fn one_arrears_email_per_fall_below_zero_and_top_ups_once_per_reference() {
    let h = Harness::new().await;
    let mut req = commercial_registration("cn1");
    req["workspace"]["language"] = "en".into();
    let reg = registered(&h.app, &req).await;
    let (ws, username, email) = (
        reg["workspace"]["id"].as_str().unwrap().to_string(),
        req["username"].as_str().unwrap().to_string(),
        req["email"].as_str().unwrap().to_string(),
    );
    let arrears_mail = || async {
        mail_to(&email).await.into_iter().filter(|m| m["subject"].as_str().unwrap_or("").contains("below zero")).count()
    };
    let hour = super_hour(&h);
    let r1 = format!("wire-{}", unique());
    let (s, b) = top_up(&h.app, &username, "1.00", "CNY", &r1).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!((b["top_up"]["amount"].as_str(), b["balance"]["balance"].as_str()), (Some("1.00"), Some("1.00")));
    let (s, again) = top_up(&h.app, &username, "1.00", "CNY", &r1).await;
    assert_eq!(
        (s, again["top_up"]["at"].clone()),
        (200, b["top_up"]["at"].clone()),
        "the same reference is one top-up"
    );
    let (s, reused) = top_up(&h.app, &username, "2.00", "CNY", &r1).await;
    assert_eq!((s, reused["code"].as_str()), (409, Some("top_up_reference_reused")));
    assert_eq!(top_up(&h.app, "nobody-here", "1.00", "CNY", &unique()).await.1["code"], "billing_account_not_found");
    assert_eq!(top_up(&h.app, &username, "1.001", "CNY", &unique()).await.1["code"], "invalid_field");
    assert_eq!(top_up(&h.app, &username, "5", "EUR", &unique()).await.1["code"], "invalid_field");

    let charge = |id: &str, q: &str| usage_record(&format!("{id}-{ws}"), &ws, "log_events", hour, q);
    report_usage(&h.app, &[charge("a", "1")]).await; // 1.20: balance -0.20
    assert_eq!(arrears_mail().await, 1);
    let bal = balance(&h.app, &username).await;
    assert_eq!(
        (bal["in_arrears"].as_bool(), bal["balances"][0]["balance"].as_str()),
        (Some(true), Some("-0.20")),
        "{bal}"
    );
    report_usage(&h.app, &[charge("b", "2")]).await;
    assert_eq!(arrears_mail().await, 1, "no second email while still below zero");

    top_up(&h.app, &username, "10.00", "CNY", &format!("wire-{}", unique())).await; // 11.00 - 3.60 = 7.40
    assert_eq!(balance(&h.app, &username).await["in_arrears"], false);
    report_usage(&h.app, &[charge("c", "10")]).await; // -4.60
    assert_eq!(arrears_mail().await, 2, "a new fall after a top-up: a new email");
    let mail = mail_to(&email).await;
    assert!(mail.iter().any(|m| m["body"].as_str().unwrap_or("").contains("-4.60")), "{mail:?}");
}

#[tokio::test]
async fn items_bills_and_history_answer_only_who_may_see_them() {
    let h = Harness::new().await;
    let (s, items) = call!(bills::handle, h, "GET", "/v1/billing/items", None, None);
    assert_eq!(s, 200);
    let first = &items["items"][0];
    assert_eq!(
        (first["id"].as_str(), first["price"]["CNY"].as_str(), first["price"]["USD"].as_str()),
        (Some("time_series"), Some("0.60"), Some("0.09"))
    );
    assert_eq!(first["name"]["zh"], "时间线");

    let req = commercial_registration("cn1");
    let reg = registered(&h.app, &req).await;
    let stranger = registered(&h.app, &commercial_registration("cn1")).await;
    let ws = reg["workspace"]["id"].as_str().unwrap();
    let history = format!("/v1/workspaces/{ws}/settlement-history");
    for tok in [token(&reg, "session"), token(&reg, "billing_session")] {
        let (s, b) = call!(bills::handle, h, "GET", &history, None, Some(&tok));
        assert_eq!((s, b["entries"][0]["cause"].as_str()), (200, Some("registration")), "{b}");
    }
    for tok in [token(&stranger, "session"), token(&stranger, "billing_session")] {
        assert_eq!(call!(bills::handle, h, "GET", &history, None, Some(&tok)).1["code"], "workspace_not_found");
    }
    let billing = token(&reg, "billing_session");
    let (s, b) = call!(bills::handle, h, "GET", "/v1/billing/bills/2026-13", None, Some(&billing));
    assert_eq!((s, b["code"].as_str()), (422, Some("invalid_field")));
    let (s, _) = call!(bills::handle, h, "GET", "/v1/billing/bills/2026-11", None, Some(&token(&reg, "session")));
    assert_eq!(s, 403, "a console token is not a billing token");
    let (s, b) = call!(bills::handle, h, "GET", "/v1/billing/bills/2026-11", None, Some(&billing));
    assert_eq!(
        (s, b["lines"].clone(), b["billing_account"].clone()),
        (200, json!([]), json!(req["username"].as_str().unwrap().to_lowercase()))
    );
    assert_eq!(call!(bills::handle, h, "GET", "/v1/billing/balance", None, None).0, 401);
}
