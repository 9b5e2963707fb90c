//! Metering to the marketplaces (flow 10), as pure decisions: what a cloud account's usage
//! not yet in any report amounts to, in whole units with the fraction carried; when a
//! marketplace can no longer take a report; what a marketplace's answer means.
//!
//! Exactly once: a report's quantity and the usage it covers are fixed (written) before it is
//! sent, so a retry sends the same record. The fraction left over stays uncovered on the
//! lines, so it is carried to the next report; a final report rounds it up.

use super::rating::LineKey;
use crate::model::Platform;
use crate::money::Amount;
use chrono::{DateTime, Duration, DurationRound, Utc};
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How late a marketplace still takes a record: AWS takes usage up to 6 hours old;
/// KooGallery's usage push within 2 hours. Alibaba Cloud documents no window: a day is
/// assumed (README).
pub fn window(platform: Platform) -> Duration {
    match platform {
        Platform::Aws => Duration::hours(6),
        Platform::Huawei => Duration::hours(2),
        Platform::Aliyun => Duration::hours(24),
    }
}

/// Records a marketplace takes in one call.
pub fn batch_limit(platform: Platform) -> usize {
    match platform {
        Platform::Aws => 25,
        Platform::Aliyun => 100,
        Platform::Huawei => 1000,
    }
}

/// Why usage a cloud account was to pay ended on the enterprise bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallbackReason {
    /// The subscription ended before the usage was reported.
    SubscriptionEnded,
    /// The marketplace answered that the customer is not subscribed (AWS `CustomerNotSubscribed`,
    /// a released or frozen instance).
    CustomerNotSubscribed,
    /// The marketplace's reporting window passed before it took the record.
    WindowPassed,
    /// The marketplace holds another quantity under the record's key (AWS `DuplicateRecord`:
    /// same customer, dimension and time) and did not take this one.
    DuplicateRecord,
}

impl FallbackReason {
    pub fn code(self) -> &'static str {
        match self {
            FallbackReason::SubscriptionEnded => "subscription_ended",
            FallbackReason::CustomerNotSubscribed => "customer_not_subscribed",
            FallbackReason::WindowPassed => "window_passed",
            FallbackReason::DuplicateRecord => "duplicate_record",
        }
    }
}

/// A cloud line as metering reads it (consistently): attributed so far, and how much of it
/// reports already cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterLine {
    pub key: LineKey,
    pub site: String,
    pub workspace_name: String,
    pub quantity: Amount,
    pub covered: Amount,
}

/// The usage of one line a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportPart {
    pub billing_account: String,
    pub month: String,
    pub workspace_id: String,
    pub workspace_name: String,
    pub site: String,
    pub delta: Amount,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Fixed and covering its usage; not yet taken by the marketplace (sent or not).
    Fixed,
    Reported,
    FellBack,
}

/// One record to a marketplace: (cloud account, item, time), its quantity fixed before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterReport {
    pub cloud_account_id: String,
    pub platform: Platform,
    pub item: String,
    /// The record's timestamp: the reporting hour, or the minute of a final report.
    pub at: DateTime<Utc>,
    /// Whole units sent.
    pub quantity: u64,
    /// The usage it covers, exactly.
    pub attributed: Amount,
    pub parts: Vec<ReportPart>,
    pub status: ReportStatus,
    pub reason: Option<FallbackReason>,
    pub final_report: bool,
}

impl MeterReport {
    /// Its name on the lines it covers (unique per cloud account).
    pub fn tag(&self) -> String {
        format!("{}@{}", self.item, self.at.timestamp())
    }

    /// Whether `stored`, found under this planned report's key, is another report: usage
    /// planned now that a report of the same item and time sent earlier does not cover. The
    /// marketplace takes one record per key, so that usage waits for the next reporting time.
    pub fn displaced_by(&self, stored: &MeterReport) -> bool {
        self.tag() == stored.tag() && (self.parts != stored.parts || self.quantity != stored.quantity)
    }

    pub fn line_of(&self, part: &ReportPart) -> LineKey {
        LineKey {
            billing_account: part.billing_account.clone(),
            month: part.month.clone(),
            workspace_id: part.workspace_id.clone(),
            item: self.item.clone(),
            payer: super::rating::LinePayer::Cloud {
                platform: self.platform,
                cloud_account_id: self.cloud_account_id.clone(),
            },
        }
    }
}

/// When a report made `now` is stamped: the hour, or for a final report the minute. A
/// record's key at the marketplace is (customer, item, time) and AWS ignores the seconds of
/// a timestamp, so a finer stamp would give two reports one key there.
pub fn report_time(now: DateTime<Utc>, final_report: bool) -> DateTime<Utc> {
    if final_report {
        now.duration_trunc(Duration::minutes(1)).unwrap_or(now)
    } else {
        now.duration_trunc(Duration::hours(1)).unwrap_or(now)
    }
}

/// The reports a cloud account's uncovered usage makes, one per item. A regular report
/// sends the whole units and covers exactly that much usage (lines in order, the last one in
/// part): the fraction stays uncovered, carried to the next report. A final report rounds the
/// remainder up and covers everything.
pub fn plan(
    cloud_account_id: &str,
    platform: Platform,
    lines: &[MeterLine],
    at: DateTime<Utc>,
    final_report: bool,
) -> Vec<MeterReport> {
    let mut by_item: BTreeMap<&str, Vec<&MeterLine>> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.quantity > l.covered) {
        by_item.entry(l.key.item.as_str()).or_default().push(l);
    }
    let mut out = Vec::new();
    for (item, mut lines) in by_item {
        lines.sort_by(|a, b| {
            (&a.key.month, &a.key.workspace_id, &a.key.billing_account).cmp(&(
                &b.key.month,
                &b.key.workspace_id,
                &b.key.billing_account,
            ))
        });
        let pending: Amount = lines.iter().map(|l| l.quantity - l.covered).sum();
        let units = if final_report { pending.ceil() } else { pending.floor() };
        if units.is_zero() {
            continue;
        }
        let mut budget = if final_report { pending } else { units };
        let mut parts = Vec::new();
        for l in lines {
            if budget.is_zero() {
                break;
            }
            let delta = (l.quantity - l.covered).min(budget);
            budget -= delta;
            parts.push(ReportPart {
                billing_account: l.key.billing_account.clone(),
                month: l.key.month.clone(),
                workspace_id: l.key.workspace_id.clone(),
                workspace_name: l.workspace_name.clone(),
                site: l.site.clone(),
                delta,
            });
        }
        out.push(MeterReport {
            cloud_account_id: cloud_account_id.to_string(),
            platform,
            item: item.to_string(),
            at,
            quantity: units.to_u64().unwrap_or(u64::MAX),
            attributed: parts.iter().map(|p| p.delta).sum(),
            parts,
            status: ReportStatus::Fixed,
            reason: None,
            final_report,
        });
    }
    out
}

/// Whether a fixed report can still be sent at `now`.
pub fn window_passed(report: &MeterReport, now: DateTime<Utc>) -> bool {
    now - report.at >= window(report.platform)
}

/// What a marketplace answered for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Taken (or taken before: a duplicate of a record already reported).
    Accepted,
    /// It will never take it.
    Refused(FallbackReason),
    /// Not taken this time (throttled, unprocessed, a fault): sent again on the next run.
    Retry(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::rating::LinePayer;
    use std::str::FromStr;

    fn d(s: &str) -> Amount {
        Amount::from_str(s).unwrap()
    }

    fn line(ws: &str, item: &str, q: &str, covered: &str) -> MeterLine {
        MeterLine {
            key: LineKey {
                billing_account: "acme".into(),
                month: "2026-11".into(),
                workspace_id: ws.into(),
                item: item.into(),
                payer: LinePayer::Cloud { platform: Platform::Aws, cloud_account_id: "aws-1".into() },
            },
            site: "us1".into(),
            workspace_name: ws.into(),
            quantity: d(q),
            covered: d(covered),
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn whole_units_are_reported_and_the_fraction_is_carried() {
        let lines = [
            line("ws1", "log_events", "2.7", "0"),
            line("ws2", "log_events", "1.6", "0.5"),
            line("ws1", "time_series", "0.4", "0"),
        ];
        let r = plan("aws-1", Platform::Aws, &lines, at(), false);
        assert_eq!(r.len(), 1, "0.4 time series make no whole unit yet");
        assert_eq!((r[0].quantity, r[0].attributed), (3, d("3")));
        assert_eq!(r[0].parts.iter().map(|p| p.delta).collect::<Vec<_>>(), vec![d("2.7"), d("0.3")]);
        // Next hour: the 0.8 carried on ws2 plus new usage.
        let next = [
            line("ws1", "log_events", "3.0", "2.7"),
            line("ws2", "log_events", "2.0", "0.8"),
            line("ws1", "time_series", "0.4", "0"),
        ];
        let r = plan("aws-1", Platform::Aws, &next, at() + Duration::hours(1), false);
        assert_eq!((r[0].quantity, r[0].attributed), (1, d("1")), "0.3 + 1.2 = 1.5: one unit, 0.5 carried");
    }

    #[test]
    fn a_final_report_rounds_the_remainder_up_and_covers_everything() {
        let lines = [line("ws1", "log_events", "2.7", "2"), line("ws1", "time_series", "0.4", "0")];
        let r = plan("aws-1", Platform::Aws, &lines, at(), true);
        let summary: Vec<(String, u64, Amount)> =
            r.iter().map(|r| (r.item.clone(), r.quantity, r.attributed)).collect();
        assert_eq!(summary, vec![("log_events".into(), 1, d("0.7")), ("time_series".into(), 1, d("0.4"))]);
        assert!(r.iter().all(|r| r.final_report));
        assert!(plan("aws-1", Platform::Aws, &[line("ws1", "log_events", "2", "2")], at(), true).is_empty());
    }

    #[test]
    fn windows_and_times() {
        let mut r = plan("aws-1", Platform::Aws, &[line("ws1", "log_events", "5", "0")], at(), false).remove(0);
        assert!(!window_passed(&r, at() + Duration::hours(5)));
        assert!(window_passed(&r, at() + Duration::hours(6)));
        r.platform = Platform::Huawei;
        assert!(window_passed(&r, at() + Duration::hours(2)));
        let now = DateTime::parse_from_rfc3339("2026-11-20T10:41:07.5Z").unwrap().with_timezone(&Utc);
        assert_eq!(report_time(now, false), at());
        assert_eq!(report_time(now, true), at() + Duration::minutes(41));
        assert_eq!(r.tag(), format!("log_events@{}", at().timestamp()));
    }

    #[test]
    fn a_report_already_sent_under_the_same_key_displaces_new_usage() {
        let lines = vec![line("ws1", "log_events", "5", "0"), line("ws2", "log_events", "2", "0")];
        let sent = plan("aws-1", Platform::Aws, &lines[..1], at(), false).remove(0);
        let again = plan("aws-1", Platform::Aws, &lines[..1], at(), false).remove(0);
        assert!(!again.displaced_by(&sent), "the same report fixed twice is one report");
        let more = plan("aws-1", Platform::Aws, &lines, at(), false).remove(0);
        assert!(more.displaced_by(&sent), "new usage under a key already used waits");
        let next_hour = plan("aws-1", Platform::Aws, &lines, at() + Duration::hours(1), false).remove(0);
        assert!(!next_hour.displaced_by(&sent));
    }
}
