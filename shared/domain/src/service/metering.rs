//! Flow 10: cloud-paid usage reaches its marketplace exactly once. Per cloud account, under
//! a lease (one run at a time): settle the reports already fixed (cover their usage, send
//! them again), fix new reports from the usage not yet covered (`rules::metering::plan`),
//! send, and apply each answer: taken, refused (the usage falls back to enterprise with its
//! reason), or not this time (sent again next run). A crash between any two steps leaves a
//! fixed report that the next run sends as it is, never a different one.
//!
//! A refusal of a subscription that is still active ends it: the run hands those accounts back
//! (`RunFigures::refused`) and `subscription` closes them, so metering knows nothing of
//! cancellations.

use super::{billing, Deps};
use crate::billing_items;
use crate::error::{Error, Result};
use crate::model::{CloudAccount, CloudStatus, Platform};
use crate::money::Currency;
use crate::ports::{AfterRun, FallbackPart, MeterLease, MeterRecord};
use crate::rules::metering::{self, FallbackReason, MeterReport, Plan, ReportStatus, SendOutcome, Subscription};
use crate::rules::rating::{BalanceDelta, LineDelta, LineKey, LinePayer};
use chrono::{DateTime, Timelike, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Instant;

/// Cloud accounts metered at once.
const PARALLEL: usize = 8;

/// Why a run meters an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The hourly run: whole units, the fraction carried.
    Hourly,
    /// A run between two hourly ones: reports in flight (sent, not taken: throttled, a fault, an
    /// answer lost) are sent again while their marketplace's window lasts; nothing new is
    /// planned. Alibaba takes an hour's usage until 1 h 59 min past it, so a report whose answer
    /// was lost in one run must be sent again well before the next hourly one.
    Retry,
    /// The subscription is ending (AWS `unsubscribe-pending`, an agreement ended, a licence
    /// deprovisioned, an instance released): everything now, rounded up.
    Final,
}

/// What one run did, in the figures of the reconciliation (flow 10).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct RunFigures {
    pub accounts: usize,
    pub reports_fixed: usize,
    pub reported: usize,
    pub fell_back: usize,
    pub pending: usize,
    /// Reports planned under a key the marketplace already holds (one record per item and
    /// time): their usage waits for the next reporting time.
    pub deferred: usize,
    pub skipped_leased: usize,
    pub failed: usize,
    /// Active subscriptions the marketplace refused (customer not subscribed): to be ended.
    #[serde(skip)]
    pub refused: Vec<CloudAccount>,
}

impl RunFigures {
    fn add(&mut self, o: &RunFigures) {
        self.accounts += o.accounts;
        self.reports_fixed += o.reports_fixed;
        self.reported += o.reported;
        self.fell_back += o.fell_back;
        self.pending += o.pending;
        self.deferred += o.deferred;
        self.skipped_leased += o.skipped_leased;
        self.failed += o.failed;
        self.refused.extend(o.refused.iter().cloned());
    }
}

/// How long after the hour the hourly run plans new reports; later runs only retry.
pub const PLANNING_MINUTES: u32 = 15;

/// Which run a schedule's slot is: the one in an hour's first quarter plans, the others retry.
pub fn mode_at(slot: DateTime<Utc>) -> Mode {
    if slot.minute() < PLANNING_MINUTES {
        Mode::Hourly
    } else {
        Mode::Retry
    }
}

/// A run now, its kind read from the clock.
pub async fn run(deps: &Deps, deadline: Option<Instant>) -> Result<RunFigures> {
    run_slot(deps, deps.clock.now(), deadline).await
}

/// The scheduled run (every 15 minutes) of the slot `slot` (the schedule's time, so that a run
/// that starts a little late is still the run it was scheduled as): in the first quarter of an
/// hour over every cloud account with something to report, otherwise over the accounts with
/// reports in flight. Records of many accounts go to their marketplace together (AWS: 25 a call,
/// one product a call).
pub async fn run_slot(deps: &Deps, slot: DateTime<Utc>, deadline: Option<Instant>) -> Result<RunFigures> {
    let mode = mode_at(slot);
    let ids = match mode {
        Mode::Retry => deps.metering.open_accounts().await?,
        _ => deps.metering.due_accounts().await?,
    };
    let total = meter(deps, ids, mode, deadline).await;
    tracing::info!(
        metering = true,
        mode = ?mode,
        accounts = total.accounts,
        reports_fixed = total.reports_fixed,
        reported = total.reported,
        fell_back = total.fell_back,
        pending = total.pending,
        deferred = total.deferred,
        skipped_leased = total.skipped_leased,
        failed = total.failed,
        "metering run"
    );
    Ok(total)
}

/// How a final report waits for a run that holds its account.
const LEASED: crate::backoff::Backoff = crate::backoff::Backoff::new(50, 800);

/// The final report of a subscription that is ending, at once. Never fails its caller (an
/// event handler): what it cannot do stays due for the hourly run.
pub async fn final_report(deps: &Deps, cloud_account_id: &str, deadline: Option<Instant>) -> RunFigures {
    let mut f = RunFigures::default();
    for attempt in 0..20u32 {
        f = meter(deps, vec![cloud_account_id.to_string()], Mode::Final, deadline).await;
        if f.skipped_leased == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            return f;
        }
        // Another run holds the account: it will be done in a moment.
        LEASED.wait(attempt).await;
    }
    f
}

/// An account under its lease, its reports fixed and covered, ready to send.
struct Prepared {
    account: CloudAccount,
    seen: u64,
    carrying: bool,
    to_send: Vec<MeterReport>,
    figures: RunFigures,
}

async fn meter(deps: &Deps, ids: Vec<String>, mode: Mode, deadline: Option<Instant>) -> RunFigures {
    let (prepared, mut total) = prepare_all(deps, ids, mode, deadline).await;
    let outcomes =
        if deadline.is_none_or(|d| Instant::now() < d) { send_all(deps, &prepared).await } else { unsent(&prepared) };
    let settles = prepared.into_iter().zip(outcomes).map(|(p, o)| async move {
        let id = p.account.id.clone();
        match settle(deps, p, o, mode).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(cloud_account = %id, error = %e, "metering outcome not recorded; the report is sent again next run");
                RunFigures { failed: 1, ..RunFigures::default() }
            }
        }
    });
    for f in stream::iter(settles).buffer_unordered(PARALLEL).collect::<Vec<_>>().await {
        total.add(&f);
    }
    total
}

/// Each account leased and prepared, `PARALLEL` at a time; the figures of those that were not.
async fn prepare_all(
    deps: &Deps,
    ids: Vec<String>,
    mode: Mode,
    deadline: Option<Instant>,
) -> (Vec<Prepared>, RunFigures) {
    let now = deps.clock.now();
    let jobs = ids.into_iter().map(|id| async move {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(None); // the next run takes it
        }
        lease_and_prepare(deps, &id, mode, now).await.map_err(Some)
    });
    let mut prepared = Vec::new();
    let mut figures = RunFigures::default();
    for r in stream::iter(jobs).buffer_unordered(PARALLEL).collect::<Vec<_>>().await {
        match r {
            Ok(p) => prepared.push(p),
            Err(Some(f)) => figures.add(&f),
            Err(None) => {}
        }
    }
    (prepared, figures)
}

/// One account under its lease, or the figure that says why not (held by another run, failed).
/// A failed preparation gives the lease back at once, its account still due.
async fn lease_and_prepare(deps: &Deps, id: &str, mode: Mode, now: DateTime<Utc>) -> Result<Prepared, RunFigures> {
    let failed = RunFigures { failed: 1, ..RunFigures::default() };
    let lease = match deps.metering.lease(id, now).await {
        Ok(Some(lease)) => lease,
        Ok(None) => return Err(RunFigures { skipped_leased: 1, ..RunFigures::default() }),
        Err(e) => {
            tracing::warn!(cloud_account = %id, error = %e, "metering lease failed");
            return Err(failed);
        }
    };
    match prepare(deps, id, &lease, mode, now).await {
        Ok(p) => Ok(p),
        Err(e) => {
            tracing::warn!(cloud_account = %id, error = %e, "metering of a cloud account failed; next run retries");
            let after = AfterRun { settled: false, carrying: true, open_left: !lease.open.is_empty() };
            if let Err(e) = deps.metering.release(id, lease.seen, after).await {
                tracing::warn!(cloud_account = %id, error = %e, "metering lease not released; it expires");
            }
            Err(failed)
        }
    }
}

/// Every report "not sent": sent again by the next run.
fn unsent(prepared: &[Prepared]) -> Vec<Vec<SendOutcome>> {
    prepared.iter().map(|p| vec![SendOutcome::Retry("not sent".into()); p.to_send.len()]).collect()
}

/// One send per platform; each adapter batches as its marketplace allows. The answers come back
/// in the shape of `prepared`: one per report to send.
async fn send_all(deps: &Deps, prepared: &[Prepared]) -> Vec<Vec<SendOutcome>> {
    let mut outcomes = unsent(prepared);
    for platform in [Platform::Aws, Platform::Aliyun, Platform::Huawei] {
        let mut records = Vec::new();
        let mut slots = Vec::new();
        for (pi, p) in prepared.iter().enumerate().filter(|(_, p)| p.account.platform == platform) {
            for (ri, r) in p.to_send.iter().enumerate() {
                records.push(MeterRecord { report: r, account: &p.account });
                slots.push((pi, ri));
            }
        }
        if records.is_empty() {
            continue;
        }
        for ((pi, ri), o) in slots.into_iter().zip(deps.meters.of(platform).send(&records).await) {
            outcomes[pi][ri] = o;
        }
    }
    outcomes
}

/// Under the lease: reports fixed by an earlier run are covered first where they were too large
/// to be covered as they were fixed (their usage must not be planned twice), then the uncovered
/// usage is fixed into new reports, with their cover, together. Reports the
/// marketplace can no longer take fall back now; the rest are to send.
async fn prepare(deps: &Deps, id: &str, lease: &MeterLease, mode: Mode, now: DateTime<Utc>) -> Result<Prepared> {
    let mut f = RunFigures { accounts: 1, ..RunFigures::default() };
    let account =
        deps.marketplace.cloud_account(id).await?.ok_or_else(|| Error::internal("metered cloud account missing"))?;
    let mut reports = deps.metering.open_reports(id, &lease.open).await?;
    for r in &reports {
        deps.metering.cover(r).await?;
    }
    let lines = deps.metering.meter_lines(id).await?;
    // KooGallery carries money from one report to the next: one report in flight at a time.
    let one_at_a_time = account.platform == Platform::Huawei && !reports.is_empty();
    let mut covered_now = Vec::new();
    if !one_at_a_time && mode != Mode::Retry {
        covered_now = fix_new(deps, &account, &lines, mode, now, &mut f).await?;
        for r in &covered_now {
            if r.status == ReportStatus::Fixed && !reports.iter().any(|o| o.tag() == r.tag()) {
                reports.push(r.clone());
            }
        }
    }
    let carrying = carrying_after(&lines, &covered_now);
    if one_at_a_time && carrying && mode != Mode::Retry {
        f.deferred += 1; // waits for the report in flight
    }
    let to_send = drop_untakeable(deps, &account, reports, &covered_now, mode, now, &mut f).await?;
    Ok(Prepared { account, seen: lease.seen, carrying, to_send, figures: f })
}

/// The usage no report covers, fixed into new reports with their cover (`rules::metering::plan`);
/// the reports that now cover it. A report displaced by one already sent this hour is not among
/// them: its usage stays uncovered, the account due.
async fn fix_new(
    deps: &Deps,
    account: &CloudAccount,
    lines: &[metering::MeterLine],
    mode: Mode,
    now: DateTime<Utc>,
    f: &mut RunFigures,
) -> Result<Vec<MeterReport>> {
    let final_report = mode == Mode::Final || account.status == CloudStatus::Cancelled;
    let sub = Subscription { opened_at: account.opened_at, cancelled_at: account.cancelled_at };
    let carry_in = match account.platform {
        Platform::Huawei => metering::carry_from(deps.metering.last_report(&account.id).await?.as_ref()),
        _ => crate::money::Amount::ZERO,
    };
    let plan = Plan {
        cloud_account_id: &account.id,
        platform: account.platform,
        period: metering::report_period(account.platform, now, final_report, sub),
        final_report,
        carry_in,
    };
    let planned = metering::plan(&plan, lines);
    let stored = deps.metering.fix_reports(&planned).await?;
    let mut covered = Vec::new();
    for (planned, r) in planned.iter().zip(stored) {
        if planned.displaced_by(&r) {
            f.deferred += 1;
            continue;
        }
        f.reports_fixed += 1;
        covered.push(r);
    }
    Ok(covered)
}

/// The reports the marketplace can still take; the others fall back to enterprise now.
async fn drop_untakeable(
    deps: &Deps,
    account: &CloudAccount,
    reports: Vec<MeterReport>,
    covered_now: &[MeterReport],
    mode: Mode,
    now: DateTime<Utc>,
    f: &mut RunFigures,
) -> Result<Vec<MeterReport>> {
    // The subscription's final report went when it ended: what is planned after that is no
    // longer the marketplace's to take ("after which no further metering records will be
    // accepted"). Reports fixed before are still sent while their window lasts.
    let after_the_end =
        |r: &MeterReport| account.status == CloudStatus::Cancelled && mode == Mode::Hourly && covered_now.contains(r);
    let mut to_send = Vec::new();
    for r in reports {
        let reason = if after_the_end(&r) {
            FallbackReason::SubscriptionEnded
        } else if account.frozen_during(r.at, r.period_end()) {
            // A frozen instance pays nothing (KooGallery FREEZE): usage of a period that overlapped a
            // freeze is the enterprise's, even when the instance was unfrozen since.
            FallbackReason::CustomerNotSubscribed
        } else if metering::window_passed(&r, now) {
            FallbackReason::WindowPassed
        } else {
            to_send.push(r);
            continue;
        };
        fall_back(deps, &r, reason).await?;
        f.fell_back += 1;
    }
    Ok(to_send)
}

/// Whether the lines still hold usage in no report once the reports just fixed cover theirs.
fn carrying_after(lines: &[metering::MeterLine], fixed: &[MeterReport]) -> bool {
    let mut uncovered: std::collections::BTreeMap<String, crate::money::Amount> = Default::default();
    for l in lines {
        *uncovered.entry(l.key.item.clone()).or_default() += l.quantity - l.covered;
    }
    for r in fixed {
        for (item, q) in r.per_item() {
            *uncovered.entry(item).or_default() -= q;
        }
    }
    uncovered.values().any(|q| *q > crate::money::Amount::ZERO)
}

/// Applies the marketplace's answers, gives the lease back, and ends a subscription the
/// marketplace refused.
async fn settle(deps: &Deps, p: Prepared, outcomes: Vec<SendOutcome>, mode: Mode) -> Result<RunFigures> {
    let Prepared { account, seen, carrying, to_send, mut figures } = p;
    let mut refused = false;
    let applied = async {
        let mut taken = Vec::new();
        for (r, outcome) in to_send.iter().zip(outcomes) {
            match outcome {
                SendOutcome::Accepted => taken.push(r.clone()),
                SendOutcome::Refused(reason) => {
                    fall_back(deps, r, reason).await?;
                    figures.fell_back += 1;
                    refused |= reason == FallbackReason::CustomerNotSubscribed && account.status != CloudStatus::Cancelled;
                }
                SendOutcome::Retry(why) => {
                    tracing::info!(cloud_account = %account.id, item = %r.item, at = %r.at, why = %why, "report not taken; sent again next run");
                    crate::telemetry::pending(r.platform, deps.clock.now() - r.at);
                    figures.pending += 1;
                }
            }
        }
        // Every report taken, counted on its lines in as few writes as they fit.
        deps.metering.mark_reported(&taken).await?;
        figures.reported += taken.len();
        taken.iter().for_each(|r| crate::telemetry::reported(r.platform));
        Ok::<_, Error>(())
    }
    .await;
    // A retry run settles nothing new: the hourly run takes the account off the due list.
    let settled = applied.is_ok() && figures.pending == 0 && figures.deferred == 0 && mode != Mode::Retry;
    let open_left = applied.is_err() || figures.pending > 0;
    deps.metering.release(&account.id, seen, AfterRun { settled, carrying, open_left }).await?;
    applied?;
    if refused {
        // The marketplace says the customer is not subscribed: the subscription is over.
        figures.refused.push(account);
    }
    Ok(figures)
}

/// A report's usage lands on its billing accounts' enterprise lines, with the reason, and is
/// charged to their balances; then the arrears rule runs on each.
async fn fall_back(deps: &Deps, r: &MeterReport, reason: FallbackReason) -> Result<()> {
    let open_month = crate::rules::usage::month_of(deps.clock.now());
    let parts: Vec<FallbackPart> = r
        .parts
        .iter()
        .map(|p| {
            let currency = Currency::of_site(&p.site);
            let cloud_line = r.line_of(p);
            let line = LineKey {
                payer: LinePayer::FellBack {
                    platform: r.platform,
                    cloud_account_id: r.cloud_account_id.clone(),
                    reason: reason.code().to_string(),
                },
                ..cloud_line.clone()
            };
            let charges = billing_items::cost(&cloud_line.item, p.delta, currency);
            FallbackPart {
                cloud_line,
                delta: p.delta,
                line: LineDelta {
                    key: line,
                    quantity: p.delta,
                    workspace_name: p.workspace_name.clone(),
                    site: p.site.clone(),
                },
                charge: BalanceDelta { billing_account: p.billing_account.clone(), currency, charges },
                open_month: open_month.clone(),
            }
        })
        .collect();
    deps.metering.fall_back(r, reason, &parts).await?;
    crate::telemetry::fell_back(r.platform, reason);
    let charged: BTreeSet<(String, Currency)> =
        parts.iter().map(|p| (p.charge.billing_account.clone(), p.charge.currency)).collect();
    for (account, currency) in charged {
        if let Err(e) = billing::settle_arrears(deps, &account, currency, None).await {
            tracing::warn!(billing_account = %account, error = %e, "arrears check deferred");
        }
    }
    tracing::info!(cloud_account = %r.cloud_account_id, item = %r.item, at = %r.at, reason = reason.code(), "usage fell back to enterprise");
    Ok(())
}

/// One row of the reconciliation (对账): per cloud account, reporting hour and item.
#[derive(Debug, Clone, Serialize)]
pub struct ReconciliationRow {
    pub cloud_account_id: String,
    pub platform: Platform,
    pub hour: Option<DateTime<Utc>>,
    pub item: String,
    pub attributed: String,
    pub reported: String,
    pub fell_back: String,
    pub pending: String,
    /// KooGallery: the value the report sent, in CNY (one value covers every item).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `GET /v1/admin/metering?from&to`: each report stamped in the period, per item it covers,
/// with what became of it; and, for every cloud account whose lines hold usage in no report
/// (carried fractions, what the next run will fix), due or not, that usage (`hour` null).
pub async fn reconciliation(deps: &Deps, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ReconciliationRow>> {
    if to <= from || to - from > chrono::Duration::days(93) {
        return Err(Error::field("to", "invalid", "must be after from, at most 93 days later"));
    }
    let zero = crate::money::Amount::ZERO;
    let text = |a: crate::money::Amount| a.normalize().to_string();
    let mut rows = Vec::new();
    for r in deps.metering.reports_between(from, to).await? {
        for (item, q) in r.per_item() {
            let (reported, fell, pending) = match r.status {
                ReportStatus::Reported => (q, zero, zero),
                ReportStatus::FellBack => (zero, q, zero),
                ReportStatus::Fixed => (zero, zero, q),
            };
            rows.push(ReconciliationRow {
                cloud_account_id: r.cloud_account_id.clone(),
                platform: r.platform,
                hour: Some(r.at),
                item,
                attributed: text(q),
                reported: text(reported),
                fell_back: text(fell),
                pending: text(pending),
                value: r.value.map(|v| text(v.sent)),
            });
        }
    }
    let mut ids: Vec<String> = deps.metering.due_accounts().await?;
    ids.extend(deps.metering.carrying_accounts().await?);
    ids.sort();
    ids.dedup();
    for id in ids {
        let Some(account) = deps.marketplace.cloud_account(&id).await? else { continue };
        let mut by_item: std::collections::BTreeMap<String, crate::money::Amount> = Default::default();
        for l in deps.metering.meter_lines(&id).await? {
            *by_item.entry(l.key.item.clone()).or_default() += l.quantity - l.covered;
        }
        rows.extend(by_item.into_iter().filter(|(_, q)| !q.is_zero()).map(|(item, q)| ReconciliationRow {
            cloud_account_id: id.clone(),
            platform: account.platform,
            hour: None,
            item,
            attributed: text(q),
            reported: "0".into(),
            fell_back: "0".into(),
            pending: text(q),
            value: None,
        }));
    }
    rows.sort_by(|a, b| (&a.cloud_account_id, a.hour, &a.item).cmp(&(&b.cloud_account_id, b.hour, &b.item)));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_quarter_of_an_hour_plans_and_the_rest_retry() {
        let at = |m: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 3, 10, m, 0).unwrap();
        assert_eq!([0, 5, 14].map(|m| mode_at(at(m))), [Mode::Hourly; 3]);
        assert_eq!([15, 30, 45, 59].map(|m| mode_at(at(m))), [Mode::Retry; 4]);
    }
}
