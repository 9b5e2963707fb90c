//! Huawei Cloud KooGallery's usage push for pay-per-use SaaS: at most 1,000 records a call,
//! each with a unique serial number (`recordId`) so a record sent again is the same record,
//! signed with the AK/SK scheme of Huawei Cloud's API Gateway (`SDK-HMAC-SHA256`).

use crate::https::Https;
use async_trait::async_trait;
use billing_domain::ports::{MarketMeter, MeterRecord};
use billing_domain::rules::metering::{FallbackReason, SendOutcome};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub struct KooGalleryMeter {
    http: Https,
    endpoint: String,
    key: Option<(String, String)>,
}

impl KooGalleryMeter {
    pub fn new(http: Https, endpoint: String, key: Option<(String, String)>) -> Self {
        Self { http, endpoint, key }
    }
}

/// A record's serial number: fixed by the report, so a retry sends the same record.
pub fn record_id(r: &MeterRecord<'_>) -> String {
    let digest = Sha256::digest(
        format!("{}|{}|{}", r.report.cloud_account_id, r.report.item, r.report.at.timestamp()).as_bytes(),
    );
    hex::encode(&digest[..16])
}

/// `SDK-HMAC-SHA256` over method, path (with its trailing slash), no query, the signed
/// headers and the body's SHA-256; returns (`X-Sdk-Date`, `Authorization`).
pub fn sign(method: &str, url: &str, body: &str, ak: &str, sk: &str, date: &str) -> (String, String) {
    let uri: http::Uri = url.parse().unwrap_or_default();
    let host = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_default();
    let mut path = uri.path().to_string();
    if !path.ends_with('/') {
        path.push('/');
    }
    let signed = "content-type;host;x-sdk-date";
    let canonical = format!(
        "{method}\n{path}\n\ncontent-type:application/json\nhost:{host}\nx-sdk-date:{date}\n\n{signed}\n{}",
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    let to_sign = format!("SDK-HMAC-SHA256\n{date}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let mut mac = Hmac::<Sha256>::new_from_slice(sk.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    (date.to_string(), format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders={signed}, Signature={signature}"))
}

fn outcome(status: u16, text: &str) -> SendOutcome {
    let v: Value = serde_json::from_str(text).unwrap_or_default();
    let code = v["resultCode"].as_str().unwrap_or_default();
    match (status, code) {
        (200..=299, "000000") => SendOutcome::Accepted,
        (_, "INSTANCE_RELEASED" | "INSTANCE_FROZEN" | "INSTANCE_NOT_FOUND") => {
            SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)
        }
        (_, "TIME_OUT_OF_RANGE") => SendOutcome::Refused(FallbackReason::WindowPassed),
        _ => SendOutcome::Retry(format!("usage push answered {status} {code}")),
    }
}

#[async_trait]
impl MarketMeter for KooGalleryMeter {
    async fn send(&self, records: &[MeterRecord<'_>]) -> Vec<SendOutcome> {
        let Some((ak, sk)) = &self.key else {
            return records.iter().map(|_| SendOutcome::Retry("KooGallery AK/SK are not configured".into())).collect();
        };
        let mut out = Vec::with_capacity(records.len());
        for chunk in records.chunks(1000) {
            let usage: Vec<Value> = chunk
                .iter()
                .map(|r| {
                    let begin = r.report.at.timestamp_millis();
                    let end = if r.report.final_report { begin + 1000 } else { begin + 3_600_000 };
                    json!({"recordId": record_id(r), "customerId": r.account.account_id,
                           "instanceId": r.account.instance_id, "meteringItem": r.dimension,
                           "usage": r.report.quantity, "beginTime": begin, "endTime": end})
                })
                .collect();
            let body = json!({ "usageRecords": usage }).to_string();
            let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
            let (date, authorization) = sign("POST", &self.endpoint, &body, ak, sk, &date);
            let headers = [
                ("content-type", "application/json".to_string()),
                ("x-sdk-date", date),
                ("authorization", authorization),
            ];
            let o = match self.http.post(&self.endpoint, &headers, body, Duration::from_secs(5)).await {
                Ok((status, text)) => outcome(status, &text),
                Err(e) => SendOutcome::Retry(format!("usage push: {e}")),
            };
            out.extend(chunk.iter().map(|_| o.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_body_and_answers_are_read() {
        let (_, a) = sign("POST", "https://mkt.example.com/v1/usage", "{}", "AK", "SK", "20261123T100000Z");
        let (_, b) = sign("POST", "https://mkt.example.com/v1/usage", "{ }", "AK", "SK", "20261123T100000Z");
        assert!(a.starts_with("SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;host;x-sdk-date, Signature="));
        assert_ne!(a, b);
        assert_eq!(outcome(200, r#"{"resultCode":"000000"}"#), SendOutcome::Accepted);
        assert_eq!(
            outcome(400, r#"{"resultCode":"INSTANCE_FROZEN"}"#),
            SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)
        );
        assert!(matches!(outcome(503, "busy"), SendOutcome::Retry(_)));
    }
}
