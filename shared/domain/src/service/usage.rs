//! Flow 8 and 9: a site's batch of usage records, each counted once and attributed to the
//! payer in force at the start of its hour. Load (workspaces, and history where the current
//! settlement does not cover an hour) → decide (`rules::attribution`, `rules::rating`) → commit in
//! atomic chunks (records, bill lines, balance charges and the months' accruals together, each
//! month only while its bill is not issued) → arrears (flow 11).

use super::{billing, Deps};
use crate::error::{Error, Result};
use crate::model::{Language, SettlementChange, Workspace};
use crate::money::Currency;
use crate::ports::{UsageOutcome, MAX_COMMIT_ITEMS};
use crate::rules::attribution::{self, key_of, RecordKey, Repeat, Stands};
use crate::rules::exporters::Exporter;
use crate::rules::rating::{plan, Attributed, MonthKey, UsageCommit};
use crate::rules::usage::{self, Refusal, UsageRecord};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Commits in flight at once.
const PARALLEL: usize = 4;

#[derive(Debug, Deserialize)]
pub struct UsageBatch {
    /// Each record as sent: its fields are read from their own text (see `rules::usage`).
    pub records: Option<Vec<Box<RawValue>>>,
}

/// The caller of `POST /v1/usage` (its IAM ARN) as an exporter of the sites that name its
/// role; a caller that reports for no site is refused before anything is read or recorded.
pub fn exporter(deps: &Deps, caller_arn: &str) -> Result<Exporter> {
    deps.exporters.exporter(caller_arn).ok_or(Error::Forbidden)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRecord {
    pub index: usize,
    pub id: Option<String>,
    pub code: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<RejectedRecord>,
}

impl IngestReport {
    fn reject(&mut self, index: usize, id: Option<&str>, why: Refusal) {
        self.rejected.push(RejectedRecord { index, id: id.map(str::to_string), code: why.code() });
    }
}

pub async fn ingest(deps: &Deps, exporter: &Exporter, batch: UsageBatch) -> Result<IngestReport> {
    let raw = batch.records.ok_or_else(|| Error::field("records", "required", "is required"))?;
    if raw.is_empty() || raw.len() > usage::MAX_RECORDS {
        return Err(Error::field("records", "invalid", "must hold 1 to 1000 records"));
    }
    let now = deps.clock.now();
    let mut report = IngestReport::default();
    let mut parsed: Vec<(usize, UsageRecord)> = Vec::new();
    for (i, v) in raw.iter().enumerate() {
        match usage::parse_record(v, now) {
            Ok(r) => parsed.push((i, r)),
            Err(why) => report.reject(i, usage::record_id(v).as_deref(), why),
        }
    }
    let mut ids: Vec<String> = parsed.iter().map(|(_, r)| r.workspace_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let workspaces: HashMap<String, Workspace> =
        deps.accounts.workspaces(&ids).await?.into_iter().map(|w| (w.id.clone(), w)).collect();
    let histories = histories_needed(deps, &parsed, &workspaces).await?;
    let attribution = attribution::attribute(parsed, &workspaces, &histories, exporter);
    for (i, id, why) in attribution.refused {
        report.reject(i, Some(&id), why);
    }
    let commits = commit_all(deps, &mut report, attribution.attributed, attribution.repeats, &workspaces).await?;
    tracing::info!(
        accepted = report.accepted,
        duplicates = report.duplicates,
        rejected = report.rejected.len(),
        commits,
        "usage batch"
    );
    Ok(report)
}

/// Commits in atomic chunks (records found stored are duplicates or conflicts) and judges the
/// repeats, then the arrears rule on every balance charged. Returns how many commits were planned.
async fn commit_all(
    deps: &Deps,
    report: &mut IngestReport,
    attributed: Vec<(usize, Attributed)>,
    repeats: Vec<Repeat>,
    workspaces: &HashMap<String, Workspace>,
) -> Result<usize> {
    let index_of: HashMap<RecordKey, usize> =
        attributed.iter().map(|(i, a)| ((a.site.clone(), a.record.id.clone()), *i)).collect();
    let commits = plan(attributed.into_iter().map(|(_, a)| a).collect(), MAX_COMMIT_ITEMS);
    let commit_count = commits.len();
    let outcomes: Vec<Outcome> = stream::iter(commits.into_iter().map(|c| commit_until_settled(deps, c)))
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    let mut charged: BTreeMap<(String, Currency), Language> = BTreeMap::new();
    let mut stands: HashMap<RecordKey, Stands> = HashMap::new();
    for o in outcomes {
        report.accepted += o.committed.len();
        report.duplicates += o.duplicates;
        stands.extend(o.stands);
        for (site, id, why) in o.refused {
            let index = index_of.get(&(site, id.clone())).copied().unwrap_or_default();
            report.reject(index, Some(&id), why);
        }
        for a in o.committed {
            if let Some((account, currency, _)) = a.charge() {
                let language = workspaces.get(&a.record.workspace_id).map(|w| w.language).unwrap_or(Language::Zh);
                charged.entry((account, currency)).or_insert(language);
            }
        }
    }
    for r in &repeats {
        match attribution::judge(r, stands.get(&r.key)) {
            None => report.duplicates += 1,
            Some(why) => report.reject(r.index, Some(&r.key.1), why),
        }
    }
    report.rejected.sort_by_key(|r| r.index);
    for ((account, currency), language) in charged {
        if let Err(e) = billing::settle_arrears(deps, &account, currency, Some(language)).await {
            // The charges are committed; the next charge or top-up decides again.
            tracing::warn!(billing_account = %account, error = %e, "arrears check deferred");
        }
    }
    Ok(commit_count)
}

/// Histories of the workspaces whose current settlement does not cover every hour reported.
async fn histories_needed(
    deps: &Deps,
    parsed: &[(usize, UsageRecord)],
    workspaces: &HashMap<String, Workspace>,
) -> Result<HashMap<String, Vec<SettlementChange>>> {
    let mut needed: Vec<String> = parsed
        .iter()
        .filter(|(_, r)| workspaces.get(&r.workspace_id).is_some_and(|w| !usage::current_settlement_covers(w, r.hour)))
        .map(|(_, r)| r.workspace_id.clone())
        .collect();
    needed.sort();
    needed.dedup();
    let reads: Vec<_> = needed
        .into_iter()
        .map(|id| {
            Box::pin(async move {
                let history = deps.accounts.settlement_history(&id).await?;
                Ok::<_, Error>((id, history))
            })
        })
        .collect();
    stream::iter(reads).buffer_unordered(16).try_collect().await
}

struct Outcome {
    committed: Vec<Attributed>,
    duplicates: usize,
    /// (site, record id, why): conflicts, and records of a month issued meanwhile.
    refused: Vec<(String, String, Refusal)>,
    /// What each (site, record id) of the chunk stands for now.
    stands: Vec<(RecordKey, Stands)>,
}

/// Commits a chunk; the records it finds already stored come out (duplicates or conflicts),
/// as do those of a month whose bill was issued meanwhile (the month closed while the batch
/// was read), and the rest is committed again, until nothing is left.
async fn commit_until_settled(deps: &Deps, mut commit: UsageCommit) -> Result<Outcome> {
    let mut out = Outcome { committed: vec![], duplicates: 0, refused: vec![], stands: vec![] };
    while !commit.records.is_empty() {
        let (existing, issued) = match deps.usage.commit_usage(&commit, deps.clock.now()).await? {
            UsageOutcome::Committed => {
                let committed = commit.records.iter().map(|a| (key_of(a), Stands::As(a.fingerprint.clone())));
                out.stands.extend(committed);
                out.committed = commit.records;
                return Ok(out);
            }
            UsageOutcome::Refused { existing, issued } => (existing, issued),
        };
        let stored: HashMap<usize, Option<String>> = existing.into_iter().collect();
        let issued: HashSet<MonthKey> = issued.into_iter().collect();
        let before = commit.records.len();
        let sorted = attribution::after_refusal(commit.records, &stored, &issued);
        out.duplicates += sorted.duplicates;
        out.refused.extend(sorted.refused);
        out.stands.extend(sorted.stands);
        let rest = sorted.rest;
        if rest.len() == before {
            return Err(Error::internal("a usage commit was refused for no record of it"));
        }
        commit = UsageCommit::of(rest);
    }
    Ok(out)
}
