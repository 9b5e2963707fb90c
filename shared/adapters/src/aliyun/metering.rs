//! Alibaba Cloud Marketplace's metering push, `PushMeteringData` (推送计量数据,
//! help.aliyun.com/zh/marketplace/api-pushmeteringdata; older copy document_detail/153320), an
//! RPC-style API (`market.aliyuncs.com`, version 2015-11-01, POST) signed with an AccessKey
//! (签名机制: HMAC-SHA1 over the sorted, percent-encoded parameters). As the page fixes it:
//!
//! - `Metering` is a JSON array of records `{InstanceId, StartTime, EndTime, Entities: [{Key,
//!   Value, meteringAssit}]}`, times in Unix seconds ("单位秒"), at most 100 a call
//!   ("每次请求支持写入的计量数据为100条"), one call per instance a minute ("60秒一次").
//! - `Key` is one of the page's fixed metering keys (Frequency, Unit, StorageGigaByte, ...) and
//!   `meteringAssit` names the product's metering item ("新发布的品推送计量时需要将这个参数传递过
//!   来"): each billing item maps to both ([`MeteringItems`]).
//! - `Value` is an integer ≥ 0; a period spans more than 5 minutes ("间隔必须大于5分钟").
//! - Answers: `{"Success": true, "RequestId"}`, or the common error body with a `Code`.

use crate::https::Https;
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use billing_domain::billing_items;
use billing_domain::ports::{MarketMeter, MeterRecord};
use billing_domain::rules::metering::{batch_limit, FallbackReason, SendOutcome};
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha1::Sha1;
use std::collections::BTreeMap;
use std::time::Duration;

/// RFC 3986 unreserved characters stay; everything else is encoded (space as %20), as
/// 签名机制 says: "A~Z、a~z、0~9以及"-"、"_"、"."和"~"不编码 ... 英文空格编码成 %20".
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

/// The page's fixed metering keys ("Key：计量项属性名称").
pub const FIXED_KEYS: [&str; 14] = [
    "Frequency",
    "Period",
    "Storage",
    "NetworkOut",
    "NetworkIn",
    "Character",
    "DailyActiveUser",
    "PeriodMin",
    "VirtualCpu",
    "Unit",
    "Memory",
    "KTokens",
    "Suit",
    "StorageGigaByte",
];

/// Each billing item's metering item on the product (`meteringAssit`, "在商品发布的后台可以看到
/// 这个计费项id", of the form `<product>-<Key>-<n>`), from configuration: the ids are made when
/// the product is published.
#[derive(Debug, Clone, Default)]
pub struct MeteringItems(BTreeMap<String, String>);

impl MeteringItems {
    /// Reads `{"<item>": "<meteringAssit>", ...}`; every id must name its item's fixed key.
    pub fn parse(json: &str) -> Result<Self, String> {
        let map: BTreeMap<String, String> =
            serde_json::from_str(json).map_err(|e| format!("not a JSON object of strings: {e}"))?;
        for (item, assit) in &map {
            let key =
                billing_items::find(item).map(|i| i.aliyun_key).ok_or_else(|| format!("{item} is no billing item"))?;
            if !assit.contains(&format!("-{key}-")) {
                return Err(format!("{item} is metered as {key}; its metering item {assit} is not a {key} item"));
            }
        }
        Ok(Self(map))
    }

    /// The entity for `item`: its fixed key and its metering item.
    pub fn entity(&self, item: &str) -> Option<(&'static str, &str)> {
        let key = billing_items::find(item)?.aliyun_key;
        Some((key, self.0.get(item)?.as_str()))
    }
}

pub struct AliyunMeter {
    http: Https,
    endpoint: String,
    credentials: Option<AliyunCredentials>,
    items: MeteringItems,
}

impl AliyunMeter {
    pub fn new(http: Https, endpoint: String, credentials: Option<AliyunCredentials>, items: MeteringItems) -> Self {
        Self { http, endpoint, credentials, items }
    }

    /// The `Metering` record of one report.
    fn record(&self, instance: &str, r: &MeterRecord<'_>) -> Result<Value, String> {
        let (key, assit) = self
            .items
            .entity(&r.report.item)
            .ok_or_else(|| format!("no metering item configured for {}", r.report.item))?;
        Ok(json!({"InstanceId": instance, "StartTime": r.report.at.timestamp().to_string(),
                  "EndTime": r.report.period_end().timestamp().to_string(),
                  "Entities": [{"Key": key, "Value": r.report.quantity.to_string(), "meteringAssit": assit}]}))
    }

    async fn push(&self, metering: Vec<Value>) -> SendOutcome {
        let Some(c) = &self.credentials else {
            return SendOutcome::Retry("Alibaba Cloud credentials are not configured".into());
        };
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
        // In the query string, as Alibaba's own SDKs send an RPC call.
        let query = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let sep = if self.endpoint.contains('?') { '&' } else { '?' };
        let url = format!("{}{sep}{query}", self.endpoint);
        let headers = [("content-type", "application/x-www-form-urlencoded".to_string())];
        match self.http.post(&url, &headers, String::new(), Duration::from_secs(5)).await {
            Err(e) => SendOutcome::Retry(format!("metering push: {e}")),
            Ok((status, text)) => outcome(status, &text),
        }
    }
}

/// What a push's answer means (the page's error codes).
pub fn outcome(status: u16, text: &str) -> SendOutcome {
    let v: Value = serde_json::from_str(text).unwrap_or_default();
    if (200..300).contains(&status) && v["Success"] == true {
        return SendOutcome::Accepted;
    }
    let code = v["Code"].as_str().unwrap_or_default();
    match code {
        // "The specified Instance parameter is invalid": the marketplace knows no such open instance.
        "Invalid.Parameter.Instance" => SendOutcome::Refused(FallbackReason::CustomerNotSubscribed),
        // Throttled ("Service.Flow.Control"), a fault ("UnknownError"), or a request the page
        // refuses, which is ours to mend: sent again as it is, and logged.
        "Service.Flow.Control" | "UnknownError" | "" => {
            SendOutcome::Retry(format!("metering push answered {status} {code}"))
        }
        other => {
            tracing::error!(status, code = other, message = %v["Message"], "metering push refused the request");
            SendOutcome::Retry(format!("metering push answered {status} {other}"))
        }
    }
}

#[async_trait]
impl MarketMeter for AliyunMeter {
    async fn send(&self, records: &[MeterRecord<'_>]) -> Vec<SendOutcome> {
        let mut out = vec![SendOutcome::Retry("not sent".into()); records.len()];
        // One instance a call: one push per instance a minute, and one customer's bad record
        // never fails another's.
        let mut by_instance: BTreeMap<String, Vec<(usize, Value)>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            let instance = r.account.instance_id.clone().unwrap_or_default();
            match self.record(&instance, r) {
                Ok(v) => by_instance.entry(instance).or_default().push((i, v)),
                Err(why) => {
                    tracing::error!(cloud_account = %r.account.id, error = %why, "record not sendable to Alibaba Cloud");
                    out[i] = SendOutcome::Retry(why);
                }
            }
        }
        for (_, recs) in by_instance {
            // The first call of a minute only: a second would be throttled; the rest goes next run.
            let chunk: Vec<(usize, Value)> =
                recs.into_iter().take(batch_limit(billing_domain::model::Platform::Aliyun)).collect();
            let o = self.push(chunk.iter().map(|(_, v)| v.clone()).collect()).await;
            for (i, _) in chunk {
                out[i] = o.clone();
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
        // 签名机制's worked example (DescribeRegions, AccessKey testid / testsecret) gives
        // CT9X0VtwR86fNWSnsc6v8YGOjuE= with the parameter spelled `TimeStamp`, as that old example
        // spells it; the same request with the common parameter's name `Timestamp` gives the second.
        let params = |ts: &str| -> BTreeMap<String, String> {
            [
                ("AccessKeyId", "testid"),
                ("Action", "DescribeRegions"),
                ("Format", "XML"),
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
                ("SignatureVersion", "1.0"),
                (ts, "2016-02-23T12:46:24Z"),
                ("Version", "2014-05-26"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        assert_eq!(sign("GET", &params("TimeStamp"), "testsecret"), "CT9X0VtwR86fNWSnsc6v8YGOjuE=");
        assert_eq!(sign("GET", &params("Timestamp"), "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
        assert_eq!(encode("a b*c~"), "a%20b%2Ac~");
    }

    #[test]
    fn answers_mean_taken_refused_or_retry() {
        assert_eq!(
            outcome(200, r#"{"Success": true, "RequestId": "6EF60BEC-0242-43AF-BB20-270359FB54A7"}"#),
            SendOutcome::Accepted
        );
        assert_eq!(
            outcome(500, r#"{"Code": "Invalid.Parameter.Instance"}"#),
            SendOutcome::Refused(FallbackReason::CustomerNotSubscribed)
        );
        assert!(matches!(outcome(500, r#"{"Code": "Service.Flow.Control"}"#), SendOutcome::Retry(_)));
        assert!(matches!(outcome(400, r#"{"Code": "Invalid.Parameter.Metering"}"#), SendOutcome::Retry(_)));
        assert!(matches!(outcome(502, "<html>"), SendOutcome::Retry(_)));
    }

    #[test]
    fn metering_items_name_their_fixed_key() {
        let items = MeteringItems::parse(
            r#"{"log_events": "cmapi00000001-Frequency-1", "metrics_storage": "cmapi00000001-StorageGigaByte-1"}"#,
        )
        .unwrap();
        assert_eq!(items.entity("log_events"), Some(("Frequency", "cmapi00000001-Frequency-1")));
        assert_eq!(items.entity("time_series"), None, "not configured");
        assert!(MeteringItems::parse(r#"{"log_events": "cmapi00000001-Unit-1"}"#).is_err(), "events are Frequency");
        assert!(MeteringItems::parse(r#"{"nothing": "x-Unit-1"}"#).is_err());
        for i in billing_items::ITEMS {
            assert!(FIXED_KEYS.contains(&i.aliyun_key), "{}", i.id);
        }
    }
}
