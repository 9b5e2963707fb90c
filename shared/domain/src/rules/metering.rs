//! Metering to the marketplaces (flow 10), as pure decisions: what a cloud account's usage
//! not yet in any report amounts to, in whole units with the fraction carried; when a
//! marketplace can no longer take a report; what a marketplace's answer means.
//!
//! Exactly once: a report's quantity and the usage it covers are fixed (written) before it is
//! sent, so a retry sends the same record. The fraction left over stays uncovered on the
//! lines, so it is carried to the next report; a final report rounds it up.

use super::rating::LineKey;
use crate::model::Platform;
use crate::money::{Amount, Currency};
use chrono::{DateTime, Duration, DurationRound, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::RoundingStrategy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Records a marketplace takes in one call: AWS `BatchMeterUsage` "can process up to 25
/// `UsageRecords` at a time"; Alibaba `PushMeteringData` "每次请求支持写入的计量数据为100条";
/// KooGallery's usage push "A list contains up to 1,000 UsagePushData records".
pub fn batch_limit(platform: Platform) -> usize {
    match platform {
        Platform::Aws => 25,
        Platform::Aliyun => 100,
        Platform::Huawei => 1000,
    }
}

/// The largest whole quantity one record carries: AWS `UsageRecord.Quantity` is an integer of
/// at most 2,147,483,647, and Alibaba's `Value` an Integer. What is above it stays uncovered
/// and goes in the next report (never clamped away).
pub const MAX_UNITS: u64 = 2_147_483_647;

/// KooGallery's `usage_value` "最多支持4位有效小数" (at most 4 decimals).
pub const KOOGALLERY_DECIMALS: u32 = 4;

/// The item a KooGallery report is filed under: its usage push takes one value per instance
/// and period, the period's usage at list prices in CNY (domain.md, flow 10).
pub const KOOGALLERY_VALUE_ITEM: &str = "value";

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
    /// The line's billing item, where it is not the report's own (a KooGallery report covers
    /// every item of the instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
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
    /// The record's timestamp (AWS) and the start of its period (Alibaba, KooGallery).
    pub at: DateTime<Utc>,
    /// The end of its period (Alibaba `EndTime`, KooGallery `end_time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends: Option<DateTime<Utc>>,
    /// Whole units sent (AWS, Alibaba).
    pub quantity: u64,
    /// KooGallery: the value sent, in CNY with at most 4 decimals, and the fraction of a
    /// ten-thousandth carried in (from the last report taken) and out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Valued>,
    /// The usage it covers, exactly.
    pub attributed: Amount,
    pub parts: Vec<ReportPart>,
    pub status: ReportStatus,
    pub reason: Option<FallbackReason>,
    pub final_report: bool,
}

/// A KooGallery report's money: `sent = round_down(exact + carry_in, 4)` (a final report rounds
/// up), `carry_out = exact + carry_in - sent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Valued {
    pub exact: Amount,
    pub carry_in: Amount,
    pub sent: Amount,
    pub carry_out: Amount,
}

impl MeterReport {
    /// Its name on the lines it covers (unique per cloud account).
    pub fn tag(&self) -> String {
        format!("{}@{}", self.item, self.at.timestamp())
    }

    /// The end of its period (a report made before periods were kept: an hour).
    pub fn period_end(&self) -> DateTime<Utc> {
        self.ends.unwrap_or(self.at + Duration::hours(1))
    }

    /// Whether `stored`, found under this planned report's key, is another report: usage
    /// planned now that a report of the same item and time sent earlier does not cover. The
    /// marketplace keeps one record per key, so that usage waits for the next reporting time.
    pub fn displaced_by(&self, stored: &MeterReport) -> bool {
        self.tag() == stored.tag()
            && (self.parts != stored.parts || self.quantity != stored.quantity || self.value != stored.value)
    }

    pub fn line_of(&self, part: &ReportPart) -> LineKey {
        LineKey {
            billing_account: part.billing_account.clone(),
            month: part.month.clone(),
            workspace_id: part.workspace_id.clone(),
            item: part.item.clone().unwrap_or_else(|| self.item.clone()),
            payer: super::rating::LinePayer::Cloud {
                platform: self.platform,
                cloud_account_id: self.cloud_account_id.clone(),
            },
        }
    }

    /// The usage it covers per billing item (a KooGallery report covers several).
    pub fn per_item(&self) -> BTreeMap<String, Amount> {
        let mut out: BTreeMap<String, Amount> = BTreeMap::new();
        for p in &self.parts {
            *out.entry(p.item.clone().unwrap_or_else(|| self.item.clone())).or_default() += p.delta;
        }
        out
    }
}

/// What a subscription's reports are stamped from: when it began and, once it ended, when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscription {
    pub opened_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// When a report made `now` is stamped, and its period.
///
/// - An hourly report is the hour that ended: `[H-1, H)` for a run in hour `H`. Every record a
///   marketplace gets is then of a period that has ended (KooGallery: "begin_time ≤ end_time ≤
///   话单上报时间"), and AWS records of one customer and dimension are an hour apart, whether AWS
///   keys duplicates by the minute or by the hour.
/// - A final report (the subscription is ending) is this hour `[H, now)` to the minute; for
///   Alibaba it spans more than 5 minutes ("StartTime和EndTime 的间隔必须大于5分钟"), reaching
///   back into the last hour when the hour is younger than that.
/// - AWS and KooGallery records never begin before the subscription did (AWS refuses usage
///   before a licence's activation; KooGallery "话单开始时间(begin_time)≥资源开始时间"), and a
///   KooGallery period of an instance released ends at its release ("资源关闭后: 话单结束时间
///   (end_time)≤ 资源关闭时间").
pub fn report_period(
    platform: Platform,
    now: DateTime<Utc>,
    final_report: bool,
    sub: Subscription,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let second = |t: DateTime<Utc>| t.duration_trunc(Duration::seconds(1)).unwrap_or(t);
    let hour_of = |t: DateTime<Utc>| t.duration_trunc(Duration::hours(1)).unwrap_or(t);
    let (mut start, end) = if final_report {
        let mut end = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
        if platform == Platform::Huawei {
            end = sub.cancelled_at.map_or(end, |c| end.min(second(c)));
        }
        (hour_of(end), end)
    } else {
        (hour_of(now) - Duration::hours(1), hour_of(now))
    };
    match platform {
        Platform::Aliyun => {
            if end - start <= Duration::minutes(5) {
                start = end - Duration::minutes(6);
            }
        }
        Platform::Aws | Platform::Huawei => {
            if let Some(opened) = sub.opened_at {
                start = start.max(second(opened));
            }
        }
    }
    (start, end.max(start))
}

/// The reports a cloud account's uncovered usage makes. A regular report sends the whole units
/// (KooGallery: the value to 4 decimals) and covers exactly that much usage: the fraction stays
/// uncovered, carried to the next report. A final report rounds the remainder up and covers
/// everything. `carry_in` is KooGallery's carried fraction of a ten-thousandth.
pub struct Plan<'a> {
    pub cloud_account_id: &'a str,
    pub platform: Platform,
    pub period: (DateTime<Utc>, DateTime<Utc>),
    pub final_report: bool,
    pub carry_in: Amount,
}

pub fn plan(p: &Plan<'_>, lines: &[MeterLine]) -> Vec<MeterReport> {
    if !p.final_report && p.period.0 >= p.period.1 {
        return Vec::new(); // opened this hour: its first hour is reported when it has ended
    }
    let mut lines: Vec<&MeterLine> = lines.iter().filter(|l| l.quantity > l.covered).collect();
    lines.sort_by(|a, b| {
        (&a.key.item, &a.key.month, &a.key.workspace_id, &a.key.billing_account).cmp(&(
            &b.key.item,
            &b.key.month,
            &b.key.workspace_id,
            &b.key.billing_account,
        ))
    });
    if p.platform == Platform::Huawei {
        return plan_value(p, &lines).into_iter().collect();
    }
    let mut by_item: BTreeMap<&str, Vec<&MeterLine>> = BTreeMap::new();
    for l in lines {
        by_item.entry(l.key.item.as_str()).or_default().push(l);
    }
    let mut out = Vec::new();
    for (item, lines) in by_item {
        let pending: Amount = lines.iter().map(|l| l.quantity - l.covered).sum();
        let rounded = if p.final_report { pending.ceil() } else { pending.floor() };
        let units = rounded.min(Amount::from(MAX_UNITS));
        if units.is_zero() {
            continue;
        }
        // Everything when the final report holds it all; otherwise exactly the units sent.
        let budget = if p.final_report && units == rounded { pending } else { units };
        let parts = cover(&lines, budget, false);
        out.push(MeterReport {
            cloud_account_id: p.cloud_account_id.to_string(),
            platform: p.platform,
            item: item.to_string(),
            at: p.period.0,
            ends: Some(p.period.1),
            quantity: units.to_u64().unwrap_or(MAX_UNITS),
            value: None,
            attributed: parts.iter().map(|p| p.delta).sum(),
            parts,
            status: ReportStatus::Fixed,
            reason: None,
            final_report: p.final_report,
        });
    }
    out
}

/// Takes `budget` of the lines' uncovered usage, in order, the last line in part.
fn cover(lines: &[&MeterLine], mut budget: Amount, name_items: bool) -> Vec<ReportPart> {
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
            item: name_items.then(|| l.key.item.clone()),
        });
    }
    parts
}

/// KooGallery: one value per instance and period, every uncovered line covered whole; the value
/// is the usage at CNY list prices plus the carried fraction, to 4 decimals (down; up for a
/// final report); what is below a ten-thousandth is carried in money, not dropped. Nothing is
/// planned while the value would be zero: "使用量具体值 ... 需为大于0的数值".
fn plan_value(p: &Plan<'_>, lines: &[&MeterLine]) -> Option<MeterReport> {
    if lines.is_empty() {
        return None;
    }
    let parts = cover(lines, lines.iter().map(|l| l.quantity - l.covered).sum(), true);
    let exact: Amount = parts
        .iter()
        .map(|part| crate::billing_items::cost(part.item.as_deref().unwrap_or_default(), part.delta, Currency::Cny))
        .sum();
    let total = exact + p.carry_in;
    let strategy = if p.final_report { RoundingStrategy::ToPositiveInfinity } else { RoundingStrategy::ToZero };
    let sent = total.round_dp_with_strategy(KOOGALLERY_DECIMALS, strategy);
    if sent <= Amount::ZERO {
        return None;
    }
    Some(MeterReport {
        cloud_account_id: p.cloud_account_id.to_string(),
        platform: p.platform,
        item: KOOGALLERY_VALUE_ITEM.to_string(),
        at: p.period.0,
        ends: Some(p.period.1),
        quantity: 0,
        value: Some(Valued { exact, carry_in: p.carry_in, sent: sent.normalize(), carry_out: total - sent }),
        attributed: parts.iter().map(|p| p.delta).sum(),
        parts,
        status: ReportStatus::Fixed,
        reason: None,
        final_report: p.final_report,
    })
}

/// The fraction carried into a new KooGallery report: what the last report taken carried out;
/// a report that fell back took none of it (its usage went to the enterprise bill whole).
pub fn carry_from(last: Option<&MeterReport>) -> Amount {
    match last.and_then(|r| r.value.map(|v| (r.status, v))) {
        Some((ReportStatus::Reported, v)) => v.carry_out,
        Some((_, v)) => v.carry_in,
        None => Amount::ZERO,
    }
}

/// Whether a fixed report can no longer be sent at `now`:
/// - AWS: "Usage records aren't accepted 6 hours or more after an event" (the stricter of the
///   pages' 6 and 24 hours; it also keeps a month's records before 06:00 UTC on the 1st, the
///   month-end cutoff);
/// - Alibaba: "按小时出账的商品 ... 推送的计量数据是8:10-08:20,则必须在9.59之前" — before 1 h 59 min
///   past the hour its period starts in;
/// - KooGallery: its push refuses a `begin_time` older than 21 days (`MKT.9004`), but a record
///   reported more than 2 hours after its period ended is "话单时间已过期" (SDR code 007) and never
///   billed: "如果无法实现实时上报,需要在2小时完成上报". The stricter, 2 hours after the period.
pub fn window_passed(report: &MeterReport, now: DateTime<Utc>) -> bool {
    match report.platform {
        Platform::Aws => now - report.at >= Duration::hours(6),
        Platform::Aliyun => {
            let hour = report.at.duration_trunc(Duration::hours(1)).unwrap_or(report.at);
            now >= hour + Duration::minutes(119)
        }
        Platform::Huawei => now - report.period_end() >= Duration::hours(2),
    }
}

/// How old (since the hour it reports) an hourly report may grow and still be sent: the
/// windows of [`window_passed`] read as an age. An alarm fires before a report reaches it.
pub fn window(platform: Platform) -> Duration {
    match platform {
        Platform::Aws => Duration::hours(6),
        Platform::Aliyun => Duration::minutes(119),
        Platform::Huawei => Duration::hours(3),
    }
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

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
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
        t("2026-11-20T10:00:00Z")
    }

    fn plan_at(platform: Platform, lines: &[MeterLine], start: DateTime<Utc>, final_report: bool) -> Vec<MeterReport> {
        let p = Plan {
            cloud_account_id: "aws-1",
            platform,
            period: (start, start + Duration::hours(1)),
            final_report,
            carry_in: Amount::ZERO,
        };
        plan(&p, lines)
    }

    #[test]
    fn whole_units_are_reported_and_the_fraction_is_carried() {
        let lines = [
            line("ws1", "log_events", "2.7", "0"),
            line("ws2", "log_events", "1.6", "0.5"),
            line("ws1", "time_series", "0.4", "0"),
        ];
        let r = plan_at(Platform::Aws, &lines, at(), false);
        assert_eq!(r.len(), 1, "0.4 time series make no whole unit yet");
        assert_eq!((r[0].quantity, r[0].attributed), (3, d("3")));
        assert_eq!(r[0].parts.iter().map(|p| p.delta).collect::<Vec<_>>(), vec![d("2.7"), d("0.3")]);
        let next = [
            line("ws1", "log_events", "3.0", "2.7"),
            line("ws2", "log_events", "2.0", "0.8"),
            line("ws1", "time_series", "0.4", "0"),
        ];
        let r = plan_at(Platform::Aws, &next, at() + Duration::hours(1), false);
        assert_eq!((r[0].quantity, r[0].attributed), (1, d("1")), "0.3 + 1.2 = 1.5: one unit, 0.5 carried");
    }

    #[test]
    fn a_final_report_rounds_the_remainder_up_and_covers_everything() {
        let lines = [line("ws1", "log_events", "2.7", "2"), line("ws1", "time_series", "0.4", "0")];
        let r = plan_at(Platform::Aws, &lines, at(), true);
        let summary: Vec<(String, u64, Amount)> =
            r.iter().map(|r| (r.item.clone(), r.quantity, r.attributed)).collect();
        assert_eq!(summary, vec![("log_events".into(), 1, d("0.7")), ("time_series".into(), 1, d("0.4"))]);
        assert!(r.iter().all(|r| r.final_report));
        assert!(plan_at(Platform::Aws, &[line("ws1", "log_events", "2", "2")], at(), true).is_empty());
    }

    #[test]
    fn a_record_never_carries_more_than_an_aws_quantity_the_rest_waits() {
        let big = "3000000000.5";
        let r = plan_at(Platform::Aws, &[line("ws1", "log_events", big, "0")], at(), false);
        assert_eq!((r[0].quantity, r[0].attributed), (MAX_UNITS, Amount::from(MAX_UNITS)));
        let r = plan_at(Platform::Aws, &[line("ws1", "log_events", big, "0")], at(), true);
        assert_eq!(r[0].quantity, MAX_UNITS, "even a final report: the rest is not clamped away, it stays uncovered");
        assert_eq!(r[0].attributed, Amount::from(MAX_UNITS));
    }

    #[test]
    fn koogallery_reports_one_value_in_cny_to_four_decimals_and_carries_the_rest() {
        // log_events 1.20 CNY, time_series 0.60 CNY.
        let lines = [line("ws1", "log_events", "1.00001", "0"), line("ws1", "time_series", "0.5", "0")];
        let p = |carry_in: Amount, final_report: bool| Plan {
            cloud_account_id: "huawei-1",
            platform: Platform::Huawei,
            period: (at(), at() + Duration::hours(1)),
            final_report,
            carry_in,
        };
        let r = plan(&p(Amount::ZERO, false), &lines).remove(0);
        let v = r.value.unwrap();
        assert_eq!((v.exact, v.sent, v.carry_out), (d("1.500012"), d("1.5"), d("0.000012")));
        assert_eq!(r.item, KOOGALLERY_VALUE_ITEM);
        assert_eq!(r.per_item().get("log_events"), Some(&d("1.00001")), "every line covered whole");
        let r = plan(&p(d("0.00009"), false), &lines).remove(0);
        assert_eq!(r.value.unwrap().sent, d("1.5001"), "the carried fraction counts");
        let r = plan(&p(Amount::ZERO, true), &lines).remove(0);
        assert_eq!(r.value.unwrap().sent, d("1.5001"), "a final report rounds up");
        let tiny = [line("ws1", "log_events", "0.00005", "0")];
        assert!(plan(&p(Amount::ZERO, false), &tiny).is_empty(), "zero values are never pushed");
    }

    #[test]
    fn the_carry_comes_from_the_last_report_taken() {
        let lines = [line("ws1", "log_events", "1.00001", "0")];
        let p = Plan {
            cloud_account_id: "huawei-1",
            platform: Platform::Huawei,
            period: (at(), at() + Duration::hours(1)),
            final_report: false,
            carry_in: d("0.00003"),
        };
        let mut r = plan(&p, &lines).remove(0);
        assert_eq!(carry_from(None), Amount::ZERO);
        r.status = ReportStatus::Reported;
        assert_eq!(carry_from(Some(&r)), d("0.000042"));
        r.status = ReportStatus::FellBack;
        assert_eq!(carry_from(Some(&r)), d("0.00003"), "a report that fell back took none of it");
    }

    #[test]
    fn periods_are_hours_that_ended_and_final_reports_this_hour() {
        let now = t("2026-11-20T10:41:07.5Z");
        let none = Subscription { opened_at: None, cancelled_at: None };
        assert_eq!(report_period(Platform::Aws, now, false, none), (t("2026-11-20T09:00:00Z"), at()));
        assert_eq!(report_period(Platform::Aws, now, true, none), (at(), t("2026-11-20T10:41:00Z")));
        let early = t("2026-11-20T10:03:30Z");
        assert_eq!(
            report_period(Platform::Aliyun, early, true, none),
            (t("2026-11-20T09:57:00Z"), t("2026-11-20T10:03:00Z")),
            "Alibaba: a period spans more than 5 minutes"
        );
        let opened = Subscription { opened_at: Some(t("2026-11-20T09:20:10.4Z")), cancelled_at: None };
        assert_eq!(report_period(Platform::Aws, now, false, opened).0, t("2026-11-20T09:20:10Z"));
        assert_eq!(report_period(Platform::Aliyun, now, false, opened).0, t("2026-11-20T09:00:00Z"));
        let released =
            Subscription { opened_at: Some(t("2026-11-01T00:00:00Z")), cancelled_at: Some(t("2026-11-20T10:30:02Z")) };
        assert_eq!(report_period(Platform::Huawei, now, true, released), (at(), t("2026-11-20T10:30:02Z")));
        let late = t("2026-11-20T12:07:00Z");
        assert_eq!(
            report_period(Platform::Huawei, late, true, released),
            (at(), t("2026-11-20T10:30:02Z")),
            "a final report made late still ends at the release"
        );
        let p = Plan {
            cloud_account_id: "aws-1",
            platform: Platform::Aws,
            period: report_period(Platform::Aws, now, false, Subscription { opened_at: Some(now), cancelled_at: None }),
            final_report: false,
            carry_in: Amount::ZERO,
        };
        assert!(plan(&p, &[line("ws1", "log_events", "5", "0")]).is_empty(), "opened this hour: waits for the next");
    }

    #[test]
    fn windows_are_each_marketplaces_own() {
        let mut r = plan_at(Platform::Aws, &[line("ws1", "log_events", "5", "0")], at(), false).remove(0);
        assert!(!window_passed(&r, at() + Duration::hours(5)));
        assert!(window_passed(&r, at() + Duration::hours(6)));
        r.at = t("2026-11-30T23:59:59Z");
        assert!(window_passed(&r, t("2026-12-01T06:00:00Z")), "last month's records end by 06:00 on the 1st");
        r.at = t("2026-11-20T08:10:00Z");
        r.platform = Platform::Aliyun;
        assert!(!window_passed(&r, t("2026-11-20T09:58:59Z")));
        assert!(window_passed(&r, t("2026-11-20T09:59:00Z")), "8:10-8:20 must arrive before 9:59");
        r.platform = Platform::Huawei;
        r.ends = Some(r.at + Duration::hours(1));
        assert!(!window_passed(&r, r.at + Duration::minutes(179)));
        assert!(window_passed(&r, r.at + Duration::hours(3)), "2 hours after the period ended");
        assert_eq!(r.tag(), format!("log_events@{}", r.at.timestamp()));
        // Read as an age since the hour reported, each window turns where `window` says.
        let hour = t("2026-11-20T08:00:00Z");
        for p in [Platform::Aws, Platform::Aliyun, Platform::Huawei] {
            (r.platform, r.at, r.ends) = (p, hour, Some(hour + Duration::hours(1)));
            assert!(!window_passed(&r, hour + window(p) - Duration::seconds(1)), "{p:?}");
            assert!(window_passed(&r, hour + window(p)), "{p:?}");
        }
    }

    #[test]
    fn a_report_already_sent_under_the_same_key_displaces_new_usage() {
        let lines = vec![line("ws1", "log_events", "5", "0"), line("ws2", "log_events", "2", "0")];
        let sent = plan_at(Platform::Aws, &lines[..1], at(), false).remove(0);
        let again = plan_at(Platform::Aws, &lines[..1], at(), false).remove(0);
        assert!(!again.displaced_by(&sent), "the same report fixed twice is one report");
        let more = plan_at(Platform::Aws, &lines, at(), false).remove(0);
        assert!(more.displaced_by(&sent), "new usage under a key already used waits");
        let next_hour = plan_at(Platform::Aws, &lines, at() + Duration::hours(1), false).remove(0);
        assert!(!next_hour.displaced_by(&sent));
    }
}
