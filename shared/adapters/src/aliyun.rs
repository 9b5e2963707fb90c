//! Alibaba Cloud Marketplace's metering push (`PushMeteringData`, an RPC-style API signed
//! with an AccessKey: HMAC-SHA1 over the sorted, percent-encoded parameters). One call per
//! instance, at most 100 records; each record is one metering item over one hour.

use crate::https::Https;
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use billing_domain::ports::{MarketMeter, MeterRecord};
use billing_domain::rules::metering::{FallbackReason, SendOutcome};
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha1::Sha1;
use std::collections::BTreeMap;
use std::time::Duration;

/// RFC 3986 unreserved characters stay; everything else is encoded (space as %20).
const RPC: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RPC).to_string()
}

/// The RPC signature (SignatureVersion 1.0): `<method>&%2F&<encoded canonical query>`,
/// HMAC-SHA1 with `<secret>&`, base64.
pub fn sign(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    let canonical = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
    let to_sign = format!("{method}&{}&{}", encode("/"), encode(&canonical));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

#[derive(Clone)]
pub struct AliyunCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
}

pub struct AliyunMeter {
    http: Https,
    endpoint: String,
    credentials: Option<AliyunCredentials>,
}

impl AliyunMeter {
    pub fn new(http: Https, endpoint: String, credentials: Option<AliyunCredentials>) -> Self {
        Self { http, endpoint, credentials }
    }

    async fn push(&self, instance: &str, records: &[&MeterRecord<'_>]) -> SendOutcome {
        let Some(c) = &self.credentials else {
            return SendOutcome::Retry("Alibaba Cloud credentials are not configured".into());
        };
        let metering: Vec<Value> = records
            .iter()
            .map(|r| {
                let start = r.report.at.timestamp();
                let end = if r.report.final_report { start + 1 } else { start + 3600 };
                json!({"InstanceId": instance, "StartTime": start.to_string(), "EndTime": end.to_string(),
                       "Entities": [{"Key": r.dimension, "Value": r.report.quantity.to_string()}]})
            })
            .collect();
        let mut params: BTreeMap<String, String> = [
            ("Action", "PushMeteringData".to_string()),
            ("Metering", Value::Array(metering).to_string()),
            ("Format", "JSON".into()),
            ("Version", "2015-11-01".into()),
            ("AccessKeyId", c.access_key_id.clone()),
            ("SignatureMethod", "HMAC-SHA1".into()),
            ("SignatureVersion", "1.0".into()),
            ("SignatureNonce", ulid::Ulid::new().to_string()),
            ("Timestamp", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let signature = sign("POST", &params, &c.access_key_secret);
        params.insert("Signature".into(), signature);
        let body = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let headers = [("content-type", "application/x-www-form-urlencoded".to_string())];
        match self.http.post(&self.endpoint, &headers, body, Duration::from_secs(5)).await {
            Err(e) => SendOutcome::Retry(format!("metering push: {e}")),
            Ok((status, text)) => outcome(status, &text),
        }
    }
}

/// What a push's answer means. A duplicate (the same record pushed before) was taken then.
fn outcome(status: u16, text: &str) -> SendOutcome {
    let v: Value = serde_json::from_str(text).unwrap_or_default();
    if (200..300).contains(&status) && v["Success"] == true {
        return SendOutcome::Accepted;
    }
    let code = v["Code"].as_str().unwrap_or_default();
    match code {
        c if c.contains("Duplicate") => SendOutcome::Accepted,
        c if c.contains("InstanceNotFound") || c.contains("InstanceReleased") || c.contains("InvalidInstance") => {
            SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)
        }
        _ => SendOutcome::Retry(format!("metering push answered {status} {code}")),
    }
}

#[async_trait]
impl MarketMeter for AliyunMeter {
    async fn send(&self, records: &[MeterRecord<'_>]) -> Vec<SendOutcome> {
        let mut by_instance: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            by_instance.entry(r.account.instance_id.clone().unwrap_or_default()).or_default().push(i);
        }
        let mut out = vec![SendOutcome::Retry("not sent".into()); records.len()];
        for (instance, idx) in by_instance {
            for chunk in idx.chunks(100) {
                let batch: Vec<&MeterRecord> = chunk.iter().map(|i| &records[*i]).collect();
                let o = self.push(&instance, &batch).await;
                for i in chunk {
                    out[*i] = o.clone();
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_rpc_signature_version_1_does() {
        // The documented example of Alibaba Cloud's RPC signature (DescribeRegions, secret "testsecret").
        let params: BTreeMap<String, String> = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(sign("GET", &params, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
        assert_ne!(sign("POST", &params, "testsecret"), sign("GET", &params, "testsecret"));
        assert_eq!(encode("a b*c~"), "a%20b%2Ac~");
    }

    #[test]
    fn answers_mean_taken_refused_or_retry() {
        assert_eq!(outcome(200, r#"{"Success": true, "RequestId": "x"}"#), SendOutcome::Accepted);
        assert_eq!(
            outcome(400, r#"{"Code": "InstanceReleased"}"#),
            SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)
        );
        assert!(matches!(outcome(503, r#"{"Code": "ServiceUnavailable"}"#), SendOutcome::Retry(_)));
        assert!(matches!(outcome(400, r#"{"Code": "Throttling.User"}"#), SendOutcome::Retry(_)));
        assert!(matches!(outcome(502, "<html>"), SendOutcome::Retry(_)));
    }
}
