//! Huawei Cloud API Gateway's AK/SK signature (`SDK-HMAC-SHA256`), which KooGallery's open APIs
//! such as the order query sit behind.
//!
//! Page: "API签名指南 / API Request Signing Guide" — "AK/SK签名认证算法详解" (构造规范请求, 创建待签字符串,
//! 计算签名, 添加签名信息到请求头), https://support.huaweicloud.com/devg-apisign/apisign-devg-pdf.pdf
//! (English: https://support.huaweicloud.com/intl/en-us/devg-apisign/apisign-devg-pdf.pdf). Its worked
//! example is the known answer of the unit test below.
//! Clock skew: "客户端签名时间戳x-sdk-date与APIGW服务器时间相差超过15min" is refused (APIG FAQ "APP认证信息错误",
//! https://support.huaweicloud.com/intl/zh-cn/my-kualalumpur-1-usermanual-apig/apig-faq-0009.html).

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// RFC 3986 unreserved characters stay; everything else `%XY` ("请勿对RFC 3986定义的任何非预留字符进行URI编码").
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// CanonicalRequest = Method \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n
/// SignedHeaders \n HexEncode(Hash(RequestPayload)):
/// - the URI's path, each segment encoded, ending in `/` ("如果URI路径不以"/"结尾,则附加"/"");
/// - the query's parameters encoded and sorted by name;
/// - the signed headers, lower-case, `name:trimmed value\n` each, sorted.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: &[u8],
) -> String {
    let mut uri = path.split('/').map(|s| encode(&decode(s))).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    let mut params: Vec<(String, String)> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (encode(&decode(k)), encode(&decode(v))))
        .collect();
    params.sort();
    let query = params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut headers: Vec<(String, String)> =
        headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())).collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed = headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    format!("{method}\n{uri}\n{query}\n{canonical_headers}\n{signed}\n{}", hex(&Sha256::digest(body)))
}

/// StringToSign = "SDK-HMAC-SHA256" \n X-Sdk-Date \n Lowercase(HexEncode(Hash(CanonicalRequest)));
/// signature = HexEncode(HMAC(SK, StringToSign)).
pub fn signature(sk: &str, date: &str, canonical: &str) -> String {
    let to_sign = format!("SDK-HMAC-SHA256\n{date}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
    let mut mac = Hmac::<Sha256>::new_from_slice(sk.as_bytes()).expect("HMAC takes any key");
    mac.update(to_sign.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// `Authorization: SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<a;b>, Signature=<hex>`
/// ("算法与Access之前有空格但没有逗号,但是SignedHeaders与Signature之前需要使用逗号隔开").
pub struct Authorization {
    pub access: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(value: &str) -> Option<Authorization> {
    let rest = value.strip_prefix("SDK-HMAC-SHA256 ")?;
    let mut access = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(", ") {
        match part.split_once('=')? {
            ("Access", v) => access = Some(v.to_string()),
            ("SignedHeaders", v) => signed = Some(v.split(';').map(String::from).collect()),
            ("Signature", v) => signature = Some(v.to_string()),
            _ => return None,
        }
    }
    Some(Authorization { access: access?, signed_headers: signed?, signature: signature? })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing guide's worked example: `GET https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0`,
    /// hashed canonical request `b25362e6…cd7a`, SK `MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc`,
    /// signature `7be66680…6ebe`.
    #[test]
    fn the_signing_guides_example_is_reproduced() {
        let headers = [
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Host".to_string(), "service.region.example.com".to_string()),
            ("X-Sdk-Date".to_string(), "20191115T033655Z".to_string()),
        ];
        let c = canonical_request(
            "GET",
            "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
            Some("marker=13551d6b-755d-4757-b956-536f674975c0&limit=2"),
            &headers,
            b"",
        );
        assert_eq!(
            hex(&Sha256::digest(c.as_bytes())),
            "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
        );
        assert_eq!(
            signature("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", "20191115T033655Z", &c),
            "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
        );
        let a = parse_authorization("SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, SignedHeaders=content-type;host;x-sdk-date, Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe").unwrap();
        assert_eq!((a.access.as_str(), a.signed_headers.len()), ("QTWAOYTTINDUT2QVKYUC", 3));
        assert!(parse_authorization("SDK-HMAC-SHA256 Access=A,SignedHeaders=host,Signature=x").is_none());
    }
}
