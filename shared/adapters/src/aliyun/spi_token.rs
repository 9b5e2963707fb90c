//! The Alibaba Cloud Marketplace SPI token ("SPI 安全令牌", help.aliyun.com/document_detail/147280.html):
//! MD5 of every parameter except `token`, sorted by name, joined `k=v&...`, followed by
//! `&key=<secret>`; lower-case hex.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

pub fn sign(params: &[(String, String)], secret: &str) -> String {
    let mut pairs: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "token").collect();
    pairs.sort();
    let mut text = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    text.push_str("&key=");
    text.push_str(secret);
    hex::encode(Md5::digest(text.as_bytes()))
}

/// True only when exactly one `token` is present and it matches, compared in constant time.
pub fn verify(params: &[(String, String)], secret: &str) -> bool {
    let mut tokens = params.iter().filter(|(k, _)| k == "token");
    let (Some((_, given)), None) = (tokens.next(), tokens.next()) else {
        return false;
    };
    let expected = sign(params, secret);
    given.to_ascii_lowercase().as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn signs_sorted_params_without_token_then_key() {
        let params = p(&[("orderBizId", "42"), ("action", "createInstance"), ("aliUid", "1234567890123456")]);
        let expected =
            hex::encode(Md5::digest(b"action=createInstance&aliUid=1234567890123456&orderBizId=42&key=s3cret"));
        assert_eq!(sign(&params, "s3cret"), expected);
        let mut signed = params.clone();
        signed.push(("token".into(), expected.to_uppercase()));
        assert!(verify(&signed, "s3cret"));
        assert!(!verify(&signed, "other"));
    }

    #[test]
    fn missing_duplicated_or_altered_tokens_fail() {
        let params = p(&[("action", "releaseInstance"), ("instanceId", "42")]);
        assert!(!verify(&params, "k"));
        let token = sign(&params, "k");
        let mut twice = params.clone();
        twice.push(("token".into(), token.clone()));
        twice.push(("token".into(), token.clone()));
        assert!(!verify(&twice, "k"));
        let mut altered = p(&[("action", "releaseInstance"), ("instanceId", "43")]);
        altered.push(("token".into(), token));
        assert!(!verify(&altered, "k"));
    }
}
