//! Issuing bills (出账, flow 11), as pure decisions: which months are closed, the bill as issued
//! (its JSON and CSV fixed for good), and how the balance is settled against it.
//!
//! Enterprise charges accrue on the balance exactly, hour by hour, while the bill rounds each
//! line to the cent. At issue the difference (issued total − exact accrual of the month, per
//! currency) is charged as an explicit entry, so that afterwards the balance's charges for the
//! month are the issued total, to the cent.

use super::bill::{csv, Bill, BillStatus};
use super::usage::{closes_at, month_of, month_start, next_month_start, parse_month};
use crate::model::Language;
use crate::money::{Amount, Currency};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// Bills of months before this one (`YYYY-MM`) are due: their months have closed at `now`.
pub fn first_open_month(now: DateTime<Utc>) -> String {
    let previous = month_start(month_start(now) - Duration::days(1));
    if now >= closes_at(previous) {
        month_of(now)
    } else {
        month_of(previous)
    }
}

/// Whether the month named `month` (`YYYY-MM`) has closed at `now`.
pub fn is_month_closed(month: &str, now: DateTime<Utc>) -> bool {
    parse_month(month).is_some_and(|m| now >= next_month_start(m) + super::usage::CLOSE_AFTER)
}

/// A bill as issued: the same document, closed and stamped, rendered once. What is stored is
/// what is answered, byte for byte, forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedBill {
    pub issued_at: DateTime<Utc>,
    pub json: String,
    pub csv: String,
}

pub fn issue(mut bill: Bill, at: DateTime<Utc>) -> IssuedBill {
    bill.closed = true;
    bill.status = BillStatus::Issued;
    bill.issued_at = Some(at);
    let json = serde_json::to_string(&bill).expect("a bill serialises");
    IssuedBill { issued_at: at, csv: csv(&bill), json }
}

/// One currency's settlement at issue: the explicit balance entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settling {
    pub currency: Currency,
    /// The month's enterprise charges as they accrued, exactly.
    pub accrued: Amount,
    /// The issued enterprise total.
    pub issued: Amount,
    /// Charged to the balance with the issue: `issued − accrued` (negative: a credit).
    pub adjustment: Amount,
}

/// Per currency that accrued or is billed: what the balance is charged at issue.
pub fn settle(enterprise_totals: &BTreeMap<Currency, Amount>, accrued: &BTreeMap<Currency, Amount>) -> Vec<Settling> {
    let currencies: BTreeSet<Currency> = enterprise_totals.keys().chain(accrued.keys()).copied().collect();
    currencies
        .into_iter()
        .map(|currency| {
            let issued = enterprise_totals.get(&currency).copied().unwrap_or_default();
            let accrued = accrued.get(&currency).copied().unwrap_or_default();
            Settling { currency, accrued, issued, adjustment: issued - accrued }
        })
        .collect()
}

/// The statement's language: the one most of the account's workspaces use, Chinese on a tie
/// (the rule of the cancellation email, the other email written to a billing account).
pub fn statement_language(languages: impl IntoIterator<Item = Language>) -> Language {
    let (mut english, mut total) = (0usize, 0usize);
    for l in languages {
        total += 1;
        english += usize::from(l == Language::En);
    }
    if english * 2 > total {
        Language::En
    } else {
        Language::Zh
    }
}

/// The id of a month's statement email: fixed by account and month, so it is written once.
pub fn statement_id(billing_account: &str, month: &str) -> String {
    format!("statement-{}-{month}", billing_account.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::bill::{bill, StoredLine};
    use crate::rules::rating::LinePayer;
    use std::str::FromStr;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn d(s: &str) -> Amount {
        Amount::from_str(s).unwrap()
    }

    #[test]
    fn a_month_is_due_48_hours_after_it_ends() {
        assert_eq!(first_open_month(t("2026-12-02T23:59:59Z")), "2026-11");
        assert_eq!(first_open_month(t("2026-12-03T00:00:00Z")), "2026-12");
        assert_eq!(first_open_month(t("2027-01-02T12:00:00Z")), "2026-12");
        assert_eq!(first_open_month(t("2027-01-03T00:00:00Z")), "2027-01");
        assert!(!is_month_closed("2026-11", t("2026-12-02T23:59:59Z")));
        assert!(is_month_closed("2026-11", t("2026-12-03T00:00:00Z")));
        assert!(!is_month_closed("nonsense", t("2030-01-01T00:00:00Z")));
    }

    #[test]
    fn the_balance_is_settled_to_the_issued_total_per_currency() {
        let accrued = BTreeMap::from([(Currency::Cny, d("86419786.184")), (Currency::Usd, d("0.004"))]);
        let totals = BTreeMap::from([(Currency::Cny, d("86419786.21"))]);
        let s = settle(&totals, &accrued);
        assert_eq!(
            s.iter().map(|x| (x.currency, x.adjustment)).collect::<Vec<_>>(),
            vec![(Currency::Cny, d("0.026")), (Currency::Usd, d("-0.004"))]
        );
        for x in &s {
            assert_eq!(x.accrued + x.adjustment, x.issued, "charges for the month end at the issued total");
        }
    }

    #[test]
    fn an_issued_bill_is_closed_stamped_and_rendered_once() {
        let line = StoredLine {
            workspace_id: "ws1".into(),
            workspace_name: "prod".into(),
            site: "us1".into(),
            item: "time_series".into(),
            payer: LinePayer::Enterprise,
            quantity: d("10"),
            reported: Amount::ZERO,
            fell_back: Amount::ZERO,
        };
        let at = t("2026-12-03T01:00:00Z");
        let issued = issue(bill("2026-11", "acme", vec![line], false), at);
        let v: serde_json::Value = serde_json::from_str(&issued.json).unwrap();
        assert_eq!((v["status"].as_str(), v["closed"].as_bool()), (Some("issued"), Some(true)));
        assert_eq!(v["issued_at"], "2026-12-03T01:00:00Z");
        assert_eq!(v["totals"][0]["amount"], "0.90");
        assert!(issued.csv.ends_with("2026-11,acme,total,,,,,,,enterprise,,USD,0.90,,\r\n"));
    }

    #[test]
    fn the_statement_speaks_the_language_of_most_workspaces() {
        use Language::{En, Zh};
        assert_eq!(statement_language([En, En, Zh]), En);
        assert_eq!(statement_language([En, Zh]), Zh, "a tie: Chinese");
        assert_eq!(statement_language([]), Zh);
        assert_eq!(statement_id("Acme", "2026-11"), "statement-acme-2026-11");
    }
}
