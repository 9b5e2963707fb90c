//! Huawei Cloud KooGallery's SaaS interface (V2.0) signatures ("HTTP Body Signature",
//! support.huaweicloud.com/intl/en-us/accessg-marketplace/topic_0070649090.html, with the key as
//! the License V2 page "请求认证说明" (zh-cn_topic_0070649248) writes it). A request carries
//! `signature`, `timestamp` and `nonce` as URL parameters:
//! `signature = HEX(HMAC-SHA256(key, key + nonce + timestamp + hex(HMAC-SHA256(key, body))))`.
//! Answers carry `Body-Sign: sign_type="HMAC-SHA256", signature= "<base64(HMAC-SHA256(key, body))>"`,
//! with the space after `signature=` that every published example has ("消息头的格式请严格按照示例添加").

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub(crate) fn hmac(key: &str, data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The request signature KooGallery computes, lower-case hex.
pub fn request_signature(key: &str, nonce: &str, timestamp: &str, body: &str) -> String {
    let payload = hex::encode(hmac(key, body.as_bytes()));
    let canonical = format!("{key}{nonce}{timestamp}{payload}");
    hex::encode(hmac(key, canonical.as_bytes()))
}

/// True only for the signature of exactly this body, nonce and timestamp (compared in
/// constant time, whatever the case of its hex).
pub fn verify_request(key: &str, nonce: &str, timestamp: &str, body: &str, signature: &str) -> bool {
    let expected = request_signature(key, nonce, timestamp, body);
    let given = signature.to_ascii_lowercase();
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The `Body-Sign` header of an answer.
pub fn body_sign(key: &str, body: &str) -> String {
    format!("sign_type=\"HMAC-SHA256\", signature= \"{}\"", B64.encode(hmac(key, body.as_bytes())))
}

/// A request's timestamp in seconds: the English page says seconds, the Chinese pages and every
/// sample send milliseconds; both are read.
pub fn timestamp_seconds(v: &str) -> Option<i64> {
    let n: i64 = v.trim().parse().ok()?;
    Some(if n > 100_000_000_000 { n / 1000 } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_verifies_only_with_its_own_body_nonce_timestamp_and_key() {
        let body = r#"{"activity":"newInstance","orderId":"CS1"}"#;
        let sig = request_signature("k3y", "n1", "1680508066618", body).to_uppercase();
        assert!(verify_request("k3y", "n1", "1680508066618", body, &sig));
        assert!(!verify_request("k3y", "n2", "1680508066618", body, &sig));
        assert!(!verify_request("k3y", "n1", "1680508066619", body, &sig));
        assert!(!verify_request("k3y", "n1", "1680508066618", &body.replace("CS1", "CS2"), &sig));
        assert!(!verify_request("other", "n1", "1680508066618", body, &sig));
        assert!(!verify_request("k3y", "n1", "1680508066618", body, ""));
    }

    #[test]
    fn answers_are_signed_and_timestamps_read_in_either_unit() {
        let h = body_sign("k3y", r#"{"resultCode":"000000"}"#);
        assert!(h.starts_with("sign_type=\"HMAC-SHA256\", signature= \"") && h.ends_with('"'), "{h}");
        assert_eq!(timestamp_seconds("1680508066618"), Some(1_680_508_066));
        assert_eq!(timestamp_seconds("1680508066"), Some(1_680_508_066));
        assert_eq!(timestamp_seconds("soon"), None);
    }
}
