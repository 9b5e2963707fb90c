//! Every setting a function reads, read once at start-up and checked there: a function that
//! lacks one it needs does not start, and its init error names the variable.

use billing_adapters::aliyun::AliyunCredentials;
use billing_domain::crypto::token::TokenKey;
use std::time::Duration;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("setting {0} is missing")]
    Missing(&'static str),
    #[error("setting {0} is invalid: {1}")]
    Invalid(&'static str, &'static str),
}

/// What a function needs beyond the table and the mailer, so that each reads (and is
/// refused start-up without) only its own settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Reports usage to the marketplaces (the hourly run, final reports).
    pub meters: bool,
    /// Answers the marketplaces' calls: the Alibaba SPI and KooGallery keys, the AWS landing's
    /// registration page.
    pub marketplace_calls: bool,
}

impl Needs {
    pub const BASIC: Needs = Needs { meters: false, marketplace_calls: false };
    pub const METERING: Needs = Needs { meters: true, marketplace_calls: false };
    pub const WEBHOOK: Needs = Needs { meters: true, marketplace_calls: true };
}

/// The marketplaces' calls to us: what checks them and where a landing goes.
// No Debug: it holds keys.
#[derive(Clone)]
pub struct MarketplaceCalls {
    pub aliyun_spi_key: String,
    pub huawei_koogallery_key: String,
    pub registration_url: String,
}

/// Our calls to the marketplaces' usage APIs. Without a key a push answers "not configured":
/// its reports stay pending, visible in the reconciliation.
#[derive(Clone)]
pub struct Meters {
    pub aliyun_endpoint: String,
    pub aliyun_key: Option<AliyunCredentials>,
    pub koogallery_endpoint: String,
    pub koogallery_key: Option<(String, String)>,
}

#[derive(Clone)]
pub struct Settings {
    pub table_name: String,
    pub sender_email: String,
    pub token_key: TokenKey,
    /// Stands in for an invocation deadline that cannot be read (`FUNCTION_TIMEOUT_SECONDS`,
    /// equal to the function's `Timeout`).
    pub function_timeout: Duration,
    pub meters: Meters,
    /// Set for the functions that answer the marketplaces.
    pub marketplace_calls: Option<MarketplaceCalls>,
}

const ALIYUN_MARKET_ENDPOINT: &str = "https://market.aliyuncs.com/";
const KOOGALLERY_USAGE_ENDPOINT: &str = "https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/metering/usage";
/// Lambda's longest invocation.
const LONGEST_TIMEOUT_SECONDS: u64 = 15 * 60;

impl Settings {
    pub fn from_env(needs: Needs) -> Result<Self, SettingsError> {
        Self::from_lookup(needs, |name| std::env::var(name).ok())
    }

    /// The same from any source of variables (tests give a map).
    pub fn from_lookup(needs: Needs, get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let v = Vars(&get);
        let secret = v.required("TOKEN_SIGNING_KEY")?;
        let token_key = TokenKey::new(secret.as_bytes())
            .ok_or(SettingsError::Invalid("TOKEN_SIGNING_KEY", "must be at least 32 bytes"))?;
        Ok(Self {
            table_name: v.required("TABLE_NAME")?,
            sender_email: v.required("SENDER_EMAIL")?,
            token_key,
            function_timeout: v.timeout()?,
            meters: v.meters(needs.meters)?,
            marketplace_calls: if needs.marketplace_calls { Some(v.marketplace_calls()?) } else { None },
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

    /// A key made of two variables: both or neither.
    fn pair(&self, a: &'static str, b: &'static str) -> Result<Option<(String, String)>, SettingsError> {
        match (self.optional(a), self.optional(b)) {
            (Some(x), Some(y)) => Ok(Some((x, y))),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(SettingsError::Missing(a)),
            (Some(_), None) => Err(SettingsError::Missing(b)),
        }
    }

    fn meters(&self, needed: bool) -> Result<Meters, SettingsError> {
        let aliyun = self.pair("ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET")?;
        let koogallery_key = self.pair("KOOGALLERY_ACCESS_KEY", "KOOGALLERY_SECRET_KEY")?;
        Ok(Meters {
            aliyun_endpoint: self.url("ALIYUN_MARKET_ENDPOINT", ALIYUN_MARKET_ENDPOINT)?,
            aliyun_key: aliyun
                .filter(|_| needed)
                .map(|(access_key_id, access_key_secret)| AliyunCredentials { access_key_id, access_key_secret }),
            koogallery_endpoint: self.url("KOOGALLERY_USAGE_ENDPOINT", KOOGALLERY_USAGE_ENDPOINT)?,
            koogallery_key: koogallery_key.filter(|_| needed),
        })
    }

    fn marketplace_calls(&self) -> Result<MarketplaceCalls, SettingsError> {
        Ok(MarketplaceCalls {
            aliyun_spi_key: self.required("ALIYUN_SPI_KEY")?,
            huawei_koogallery_key: self.required("HUAWEI_KOOGALLERY_KEY")?,
            registration_url: self.url("REGISTRATION_URL", "")?,
        })
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

    const BASE: &[(&str, &str)] = &[
        ("TABLE_NAME", "t"),
        ("SENDER_EMAIL", "billing@example.com"),
        ("TOKEN_SIGNING_KEY", "0123456789abcdef0123456789abcdef"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    #[test]
    fn each_missing_variable_is_named() {
        for missing in ["TABLE_NAME", "SENDER_EMAIL", "TOKEN_SIGNING_KEY"] {
            let v: Vec<_> = BASE.iter().filter(|(k, _)| *k != missing).copied().collect();
            let e = Settings::from_lookup(Needs::BASIC, vars(&v)).err().unwrap();
            assert_eq!(e, SettingsError::Missing(missing));
            assert_eq!(e.to_string(), format!("setting {missing} is missing"));
        }
        let webhook = with(&[("ALIYUN_SPI_KEY", "k"), ("REGISTRATION_URL", "https://example.com/r")]);
        assert_eq!(
            Settings::from_lookup(Needs::WEBHOOK, vars(&webhook)).err().unwrap(),
            SettingsError::Missing("HUAWEI_KOOGALLERY_KEY")
        );
        let half = with(&[("ALIYUN_ACCESS_KEY_ID", "id")]);
        assert_eq!(
            Settings::from_lookup(Needs::METERING, vars(&half)).err().unwrap(),
            SettingsError::Missing("ALIYUN_ACCESS_KEY_SECRET")
        );
    }

    #[test]
    fn invalid_values_are_refused_with_the_variable_named() {
        let short = [("TABLE_NAME", "t"), ("SENDER_EMAIL", "s@example.com"), ("TOKEN_SIGNING_KEY", "short")];
        assert!(matches!(
            Settings::from_lookup(Needs::BASIC, vars(&short)).err(),
            Some(SettingsError::Invalid("TOKEN_SIGNING_KEY", _))
        ));
        for bad in ["0", "901", "ten"] {
            let v = with(&[("FUNCTION_TIMEOUT_SECONDS", bad)]);
            assert!(matches!(
                Settings::from_lookup(Needs::BASIC, vars(&v)).err(),
                Some(SettingsError::Invalid("FUNCTION_TIMEOUT_SECONDS", _))
            ));
        }
        let v = with(&[("ALIYUN_MARKET_ENDPOINT", "market.aliyuncs.com")]);
        assert!(matches!(
            Settings::from_lookup(Needs::METERING, vars(&v)).err(),
            Some(SettingsError::Invalid("ALIYUN_MARKET_ENDPOINT", _))
        ));
    }

    #[test]
    fn only_the_functions_that_need_them_read_the_marketplace_settings() {
        let s = Settings::from_lookup(Needs::BASIC, vars(BASE)).unwrap();
        assert!(s.marketplace_calls.is_none());
        assert_eq!(s.function_timeout, Duration::from_secs(30));
        assert_eq!(s.meters.aliyun_endpoint, ALIYUN_MARKET_ENDPOINT);
        let keyed = with(&[("ALIYUN_ACCESS_KEY_ID", "id"), ("ALIYUN_ACCESS_KEY_SECRET", "secret")]);
        assert!(Settings::from_lookup(Needs::BASIC, vars(&keyed)).unwrap().meters.aliyun_key.is_none());
        let m = Settings::from_lookup(Needs::METERING, vars(&keyed)).unwrap();
        assert_eq!(m.meters.aliyun_key.map(|k| k.access_key_id), Some("id".to_string()));
    }
}
