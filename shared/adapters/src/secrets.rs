//! Secrets read at run time from Secrets Manager (`GetSecretValue`), when a function first
//! needs one, and kept for [`Timing::ttl`]: nothing secret sits in a function's environment,
//! and a rotated value is picked up within the TTL (the token keys at once, see `reload`).
//!
//! AWS's `aws_secretsmanager_caching` crate would do the caching, but it depends on the SDK
//! with its default features, which link a second HTTP/TLS stack (hyper 0.14, rustls 0.21)
//! and the SSO clients; this is the small part of it the functions need, on the one stack.

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use billing_domain::crypto::token::TokenKeys;
use billing_domain::ports::TokenKeyring;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a secret is not in hand. Never carries the secret's value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id} could not be read: {reason}")]
    Unavailable { id: String, reason: String },
    #[error("secret {id} is not in its expected shape: {reason}")]
    Malformed { id: String, reason: String },
}

impl From<SecretError> for billing_domain::Error {
    fn from(e: SecretError) -> Self {
        billing_domain::Error::internal(e)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A value read is used this long, then read again.
    pub ttl: Duration,
    /// After a failed read, the value in hand (if any) is used this long before trying again.
    pub retry_after_failure: Duration,
    /// `reload` reads again only if the value in hand is at least this old.
    pub min_reload: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            retry_after_failure: Duration::from_secs(10),
            min_reload: Duration::from_secs(10),
        }
    }
}

struct State<T> {
    value: Option<Arc<T>>,
    read_at: Option<Instant>,
    failed_at: Option<Instant>,
}

/// One secret, read when first needed and cached. One reader at a time: concurrent callers
/// wait for the read in flight instead of starting their own.
pub struct Secret<T> {
    id: String,
    client: aws_sdk_secretsmanager::Client,
    parse: fn(&str) -> Result<T, String>,
    timing: Timing,
    state: tokio::sync::Mutex<State<T>>,
}

impl<T: Send + Sync> Secret<T> {
    /// `id` is the secret's name or ARN; `parse` turns its `SecretString` into a value and
    /// must not quote the string in its error.
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        id: impl Into<String>,
        parse: fn(&str) -> Result<T, String>,
    ) -> Self {
        let state = State { value: None, read_at: None, failed_at: None };
        Self { id: id.into(), client, parse, timing: Timing::default(), state: tokio::sync::Mutex::new(state) }
    }

    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The value, read now if there is none in hand or it is older than the TTL. When a read
    /// fails, the value in hand (if any) is used and the read tried again a little later.
    pub async fn get(&self) -> Result<Arc<T>, SecretError> {
        let mut st = self.state.lock().await;
        let fresh = st.read_at.is_some_and(|t| t.elapsed() < self.timing.ttl);
        let resting = st.failed_at.is_some_and(|t| t.elapsed() < self.timing.retry_after_failure);
        match &st.value {
            Some(v) if fresh || resting => Ok(v.clone()),
            _ => self.read_into(&mut st).await,
        }
    }

    /// The value read again, unless the one in hand was read moments ago.
    pub async fn reload(&self) -> Result<Arc<T>, SecretError> {
        let mut st = self.state.lock().await;
        let recent = st.read_at.is_some_and(|t| t.elapsed() < self.timing.min_reload);
        match &st.value {
            Some(v) if recent => Ok(v.clone()),
            _ => self.read_into(&mut st).await,
        }
    }

    async fn read_into(&self, st: &mut State<T>) -> Result<Arc<T>, SecretError> {
        match self.read().await {
            Ok(v) => {
                let v = Arc::new(v);
                (st.value, st.read_at, st.failed_at) = (Some(v.clone()), Some(Instant::now()), None);
                Ok(v)
            }
            Err(e) => {
                st.failed_at = Some(Instant::now());
                match &st.value {
                    Some(v) => {
                        tracing::warn!(secret = %self.id, error = %e, "secret not read again: the value in hand stays in use");
                        Ok(v.clone())
                    }
                    None => Err(e),
                }
            }
        }
    }

    async fn read(&self) -> Result<T, SecretError> {
        let out = self.client.get_secret_value().secret_id(&self.id).send().await.map_err(|e| {
            SecretError::Unavailable { id: self.id.clone(), reason: DisplayErrorContext(&e).to_string() }
        })?;
        let malformed = |reason: String| SecretError::Malformed { id: self.id.clone(), reason };
        let text = out.secret_string().ok_or_else(|| malformed("it holds no SecretString".into()))?;
        (self.parse)(text).map_err(malformed)
    }
}

#[async_trait::async_trait]
impl TokenKeyring for Secret<TokenKeys> {
    async fn keys(&self) -> billing_domain::Result<Arc<TokenKeys>> {
        Ok(self.get().await?)
    }

    async fn reload(&self) -> billing_domain::Result<Arc<TokenKeys>> {
        Ok(Secret::reload(self).await?)
    }
}

/// The secrets' shapes: each parser names what it expected, never what it found.
pub mod shape {
    use super::*;

    /// A plain `SecretString` (the Alibaba SPI key, KooGallery's key). Surrounding whitespace
    /// (a newline from `--secret-string "$(cat key)"`) is not part of the key.
    pub fn plain(s: &str) -> Result<String, String> {
        let key = s.trim();
        if key.is_empty() {
            return Err("empty".into());
        }
        Ok(key.to_string())
    }

    pub fn token_keys(s: &str) -> Result<TokenKeys, String> {
        TokenKeys::from_secret(s).map_err(|e| e.to_string())
    }

    #[derive(Deserialize)]
    struct AliyunKey {
        access_key_id: String,
        access_key_secret: String,
    }

    /// `{"access_key_id", "access_key_secret"}`: the AccessKey that signs Alibaba pushes.
    pub fn aliyun_access_key(s: &str) -> Result<crate::aliyun::metering::AliyunCredentials, String> {
        let k: AliyunKey =
            serde_json::from_str(s).map_err(|_| r#"not {"access_key_id", "access_key_secret"}"#.to_string())?;
        if k.access_key_id.is_empty() || k.access_key_secret.is_empty() {
            return Err("an empty access_key_id or access_key_secret".into());
        }
        Ok(crate::aliyun::metering::AliyunCredentials {
            access_key_id: k.access_key_id,
            access_key_secret: k.access_key_secret,
        })
    }

    #[derive(Deserialize)]
    struct AkSk {
        ak: String,
        sk: String,
    }

    /// `{"ak", "sk"}`: a Huawei Cloud access key pair.
    pub fn ak_sk(s: &str) -> Result<(String, String), String> {
        let k: AkSk = serde_json::from_str(s).map_err(|_| r#"not {"ak", "sk"}"#.to_string())?;
        if k.ak.is_empty() || k.sk.is_empty() {
            return Err("an empty ak or sk".into());
        }
        Ok((k.ak, k.sk))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn each_shape_is_read_and_errors_never_quote_the_value() {
            assert_eq!(plain(" key\n").unwrap(), "key");
            assert_eq!(ak_sk(r#"{"ak": "A", "sk": "S"}"#).unwrap(), ("A".into(), "S".into()));
            let c = aliyun_access_key(r#"{"access_key_id": "id", "access_key_secret": "s"}"#).unwrap();
            assert_eq!((c.access_key_id.as_str(), c.access_key_secret.as_str()), ("id", "s"));
            let wrong = r#"{"ak": 5, "sk": "hunter2-secret"}"#;
            for e in [
                plain("  ").unwrap_err(),
                ak_sk(wrong).unwrap_err(),
                ak_sk(r#"{"ak": "", "sk": "hunter2-secret"}"#).unwrap_err(),
                aliyun_access_key(wrong).err().unwrap(),
                aliyun_access_key("hunter2-secret").err().unwrap(),
                token_keys(r#"{"current": {"id": "a", "key": "hunter2-secret"}}"#).unwrap_err(),
            ] {
                assert!(!e.contains("hunter2"), "{e}");
            }
        }
    }
}
