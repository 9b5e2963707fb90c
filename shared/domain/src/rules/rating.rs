//! Rating (flow 11), as pure decisions: what attributed usage adds to bill lines, to the
//! balances and to each month's accrual, and how it is split into atomic commits. A line's
//! amount is computed in one place, [`line_amount`]; the bill itself is `rules::bill`.

use super::usage::{month_of, Payer, UsageRecord};
use crate::model::Platform;
use crate::money::{to_cents, Amount, Currency};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// A record with the payer of its hour and what rating needs of its workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributed {
    pub record: UsageRecord,
    pub fingerprint: String,
    pub site: String,
    pub workspace_name: String,
    pub billing_account: Option<String>,
    pub payer: Payer,
}

impl Attributed {
    pub fn currency(&self) -> Currency {
        Currency::of_site(&self.site)
    }

    /// The bill line this record adds to; `None` for free usage (kept, never charged).
    pub fn line(&self) -> Option<LineKey> {
        let payer = match &self.payer {
            Payer::Free => return None,
            Payer::Enterprise => LinePayer::Enterprise,
            Payer::Cloud { platform, cloud_account_id } => {
                LinePayer::Cloud { platform: *platform, cloud_account_id: cloud_account_id.clone() }
            }
        };
        Some(LineKey {
            billing_account: self.billing_account.clone()?.to_lowercase(),
            month: month_of(self.record.hour),
            workspace_id: self.record.workspace_id.clone(),
            item: self.record.item.id.to_string(),
            payer,
        })
    }

    /// What it charges to the billing account's balance: exact, enterprise usage only.
    pub fn charge(&self) -> Option<(String, Currency, Amount)> {
        match self.payer {
            Payer::Enterprise => Some((
                self.billing_account.clone()?.to_lowercase(),
                self.currency(),
                crate::billing_items::cost(self.record.item.id, self.record.quantity, self.currency()),
            )),
            _ => None,
        }
    }

    /// The billing account's month this record's line belongs to; `None` for free usage.
    pub fn month(&self) -> Option<MonthKey> {
        self.line().map(|l| MonthKey { billing_account: l.billing_account, month: l.month })
    }
}

/// A billing account's month: what its bill is issued for (flow 11).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MonthKey {
    pub billing_account: String,
    pub month: String,
}

/// What a commit adds to a month: it has a bill to issue, and its enterprise charges accrued
/// exactly, per currency (what issuing settles against the issued total).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthDelta {
    pub key: MonthKey,
    pub accrued: BTreeMap<Currency, Amount>,
}

/// Who a bill line is paid by. Usage a marketplace could not take falls back to enterprise
/// on a line of its own that says why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinePayer {
    Enterprise,
    Cloud { platform: Platform, cloud_account_id: String },
    FellBack { platform: Platform, cloud_account_id: String, reason: String },
}

impl LinePayer {
    /// Its part of the line's key.
    pub fn key(&self) -> String {
        match self {
            LinePayer::Enterprise => "enterprise".into(),
            LinePayer::Cloud { cloud_account_id, .. } => format!("cloud#{cloud_account_id}"),
            LinePayer::FellBack { cloud_account_id, reason, .. } => format!("fallback#{cloud_account_id}#{reason}"),
        }
    }

    pub fn charged_to_enterprise(&self) -> bool {
        !matches!(self, LinePayer::Cloud { .. })
    }
}

/// One bill line: a billing account's month, workspace, item and payer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    pub billing_account: String,
    pub month: String,
    pub workspace_id: String,
    pub item: String,
    pub payer: LinePayer,
}

/// What a commit adds to one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDelta {
    pub key: LineKey,
    pub quantity: Amount,
    pub workspace_name: String,
    pub site: String,
}

/// What a commit adds to one balance's charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceDelta {
    pub billing_account: String,
    pub currency: Currency,
    pub charges: Amount,
}

/// Everything one atomic commit of usage writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCommit {
    pub records: Vec<Attributed>,
    pub lines: Vec<LineDelta>,
    pub balances: Vec<BalanceDelta>,
    /// Cloud accounts whose usage this adds: due for metering (flow 10).
    pub meters: Vec<(String, Platform)>,
    /// The months whose bills this adds to; the commit holds only while none is issued.
    pub months: Vec<MonthDelta>,
}

impl UsageCommit {
    pub fn of(records: Vec<Attributed>) -> UsageCommit {
        let mut lines: BTreeMap<LineKey, LineDelta> = BTreeMap::new();
        let mut balances: BTreeMap<(String, Currency), Amount> = BTreeMap::new();
        let mut months: BTreeMap<MonthKey, BTreeMap<Currency, Amount>> = BTreeMap::new();
        for r in &records {
            if let Some(m) = r.month() {
                let accrued = months.entry(m).or_default();
                if let Some((_, currency, amount)) = r.charge() {
                    *accrued.entry(currency).or_default() += amount;
                }
            }
            if let Some(key) = r.line() {
                let d = lines.entry(key.clone()).or_insert_with(|| LineDelta {
                    key,
                    quantity: Amount::ZERO,
                    workspace_name: r.workspace_name.clone(),
                    site: r.site.clone(),
                });
                d.quantity += r.record.quantity;
            }
            if let Some((account, currency, amount)) = r.charge() {
                *balances.entry((account, currency)).or_default() += amount;
            }
        }
        let meters: std::collections::BTreeSet<(String, Platform)> = lines
            .keys()
            .filter_map(|k| match &k.payer {
                LinePayer::Cloud { platform, cloud_account_id } => Some((cloud_account_id.clone(), *platform)),
                _ => None,
            })
            .collect();
        UsageCommit {
            records,
            meters: meters.into_iter().collect(),
            months: months.into_iter().map(|(key, accrued)| MonthDelta { key, accrued }).collect(),
            lines: lines.into_values().collect(),
            balances: balances
                .into_iter()
                .map(|((billing_account, currency), charges)| BalanceDelta { billing_account, currency, charges })
                .collect(),
        }
    }

    pub fn items(&self) -> usize {
        self.records.len() + self.lines.len() + self.balances.len() + self.meters.len() + self.months.len()
    }
}

/// The items one commit touches, beyond its records: each at most once per commit.
#[derive(Default)]
struct Touched {
    lines: HashSet<LineKey>,
    balances: HashSet<(String, Currency)>,
    meters: HashSet<String>,
    months: HashSet<MonthKey>,
}

impl Touched {
    fn len(&self) -> usize {
        self.lines.len() + self.balances.len() + self.meters.len() + self.months.len()
    }
}

/// Splits records into commits of at most `max_items` writes each (a record, plus each line,
/// balance, month and cloud account's metering mark the commit touches once). Records of one
/// billing account go together, so they share their balance, month and lines.
pub fn plan(mut records: Vec<Attributed>, max_items: usize) -> Vec<UsageCommit> {
    records.sort_by(|a, b| (&a.billing_account, a.line()).cmp(&(&b.billing_account, b.line())));
    let mut commits = Vec::new();
    let (mut chunk, mut touched) = (Vec::new(), Touched::default());
    for r in records {
        let line = r.line();
        let balance = r.charge().map(|(a, c, _)| (a, c));
        let month = r.month();
        let meter = match &r.payer {
            Payer::Cloud { cloud_account_id, .. } => Some(cloud_account_id.clone()),
            _ => None,
        };
        let extra = 1
            + usize::from(line.as_ref().is_some_and(|l| !touched.lines.contains(l)))
            + usize::from(balance.as_ref().is_some_and(|b| !touched.balances.contains(b)))
            + usize::from(month.as_ref().is_some_and(|m| !touched.months.contains(m)))
            + usize::from(meter.as_ref().is_some_and(|m| !touched.meters.contains(m)));
        if !chunk.is_empty() && chunk.len() + touched.len() + extra > max_items {
            commits.push(UsageCommit::of(std::mem::take(&mut chunk)));
            touched = Touched::default();
        }
        touched.lines.extend(line);
        touched.balances.extend(balance);
        touched.months.extend(month);
        touched.meters.extend(meter);
        chunk.push(r);
    }
    if !chunk.is_empty() {
        commits.push(UsageCommit::of(chunk));
    }
    commits
}

/// The amount of an enterprise line: quantity × list price, half-up to the cent. The one
/// place a line's amount is computed: bills, issued bills, statements and CSV all show it.
pub fn line_amount(quantity: Amount, item: &str, currency: Currency) -> Amount {
    to_cents(crate::billing_items::cost(item, quantity, currency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing_items;
    use crate::rules::usage::UsageRecord;
    use chrono::{DateTime, Utc};
    use std::str::FromStr;

    fn d(s: &str) -> Amount {
        Amount::from_str(s).unwrap()
    }

    fn rec(id: &str, ws: &str, item: &str, q: &str, payer: Payer, billing: &str) -> Attributed {
        let hour = DateTime::parse_from_rfc3339("2026-11-05T10:00:00Z").unwrap().with_timezone(&Utc);
        Attributed {
            record: UsageRecord {
                id: id.into(),
                workspace_id: ws.into(),
                item: billing_items::find(item).unwrap(),
                hour,
                quantity: d(q),
            },
            fingerprint: id.into(),
            site: "cn1".into(),
            workspace_name: ws.into(),
            billing_account: Some(billing.into()),
            payer,
        }
    }

    #[test]
    fn a_commit_sums_lines_and_charges_exactly_and_free_usage_adds_nothing() {
        let cloud = Payer::Cloud { platform: Platform::Aliyun, cloud_account_id: "aliyun-i".into() };
        let c = UsageCommit::of(vec![
            rec("1", "ws1", "log_events", "0.1", Payer::Enterprise, "Acme"),
            rec("2", "ws1", "log_events", "0.2", Payer::Enterprise, "acme"),
            rec("3", "ws1", "log_events", "5", cloud, "acme"),
            rec("4", "ws2", "log_events", "7", Payer::Free, "acme"),
        ]);
        assert_eq!(c.lines.len(), 2);
        assert_eq!(c.lines.iter().find(|l| l.key.payer == LinePayer::Enterprise).unwrap().quantity, d("0.3"));
        assert_eq!(
            c.balances,
            vec![BalanceDelta { billing_account: "acme".into(), currency: Currency::Cny, charges: d("0.36") }]
        );
        assert_eq!(c.meters, vec![("aliyun-i".to_string(), Platform::Aliyun)]);
        let month = MonthKey { billing_account: "acme".into(), month: "2026-11".into() };
        assert_eq!(
            c.months,
            vec![MonthDelta { key: month, accrued: BTreeMap::from([(Currency::Cny, d("0.36"))]) }],
            "one month (its cloud line counts too), accruing the enterprise charges only"
        );
        assert_eq!(c.items(), 4 + 2 + 1 + 1 + 1);
    }

    #[test]
    fn plans_commits_within_the_item_limit_and_loses_no_record() {
        let records: Vec<Attributed> = (0..1000)
            .map(|i| {
                rec(
                    &i.to_string(),
                    &format!("ws{}", i % 100),
                    billing_items::ITEMS[i % 10].id,
                    "1",
                    Payer::Enterprise,
                    &format!("b{}", i % 7),
                )
            })
            .collect();
        let commits = plan(records, 100);
        assert!(commits.iter().all(|c| c.items() <= 100));
        assert_eq!(commits.iter().map(|c| c.records.len()).sum::<usize>(), 1000);
        let total: Amount = commits.iter().flat_map(|c| c.lines.iter()).map(|l| l.quantity).sum();
        assert_eq!(total, d("1000"));
        // A site's hour: every record its own line (100 workspaces × 10 items), one balance.
        let hour: Vec<Attributed> = (0..1000)
            .map(|i| {
                rec(
                    &i.to_string(),
                    &format!("ws{}", i / 10),
                    billing_items::ITEMS[i % 10].id,
                    "1",
                    Payer::Enterprise,
                    "acme",
                )
            })
            .collect();
        let commits = plan(hour, 100);
        assert!(
            commits.iter().all(|c| c.items() <= 100),
            "{:?}",
            commits.iter().map(|c| c.items()).collect::<Vec<_>>()
        );
        assert_eq!(commits.len(), 21, "49 records, their 49 lines, the balance and the month each");
    }
}
