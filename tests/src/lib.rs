//! Test support: the real handlers wired to the real local servers that `make test`
//! starts (DynamoDB Local, moto, the Marketplace emulator), with a clock tests can move;
//! and the parts of the benchmark harness (`bench`).

pub mod bench;
pub mod emulator;
pub mod hosted;
pub mod money_check;
pub mod template;

use billing_domain::model::{CloudAccount, Edition, User, Workspace};
use billing_domain::ports::{Clock, CloudBinding, RegistrationWrite};
use billing_http::App;
use billing_wiring::{wire_with, Needs, Settings, Wired};
use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt};
use lambda_http::{Body, Request};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The secrets' values `.local/env` holds as the operator's and the marketplaces' copies
/// (scripts/lib.sh): tests sign as the marketplaces with them; functions never see them.
pub const SECRET_VALUE_VARS: &[&str] = &[
    "TOKEN_SIGNING_KEY",
    "ALIYUN_SPI_KEY",
    "ALIYUN_ACCESS_KEY_ID",
    "ALIYUN_ACCESS_KEY_SECRET",
    "HUAWEI_KOOGALLERY_KEY",
    "KOOGALLERY_ACCESS_KEY",
    "KOOGALLERY_SECRET_KEY",
];

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

/// The tests' own process logs as a function does (JSON lines, info and up unless RUST_LOG
/// says otherwise), to `$BILLING_LOG_DIR/tests/<test binary>-<pid>.log`: what the handlers
/// log in-process is in the log scan of `make test`, with the local stack's logs.
fn log_like_a_function() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(dir) = std::env::var("BILLING_LOG_DIR") else { return };
        let dir = std::path::Path::new(&dir).join("tests");
        let exe = std::env::current_exe().ok().and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
        let file = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::File::create(dir.join(format!("{}-{}.log", exe.unwrap_or_default(), std::process::id())))
        });
        if let Ok(file) = file {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            let _ = tracing_subscriber::fmt()
                .json()
                .with_env_filter(filter)
                .with_writer(std::sync::Mutex::new(file))
                .try_init();
        }
    });
}

fn require_env() {
    log_like_a_function();
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "the local stack's settings are missing: run the tests with `make test` (it starts the servers and loads .local/env)"
    );
}

pub struct Harness {
    pub app: App,
    /// The marketplaces' keys, read from moto's Secrets Manager as the webhook reads them.
    pub marketplace_keys: Option<billing_wiring::MarketplaceKeys>,
    pub clock: Arc<TestClock>,
    pub wired_sdk: aws_config::SdkConfig,
    /// The table this harness writes to.
    pub table: String,
}

impl Harness {
    pub async fn new() -> Self {
        require_env();
        let sdk = billing_adapters::config::sdk_config().await;
        Self::with_sdk(sdk)
    }

    /// Wiring from a given SDK configuration, e.g. one whose SES endpoint is down.
    pub fn with_sdk(sdk: aws_config::SdkConfig) -> Self {
        Self::wired(sdk, settings())
    }

    /// A harness on a table of its own, made from infra/table.json, for tests that read the
    /// whole table (a scan of the shared one grows with every run).
    pub async fn isolated() -> Self {
        require_env();
        let sdk = billing_adapters::config::sdk_config().await;
        let table = format!("t-{}", unique());
        create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await;
        let mut settings = settings();
        settings.table_name = table;
        Self::wired(sdk, settings)
    }

    fn wired(sdk: aws_config::SdkConfig, settings: Settings) -> Self {
        let table = settings.table_name.clone();
        let Wired { mut deps, store, marketplace_keys, .. } = wire_with(&sdk, settings);
        let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
        deps.clock = clock.clone();
        Self { app: App { deps, idempotency: store }, marketplace_keys, clock, wired_sdk: sdk, table }
    }

    pub fn deps(&self) -> &billing_domain::service::Deps {
        &self.app.deps
    }
}

/// The settings of a function that does everything, from `.local/env`: its secrets are read
/// from moto's Secrets Manager, where `make up` put them.
pub fn settings() -> Settings {
    Settings::from_env(Needs::ALL).expect("settings from .local/env")
}

/// A unique suffix so tests never share emails, phones or usernames.
pub fn unique() -> String {
    ulid::Ulid::new().to_string().to_lowercase()
}

pub fn unique_phone() -> String {
    format!("+86{:011}", ulid::Ulid::new().random() % 100_000_000_000)
}

pub fn request(method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> Request {
    let mut b = http::Request::builder().method(method).uri(format!("https://api.example.com{path}"));
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let body = body.map(|v| Body::Text(v.to_string())).unwrap_or(Body::Empty);
    b.body(body).unwrap()
}

pub fn raw(method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> Request {
    let mut b = http::Request::builder().method(method).uri(format!("https://api.example.com{path}"));
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
    let url = format!("{}/moto-api/data.json", std::env::var("MOTO_URL").expect("MOTO_URL"));
    let data: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["destinations"]["ToAddresses"].as_array().is_some_and(|a| a.iter().any(|x| x == to)))
        .collect()
}

/// Creates `table` as infra/table.json defines it (the definition template.yaml matches).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::*;
    let spec: Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/table.json"))).unwrap();
    let key = |k: &Value| {
        KeySchemaElement::builder()
            .attribute_name(k["AttributeName"].as_str().unwrap())
            .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
            .build()
            .unwrap()
    };
    let keys = |v: &Value| v.as_array().unwrap().iter().map(key).collect::<Vec<_>>();
    let mut req = client.create_table().table_name(table).billing_mode(BillingMode::PayPerRequest);
    for a in spec["AttributeDefinitions"].as_array().unwrap() {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(a["AttributeType"].as_str().unwrap()))
                .build()
                .unwrap(),
        );
    }
    req = req.set_key_schema(Some(keys(&spec["KeySchema"])));
    for g in spec["GlobalSecondaryIndexes"].as_array().unwrap() {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(g["IndexName"].as_str().unwrap())
                .set_key_schema(Some(keys(&g["KeySchema"])))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .unwrap(),
        );
    }
    req.send().await.unwrap();
}

/// Items of the harness's table whose attribute `name` equals `value` (a test-only scan:
/// use it on an `isolated` harness).
pub async fn items_where(
    h: &Harness,
    name: &str,
    value: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let client = aws_sdk_dynamodb::Client::new(&h.wired_sdk);
    let mut out = vec![];
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&h.table)
            .filter_expression("#n = :v")
            .expression_attribute_names("#n", name)
            .expression_attribute_values(":v", aws_sdk_dynamodb::types::AttributeValue::S(value.into()))
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

/// Calls a function's handler and returns status and JSON body.
#[macro_export]
macro_rules! call {
    ($f:path, $h:expr, $method:expr, $path:expr, $body:expr, $token:expr) => {
        $crate::parts($f(&$h.app, $crate::request($method, $path, $body, $token)).await)
    };
}

/// Registers and returns the response body.
pub async fn registered(app: &App, body: &Value) -> Value {
    let (s, b) = parts(register::handle(app, request("POST", "/v1/registrations", Some(body), None)).await);
    assert_eq!(s, 201, "{b}");
    b
}

pub fn token(v: &Value, which: &str) -> String {
    v[which]["token"].as_str().unwrap().to_string()
}

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

/// How a workspace settles now, read from the store.
pub async fn settlement_of(app: &App, workspace_id: &str) -> Option<billing_domain::model::Settlement> {
    app.deps.accounts.workspace(workspace_id).await.unwrap().unwrap().settlement
}

/// Cancellation notices (either language) that moto accepted for `to`.
pub async fn cancellation_mail(to: &str) -> Vec<Value> {
    mail_to(to)
        .await
        .into_iter()
        .filter(|m| {
            let subject = m["subject"].as_str().unwrap_or_default();
            subject.contains("Settlement changed") || subject.contains("结算方式变更")
        })
        .collect()
}

/// POSTs JSON to one of the emulator's test endpoints (`/_emulator/...`); its JSON answer.
async fn emulator_post(path: &str, body: &Value) -> Value {
    let emulator = std::env::var("EMULATOR_URL").expect("EMULATOR_URL");
    let r = reqwest::Client::new().post(format!("{emulator}{path}")).json(body).send().await.unwrap();
    assert!(r.status().is_success(), "emulator {path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
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

/// A user and a commercial workspace of `billing` settled by `cloud`, as a registration
/// writes them; `bind` also registers the account on the billing account, as a real binding does.
pub fn settled_registration(
    billing: &str,
    cloud: &CloudAccount,
    name: String,
    language: billing_domain::model::Language,
    password_hash: String,
    bind: bool,
) -> RegistrationWrite {
    let now = Utc::now();
    let u = unique();
    let user = User {
        id: format!("usr_{u}"),
        site: "cn1".into(),
        username: "seed".into(),
        email: format!("{u}@seed.example"),
        phone: unique_phone(),
        password_hash,
        created_at: now,
    };
    let workspace = Workspace {
        id: format!("ws_{u}"),
        name,
        language,
        site: "cn1".into(),
        edition: Edition::Commercial,
        owner_id: user.id.clone(),
        billing_account: Some(billing.to_string()),
        settlement: Some(cloud.settlement()),
        settlement_since: Some(now),
        last_settlement_change: None,
        version: 1,
        created_at: now,
    };
    let cloud = bind.then(|| CloudBinding { account: cloud.clone(), claim: None });
    let history = billing_domain::model::SettlementChange::of(
        &Workspace { settlement: None, ..workspace.clone() },
        &workspace,
        billing_domain::model::ChangeCause::Registration,
        format!("user:{}", user.id),
    );
    RegistrationWrite { user, workspace, billing: None, cloud, emails: vec![], history }
}

/// Writes `n` commercial workspaces of `billing` settled by `cloud`, through the store port.
pub async fn seed_workspaces(
    deps: &billing_domain::service::Deps,
    billing: &str,
    cloud: &CloudAccount,
    n: usize,
    language: billing_domain::model::Language,
) -> Vec<String> {
    let hash = billing_domain::crypto::password::hash("seeded-pass1");
    stream::iter(0..n)
        .map(|i| {
            let write = settled_registration(billing, cloud, format!("seeded {i}"), language, hash.clone(), i == 0);
            async move {
                deps.accounts.commit_registration(&write).await.unwrap();
                write.workspace.id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Writes `n` commercial workspaces of `billing` settled by enterprise since the start of the
/// month (as a commercial registration writes them, history included); returns their ids.
pub async fn seed_enterprise_workspaces(deps: &billing_domain::service::Deps, billing: &str, n: usize) -> Vec<String> {
    let hash = billing_domain::crypto::password::hash("seeded-pass1");
    let enterprise = CloudAccount {
        id: String::new(),
        platform: billing_domain::model::Platform::Aliyun,
        account_id: String::new(),
        instance_id: None,
        customer_identifier: None,
        product_code: None,
        license_arn: None,
        status: billing_domain::model::CloudStatus::Active,
        last_event_at: Utc::now(),
        cancelled_at: None,
        refused_at: None,
        opened_at: None,
        order: None,
        freezes: Vec::new(),
    };
    stream::iter(0..n)
        .map(|i| {
            let mut write = settled_registration(
                billing,
                &enterprise,
                format!("ws {i:03}"),
                billing_domain::model::Language::En,
                hash.clone(),
                false,
            );
            // Registered at the start of the month, as the workspaces of a month's bill are.
            let since = billing_domain::rules::usage::month_start(Utc::now());
            write.workspace.settlement = Some(billing_domain::model::Settlement::Enterprise);
            write.workspace.settlement_since = Some(since);
            write.workspace.created_at = since;
            write.workspace.site = "us1".into();
            write.user.site = "us1".into();
            if let Some(h) = write.history.as_mut() {
                h.to = billing_domain::model::Settlement::Enterprise;
                h.at = since;
            }
            async move {
                deps.accounts.commit_registration(&write).await.unwrap();
                write.workspace.id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Writes `n` billing accounts, each with one cn1 workspace settled by enterprise, registered
/// at `at` (as a commercial registration writes them, history included); returns
/// `(billing username, workspace id)` of each.
pub async fn seed_billing_accounts(
    deps: &billing_domain::service::Deps,
    n: usize,
    at: DateTime<Utc>,
) -> Vec<(String, String)> {
    use billing_domain::model::{BillingAccount, ChangeCause, Settlement, SettlementChange};
    use billing_domain::ports::BillingWrite;
    let hash = billing_domain::crypto::password::hash("seeded-pass1");
    let run = unique();
    stream::iter(0..n)
        .map(|i| {
            let u = format!("seed{run}-{i}");
            let user = User {
                id: format!("usr_{u}"),
                site: "cn1".into(),
                username: u.clone(),
                email: format!("{u}@seed.example"),
                phone: unique_phone(),
                password_hash: hash.clone(),
                created_at: at,
            };
            let workspace = Workspace {
                id: format!("ws_{u}"),
                name: format!("ws {i}"),
                language: if i % 2 == 0 {
                    billing_domain::model::Language::Zh
                } else {
                    billing_domain::model::Language::En
                },
                site: "cn1".into(),
                edition: Edition::Commercial,
                owner_id: user.id.clone(),
                billing_account: Some(u.clone()),
                settlement: Some(Settlement::Enterprise),
                settlement_since: Some(at),
                last_settlement_change: None,
                version: 1,
                created_at: at,
            };
            let account = BillingAccount {
                username: u.clone(),
                email: user.email.clone(),
                password_hash: hash.clone(),
                company: None,
                free_choice: false,
                created_at: at,
            };
            let history = SettlementChange::of(
                &Workspace { settlement: None, ..workspace.clone() },
                &workspace,
                ChangeCause::Registration,
                format!("user:{}", user.id),
            );
            let write = RegistrationWrite {
                user,
                workspace,
                billing: Some(BillingWrite::Create(account)),
                cloud: None,
                emails: vec![],
                history,
            };
            async move {
                deps.accounts.commit_registration(&write).await.unwrap();
                (u, write.workspace.id)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// `PUT .../free-choice` as API Gateway hands it over, with or without an IAM caller.
pub fn admin_request(username: &str, enabled: bool, iam: bool) -> lambda_http::Request {
    iam_request(
        "PUT",
        &format!("/v1/admin/billing-accounts/{username}/free-choice"),
        &serde_json::json!({"enabled": enabled}),
        iam,
    )
}

/// A request to an IAM-authorised route as API Gateway hands it over, with or without the
/// IAM caller (a customer manager's user) in its context.
pub fn iam_request(method: &str, path: &str, body: &Value, iam: bool) -> lambda_http::Request {
    let caller = iam.then_some("arn:aws:iam::123456789012:user/manager");
    iam_request_as(method, path, &body.to_string(), caller)
}

/// A request to an IAM-authorised route from the caller `user_arn` (none: no IAM context).
pub fn iam_request_as(method: &str, path: &str, body: &str, user_arn: Option<&str>) -> lambda_http::Request {
    use lambda_http::aws_lambda_events::apigw::*;
    use lambda_http::RequestExt;
    let req = raw(method, path, body, &[("content-type", "application/json")]);
    let mut ctx = ApiGatewayV2httpRequestContext::default();
    if let Some(arn) = user_arn {
        let mut auth = ApiGatewayRequestAuthorizer::default();
        let mut desc = ApiGatewayRequestAuthorizerIamDescription::default();
        desc.user_arn = Some(arn.to_string());
        auth.iam = Some(desc);
        ctx.authorizer = Some(auth);
    }
    req.with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(ctx))
}

/// The ARN API Gateway passes for a site's exporter, which assumed the role `<site>-exporter`
/// that `make up` allows for that site (`SITE_EXPORTERS`).
pub fn exporter_arn(site: &str) -> String {
    format!("arn:aws:sts::123456789012:assumed-role/{site}-exporter/exporter-session")
}

/// `POST /v1/usage` as the sites' exporters send it: each site's records (by their workspace;
/// cn1's exporter for records that name none) from that site's exporter, the answers merged
/// into one, indices as in `records`. Returns the status (the first that is not 200, if any)
/// and the merged body.
pub async fn report_usage(app: &App, records: &[Value]) -> (u16, Value) {
    let ids: Vec<String> = records
        .iter()
        .filter_map(|r| r["workspace_id"].as_str())
        .filter(|id| billing_domain::rules::fields::is_id(id))
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // A store that cannot answer (reliability kills it) leaves the route to answer for itself.
    let sites: std::collections::HashMap<String, String> =
        app.deps.accounts.workspaces(&ids).await.unwrap_or_default().into_iter().map(|w| (w.id, w.site)).collect();
    let mut by_site: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, r) in records.iter().enumerate() {
        let site = r["workspace_id"].as_str().and_then(|id| sites.get(id)).cloned().unwrap_or_else(|| "cn1".into());
        by_site.entry(site).or_default().push(i);
    }
    if by_site.len() <= 1 {
        let site = by_site.into_keys().next().unwrap_or_else(|| "cn1".into());
        return report_usage_as(app, &exporter_arn(&site), records).await;
    }
    let (mut status, mut accepted, mut duplicates, mut rejected) = (200, 0, 0, Vec::new());
    for (site, indices) in by_site {
        let batch: Vec<Value> = indices.iter().map(|i| records[*i].clone()).collect();
        let (s, b) = report_usage_as(app, &exporter_arn(&site), &batch).await;
        if s != 200 {
            return (s, b);
        }
        status = s;
        accepted += b["accepted"].as_u64().unwrap_or(0);
        duplicates += b["duplicates"].as_u64().unwrap_or(0);
        for mut r in b["rejected"].as_array().cloned().unwrap_or_default() {
            r["index"] = indices[r["index"].as_u64().unwrap() as usize].into();
            rejected.push(r);
        }
    }
    rejected.sort_by_key(|r| r["index"].as_u64());
    (status, serde_json::json!({"accepted": accepted, "duplicates": duplicates, "rejected": rejected}))
}

/// `POST /v1/usage` from the IAM caller `user_arn`; returns status and body.
pub async fn report_usage_as(app: &App, user_arn: &str, records: &[Value]) -> (u16, Value) {
    let body = serde_json::json!({ "records": records }).to_string();
    parts(usage::handle(app, iam_request_as("POST", "/v1/usage", &body, Some(user_arn))).await)
}

/// One usage record.
pub fn usage_record(id: &str, workspace_id: &str, item: &str, hour: DateTime<Utc>, quantity: &str) -> Value {
    serde_json::json!({"id": id, "workspace_id": workspace_id, "item": item,
                       "hour": hour.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "quantity": quantity})
}

/// `POST /v1/admin/billing-accounts/{username}/top-ups` (IAM).
pub async fn top_up(app: &App, username: &str, amount: &str, currency: &str, reference: &str) -> (u16, Value) {
    let body = serde_json::json!({"amount": amount, "currency": currency, "reference": reference});
    let req = iam_request("POST", &format!("/v1/admin/billing-accounts/{username}/top-ups"), &body, true);
    parts(admin::handle(app, req).await)
}

/// A fresh billing token by password (tokens last an hour; tests move the clock).
pub async fn billing_token(app: &App, username: &str) -> String {
    let body = serde_json::json!({"username": username, "password": "s3cret-pass"});
    let (s, b) = parts(login::handle(app, request("POST", "/v1/billing/sessions", Some(&body), None)).await);
    assert_eq!(s, 200, "{b}");
    b["token"].as_str().unwrap().to_string()
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
