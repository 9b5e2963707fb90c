//! Flow 10: cloud-paid usage reaches its marketplace exactly once. Per cloud account, under
//! a lease (one run at a time): settle the reports already fixed (cover their usage, send
//! them again), fix new reports from the usage not yet covered (`rules::metering::plan`),
//! send, and apply each answer: taken, refused (the usage falls back to enterprise with its
//! reason), or not this time (sent again next run). A crash between any two steps leaves a
//! fixed report that the next run sends as it is, never a different one.

use super::{billing, cancellation, Deps};
use crate::billing_items;
use crate::error::{Error, Result};
use crate::model::{CloudAccount, CloudStatus, Platform};
use crate::money::Currency;
use crate::ports::{FallbackPart, MeterRecord, Transition};
use crate::rules::metering::{self, FallbackReason, MeterReport, ReportStatus, SendOutcome};
use crate::rules::rating::{BalanceDelta, LineDelta, LineKey, LinePayer};
use chrono::{DateTime, Utc};
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
    }
}

/// The hourly run over every cloud account with something to report. Records of many
/// accounts go to their marketplace together (AWS: 25 a call, one product a call).
pub async fn run(deps: &Deps, deadline: Option<Instant>) -> Result<RunFigures> {
    let due = deps.metering.due_accounts().await?;
    let total = meter(deps, due, Mode::Hourly, deadline).await;
    tracing::info!(
        metering = true,
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

/// The final report of a subscription that is ending, at once. Never fails its caller (an
/// event handler): what it cannot do stays due for the hourly run.
pub async fn final_report(deps: &Deps, cloud_account_id: &str, deadline: Option<Instant>) {
    for attempt in 0..20u32 {
        let f = meter(deps, vec![cloud_account_id.to_string()], Mode::Final, deadline).await;
        if f.skipped_leased == 0 {
            return;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        // Another run holds the account: it will be done in a moment.
        tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(4))).await;
    }
}

/// An account under its lease, its reports fixed and covered, ready to send.
struct Prepared {
    account: CloudAccount,
    seen: u64,
    to_send: Vec<MeterReport>,
    figures: RunFigures,
}

async fn meter(deps: &Deps, ids: Vec<String>, mode: Mode, deadline: Option<Instant>) -> RunFigures {
    let now = deps.clock.now();
    let mut total = RunFigures::default();
    let jobs = ids.into_iter().map(|id| async move {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(None); // the next run takes it
        }
        match deps.metering.lease(&id, now).await {
            Ok(Some(seen)) => match prepare(deps, &id, seen, mode, now).await {
                Ok(p) => Ok(p),
                Err(e) => {
                    tracing::warn!(cloud_account = %id, error = %e, "metering of a cloud account failed; next run retries");
                    let _ = deps.metering.release(&id, seen, false).await;
                    Err(Some(RunFigures { failed: 1, ..RunFigures::default() }))
                }
            },
            Ok(None) => Err(Some(RunFigures { skipped_leased: 1, ..RunFigures::default() })),
            Err(e) => {
                tracing::warn!(cloud_account = %id, error = %e, "metering lease failed");
                Err(Some(RunFigures { failed: 1, ..RunFigures::default() }))
            }
        }
    });
    let mut prepared = Vec::new();
    for r in stream::iter(jobs).buffer_unordered(PARALLEL).collect::<Vec<_>>().await {
        match r {
            Ok(p) => prepared.push(p),
            Err(Some(f)) => total.add(&f),
            Err(None) => {}
        }
    }

    // One send per platform; each adapter batches as its marketplace allows.
    let mut outcomes: Vec<Vec<SendOutcome>> =
        prepared.iter().map(|p| vec![SendOutcome::Retry("not sent".into()); p.to_send.len()]).collect();
    if deadline.is_none_or(|d| Instant::now() < d) {
        for platform in [Platform::Aws, Platform::Aliyun, Platform::Huawei] {
            let mut records = Vec::new();
            let mut slots = Vec::new();
            for (pi, p) in prepared.iter().enumerate().filter(|(_, p)| p.account.platform == platform) {
                for (ri, r) in p.to_send.iter().enumerate() {
                    records.push(MeterRecord {
                        report: r,
                        account: &p.account,
                        dimension: dimension(platform, &r.item),
                    });
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
    }

    let settles = prepared.into_iter().zip(outcomes).map(|(p, o)| async move {
        let id = p.account.id.clone();
        match settle(deps, p, o, deadline).await {
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

/// Under the lease: reports fixed by an earlier run are covered first (their usage must not be
/// planned twice), then the uncovered usage is fixed into new reports. Reports the
/// marketplace can no longer take fall back now; the rest are to send.
async fn prepare(deps: &Deps, id: &str, seen: u64, mode: Mode, now: DateTime<Utc>) -> Result<Prepared> {
    let mut f = RunFigures { accounts: 1, ..RunFigures::default() };
    let account =
        deps.marketplace.cloud_account(id).await?.ok_or_else(|| Error::internal("metered cloud account missing"))?;
    let mut reports = deps.metering.open_reports(id).await?;
    for r in &reports {
        deps.metering.cover(r).await?;
    }
    let lines = deps.metering.meter_lines(id).await?;
    let final_report = mode == Mode::Final || account.status == CloudStatus::Cancelled;
    let at = metering::report_time(now, final_report);
    for planned in metering::plan(id, account.platform, &lines, at, final_report) {
        let r = deps.metering.fix_report(&planned).await?;
        if planned.displaced_by(&r) {
            // Sent earlier this hour (or minute): the account stays due, the usage uncovered.
            f.deferred += 1;
            continue;
        }
        deps.metering.cover(&r).await?;
        f.reports_fixed += 1;
        if r.status == ReportStatus::Fixed && !reports.iter().any(|o| o.tag() == r.tag()) {
            reports.push(r);
        }
    }
    // After the subscription ended only its final report is sent; what comes later falls back.
    let ended_before = |r: &MeterReport| {
        account.status == CloudStatus::Cancelled
            && mode == Mode::Hourly
            && account.cancelled_at.is_some_and(|c| r.at >= c)
    };
    let mut to_send = Vec::new();
    for r in reports {
        if ended_before(&r) {
            fall_back(deps, &r, FallbackReason::SubscriptionEnded).await?;
            f.fell_back += 1;
        } else if account.status == CloudStatus::Frozen {
            // A frozen instance pays nothing (KooGallery FREEZE): its usage is the enterprise's.
            fall_back(deps, &r, FallbackReason::CustomerNotSubscribed).await?;
            f.fell_back += 1;
        } else if metering::window_passed(&r, now) {
            fall_back(deps, &r, FallbackReason::WindowPassed).await?;
            f.fell_back += 1;
        } else {
            to_send.push(r);
        }
    }
    Ok(Prepared { account, seen, to_send, figures: f })
}

/// Applies the marketplace's answers, gives the lease back, and ends a subscription the
/// marketplace refused.
async fn settle(deps: &Deps, p: Prepared, outcomes: Vec<SendOutcome>, deadline: Option<Instant>) -> Result<RunFigures> {
    let Prepared { account, seen, to_send, mut figures } = p;
    let mut refused = false;
    let applied = async {
        for (r, outcome) in to_send.iter().zip(outcomes) {
            match outcome {
                SendOutcome::Accepted => {
                    deps.metering.mark_reported(r).await?;
                    figures.reported += 1;
                    crate::telemetry::reported(r.platform);
                }
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
        Ok::<_, Error>(())
    }
    .await;
    let settled = applied.is_ok() && figures.pending == 0 && figures.deferred == 0;
    deps.metering.release(&account.id, seen, settled).await?;
    applied?;
    if refused {
        // The marketplace says the customer is not subscribed: the subscription is over.
        end_refused(deps, &account, deadline).await?;
    }
    Ok(figures)
}

fn dimension(platform: Platform, item: &str) -> &'static str {
    let i = billing_items::find(item);
    match platform {
        Platform::Aws => i.map(|i| i.aws_dimension).unwrap_or("unknown"),
        Platform::Aliyun | Platform::Huawei => i.map(|i| i.usage_code).unwrap_or("unknown"),
    }
}

/// A report's usage lands on its billing accounts' enterprise lines, with the reason, and is
/// charged to their balances; then the arrears rule runs on each.
async fn fall_back(deps: &Deps, r: &MeterReport, reason: FallbackReason) -> Result<()> {
    let parts: Vec<FallbackPart> = r
        .parts
        .iter()
        .map(|p| {
            let currency = Currency::of_site(&p.site);
            let line = LineKey {
                payer: LinePayer::FellBack {
                    platform: r.platform,
                    cloud_account_id: r.cloud_account_id.clone(),
                    reason: reason.code().to_string(),
                },
                ..r.line_of(p)
            };
            FallbackPart {
                cloud_line: r.line_of(p),
                delta: p.delta,
                line: LineDelta {
                    key: line,
                    quantity: p.delta,
                    workspace_name: p.workspace_name.clone(),
                    site: p.site.clone(),
                },
                charge: BalanceDelta {
                    billing_account: p.billing_account.clone(),
                    currency,
                    charges: billing_items::cost(&r.item, p.delta, currency),
                },
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

/// A refusal ends the subscription: the account is cancelled (flow 7), and its workspaces'
/// history records the marketplace's refusal as the cause.
async fn end_refused(deps: &Deps, account: &CloudAccount, deadline: Option<Instant>) -> Result<()> {
    let now = deps.clock.now();
    deps.marketplace.mark_refused(&account.id, now).await?;
    if let Some(Transition::Applied { account }) =
        deps.marketplace.transition(&account.id, CloudStatus::Cancelled, now).await?
    {
        if account.status == CloudStatus::Cancelled {
            cancellation::run(deps, &account, deadline).await?;
        }
    }
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
}

/// `GET /v1/admin/metering?from&to`: each report stamped in the period, with what it covered
/// and what became of it; and, per cloud account and item, the usage not yet in a report
/// (`hour` null): carried fractions and what the next run will fix.
pub async fn reconciliation(deps: &Deps, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ReconciliationRow>> {
    if to <= from || to - from > chrono::Duration::days(93) {
        return Err(Error::field("to", "invalid", "must be after from, at most 93 days later"));
    }
    let zero = crate::money::Amount::ZERO;
    let mut rows: Vec<ReconciliationRow> = deps
        .metering
        .reports_between(from, to)
        .await?
        .into_iter()
        .map(|r| {
            let (reported, fell, pending) = match r.status {
                ReportStatus::Reported => (r.attributed, zero, zero),
                ReportStatus::FellBack => (zero, r.attributed, zero),
                ReportStatus::Fixed => (zero, zero, r.attributed),
            };
            ReconciliationRow {
                cloud_account_id: r.cloud_account_id,
                platform: r.platform,
                hour: Some(r.at),
                item: r.item,
                attributed: r.attributed.normalize().to_string(),
                reported: reported.normalize().to_string(),
                fell_back: fell.normalize().to_string(),
                pending: pending.normalize().to_string(),
            }
        })
        .collect();
    for id in deps.metering.due_accounts().await? {
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
            attributed: q.normalize().to_string(),
            reported: "0".into(),
            fell_back: "0".into(),
            pending: q.normalize().to_string(),
        }));
    }
    rows.sort_by(|a, b| (&a.cloud_account_id, a.hour, &a.item).cmp(&(&b.cloud_account_id, b.hour, &b.item)));
    Ok(rows)
}
