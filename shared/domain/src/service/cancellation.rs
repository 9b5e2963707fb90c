//! Flow 7: a cloud account's subscription ended. Every workspace it settles switches to
//! enterprise, it leaves every billing account's registered accounts, and each affected
//! billing account gets one email listing its workspaces.
//!
//! Exactly once in effect: every step is idempotent and the run is keyed by the end of the
//! subscription (`CloudAccount::cancellation_id`). Switching a workspace and remembering it
//! for the email are one transaction; the email intent's id is fixed by the run and the
//! billing account, so a rerun (a redelivered event, or the sweeper after a crash or a
//! deadline) finishes the job without a second email. The sweeper runs every finished run once
//! more after [`RECHECK_AFTER`] to catch workspaces the index showed late, then closes it.

use super::{outbox, Deps};
use crate::email::{self, EmailIntent};
use crate::error::{Error, Result};
use crate::model::{ChangeCause, CloudAccount, Language};
use crate::ports::SwitchedWorkspace;
use std::collections::BTreeMap;
use std::time::Instant;

/// Workspaces read per query page.
const PAGE: usize = 1000;

/// A finished run is run once more after this long: a workspace bound just before the end of
/// the subscription may reach the index (eventually consistent) after the run read it.
pub const RECHECK_AFTER: chrono::Duration = chrono::Duration::minutes(2);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub switched: usize,
    pub emails: usize,
    /// False when the deadline came first: the sweeper continues the run.
    pub finished: bool,
}

/// What one billing account's email says: the first workspaces by name, how many in all, and
/// in which language most of them are. Built page by page, so a run's memory does not grow
/// with its size.
#[derive(Default)]
struct Notice {
    listed: Vec<(String, String)>,
    total: usize,
    english: usize,
}

impl Notice {
    fn add(&mut self, w: SwitchedWorkspace) {
        self.total += 1;
        self.english += usize::from(w.language == Language::En);
        if self.listed.len() < email::MAX_LISTED {
            self.listed.push((w.name, w.site));
        }
    }

    /// The language most of the workspaces use (Chinese on a tie: the product's first language).
    fn language(&self) -> Language {
        if self.english * 2 > self.total {
            Language::En
        } else {
            Language::Zh
        }
    }
}

fn display(account: &CloudAccount) -> String {
    match &account.instance_id {
        Some(instance) => format!("{} ({instance})", account.account_id),
        None => account.account_id.clone(),
    }
}

pub async fn run(deps: &Deps, account: &CloudAccount, deadline: Option<Instant>) -> Result<Report> {
    let run =
        account.cancellation_id().ok_or_else(|| Error::internal("cancellation of an account that is not cancelled"))?;
    let mut report = Report::default();
    let first_finished = deps.cancellations.finished_at(&run).await?;
    if !switch_all(deps, account, &run, deadline, &mut report).await? {
        tracing::info!(run = %run, switched = report.switched, "cancellation continues in the sweeper");
        return Ok(report);
    }

    if let Some(done) = first_finished {
        if report.switched == 0 {
            // The recheck found nothing the index had not shown the first time: close the run.
            if deps.clock.now() - done >= RECHECK_AFTER {
                deps.cancellations.close(&run, deps.clock.now()).await?;
            }
            report.finished = true;
            return Ok(report);
        }
        tracing::warn!(run = %run, late = report.switched, "recheck switched workspaces the index showed late");
    }

    let intents = notify(deps, account, &run).await?;
    report.emails = intents.len();
    outbox::deliver(deps, &intents).await;
    deps.cancellations.mark_done(&run, deps.clock.now()).await?;
    crate::telemetry::cancellation_finished();
    report.finished = true;
    tracing::info!(run = %run, switched = report.switched, emails = report.emails, "cancellation finished");
    Ok(report)
}

/// Switches the account's workspaces to enterprise, a page at a time, until none is left
/// (`true`) or the deadline comes (`false`: the sweeper continues).
async fn switch_all(
    deps: &Deps,
    account: &CloudAccount,
    run: &str,
    deadline: Option<Instant>,
    report: &mut Report,
) -> Result<bool> {
    let actor = format!("marketplace:{}", account.id);
    // A subscription ended by the marketplace refusing its usage says so in the history.
    let cause = if account.refused_at.is_some() { ChangeCause::MarketplaceRefusal } else { ChangeCause::Cancellation };
    loop {
        let page = deps.cancellations.settled_by(&account.id, PAGE).await?;
        if page.is_empty() {
            return Ok(true);
        }
        deps.cancellations.switch_to_enterprise(run, &account.id, &page, cause, &actor, deps.clock.now()).await?;
        report.switched += page.len();
        crate::telemetry::workspaces_switched(page.len());
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
    }
}

/// One notice per billing account of the run (every workspace it lost, in one email), each
/// billing account finished with its email's intent; the intents' ids, to deliver.
async fn notify(deps: &Deps, account: &CloudAccount, run: &str) -> Result<Vec<String>> {
    let mut notices: BTreeMap<String, Notice> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let (page, next) = deps.cancellations.switched_page(run, cursor, PAGE).await?;
        for w in page {
            notices.entry(w.billing_account.to_lowercase()).or_default().add(w);
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    for username in deps.cancellations.registrations(&account.id).await? {
        notices.entry(username.to_lowercase()).or_default();
    }
    let mut intents = Vec::new();
    for (username, mut notice) in notices {
        let intent = match notice.total {
            0 => None,
            _ => {
                let billing = deps
                    .accounts
                    .billing_account(&username)
                    .await?
                    .ok_or_else(|| Error::internal("billing account missing"))?;
                notice.listed.sort();
                let body = email::cancellation(
                    &billing.email,
                    notice.language(),
                    &display(account),
                    &notice.listed,
                    notice.total,
                );
                Some(EmailIntent { id: format!("cancel-{run}-{username}"), email: body })
            }
        };
        deps.cancellations.finish_billing_account(&account.id, &username, intent.as_ref()).await?;
        intents.extend(intent.map(|i| i.id));
    }
    Ok(intents)
}

/// The sweeper's part: continue every run that has not finished, recheck finished ones, and
/// close runs that a resubscription superseded.
pub async fn continue_open_runs(deps: &Deps, deadline: Option<Instant>) -> Result<usize> {
    let mut finished = 0;
    for (run_id, cloud_id) in deps.cancellations.open_runs().await? {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let account = deps.marketplace.cloud_account(&cloud_id).await?;
        match account {
            Some(account) if account.cancellation_id().as_deref() == Some(run_id.as_str()) => {
                if run(deps, &account, deadline).await?.finished {
                    finished += 1;
                }
            }
            _ => deps.cancellations.close(&run_id, deps.clock.now()).await?,
        }
    }
    Ok(finished)
}
