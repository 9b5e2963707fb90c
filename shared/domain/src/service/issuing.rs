//! Issuing bills (出账, flow 11). When a month has closed, each billing account with usage or
//! charges in it gets its bill issued once: the lines and totals are fixed for good (stored as
//! answered, JSON and CSV), the balance is settled to the cent against the issued enterprise
//! total (an explicit entry per currency, in the same transaction), and the statement email is
//! written durably in that transaction too (its id fixed by account and month) and sent.
//!
//! The months to issue come from an index entry written with a month's first line and removed
//! by its issue, so a run reads pages of what is left, never a Scan; a run that stops at its
//! deadline (or dies) leaves the rest listed for the next one, and issuing what another run
//! issued meanwhile is a no-op.

use super::{billing, outbox, Deps};
use crate::email::{self, EmailIntent};
use crate::error::{Error, Result};
use crate::ports::IssueWrite;
use crate::rules::bill;
use crate::rules::issuing::{self, statement_id, statement_language};
use crate::rules::rating::MonthKey;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use std::time::Instant;

/// Months read per page of the index.
const PAGE: usize = 100;
/// Accounts issued at once.
const PARALLEL: usize = 8;
/// Tries per month when usage or a fallback lands on it between its read and its issue.
const ATTEMPTS: usize = 5;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct IssueFigures {
    pub issued: usize,
    /// Listed, but issued already (by another run; the index is eventually consistent).
    pub already_issued: usize,
    pub failed: usize,
    /// False when the deadline came first: the next run continues.
    pub finished: bool,
}

/// What issuing one month found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    Now,
    Before,
}

/// The scheduled run: every month due at the run's start, page by page, until the deadline.
pub async fn run(deps: &Deps, deadline: Option<Instant>) -> Result<IssueFigures> {
    let before = issuing::first_open_month(deps.clock.now());
    let past = |d: Option<Instant>| d.is_some_and(|t| Instant::now() >= t);
    let mut figures = IssueFigures::default();
    let mut cursor = None;
    while !past(deadline) {
        let (page, next) = deps.bills.due_months(&before, cursor, PAGE).await?;
        let jobs = page.into_iter().map(|m| async move {
            if past(deadline) {
                return None; // listed still: the next run issues it
            }
            Some((issue_month(deps, &m).await, m))
        });
        for (outcome, m) in
            stream::iter(jobs).buffer_unordered(PARALLEL).collect::<Vec<_>>().await.into_iter().flatten()
        {
            match outcome {
                Ok(Issued::Now) => {
                    figures.issued += 1;
                    crate::telemetry::bill_issued();
                }
                Ok(Issued::Before) => figures.already_issued += 1,
                Err(e) => {
                    tracing::warn!(billing_account = %m.billing_account, month = %m.month, error = %e, "bill not issued; next run retries");
                    figures.failed += 1;
                }
            }
        }
        match next {
            Some(c) => cursor = Some(c),
            None => {
                figures.finished = !past(deadline);
                break;
            }
        }
    }
    tracing::info!(
        issued = figures.issued,
        already_issued = figures.already_issued,
        failed = figures.failed,
        finished = figures.finished,
        before = %before,
        "issue-bills run"
    );
    Ok(figures)
}

/// Issues one account's month, once: read the month (its accrual and version) and its lines,
/// decide the bill, the settlement and the statement, and commit them together on the
/// condition that the month has not moved. Then the statement is sent and arrears decided.
pub async fn issue_month(deps: &Deps, key: &MonthKey) -> Result<Issued> {
    for _ in 0..ATTEMPTS {
        let now = deps.clock.now();
        if !issuing::is_month_closed(&key.month, now) {
            return Err(Error::internal(format!("month {} has not closed", key.month)));
        }
        let state = deps.bills.month_state(key).await?;
        if state.issued_at.is_some() {
            return Ok(Issued::Before);
        }
        let lines = deps.bills.month_lines(key).await?;
        let account =
            deps.accounts.billing_account(&key.billing_account).await?.ok_or(Error::BillingAccountNotFound)?;
        let workspaces = deps.accounts.workspaces_of_billing_account(&key.billing_account).await?;
        let language = statement_language(workspaces.iter().map(|w| w.language));
        let bill = bill::bill(&key.month, &key.billing_account, lines, true);
        let write = IssueWrite {
            month: key.clone(),
            seen_version: state.version,
            settling: issuing::settle(&bill.enterprise, &state.accrued),
            statement: EmailIntent {
                id: statement_id(&key.billing_account, &key.month),
                email: email::statement(&account.email, language, &bill),
            },
            bill: issuing::issue(bill, now),
        };
        if !deps.bills.commit_issue(&write, now).await? {
            continue; // usage or a fallback landed meanwhile, or another run issued it
        }
        outbox::deliver_committed(deps, std::slice::from_ref(&write.statement)).await;
        for s in write.settling.iter().filter(|s| !s.adjustment.is_zero()) {
            if let Err(e) = billing::settle_arrears(deps, &key.billing_account, s.currency, Some(language)).await {
                // The entry is committed; the next charge or top-up decides again.
                tracing::warn!(billing_account = %key.billing_account, error = %e, "arrears check deferred");
            }
        }
        tracing::info!(billing_account = %key.billing_account, month = %key.month, "bill issued");
        return Ok(Issued::Now);
    }
    Err(Error::Conflict)
}
