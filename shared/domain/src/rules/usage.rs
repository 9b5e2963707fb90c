//! Usage records (flow 8) and who pays them (flow 9), as pure decisions: a record's fields,
//! when a month closes, and the settlement in force at the start of an hour.

use crate::billing_items::{self, BillingItem};
use crate::model::{Edition, Platform, Settlement, SettlementChange, Workspace};
use crate::money::{parse_exact, Amount, QUANTITY_SCALE};
use crate::rules::fields;
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Records in one `POST /v1/usage`.
pub const MAX_RECORDS: usize = 1000;
/// A month closes this long after it ends (UTC): later usage for it is refused.
pub const CLOSE_AFTER: Duration = Duration::hours(48);

/// A record as a site reports it, fields checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub id: String,
    pub workspace_id: String,
    pub item: &'static BillingItem,
    pub hour: DateTime<Utc>,
    pub quantity: Amount,
}

/// Why one record of a batch is refused (api.md, `POST /v1/usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidField,
    WorkspaceNotFound,
    UnknownItem,
    PeriodClosed,
    Conflict,
    /// The caller does not report for the site of the record's workspace.
    SiteNotAllowed,
    /// The record's hour ended before the workspace was created.
    BeforeWorkspace,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::InvalidField => "invalid_field",
            Refusal::WorkspaceNotFound => "workspace_not_found",
            Refusal::UnknownItem => "unknown_item",
            Refusal::PeriodClosed => "usage_period_closed",
            Refusal::Conflict => "usage_record_conflict",
            Refusal::SiteNotAllowed => "site_not_allowed",
            Refusal::BeforeWorkspace => "before_workspace",
        }
    }
}

/// The start of the month `t` is in.
pub fn month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).single().expect("the first of a month exists")
}

pub fn next_month_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().expect("the first of a month exists")
}

/// `YYYY-MM`, as bills are named.
pub fn month_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// A bill's month from its name; `None` unless it is `YYYY-MM` of a real month.
pub fn parse_month(v: &str) -> Option<DateTime<Utc>> {
    let (y, m) = v.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Utc.with_ymd_and_hms(y.parse().ok()?, m.parse().ok()?, 1, 0, 0, 0).single().filter(|t| t.year() >= 2000)
}

/// When the month starting at `month` closes.
pub fn closes_at(month: DateTime<Utc>) -> DateTime<Utc> {
    next_month_start(month) + CLOSE_AFTER
}

pub fn is_closed(hour: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= closes_at(month_start(hour))
}

pub fn hour_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::nanoseconds(t.timestamp_subsec_nanos() as i64)
        - Duration::seconds((t.minute() * 60 + t.second()) as i64)
}

/// A record's fields as sent, each still raw JSON: a field of the wrong type refuses the
/// record, never the batch, and the quantity is read from its own text.
#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    workspace_id: Option<&'a RawValue>,
    #[serde(borrow)]
    item: Option<&'a RawValue>,
    #[serde(borrow)]
    hour: Option<&'a RawValue>,
    #[serde(borrow)]
    quantity: Option<&'a RawValue>,
}

fn text(v: Option<&RawValue>) -> Option<String> {
    serde_json::from_str::<String>(v?.get()).ok()
}

/// The record's id, when it sent a usable one (for the answer's `rejected` entries).
pub fn record_id(raw: &RawValue) -> Option<String> {
    let r: RawRecord = serde_json::from_str(raw.get()).ok()?;
    text(r.id).filter(|id| fields::is_id(id))
}

/// One record of a batch, fields checked. `now` refuses hours that have not begun.
pub fn parse_record(raw: &RawValue, now: DateTime<Utc>) -> Result<UsageRecord, Refusal> {
    let r: RawRecord = serde_json::from_str(raw.get()).map_err(|_| Refusal::InvalidField)?;
    let id = text(r.id).filter(|id| fields::is_id(id)).ok_or(Refusal::InvalidField)?;
    let workspace_id = text(r.workspace_id).ok_or(Refusal::InvalidField)?;
    let hour = text(r.hour)
        .and_then(|h| DateTime::parse_from_rfc3339(&h).ok())
        .map(|h| h.with_timezone(&Utc))
        .filter(|h| *h == hour_start(*h) && *h <= now && h.year() >= 2000)
        .ok_or(Refusal::InvalidField)?;
    let quantity = r.quantity.and_then(|q| parse_exact(q, QUANTITY_SCALE)).ok_or(Refusal::InvalidField)?;
    if !fields::is_id(&workspace_id) {
        return Err(Refusal::WorkspaceNotFound); // no workspace has such an id
    }
    let item = text(r.item).ok_or(Refusal::InvalidField)?;
    let item = billing_items::find(&item).ok_or(Refusal::UnknownItem)?;
    if is_closed(hour, now) {
        return Err(Refusal::PeriodClosed);
    }
    Ok(UsageRecord { id, workspace_id, item, hour, quantity })
}

/// Whether a parsed record is taken from this caller: its workspace exists, is of a site the
/// caller reports for, and existed before the record's hour ended.
pub fn admit<'w>(
    r: &UsageRecord,
    workspace: Option<&'w Workspace>,
    exporter: &crate::rules::exporters::Exporter,
) -> Result<&'w Workspace, Refusal> {
    let ws = workspace.ok_or(Refusal::WorkspaceNotFound)?;
    if !exporter.reports_for(&ws.site) {
        return Err(Refusal::SiteNotAllowed);
    }
    if before_workspace(r.hour, ws.created_at) {
        return Err(Refusal::BeforeWorkspace);
    }
    Ok(ws)
}

/// Whether a record of `hour` can belong to a workspace created at `created_at`: an hour that
/// ended at or before its creation cannot (flow 8). The hour it was created in can.
pub fn before_workspace(hour: DateTime<Utc>, created_at: DateTime<Utc>) -> bool {
    hour + Duration::hours(1) <= created_at
}

/// What a record says, so the same id sent again can be told a duplicate or a conflict.
pub fn fingerprint(r: &UsageRecord) -> String {
    format!("{}|{}|{}|{}", r.workspace_id, r.item.id, r.hour.timestamp(), r.quantity.normalize())
}

/// Who pays a workspace-hour.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Payer {
    /// A free workspace: usage is kept but never charged.
    Free,
    Enterprise,
    Cloud {
        platform: Platform,
        cloud_account_id: String,
    },
}

impl Payer {
    pub fn of(settlement: Option<&Settlement>) -> Payer {
        match settlement {
            None => Payer::Free,
            Some(s) => match (s.platform(), s.cloud_account_id()) {
                (Some(platform), Some(cloud_account_id)) => Payer::Cloud { platform, cloud_account_id },
                _ => Payer::Enterprise,
            },
        }
    }
}

/// Whether the settlement of `ws` as it stands now was already in force at the start of
/// `hour`: then the history need not be read.
pub fn current_settlement_covers(ws: &Workspace, hour: DateTime<Utc>) -> bool {
    match ws.edition {
        // Upgrades are irreversible: a workspace free now was free at every hour.
        Edition::Free => true,
        Edition::Commercial => ws.settlement_since.is_some_and(|since| since <= hour),
    }
}

/// The settlement in force at the start of `hour` (flow 9), from the workspace's history
/// (oldest first). The settlement chosen at registration also covers the hour the workspace
/// was registered in; a workspace registered before history was kept settles by what it
/// settles by now.
pub fn settlement_at(ws: &Workspace, history: &[SettlementChange], hour: DateTime<Utc>) -> Option<Settlement> {
    if history.is_empty() {
        return ws.settlement.clone();
    }
    if let Some(entry) = history.iter().rev().find(|e| e.at <= hour) {
        return Some(entry.to.clone());
    }
    let first = &history[0];
    let registered_this_hour = first.cause == crate::model::ChangeCause::Registration && hour_start(first.at) <= hour;
    registered_this_hour.then(|| first.to.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChangeCause, Language};
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn record(hour: &str, quantity: serde_json::Value) -> Box<RawValue> {
        raw(json!({"id": "r-1", "workspace_id": "ws_1", "item": "log_events", "hour": hour, "quantity": quantity}))
    }

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    #[test]
    fn records_are_checked_field_by_field() {
        let now = t("2026-11-15T10:20:00Z");
        let ok = parse_record(&record("2026-11-15T10:00:00Z", json!("12.5")), now).unwrap();
        assert_eq!((ok.item.id, ok.quantity.to_string()), ("log_events", "12.5".to_string()));
        let cases = [
            (record("2026-11-15T10:30:00Z", json!(1)), Refusal::InvalidField), // not an hour
            (record("2026-11-15T11:00:00Z", json!(1)), Refusal::InvalidField), // not begun
            (record("2026-11-15T10:00:00Z", json!(-1)), Refusal::InvalidField),
            (record("2026-11-15T10:00:00Z", json!("1e9")), Refusal::InvalidField),
            (record("2026-11-15T10:00:00Z", json!(null)), Refusal::InvalidField),
            (record("2026-11-15T10:00:00Z", json!("1_000")), Refusal::InvalidField),
            (record("2026-11-15T10:00:00Z", json!("1.00000000000000000000000000004")), Refusal::InvalidField),
            (
                raw(
                    json!({"id": "r", "workspace_id": "x".repeat(200), "item": "log_events", "hour": "2026-11-15T10:00:00Z", "quantity": 1}),
                ),
                Refusal::WorkspaceNotFound,
            ),
            (
                raw(
                    json!({"id": "r", "workspace_id": "ws", "item": "gold", "hour": "2026-11-15T10:00:00Z", "quantity": 1}),
                ),
                Refusal::UnknownItem,
            ),
            (
                raw(json!({"workspace_id": "ws", "item": "log_events", "hour": "2026-11-15T10:00:00Z", "quantity": 1})),
                Refusal::InvalidField,
            ),
            (
                raw(
                    json!({"id": 7, "workspace_id": "ws", "item": "log_events", "hour": "2026-11-15T10:00:00Z", "quantity": 1}),
                ),
                Refusal::InvalidField,
            ),
            (raw(json!("not a record")), Refusal::InvalidField),
        ];
        for (v, want) in cases {
            assert_eq!(parse_record(&v, now), Err(want), "{v}");
        }
        let exact = parse_record(&RawValue::from_string(r#"{"id": "r-2", "workspace_id": "ws_1", "item": "log_events", "hour": "2026-11-15T10:00:00Z", "quantity": 0.000000000001}"#.into()).unwrap(), now);
        assert_eq!(exact.map(|r| r.quantity.to_string()), Ok("0.000000000001".to_string()));
        assert_eq!(record_id(&raw(json!({"id": "r-9"}))), Some("r-9".to_string()));
        assert_eq!(record_id(&raw(json!([1]))), None);
    }

    #[test]
    fn a_record_is_admitted_for_an_existing_workspace_of_a_reported_site_after_its_creation() {
        use crate::rules::exporters::SiteExporters;
        let exporters = SiteExporters::parse(r#"{"cn1": ["cn1-exporter"], "us1": ["us1-exporter"]}"#).unwrap();
        let cn1 = exporters.exporter("arn:aws:iam::123456789012:role/cn1-exporter").unwrap();
        let us1 = exporters.exporter("arn:aws:iam::123456789012:role/us1-exporter").unwrap();
        let w = ws(Some(Settlement::Enterprise), "2026-11-01T10:17:00Z"); // cn1, created 10:17
        let rec = |hour: &str| UsageRecord {
            id: "r".into(),
            workspace_id: "ws_1".into(),
            item: billing_items::find("log_events").unwrap(),
            hour: t(hour),
            quantity: Amount::ONE,
        };
        assert_eq!(admit(&rec("2026-11-01T10:00:00Z"), Some(&w), &cn1), Ok(&w));
        assert_eq!(admit(&rec("2026-11-01T10:00:00Z"), None, &cn1), Err(Refusal::WorkspaceNotFound));
        assert_eq!(admit(&rec("2026-11-01T10:00:00Z"), Some(&w), &us1), Err(Refusal::SiteNotAllowed));
        assert_eq!(admit(&rec("2026-11-01T09:00:00Z"), Some(&w), &cn1), Err(Refusal::BeforeWorkspace));
        assert_eq!(admit(&rec("2026-11-01T09:00:00Z"), Some(&w), &us1), Err(Refusal::SiteNotAllowed), "site first");
    }

    #[test]
    fn an_hour_that_ended_at_or_before_the_workspace_was_created_is_before_it() {
        let created = t("2026-11-01T10:17:00Z");
        assert!(before_workspace(t("2026-11-01T09:00:00Z"), created));
        assert!(!before_workspace(t("2026-11-01T10:00:00Z"), created), "the hour it was created in");
        assert!(before_workspace(t("2026-11-01T09:00:00Z"), t("2026-11-01T10:00:00Z")), "ended exactly at creation");
        assert!(!before_workspace(t("2026-11-01T10:00:00Z"), t("2026-11-01T10:00:00Z")));
    }

    #[test]
    fn a_month_closes_48_hours_after_it_ends() {
        let oct = t("2026-10-31T23:00:00Z");
        assert!(!is_closed(oct, t("2026-11-02T23:59:59Z")));
        assert!(is_closed(oct, t("2026-11-03T00:00:00Z")));
        let dec = t("2026-12-31T23:00:00Z");
        assert_eq!(closes_at(month_start(dec)), t("2027-01-03T00:00:00Z"));
        assert_eq!(
            parse_record(&record("2026-10-31T23:00:00Z", json!(1)), t("2026-11-03T00:00:00Z")),
            Err(Refusal::PeriodClosed)
        );
        assert_eq!(month_of(dec), "2026-12");
        assert_eq!(parse_month("2026-12"), Some(t("2026-12-01T00:00:00Z")));
        for bad in ["2026-13", "2026-1", "26-01", "2026-01-01", "abcd-ef", ""] {
            assert_eq!(parse_month(bad), None, "{bad}");
        }
    }

    fn ws(settlement: Option<Settlement>, since: &str) -> Workspace {
        Workspace {
            id: "ws_1".into(),
            name: "w".into(),
            language: Language::Zh,
            site: "cn1".into(),
            edition: if settlement.is_some() { Edition::Commercial } else { Edition::Free },
            owner_id: "u".into(),
            billing_account: Some("acme".into()),
            settlement,
            settlement_since: Some(t(since)),
            last_settlement_change: None,
            version: 1,
            created_at: t("2026-11-01T10:17:00Z"),
        }
    }

    fn entry(at: &str, to: Settlement, cause: ChangeCause) -> SettlementChange {
        SettlementChange { at: t(at), from: None, to, cause, actor: "user:u".into() }
    }

    #[test]
    fn the_payer_of_an_hour_is_the_settlement_in_force_at_its_start() {
        let ali = Settlement::Aliyun { account_id: "1234567890123456".into(), instance_id: "i-1".into() };
        let history = vec![
            entry("2026-11-01T10:17:00Z", Settlement::Enterprise, ChangeCause::Registration),
            entry("2026-11-10T08:30:00Z", ali.clone(), ChangeCause::Change),
            entry("2026-11-20T14:15:00Z", Settlement::Enterprise, ChangeCause::Cancellation),
        ];
        let w = ws(Some(Settlement::Enterprise), "2026-11-20T14:15:00Z");
        let at = |h: &str| settlement_at(&w, &history, t(h));
        assert_eq!(at("2026-11-01T10:00:00Z"), Some(Settlement::Enterprise), "the registration hour");
        assert_eq!(at("2026-11-01T09:00:00Z"), None, "before the workspace existed");
        assert_eq!(at("2026-11-10T08:00:00Z"), Some(Settlement::Enterprise), "changed during the hour");
        assert_eq!(at("2026-11-10T09:00:00Z"), Some(ali.clone()));
        assert_eq!(at("2026-11-20T14:00:00Z"), Some(ali));
        assert_eq!(at("2026-11-20T15:00:00Z"), Some(Settlement::Enterprise));
        assert!(current_settlement_covers(&w, t("2026-11-20T15:00:00Z")));
        assert!(!current_settlement_covers(&w, t("2026-11-20T14:00:00Z")));
        assert_eq!(
            Payer::of(at("2026-11-15T00:00:00Z").as_ref()),
            Payer::Cloud { platform: Platform::Aliyun, cloud_account_id: "aliyun-i-1".into() }
        );
        assert_eq!(Payer::of(None), Payer::Free);
    }

    #[test]
    fn an_upgrade_during_an_hour_leaves_that_hour_free() {
        let history = vec![entry("2026-11-05T10:30:00Z", Settlement::Enterprise, ChangeCause::Upgrade)];
        let w = ws(Some(Settlement::Enterprise), "2026-11-05T10:30:00Z");
        assert_eq!(settlement_at(&w, &history, t("2026-11-05T10:00:00Z")), None);
        assert_eq!(settlement_at(&w, &history, t("2026-11-05T11:00:00Z")), Some(Settlement::Enterprise));
        let free = ws(None, "2026-11-01T00:00:00Z");
        assert!(current_settlement_covers(&free, t("2020-01-01T00:00:00Z")));
    }
}
