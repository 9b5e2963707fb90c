//! Rating (flow 11), as pure decisions: what attributed usage adds to bill lines and
//! balances, how it is split into atomic commits, and how a month's lines become a bill.

use super::usage::{month_of, Payer, UsageRecord};
use crate::model::Platform;
use crate::money::{to_cents, Amount, Currency};
use chrono::{DateTime, Utc};
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
                self.record.quantity * self.record.item.price(self.currency()),
            )),
            _ => None,
        }
    }
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
}

impl UsageCommit {
    pub fn of(records: Vec<Attributed>) -> UsageCommit {
        let mut lines: BTreeMap<LineKey, LineDelta> = BTreeMap::new();
        let mut balances: BTreeMap<(String, Currency), Amount> = BTreeMap::new();
        for r in &records {
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
            lines: lines.into_values().collect(),
            balances: balances
                .into_iter()
                .map(|((billing_account, currency), charges)| BalanceDelta { billing_account, currency, charges })
                .collect(),
        }
    }

    pub fn items(&self) -> usize {
        self.records.len() + self.lines.len() + self.balances.len() + self.meters.len()
    }
}

/// Splits records into commits of at most `max_items` writes each (a record, plus each line,
/// balance and cloud account's metering mark the commit touches once). Records of one billing
/// account go together, so they share their balance and lines.
pub fn plan(mut records: Vec<Attributed>, max_items: usize) -> Vec<UsageCommit> {
    records.sort_by(|a, b| (&a.billing_account, a.line()).cmp(&(&b.billing_account, b.line())));
    let mut commits = Vec::new();
    let (mut chunk, mut lines, mut balances, mut meters) = (Vec::new(), HashSet::new(), HashSet::new(), HashSet::new());
    for r in records {
        let line = r.line();
        let balance = r.charge().map(|(a, c, _)| (a, c));
        let meter = match &r.payer {
            Payer::Cloud { cloud_account_id, .. } => Some(cloud_account_id.clone()),
            _ => None,
        };
        let extra = 1
            + usize::from(line.as_ref().is_some_and(|l| !lines.contains(l)))
            + usize::from(balance.as_ref().is_some_and(|b| !balances.contains(b)))
            + usize::from(meter.as_ref().is_some_and(|m| !meters.contains(m)));
        if !chunk.is_empty() && chunk.len() + lines.len() + balances.len() + meters.len() + extra > max_items {
            commits.push(UsageCommit::of(std::mem::take(&mut chunk)));
            lines.clear();
            balances.clear();
            meters.clear();
        }
        lines.extend(line);
        balances.extend(balance);
        meters.extend(meter);
        chunk.push(r);
    }
    if !chunk.is_empty() {
        commits.push(UsageCommit::of(chunk));
    }
    commits
}

/// A line as stored: what usage added up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    pub workspace_id: String,
    pub workspace_name: String,
    pub site: String,
    pub item: String,
    pub payer: LinePayer,
    pub quantity: Amount,
    /// Cloud lines: how much of it the marketplace has confirmed (see flow 10).
    pub reported: Amount,
    /// Cloud lines: how much of it the marketplace could not take (now on a fallback line).
    pub fell_back: Amount,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PayerView {
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_account_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BillLine {
    pub workspace_id: String,
    pub workspace_name: String,
    pub site: String,
    pub item: String,
    pub quantity: String,
    pub unit: &'static str,
    pub payer: PayerView,
    pub amount: Option<String>,
    pub currency: Option<Currency>,
    pub report: Option<ReportView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub payer: PayerView,
    pub currency: Option<Currency>,
    pub amount: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bill {
    pub month: String,
    pub billing_account: String,
    pub lines: Vec<BillLine>,
    pub totals: Vec<Total>,
    pub closed: bool,
}

fn platform_method(p: Platform) -> &'static str {
    match p {
        Platform::Aliyun => "aliyun",
        Platform::Aws => "aws",
        Platform::Huawei => "huawei",
    }
}

/// The amount of an enterprise line: quantity × list price, half-up to the cent.
pub fn line_amount(quantity: Amount, item: &str, currency: Currency) -> Amount {
    to_cents(crate::billing_items::cost(item, quantity, currency))
}

/// A month's bill from its lines (flow 11). Enterprise lines (and usage that fell back to
/// enterprise, with its reason) carry their amount; cloud lines their report status.
pub fn bill(month: &str, billing_account: &str, mut stored: Vec<StoredLine>, closed: bool) -> Bill {
    stored.sort_by(|a, b| {
        (&a.workspace_name, &a.workspace_id, &a.item, &a.payer).cmp(&(
            &b.workspace_name,
            &b.workspace_id,
            &b.item,
            &b.payer,
        ))
    });
    let mut enterprise: BTreeMap<Currency, Amount> = BTreeMap::new();
    let mut clouds: BTreeMap<String, Platform> = BTreeMap::new();
    let lines = stored
        .into_iter()
        .map(|mut l| {
            // What fell back is billed on its own enterprise line, not here.
            l.quantity -= l.fell_back;
            l
        })
        .filter(|l| !l.quantity.is_zero())
        .map(|l| {
            let currency = Currency::of_site(&l.site);
            let unit = crate::billing_items::find(&l.item).map(|i| i.unit).unwrap_or_default();
            let (payer, amount, report) = match &l.payer {
                LinePayer::Enterprise | LinePayer::FellBack { .. } => {
                    let amount = line_amount(l.quantity, &l.item, currency);
                    *enterprise.entry(currency).or_default() += amount;
                    let report = match &l.payer {
                        LinePayer::FellBack { reason, .. } => {
                            Some(ReportView { status: "fell_back", reason: Some(reason.clone()) })
                        }
                        _ => None,
                    };
                    (PayerView { method: "enterprise", cloud_account_id: None }, Some(amount), report)
                }
                LinePayer::Cloud { platform, cloud_account_id } => {
                    clouds.insert(cloud_account_id.clone(), *platform);
                    let status = if l.reported >= l.quantity { "reported" } else { "pending" };
                    let payer = PayerView {
                        method: platform_method(*platform),
                        cloud_account_id: Some(cloud_account_id.clone()),
                    };
                    (payer, None, Some(ReportView { status, reason: None }))
                }
            };
            BillLine {
                workspace_id: l.workspace_id,
                workspace_name: l.workspace_name,
                site: l.site,
                item: l.item,
                quantity: l.quantity.normalize().to_string(),
                unit,
                payer,
                amount: amount.map(|a| format!("{a:.2}")),
                currency: amount.map(|_| currency),
                report,
            }
        })
        .collect();
    let mut totals: Vec<Total> = enterprise
        .into_iter()
        .map(|(c, a)| Total {
            payer: PayerView { method: "enterprise", cloud_account_id: None },
            currency: Some(c),
            amount: Some(format!("{a:.2}")),
        })
        .collect();
    totals.extend(clouds.into_iter().map(|(id, p)| Total {
        payer: PayerView { method: platform_method(p), cloud_account_id: Some(id) },
        currency: None,
        amount: None,
    }));
    Bill { month: month.to_string(), billing_account: billing_account.to_string(), lines, totals, closed }
}

/// A balance per currency (flow 11).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Balance {
    pub top_ups: Amount,
    pub charges: Amount,
    /// Whether the arrears email of the current episode has been written.
    pub notified: bool,
    /// How many times the balance has gone into arrears (names each arrears email).
    pub episode: u64,
}

impl Balance {
    pub fn value(&self) -> Amount {
        self.top_ups - self.charges
    }

    pub fn in_arrears(&self) -> bool {
        self.value().is_sign_negative() && !self.value().is_zero()
    }
}

/// What the arrears rule asks of a balance as it now stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrears {
    /// Fell below zero for the first time since it was last at zero or above: one email.
    Notify {
        episode: u64,
    },
    /// Back at zero or above after an email: the next fall gets a new one.
    Rearm,
    Nothing,
}

pub fn arrears(b: &Balance) -> Arrears {
    match (b.in_arrears(), b.notified) {
        (true, false) => Arrears::Notify { episode: b.episode + 1 },
        (false, true) => Arrears::Rearm,
        _ => Arrears::Nothing,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BalanceView {
    pub currency: Currency,
    pub top_ups: String,
    pub charges: String,
    pub balance: String,
}

impl BalanceView {
    /// Charges accrue exactly, hour by hour; they are shown to the cent.
    pub fn of(currency: Currency, b: &Balance) -> Self {
        let charges = to_cents(b.charges);
        BalanceView {
            currency,
            top_ups: format!("{:.2}", b.top_ups),
            charges: format!("{charges:.2}"),
            balance: format!("{:.2}", b.top_ups - charges),
        }
    }
}

/// When a month's bill is final.
pub fn bill_closed(month_start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= super::usage::closes_at(month_start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing_items;
    use crate::rules::usage::UsageRecord;
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
        assert_eq!(c.items(), 4 + 2 + 1 + 1);
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
        assert_eq!(commits.len(), 21, "49 records, their 49 lines and the balance each");
    }

    fn line(item: &str, q: &str, payer: LinePayer, site: &str) -> StoredLine {
        StoredLine {
            workspace_id: "ws1".into(),
            workspace_name: "prod".into(),
            site: site.into(),
            item: item.into(),
            payer,
            quantity: d(q),
            reported: Amount::ZERO,
            fell_back: Amount::ZERO,
        }
    }

    #[test]
    fn a_bill_rounds_each_enterprise_line_half_up_and_totals_per_payer_and_currency() {
        let cloud = LinePayer::Cloud { platform: Platform::Aws, cloud_account_id: "aws-1".into() };
        let fell = LinePayer::FellBack {
            platform: Platform::Aws,
            cloud_account_id: "aws-1".into(),
            reason: "customer_not_subscribed".into(),
        };
        let b = bill(
            "2026-11",
            "acme",
            vec![
                line("log_events", "0.004167", LinePayer::Enterprise, "cn1"), // 0.0050004 → 0.01
                line("time_series", "1.0125", LinePayer::Enterprise, "cn1"),  // 0.6075 → 0.61
                line("time_series", "3", cloud, "us1"),
                line("time_series", "2", fell, "us1"), // 0.18
            ],
            false,
        );
        let amounts: Vec<Option<String>> = b.lines.iter().map(|l| l.amount.clone()).collect();
        assert_eq!(amounts, vec![Some("0.01".into()), Some("0.61".into()), None, Some("0.18".into())]);
        assert_eq!(
            b.lines[3].report.as_ref().map(|r| (r.status, r.reason.clone())),
            Some(("fell_back", Some("customer_not_subscribed".into())))
        );
        assert_eq!(b.lines[2].report.as_ref().map(|r| r.status), Some("pending"));
        let totals: Vec<(Option<Currency>, Option<String>)> =
            b.totals.iter().map(|t| (t.currency, t.amount.clone())).collect();
        assert_eq!(
            totals,
            vec![(Some(Currency::Cny), Some("0.62".into())), (Some(Currency::Usd), Some("0.18".into())), (None, None)]
        );
    }

    #[test]
    fn arrears_notify_once_per_fall_below_zero() {
        let mut b = Balance { top_ups: d("10"), charges: d("9.99"), ..Balance::default() };
        assert_eq!(arrears(&b), Arrears::Nothing);
        b.charges = d("10.01");
        assert_eq!(arrears(&b), Arrears::Notify { episode: 1 });
        b.notified = true;
        b.episode = 1;
        b.charges = d("50");
        assert_eq!(arrears(&b), Arrears::Nothing, "further charges: no second email");
        b.top_ups = d("50");
        assert_eq!(arrears(&b), Arrears::Rearm, "back at zero");
        b.notified = false;
        b.charges = d("50.5");
        assert_eq!(arrears(&b), Arrears::Notify { episode: 2 });
        assert_eq!(
            BalanceView::of(Currency::Cny, &Balance { top_ups: d("1"), charges: d("0.3333"), ..Balance::default() })
                .balance,
            "0.67"
        );
    }
}
