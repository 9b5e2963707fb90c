//! The SDK's configuration. Endpoints come from the SDK's standard `AWS_ENDPOINT_URL_*`
//! variables, never from custom ones; the functions' settings are `billing-wiring`'s.

use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use std::time::Duration;

/// The shared SDK configuration. Timeouts are short because every caller is a request that
/// someone is waiting for; a slow dependency must fail fast into a retryable state.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .load()
        .await
}
