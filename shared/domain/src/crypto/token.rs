//! Signed, expiring bearer tokens: `base64url(claims).base64url(HMAC-SHA256(claims))`.
//! The key is a setting (TOKEN_SIGNING_KEY), wired from Secrets Manager in template.yaml.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const LIFETIME: Duration = Duration::hours(1);

/// Who a token acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Principal {
    /// A console user: acts on the workspaces they own.
    Console { user_id: String, site: String },
    /// A billing account: acts on the workspaces it settles.
    Billing { username: String },
}

impl Principal {
    /// A stable name for who this is, whatever token they hold (scopes `Idempotency-Key`s).
    pub fn subject(&self) -> String {
        match self {
            Principal::Console { user_id, .. } => format!("user:{user_id}"),
            Principal::Billing { username } => format!("billing:{}", username.to_lowercase()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(flatten)]
    principal: Principal,
    exp: i64,
}

#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl TokenKey {
    /// Refuses short keys: a guessable key forges every session.
    pub fn new(secret: &[u8]) -> Option<Self> {
        (secret.len() >= 32).then(|| Self(secret.to_vec()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    pub fn issue(&self, principal: Principal, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let expires_at = now + LIFETIME;
        let claims = Claims { principal, exp: expires_at.timestamp() };
        let body = B64.encode(serde_json::to_vec(&claims).expect("claims serialise"));
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        (format!("{body}.{sig}"), expires_at)
    }

    /// `None` for anything forged, tampered with, malformed or expired.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Principal> {
        let (body, sig) = token.split_once('.')?;
        let sig = B64.decode(sig).ok()?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).ok()?; // constant time
        let claims: Claims = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        (claims.exp > now.timestamp()).then_some(claims.principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let now = Utc::now();
        let p = Principal::Billing { username: "acme".into() };
        let (t, exp) = key().issue(p.clone(), now);
        assert_eq!(exp, now + LIFETIME);
        assert_eq!(key().verify(&t, now), Some(p.clone()));
        assert_eq!(key().verify(&t, now + LIFETIME - Duration::seconds(1)), Some(p));
        assert_eq!(key().verify(&t, now + LIFETIME + Duration::seconds(1)), None);
    }

    #[test]
    fn a_tampered_or_foreign_token_is_refused() {
        let now = Utc::now();
        let (t, _) = key().issue(Principal::Console { user_id: "u1".into(), site: "cn1".into() }, now);
        let (body, sig) = t.split_once('.').unwrap();
        let forged_body = B64.encode(br#"{"kind":"console","user_id":"u2","site":"cn1","exp":9999999999}"#);
        assert_eq!(key().verify(&format!("{forged_body}.{sig}"), now), None);
        assert_eq!(key().verify(&format!("{body}.AAAA"), now), None);
        assert_eq!(key().verify("garbage", now), None);
        let other = TokenKey::new(&[8u8; 32]).unwrap();
        assert_eq!(other.verify(&t, now), None);
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(TokenKey::new(b"short").is_none());
    }
}
