//! AWS Marketplace agreement and licence events from EventBridge (flow 6, current listings).
//! The facts of each agreement are recorded (idempotently, conditioned on the record's
//! version), then the licence's cloud account is moved to the state `rules::agreements`
//! decides. Cloud-account transitions are ordered by event time, so duplicates and any order
//! of arrival end in the same state; a cancellation runs flow 7 exactly once in effect.

use super::marketplace::aws_account;
use super::{cancellation, metering, Deps};
use crate::error::{Error, Result};
use crate::model::{AwsCustomer, CloudStatus};
use crate::ports::Transition;
use crate::rules::agreements::{Agreement, AgreementEvent, LicenceState};
use crate::rules::fields;
use std::time::Instant;

/// Records an event on its agreement (and, for a renewal, links the agreement it continues),
/// then applies what the agreement now decides for its licence.
pub async fn apply(deps: &Deps, event: &AgreementEvent, deadline: Option<Instant>) -> Result<()> {
    for id in
        [Some(&event.agreement_id), event.previous_agreement_id.as_ref(), event.acceptor.as_ref()].into_iter().flatten()
    {
        if !fields::is_id(id) {
            return Err(Error::MalformedRequest("agreement and account ids must be ids".into()));
        }
    }
    let previous = match event.continues() {
        Some(p) => Some(supersede(deps, p, &event.agreement_id).await?),
        None => None,
    };
    let agreement = record(deps, event, previous.as_ref()).await?;
    settle_licence(deps, &agreement, deadline).await
}

/// Read, record, write conditioned on the version read; again if another writer came first.
async fn record(deps: &Deps, event: &AgreementEvent, previous: Option<&Agreement>) -> Result<Agreement> {
    for _ in 0..10 {
        let mut a = deps
            .marketplace
            .agreement(&event.agreement_id)
            .await?
            .unwrap_or_else(|| Agreement::new(&event.agreement_id));
        a.record(event);
        if let Some(p) = previous {
            a.inherit(p);
        }
        a.version += 1;
        if deps.marketplace.save_agreement(&a).await? {
            return Ok(a);
        }
    }
    Err(Error::Conflict)
}

/// Marks `previous` as continued by `by`: its end is then no cancellation.
async fn supersede(deps: &Deps, previous: &str, by: &str) -> Result<Agreement> {
    for _ in 0..10 {
        let mut p = deps.marketplace.agreement(previous).await?.unwrap_or_else(|| Agreement::new(previous));
        if p.superseded_by.as_deref() == Some(by) {
            return Ok(p);
        }
        p.superseded_by = Some(by.to_string());
        p.version += 1;
        if deps.marketplace.save_agreement(&p).await? {
            return Ok(p);
        }
    }
    Err(Error::Conflict)
}

async fn settle_licence(deps: &Deps, a: &Agreement, deadline: Option<Instant>) -> Result<()> {
    let (Some(state), Some(license_arn), Some(acceptor)) = (a.licence_state(), &a.license_arn, &a.acceptor) else {
        return Ok(()); // the licence is not known yet: its events will settle it
    };
    let customer = AwsCustomer {
        customer_identifier: None,
        aws_account_id: acceptor.clone(),
        product_code: a.product_code.clone().unwrap_or_default(),
        license_arn: Some(license_arn.clone()),
    };
    // An event may come before the buyer lands: the account is made from it.
    let id = deps.marketplace.open_cloud_account(&aws_account(&customer)).await?.id;
    let (status, at) = match state {
        LicenceState::Active { at } => (CloudStatus::Active, at),
        LicenceState::Cancelled { at } => (CloudStatus::Cancelled, at),
    };
    match deps.marketplace.transition(&id, status, at).await? {
        Some(Transition::Applied { account }) if account.status == CloudStatus::Cancelled => {
            cancellation::run(deps, &account, deadline).await?;
            // AWS takes the final usage for about an hour after the agreement ends: now.
            metering::final_report(deps, &account.id, deadline).await;
        }
        Some(Transition::Stale) => {
            tracing::info!(cloud_account = %id, agreement = %a.id, "stale agreement event ignored")
        }
        _ => {}
    }
    Ok(())
}

/// Reads an EventBridge event of `aws.agreement-marketplace`. Tolerant where AWS's own
/// examples differ (README, "AWS Marketplace"): the agreement id is taken from the detail or
/// from the event's resources, the licence from `license.arn` or `licenseArn`, the buyer from
/// `acceptor.accountId` or `agreement.acceptorId`. `Ok(None)` for events the billing center
/// does not act on (e.g. "Purchase Agreement Ending").
pub fn parse_event(v: &serde_json::Value) -> Result<Option<AgreementEvent>> {
    use crate::rules::agreements::EventKind;
    let bad = |what: &str| Error::MalformedRequest(format!("agreement event: {what}"));
    let detail_type = v["detail-type"].as_str().ok_or_else(|| bad("no detail-type"))?;
    if v["source"].as_str().is_some_and(|s| s != "aws.agreement-marketplace") {
        return Ok(None);
    }
    let Some(kind) = EventKind::of_detail_type(detail_type) else {
        return Ok(None);
    };
    let d = &v["detail"];
    let text = |paths: &[&[&str]]| -> Option<String> {
        paths.iter().find_map(|path| {
            let found = path.iter().fold(d, |node, key| &node[*key]);
            found.as_str().filter(|s| !s.is_empty()).map(str::to_string)
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
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| bad("no time"))?;
    Ok(Some(AgreementEvent {
        kind,
        agreement_id,
        acceptor: text(&[&["acceptor", "accountId"], &["agreement", "acceptorId"], &["acceptorAccountId"]]),
        license_arn: text(&[&["license", "arn"], &["license", "licenseArn"], &["licenseArn"]]),
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
    use crate::rules::agreements::EventKind;
    use serde_json::json;

    #[test]
    fn reads_the_documented_shapes() {
        let created = json!({"version": "0", "id": "e1", "detail-type": "Purchase Agreement Created - Proposer",
            "source": "aws.agreement-marketplace", "time": "2026-08-30T21:36:03Z",
            "resources": ["arn:aws:aws-marketplace::aws:agreement:agmt-new"],
            "detail": {"agreement": {"id": "agmt-new", "intent": "RENEW", "status": "ACTIVE", "previousAgreementId": "agmt-old"},
                       "acceptor": {"accountId": "845735284135"}}});
        let e = parse_event(&created).unwrap().unwrap();
        assert_eq!(
            (e.kind, e.agreement_id.as_str(), e.continues()),
            (EventKind::Created, "agmt-new", Some("agmt-old"))
        );
        assert_eq!(e.acceptor.as_deref(), Some("845735284135"));

        let licence = json!({"detail-type": "License Updated - Manufacturer", "source": "aws.agreement-marketplace",
            "time": "2026-08-30T21:36:03Z", "resources": ["arn:aws:aws-marketplace::aws:agreement:agmt-1"],
            "detail": {"product": {"code": "prod-code", "id": "prod-x"}, "acceptor": {"accountId": "845735284135"},
                       "license": {"arn": "aws:license-manager:us-east-1:123456789012:l-E52ca6"}}});
        let e = parse_event(&licence).unwrap().unwrap();
        assert_eq!(e.agreement_id, "agmt-1", "from resources when the detail has none");
        assert_eq!((e.product_code.as_deref(), e.license_arn.is_some()), (Some("prod-code"), true));

        let ending = json!({"detail-type": "Purchase Agreement Ending - Proposer", "source": "aws.agreement-marketplace",
                            "time": "2026-08-30T21:36:03Z", "detail": {"agreement": {"id": "a"}}});
        assert_eq!(parse_event(&ending).unwrap(), None);
        assert!(parse_event(&json!({"detail-type": "License Updated - Manufacturer", "detail": {}})).is_err());
    }
}
