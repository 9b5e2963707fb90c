//! KooGallery's pay-per-use usage push ("Pushing the Pay-per-Use Resource Usage (New)" /
//! 按需使用量推送(新), support.huaweicloud.com/intl/en-us/accessg-marketplace/topic_0070649117.html
//! and topic_0070649083):
//!
//! - `POST .../api/mkp-openapi-public/global/v1/isv/usage-data`, headers `signature` =
//!   base64(HMAC-SHA256(the seller's interconnection key, `ts={ts}&nonce={nonce}&body={body}`)),
//!   "The body is signed after being sorted naturally", `ts` in milliseconds, `nonce`.
//! - Body `{"usage_records": [...]}`, "up to 1,000 UsagePushData records", each `instance_id`,
//!   `record_time`, `begin_time`, `end_time` (`yyyyMMdd'T'HHmmss'Z'`), `usage_value` ("最多支持4位
//!   有效小数,需为大于0的数值") and `metering_sn` ("话单记录唯一性标识"). One value per instance and
//!   period: the period's usage at CNY list prices (domain.md, flow 10).
//! - Answers `{"error_code", "error_msg"}` (zh-cn_topic_0070649186): `MKT.0000` success; a whole
//!   call refused for one record (`MKT.9001` instance not found, `MKT.9004` begin time beyond 21
//!   days) is split until that record is alone.

use super::saas_signature::hmac;
use crate::https::Https;
use crate::split::{self, Whole};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use billing_domain::ports::{MarketMeter, MeterRecord};
use billing_domain::rules::metering::{batch_limit, FallbackReason, SendOutcome};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub struct KooGalleryMeter {
    http: Https,
    endpoint: String,
    /// The seller's key: the one KooGallery signs its calls to us with.
    key: Option<String>,
}

impl KooGalleryMeter {
    pub fn new(http: Https, endpoint: String, key: Option<String>) -> Self {
        Self { http, endpoint, key }
    }
}

/// A record's serial number (`metering_sn`): fixed by the report, so a record sent again is
/// the same record.
pub fn metering_sn(r: &MeterRecord<'_>) -> String {
    let digest = Sha256::digest(format!("{}|{}", r.report.cloud_account_id, r.report.tag()).as_bytes());
    hex::encode(&digest[..16])
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// One `UsagePushData`, keys in their natural order; `None` when the report has no value.
pub fn record(r: &MeterRecord<'_>) -> Option<Value> {
    let value = r.report.value?.sent;
    let instance = r.account.instance_id.as_deref()?;
    // "使用量记录生成时间": when the report's period closed, so a resend is the same record.
    let end = r.report.period_end();
    Some(json!({"begin_time": time(r.report.at), "end_time": time(end), "instance_id": instance,
                "metering_sn": metering_sn(r), "record_time": time(end), "usage_value": value.normalize().to_string()}))
}

/// `base64(HMAC-SHA256(key, "ts={ts}&nonce={nonce}&body={body}"))`.
pub fn signature(key: &str, ts: &str, nonce: &str, body: &str) -> String {
    B64.encode(hmac(key, format!("ts={ts}&nonce={nonce}&body={body}").as_bytes()))
}

/// What an answer means for its call.
pub fn outcome(status: u16, text: &str) -> Whole {
    let v: Value = serde_json::from_str(text).unwrap_or_default();
    let code = v["error_code"].as_str().unwrap_or_default();
    let why = format!("usage push answered {status} {code}");
    match code {
        "MKT.0000" if (200..300).contains(&status) => Whole::Answered { outcomes: vec![], again: vec![] },
        // "实例ID不存在": the marketplace has no such pay-per-use instance.
        "MKT.9001" => Whole::ForOne(SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)),
        // "计量记录的起始时间超出有效期(当前时间21天以内)".
        "MKT.9004" => Whole::ForOne(SendOutcome::Refused(FallbackReason::WindowPassed)),
        // A record it cannot read, or too many: ours to mend; found by splitting, kept pending.
        "MKT.0100" | "MKT.0101" | "MKT.0199" | "MKT.9002" | "MKT.9003" => {
            tracing::error!(status, code, message = %v["error_msg"], "usage push refused a record");
            Whole::ForOne(SendOutcome::Retry(why))
        }
        "MKT.0102" | "MKT.0150" | "MKT.0151" | "MKT.0154" => {
            tracing::error!(status, code, "usage push refused our signature or key");
            Whole::Failed(why)
        }
        _ => Whole::Failed(why),
    }
}

impl KooGalleryMeter {
    async fn push(&self, key: &str, batch: &[(usize, Value)]) -> Whole {
        let records: Vec<Value> = batch.iter().map(|(_, v)| v.clone()).collect();
        let body = json!({ "usage_records": records }).to_string();
        let ts = Utc::now().timestamp_millis().to_string();
        let nonce = ulid::Ulid::new().to_string();
        let headers = [
            ("content-type", "application/json".to_string()),
            ("signature", signature(key, &ts, &nonce, &body)),
            ("ts", ts),
            ("nonce", nonce),
        ];
        let answered = match self.http.post(&self.endpoint, &headers, body, Duration::from_secs(5)).await {
            Ok((status, text)) => outcome(status, &text),
            Err(e) => Whole::Failed(format!("usage push: {e}")),
        };
        match answered {
            // A success takes every record of the call.
            Whole::Answered { .. } => Whole::Answered {
                outcomes: batch.iter().map(|(i, _)| (*i, SendOutcome::Accepted)).collect(),
                again: vec![],
            },
            other => other,
        }
    }
}

#[async_trait]
impl MarketMeter for KooGalleryMeter {
    async fn send(&self, records: &[MeterRecord<'_>]) -> Vec<SendOutcome> {
        let mut out = vec![SendOutcome::Retry("not sent".into()); records.len()];
        let Some(key) = &self.key else {
            return records.iter().map(|_| SendOutcome::Retry("the KooGallery key is not configured".into())).collect();
        };
        let mut batch = Vec::new();
        for (i, r) in records.iter().enumerate() {
            match record(r) {
                Some(v) => batch.push((i, v)),
                None => {
                    tracing::error!(cloud_account = %r.account.id, "KooGallery report without a value or an instance");
                    out[i] = SendOutcome::Retry("no value".into());
                }
            }
        }
        for chunk in batch.chunks(batch_limit(billing_domain::model::Platform::Huawei)) {
            split::send(chunk.to_vec(), 1, &mut out, |b| async move { self.push(key, &b).await }).await;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_ts_nonce_and_the_exact_body() {
        let a = signature("k3y", "1709690865879", "6c63c221-1f6b-4141-8ff4-22f5dfe82b65", r#"{"usage_records":[]}"#);
        assert_eq!(
            a,
            B64.encode(hmac(
                "k3y",
                br#"ts=1709690865879&nonce=6c63c221-1f6b-4141-8ff4-22f5dfe82b65&body={"usage_records":[]}"#
            ))
        );
        assert_ne!(
            a,
            signature("k3y", "1709690865880", "6c63c221-1f6b-4141-8ff4-22f5dfe82b65", r#"{"usage_records":[]}"#)
        );
    }

    #[test]
    fn answers_are_read_by_their_error_code() {
        assert!(matches!(outcome(200, r#"{"error_code":"MKT.0000","error_msg":"success"}"#), Whole::Answered { .. }));
        assert!(matches!(
            outcome(500, r#"{"error_code":"MKT.9001","error_msg":"Instance ID not found."}"#),
            Whole::ForOne(SendOutcome::Refused(FallbackReason::CustomerNotSubscribed))
        ));
        assert!(matches!(
            outcome(500, r#"{"error_code":"MKT.9004"}"#),
            Whole::ForOne(SendOutcome::Refused(FallbackReason::WindowPassed))
        ));
        assert!(matches!(
            outcome(400, r#"{"error_code":"MKT.0102","error_msg":"Invalid body sign"}"#),
            Whole::Failed(_)
        ));
        assert!(matches!(outcome(200, r#"{"resultCode":"000000"}"#), Whole::Failed(_)), "not the push's answer");
        assert!(matches!(outcome(503, "busy"), Whole::Failed(_)));
    }
}
