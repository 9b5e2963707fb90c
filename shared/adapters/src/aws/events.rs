//! AWS Marketplace subscription messages, read into the domain's events. An SQS record's body
//! is an SNS envelope (`Message`: the `aws-mp-subscription-notification` JSON, or an EventBridge
//! event that reached the queue through SNS) or an EventBridge event of `aws.agreement-marketplace`
//! ("Amazon EventBridge notifications", AWS Marketplace Seller Guide).

use billing_domain::rules::agreements::{AgreementEvent, EventKind};
use billing_domain::service::aws::{Notification, NotificationAction};
use billing_domain::{Error, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// What one record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Notification(Notification),
    Agreement(AgreementEvent),
    /// A message the billing center does not act on (`entitlement-updated`, "Purchase Agreement
    /// Ending", ...): acknowledged and logged, never failed into the dead-letter queue.
    Ignored(String),
}

fn bad(what: &str) -> Error {
    Error::MalformedRequest(format!("marketplace message: {what}"))
}

/// Reads one SQS record body.
pub fn parse(body: &str) -> Result<Message> {
    let value: Value = serde_json::from_str(body).map_err(|e| bad(&format!("not JSON: {e}")))?;
    if value.get("detail-type").is_some() {
        return agreement_event(&value);
    }
    let message = value["Message"].as_str().ok_or_else(|| bad("neither an SNS envelope nor an event"))?;
    let at = value["Timestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| bad("SNS envelope without Timestamp"))?;
    let inner: Value = serde_json::from_str(message).map_err(|e| bad(&format!("Message is not JSON: {e}")))?;
    if inner.get("detail-type").is_some() {
        return agreement_event(&inner);
    }
    notification(&inner, at)
}

/// `aws-mp-subscription-notification` ("Amazon SNS notifications for SaaS products"): `action`,
/// `customer-identifier`, `product-code`, and `offer-identifier` / `isFreeTrialTermPresent`
/// (a string, "not a boolean") that the billing center does not need. The documented template
/// pads the customer identifier with a space (`" X01EXAMPLEX"`): it is trimmed.
fn notification(m: &Value, at: DateTime<Utc>) -> Result<Message> {
    let text = |k: &str| m[k].as_str().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let action = text("action").ok_or_else(|| bad("notification without action"))?;
    let action = match action.as_str() {
        "subscribe-success" => NotificationAction::SubscribeSuccess,
        "subscribe-fail" => NotificationAction::SubscribeFail,
        "unsubscribe-pending" => NotificationAction::UnsubscribePending,
        "unsubscribe-success" => NotificationAction::UnsubscribeSuccess,
        // The entitlement topic's only action; "A subsequent call to GetEntitlement is required
        // to discover the content of the update": nothing here to act on.
        other => return Ok(Message::Ignored(format!("notification {other}"))),
    };
    Ok(Message::Notification(Notification {
        action,
        customer_identifier: text("customer-identifier").ok_or_else(|| bad("no customer-identifier"))?,
        product_code: text("product-code").ok_or_else(|| bad("no product-code"))?,
        at,
    }))
}

/// A licence ARN as `BatchMeterUsage` takes it (`^arn:aws[a-zA-Z-]*:...`). AWS's documented
/// licence events print it without the leading `arn:` (`aws:license-manager:us-east-1:...`).
pub fn normalize_license_arn(arn: &str) -> String {
    let arn = arn.trim();
    if arn.starts_with("aws:") || arn.starts_with("aws-") {
        format!("arn:{arn}")
    } else {
        arn.to_string()
    }
}

/// An event of `aws.agreement-marketplace`. Where AWS's samples differ, both forms are read:
/// the agreement id from `detail.agreement.id` or the `resources` ARN; the buyer from
/// `detail.acceptor.accountId`; the licence from `detail.license.arn`. Events the billing
/// center does not act on are `Ignored`.
pub fn agreement_event(v: &Value) -> Result<Message> {
    let detail_type = v["detail-type"].as_str().ok_or_else(|| bad("no detail-type"))?;
    if v["source"].as_str().is_some_and(|s| s != "aws.agreement-marketplace") {
        return Ok(Message::Ignored(format!("event from {}", v["source"])));
    }
    let Some(kind) = EventKind::of_detail_type(detail_type) else {
        return Ok(Message::Ignored(detail_type.to_string()));
    };
    let d = &v["detail"];
    let text = |paths: &[&[&str]]| -> Option<String> {
        paths.iter().find_map(|path| {
            let found = path.iter().fold(d, |node, key| &node[*key]);
            found.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
        })
    };
    let from_resources = || {
        v["resources"].as_array()?.iter().filter_map(|r| r.as_str()).find_map(|r| {
            r.split_once(":agreement").map(|(_, rest)| {
                rest.trim_start_matches([':', '/']).rsplit(['/', ':']).next().unwrap_or_default().to_string()
            })
        })
    };
    let agreement_id = text(&[&["agreement", "id"], &["agreementId"]])
        .or_else(from_resources)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("no agreement id"))?;
    let at = v["time"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| bad("no time"))?;
    Ok(Message::Agreement(AgreementEvent {
        kind,
        agreement_id,
        acceptor: text(&[&["acceptor", "accountId"], &["agreement", "acceptorId"], &["acceptorAccountId"]]),
        license_arn: text(&[&["license", "arn"], &["license", "licenseArn"], &["licenseArn"]])
            .map(|a| normalize_license_arn(&a)),
        product_code: text(&[&["product", "code"], &["productCode"]]),
        intent: text(&[&["agreement", "intent"]]),
        status: text(&[&["agreement", "status"]]),
        previous_agreement_id: text(&[&["agreement", "previousAgreementId"]]),
        at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn licence_arns_of_the_documented_events_get_their_arn_prefix() {
        assert_eq!(
            normalize_license_arn("aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x"),
            "arn:aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x"
        );
        let full = "arn:aws:license-manager::294406891311:license:l-0123";
        assert_eq!(normalize_license_arn(full), full);
    }

    #[test]
    fn notifications_are_read_and_actions_not_acted_on_are_ignored() {
        let envelope = |m: &str| json!({"Type": "Notification", "Message": m, "Timestamp": "2026-11-20T10:00:00.000Z"});
        let m = r#"{"action": "unsubscribe-pending", "customer-identifier": " X01EXAMPLEX", "product-code": "n0123EXAMPLEXXXXXXXXXXXX", "offer-identifier": "offer-abcexample123", "isFreeTrialTermPresent":"true"}"#;
        match parse(&envelope(m).to_string()).unwrap() {
            Message::Notification(n) => {
                assert_eq!(n.action, NotificationAction::UnsubscribePending);
                assert_eq!(n.customer_identifier, "X01EXAMPLEX");
            }
            other => panic!("{other:?}"),
        }
        let entitlement =
            r#"{"action": "entitlement-updated", "customer-identifier": "X01EXAMPLEX", "product-code": "n0123"}"#;
        assert!(matches!(parse(&envelope(entitlement).to_string()).unwrap(), Message::Ignored(_)));
        assert!(parse("{}").is_err());
        assert!(parse(&envelope("not json").to_string()).is_err());
    }
}
