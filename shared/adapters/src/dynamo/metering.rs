//! Metering state (flow 10); keys in `keys.rs`.
//!
//! - A cloud account's due mark: the account has usage to report (listed in gsi1, set by every
//!   usage commit with its usage, which also counts `seq`: `lines.rs`), the run's lease, the set
//!   `open` of its reports fixed and not yet settled, and in gsi2 the retry runs' list while some
//!   are, else the reconciliation's while its lines hold usage in no report.
//! - A report, fixed before it is sent (listed by day in gsi1 for the reconciliation).
//! - The cloud bill lines (`lines.rs`, in gsi2 under their account) carry `covered`, `reported`
//!   and `fell_back`, each added once per report: the report's tag joins a set on the line in
//!   the same conditional update.

use super::lines::{due_key, line_keys, stored_line};
use super::tx::{Cond, Tx};
use super::{conditional, from_item, item, key, keys, n, num_attr, s, sdk_error, str_attr, DynamoStore, Item};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use billing_domain::money::Amount;
use billing_domain::ports::{AfterRun, FallbackPart, MeterLease, MeteringStore};
use billing_domain::rules::metering::{FallbackReason, MeterLine, MeterReport, ReportStatus};
use billing_domain::rules::rating::LineKey;
use billing_domain::{Error, Result};
use chrono::{DateTime, Duration, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};

/// How long a run holds an account; past it, another run may take over (the holder died).
const LEASE_SECONDS: i64 = 600;
/// Reports are kept this long for the reconciliation.
const KEEP_REPORTS_DAYS: i64 = 400;

fn report_item(r: &MeterReport) -> Result<Item> {
    let mut it = item(
        r,
        &[
            ("pk", keys::meter_reports(&r.cloud_account_id)),
            ("sk", keys::meter_report_sk(r.at, &r.item)),
            ("gsi1pk", keys::meter_reports_of_day(r.at.date_naive())),
            ("gsi1sk", keys::meter_reports_of_day_sk(r.at, &r.cloud_account_id, &r.item)),
        ],
    )?;
    it.insert("ttl".into(), n((r.at + Duration::days(KEEP_REPORTS_DAYS)).timestamp()));
    Ok(it)
}

/// The line a report part is on, as a key, and the report's tag as a set value.
fn part_key(r: &MeterReport, line: &LineKey) -> (Item, AttributeValue, AttributeValue) {
    let (k, _) = line_keys(line);
    (k, AttributeValue::Ss(vec![r.tag()]), s(r.tag()))
}

impl DynamoStore {
    /// The report stored under `r`'s key.
    async fn stored_report(&self, r: &MeterReport) -> Result<MeterReport> {
        self.get(&keys::meter_reports(&r.cloud_account_id), &keys::meter_report_sk(r.at, &r.item))
            .await?
            .map(from_item)
            .transpose()?
            .ok_or(Error::Conflict)
    }

    /// Adds `delta` to `field` of the report's line once: the tag joins `set` in the same
    /// conditional update. `Ok(false)` when it had been added before.
    async fn add_once(&self, r: &MeterReport, line: &LineKey, field: &str, set: &str, delta: Amount) -> Result<bool> {
        let (k, tag_set, tag) = part_key(r, line);
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(k))
            .update_expression(format!("ADD {field} :d, {set} :ts"))
            .condition_expression(format!("attribute_exists(pk) AND NOT contains({set}, :t)"))
            .expression_attribute_values(":d", n(delta.normalize()))
            .expression_attribute_values(":ts", tag_set)
            .expression_attribute_values(":t", tag)
            .send()
            .await;
        Ok(conditional(out)?.is_some())
    }

    /// Settles a report: its status, then it leaves the account's open list (a crash between
    /// the two leaves a settled report listed, which the next run forgets).
    async fn set_status(&self, r: &MeterReport, status: ReportStatus, reason: Option<FallbackReason>) -> Result<()> {
        let status = serde_dynamo::to_attribute_value(status).map_err(Error::internal)?;
        let reason = serde_dynamo::to_attribute_value(reason).map_err(Error::internal)?;
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::meter_reports(&r.cloud_account_id), &keys::meter_report_sk(r.at, &r.item))))
            .update_expression("SET #st = :st, reason = :r")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":st", status)
            .expression_attribute_values(":r", reason)
            .send()
            .await
            .map_err(sdk_error)?;
        self.forget_open(r).await
    }
}

/// Tries of a transaction when it meets concurrent writes (a balance, a month, a line).
const TX_ATTEMPTS: u32 = 10;
/// Items of one transaction (DynamoDB: 100).
const TX_ITEMS: usize = 100;

/// Whether a report is fixed with its cover in one transaction: its parts, the report and the
/// account's open list fit in one.
fn covered_together(r: &MeterReport) -> bool {
    r.parts.len() + 2 <= TX_ITEMS
}

/// Takes from `pending` the indexes whose `size`s fit in one transaction with one more item (the
/// account's open list); at least one.
fn take_fitting(pending: &mut Vec<usize>, size: impl Fn(usize) -> usize) -> Vec<usize> {
    let mut used = 1;
    let mut batch = Vec::new();
    pending.retain(|i| {
        let n = size(*i);
        if batch.is_empty() || used + n <= TX_ITEMS {
            used += n;
            batch.push(*i);
            false
        } else {
            true
        }
    });
    batch
}

impl DynamoStore {
    /// Puts the reports' keys on their account's open list (`join`) or takes them off it.
    fn open_list(&self, tx: &mut Tx, cloud: &str, join: bool, sks: Vec<String>) -> Result<()> {
        tx.update_always(
            self.table(),
            due_key(cloud),
            if join { "ADD #open :sk" } else { "DELETE #open :sk" },
            vec![("#open", "open")],
            vec![(":sk", AttributeValue::Ss(sks))],
        )
    }

    /// Adds each part of `r` to `field` of its line, the line required to exist.
    fn add_parts(&self, tx: &mut Tx, r: &MeterReport, field: &str) -> Result<()> {
        for part in &r.parts {
            let (k, _) = line_keys(&r.line_of(part));
            tx.update(
                self.table(),
                k,
                &format!("ADD {field} :d"),
                vec![(":d", n(part.delta.normalize()))],
                Cond::new("attribute_exists(pk)", Error::internal("a metered line is missing")),
            )?;
        }
        Ok(())
    }

    /// Small reports of one account fixed together: each written unless it exists, its cover on
    /// its lines, all on the open list. With the transaction, where each report's put is in it.
    fn fix_tx(&self, batch: &[&MeterReport]) -> Result<(Tx, Vec<usize>)> {
        let mut tx = Tx::default();
        let mut put_at = Vec::new();
        for r in batch {
            put_at.push(tx.len());
            tx.put_reporting(self.table(), report_item(r)?, Cond::not_exists(Error::Conflict))?;
            self.add_parts(&mut tx, r, "covered")?;
        }
        let sks = batch.iter().map(|r| keys::meter_report_sk(r.at, &r.item)).collect();
        self.open_list(&mut tx, &batch[0].cloud_account_id, true, sks)?;
        Ok((tx, put_at))
    }

    /// A report of more lines than a transaction holds: written first (or the one stored under
    /// its key stands), its cover added line by line once each (the report's tag on the line);
    /// `cover` finishes it on the next run.
    async fn fix_large(&self, r: &MeterReport) -> Result<MeterReport> {
        let mut tx = Tx::default();
        tx.put(self.table(), report_item(r)?, Some(Cond::not_exists(Error::Conflict)))?;
        self.open_list(&mut tx, &r.cloud_account_id, true, vec![keys::meter_report_sk(r.at, &r.item)])?;
        let fixed = match self.commit(tx).await {
            Ok(()) => r.clone(),
            Err(Error::Conflict) => self.stored_report(r).await?,
            Err(e) => return Err(e),
        };
        self.cover(&fixed).await?;
        Ok(fixed)
    }

    /// Small reports of one account settled as taken together: each status, conditioned on the
    /// report still being fixed (so it is counted once whatever runs again), the lines' reported
    /// counts, off the open list. With the transaction, where each report's status is in it.
    fn mark_tx(&self, batch: &[&MeterReport]) -> Result<(Tx, Vec<usize>)> {
        let mut tx = Tx::default();
        let mut status_at = Vec::new();
        for r in batch {
            status_at.push(tx.len());
            tx.update(
                self.table(),
                key(keys::meter_reports(&r.cloud_account_id), &keys::meter_report_sk(r.at, &r.item)),
                "SET #st = :reported",
                vec![(":reported", s("reported"))],
                Cond::new("#st = :fixed", Error::Conflict).name("#st", "status").value(":fixed", s("fixed")),
            )?;
            self.add_parts(&mut tx, r, "reported")?;
        }
        let sks = batch.iter().map(|r| keys::meter_report_sk(r.at, &r.item)).collect();
        self.open_list(&mut tx, &batch[0].cloud_account_id, false, sks)?;
        Ok((tx, status_at))
    }

    /// A report too large for one transaction, taken: its lines' reported counts once each, then
    /// its status.
    async fn mark_large(&self, r: &MeterReport) -> Result<()> {
        let jobs: Vec<_> = r
            .parts
            .iter()
            .map(|p| Box::pin(async move { self.add_once(r, &r.line_of(p), "reported", "rep", p.delta).await }))
            .collect();
        stream::iter(jobs).buffer_unordered(8).try_collect::<Vec<bool>>().await?;
        self.set_status(r, ReportStatus::Reported, None).await
    }

    /// One part's fallback: off its cloud line (once per report: the tag), onto the enterprise
    /// line of `month` with its reason, charged to the balance and accrued to the month (which
    /// refuses it once issued: item 3).
    fn fallback_tx(&self, r: &MeterReport, p: &FallbackPart, month: &str) -> Result<Tx> {
        let (cloud_line, tag_set, tag) = part_key(r, &p.cloud_line);
        let mut tx = Tx::default();
        tx.update(
            self.table(),
            cloud_line,
            "ADD fell_back :d, fb :ts",
            vec![(":d", n(p.delta.normalize())), (":ts", tag_set)],
            Cond::new("attribute_exists(pk) AND NOT contains(fb, :t)", Error::Conflict).value(":t", tag),
        )?;
        let line = LineKey { month: month.to_string(), ..p.line.key.clone() };
        self.add_to_line(&mut tx, &line, p.line.quantity, &p.line.workspace_name, &p.line.site)?;
        let c = &p.charge;
        self.add_to_balance(&mut tx, &c.billing_account, c.currency, "charges", c.charges)?;
        let accrued = std::collections::BTreeMap::from([(c.currency, c.charges)]);
        self.add_to_month(&mut tx, &c.billing_account, month, &accrued)?;
        Ok(tx)
    }
}

fn meter_line(i: &Item) -> Option<MeterLine> {
    let line = stored_line(i.clone()).ok()?;
    let month = str_attr(i, "month")?;
    let billing_account = str_attr(i, "billing_account")?;
    Some(MeterLine {
        key: LineKey { billing_account, month, workspace_id: line.workspace_id, item: line.item, payer: line.payer },
        site: line.site,
        workspace_name: line.workspace_name,
        quantity: line.quantity,
        covered: num_attr(i, "covered"),
    })
}

#[async_trait]
impl MeteringStore for DynamoStore {
    async fn due_accounts(&self) -> Result<Vec<String>> {
        let items = self.query_all(Some("gsi1"), "gsi1pk", keys::METER_DUE, "gsi1sk", "").await?;
        Ok(items.iter().filter_map(|i| str_attr(i, "gsi1sk")).collect())
    }

    async fn carrying_accounts(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for list in [keys::METER_CARRY, keys::METER_OPEN] {
            let items = self.query_all(Some("gsi2"), "gsi2pk", list, "gsi2sk", "").await?;
            ids.extend(items.iter().filter_map(|i| str_attr(i, "gsi2sk")));
        }
        Ok(ids)
    }

    async fn lease(&self, cloud: &str, now: DateTime<Utc>) -> Result<Option<MeterLease>> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(due_key(cloud)))
            .update_expression("SET lease_until = :until, seq = if_not_exists(seq, :zero)")
            .condition_expression("attribute_not_exists(lease_until) OR lease_until < :now")
            .expression_attribute_values(":until", n(now.timestamp() + LEASE_SECONDS))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        Ok(conditional(out)?.map(|o| {
            let a = o.attributes.unwrap_or_default();
            let seen = num_attr(&a, "seq").try_into().unwrap_or(0);
            let open = a.get("open").and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default();
            MeterLease { seen, open }
        }))
    }

    async fn release(&self, cloud: &str, seen: u64, after: AfterRun) -> Result<()> {
        // gsi2 lists the account for the retry runs while reports are open, else for the
        // reconciliation while its lines carry usage in no report.
        let listed = match after {
            AfterRun { open_left: true, .. } => Some(keys::METER_OPEN),
            AfterRun { carrying: true, .. } => Some(keys::METER_CARRY),
            _ => None,
        };
        let update = |settled: bool| {
            let mut removes = vec!["lease_until"];
            if settled {
                removes.extend(["gsi1pk", "gsi1sk"]);
            }
            let mut u = self.client().update_item().table_name(self.table()).set_key(Some(due_key(cloud)));
            let expr = match listed {
                Some(partition) => {
                    u = u
                        .expression_attribute_values(":list", s(partition))
                        .expression_attribute_values(":id", s(cloud));
                    format!("SET gsi2pk = :list, gsi2sk = :id REMOVE {}", removes.join(", "))
                }
                None => format!("REMOVE {}, gsi2pk, gsi2sk", removes.join(", ")),
            };
            u.update_expression(expr)
        };
        if after.settled {
            let out = update(true)
                .condition_expression("seq = :seen")
                .expression_attribute_values(":seen", n(seen))
                .send()
                .await;
            if conditional(out)?.is_some() {
                return Ok(());
            }
            // Usage came meanwhile: the account stays due.
        }
        update(false).send().await.map_err(sdk_error)?;
        Ok(())
    }

    async fn open_accounts(&self) -> Result<Vec<String>> {
        let items = self.query_all(Some("gsi2"), "gsi2pk", keys::METER_OPEN, "gsi2sk", "").await?;
        Ok(items.iter().filter_map(|i| str_attr(i, "gsi2sk")).collect())
    }

    async fn open_reports(&self, cloud: &str, open: &[String]) -> Result<Vec<MeterReport>> {
        let keys: Vec<Item> = open.iter().map(|sk| key(keys::meter_reports(cloud), sk)).collect();
        let mut reports = Vec::new();
        for it in self.batch_get(keys).await? {
            let r: MeterReport = from_item(it)?;
            if r.status == ReportStatus::Fixed {
                reports.push(r);
            } else {
                self.forget_open(&r).await?; // settled by a run that died before saying so
            }
        }
        reports.sort_by(|a, b| (a.at, &a.item).cmp(&(b.at, &b.item)));
        Ok(reports)
    }

    async fn last_report(&self, cloud: &str) -> Result<Option<MeterReport>> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::meter_reports(cloud)))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.items.unwrap_or_default().into_iter().next().map(from_item).transpose()
    }

    async fn reports_of(&self, cloud: &str) -> Result<Vec<MeterReport>> {
        self.query_all(None, "pk", &keys::meter_reports(cloud), "sk", "").await?.into_iter().map(from_item).collect()
    }

    async fn forget_open(&self, r: &MeterReport) -> Result<()> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(due_key(&r.cloud_account_id)))
            .update_expression("DELETE #open :sk")
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":sk", AttributeValue::Ss(vec![keys::meter_report_sk(r.at, &r.item)]))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn meter_lines(&self, cloud: &str) -> Result<Vec<MeterLine>> {
        // The index finds the lines; the table gives their figures as they stand.
        let found = self.query_all(Some("gsi2"), "gsi2pk", &keys::meter(cloud), "gsi2sk", "").await?;
        let keys: Vec<Item> = found.iter().filter_map(|i| Some(key(str_attr(i, "pk")?, &str_attr(i, "sk")?))).collect();
        Ok(self.batch_get(keys).await?.iter().filter_map(meter_line).collect())
    }

    async fn fix_reports(&self, reports: &[MeterReport]) -> Result<Vec<MeterReport>> {
        let mut stored: Vec<Option<MeterReport>> = vec![None; reports.len()];
        let (small, large): (Vec<usize>, Vec<usize>) = (0..reports.len()).partition(|i| covered_together(&reports[*i]));
        // Small reports, as many a transaction as fit; one that exists already stands as it was
        // fixed.
        let mut pending = small;
        while !pending.is_empty() {
            let batch = take_fitting(&mut pending, |i| reports[i].parts.len() + 1);
            let (tx, put_at) = self.fix_tx(&batch.iter().map(|i| &reports[*i]).collect::<Vec<_>>())?;
            let Err(refused) = self.commit_detailed(&tx, TX_ATTEMPTS).await? else {
                batch.iter().for_each(|i| stored[*i] = Some(reports[*i].clone()));
                continue;
            };
            // Fixed before (a concurrent run, or this one before a crash): that one stands; the
            // rest of the batch goes again.
            if refused.is_empty() {
                return Err(Error::Conflict);
            }
            for (at, item) in refused {
                let Some(pos) = put_at.iter().position(|p| *p == at) else {
                    return Err(Error::internal("a metered line is missing"));
                };
                let i = batch[pos];
                stored[i] = Some(match item {
                    Some(it) => from_item(it)?,
                    None => self.stored_report(&reports[i]).await?,
                });
            }
            pending.extend(batch.into_iter().filter(|i| stored[*i].is_none()));
        }
        for i in large {
            stored[i] = Some(self.fix_large(&reports[i]).await?);
        }
        Ok(stored.into_iter().map(|r| r.expect("every report has its outcome")).collect())
    }

    async fn cover(&self, r: &MeterReport) -> Result<()> {
        if covered_together(r) {
            return Ok(()); // covered in the transaction that fixed it
        }
        let jobs: Vec<_> = r
            .parts
            .iter()
            .map(|p| Box::pin(async move { self.add_once(r, &r.line_of(p), "covered", "cov", p.delta).await }))
            .collect();
        stream::iter(jobs).buffer_unordered(8).try_collect::<Vec<bool>>().await?;
        Ok(())
    }

    async fn mark_reported(&self, reports: &[MeterReport]) -> Result<()> {
        let (small, large): (Vec<&MeterReport>, Vec<&MeterReport>) = reports.iter().partition(|r| covered_together(r));
        let mut pending: Vec<&MeterReport> = small;
        while !pending.is_empty() {
            let mut idx: Vec<usize> = (0..pending.len()).collect();
            let batch: Vec<&MeterReport> =
                take_fitting(&mut idx, |i| pending[i].parts.len() + 1).into_iter().map(|i| pending[i]).collect();
            let rest: Vec<&MeterReport> = idx.into_iter().map(|i| pending[i]).collect();
            let (tx, status_at) = self.mark_tx(&batch)?;
            let Err(refused) = self.commit_detailed(&tx, TX_ATTEMPTS).await? else {
                pending = rest;
                continue;
            };
            // Settled before: those are left out, the rest of the batch goes again.
            let settled: Vec<usize> =
                refused.iter().filter_map(|(at, _)| status_at.iter().position(|p| p == at)).collect();
            if settled.is_empty() {
                return Err(Error::internal("a metered line is missing"));
            }
            for i in &settled {
                self.forget_open(batch[*i]).await?;
            }
            pending = batch
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !settled.contains(i))
                .map(|(_, r)| r)
                .chain(rest)
                .collect();
        }
        for r in large {
            self.mark_large(r).await?;
        }
        Ok(())
    }

    async fn fall_back(&self, r: &MeterReport, reason: FallbackReason, parts: &[FallbackPart]) -> Result<()> {
        for p in parts {
            // The part leaves its cloud line and lands on the enterprise line, charged and
            // accrued to the month, at once; on the open month's bill if its own is issued.
            let mut month = p.line.key.month.clone();
            loop {
                match self.commit_detailed(&self.fallback_tx(r, p, &month)?, TX_ATTEMPTS).await? {
                    Ok(()) => break,
                    Err(refused) if refused.iter().any(|(i, _)| *i == 0) => break, // moved before
                    Err(_) if month != p.open_month => month = p.open_month.clone(),
                    Err(_) => return Err(Error::internal("a fallback found its open month issued")),
                }
            }
        }
        self.set_status(r, ReportStatus::FellBack, Some(reason)).await
    }

    async fn reports_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<MeterReport>> {
        let mut out = Vec::new();
        let mut day = from.date_naive();
        while day <= to.date_naive() {
            let items = self.query_all(Some("gsi1"), "gsi1pk", &keys::meter_reports_of_day(day), "gsi1sk", "").await?;
            for i in items {
                let r: MeterReport = from_item(i)?;
                if r.at >= from && r.at < to {
                    out.push(r);
                }
            }
            day = day.succ_opt().ok_or_else(|| Error::internal("date overflow"))?;
        }
        Ok(out)
    }
}
