//! The test endpoints (`/_emulator/...`): what tests tell the marketplaces (customers, licences,
//! instances, orders, unsubscriptions, faults, clocks) and read back (the ledger, abnormal SDRs).
//! Shapes are documented in the crate's top comment.

use crate::world::{KooOrder, Shared, Token};
use crate::{aliyun, aws, koogallery};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct Mint {
    customer_identifier: Option<String>,
    license_arn: Option<String>,
    aws_account_id: String,
    product_code: String,
    /// Seconds the token stays valid (default one hour; 0 mints an expired one).
    ttl_seconds: Option<u64>,
    agreement_id: Option<String>,
    /// When the licence was activated (default: now, as the licence's or product's clock sees it).
    activated_at: Option<DateTime<Utc>>,
}

pub async fn mint(State(w): State<Shared>, Json(m): Json<Mint>) -> Result<Json<Value>, StatusCode> {
    if m.customer_identifier.is_none() && m.license_arn.is_none() {
        return Err(StatusCode::BAD_REQUEST);
    }
    let ttl = Duration::seconds(i64::try_from(m.ttl_seconds.unwrap_or(3600)).unwrap_or(i64::MAX / 2_000));
    let token = Token {
        customer_identifier: m.customer_identifier,
        license_arn: m.license_arn,
        aws_account_id: m.aws_account_id,
        product_code: m.product_code,
        agreement_id: m.agreement_id,
        expires_at: Utc::now() + ttl,
        redeemed: false,
    };
    let token = aws::mint(&mut w.lock().expect("lock"), token, m.activated_at);
    Ok(Json(json!({ "token": token })))
}

#[derive(Deserialize)]
pub struct LicenceSpec {
    license_arn: String,
    aws_account_id: String,
    product_code: String,
    activated_at: Option<DateTime<Utc>>,
}

pub async fn aws_licence(State(w): State<Shared>, Json(l): Json<LicenceSpec>) -> StatusCode {
    let mut world = w.lock().expect("lock");
    aws::register_licence(&mut world, &l.license_arn, &l.aws_account_id, &l.product_code, l.activated_at);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub struct AliyunInstanceSpec {
    instance_id: String,
    product_code: Option<String>,
    expires_at: Option<DateTime<Utc>>,
}

pub async fn aliyun_instance(State(w): State<Shared>, Json(i): Json<AliyunInstanceSpec>) -> StatusCode {
    aliyun::register_instance(&mut w.lock().expect("lock"), &i.instance_id, i.product_code, i.expires_at);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub struct KooInstanceSpec {
    instance_id: String,
    opened_at: Option<DateTime<Utc>>,
    frozen: Option<bool>,
}

pub async fn koogallery_instance(State(w): State<Shared>, Json(i): Json<KooInstanceSpec>) -> StatusCode {
    koogallery::register_instance(&mut w.lock().expect("lock"), &i.instance_id, i.opened_at, i.frozen);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub struct KooOrderSpec {
    order_id: String,
    order_line_id: String,
    customer_id: String,
    customer_name: Option<String>,
    product_id: Option<String>,
    sku_code: Option<String>,
    order_type: Option<String>,
    charging_mode: Option<String>,
    create_time: Option<DateTime<Utc>>,
}

pub async fn koogallery_order(State(w): State<Shared>, Json(o): Json<KooOrderSpec>) -> StatusCode {
    let mut world = w.lock().expect("lock");
    let create_time = o.create_time.unwrap_or_else(|| world.now(&[o.order_id.as_str()]));
    let order = KooOrder {
        order_id: o.order_id.clone(),
        order_line_id: o.order_line_id,
        customer_id: Some(o.customer_id),
        customer_name: o.customer_name,
        order_type: o.order_type.unwrap_or_else(|| "NEW".into()),
        charging_mode: o.charging_mode.unwrap_or_else(|| "ON_DEMAND".into()),
        product_id: o.product_id.unwrap_or_else(|| "OFFI-EMULATOR".into()),
        sku_code: o.sku_code.unwrap_or_else(|| "emulator-sku".into()),
        create_time,
    };
    world.koo_orders.insert(o.order_id, order);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub struct Unsubscribe {
    customer_identifier: Option<String>,
    aws_account_id: Option<String>,
    license_arn: Option<String>,
    instance_id: Option<String>,
    huawei_instance_id: Option<String>,
}

/// The marketplace ends a subscription: AWS (`CustomerNotSubscribed` from now on), Alibaba (the
/// instance expires now), KooGallery (the instance is released now).
pub async fn unsubscribe(State(w): State<Shared>, Json(u): Json<Unsubscribe>) -> StatusCode {
    let mut world = w.lock().expect("lock");
    let aws = u.customer_identifier.is_some() || u.aws_account_id.is_some() || u.license_arn.is_some();
    if aws {
        let licence = u.license_arn.as_deref();
        aws::unsubscribe(&mut world, u.customer_identifier.as_deref(), u.aws_account_id.as_deref(), licence);
    }
    if let Some(i) = &u.instance_id {
        aliyun::expire_now(&mut world, i);
    }
    if let Some(i) = &u.huawei_instance_id {
        koogallery::release_now(&mut world, i);
    }
    if aws || u.instance_id.is_some() || u.huawei_instance_id.is_some() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::BAD_REQUEST
    }
}

#[derive(Deserialize)]
pub struct CustomerQuery {
    customer: Option<String>,
}

pub async fn ledger(State(w): State<Shared>, Query(q): Query<CustomerQuery>) -> Json<Value> {
    let world = w.lock().expect("lock");
    let records: Vec<&Value> =
        world.ledger.iter().filter(|r| q.customer.as_deref().is_none_or(|c| r["customer"] == c)).collect();
    Json(json!({ "records": records }))
}

#[derive(Deserialize)]
pub struct InstanceQuery {
    instance_id: Option<String>,
}

pub async fn koogallery_abnormal(State(w): State<Shared>, Query(q): Query<InstanceQuery>) -> Json<Value> {
    let world = w.lock().expect("lock");
    let list: Vec<&Value> =
        world.koo_abnormal.iter().filter(|a| q.instance_id.as_deref().is_none_or(|i| a["instance_id"] == i)).collect();
    Json(json!({ "abnormal": list }))
}

#[derive(Deserialize)]
pub struct FaultSpec {
    operation: String,
    scope: Option<String>,
    mode: String,
    /// How many calls fail (default: a great many).
    count: Option<u32>,
    /// One call in this many fails (default 1: every call).
    every: Option<u32>,
}

pub async fn add_fault(State(w): State<Shared>, Json(f): Json<FaultSpec>) -> StatusCode {
    let count = f.count.unwrap_or(u32::MAX);
    w.lock().expect("lock").add_fault(f.operation, f.scope, f.mode, count, f.every.unwrap_or(1));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub struct ScopeQuery {
    scope: Option<String>,
}

/// Clears the faults of a scope, or all of them.
pub async fn clear_faults(State(w): State<Shared>, Query(q): Query<ScopeQuery>) -> StatusCode {
    w.lock().expect("lock").faults.retain(|f| q.scope.is_some() && f.scope != q.scope);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
pub struct ClockSpec {
    /// A product code, a licence ARN, an instance id or an order id.
    scope: String,
    now: DateTime<Utc>,
}

pub async fn clock(State(w): State<Shared>, Json(c): Json<ClockSpec>) -> StatusCode {
    w.lock().expect("lock").set_clock(&c.scope, c.now);
    StatusCode::NO_CONTENT
}

pub async fn reset(State(w): State<Shared>) -> StatusCode {
    w.lock().expect("lock").reset();
    StatusCode::NO_CONTENT
}
