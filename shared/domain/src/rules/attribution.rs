//! Flow 8 and 9 as pure decisions: which records of a batch are taken, who pays each one's
//! hour, which are repeats of an id seen earlier in the batch, and, once a commit is refused
//! for records already stored, what each of them is (a duplicate, a conflict, a record of a
//! month issued meanwhile) and what is left to commit again. `service::usage` reads and
//! writes around these.

use super::exporters::Exporter;
use super::rating::{Attributed, MonthKey};
use super::usage::{self, Payer, Refusal, UsageRecord};
use crate::model::{SettlementChange, Workspace};
use std::collections::{HashMap, HashSet};

/// A record's identity: its site and its id (ids are unique per site).
pub type RecordKey = (String, String);

/// A later record of the batch with an id that an earlier one has: judged, once the first is
/// committed, against what that id then stands for ([`judge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    pub index: usize,
    pub key: RecordKey,
    pub fingerprint: String,
}

/// A batch's records, each with its index in the batch, sorted by what happens to them.
#[derive(Debug, Default)]
pub struct Attribution {
    /// Taken, with the payer of the hour: to commit.
    pub attributed: Vec<(usize, Attributed)>,
    /// The second and later records of an id.
    pub repeats: Vec<Repeat>,
    /// Refused before any write: (index, id, why).
    pub refused: Vec<(usize, String, Refusal)>,
}

/// Each parsed record admitted ([`usage::admit`]) with the payer in force at the start of its
/// hour ([`usage::settlement_at`] where the workspace's history was read, else its settlement
/// now); of the records of one id (per site), the first is attributed and the others repeat it.
pub fn attribute(
    parsed: Vec<(usize, UsageRecord)>,
    workspaces: &HashMap<String, Workspace>,
    histories: &HashMap<String, Vec<SettlementChange>>,
    exporter: &Exporter,
) -> Attribution {
    let mut seen: HashSet<RecordKey> = HashSet::new();
    let mut out = Attribution::default();
    for (i, r) in parsed {
        let ws = match usage::admit(&r, workspaces.get(&r.workspace_id), exporter) {
            Ok(ws) => ws,
            Err(why) => {
                out.refused.push((i, r.id, why));
                continue;
            }
        };
        let fingerprint = usage::fingerprint(&r);
        let key = (ws.site.clone(), r.id.clone());
        if !seen.insert(key.clone()) {
            out.repeats.push(Repeat { index: i, key, fingerprint });
            continue;
        }
        let settlement = match histories.get(&ws.id) {
            Some(h) => usage::settlement_at(ws, h, r.hour),
            None => ws.settlement.clone(),
        };
        let a = Attributed {
            fingerprint,
            site: ws.site.clone(),
            workspace_name: ws.name.clone(),
            billing_account: ws.billing_account.clone(),
            payer: Payer::of(settlement.as_ref()),
            record: r,
        };
        out.attributed.push((i, a));
    }
    out
}

/// What a record's id stands for once its commit is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stands {
    /// The content stored under the id (stored before, or just committed).
    As(String),
    /// Nothing: its month's bill was issued meanwhile.
    Closed,
    /// Stored, with content that cannot be read back.
    Unknown,
}

/// A repeat is a duplicate (`None`) when it says what its id stands for, else refused like it.
pub fn judge(repeat: &Repeat, stands: Option<&Stands>) -> Option<Refusal> {
    match stands {
        Some(Stands::As(f)) if *f == repeat.fingerprint => None,
        Some(Stands::Closed) => Some(Refusal::PeriodClosed),
        _ => Some(Refusal::Conflict),
    }
}

/// A refused commit's records, sorted by what the store found.
#[derive(Debug, Default)]
pub struct AfterRefusal {
    /// Neither stored nor of an issued month: to commit again.
    pub rest: Vec<Attributed>,
    /// Stored before with the same content.
    pub duplicates: usize,
    /// (site, record id, why): stored with other content, or of a month issued meanwhile.
    pub refused: Vec<(String, String, Refusal)>,
    /// What each record taken out of the commit stands for now.
    pub stands: Vec<(RecordKey, Stands)>,
}

/// Sorts the records of a commit the store refused: `stored` maps a record's position in the
/// commit to the fingerprint found under its id (`None`: found, unreadable), `issued` the
/// months whose bills were issued meanwhile.
pub fn after_refusal(
    records: Vec<Attributed>,
    stored: &HashMap<usize, Option<String>>,
    issued: &HashSet<MonthKey>,
) -> AfterRefusal {
    let mut out = AfterRefusal::default();
    for (i, a) in records.into_iter().enumerate() {
        let (stands, refusal) = match stored.get(&i) {
            Some(Some(f)) if *f == a.fingerprint => (Stands::As(f.clone()), None),
            Some(Some(f)) => (Stands::As(f.clone()), Some(Refusal::Conflict)),
            Some(None) => (Stands::Unknown, Some(Refusal::Conflict)),
            None if a.month().is_some_and(|m| issued.contains(&m)) => (Stands::Closed, Some(Refusal::PeriodClosed)),
            None => {
                out.rest.push(a);
                continue;
            }
        };
        match refusal {
            None => out.duplicates += 1,
            Some(why) => out.refused.push((a.site.clone(), a.record.id.clone(), why)),
        }
        out.stands.push((key_of(&a), stands));
    }
    out
}

pub fn key_of(a: &Attributed) -> RecordKey {
    (a.site.clone(), a.record.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing_items;
    use crate::model::{ChangeCause, Edition, Language, Platform, Settlement};
    use crate::money::Amount;
    use crate::rules::exporters::SiteExporters;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn workspace(id: &str, site: &str, settlement: Settlement, since: &str) -> Workspace {
        Workspace {
            id: id.into(),
            name: format!("{id} name"),
            language: Language::Zh,
            site: site.into(),
            edition: Edition::Commercial,
            owner_id: "u".into(),
            billing_account: Some("acme".into()),
            settlement: Some(settlement),
            settlement_since: Some(t(since)),
            last_settlement_change: None,
            version: 1,
            created_at: t("2026-11-01T00:10:00Z"),
        }
    }

    fn record(id: &str, ws: &str, hour: &str, quantity: u32) -> UsageRecord {
        UsageRecord {
            id: id.into(),
            workspace_id: ws.into(),
            item: billing_items::find("log_events").unwrap(),
            hour: t(hour),
            quantity: Amount::from(quantity),
        }
    }

    fn cn1_exporter() -> Exporter {
        let exporters = SiteExporters::parse(r#"{"cn1": ["cn1-exporter"], "us1": ["us1-exporter"]}"#).unwrap();
        exporters.exporter("arn:aws:iam::123456789012:role/cn1-exporter").unwrap()
    }

    fn ali() -> Settlement {
        Settlement::Aliyun { account_id: "1234567890123456".into(), instance_id: "i-1".into() }
    }

    #[test]
    fn each_record_is_taken_refused_or_a_repeat_and_pays_by_the_settlement_of_its_hour() {
        // ws_a settles by Alibaba since 12:00 (its history says enterprise before); ws_b is us1.
        let workspaces: HashMap<String, Workspace> = [
            workspace("ws_a", "cn1", ali(), "2026-11-02T12:00:00Z"),
            workspace("ws_b", "us1", Settlement::Enterprise, "2026-11-01T00:10:00Z"),
        ]
        .into_iter()
        .map(|w| (w.id.clone(), w))
        .collect();
        let change =
            |at: &str, to: Settlement, cause| SettlementChange { at: t(at), from: None, to, cause, actor: "u".into() };
        let histories: HashMap<String, Vec<SettlementChange>> = [(
            "ws_a".to_string(),
            vec![
                change("2026-11-01T00:10:00Z", Settlement::Enterprise, ChangeCause::Registration),
                change("2026-11-02T12:00:00Z", ali(), ChangeCause::Change),
            ],
        )]
        .into();
        let parsed = vec![
            (0, record("r1", "ws_a", "2026-11-02T11:00:00Z", 1)), // before the change: enterprise
            (1, record("r2", "ws_a", "2026-11-02T12:00:00Z", 1)), // from the change: Alibaba
            (2, record("r1", "ws_a", "2026-11-02T11:00:00Z", 2)), // r1 again, other content
            (3, record("r3", "ws_b", "2026-11-02T11:00:00Z", 1)), // a site cn1's exporter does not report
            (4, record("r4", "ws_x", "2026-11-02T11:00:00Z", 1)), // no such workspace
            (5, record("r5", "ws_a", "2026-10-31T23:00:00Z", 1)), // before the workspace
        ];
        let out = attribute(parsed, &workspaces, &histories, &cn1_exporter());

        let payers: Vec<(usize, Payer)> = out.attributed.iter().map(|(i, a)| (*i, a.payer.clone())).collect();
        let alibaba = Payer::Cloud { platform: Platform::Aliyun, cloud_account_id: ali().cloud_account_id().unwrap() };
        assert_eq!(payers, vec![(0, Payer::Enterprise), (1, alibaba)]);
        assert_eq!(out.attributed[0].1.workspace_name, "ws_a name");
        assert_eq!(out.repeats.len(), 1);
        assert_eq!((out.repeats[0].index, out.repeats[0].key.clone()), (2, ("cn1".to_string(), "r1".to_string())));
        assert_ne!(out.repeats[0].fingerprint, out.attributed[0].1.fingerprint);
        let refused: Vec<(usize, Refusal)> = out.refused.iter().map(|(i, _, why)| (*i, *why)).collect();
        assert_eq!(
            refused,
            vec![(3, Refusal::SiteNotAllowed), (4, Refusal::WorkspaceNotFound), (5, Refusal::BeforeWorkspace)]
        );
    }

    #[test]
    fn without_a_history_read_the_settlement_now_pays() {
        let w = workspace("ws_a", "cn1", ali(), "2026-11-01T00:10:00Z");
        let workspaces = HashMap::from([(w.id.clone(), w)]);
        let out = attribute(
            vec![(0, record("r1", "ws_a", "2026-11-02T11:00:00Z", 1))],
            &workspaces,
            &HashMap::new(),
            &cn1_exporter(),
        );
        assert!(matches!(out.attributed[0].1.payer, Payer::Cloud { platform: Platform::Aliyun, .. }));
    }

    #[test]
    fn a_repeat_is_a_duplicate_only_of_the_content_its_id_stands_for() {
        let repeat = Repeat { index: 3, key: ("cn1".into(), "r1".into()), fingerprint: "f".into() };
        assert_eq!(judge(&repeat, Some(&Stands::As("f".into()))), None);
        assert_eq!(judge(&repeat, Some(&Stands::As("g".into()))), Some(Refusal::Conflict));
        assert_eq!(judge(&repeat, Some(&Stands::Unknown)), Some(Refusal::Conflict));
        assert_eq!(judge(&repeat, Some(&Stands::Closed)), Some(Refusal::PeriodClosed));
        // Its first record was refused before any write: so is the repeat.
        assert_eq!(judge(&repeat, None), Some(Refusal::Conflict));
    }

    #[test]
    fn a_refused_commit_sorts_its_records_by_what_the_store_found() {
        let w = workspace("ws_a", "cn1", Settlement::Enterprise, "2026-11-01T00:10:00Z");
        let workspaces = HashMap::from([(w.id.clone(), w)]);
        let parsed = vec![
            (0, record("same", "ws_a", "2026-11-02T11:00:00Z", 1)),
            (1, record("other", "ws_a", "2026-11-02T11:00:00Z", 1)),
            (2, record("unreadable", "ws_a", "2026-11-02T11:00:00Z", 1)),
            (3, record("issued", "ws_a", "2026-11-02T11:00:00Z", 1)),
            (4, record("new", "ws_a", "2026-12-01T00:00:00Z", 1)),
        ];
        let records: Vec<Attributed> = attribute(parsed, &workspaces, &HashMap::new(), &cn1_exporter())
            .attributed
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        let stored = HashMap::from([(0, Some(records[0].fingerprint.clone())), (1, Some("else".into())), (2, None)]);
        let issued = HashSet::from([records[3].month().unwrap()]);
        let out = after_refusal(records, &stored, &issued);

        assert_eq!(out.rest.iter().map(|a| a.record.id.as_str()).collect::<Vec<_>>(), ["new"]);
        assert_eq!(out.duplicates, 1);
        let refused: Vec<(&str, Refusal)> = out.refused.iter().map(|(_, id, why)| (id.as_str(), *why)).collect();
        assert_eq!(
            refused,
            [("other", Refusal::Conflict), ("unreadable", Refusal::Conflict), ("issued", Refusal::PeriodClosed)]
        );
        let stands: Vec<Stands> = out.stands.into_iter().map(|(_, s)| s).collect();
        assert!(matches!(&stands[..], [Stands::As(_), Stands::As(o), Stands::Unknown, Stands::Closed] if o == "else"));
    }
}
