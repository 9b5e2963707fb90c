//! Start-up, once per process (the composition root): settings read and checked, tracing,
//! the SDK clients and every adapter built, then the runtime's loop. Warm invocations reuse
//! all of it. No network I/O happens here: clients connect on first use, and the marketplaces'
//! HTTPS client is built on its first call (most functions never make one).

pub mod deadline;
pub mod http_event;
pub mod keyed;
pub mod run;
pub mod settings;
pub mod telemetry;

pub use billing_adapters::secrets::{Secret, SecretError};
pub use run::{run_events, run_http, run_scheduled, start};
pub use settings::{Needs, SecretIds, Settings, SettingsError};

use billing_adapters::aliyun::metering::AliyunMeter;
use billing_adapters::aws::metering::{AwsMeter, MeteringResolver};
use billing_adapters::config::sdk_config;
use billing_adapters::https::Https;
use billing_adapters::koogallery::order_query::KooGalleryOrders;
use billing_adapters::koogallery::usage_push::KooGalleryMeter;
use billing_adapters::secrets::shape;
use billing_adapters::ses::SesMailer;
use billing_adapters::DynamoStore;
use billing_domain::ports::{MarketMeter, OrderQuery, SystemClock, TokenKeyring};
use billing_domain::service::{Deps, Meters};
use billing_http::App;
use keyed::{KeyedMeter, KeyedOrders, NoMeter, NoOrders, NoTokenKeys};
use std::sync::Arc;
use std::time::Instant;

/// Everything a function needs, built from its settings.
pub struct Wired {
    pub deps: Deps,
    pub store: Arc<DynamoStore>,
    pub settings: Settings,
    /// The keys the marketplaces sign their calls with, for the functions that answer them.
    pub marketplace_keys: Option<MarketplaceKeys>,
}

/// Read when a call first needs them (`Secret::get`).
pub struct MarketplaceKeys {
    pub aliyun_spi_key: Arc<Secret<String>>,
    pub huawei_koogallery_key: Arc<Secret<String>>,
}

impl Wired {
    /// This invocation's deadline (see [`deadline::invocation_deadline`]).
    pub fn deadline(&self, ctx_deadline_ms: u64) -> Instant {
        deadline::invocation_deadline(ctx_deadline_ms, self.settings.function_timeout)
    }
}

impl From<Wired> for App {
    fn from(w: Wired) -> Self {
        Self { deps: w.deps, idempotency: w.store }
    }
}

/// The wiring from settings, with the SDK's configuration from the environment.
pub async fn wire(settings: Settings) -> Wired {
    let sdk = sdk_config().await;
    wire_with(&sdk, settings)
}

/// Wiring from a given SDK configuration (tests point it at the local servers).
pub fn wire_with(sdk: &aws_config::SdkConfig, settings: Settings) -> Wired {
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), settings.table_name.clone()));
    let metering_client = billing_adapters::aws::metering::client(sdk);
    let ids = &settings.secrets;
    // Built only where a secret is read; it connects on the first read.
    let sm = (ids != &SecretIds::default()).then(|| aws_sdk_secretsmanager::Client::new(sdk));
    let secret = |id: &Option<String>| sm.as_ref().zip(id.as_ref()).map(|(c, id)| (c.clone(), id.clone()));
    let tokens: Arc<dyn TokenKeyring> = match secret(&ids.token_keys) {
        Some((c, id)) => Arc::new(Secret::new(c, id, shape::token_keys)),
        None => Arc::new(NoTokenKeys),
    };
    let marketplace_keys =
        secret(&ids.aliyun_spi_key).zip(secret(&ids.huawei_koogallery_key)).map(|(spi, hw)| MarketplaceKeys {
            aliyun_spi_key: Arc::new(Secret::new(spi.0, spi.1, shape::plain)),
            huawei_koogallery_key: Arc::new(Secret::new(hw.0, hw.1, shape::plain)),
        });
    let https = Https::new();
    let orders: Arc<dyn OrderQuery> = match secret(&ids.koogallery_ak_sk) {
        Some((c, id)) => {
            let (https, endpoint) =
                (https.for_call("huawei", "OrderQuery"), settings.koogallery_order_endpoint.clone());
            Arc::new(KeyedOrders::new(Secret::new(c, id, shape::ak_sk), move |key| {
                KooGalleryOrders::new(https.clone(), endpoint.clone(), Some(key.clone()))
            }))
        }
        None => Arc::new(NoOrders),
    };
    let deps = Deps {
        accounts: store.clone(),
        attempts: store.clone(),
        outbox: store.clone(),
        marketplace: store.clone(),
        cancellations: store.clone(),
        usage: store.clone(),
        bills: store.clone(),
        metering: store.clone(),
        meters: meters(
            &settings,
            &https,
            metering_client.clone(),
            secret(&ids.aliyun_market_key),
            secret(&ids.huawei_koogallery_key),
        ),
        mailer: Arc::new(SesMailer::new(aws_sdk_ses::Client::new(sdk), settings.sender_email.clone())),
        resolver: Arc::new(MeteringResolver::new(metering_client)),
        orders,
        clock: Arc::new(SystemClock),
        tokens,
        exporters: Arc::new(settings.site_exporters.clone()),
    };
    Wired { deps, store, settings, marketplace_keys }
}

type SecretAt = Option<(aws_sdk_secretsmanager::Client, String)>;

/// AWS's meter signs with the function's role; Alibaba's and KooGallery's with keys read
/// when a push first needs them. Both share one HTTPS client, built on its first call.
fn meters(
    settings: &Settings,
    https: &Https,
    metering_client: aws_sdk_marketplacemetering::Client,
    aliyun_key: SecretAt,
    koogallery_key: SecretAt,
) -> Meters {
    let aliyun: Arc<dyn MarketMeter> = match aliyun_key {
        Some((c, id)) => {
            let (https, endpoint) =
                (https.for_call("aliyun", "PushMeteringData"), settings.aliyun_market_endpoint.clone());
            let items = settings.aliyun_metering_items.clone();
            Arc::new(KeyedMeter::new(Secret::new(c, id, shape::aliyun_access_key), move |key| {
                Arc::new(AliyunMeter::new(https.clone(), endpoint.clone(), Some(key.clone()), items.clone()))
            }))
        }
        None => Arc::new(NoMeter),
    };
    let huawei: Arc<dyn MarketMeter> = match koogallery_key {
        Some((c, id)) => {
            let (https, endpoint) = (https.for_call("huawei", "UsagePush"), settings.koogallery_usage_endpoint.clone());
            Arc::new(KeyedMeter::new(Secret::new(c, id, shape::plain), move |key: &String| {
                Arc::new(KooGalleryMeter::new(https.clone(), endpoint.clone(), Some(key.clone())))
            }))
        }
        None => Arc::new(NoMeter),
    };
    Meters { aws: Arc::new(AwsMeter::new(metering_client)), aliyun, huawei }
}
