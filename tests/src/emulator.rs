//! Clients of the marketplace emulator's test endpoints that came with its rewrite (see the
//! emulator's top comment, tests/marketplace-emulator/src/main.rs): what tests tell the
//! marketplaces before a call (licences, instances, orders) and read back (abnormal SDRs).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

fn url(path: &str) -> String {
    format!("{}{path}", std::env::var("EMULATOR_URL").expect("EMULATOR_URL"))
}

async fn post(path: &str, body: &Value) -> Value {
    let r = reqwest::Client::new().post(url(path)).json(body).send().await.expect("the emulator answers");
    assert!(r.status().is_success(), "emulator {path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// A registration token with every field the emulator takes; `None` fields are left out.
#[derive(Default)]
pub struct TokenSpec<'a> {
    pub customer_identifier: Option<&'a str>,
    pub license_arn: Option<&'a str>,
    pub aws_account_id: &'a str,
    pub product_code: &'a str,
    pub ttl_seconds: Option<u64>,
    pub agreement_id: Option<&'a str>,
    /// When the licence was activated (default now, as its scope's clock sees it).
    pub activated_at: Option<DateTime<Utc>>,
}

/// Mints an AWS registration token (`ResolveCustomer` answers it) and registers its licence and/or
/// legacy customer as active. A legacy-listing token may carry both identifiers.
pub async fn mint_token(t: &TokenSpec<'_>) -> String {
    let body = json!({"customer_identifier": t.customer_identifier, "license_arn": t.license_arn,
        "aws_account_id": t.aws_account_id, "product_code": t.product_code, "ttl_seconds": t.ttl_seconds,
        "agreement_id": t.agreement_id, "activated_at": t.activated_at.map(|a| a.to_rfc3339())});
    let body = without_nulls(body);
    post("/_emulator/registration-tokens", &body).await["token"].as_str().expect("a token").to_string()
}

/// An AWS licence the marketplace knows (as learnt from its events), active from `activated_at`
/// (default now).
pub async fn register_aws_licence(
    license_arn: &str,
    aws_account_id: &str,
    product_code: &str,
    activated_at: Option<DateTime<Utc>>,
) {
    let body = json!({"license_arn": license_arn, "aws_account_id": aws_account_id, "product_code": product_code,
        "activated_at": activated_at.map(|a| a.to_rfc3339())});
    post("/_emulator/aws/licences", &without_nulls(body)).await;
}

/// An Alibaba Cloud Marketplace instance: PushMeteringData refuses instances it does not know.
/// `product_code` binds it to one product's metering items; usage of hours after `expires_at`'s hour
/// is taken but not billed.
pub async fn register_aliyun_instance(
    instance_id: &str,
    product_code: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) {
    let body = json!({"instance_id": instance_id, "product_code": product_code,
        "expires_at": expires_at.map(|a| a.to_rfc3339())});
    post("/_emulator/aliyun/instances", &without_nulls(body)).await;
}

/// A KooGallery pay-per-use instance (newInstance answered), opened at `opened_at` (default now).
/// `frozen: Some(true)` freezes it from now, `Some(false)` unfreezes it from now.
pub async fn register_koogallery_instance(instance_id: &str, opened_at: Option<DateTime<Utc>>, frozen: Option<bool>) {
    let body = json!({"instance_id": instance_id, "opened_at": opened_at.map(|a| a.to_rfc3339()), "frozen": frozen});
    post("/_emulator/koogallery/instances", &without_nulls(body)).await;
}

/// A KooGallery order the order query answers with its buyer (`NEW`, `ON_DEMAND`).
pub async fn register_koogallery_order(
    order_id: &str,
    order_line_id: &str,
    customer_id: &str,
    customer_name: Option<&str>,
) {
    let body = json!({"order_id": order_id, "order_line_id": order_line_id, "customer_id": customer_id,
        "customer_name": customer_name});
    post("/_emulator/koogallery/orders", &without_nulls(body)).await;
}

/// The SDRs KooGallery accepted and its SDR check refused (`{instance_id, metering_sn, code, record}`),
/// for one instance or all.
pub async fn koogallery_abnormal(instance_id: Option<&str>) -> Vec<Value> {
    let mut req = reqwest::Client::new().get(url("/_emulator/koogallery/abnormal"));
    if let Some(i) = instance_id {
        req = req.query(&[("instance_id", i)]);
    }
    let v: Value = req.send().await.expect("the emulator answers").json().await.expect("JSON");
    v["abnormal"].as_array().cloned().unwrap_or_default()
}

/// Forgets everything the emulator holds (ledger, customers, instances, faults, clocks) but its settings.
pub async fn emulator_reset() {
    post("/_emulator/reset", &json!({})).await;
}

fn without_nulls(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, x| !x.is_null());
    }
    v
}

/// POSTs JSON to one of the emulator's test endpoints (`/_emulator/...`); its JSON answer.
pub(crate) async fn emulator_post(path: &str, body: &Value) -> Value {
    let emulator = std::env::var("EMULATOR_URL").expect("EMULATOR_URL");
    let r = reqwest::Client::new().post(format!("{emulator}{path}")).json(body).send().await.unwrap();
    assert!(r.status().is_success(), "emulator {path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

/// The emulator's ledger of records a marketplace took for `customer` (`acct:<id>|<licence>`,
/// `id:<customer identifier>`, `instance:<id>`).
pub async fn emulator_ledger(customer: &str) -> Vec<Value> {
    let emulator = std::env::var("EMULATOR_URL").expect("EMULATOR_URL");
    let v: Value = reqwest::Client::new()
        .get(format!("{emulator}/_emulator/metering"))
        .query(&[("customer", customer)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["records"].as_array().cloned().unwrap_or_default()
}

/// Tells the emulator to fail calls of `operation` (`BatchMeterUsage`, `PushMeteringData`, `any`)
/// for `scope` (a product code or instance id; `None`: every call): `mode` throttle, error, drop
/// (applied, answer lost) or unprocessed; `count` calls, one in `every`.
pub async fn emulator_fault(operation: &str, scope: Option<&str>, mode: &str, count: u32, every: u32) {
    let body =
        serde_json::json!({"operation": operation, "scope": scope, "mode": mode, "count": count, "every": every});
    emulator_post("/_emulator/faults", &body).await;
}

/// Clears the faults of `scope` (all faults for `None`).
pub async fn emulator_clear_faults(scope: Option<&str>) {
    let emulator = std::env::var("EMULATOR_URL").expect("EMULATOR_URL");
    let mut req = reqwest::Client::new().delete(format!("{emulator}/_emulator/faults"));
    if let Some(s) = scope {
        req = req.query(&[("scope", s)]);
    }
    req.send().await.unwrap();
}

/// The time the emulator sees for a product code or an instance id (tests move their own clock).
pub async fn emulator_clock(scope: &str, now: DateTime<Utc>) {
    emulator_post("/_emulator/clock", &serde_json::json!({"scope": scope, "now": now.to_rfc3339()})).await;
}

/// The marketplace ends a customer's subscription on its side (`CustomerNotSubscribed` after).
pub async fn emulator_unsubscribe(customer: Value) {
    emulator_post("/_emulator/unsubscribe", &customer).await;
}
