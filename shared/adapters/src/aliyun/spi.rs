//! The SPI (服务商接口) Alibaba Cloud Marketplace calls: parameters in the query string or a
//! form body, signed with the SPI token (`spi_token`, "SPI 安全令牌"); `action` is one of
//! `createInstance`, `renewInstance`, `upgradeInstance`, `expiredInstance`, `releaseInstance`.
//! Answers in the shapes api.md fixes: `{"instanceId"}` for a created instance, `{"success":
//! true}` otherwise, `{"success": false, "code"}` with 400 / 403 / 404 on errors.

use super::spi_token;
use billing_domain::service::aliyun::{SpiCall, SpiOutcome};
use serde_json::{json, Value};

/// A call read from its parameters, or the answer it gets without reaching the domain.
pub fn read(params: &[(String, String)], secret: &str) -> Result<SpiCall, (u16, Value)> {
    // Unsigned or wrongly signed calls change nothing.
    if !spi_token::verify(params, secret) {
        return Err(error(403, "invalid_token"));
    }
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let instance = || param("instanceId").ok_or_else(|| error(400, "invalid_parameter"));
    match param("action").as_deref() {
        Some("createInstance") => match (param("aliUid"), param("orderBizId")) {
            (Some(ali_uid), Some(order_biz_id)) => Ok(SpiCall::Create { ali_uid, order_biz_id }),
            _ => Err(error(400, "invalid_parameter")),
        },
        // A renewal, an upgrade or a refunded renewal ("实例退续费") changes nothing we keep.
        Some("renewInstance" | "upgradeInstance" | "refundRenewInstance") => {
            Ok(SpiCall::Keep { instance_id: instance()? })
        }
        Some("expiredInstance" | "releaseInstance") => Ok(SpiCall::Close { instance_id: instance()? }),
        _ => Err(error(400, "unknown_action")),
    }
}

/// The answer to what the domain decided.
pub fn answer(outcome: SpiOutcome) -> (u16, Value) {
    match outcome {
        SpiOutcome::Created { instance_id } => (200, json!({ "instanceId": instance_id })),
        SpiOutcome::Done => (200, json!({ "success": true })),
        SpiOutcome::InvalidParameter => error(400, "invalid_parameter"),
        SpiOutcome::InstanceNotFound => error(404, "instance_not_found"),
    }
}

fn error(status: u16, code: &str) -> (u16, Value) {
    (status, json!({ "success": false, "code": code }))
}
