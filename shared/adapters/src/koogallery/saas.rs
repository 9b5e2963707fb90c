//! KooGallery's SaaS interface V2.0 (support.huaweicloud.com/intl/en-us/accessg-marketplace/,
//! "SaaS Access Guide V2.0"): one POST URL for every scenario, the scenario in the JSON body's
//! `activity`, signed (`saas_signature`) with `signature`, `timestamp` and `nonce` in the URL.
//! Every answer is HTTP 200 JSON with a `resultCode` ("调用结果码说明", zh-cn_topic_0070649421:
//! `000000` success, `000001` 鉴权失败, `000002` 请求参数不合法, `000003` 实例ID不存在) and a
//! `Body-Sign` header. The documented bodies of each action, as read here:
//!
//! - `newInstance` (topic_0070649092): `activity, orderId, orderLineId, businessId, testFlag`;
//!   the answer names `instanceId` and `appInfo.frontEndUrl` ("SaaS商品必须向客户提供应用使用信息").
//! - `refreshInstance` (topic_0070649094): `instanceId, orderId, orderLineId, scene, expireTime,
//!   productId?`; `upgradeInstance` (topic_0070649097): `instanceId, orderId, orderLineId`.
//! - `updateInstanceStatus` (topic_0070649095): `instanceId`, `status` FREEZE | UNFREEZE.
//! - `releaseInstance` (topic_0070649096): `instanceId`, `orderId?`, `orderLineId?`.
//! - `queryInstance` (topic_0070649093): `instanceId`, up to 100 comma-separated; each answered
//!   with its `usageInfo` ("按需和按需套餐包实例需要返回"): the cumulative `usageValue` and its
//!   `statisticalTime` (`yyyyMMddHHmmssSSS`).

use super::saas_signature as sig;
use billing_domain::service::koogallery::{Call, Outcome};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

pub const SUCCESS: &str = "000000";
pub const AUTH_FAILED: &str = "000001";
pub const INVALID_PARAMETER: &str = "000002";
pub const INSTANCE_NOT_FOUND: &str = "000003";

/// An answer: its JSON body and the `Body-Sign` header over exactly those bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub body: String,
    pub body_sign: String,
}

pub fn answer(key: &str, mut v: Value) -> Answer {
    if v.get("resultMsg").is_none() {
        let msg = match v["resultCode"].as_str() {
            Some(SUCCESS) => "success",
            Some(AUTH_FAILED) => "authentication failed",
            Some(INSTANCE_NOT_FOUND) => "instance not found",
            _ => "invalid request parameter",
        };
        v["resultMsg"] = msg.into();
    }
    let body = v.to_string();
    Answer { body_sign: sig::body_sign(key, &body), body }
}

pub fn code(key: &str, code: &str) -> Answer {
    answer(key, json!({ "resultCode": code }))
}

/// A signed request: its nonce and the time it says it was sent. `None` for a request that is
/// unsigned or signed with another key or over other bytes.
pub fn verify(key: &str, params: &[(String, String)], body: &str) -> Option<(String, DateTime<Utc>)> {
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let (signature, timestamp, nonce) = (param("signature")?, param("timestamp")?, param("nonce")?);
    if nonce.len() > 128 || !sig::verify_request(key, nonce, timestamp, body, signature) {
        return None;
    }
    let at = sig::timestamp_seconds(timestamp).and_then(|s| Utc.timestamp_opt(s, 0).single())?;
    Some((nonce.to_string(), at))
}

/// The call a signed body makes; `Err` with the answer for a body no action reads.
pub fn read(body: &str) -> Result<Call, &'static str> {
    let Ok(req) = serde_json::from_str::<Value>(body) else {
        return Err(INVALID_PARAMETER);
    };
    let text = |name: &str| req[name].as_str().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let instance = || text("instanceId").ok_or(INVALID_PARAMETER);
    match text("activity").as_deref() {
        Some("newInstance") => match (text("orderId"), text("orderLineId")) {
            (Some(order_id), Some(order_line_id)) => Ok(Call::NewInstance { order_id, order_line_id }),
            _ => Err(INVALID_PARAMETER),
        },
        Some("refreshInstance" | "upgradeInstance") => Ok(Call::Keep { instance_id: instance()? }),
        Some("updateInstanceStatus") => {
            // V2.0 names it `status`; V1's `instanceStatus` is read too.
            let frozen = match text("status").or_else(|| text("instanceStatus")).as_deref() {
                Some("FREEZE") => true,
                Some("UNFREEZE") => false,
                _ => return Err(INVALID_PARAMETER),
            };
            Ok(Call::SetStatus { instance_id: instance()?, frozen })
        }
        Some("releaseInstance") => Ok(Call::Release { instance_id: instance()? }),
        Some("queryInstance") => {
            let ids = instance()?.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_string).collect();
            Ok(Call::Query { instance_ids: ids })
        }
        _ => Err(INVALID_PARAMETER),
    }
}

/// The answer to what the domain decided. `front_end_url` is where the buyer starts using the
/// product (our registration page, which binds the instance).
pub fn render(key: &str, outcome: Outcome, front_end_url: &str) -> Answer {
    match outcome {
        Outcome::Opened { instance_id } => answer(
            key,
            json!({"resultCode": SUCCESS, "resultMsg": "success", "instanceId": instance_id,
                   "appInfo": {"frontEndUrl": front_end_url}}),
        ),
        Outcome::Done => code(key, SUCCESS),
        Outcome::Instances(found) => {
            let info: Vec<Value> = found
                .into_iter()
                .map(|i| {
                    // "usageValue: Double(12,4)": a JSON number with at most 4 decimals.
                    let value: f64 = i.usage_value.round_dp(4).to_string().parse().unwrap_or_default();
                    json!({"instanceId": i.instance_id, "usageInfo": [{"usageValue": value,
                           "statisticalTime": i.statistical_time.format("%Y%m%d%H%M%S%3f").to_string()}]})
                })
                .collect();
            answer(key, json!({"resultCode": SUCCESS, "resultMsg": "success", "info": info}))
        }
        Outcome::InvalidParameter => code(key, INVALID_PARAMETER),
        Outcome::InstanceNotFound => code(key, INSTANCE_NOT_FOUND),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_bodies_of_every_action_are_read() {
        let cases = [
            (
                r#"{"activity":"newInstance","businessId":"87b94795-0603-4e24-8ae5-69420d60e3c8","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"0"}"#,
                Call::NewInstance {
                    order_id: "CS2211181819B4LVS".into(),
                    order_line_id: "CS2211181819B4LVS-000001".into(),
                },
            ),
            (
                r#"{"activity":"refreshInstance","expireTime":"20221124023618256","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","productId":"OFFI461867333479178240","scene":"RENEWAL","testFlag":"1"}"#,
                Call::Keep { instance_id: "10e758d0-31ad-4c4b-8f1b-81d03469a10e".into() },
            ),
            (
                r#"{"activity":"updateInstanceStatus","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","status":"FREEZE","testFlag":"1"}"#,
                Call::SetStatus { instance_id: "10e758d0-31ad-4c4b-8f1b-81d03469a10e".into(), frozen: true },
            ),
            (
                r#"{"activity":"releaseInstance","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"1"}"#,
                Call::Release { instance_id: "10e758d0-31ad-4c4b-8f1b-81d03469a10e".into() },
            ),
            (
                r#"{"activity":"queryInstance","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","testFlag":"1"}"#,
                Call::Query { instance_ids: vec!["10e758d0-31ad-4c4b-8f1b-81d03469a10e".into()] },
            ),
            (
                r#"{"activity":"upgradeInstance","instanceId":"10e758d0-31ad-4c4b-8f1b-81d03469a10e","orderId":"CS2211181819B4LVS","orderLineId":"CS2211181819B4LVS-000001","testFlag":"0"}"#,
                Call::Keep { instance_id: "10e758d0-31ad-4c4b-8f1b-81d03469a10e".into() },
            ),
        ];
        for (body, call) in cases {
            assert_eq!(read(body), Ok(call), "{body}");
        }
        assert_eq!(
            read(r#"{"activity":"updateInstanceStatus","instanceId":"i","status":"NORMAL"}"#),
            Err(INVALID_PARAMETER)
        );
        assert_eq!(read(r#"{"activity":"orderNotify"}"#), Err(INVALID_PARAMETER));
        assert_eq!(read("not json"), Err(INVALID_PARAMETER));
    }

    #[test]
    fn answers_are_signed_over_their_exact_bytes() {
        let a = render("k3y", Outcome::Opened { instance_id: "hw1".into() }, "https://app.example.com/register");
        assert_eq!(a.body_sign, sig::body_sign("k3y", &a.body));
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(
            (v["resultCode"].as_str(), v["appInfo"]["frontEndUrl"].as_str()),
            (Some("000000"), Some("https://app.example.com/register"))
        );
    }
}
