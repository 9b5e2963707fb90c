//! Test support: the real handlers wired to the real local servers that `make test`
//! starts (DynamoDB Local, moto, the Marketplace emulator), with a clock tests can move.

use billing_domain::ports::Clock;
use billing_http::startup::{wire_with, Wired};
use billing_http::App;
use chrono::{DateTime, Duration, Utc};
use lambda_http::{Body, Request};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// A clock tests move by hand (token expiry, login windows, the monthly change limit).
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn require_env() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "the local stack's settings are missing: run the tests with `make test` (it starts the servers and loads .local/env)"
    );
}

pub struct Harness {
    pub app: App,
    pub clock: Arc<TestClock>,
    pub wired_sdk: aws_config::SdkConfig,
}

impl Harness {
    pub async fn new() -> Self {
        require_env();
        let sdk = billing_adapters::config::sdk_config().await;
        Self::with_sdk(sdk)
    }

    /// Wiring from a given SDK configuration, e.g. one whose SES endpoint is down.
    pub fn with_sdk(sdk: aws_config::SdkConfig) -> Self {
        let settings = billing_adapters::Settings::from_env().expect("settings from .local/env");
        let Wired {
            mut deps, store, ..
        } = wire_with(&sdk, settings);
        let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
        deps.clock = clock.clone();
        Self {
            app: App {
                deps,
                idempotency: store,
            },
            clock,
            wired_sdk: sdk,
        }
    }

    pub fn deps(&self) -> &billing_domain::service::Deps {
        &self.app.deps
    }
}

/// A unique suffix so tests never share emails, phones or usernames.
pub fn unique() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

pub fn unique_phone() -> String {
    format!("+86{:011}", ulid::Ulid::new().random() % 100_000_000_000)
}

pub fn request(method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> Request {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let body = body
        .map(|v| Body::Text(v.to_string()))
        .unwrap_or(Body::Empty);
    b.body(body).unwrap()
}

pub fn raw(method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Request {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::Text(body.to_string())).unwrap()
}

/// Status and JSON body of a response.
pub fn parts(r: billing_http::HttpResponse) -> (u16, Value) {
    let status = r.status().as_u16();
    let v = match r.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::String(t.clone())),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, v)
}

/// A valid free registration for `site`.
pub fn free_registration(site: &str) -> Value {
    let u = unique();
    serde_json::json!({
        "edition": "free", "site": site, "username": format!("user{u}"),
        "email": format!("{u}@example.com"), "phone": unique_phone(), "password": "s3cret-pass",
        "workspace": {"name": format!("ws {u}"), "language": "zh"}
    })
}

/// A valid commercial registration (enterprise settlement, new billing account).
pub fn commercial_registration(site: &str) -> Value {
    let mut v = free_registration(site);
    v["edition"] = "commercial".into();
    v["company"] = serde_json::json!({"name": "Acme 有限公司"});
    v["accept_agreement"] = true.into();
    v
}

/// Mail that moto accepted for `to`.
pub async fn mail_to(to: &str) -> Vec<Value> {
    let url = format!(
        "{}/moto-api/data.json",
        std::env::var("MOTO_URL").expect("MOTO_URL")
    );
    let data: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == to))
        })
        .collect()
}

/// Items of the table whose attribute `name` equals `value` (a test-only scan).
pub async fn items_where(
    h: &Harness,
    name: &str,
    value: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(&h.wired_sdk);
    let table = std::env::var("TABLE_NAME").unwrap();
    let mut out = vec![];
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&table)
            .filter_expression("#n = :v")
            .expression_attribute_names("#n", name)
            .expression_attribute_values(
                ":v",
                aws_sdk_dynamodb::types::AttributeValue::S(value.into()),
            )
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        out.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return out,
        }
    }
}
