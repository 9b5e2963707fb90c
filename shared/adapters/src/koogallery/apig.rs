//! Huawei Cloud API Gateway's AK/SK signature (`SDK-HMAC-SHA256`, "AK/SK Authentication" of
//! the API Gateway developer guide), which KooGallery's order query takes ("Querying an Order",
//! zh-cn_topic_0070649350: `X-Sdk-Date`, `Authorization`):
//!
//! ```text
//! CanonicalRequest = Method \n URI (with a trailing /) \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n hex(SHA256(body))
//! StringToSign     = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(SHA256(CanonicalRequest))
//! Authorization    = SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<..>, Signature=hex(HMAC-SHA256(SK, StringToSign))
//! ```

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

const URI: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub const SIGNED_HEADERS: &str = "content-type;host;x-sdk-date";

/// (`X-Sdk-Date`, `Authorization`) for a request to `url` (query included) with `body`.
pub fn sign(
    method: &str,
    url: &str,
    content_type: &str,
    body: &str,
    ak: &str,
    sk: &str,
    date: &str,
) -> (String, String) {
    let uri: http::Uri = url.parse().unwrap_or_default();
    let host = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
    let mut path = uri.path().to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    let mut query: Vec<(String, String)> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            (utf8_percent_encode(&decode(k), URI).to_string(), utf8_percent_encode(&decode(v), URI).to_string())
        })
        .collect();
    query.sort();
    let query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let canonical = format!(
        "{method}\n{path}\n{query}\ncontent-type:{content_type}\nhost:{host}\nx-sdk-date:{date}\n\n{SIGNED_HEADERS}\n{}",
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    let to_sign = format!("SDK-HMAC-SHA256\n{date}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let mut mac = Hmac::<Sha256>::new_from_slice(sk.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    (date.to_string(), format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_method_path_query_headers_and_body() {
        let url = "https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/order/query?orderId=CS1&orderLineId=CS1-000001";
        let (_, a) = sign("GET", url, "application/json", "", "AK", "SK", "20261123T100000Z");
        assert!(a.starts_with("SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;host;x-sdk-date, Signature="));
        let reordered = "https://mkt.myhuaweicloud.com/api/mkp-openapi-public/global/v1/order/query?orderLineId=CS1-000001&orderId=CS1";
        assert_eq!(sign("GET", reordered, "application/json", "", "AK", "SK", "20261123T100000Z").1, a, "query sorted");
        let other = url.replace("CS1-000001", "CS1-000002");
        assert_ne!(sign("GET", &other, "application/json", "", "AK", "SK", "20261123T100000Z").1, a);
        assert_ne!(sign("GET", url, "application/json", "", "AK", "SK2", "20261123T100000Z").1, a);
    }
}
