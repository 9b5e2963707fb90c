//! Start-up, once per process: tracing, settings, SDK clients. Warm invocations reuse all.

use billing_adapters::config::{sdk_config, Settings, SettingsError};
use billing_adapters::metering::MeteringResolver;
use billing_adapters::ses::SesMailer;
use billing_adapters::DynamoStore;
use billing_domain::ports::SystemClock;
use billing_domain::service::Deps;
use std::sync::Arc;

/// JSON logs when Lambda asks for them (`AWS_LAMBDA_LOG_FORMAT=JSON`), each line carrying
/// the invocation's request id.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Everything a function needs, built from the environment. No network I/O happens here:
/// clients connect on first use.
pub struct Wired {
    pub deps: Deps,
    pub store: Arc<DynamoStore>,
    pub settings: Settings,
}

pub async fn wire() -> Result<Wired, SettingsError> {
    let settings = Settings::from_env()?;
    let sdk = sdk_config().await;
    Ok(wire_with(&sdk, settings))
}

/// Wiring from a given SDK configuration (tests point it at the local servers).
pub fn wire_with(sdk: &aws_config::SdkConfig, settings: Settings) -> Wired {
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), settings.table_name.clone()));
    let deps = Deps {
        accounts: store.clone(),
        attempts: store.clone(),
        outbox: store.clone(),
        marketplace: store.clone(),
        cancellations: store.clone(),
        mailer: Arc::new(SesMailer::new(aws_sdk_ses::Client::new(sdk), settings.sender_email.clone())),
        resolver: Arc::new(MeteringResolver::new(aws_sdk_marketplacemetering::Client::new(sdk))),
        clock: Arc::new(SystemClock),
        tokens: settings.token_key.clone(),
    };
    Wired { deps, store, settings }
}

/// When this invocation must have answered, less a margin: long work (a cancellation of
/// thousands of workspaces) stops there and the sweeper continues it.
pub fn invocation_deadline(ctx_deadline_ms: u64) -> std::time::Instant {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    std::time::Instant::now()
        + std::time::Duration::from_millis(ctx_deadline_ms.saturating_sub(now_ms).saturating_sub(5_000))
}
