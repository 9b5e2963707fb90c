//! The harness: the real handlers wired to the real local servers (settings from `.local/env`,
//! secrets from moto), a clock tests move, unique names, the table and the mail moto took.

use billing_domain::ports::Clock;
use billing_http::App;
use billing_wiring::{wire_with, Needs, Settings, Wired};
use chrono::{DateTime, Duration, Utc};
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
