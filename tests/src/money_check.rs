//! The money invariant that `make reliability` checks (issue 20), read from a scan of the table:
//! - every issued month has its issued bill, its statement, and one settlement entry per
//!   currency whose figures are the bill's total and the month's accrual as it stood;
//! - an issued bill's total is the sum of its lines' amounts, and the month's enterprise lines in
//!   the table still come to what was issued (nothing landed on an issued month);
//! - every balance's charges are its months' accruals plus its settlement entries: for every
//!   closed month, what the balance was charged is the issued total, to the cent;
//! - no issued bill changed since a check first saw it (`.local/run/issued-bills-<table>.json`).

use aws_sdk_dynamodb::types::AttributeValue;
use billing_domain::money::Currency;
use billing_domain::rules::bill::{bill, StoredLine};
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

type Item = HashMap<String, AttributeValue>;

fn text(i: &Item, k: &str) -> String {
    i.get(k).and_then(|v| v.as_s().ok().or_else(|| v.as_n().ok())).cloned().unwrap_or_default()
}

fn dec(v: &str) -> Decimal {
    Decimal::from_str(v).unwrap_or_default()
}

/// An issued bill's JSON as answered: inline, or its parts joined.
fn issued_json(header: &Item, items: &[Item]) -> String {
    let nonce = text(header, "nonce");
    if nonce.is_empty() {
        return text(header, "json");
    }
    let prefix = format!("ISSUED#{nonce}#json#");
    let mut parts: Vec<&Item> =
        items.iter().filter(|i| text(i, "pk") == text(header, "pk") && text(i, "sk").starts_with(&prefix)).collect();
    parts.sort_by_key(|i| text(i, "sk"));
    parts.iter().map(|i| text(i, "text")).collect()
}

fn enterprise_totals(bill: &Value) -> BTreeMap<String, Decimal> {
    bill["totals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["payer"]["method"] == "enterprise")
        .map(|t| (t["currency"].as_str().unwrap_or_default().to_string(), dec(t["amount"].as_str().unwrap_or("0"))))
        .collect()
}

fn stored_line(i: &Item) -> Option<StoredLine> {
    Some(StoredLine {
        workspace_id: text(i, "workspace_id"),
        workspace_name: text(i, "workspace_name"),
        site: text(i, "site"),
        item: text(i, "item"),
        payer: serde_dynamo::from_attribute_value(i.get("payer")?.clone()).ok()?,
        quantity: dec(&text(i, "quantity")),
        reported: dec(&text(i, "reported")),
        fell_back: dec(&text(i, "fell_back")),
    })
}

/// Checks the invariant; returns how many issued months it checked.
pub fn check(items: &[Item], violations: &mut Vec<String>) -> usize {
    let months: Vec<&Item> = items.iter().filter(|i| text(i, "sk") == "MONTH").collect();
    let headers: HashMap<String, &Item> =
        items.iter().filter(|i| text(i, "sk") == "ISSUED").map(|i| (text(i, "pk"), i)).collect();
    let settles: HashMap<(String, String, String), &Item> = items
        .iter()
        .filter(|i| text(i, "sk").starts_with("SETTLE#"))
        .map(|i| ((text(i, "pk").trim_start_matches("BILLING#").to_string(), text(i, "month"), text(i, "currency")), i))
        .collect();
    let mails: std::collections::HashSet<String> =
        items.iter().filter(|i| text(i, "sk") == "MAIL").map(|i| text(i, "id")).collect();
    // What each balance should have been charged: accruals plus settlement entries.
    let mut expected: HashMap<(String, String), Decimal> = HashMap::new();
    let mut issued_months = 0;
    for m in &months {
        let (account, month, pk) = (text(m, "billing_account"), text(m, "month"), text(m, "pk"));
        for c in Currency::ALL {
            *expected.entry((account.clone(), c.code().to_string())).or_default() +=
                dec(&text(m, &format!("accrued_{}", c.code())));
        }
        if text(m, "issued_at").is_empty() {
            continue;
        }
        issued_months += 1;
        let Some(header) = headers.get(&pk) else {
            violations.push(format!("{pk}: issued without its bill"));
            continue;
        };
        let json = issued_json(header, items);
        let Ok(issued) = serde_json::from_str::<Value>(&json) else {
            violations.push(format!("{pk}: the issued bill does not read"));
            continue;
        };
        let totals = enterprise_totals(&issued);
        let line_sum: Decimal =
            issued["lines"].as_array().into_iter().flatten().filter_map(|l| l["amount"].as_str()).map(dec).sum();
        if totals.values().copied().sum::<Decimal>() != line_sum {
            violations.push(format!("{pk}: issued totals {totals:?}, lines {line_sum}"));
        }
        let lines: Vec<StoredLine> = items
            .iter()
            .filter(|i| text(i, "pk") == pk && text(i, "sk").starts_with("L#"))
            .filter_map(stored_line)
            .collect();
        let now = enterprise_totals(&serde_json::to_value(bill(&month, &account, lines, true)).unwrap());
        if now != totals {
            violations.push(format!("{pk}: issued {totals:?}, its lines now come to {now:?}"));
        }
        for c in Currency::ALL {
            let accrued = dec(&text(m, &format!("accrued_{}", c.code())));
            let total = totals.get(c.code()).copied().unwrap_or_default();
            match settles.get(&(account.clone(), month.clone(), c.code().to_string())) {
                Some(s) => {
                    let (a, i, adj) = (dec(&text(s, "accrued")), dec(&text(s, "issued")), dec(&text(s, "adjustment")));
                    if a != accrued || i != total || adj != i - a {
                        violations.push(format!(
                            "{pk} {}: entry accrued {a} issued {i} adjustment {adj}; month accrued {accrued}, bill {total}",
                            c.code()
                        ));
                    }
                    *expected.entry((account.clone(), c.code().to_string())).or_default() += adj;
                }
                None if !accrued.is_zero() || !total.is_zero() => {
                    violations.push(format!("{pk} {}: issued with no settlement entry", c.code()))
                }
                None => {}
            }
        }
        let statement = billing_domain::rules::issuing::statement_id(&account, &month);
        if !mails.contains(&statement) {
            violations.push(format!("{pk}: no statement {statement}"));
        }
    }
    for b in items.iter().filter(|i| text(i, "sk").starts_with("BALANCE#")) {
        let account = text(b, "pk").trim_start_matches("BILLING#").to_string();
        let currency = text(b, "sk").trim_start_matches("BALANCE#").to_string();
        let want = expected.get(&(account.clone(), currency.clone())).copied().unwrap_or_default();
        let charges = dec(&text(b, "charges"));
        if charges != want {
            violations
                .push(format!("balance {account} {currency}: charges {charges}, months accrued and settled {want}"));
        }
    }
    issued_months
}

/// Every issued bill as answered now, by its key: what must never change.
pub fn issued_bills(items: &[Item]) -> BTreeMap<String, String> {
    items
        .iter()
        .filter(|i| text(i, "sk") == "ISSUED")
        .map(|h| (text(h, "pk"), format!("{}|{}", text(h, "issued_at"), issued_json(h, items))))
        .collect()
}

/// Compares the issued bills with those recorded by earlier checks, then records them all.
pub fn unchanged(items: &[Item], violations: &mut Vec<String>) {
    let path = format!(".local/run/issued-bills-{}.json", std::env::var("TABLE_NAME").unwrap_or_default());
    let before: BTreeMap<String, String> =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let now = issued_bills(items);
    for (k, v) in &before {
        match now.get(k) {
            Some(n) if n == v => {}
            Some(_) => violations.push(format!("issued bill {k} changed")),
            None => violations.push(format!("issued bill {k} is gone")),
        }
    }
    std::fs::write(&path, serde_json::to_string(&now).unwrap()).unwrap();
}
