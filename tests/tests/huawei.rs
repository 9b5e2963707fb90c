//! Huawei Cloud KooGallery (issue 13, flow 12) through the real handlers: every action of the
//! SaaS interface, its signatures (forged, stale and replayed calls change nothing), binding
//! and cancellation on cn4, FREEZE / UNFREEZE, and a month of usage pushed exactly.

use base64::Engine;
use billing_domain::model::{CloudAccount, CloudStatus, Settlement};
use billing_domain::ports::Clock;
use billing_domain::rules::usage::hour_start;
use billing_tests::*;
use chrono::{DateTime, Duration, Utc};
use hmac::Mac;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;

async fn status(w: &marketplace_webhook::Webhook, instance: &str) -> Option<CloudStatus> {
    w.app.deps.marketplace.cloud_account(&CloudAccount::huawei_id(instance)).await.unwrap().map(|a| a.status)
}

fn verifies(body: &str, sign: &str) -> bool {
    let key = std::env::var("HUAWEI_KOOGALLERY_KEY").unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    // "Body-Sign: sign_type="HMAC-SHA256", signature= "*****"": the published format, byte for byte.
    sign == format!("sign_type=\"HMAC-SHA256\", signature= \"{expected}\"")
}

/// A documented request body (tests/fixtures/marketplaces/huawei, each from its page) with its
/// ids made this test's own.
fn fixture(name: &str, ids: &[(&str, &str)]) -> String {
    let path = format!("{}/fixtures/marketplaces/huawei/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (from, to) in ids {
        body = body.replace(from, to);
    }
    body
}

const PAGE_INSTANCE: &str = "10e758d0-31ad-4c4b-8f1b-81d03469a10e";
const PAGE_ORDER: &str = "CS2211181819B4LVS";

/// A commercial cn4 workspace settled by a KooGallery instance opened at `at`, on a table of
/// its own, with the clock at `at`.
struct Settled {
    w: marketplace_webhook::Webhook,
    clock: std::sync::Arc<TestClock>,
    instance: String,
    ws: String,
    req: Value,
}

async fn settled_on_a_new_instance(at: DateTime<Utc>) -> Settled {
    let h = Harness::isolated().await;
    h.clock.set(at);
    let clock = h.clock.clone();
    let w = webhook(h);
    let account = huawei_account();
    let instance = open_huawei_instance(&w, &account, clock.now()).await;
    let mut req = commercial_registration("cn4");
    req["settlement"] = json!({"method": "huawei", "account_id": account, "instance_id": instance});
    let reg = registered(&w.app, &req).await;
    let ws = reg["workspace"]["id"].as_str().unwrap().to_string();
    Settled { w, clock, instance, ws, req }
}

#[tokio::test]
async fn every_documented_body_of_every_action_succeeds_and_the_buyer_comes_from_the_order_query() {
    let w = webhook(Harness::new().await);
    let now = Utc::now();
    let account = huawei_account();
    let order = format!("CS{}", unique());
    let line = format!("{order}-000001");
    emulator::register_koogallery_order(&order, &line, &account, Some("buyer")).await;
    // newInstance as KooGallery sends it (topic_0070649092): no buyer in the body.
    let new = fixture("newInstance.json", &[(&format!("{PAGE_ORDER}-000001"), &line), (PAGE_ORDER, &order)]);
    let ts = now.timestamp_millis().to_string();
    let (s, first, sign) = koogallery_signed(&w, &new, &ts, &unique(), None).await;
    assert_eq!(
        (s, first["resultCode"].as_str(), first["resultMsg"].as_str()),
        (200, Some("000000"), Some("success")),
        "{first}"
    );
    assert!(verifies(&first.to_string(), &sign), "the answer is signed: {sign}");
    assert!(first["appInfo"]["frontEndUrl"].as_str().is_some_and(|u| u.starts_with("http")), "{first}");
    let instance = first["instanceId"].as_str().unwrap().to_string();
    let cloud = w.app.deps.marketplace.cloud_account(&CloudAccount::huawei_id(&instance)).await.unwrap().unwrap();
    assert_eq!(cloud.account_id, account, "the buyer, as KooGallery's order query names it");
    // KooGallery retries for hours: the same order line gets the same instance.
    let again = new.replace("87b94795-0603-4e24-8ae5-69420d60e3c8", &unique());
    let (_, second, _) =
        koogallery_signed(&w, &again, &(now + Duration::seconds(30)).timestamp_millis().to_string(), &unique(), None)
            .await;
    assert_eq!(second["instanceId"], first["instanceId"]);

    let ids = [(PAGE_INSTANCE, instance.as_str()), (PAGE_ORDER, order.as_str())];
    let send = |name: &'static str, secs: i64| {
        let body = fixture(name, &ids);
        let w = &w;
        async move {
            let ts = (now + Duration::seconds(secs)).timestamp_millis().to_string();
            let (s, r, sign) = koogallery_signed(w, &body, &ts, &unique(), None).await;
            assert!(verifies(&r.to_string(), &sign));
            assert_eq!((s, r["resultCode"].as_str()), (200, Some("000000")), "{name}: {r}");
            r
        }
    };
    let q = send("queryInstance.json", 1).await;
    assert_eq!(q["info"][0]["instanceId"], instance.as_str(), "{q}");
    assert_eq!(q["info"][0]["usageInfo"][0]["usageValue"], json!(0.0), "pay-per-use instances answer their usage");
    assert_eq!(q["info"][0]["usageInfo"][0]["statisticalTime"].as_str().map(str::len), Some(17), "yyyyMMddHHmmssSSS");
    send("refreshInstance.json", 2).await;
    send("upgradeInstance.json", 3).await;
    send("updateInstanceStatus-freeze.json", 4).await;
    assert_eq!(status(&w, &instance).await, Some(CloudStatus::Frozen));
    send("updateInstanceStatus-unfreeze.derived.json", 5).await;
    assert_eq!(status(&w, &instance).await, Some(CloudStatus::Active));
    send("releaseInstance.json", 6).await;
    assert_eq!(status(&w, &instance).await, Some(CloudStatus::Cancelled));
    // KooGallery may release again: success, nothing more done; a released instance stays released.
    send("releaseInstance.json", 7).await;
    send("updateInstanceStatus-unfreeze.derived.json", 8).await;
    assert_eq!(status(&w, &instance).await, Some(CloudStatus::Cancelled));

    for (body, code) in [
        (json!({"activity": "refreshInstance", "instanceId": "hw-unknown"}), "000003"),
        (json!({"activity": "releaseInstance", "instanceId": "x".repeat(500)}), "000003"),
        (json!({"activity": "updateInstanceStatus", "instanceId": instance, "status": "MELT"}), "000002"),
        (json!({"activity": "eatInstance"}), "000002"),
        (json!({"activity": "newInstance", "orderId": "CS1"}), "000002"),
    ] {
        let (s, r, sign) = koogallery(&w, &body, now).await;
        assert_eq!((s, r["resultCode"].as_str()), (200, Some(code)), "{body}");
        assert!(verifies(&r.to_string(), &sign));
    }
}

#[tokio::test]
async fn an_instance_whose_buyer_is_not_known_yet_opens_and_binds_once_the_order_query_answers() {
    let w = webhook(Harness::new().await);
    let now = Utc::now();
    let (account, order) = (huawei_account(), format!("CS{}", unique()));
    let line = format!("{order}-000001");
    // The order query is down when the order comes: KooGallery still gets its instance.
    emulator_fault("OrderQuery", Some(&order), "error", u32::MAX, 1).await;
    emulator::register_koogallery_order(&order, &line, &account, None).await;
    let body = json!({"activity": "newInstance", "businessId": unique(), "orderId": order, "orderLineId": line, "testFlag": "0"});
    let (_, r, _) = koogallery(&w, &body, now).await;
    assert_eq!(r["resultCode"], "000000", "{r}");
    let instance = r["instanceId"].as_str().unwrap().to_string();
    let mut req = commercial_registration("cn4");
    req["settlement"] = json!({"method": "huawei", "account_id": account, "instance_id": instance});
    let (s, r) = parts(register::handle(&w.app, request("POST", "/v1/registrations", Some(&req), None)).await);
    assert_eq!((s, r["code"].as_str()), (409, Some("cloud_account_not_active")), "binding waits for the buyer: {r}");
    // It answers again: the sweeper learns the buyer, and the binding goes through.
    emulator_clear_faults(Some(&order)).await;
    let swept = sweeper::sweep(&w.app.deps, None).await.unwrap();
    assert!(swept.buyers_learnt >= 1, "{swept:?}");
    let reg = registered(&w.app, &req).await;
    assert_eq!(reg["workspace"]["settlement"]["instance_id"], instance.as_str());
}

#[tokio::test]
async fn forged_stale_and_replayed_calls_change_nothing() {
    let w = webhook(Harness::new().await);
    let now = Utc::now();
    let order = format!("CS{}", unique());
    emulator::register_koogallery_order(&order, &format!("{order}-1"), &huawei_account(), None).await;
    let body =
        json!({"activity": "newInstance", "businessId": "b", "orderId": order, "orderLineId": format!("{order}-1")})
            .to_string();
    let instance = billing_domain::service::koogallery::instance_id(&order, &format!("{order}-1"));
    let ts = now.timestamp_millis().to_string();
    let (s, r, _) = koogallery_signed(&w, &body, &ts, &unique(), Some(&"0".repeat(64))).await;
    assert_eq!((s, r["resultCode"].as_str()), (200, Some("000001")), "forged");
    let stale = (now - Duration::minutes(2)).timestamp_millis().to_string();
    assert_eq!(koogallery_signed(&w, &body, &stale, &unique(), None).await.1["resultCode"], "000001", "stale");
    let future = (now + Duration::minutes(2)).timestamp_millis().to_string();
    assert_eq!(
        koogallery_signed(&w, &body, &future, &unique(), None).await.1["resultCode"],
        "000001",
        "from the future"
    );
    let (_, r, _) = koogallery_signed(&w, &body, &ts, "", None).await;
    assert_eq!(r["resultCode"], "000001", "no nonce");
    assert_eq!(status(&w, &instance).await, None, "none of these opened anything");

    let nonce = unique();
    assert_eq!(koogallery_signed(&w, &body, &ts, &nonce, None).await.1["resultCode"], "000000");
    assert_eq!(status(&w, &instance).await, Some(CloudStatus::Active));
    let release = json!({"activity": "releaseInstance", "instanceId": instance}).to_string();
    // The same nonce again, even on another body signed with it: a replay, refused.
    let replay = koogallery_signed(&w, &release, &ts, &nonce, None).await;
    assert_eq!(replay.1["resultCode"], "000001");
    assert_eq!(status(&w, &instance).await, Some(CloudStatus::Active), "the replay changed nothing");
    // A body altered after signing.
    let key = std::env::var("HUAWEI_KOOGALLERY_KEY").unwrap();
    let n2 = unique();
    let sig = billing_adapters::koogallery::saas_signature::request_signature(&key, &n2, &ts, &body);
    assert_eq!(koogallery_signed(&w, &release, &ts, &n2, Some(&sig)).await.1["resultCode"], "000001");
    assert_eq!(status(&w, &instance).await, Some(CloudStatus::Active));
}

#[tokio::test]
async fn two_cn4_workspaces_on_one_huawei_instance_switch_back_with_one_email_and_freeze_blocks_binding() {
    let w = webhook(Harness::new().await);
    let now = Utc::now();
    let account = huawei_account();
    let instance = open_huawei_instance(&w, &account, now).await;
    let mut first = commercial_registration("cn4");
    first["settlement"] = json!({"method": "huawei", "account_id": account, "instance_id": instance});
    let a = registered(&w.app, &first).await;
    assert_eq!(
        a["workspace"]["settlement"],
        json!({"method": "huawei", "account_id": account, "instance_id": instance, "since": a["workspace"]["settlement"]["since"]})
    );

    // A second workspace of the billing account, first offered the registered instance.
    let mut second = commercial_registration("cn4");
    second["billing_account"] = json!({"mode": "bind", "username": first["username"], "password": "s3cret-pass"});
    let b = registered(&w.app, &second).await;
    let billing = token(&a, "billing_session");
    let ws_b = b["workspace"]["id"].as_str().unwrap();
    let (_, opts) = call!(
        change_settlement::handle,
        w,
        "GET",
        &format!("/v1/workspaces/{ws_b}/settlement-options"),
        None,
        Some(&billing)
    );
    assert_eq!(opts["site_platform"], "huawei");
    assert_eq!(
        opts["options"][0],
        json!({"method": "registered", "cloud_account_id": CloudAccount::huawei_id(&instance), "recommended": true, "current": false})
    );
    assert_eq!(opts["options"][1]["method"], "huawei");

    // FREEZE: not active, so it cannot be newly bound; UNFREEZE: it can.
    let freeze = |s: &str| json!({"activity": "updateInstanceStatus", "instanceId": instance, "status": s});
    koogallery(&w, &freeze("FREEZE"), now + Duration::seconds(1)).await;
    let bind = json!({"method": "huawei", "account_id": account, "instance_id": instance});
    let path = format!("/v1/workspaces/{ws_b}/settlement");
    let (s, r) = call!(change_settlement::handle, w, "PUT", &path, Some(&bind), Some(&billing));
    assert_eq!((s, r["code"].as_str()), (409, Some("cloud_account_not_active")), "{r}");
    let mut third = commercial_registration("cn4");
    third["settlement"] = bind.clone();
    let (s, r) = parts(register::handle(&w.app, request("POST", "/v1/registrations", Some(&third), None)).await);
    assert_eq!((s, r["code"].as_str()), (409, Some("cloud_account_not_active")));
    koogallery(&w, &freeze("UNFREEZE"), now + Duration::seconds(2)).await;
    let wrong = json!({"method": "huawei", "account_id": huawei_account(), "instance_id": instance});
    assert_eq!(
        call!(change_settlement::handle, w, "PUT", &path, Some(&wrong), Some(&billing)).1["code"],
        "cloud_account_mismatch"
    );
    let (s, r) = call!(change_settlement::handle, w, "PUT", &path, Some(&bind), Some(&billing));
    assert_eq!(s, 200, "{r}");

    // Released: both workspaces back to enterprise, one email to the billing account.
    let (_, r, _) =
        koogallery(&w, &json!({"activity": "releaseInstance", "instanceId": instance}), now + Duration::seconds(3))
            .await;
    assert_eq!(r["resultCode"], "000000");
    for reg in [&a, &b] {
        assert_eq!(settlement_of(&w.app, reg["workspace"]["id"].as_str().unwrap()).await, Some(Settlement::Enterprise));
    }
    assert_eq!(cancellation_mail(first["email"].as_str().unwrap()).await.len(), 1);
    let (_, accounts) = call!(change_settlement::handle, w, "GET", "/v1/billing/cloud-accounts", None, Some(&billing));
    assert_eq!(accounts["cloud_accounts"], json!([]));

    // Huawei is offered only on cn4 without free choice.
    let mut elsewhere = commercial_registration("cn1");
    elsewhere["settlement"] = json!({"method": "huawei", "account_id": account, "instance_id": instance});
    let (s, r) = parts(register::handle(&w.app, request("POST", "/v1/registrations", Some(&elsewhere), None)).await);
    assert_eq!((s, r["code"].as_str()), (422, Some("settlement_not_allowed")));
}

#[tokio::test]
async fn a_month_of_huawei_paid_usage_reaches_koogallery_in_cny_to_four_decimals_and_a_frozen_instance_pays_nothing() {
    let start = hour_start(Utc::now()) - Duration::days(30);
    let Settled { w, clock, instance, ws, req } = settled_on_a_new_instance(start + Duration::minutes(5)).await;
    let d = |s: &str| Decimal::from_str(s).unwrap();
    // log_events 1.20 CNY, time_series 0.60 CNY a unit: the value pushed is usage at list prices.
    let mut value = Decimal::ZERO;
    for h in 0..720 {
        let hour = start + Duration::hours(h);
        let t = hour + Duration::hours(1) + Duration::minutes(5);
        clock.set(t);
        emulator_clock(&instance, t).await;
        let (logs, series) = (d("0.00013") + Decimal::from(h % 4), d("0.3333333"));
        let (s, r) = report_usage(
            &w.app,
            &[
                usage_record(&format!("h-{ws}-{h}"), &ws, "log_events", hour, &logs.to_string()),
                usage_record(&format!("t-{ws}-{h}"), &ws, "time_series", hour, &series.to_string()),
            ],
        )
        .await;
        assert_eq!((s, r["accepted"].as_u64()), (200, Some(2)), "{r}");
        value += logs * d("1.20") + series * d("0.60");
        let f = metering::run(&w.app.deps, None, None).await.unwrap();
        assert_eq!((f.pending, f.failed), (0, 0), "hour {h}: {f:?}");
    }
    let ledger = emulator_ledger(&format!("hwinstance:{instance}")).await;
    assert_eq!(ledger.len(), 720, "one value an hour");
    let pushed: Decimal = ledger.iter().map(|r| d(r["value"].as_str().unwrap())).sum();
    assert!(ledger.iter().all(|r| d(r["value"].as_str().unwrap()).scale() <= 4), "4 decimals at most");
    assert_eq!(
        pushed,
        value.round_dp_with_strategy(4, rust_decimal::RoundingStrategy::ToZero),
        "the fraction carried, never lost"
    );
    let sns: std::collections::HashSet<&str> = ledger.iter().map(|r| r["metering_sn"].as_str().unwrap()).collect();
    assert_eq!(sns.len(), ledger.len(), "unique serial numbers");
    assert_eq!(emulator::koogallery_abnormal(Some(&instance)).await, Vec::<Value>::new(), "no SDR refused");

    // Frozen: the instance pays nothing; its usage is the enterprise's, with the reason.
    let end = start + Duration::days(30) + Duration::hours(1) + Duration::minutes(10);
    clock.set(end);
    emulator_clock(&instance, end).await;
    koogallery(&w, &json!({"activity": "updateInstanceStatus", "instanceId": instance, "status": "FREEZE"}), end).await;
    let hour = hour_start(end);
    report_usage(&w.app, &[usage_record(&format!("z-{ws}"), &ws, "log_events", hour, "2")]).await;
    clock.set(end + Duration::hours(1));
    emulator_clock(&instance, end + Duration::hours(1)).await;
    let f = metering::run(&w.app.deps, None, None).await.unwrap();
    assert_eq!(f.fell_back, 1, "{f:?}");
    let tok = billing_token(&w.app, req["username"].as_str().unwrap()).await;
    let month = billing_domain::rules::usage::month_of(hour);
    let (_, bill) =
        parts(bills::handle(&w.app, request("GET", &format!("/v1/billing/bills/{month}"), None, Some(&tok))).await);
    assert!(
        bill["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["report"]["status"] == "fell_back" && l["report"]["reason"] == "customer_not_subscribed"),
        "{bill}"
    );
    assert_eq!(
        emulator_ledger(&format!("hwinstance:{instance}")).await.len(),
        ledger.len(),
        "nothing pushed while frozen"
    );
    // queryInstance answers the cumulative value reported.
    let (_, q, _) =
        koogallery(&w, &json!({"activity": "queryInstance", "instanceId": instance}), end + Duration::hours(1)).await;
    let reported: f64 = pushed.to_string().parse().unwrap();
    assert_eq!(q["info"][0]["usageInfo"][0]["usageValue"].as_f64(), Some(reported), "{q}");
}

#[tokio::test]
async fn usage_of_a_period_that_overlapped_a_freeze_is_not_pushed_even_once_unfrozen() {
    let hour = hour_start(Utc::now()) - Duration::hours(2);
    let Settled { w, clock, instance, ws, .. } = settled_on_a_new_instance(hour + Duration::minutes(1)).await;
    report_usage(&w.app, &[usage_record(&format!("f-{ws}"), &ws, "log_events", hour, "2")]).await;
    let status = |s: &str| json!({"activity": "updateInstanceStatus", "instanceId": instance, "status": s});
    for (s, m) in [("FREEZE", 20), ("UNFREEZE", 40)] {
        clock.set(hour + Duration::minutes(m));
        let (_, r, _) = koogallery(&w, &status(s), clock.now()).await;
        assert_eq!(r["resultCode"], "000000", "{r}");
    }
    let t = hour + Duration::hours(1) + Duration::minutes(5);
    clock.set(t);
    emulator_clock(&instance, t).await;
    let f = metering::run(&w.app.deps, None, None).await.unwrap();
    assert_eq!((f.fell_back, f.reported), (1, 0), "{f:?}");
    assert!(
        emulator_ledger(&format!("hwinstance:{instance}")).await.is_empty(),
        "KooGallery would not bill it (SDR 013)"
    );
    assert!(emulator::koogallery_abnormal(Some(&instance)).await.is_empty());
}
