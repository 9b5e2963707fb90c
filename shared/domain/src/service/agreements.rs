//! AWS Marketplace agreement and licence events from EventBridge (flow 6, current listings).
//! The facts of each agreement are recorded (idempotently, conditioned on the record's
//! version), then the licence's cloud account is moved to the state `rules::agreements`
//! decides. Cloud-account transitions are ordered by event time, so duplicates and any order
//! of arrival end in the same state; a cancellation runs flow 7 exactly once in effect.
//!
//! A licence outlives the agreement it came with when the agreement is renewed or replaced: the
//! licence is decided from every agreement known on it (`rules::agreements::licence_state`), so
//! a renewal is recognised by its licence, whether or not its event names the agreement it
//! continues (`previousAgreementId` is in none of AWS's documented samples of most events).

use super::{aws, subscription, Deps};
use crate::error::{Error, Result};
use crate::model::{AwsCustomer, CloudStatus};
use crate::rules::agreements::{self, Agreement, AgreementEvent, LicenceState};
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
    let (Some(license_arn), Some(acceptor)) = (&a.license_arn, &a.acceptor) else {
        return Ok(()); // the licence is not known yet: its events will settle it
    };
    // Every agreement on the licence decides it: one renewed or replaced leaves it active.
    let mut on_licence = deps.marketplace.agreements_of_licence(acceptor, license_arn).await?;
    on_licence.retain(|o| o.id != a.id);
    on_licence.push(a.clone());
    let Some(state) = agreements::licence_state(&on_licence) else {
        return Ok(());
    };
    let customer = AwsCustomer {
        customer_identifier: None,
        aws_account_id: acceptor.clone(),
        product_code: a.product_code.clone().unwrap_or_default(),
        license_arn: Some(license_arn.clone()),
    };
    // An event may come before the buyer lands: the account is made from it.
    let id = aws::account_for(deps, &customer, a.created_at.unwrap_or(a.last_event_at)).await?.id;
    let (status, at) = match state {
        LicenceState::Active { at } => (CloudStatus::Active, at),
        LicenceState::Cancelled { at } => (CloudStatus::Cancelled, at),
    };
    // A cancellation runs flow 7 and the final report: AWS takes the last usage for about an
    // hour after the agreement ends.
    subscription::apply(deps, &id, status, at, deadline).await?;
    Ok(())
}
