//! Start-up, once per process (the composition root): settings read and checked, tracing,
//! the SDK clients and every adapter built, then the runtime's loop. Warm invocations reuse
//! all of it. No network I/O happens here: clients connect on first use, and the marketplaces'
//! HTTPS client is built on its first call (most functions never make one).

pub mod deadline;
pub mod run;
pub mod settings;

pub use run::{run_events, run_http, run_scheduled, start};
pub use settings::{Needs, Settings, SettingsError};

use billing_adapters::aliyun::AliyunMeter;
use billing_adapters::config::sdk_config;
use billing_adapters::https::Https;
use billing_adapters::koogallery::KooGalleryMeter;
use billing_adapters::metering::{AwsMeter, MeteringResolver};
use billing_adapters::ses::SesMailer;
use billing_adapters::DynamoStore;
use billing_domain::ports::SystemClock;
use billing_domain::service::{Deps, Meters};
use billing_http::App;
use std::sync::Arc;
use std::time::Instant;

/// Everything a function needs, built from its settings.
pub struct Wired {
    pub deps: Deps,
    pub store: Arc<DynamoStore>,
    pub settings: Settings,
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

/// Settings from the environment, then the wiring.
pub async fn wire(needs: Needs) -> Result<Wired, SettingsError> {
    let settings = Settings::from_env(needs)?;
    let sdk = sdk_config().await;
    Ok(wire_with(&sdk, settings))
}

/// Wiring from a given SDK configuration (tests point it at the local servers).
pub fn wire_with(sdk: &aws_config::SdkConfig, settings: Settings) -> Wired {
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), settings.table_name.clone()));
    let metering_client = aws_sdk_marketplacemetering::Client::new(sdk);
    let https = Https::new();
    let m = &settings.meters;
    let meters = Meters {
        aws: Arc::new(AwsMeter::new(metering_client.clone())),
        aliyun: Arc::new(AliyunMeter::new(https.clone(), m.aliyun_endpoint.clone(), m.aliyun_key.clone())),
        huawei: Arc::new(KooGalleryMeter::new(https, m.koogallery_endpoint.clone(), m.koogallery_key.clone())),
    };
    let deps = Deps {
        accounts: store.clone(),
        attempts: store.clone(),
        outbox: store.clone(),
        marketplace: store.clone(),
        cancellations: store.clone(),
        usage: store.clone(),
        metering: store.clone(),
        meters,
        mailer: Arc::new(SesMailer::new(aws_sdk_ses::Client::new(sdk), settings.sender_email.clone())),
        resolver: Arc::new(MeteringResolver::new(metering_client)),
        clock: Arc::new(SystemClock),
        tokens: settings.token_key.clone(),
    };
    Wired { deps, store, settings }
}
