//! The marketplaces' published pages made executable: a local stand-in for AWS Marketplace
//! Metering, Alibaba Cloud Marketplace's metering push and Huawei Cloud KooGallery's usage push and
//! order query, each refusing what its pages refuse, with the documented codes. A test fixture, not
//! product code. Every rule cites its page where it is enforced (aws.rs, aliyun.rs, koogallery.rs,
//! apig.rs); docs/marketplaces/*.md lists them, and where a page is ambiguous the stricter reading.
//!
//! # Marketplace endpoints
//! - `POST /` with `X-Amz-Target: AWSMPMeteringService.ResolveCustomer | .BatchMeterUsage`
//!   (awsJson1.1) — aws.rs.
//! - `POST /` without it: Alibaba RPC (`Action=PushMeteringData`, parameters in the query string
//!   and/or a form body) — aliyun.rs.
//! - `POST /api/mkp-openapi-public/global/v1/isv/usage-data` — KooGallery usage push — koogallery.rs.
//! - `GET /api/mkp-openapi-public/global/v1/order/query?orderId=&orderLineId=` — KooGallery order
//!   query (API Gateway AK/SK signature) — koogallery.rs, apig.rs.
//!
//! Settings (environment): `AWS_DIMENSIONS` (comma list; default the billing catalogue's dimensions),
//! `ALIYUN_ACCESS_KEY_SECRET`, `ALIYUN_METERING_ITEMS` (JSON item code → meteringAssit; default the
//! local stack's), `HUAWEI_KOOGALLERY_KEY` (signs the usage push), `KOOGALLERY_ACCESS_KEY` /
//! `KOOGALLERY_SECRET_KEY` (sign the order query).
//!
//! # Test endpoints (JSON bodies; times RFC 3339)
//! - `POST /_emulator/registration-tokens` `{customer_identifier?, license_arn?, aws_account_id,
//!   product_code, ttl_seconds?, agreement_id?, activated_at?}` → `{"token"}`. At least one of
//!   `customer_identifier` / `license_arn`. Also registers the licence (activated `activated_at`,
//!   default now) and the legacy customer, both active. `ResolveCustomer` redeems a token once.
//! - `POST /_emulator/aws/licences` `{license_arn, aws_account_id, product_code, activated_at?}` → 204.
//! - `POST /_emulator/aliyun/instances` `{instance_id, product_code?, expires_at?}` → 204.
//! - `POST /_emulator/koogallery/instances` `{instance_id, opened_at?, frozen?}` → 204 (`opened_at`
//!   default now; `frozen: true` freezes from now, `false` unfreezes from now).
//! - `POST /_emulator/koogallery/orders` `{order_id, order_line_id, customer_id, customer_name?,
//!   product_id?, sku_code?, order_type? (NEW), charging_mode? (ON_DEMAND), create_time?}` → 204.
//! - `POST /_emulator/unsubscribe` `{customer_identifier? | aws_account_id [+ license_arn]? |
//!   instance_id? (Alibaba: expires now) | huawei_instance_id? (KooGallery: released now)}` → 204.
//! - `GET /_emulator/metering?customer=…` → `{"records": [...]}`, every record taken, in order:
//!   AWS `{platform:"aws", product_code, customer: "acct:<account>|<licenceArn>" | "id:<customerIdentifier>",
//!   dimension, timestamp, quantity (string), id}`; Alibaba `{platform:"aliyun", product_code,
//!   customer:"instance:<id>", key, metering_assit, item, start, end, value (string), billed, id}`
//!   (and `dimension` = item, `quantity` = value, `timestamp` = start); KooGallery `{platform:"huawei",
//!   customer:"hwinstance:<id>", begin, end, record_time, value (string, as sent), metering_sn,
//!   relate_pkg_instance}` (and `id` = metering_sn, `quantity` = value, `timestamp` = begin, Unix s).
//! - `GET /_emulator/koogallery/abnormal?instance_id=…` → `{"abnormal": [{instance_id, metering_sn,
//!   code, record}]}`: SDRs the push accepted and the SDR check refused (codes 004, 005, 007, 010,
//!   011, 013).
//! - `POST /_emulator/faults` `{operation, scope?, mode, count?, every?}` → 204; `DELETE
//!   /_emulator/faults[?scope=…]` clears. Operations `BatchMeterUsage`, `PushMeteringData`,
//!   `KooGalleryUsage` (old name `PushUsage`), `OrderQuery`, `any`. Modes: `throttle` (AWS 400
//!   ThrottlingException, Alibaba 500 Service.Flow.Control, KooGallery 500 MKT.0999), `error` (5xx),
//!   `drop` (applied, then the answer lost as a 5xx), `unprocessed` (AWS: every record in
//!   UnprocessedRecords; elsewhere an error), `reject` (KooGallery usage: 500 MKT.9001; elsewhere an
//!   error). Scope: a product code, licence ARN, instance id or order id the call names.
//! - `POST /_emulator/clock` `{scope, now}` → 204: the time a product code, licence ARN, instance id
//!   or order id sees from now on (it keeps running).
//! - `POST /_emulator/reset` → 204: forgets everything but the settings.

mod aliyun;
mod apig;
mod aws;
mod koogallery;
mod reply;
mod test_api;
mod world;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use world::{Config, Shared, World};

/// `POST /`: AWS by its `X-Amz-Target`, Alibaba's RPC otherwise.
async fn root(State(w): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let mut world = w.lock().expect("lock");
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return aws::handle(&mut world, target, &String::from_utf8_lossy(&body));
    }
    aliyun::handle(&mut world, "POST", &aliyun::rpc_params(uri.query(), &body))
}

async fn usage_data(State(w): State<Shared>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    koogallery::usage_push(&mut w.lock().expect("lock"), &headers, &body)
}

async fn order_query(State(w): State<Shared>, uri: Uri, headers: HeaderMap) -> impl IntoResponse {
    koogallery::order_query(&mut w.lock().expect("lock"), uri.path(), uri.query(), &headers)
}

fn app(world: Shared) -> Router {
    use test_api as t;
    Router::new()
        .route("/", post(root))
        .route("/api/mkp-openapi-public/global/v1/isv/usage-data", post(usage_data))
        .route("/api/mkp-openapi-public/global/v1/order/query", get(order_query))
        .route("/_emulator/registration-tokens", post(t::mint))
        .route("/_emulator/aws/licences", post(t::aws_licence))
        .route("/_emulator/aliyun/instances", post(t::aliyun_instance))
        .route("/_emulator/koogallery/instances", post(t::koogallery_instance))
        .route("/_emulator/koogallery/orders", post(t::koogallery_order))
        .route("/_emulator/koogallery/abnormal", get(t::koogallery_abnormal))
        .route("/_emulator/unsubscribe", post(t::unsubscribe))
        .route("/_emulator/metering", get(t::ledger))
        .route("/_emulator/faults", post(t::add_fault).delete(t::clear_faults))
        .route("/_emulator/clock", post(t::clock))
        .route("/_emulator/reset", post(t::reset))
        .with_state(world)
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8602".into());
    let world = World::shared(Config::from_env());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("marketplace emulator on http://{addr}");
    axum::serve(listener, app(world)).await.expect("serve");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;
    use std::io::{Read, Write};
    use std::net::SocketAddr;

    /// One HTTP/1.1 exchange over a plain socket: (status, body).
    fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        s.write_all(format!("{req}\r\n{body}").as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out[9..12].parse().unwrap();
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    async fn serve(config: Config) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app(World::shared(config))).await.unwrap() });
        addr
    }

    async fn call(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let (m, p, b) = (method.to_string(), path.to_string(), body.to_string());
        let h: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        tokio::task::spawn_blocking(move || {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            http(addr, &m, &p, &h, &b)
        })
        .await
        .unwrap()
    }

    const JSON: (&str, &str) = ("content-type", "application/json");

    #[tokio::test(flavor = "multi_thread")]
    async fn the_routes_reach_each_marketplace_and_the_test_endpoints() {
        let config = Config {
            aliyun_secret: "s".into(),
            aliyun_items: serde_json::from_str(world::DEFAULT_ALIYUN_METERING_ITEMS).unwrap(),
            ..Config::default()
        };
        let addr = serve(config).await;
        let arn = "arn:aws:license-manager::111122223333:license:l-1";
        let mint = json!({"license_arn": arn, "aws_account_id": "111122223333", "product_code": "p"}).to_string();
        let (s, b) = call(addr, "POST", "/_emulator/registration-tokens", &[JSON], &mint).await;
        assert_eq!(s, 200, "{b}");
        let token = serde_json::from_str::<Value>(&b).unwrap()["token"].as_str().unwrap().to_string();
        let target = ("x-amz-target", "AWSMPMeteringService.ResolveCustomer");
        let (s, b) = call(addr, "POST", "/", &[target], &json!({"RegistrationToken": token}).to_string()).await;
        assert_eq!((s, serde_json::from_str::<Value>(&b).unwrap()["LicenseArn"].as_str()), (200, Some(arn)), "{b}");

        // Alibaba: Action and Metering in the query, the rest in a form body, all signed.
        let (s, _) = call(addr, "POST", "/_emulator/aliyun/instances", &[JSON], r#"{"instance_id":"i-1"}"#).await;
        assert_eq!(s, 204);
        let now = chrono::Utc::now().timestamp();
        let metering = json!([{"InstanceId": "i-1", "StartTime": now - 900, "EndTime": now - 300,
            "Entities": [{"Key": "Frequency", "Value": "3", "meteringAssit": "cmapi00000001-Frequency-1"}]}]);
        let mut p: BTreeMap<String, String> = [
            ("Action", "PushMeteringData"),
            ("Format", "JSON"),
            ("Version", "2015-11-01"),
            ("AccessKeyId", "id"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "n-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        p.insert("Timestamp".into(), chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        p.insert("Metering".into(), metering.to_string());
        p.insert("Signature".into(), aliyun::signature("s", "POST", &p));
        let enc = |k: &str| format!("{k}={}", aliyun::rpc_encode(&p[k]));
        let query = format!("/?{}&{}", enc("Action"), enc("Metering"));
        let form = [
            "Format",
            "Version",
            "AccessKeyId",
            "SignatureMethod",
            "SignatureVersion",
            "SignatureNonce",
            "Timestamp",
            "Signature",
        ]
        .map(enc)
        .join("&");
        let (s, b) = call(addr, "POST", &query, &[("content-type", "application/x-www-form-urlencoded")], &form).await;
        assert_eq!((s, serde_json::from_str::<Value>(&b).unwrap()["Success"].clone()), (200, json!(true)), "{b}");

        let usage = "/api/mkp-openapi-public/global/v1/isv/usage-data";
        let (s, b) = call(addr, "POST", usage, &[JSON], r#"{"usage_records":[]}"#).await;
        assert_eq!((s, b.contains("MKT.0154")), (401, true), "{b}");
        let (s, b) =
            call(addr, "GET", "/api/mkp-openapi-public/global/v1/order/query?orderId=MOCKONDEMAND", &[], "").await;
        assert_eq!((s, b.contains("APIGW.0301")), (401, true), "{b}");

        let (s, b) = call(addr, "GET", "/_emulator/metering?customer=instance:i-1", &[], "").await;
        let records = serde_json::from_str::<Value>(&b).unwrap()["records"].as_array().unwrap().len();
        assert_eq!((s, records), (200, 1), "{b}");
        let (s, b) = call(addr, "GET", "/_emulator/koogallery/abnormal", &[], "").await;
        assert_eq!((s, b.as_str()), (200, r#"{"abnormal":[]}"#));
        for (path, body) in [
            ("/_emulator/aws/licences", json!({"license_arn": arn, "aws_account_id": "1", "product_code": "p"})),
            ("/_emulator/koogallery/instances", json!({"instance_id": "h-1", "frozen": true})),
            ("/_emulator/koogallery/orders", json!({"order_id": "o", "order_line_id": "o-1", "customer_id": "c"})),
            ("/_emulator/unsubscribe", json!({"huawei_instance_id": "h-1", "instance_id": "i-1"})),
            ("/_emulator/faults", json!({"operation": "any", "mode": "error", "every": 5})),
            ("/_emulator/clock", json!({"scope": "p", "now": "2030-01-01T00:00:00Z"})),
            ("/_emulator/reset", json!({})),
        ] {
            assert_eq!(call(addr, "POST", path, &[JSON], &body.to_string()).await.0, 204, "{path}");
        }
        assert_eq!(call(addr, "DELETE", "/_emulator/faults?scope=p", &[], "").await.0, 204);
        let (_, b) = call(addr, "GET", "/_emulator/metering", &[], "").await;
        assert_eq!(b, r#"{"records":[]}"#, "reset forgets the ledger");
        assert_eq!(call(addr, "POST", "/_emulator/unsubscribe", &[JSON], "{}").await.0, 400);
    }
}
