//! Start-up, once per process: tracing, settings, SDK clients. Warm invocations reuse all.

use billing_adapters::aliyun::metering::AliyunMeter;
use billing_adapters::aws::metering::{AwsMeter, MeteringResolver};
use billing_adapters::config::{sdk_config, Settings, SettingsError};
use billing_adapters::https::Https;
use billing_adapters::koogallery::order_query::KooGalleryOrders;
use billing_adapters::koogallery::usage_push::KooGalleryMeter;
use billing_adapters::ses::SesMailer;
use billing_adapters::DynamoStore;
use billing_domain::ports::SystemClock;
use billing_domain::service::{Deps, Meters};
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
    wire_with(&sdk, settings)
}

/// Wiring from a given SDK configuration (tests point it at the local servers).
pub fn wire_with(sdk: &aws_config::SdkConfig, settings: Settings) -> Result<Wired, SettingsError> {
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), settings.table_name.clone()));
    let metering_client = billing_adapters::aws::metering::client(sdk);
    let https = Https::new();
    let (aliyun_endpoint, aliyun_key) = Settings::aliyun_market();
    let (koogallery_endpoint, koogallery_key) = Settings::koogallery_usage();
    let (orders_endpoint, orders_key) = Settings::koogallery_orders();
    let meters = Meters {
        aws: Arc::new(AwsMeter::new(metering_client.clone())),
        aliyun: Arc::new(AliyunMeter::new(
            https.clone(),
            aliyun_endpoint,
            aliyun_key,
            Settings::aliyun_metering_items()?,
        )),
        huawei: Arc::new(KooGalleryMeter::new(https.clone(), koogallery_endpoint, koogallery_key)),
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
        meters,
        mailer: Arc::new(SesMailer::new(aws_sdk_ses::Client::new(sdk), settings.sender_email.clone())),
        resolver: Arc::new(MeteringResolver::new(metering_client)),
        orders: Arc::new(KooGalleryOrders::new(https, orders_endpoint, orders_key)),
        clock: Arc::new(SystemClock),
        tokens: settings.token_key.clone(),
        exporters: Arc::new(settings.site_exporters.clone()),
    };
    Ok(Wired { deps, store, settings })
}

/// Lambda's limit on an invocation: a deadline further away than this is not a deadline.
const LONGEST_INVOCATION: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Work stops this long before the deadline, so the answer still leaves in time.
const MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// When this invocation must have answered, less a margin: long work (a cancellation of
/// thousands of workspaces) stops there and the sweeper continues it.
///
/// Lambda sends the deadline as epoch milliseconds. A value already past or implausibly far
/// (`cargo lambda watch` sends a relative 600000, which reads as 1970) is not a deadline: the
/// function's configured timeout (`FUNCTION_TIMEOUT_SECONDS`, set in template.yaml) stands
/// in for it.
pub fn invocation_deadline(ctx_deadline_ms: u64) -> std::time::Instant {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let left = std::time::Duration::from_millis(ctx_deadline_ms.saturating_sub(now_ms));
    let budget = if left.is_zero() || left > LONGEST_INVOCATION { configured_timeout() } else { left };
    std::time::Instant::now() + budget.saturating_sub(MARGIN).max(MARGIN)
}

fn configured_timeout() -> std::time::Duration {
    let secs = std::env::var("FUNCTION_TIMEOUT_SECONDS").ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(30);
    std::time::Duration::from_secs(secs.clamp(1, LONGEST_INVOCATION.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    fn epoch_ms_in(d: Duration) -> u64 {
        (SystemTime::now() + d).duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
    }

    #[test]
    fn an_epoch_deadline_is_kept_less_the_margin() {
        let d = invocation_deadline(epoch_ms_in(Duration::from_secs(60)));
        let left = d.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(55), "{left:?}");
    }

    #[test]
    fn a_relative_past_or_far_deadline_falls_back_to_the_configured_timeout() {
        // FUNCTION_TIMEOUT_SECONDS is unset in unit tests: the fallback is 30 s.
        for bogus in [600_000, 0, epoch_ms_in(Duration::from_secs(3600))] {
            let left = invocation_deadline(bogus).saturating_duration_since(Instant::now());
            assert!(left > Duration::from_secs(20) && left <= Duration::from_secs(25), "{bogus}: {left:?}");
        }
    }
}
