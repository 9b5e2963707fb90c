//! The marketplaces' side of a test: calls signed as Alibaba, AWS and KooGallery make them,
//! through the real webhook handler.

use crate::*;
use chrono::{DateTime, Utc};
use lambda_http::Request;
use serde_json::Value;

/// Signs SPI parameters as the Alibaba marketplace does, and URL-encodes them.
pub fn spi_query(params: &[(&str, &str)]) -> String {
    let key = std::env::var("ALIYUN_SPI_KEY").expect("ALIYUN_SPI_KEY");
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let token = billing_adapters::aliyun::spi_token::sign(&owned, &key);
    let mut all = owned;
    all.push(("token".into(), token));
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    all.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

pub fn aliyun_uid() -> String {
    format!("{:016}", ulid::Ulid::new().random() % 10_000_000_000_000_000)
}

pub fn webhook(h: Harness) -> marketplace_webhook::Webhook {
    let keys = h.marketplace_keys.expect("the harness reads the marketplaces' keys");
    marketplace_webhook::Webhook {
        app: h.app,
        spi_key: keys.aliyun_spi_key,
        huawei_key: keys.huawei_koogallery_key,
        registration_url: "https://example.com/register".into(),
    }
}

/// Opens an Alibaba instance through the real SPI handler; returns the instance id.
pub async fn open_instance(w: &marketplace_webhook::Webhook, uid: &str) -> String {
    let order = format!("order{}", unique());
    let q = spi_query(&[("action", "createInstance"), ("aliUid", uid), ("orderBizId", &order)]);
    let (s, b) = parts(
        marketplace_webhook::handle_http(w, raw("GET", &format!("/v1/marketplace/aliyun?{q}"), "", &[]), None).await,
    );
    assert_eq!((s, b["instanceId"].as_str()), (200, Some(order.as_str())), "{b}");
    // The marketplace opened it: its metering push knows it from now on.
    emulator::register_aliyun_instance(&order, None, None).await;
    order
}

pub async fn spi(w: &marketplace_webhook::Webhook, params: &[(&str, &str)]) -> (u16, Value) {
    let q = spi_query(params);
    parts(
        marketplace_webhook::handle_http(
            w,
            raw("POST", "/v1/marketplace/aliyun", &q, &[("content-type", "application/x-www-form-urlencoded")]),
            None,
        )
        .await,
    )
}

/// Mints an AWS Marketplace registration token at the emulator (`ttl_seconds` 0: already expired).
pub async fn mint_marketplace_token(
    customer: &str,
    aws_account_id: &str,
    product_code: &str,
    ttl_seconds: u64,
) -> String {
    let body = serde_json::json!({"customer_identifier": customer, "aws_account_id": aws_account_id,
                                  "product_code": product_code, "ttl_seconds": ttl_seconds});
    emulator_post("/_emulator/registration-tokens", &body).await["token"].as_str().unwrap().to_string()
}

/// Mints a registration token for a new-style product: `ResolveCustomer` answers with the AWS
/// account id, the licence and the product code, and no customer identifier.
pub async fn mint_license_token(aws_account_id: &str, license_arn: &str, product_code: &str) -> String {
    let body =
        serde_json::json!({"license_arn": license_arn, "aws_account_id": aws_account_id, "product_code": product_code});
    emulator_post("/_emulator/registration-tokens", &body).await["token"].as_str().unwrap().to_string()
}

/// A licence ARN as AWS License Manager writes them, unique per call.
pub fn license_arn() -> String {
    format!("arn:aws:license-manager::294406891311:license:l-{}", unique())
}

/// A new-style buyer lands with a fresh token for the licence; returns the claim.
pub async fn land_license(
    w: &marketplace_webhook::Webhook,
    aws_account_id: &str,
    license_arn: &str,
    product_code: &str,
) -> String {
    // The licence was activated when the buyer subscribed: now, on the test's clock.
    let token = emulator::mint_token(&emulator::TokenSpec {
        license_arn: Some(license_arn),
        aws_account_id,
        product_code,
        activated_at: Some(w.app.deps.clock.now()),
        ..Default::default()
    })
    .await;
    let r = marketplace_webhook::handle_http(w, landing_request(&token), None).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    location.split("aws_subscription=").nth(1).unwrap().to_string()
}

/// An EventBridge event of `aws.agreement-marketplace` as AWS documents it for SaaS sellers.
/// `detail` is merged into the documented common detail (agreement id, buyer account).
pub fn agreement_event(
    detail_type: &str,
    agreement_id: &str,
    acceptor: &str,
    detail: Value,
    at: DateTime<Utc>,
) -> Value {
    let mut d = serde_json::json!({
        "requestId": unique(), "catalog": "AWSMarketplace",
        "agreement": {"id": agreement_id}, "acceptor": {"accountId": acceptor},
        "proposer": {"accountId": "294406891311"}, "offer": {"id": "offer-1234567890123"}
    });
    for (k, v) in detail.as_object().cloned().unwrap_or_default() {
        match (d.get_mut(&k), v) {
            (Some(Value::Object(into)), Value::Object(from)) => into.extend(from),
            (_, v) => {
                d[&k] = v;
            }
        }
    }
    serde_json::json!({
        "version": "0", "id": unique(), "detail-type": detail_type, "source": "aws.agreement-marketplace",
        "account": "294406891311", "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "region": "us-east-1",
        "resources": [format!("arn:aws:aws-marketplace::aws:agreement:{agreement_id}")], "detail": d
    })
}

/// An SQS event whose records carry these bodies (EventBridge events, SNS envelopes, ...).
pub fn sqs_bodies(bodies: &[Value]) -> Value {
    let recs: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| serde_json::json!({"messageId": format!("r{i}-{}", unique()), "eventSource": "aws:sqs", "body": b.to_string()}))
        .collect();
    serde_json::json!({ "Records": recs })
}

/// The buyer's POST to the landing URL.
pub fn landing_request(token: &str) -> Request {
    raw(
        "POST",
        "/v1/marketplace/aws/landing",
        &format!("x-amzn-marketplace-token={token}"),
        &[("content-type", "application/x-www-form-urlencoded")],
    )
}

/// Lands with a fresh token for the customer and returns the claim.
pub async fn land(
    w: &marketplace_webhook::Webhook,
    customer: &str,
    aws_account_id: &str,
    product_code: &str,
) -> String {
    let token = mint_marketplace_token(customer, aws_account_id, product_code, 3600).await;
    let r = marketplace_webhook::handle_http(w, landing_request(&token), None).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    location.split("aws_subscription=").nth(1).unwrap().to_string()
}

/// An SQS event whose records carry SNS envelopes of subscription notifications:
/// `(action, customer identifier, product code, time)`.
pub fn sqs_event(records: &[(&str, &str, &str, DateTime<Utc>)]) -> Value {
    let recs: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, (action, customer, product, at))| {
            let message =
                serde_json::json!({"action": action, "customer-identifier": customer, "product-code": product}).to_string();
            let envelope = serde_json::json!({"Type": "Notification", "MessageId": format!("m{i}"), "Message": message,
                                              "Timestamp": at.to_rfc3339()});
            serde_json::json!({"messageId": format!("r{i}-{}", unique()), "eventSource": "aws:sqs", "body": envelope.to_string()})
        })
        .collect();
    serde_json::json!({ "Records": recs })
}

/// Hands an SQS event to the webhook as Lambda would; returns the batch response.
pub async fn deliver_sqs(w: &marketplace_webhook::Webhook, event: Value) -> Value {
    marketplace_webhook::handle_event(w, event, None).await.unwrap()
}

/// A KooGallery call as KooGallery makes it: the JSON body signed with `timestamp` (ms) and
/// a fresh nonce; returns (status, answer body, Body-Sign header).
pub async fn koogallery(w: &marketplace_webhook::Webhook, body: &Value, at: DateTime<Utc>) -> (u16, Value, String) {
    koogallery_signed(w, &body.to_string(), &at.timestamp_millis().to_string(), &unique(), None).await
}

/// A KooGallery call with every part given (a forged `signature` when `Some`).
pub async fn koogallery_signed(
    w: &marketplace_webhook::Webhook,
    body: &str,
    timestamp: &str,
    nonce: &str,
    signature: Option<&str>,
) -> (u16, Value, String) {
    let key = std::env::var("HUAWEI_KOOGALLERY_KEY").expect("HUAWEI_KOOGALLERY_KEY");
    let sig = signature.map(str::to_string).unwrap_or_else(|| {
        billing_adapters::koogallery::saas_signature::request_signature(&key, nonce, timestamp, body).to_uppercase()
    });
    let path = format!("/v1/marketplace/huawei?signature={sig}&timestamp={timestamp}&nonce={nonce}");
    let r =
        marketplace_webhook::handle_http(w, raw("POST", &path, body, &[("content-type", "application/json")]), None)
            .await;
    let sign = r.headers().get("body-sign").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (s, b) = parts(r);
    (s, b, sign)
}

/// Opens a KooGallery instance for a Huawei account through the real handler, as KooGallery
/// does it: the order (and its buyer) exists at KooGallery's order query, `newInstance` sends the
/// documented V2.0 body (no buyer), and KooGallery then knows the instance our answer named.
pub async fn open_huawei_instance(w: &marketplace_webhook::Webhook, account: &str, at: DateTime<Utc>) -> String {
    let order = format!("CS{}", unique());
    let line = format!("{order}-000001");
    emulator_post(
        "/_emulator/koogallery/orders",
        &serde_json::json!({"order_id": order, "order_line_id": line, "customer_id": account}),
    )
    .await;
    let body = serde_json::json!({"activity": "newInstance", "businessId": unique(), "orderId": order,
        "orderLineId": line, "testFlag": "0"});
    let (s, b, _) = koogallery(w, &body, at).await;
    assert_eq!((s, b["resultCode"].as_str()), (200, Some("000000")), "{b}");
    let instance = b["instanceId"].as_str().unwrap().to_string();
    emulator_post(
        "/_emulator/koogallery/instances",
        &serde_json::json!({"instance_id": instance, "opened_at": at.to_rfc3339()}),
    )
    .await;
    instance
}

pub fn huawei_account() -> String {
    format!("{:032x}", ulid::Ulid::new().0)
}
