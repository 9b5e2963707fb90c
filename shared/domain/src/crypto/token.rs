//! Signed, expiring bearer tokens: `<key id>.base64url(claims).base64url(HMAC-SHA256)`, the
//! MAC over `<key id>.<claims>`. The keys are a secret read at run time (Secrets Manager):
//! the current key signs, the previous one is still accepted, so a rotation logs nobody out.
//!
//! The secret's shape: `{"current": {"id": "2026-12", "key": "<32+ bytes>"}, "previous":
//! {"id": "2026-11", "key": "..."}}`, `previous` optional. A plain string (the shape before
//! rotation existed) reads as one current key of id `k0`.

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

/// One signing key.
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

    fn sign(&self, signed: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(signed.as_bytes());
        mac
    }
}

/// What a token is, checked against the keys in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid(Principal),
    /// Well formed, but signed by a key these keys do not hold: the keys may have rotated
    /// since they were read (read them again), or the token is forged.
    UnknownKey,
    /// Forged, tampered with, malformed or expired.
    Invalid,
}

/// The keys in force: the current one signs, both verify.
#[derive(Clone, Debug)]
pub struct TokenKeys {
    current: (String, TokenKey),
    previous: Option<(String, TokenKey)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringSecret {
    current: KeySecret,
    previous: Option<KeySecret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySecret {
    id: String,
    key: String,
}

/// A key id goes into every token and must not contain its separator.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a secret is not a keyring. Never says what the secret holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token signing keys: {0}")]
pub struct KeysError(&'static str);

impl TokenKeys {
    pub fn new(current: (&str, TokenKey), previous: Option<(&str, TokenKey)>) -> Result<Self, KeysError> {
        let ids_ok = valid_id(current.0) && previous.as_ref().is_none_or(|(id, _)| valid_id(id) && *id != current.0);
        if !ids_ok {
            return Err(KeysError("key ids are 1-64 letters, digits, '-' or '_', and differ"));
        }
        Ok(Self { current: (current.0.to_string(), current.1), previous: previous.map(|(i, k)| (i.to_string(), k)) })
    }

    /// Reads the secret's value (see the module's documentation for its shape).
    pub fn from_secret(value: &str) -> Result<Self, KeysError> {
        const SHORT: KeysError = KeysError("every key must be at least 32 bytes");
        if !value.trim_start().starts_with('{') {
            return Self::new(("k0", TokenKey::new(value.as_bytes()).ok_or(SHORT)?), None);
        }
        // serde's message may quote the value: it is dropped, not passed on.
        let s: KeyringSecret = serde_json::from_str(value)
            .map_err(|_| KeysError(r#"not {"current": {"id", "key"}, "previous"?: {"id", "key"}}"#))?;
        let key = |k: &KeySecret| TokenKey::new(k.key.as_bytes()).ok_or(SHORT);
        let previous = match &s.previous {
            Some(p) => Some((p.id.as_str(), key(p)?)),
            None => None,
        };
        Self::new((&s.current.id, key(&s.current)?), previous)
    }

    pub fn current_id(&self) -> &str {
        &self.current.0
    }

    pub fn issue(&self, principal: Principal, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let expires_at = now + LIFETIME;
        let claims = Claims { principal, exp: expires_at.timestamp() };
        let signed =
            format!("{}.{}", self.current.0, B64.encode(serde_json::to_vec(&claims).expect("claims serialise")));
        let sig = B64.encode(self.current.1.sign(&signed).finalize().into_bytes());
        (format!("{signed}.{sig}"), expires_at)
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Verdict {
        let mut parts = token.splitn(3, '.');
        let (Some(id), Some(body), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Verdict::Invalid;
        };
        if !valid_id(id) || sig.contains('.') {
            return Verdict::Invalid;
        }
        let key = match (&self.current, &self.previous) {
            ((i, k), _) if i == id => k,
            (_, Some((i, k))) if i == id => k,
            _ => return Verdict::UnknownKey,
        };
        let Ok(sig) = B64.decode(sig) else { return Verdict::Invalid };
        if key.sign(&token[..id.len() + 1 + body.len()]).verify_slice(&sig).is_err() {
            return Verdict::Invalid; // compared in constant time
        }
        let claims: Option<Claims> = B64.decode(body).ok().and_then(|b| serde_json::from_slice(&b).ok());
        match claims {
            Some(c) if c.exp > now.timestamp() => Verdict::Valid(c.principal),
            _ => Verdict::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> TokenKey {
        TokenKey::new(&[b; 32]).unwrap()
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(("k1", key(7)), None).unwrap()
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let now = Utc::now();
        let p = Principal::Billing { username: "acme".into() };
        let (t, exp) = keys().issue(p.clone(), now);
        assert!(t.starts_with("k1."));
        assert_eq!(exp, now + LIFETIME);
        assert_eq!(keys().verify(&t, now), Verdict::Valid(p.clone()));
        assert_eq!(keys().verify(&t, now + LIFETIME - Duration::seconds(1)), Verdict::Valid(p));
        assert_eq!(keys().verify(&t, now + LIFETIME + Duration::seconds(1)), Verdict::Invalid);
    }

    #[test]
    fn a_tampered_or_foreign_token_is_refused() {
        let now = Utc::now();
        let (t, _) = keys().issue(Principal::Console { user_id: "u1".into(), site: "cn1".into() }, now);
        let parts: Vec<&str> = t.split('.').collect();
        let forged_body = B64.encode(br#"{"kind":"console","user_id":"u2","site":"cn1","exp":9999999999}"#);
        assert_eq!(keys().verify(&format!("k1.{forged_body}.{}", parts[2]), now), Verdict::Invalid);
        assert_eq!(keys().verify(&format!("k1.{}.AAAA", parts[1]), now), Verdict::Invalid);
        assert_eq!(keys().verify(&format!("{t}.x"), now), Verdict::Invalid);
        for garbage in ["garbage", "", "a.b", "k1..", "k!.a.b"] {
            assert_eq!(keys().verify(garbage, now), Verdict::Invalid, "{garbage}");
        }
        // The same key id with another key: a forgery, not a rotation.
        let other = TokenKeys::new(("k1", key(8)), None).unwrap();
        assert_eq!(other.verify(&t, now), Verdict::Invalid);
    }

    #[test]
    fn the_previous_key_still_verifies_and_an_unknown_key_is_named() {
        let now = Utc::now();
        let p = Principal::Billing { username: "acme".into() };
        let (old, _) = keys().issue(p.clone(), now);
        let rotated = TokenKeys::new(("k2", key(9)), Some(("k1", key(7)))).unwrap();
        assert_eq!(rotated.verify(&old, now), Verdict::Valid(p.clone()));
        let (new, _) = rotated.issue(p.clone(), now);
        assert!(new.starts_with("k2."));
        assert_eq!(keys().verify(&new, now), Verdict::UnknownKey);
        let done = TokenKeys::new(("k2", key(9)), None).unwrap();
        assert_eq!(done.verify(&old, now), Verdict::UnknownKey);
        assert_eq!(done.verify(&new, now), Verdict::Valid(p));
    }

    #[test]
    fn the_secret_is_read_in_both_shapes_and_never_quoted_in_errors() {
        let k = "0123456789abcdef0123456789abcdef";
        let plain = TokenKeys::from_secret(k).unwrap();
        assert_eq!(plain.current_id(), "k0");
        let json = format!(
            r#"{{"current": {{"id": "2026-12", "key": "{k}x"}}, "previous": {{"id": "2026-11", "key": "{k}"}}}}"#
        );
        let both = TokenKeys::from_secret(&json).unwrap();
        assert_eq!(both.current_id(), "2026-12");
        let now = Utc::now();
        let (t, _) = plain.issue(Principal::Billing { username: "a".into() }, now);
        assert_eq!(both.verify(&t, now), Verdict::UnknownKey); // k0 is not 2026-11
        let bad = [
            "short".to_string(),
            format!(r#"{{"current": {{"id": "a.b", "key": "{k}"}}}}"#),
            format!(r#"{{"current": {{"id": "a", "key": "{k}"}}, "previous": {{"id": "a", "key": "{k}"}}}}"#),
            r#"{"current": {"id": "a", "key": "tooshort-but-secret"}}"#.to_string(),
            r#"{"current": "hunter2-secret-value"}"#.to_string(),
            r#"{"current": {"id": "a", "key": 5}, "extra": "s3cr3t-value"}"#.to_string(),
        ];
        for b in bad {
            let e = TokenKeys::from_secret(&b).unwrap_err().to_string();
            for word in ["short", "tooshort", "hunter2", "s3cr3t", k] {
                assert!(!e.contains(word), "{e} quotes the secret");
            }
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(TokenKey::new(b"short").is_none());
    }
}
