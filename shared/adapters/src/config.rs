//! Settings read once at start-up. Endpoints come from the SDK's standard
//! `AWS_ENDPOINT_URL_*` variables, never from custom ones.

use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use billing_domain::crypto::token::TokenKey;
use billing_domain::rules::exporters::SiteExporters;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("setting {0} is missing")]
    Missing(&'static str),
    #[error("setting {0} is invalid: {1}")]
    Invalid(&'static str, &'static str),
    #[error("setting {0} is invalid: {1}")]
    InvalidBecause(&'static str, String),
}

fn var(name: &'static str) -> Result<String, SettingsError> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or(SettingsError::Missing(name))
}

/// What the functions need from their environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub table_name: String,
    pub sender_email: String,
    pub token_key: TokenKey,
    /// `SITE_EXPORTERS`: site → IAM role names allowed to report its usage. Unset, no caller
    /// may report (only the `usage` function is given it).
    pub site_exporters: SiteExporters,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        let secret = var("TOKEN_SIGNING_KEY")?;
        Ok(Self {
            table_name: var("TABLE_NAME")?,
            sender_email: var("SENDER_EMAIL")?,
            token_key: TokenKey::new(secret.as_bytes())
                .ok_or(SettingsError::Invalid("TOKEN_SIGNING_KEY", "must be at least 32 bytes"))?,
            site_exporters: match var("SITE_EXPORTERS") {
                Ok(json) => {
                    SiteExporters::parse(&json).map_err(|e| SettingsError::InvalidBecause("SITE_EXPORTERS", e))?
                }
                Err(_) => SiteExporters::default(),
            },
        })
    }

    /// The secret the Alibaba marketplace signs SPI calls with.
    pub fn aliyun_spi_key() -> Result<String, SettingsError> {
        var("ALIYUN_SPI_KEY")
    }

    /// The key KooGallery signs its calls with and checks our answers by (HUAWEI_KOOGALLERY_KEY).
    pub fn huawei_koogallery_key() -> Result<String, SettingsError> {
        var("HUAWEI_KOOGALLERY_KEY")
    }

    /// KooGallery's usage push (`KOOGALLERY_USAGE_ENDPOINT`, its published address unless set),
    /// signed with the seller's key (the one KooGallery signs its calls with).
    pub fn koogallery_usage() -> (String, Option<String>) {
        let endpoint = std::env::var("KOOGALLERY_USAGE_ENDPOINT").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            "https://mkt-intl.myhuaweicloud.com/api/mkp-openapi-public/global/v1/isv/usage-data".into()
        });
        (endpoint, var("HUAWEI_KOOGALLERY_KEY").ok())
    }

    /// KooGallery's order query (`KOOGALLERY_ORDER_ENDPOINT`, its published address unless set)
    /// and the AK/SK it is signed with (`KOOGALLERY_ACCESS_KEY`, `KOOGALLERY_SECRET_KEY`).
    pub fn koogallery_orders() -> (String, Option<(String, String)>) {
        let endpoint = std::env::var("KOOGALLERY_ORDER_ENDPOINT").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            "https://mkt-intl.myhuaweicloud.com/api/mkp-openapi-public/global/v1/order/query".into()
        });
        let key = match (var("KOOGALLERY_ACCESS_KEY"), var("KOOGALLERY_SECRET_KEY")) {
            (Ok(ak), Ok(sk)) => Some((ak, sk)),
            _ => None,
        };
        (endpoint, key)
    }

    /// Each billing item's metering item on the Alibaba Cloud product (`ALIYUN_METERING_ITEMS`,
    /// `{"<item>": "<meteringAssit>"}`). Unset, nothing can be pushed: reports stay pending.
    pub fn aliyun_metering_items() -> Result<crate::aliyun::metering::MeteringItems, SettingsError> {
        match var("ALIYUN_METERING_ITEMS") {
            Ok(json) => crate::aliyun::metering::MeteringItems::parse(&json).map_err(|_| {
                SettingsError::Invalid("ALIYUN_METERING_ITEMS", "must map billing items to metering items of their key")
            }),
            Err(_) => Ok(Default::default()),
        }
    }

    pub fn registration_url() -> Result<String, SettingsError> {
        var("REGISTRATION_URL")
    }

    /// Alibaba Cloud Marketplace's API (`ALIYUN_MARKET_ENDPOINT`, its public endpoint unless
    /// set) and the AccessKey the metering push is signed with (`ALIYUN_ACCESS_KEY_ID`,
    /// `ALIYUN_ACCESS_KEY_SECRET`, from Secrets Manager). Without a key the push answers
    /// "not configured": reports stay pending, visible in the reconciliation.
    pub fn aliyun_market() -> (String, Option<crate::aliyun::metering::AliyunCredentials>) {
        let endpoint = std::env::var("ALIYUN_MARKET_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "https://market.aliyuncs.com/".into());
        let credentials = match (var("ALIYUN_ACCESS_KEY_ID"), var("ALIYUN_ACCESS_KEY_SECRET")) {
            (Ok(access_key_id), Ok(access_key_secret)) => {
                Some(crate::aliyun::metering::AliyunCredentials { access_key_id, access_key_secret })
            }
            _ => None,
        };
        (endpoint, credentials)
    }
}

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
