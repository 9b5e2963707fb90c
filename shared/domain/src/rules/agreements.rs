//! AWS Marketplace agreements and licences (EventBridge, source `aws.agreement-marketplace`).
//!
//! Agreement events (Created / Amended / Ended) name the agreement and the buyer's account but
//! not the licence; licence events (License Updated / Deprovisioned) name both. A cloud account
//! is a licence (domain.md, flow 6), so an agreement's facts are kept until its licence is
//! known, and the licence's state is decided from them whatever order they came in:
//!
//! - deprovisioned: cancelled, at that time (AWS takes no more usage for it);
//! - ended for good (cancelled, expired, terminated) and not superseded by a renewal or a
//!   replacement: cancelled, at the end;
//! - otherwise (created, amended, updated, or ended because it was renewed or replaced): active.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Created,
    Amended,
    Ended,
    LicenseUpdated,
    LicenseDeprovisioned,
}

impl EventKind {
    /// The kind of an EventBridge `detail-type`, whatever role suffix it carries
    /// (`- Manufacturer`, `- Proposer`); `None` for events the billing center does not act on.
    pub fn of_detail_type(detail_type: &str) -> Option<EventKind> {
        let base = detail_type.split(" - ").next().unwrap_or_default().trim();
        match base {
            "Purchase Agreement Created" => Some(EventKind::Created),
            "Purchase Agreement Amended" => Some(EventKind::Amended),
            "Purchase Agreement Ended" => Some(EventKind::Ended),
            "License Updated" => Some(EventKind::LicenseUpdated),
            "License Deprovisioned" => Some(EventKind::LicenseDeprovisioned),
            _ => None,
        }
    }
}

/// One event, as parsed from its EventBridge envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementEvent {
    pub kind: EventKind,
    pub agreement_id: String,
    pub acceptor: Option<String>,
    pub license_arn: Option<String>,
    pub product_code: Option<String>,
    pub intent: Option<String>,
    pub status: Option<String>,
    pub previous_agreement_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl AgreementEvent {
    /// A renewal or a replacement names the agreement it continues.
    pub fn continues(&self) -> Option<&str> {
        let continuing = matches!(self.intent.as_deref(), Some("RENEW") | Some("REPLACE"));
        (self.kind == EventKind::Created && continuing).then_some(self.previous_agreement_id.as_deref()).flatten()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ending {
    pub status: String,
    pub at: DateTime<Utc>,
}

impl Ending {
    /// Renewed, replaced or superseded agreements (AWS Marketplace Agreement API statuses) end
    /// without ending the subscription.
    pub fn is_final(&self) -> bool {
        !matches!(self.status.as_str(), "RENEWED" | "REPLACED" | "SUPERSEDED")
    }
}

/// What the billing center knows of one agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub id: String,
    pub acceptor: Option<String>,
    pub license_arn: Option<String>,
    pub product_code: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub ended: Option<Ending>,
    pub deprovisioned_at: Option<DateTime<Utc>>,
    /// The agreement that renewed or replaced this one.
    pub superseded_by: Option<String>,
    /// The newest event seen about it.
    pub last_event_at: DateTime<Utc>,
    /// Optimistic-concurrency version: every write is conditioned on it.
    pub version: u64,
}

/// What a licence's cloud account should become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenceState {
    Active { at: DateTime<Utc> },
    Cancelled { at: DateTime<Utc> },
}

impl Agreement {
    pub fn new(id: &str) -> Self {
        Agreement {
            id: id.to_string(),
            acceptor: None,
            license_arn: None,
            product_code: None,
            created_at: None,
            ended: None,
            deprovisioned_at: None,
            superseded_by: None,
            last_event_at: DateTime::<Utc>::UNIX_EPOCH,
            version: 0,
        }
    }

    /// Records what an event says. Idempotent: the same event twice records nothing new, and
    /// facts never go back (an ended agreement stays ended, whichever came first).
    pub fn record(&mut self, e: &AgreementEvent) {
        fill(&mut self.acceptor, &e.acceptor);
        fill(&mut self.license_arn, &e.license_arn);
        fill(&mut self.product_code, &e.product_code);
        match e.kind {
            EventKind::Created => self.created_at = Some(self.created_at.map_or(e.at, |t| t.min(e.at))),
            EventKind::Ended => {
                let status = e.status.clone().unwrap_or_else(|| "UNKNOWN".into()).to_ascii_uppercase();
                if self.ended.as_ref().is_none_or(|old| e.at < old.at) {
                    self.ended = Some(Ending { status, at: e.at });
                }
            }
            EventKind::LicenseDeprovisioned => {
                self.deprovisioned_at = Some(self.deprovisioned_at.map_or(e.at, |t| t.min(e.at)))
            }
            EventKind::Amended | EventKind::LicenseUpdated => {}
        }
        self.last_event_at = self.last_event_at.max(e.at);
    }

    /// Takes the licence of the agreement this one renews or replaces, until its own is known.
    pub fn inherit(&mut self, previous: &Agreement) {
        fill(&mut self.license_arn, &previous.license_arn);
        fill(&mut self.product_code, &previous.product_code);
        fill(&mut self.acceptor, &previous.acceptor);
    }

    /// The licence's state as this agreement decides it, once the licence is known.
    pub fn licence_state(&self) -> Option<LicenceState> {
        self.license_arn.as_ref()?;
        if let Some(at) = self.deprovisioned_at {
            return Some(LicenceState::Cancelled { at });
        }
        match &self.ended {
            Some(end) if end.is_final() && self.superseded_by.is_none() => Some(LicenceState::Cancelled { at: end.at }),
            _ => Some(LicenceState::Active { at: self.last_event_at }),
        }
    }
}

/// A licence's state decided from every agreement known on it: cancelled when it is
/// deprovisioned, or when every agreement on it ended for good; active while one of them runs
/// (a renewal or a replacement keeps the licence). `None` until the licence is known.
pub fn licence_state(on_licence: &[Agreement]) -> Option<LicenceState> {
    let states: Vec<LicenceState> = on_licence.iter().filter_map(Agreement::licence_state).collect();
    let newest = on_licence.iter().map(|a| a.last_event_at).max()?;
    if let Some(at) = on_licence.iter().filter_map(|a| a.deprovisioned_at).max() {
        return Some(LicenceState::Cancelled { at });
    }
    if states.is_empty() {
        return None;
    }
    let ends: Vec<DateTime<Utc>> = states
        .iter()
        .filter_map(|s| match s {
            LicenceState::Cancelled { at } => Some(*at),
            LicenceState::Active { .. } => None,
        })
        .collect();
    if ends.len() == states.len() {
        return ends.into_iter().max().map(|at| LicenceState::Cancelled { at });
    }
    Some(LicenceState::Active { at: newest })
}

fn fill(slot: &mut Option<String>, value: &Option<String>) {
    if slot.is_none() {
        slot.clone_from(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + s, 0).unwrap()
    }

    fn ev(kind: EventKind, at: i64) -> AgreementEvent {
        AgreementEvent {
            kind,
            agreement_id: "agmt-1".into(),
            acceptor: Some("111122223333".into()),
            license_arn: matches!(kind, EventKind::LicenseUpdated | EventKind::LicenseDeprovisioned)
                .then(|| "arn:aws:license-manager::111122223333:license:l-abc".into()),
            product_code: None,
            intent: (kind == EventKind::Created).then(|| "NEW".into()),
            status: (kind == EventKind::Ended).then(|| "CANCELLED".into()),
            previous_agreement_id: None,
            at: t(at),
        }
    }

    fn decide(events: &[AgreementEvent]) -> Option<LicenceState> {
        let mut a = Agreement::new("agmt-1");
        for e in events {
            a.record(e);
        }
        a.licence_state()
    }

    #[test]
    fn detail_types_are_read_whatever_the_role() {
        assert_eq!(EventKind::of_detail_type("Purchase Agreement Created - Proposer"), Some(EventKind::Created));
        assert_eq!(EventKind::of_detail_type("Purchase Agreement Ended - Manufacturer"), Some(EventKind::Ended));
        assert_eq!(
            EventKind::of_detail_type("License Deprovisioned - Manufacturer"),
            Some(EventKind::LicenseDeprovisioned)
        );
        assert_eq!(EventKind::of_detail_type("Purchase Agreement Ending - Proposer"), None);
        assert_eq!(EventKind::of_detail_type("Offer Released"), None);
    }

    #[test]
    fn nothing_is_decided_before_the_licence_is_known() {
        assert_eq!(decide(&[ev(EventKind::Created, 0), ev(EventKind::Ended, 5)]), None);
    }

    #[test]
    fn created_and_updated_activate_and_a_final_end_cancels_in_any_order() {
        let (created, updated, ended) =
            (ev(EventKind::Created, 0), ev(EventKind::LicenseUpdated, 1), ev(EventKind::Ended, 5));
        assert_eq!(decide(&[created.clone(), updated.clone()]), Some(LicenceState::Active { at: t(1) }));
        let orders = [
            vec![created.clone(), updated.clone(), ended.clone()],
            vec![ended.clone(), updated.clone(), created.clone()],
            vec![updated.clone(), ended.clone(), created.clone(), ended.clone()],
        ];
        for events in orders {
            assert_eq!(decide(&events), Some(LicenceState::Cancelled { at: t(5) }), "{events:?}");
        }
    }

    #[test]
    fn a_renewed_or_replaced_end_is_not_a_cancellation() {
        for status in ["RENEWED", "REPLACED"] {
            let mut ended = ev(EventKind::Ended, 5);
            ended.status = Some(status.into());
            assert_eq!(decide(&[ev(EventKind::LicenseUpdated, 1), ended]), Some(LicenceState::Active { at: t(5) }));
        }
        for status in ["CANCELLED", "EXPIRED", "TERMINATED"] {
            let mut ended = ev(EventKind::Ended, 5);
            ended.status = Some(status.into());
            assert_eq!(decide(&[ev(EventKind::LicenseUpdated, 1), ended]), Some(LicenceState::Cancelled { at: t(5) }));
        }
    }

    #[test]
    fn a_superseded_agreement_that_ends_leaves_the_licence_active() {
        let mut a = Agreement::new("agmt-1");
        a.record(&ev(EventKind::LicenseUpdated, 1));
        a.superseded_by = Some("agmt-2".into());
        a.record(&ev(EventKind::Ended, 5));
        assert_eq!(a.licence_state(), Some(LicenceState::Active { at: t(5) }));
    }

    #[test]
    fn a_renewal_on_the_same_licence_keeps_it_active_without_naming_what_it_continues() {
        let mut old = Agreement::new("agmt-1");
        old.record(&ev(EventKind::LicenseUpdated, 1));
        let mut renewal = Agreement::new("agmt-2");
        let mut created = ev(EventKind::Created, 6);
        created.agreement_id = "agmt-2".into();
        created.intent = Some("RENEW".into());
        renewal.record(&created);
        let mut updated = ev(EventKind::LicenseUpdated, 7);
        updated.agreement_id = "agmt-2".into();
        renewal.record(&updated);
        old.record(&ev(EventKind::Ended, 8)); // CANCELLED, as AWS's documented Ended sample says
        assert_eq!(licence_state(&[old.clone()]), Some(LicenceState::Cancelled { at: t(8) }));
        assert_eq!(licence_state(&[old.clone(), renewal.clone()]), Some(LicenceState::Active { at: t(8) }));
        renewal.record(&ev(EventKind::Ended, 20));
        assert_eq!(licence_state(&[old, renewal]), Some(LicenceState::Cancelled { at: t(20) }));
        let mut superseded = ev(EventKind::Ended, 5);
        superseded.status = Some("SUPERSEDED".into());
        assert_eq!(decide(&[ev(EventKind::LicenseUpdated, 1), superseded]), Some(LicenceState::Active { at: t(5) }));
    }

    #[test]
    fn a_renewal_inherits_the_licence_and_deprovisioning_cancels() {
        let mut old = Agreement::new("agmt-1");
        old.record(&ev(EventKind::LicenseUpdated, 1));
        let mut renewal = Agreement::new("agmt-2");
        let mut created = ev(EventKind::Created, 6);
        created.agreement_id = "agmt-2".into();
        created.intent = Some("RENEW".into());
        created.previous_agreement_id = Some("agmt-1".into());
        assert_eq!(created.continues(), Some("agmt-1"));
        renewal.record(&created);
        renewal.inherit(&old);
        assert_eq!(renewal.license_arn, old.license_arn);
        assert_eq!(renewal.licence_state(), Some(LicenceState::Active { at: t(6) }));
        assert_eq!(
            decide(&[ev(EventKind::LicenseUpdated, 1), ev(EventKind::LicenseDeprovisioned, 9)]),
            Some(LicenceState::Cancelled { at: t(9) })
        );
    }
}
