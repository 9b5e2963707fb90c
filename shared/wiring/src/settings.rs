//! Every setting a function reads, read once at start-up and checked there: a function that
//! lacks one it needs does not start, and its init error names the variable.

use billing_adapters::aliyun::metering::MeteringItems;
use billing_domain::rules::exporters::SiteExporters;
use std::time::Duration;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("setting {0} is missing")]
    Missing(&'static str),
    #[error("setting {0} is invalid: {1}")]
    Invalid(&'static str, &'static str),
    #[error("setting {0} is invalid: {1}")]
    InvalidBecause(&'static str, String),
}

/// What a function needs beyond the table and the mailer, so that each reads (and is
/// refused start-up without) only its own settings, and reads only its own secrets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Issues or checks session tokens: the token signing keys.
    pub tokens: bool,
    /// Reports usage to the marketplaces (the hourly run, final reports): their push keys.
    pub meters: bool,
    /// Answers the marketplaces' calls: the Alibaba SPI and KooGallery keys, the AWS landing's
    /// registration page.
    pub marketplace_calls: bool,
    /// Asks KooGallery's order query who bought an instance: its AK/SK.
    pub orders: bool,
    /// Takes the sites' usage: which IAM roles report for which site (`SITE_EXPORTERS`).
    pub exporters: bool,
}

impl Needs {
    pub const BASIC: Needs =
        Needs { tokens: false, meters: false, marketplace_calls: false, orders: false, exporters: false };
    pub const TOKENS: Needs = Needs { tokens: true, ..Needs::BASIC };
    /// Registration, upgrade and settlement changes bind cloud accounts: a KooGallery instance
    /// whose buyer is not known yet is asked of the order query first.
    pub const BINDING: Needs = Needs { tokens: true, orders: true, ..Needs::BASIC };
    pub const METERING: Needs = Needs { meters: true, ..Needs::BASIC };
    pub const WEBHOOK: Needs = Needs { meters: true, marketplace_calls: true, orders: true, ..Needs::BASIC };
    /// The sweeper asks again for the buyers KooGallery's order query could not name.
    pub const SWEEPER: Needs = Needs { orders: true, ..Needs::BASIC };
    pub const USAGE: Needs = Needs { exporters: true, ..Needs::BASIC };
    pub const ALL: Needs = Needs { tokens: true, meters: true, marketplace_calls: true, orders: true, exporters: true };
}

/// Where each secret a function reads lives in Secrets Manager (a name or ARN): the values
/// are read at run time, when first needed, never from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretIds {
    /// `TOKEN_KEYS_SECRET`: `{"current": {"id", "key"}, "previous"?: {"id", "key"}}`.
    pub token_keys: Option<String>,
    /// `ALIYUN_SPI_KEY_SECRET`: the key the Alibaba marketplace signs SPI calls with.
    pub aliyun_spi_key: Option<String>,
    /// `ALIYUN_MARKET_KEY_SECRET`: `{"access_key_id", "access_key_secret"}`, signs metering pushes.
    pub aliyun_market_key: Option<String>,
    /// `HUAWEI_KOOGALLERY_KEY_SECRET`: the seller key KooGallery signs its calls with; the usage
    /// push is signed with it too ("Usage Push (New)": the interconnection key).
    pub huawei_koogallery_key: Option<String>,
    /// `KOOGALLERY_AK_SK_SECRET`: `{"ak", "sk"}`, a Huawei Cloud access key pair that signs the
    /// order query.
    pub koogallery_ak_sk: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub table_name: String,
    pub sender_email: String,
    /// Stands in for an invocation deadline that cannot be read (`FUNCTION_TIMEOUT_SECONDS`,
    /// equal to the function's `Timeout`).
    pub function_timeout: Duration,
    /// Alibaba Cloud Marketplace's API (`ALIYUN_MARKET_ENDPOINT`).
    pub aliyun_market_endpoint: String,
    /// Each billing item's metering item on the Alibaba Cloud product (`ALIYUN_METERING_ITEMS`,
    /// `{"<item>": "<meteringAssit>"}`). Unset, nothing can be pushed: reports stay pending.
    pub aliyun_metering_items: MeteringItems,
    /// KooGallery's usage push (`KOOGALLERY_USAGE_ENDPOINT`).
    pub koogallery_usage_endpoint: String,
    /// KooGallery's order query (`KOOGALLERY_ORDER_ENDPOINT`).
    pub koogallery_order_endpoint: String,
    /// `SITE_EXPORTERS`: site → IAM role names allowed to report its usage. Unset, no caller
    /// may report.
    pub site_exporters: SiteExporters,
    /// Where the AWS landing sends a buyer (`REGISTRATION_URL`), for the functions that answer
    /// the marketplaces.
    pub registration_url: Option<String>,
    /// The CloudWatch namespace of the business metrics (`METRICS_NAMESPACE`, `BillingCenter`
    /// unless set).
    pub metrics_namespace: String,
    pub secrets: SecretIds,
}

const ALIYUN_MARKET_ENDPOINT: &str = "https://market.aliyuncs.com/";
/// "Usage Push (New)" (topic_0070649117).
const KOOGALLERY_USAGE_ENDPOINT: &str =
    "https://mkt-intl.myhuaweicloud.com/api/mkp-openapi-public/global/v1/isv/usage-data";
/// "Querying an Order" (topic_0070649350).
const KOOGALLERY_ORDER_ENDPOINT: &str =
    "https://mkt-intl.myhuaweicloud.com/api/mkp-openapi-public/global/v1/order/query";
/// Lambda's longest invocation.
const LONGEST_TIMEOUT_SECONDS: u64 = 15 * 60;

impl Settings {
    pub fn from_env(needs: Needs) -> Result<Self, SettingsError> {
        Self::from_lookup(needs, |name| std::env::var(name).ok())
    }

    /// The same from any source of variables (tests give a map).
    pub fn from_lookup(needs: Needs, get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let v = Vars(&get);
        let when = |needed: bool, name: &'static str| if needed { v.required(name).map(Some) } else { Ok(None) };
        let calls = needs.marketplace_calls;
        Ok(Self {
            table_name: v.required("TABLE_NAME")?,
            sender_email: v.required("SENDER_EMAIL")?,
            function_timeout: v.timeout()?,
            aliyun_market_endpoint: v.url("ALIYUN_MARKET_ENDPOINT", ALIYUN_MARKET_ENDPOINT)?,
            aliyun_metering_items: match v.optional("ALIYUN_METERING_ITEMS") {
                Some(json) if needs.meters => MeteringItems::parse(&json).map_err(|_| {
                    SettingsError::Invalid(
                        "ALIYUN_METERING_ITEMS",
                        "must map billing items to metering items of their key",
                    )
                })?,
                _ => MeteringItems::default(),
            },
            koogallery_usage_endpoint: v.url("KOOGALLERY_USAGE_ENDPOINT", KOOGALLERY_USAGE_ENDPOINT)?,
            koogallery_order_endpoint: v.url("KOOGALLERY_ORDER_ENDPOINT", KOOGALLERY_ORDER_ENDPOINT)?,
            site_exporters: match v.optional("SITE_EXPORTERS") {
                Some(json) if needs.exporters => {
                    SiteExporters::parse(&json).map_err(|e| SettingsError::InvalidBecause("SITE_EXPORTERS", e))?
                }
                _ => SiteExporters::default(),
            },
            registration_url: match when(calls, "REGISTRATION_URL")? {
                Some(u) => Some(v.url("REGISTRATION_URL", &u)?),
                None => None,
            },
            metrics_namespace: v.optional("METRICS_NAMESPACE").unwrap_or_else(|| "BillingCenter".into()),
            secrets: SecretIds {
                token_keys: when(needs.tokens, "TOKEN_KEYS_SECRET")?,
                aliyun_spi_key: when(calls, "ALIYUN_SPI_KEY_SECRET")?,
                aliyun_market_key: when(needs.meters, "ALIYUN_MARKET_KEY_SECRET")?,
                // Signs KooGallery's answers and its usage push.
                huawei_koogallery_key: when(calls || needs.meters, "HUAWEI_KOOGALLERY_KEY_SECRET")?,
                koogallery_ak_sk: when(needs.orders, "KOOGALLERY_AK_SK_SECRET")?,
            },
        })
    }
}

struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn optional(&self, name: &'static str) -> Option<String> {
        (self.0)(name).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, SettingsError> {
        self.optional(name).ok_or(SettingsError::Missing(name))
    }

    fn url(&self, name: &'static str, default: &str) -> Result<String, SettingsError> {
        let url = self.optional(name).unwrap_or_else(|| default.to_string());
        if url.starts_with("https://") || url.starts_with("http://") {
            Ok(url)
        } else {
            Err(SettingsError::Invalid(name, "must be an http(s) URL"))
        }
    }

    fn timeout(&self) -> Result<Duration, SettingsError> {
        const NAME: &str = "FUNCTION_TIMEOUT_SECONDS";
        match self.optional(NAME) {
            None => Ok(Duration::from_secs(30)),
            Some(v) => match v.parse::<u64>() {
                Ok(s) if (1..=LONGEST_TIMEOUT_SECONDS).contains(&s) => Ok(Duration::from_secs(s)),
                _ => Err(SettingsError::Invalid(NAME, "must be a whole number of seconds from 1 to 900")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| m.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[("TABLE_NAME", "t"), ("SENDER_EMAIL", "billing@example.com")];
    const SECRETS: &[(&str, &str)] = &[
        ("TOKEN_KEYS_SECRET", "billing-center/token-signing-key"),
        ("ALIYUN_SPI_KEY_SECRET", "billing-center/aliyun-spi-key"),
        ("ALIYUN_MARKET_KEY_SECRET", "billing-center/aliyun-market-access-key"),
        ("HUAWEI_KOOGALLERY_KEY_SECRET", "billing-center/huawei-koogallery-key"),
        ("KOOGALLERY_AK_SK_SECRET", "billing-center/koogallery-ak-sk"),
        ("REGISTRATION_URL", "https://example.com/register"),
    ];

    fn all() -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(SECRETS).copied().collect()
    }

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        all().into_iter().filter(|(k, _)| *k != name).collect()
    }

    #[test]
    fn each_missing_variable_a_function_needs_is_named() {
        let cases = [
            (Needs::BASIC, "TABLE_NAME"),
            (Needs::BASIC, "SENDER_EMAIL"),
            (Needs::TOKENS, "TOKEN_KEYS_SECRET"),
            (Needs::METERING, "ALIYUN_MARKET_KEY_SECRET"),
            (Needs::METERING, "HUAWEI_KOOGALLERY_KEY_SECRET"),
            (Needs::SWEEPER, "KOOGALLERY_AK_SK_SECRET"),
            (Needs::WEBHOOK, "KOOGALLERY_AK_SK_SECRET"),
            (Needs::BINDING, "KOOGALLERY_AK_SK_SECRET"),
            (Needs::BINDING, "TOKEN_KEYS_SECRET"),
            (Needs::WEBHOOK, "ALIYUN_SPI_KEY_SECRET"),
            (Needs::WEBHOOK, "HUAWEI_KOOGALLERY_KEY_SECRET"),
            (Needs::WEBHOOK, "REGISTRATION_URL"),
        ];
        for (needs, missing) in cases {
            let e = Settings::from_lookup(needs, vars(&without(missing))).unwrap_err();
            assert_eq!(e, SettingsError::Missing(missing));
            assert_eq!(e.to_string(), format!("setting {missing} is missing"));
        }
    }

    #[test]
    fn invalid_values_are_refused_with_the_variable_named() {
        for bad in ["0", "901", "ten"] {
            let v: Vec<_> = all().into_iter().chain([("FUNCTION_TIMEOUT_SECONDS", bad)]).collect();
            assert!(matches!(
                Settings::from_lookup(Needs::BASIC, vars(&v)),
                Err(SettingsError::Invalid("FUNCTION_TIMEOUT_SECONDS", _))
            ));
        }
        let v: Vec<_> = all().into_iter().chain([("SITE_EXPORTERS", "[1]")]).collect();
        assert!(matches!(
            Settings::from_lookup(Needs::USAGE, vars(&v)),
            Err(SettingsError::InvalidBecause("SITE_EXPORTERS", _))
        ));
        let v: Vec<_> = all().into_iter().chain([("ALIYUN_METERING_ITEMS", "{")]).collect();
        assert!(matches!(
            Settings::from_lookup(Needs::METERING, vars(&v)),
            Err(SettingsError::Invalid("ALIYUN_METERING_ITEMS", _))
        ));
        for name in ["ALIYUN_MARKET_ENDPOINT", "KOOGALLERY_ORDER_ENDPOINT", "REGISTRATION_URL"] {
            let v: Vec<_> = without(name).into_iter().chain([(name, "example.com/x")]).collect();
            assert!(
                matches!(Settings::from_lookup(Needs::WEBHOOK, vars(&v)), Err(SettingsError::Invalid(n, _)) if n == name)
            );
        }
    }

    #[test]
    fn a_function_reads_only_the_secrets_it_needs() {
        let basic = Settings::from_lookup(Needs::BASIC, vars(&all())).unwrap();
        assert_eq!(basic.secrets, SecretIds::default());
        assert_eq!(basic.registration_url, None);
        assert_eq!(basic.function_timeout, Duration::from_secs(30));
        assert_eq!(basic.aliyun_market_endpoint, ALIYUN_MARKET_ENDPOINT);
        let tokens = Settings::from_lookup(Needs::TOKENS, vars(&all())).unwrap().secrets;
        assert_eq!(
            tokens,
            SecretIds { token_keys: Some("billing-center/token-signing-key".into()), ..SecretIds::default() }
        );
        let metering = Settings::from_lookup(Needs::METERING, vars(&all())).unwrap().secrets;
        assert_eq!((metering.token_keys, metering.aliyun_spi_key, metering.koogallery_ak_sk), (None, None, None));
        assert!(metering.aliyun_market_key.is_some() && metering.huawei_koogallery_key.is_some());
        let sweeper = Settings::from_lookup(Needs::SWEEPER, vars(&all())).unwrap().secrets;
        assert_eq!(
            sweeper,
            SecretIds { koogallery_ak_sk: Some("billing-center/koogallery-ak-sk".into()), ..SecretIds::default() }
        );
        let webhook = Settings::from_lookup(Needs::WEBHOOK, vars(&all())).unwrap();
        assert_eq!(webhook.secrets.token_keys, None);
        assert!(webhook.secrets.aliyun_spi_key.is_some() && webhook.secrets.huawei_koogallery_key.is_some());
        assert_eq!(webhook.registration_url.as_deref(), Some("https://example.com/register"));
    }
}
