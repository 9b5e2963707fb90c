//! Months and issued bills (flow 11); keys in `keys.rs`.
//!
//! - A billing account's month: its enterprise charges as they accrued, exactly (`accrued_CNY`,
//!   `accrued_USD`), and a `version` bumped by every usage commit and fallback that adds to the
//!   month, each conditioned on the month not being issued. Listed in gsi1 from its first line
//!   until its issue, which stamps `issued_at` and takes it off the list: issuing finds its work
//!   without a Scan.
//! - The issued bill: its JSON and CSV exactly as answered; a bill too large for one item keeps
//!   them in parts, written before the issue and named by it (a run that died leaves parts no
//!   issue names).
//! - The settlement of an issue: the balance entry (accrued, issued, adjustment), written with
//!   the adjustment to the balance and the issue itself.

use super::lines::stored_line;
use super::outbox::email_item;
use super::tx::{Cond, Tx};
use super::{dec, key, keys, n, num_attr, s, sdk_error, str_attr, DynamoStore, Item};
use async_trait::async_trait;
use billing_domain::money::{Amount, Currency};
use billing_domain::ports::{BillStore, IssueWrite, MonthState};
use billing_domain::rules::bill::StoredLine;
use billing_domain::rules::issuing::IssuedBill;
use billing_domain::rules::rating::MonthKey;
use billing_domain::{Error, Result};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Issued text kept in the header item up to this size (DynamoDB items hold 400 KB).
const INLINE_MAX: usize = 300 * 1024;
/// The size of each part of a larger bill.
const PART: usize = 300 * 1024;

fn month_key(billing_account: &str, month: &str) -> Item {
    key(keys::bill(billing_account, month), keys::MONTH_SK)
}

fn issued_key(billing_account: &str, month: &str) -> Item {
    key(keys::bill(billing_account, month), keys::ISSUED_SK)
}

/// The attribute and value placeholder of a currency's accrual.
fn accrual_names(c: Currency) -> (&'static str, &'static str) {
    match c {
        Currency::Cny => ("accrued_CNY", ":acny"),
        Currency::Usd => ("accrued_USD", ":ausd"),
    }
}

/// `text` in parts of at most [`PART`] bytes, cut at character boundaries.
fn parts(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.len().min(PART);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out
}

impl DynamoStore {
    /// Adds to a month what a commit or a fallback charges (and lists the month as due),
    /// only while its bill is not issued.
    pub(crate) fn add_to_month(
        &self,
        tx: &mut Tx,
        billing_account: &str,
        month: &str,
        accrued: &BTreeMap<Currency, Amount>,
    ) -> Result<()> {
        let account = billing_account.to_lowercase();
        let mut update = "SET billing_account = :b, #m = :m, gsi1pk = :due, gsi1sk = :dk ADD #v :one".to_string();
        let mut values = vec![
            (":b", s(account.clone())),
            (":m", s(month)),
            (":due", s(keys::BILLS_DUE)),
            (":dk", s(keys::bills_due_sk(month, &account))),
            (":one", n(1)),
        ];
        for (c, a) in accrued {
            let (attr, placeholder) = accrual_names(*c);
            update.push_str(&format!(", {attr} {placeholder}"));
            values.push((placeholder, dec(*a)));
        }
        tx.update(
            self.table(),
            month_key(&account, month),
            &update,
            values,
            Cond::new("attribute_not_exists(issued_at)", Error::Conflict).name("#m", "month").name("#v", "version"),
        )
    }

    /// All items of a partition under `prefix`, read consistently.
    async fn query_consistent(&self, pk: &str, prefix: &str) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":sk", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return Ok(items),
            }
        }
    }

    /// The issued header: the text inline, or the names of its parts, written first.
    async fn issued_header(&self, w: &IssueWrite) -> Result<Item> {
        let (account, month) = (&w.month.billing_account, &w.month.month);
        let mut header = issued_key(account, month);
        header.insert("issued_at".into(), s(w.bill.issued_at.to_rfc3339()));
        if w.bill.json.len() + w.bill.csv.len() <= INLINE_MAX {
            header.insert("json".into(), s(w.bill.json.clone()));
            header.insert("csv".into(), s(w.bill.csv.clone()));
            return Ok(header);
        }
        let nonce = ulid::Ulid::new().to_string();
        for (kind, text) in [("json", &w.bill.json), ("csv", &w.bill.csv)] {
            let pieces = parts(text);
            for (i, piece) in pieces.iter().enumerate() {
                let mut part = key(keys::bill(account, month), &keys::issued_part_sk(&nonce, kind, i));
                part.insert("text".into(), s(*piece));
                self.client()
                    .put_item()
                    .table_name(self.table())
                    .set_item(Some(part))
                    .send()
                    .await
                    .map_err(sdk_error)?;
            }
            header.insert(format!("{kind}_parts"), n(pieces.len()));
        }
        header.insert("nonce".into(), s(nonce));
        Ok(header)
    }
}

#[async_trait]
impl BillStore for DynamoStore {
    async fn due_months(
        &self,
        before: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<MonthKey>, Option<String>)> {
        let start = after.and_then(|sk| {
            let (month, account) = keys::parse_bills_due_sk(&sk)?;
            let mut k = month_key(account, month);
            k.insert("gsi1pk".into(), s(keys::BILLS_DUE));
            k.insert("gsi1sk".into(), s(sk.clone()));
            Some(k)
        });
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND gsi1sk < :before")
            .expression_attribute_values(":pk", s(keys::BILLS_DUE))
            .expression_attribute_values(":before", s(before))
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_error)?;
        let months = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                Some(MonthKey { billing_account: str_attr(i, "billing_account")?, month: str_attr(i, "month")? })
            })
            .collect();
        Ok((months, out.last_evaluated_key.and_then(|k| str_attr(&k, "gsi1sk"))))
    }

    async fn month_state(&self, m: &MonthKey) -> Result<MonthState> {
        let pk = keys::bill(&m.billing_account, &m.month);
        let Some(item) = self.get(&pk, keys::MONTH_SK).await? else {
            return Ok(MonthState::default());
        };
        let accrued = Currency::ALL
            .into_iter()
            .filter(|c| item.contains_key(accrual_names(*c).0))
            .map(|c| (c, num_attr(&item, accrual_names(c).0)))
            .collect();
        let issued_at = str_attr(&item, "issued_at")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc));
        Ok(MonthState { accrued, version: num_attr(&item, "version").try_into().unwrap_or(0), issued_at })
    }

    async fn month_lines(&self, m: &MonthKey) -> Result<Vec<StoredLine>> {
        let items = self.query_consistent(&keys::bill(&m.billing_account, &m.month), keys::LINES).await?;
        items.into_iter().map(stored_line).collect()
    }

    async fn commit_issue(&self, w: &IssueWrite, now: DateTime<Utc>) -> Result<bool> {
        let (account, month) = (&w.month.billing_account, &w.month.month);
        let mut tx = Tx::default();
        tx.update(
            self.table(),
            month_key(account, month),
            "SET issued_at = :at REMOVE gsi1pk, gsi1sk",
            vec![(":at", s(w.bill.issued_at.to_rfc3339()))],
            Cond::new("attribute_exists(pk) AND attribute_not_exists(issued_at) AND #v = :seen", Error::Conflict)
                .name("#v", "version")
                .value(":seen", n(w.seen_version)),
        )?;
        tx.put(self.table(), self.issued_header(w).await?, Some(Cond::not_exists(Error::Conflict)))?;
        for st in &w.settling {
            let mut entry = key(keys::billing(account), &keys::settle_sk(month, st.currency));
            entry.extend([
                ("month".to_string(), s(month)),
                ("currency".to_string(), s(st.currency.code())),
                ("accrued".to_string(), dec(st.accrued)),
                ("issued".to_string(), dec(st.issued)),
                ("adjustment".to_string(), dec(st.adjustment)),
                ("at".to_string(), s(now.to_rfc3339())),
            ]);
            tx.put(self.table(), entry, Some(Cond::not_exists(Error::Conflict)))?;
            if !st.adjustment.is_zero() {
                self.add_to_balance(&mut tx, account, st.currency, "charges", st.adjustment)?;
            }
        }
        tx.put(self.table(), email_item(&w.statement, now, true)?, Some(Cond::not_exists(Error::Conflict)))?;
        match self.commit(tx).await {
            Ok(()) => Ok(true),
            Err(Error::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn issued_bill(&self, billing_account: &str, month: &str) -> Result<Option<IssuedBill>> {
        let pk = keys::bill(billing_account, month);
        let Some(header) = self.get(&pk, keys::ISSUED_SK).await? else {
            return Ok(None);
        };
        let issued_at = str_attr(&header, "issued_at")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| Error::internal("issued bill without its time"))?;
        let (json, csv) = match str_attr(&header, "nonce") {
            None => (str_attr(&header, "json").unwrap_or_default(), str_attr(&header, "csv").unwrap_or_default()),
            Some(nonce) => {
                let mut found = self.query_consistent(&pk, &keys::issued_parts(&nonce)).await?;
                found.sort_by_key(|i| str_attr(i, "sk"));
                let text = |kind: &str| -> Result<String> {
                    let prefix = keys::issued_parts_of(&nonce, kind);
                    let pieces: Vec<String> = found
                        .iter()
                        .filter(|i| str_attr(i, "sk").is_some_and(|sk| sk.starts_with(&prefix)))
                        .filter_map(|i| str_attr(i, "text"))
                        .collect();
                    // Parts are written before the header that counts them: all are there.
                    if pieces.len() as u64 != num_attr(&header, &format!("{kind}_parts")).try_into().unwrap_or(0u64) {
                        return Err(Error::internal("an issued bill's parts are missing"));
                    }
                    Ok(pieces.concat())
                };
                (text("json")?, text("csv")?)
            }
        };
        Ok(Some(IssuedBill { issued_at, json, csv }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_texts_split_at_character_boundaries_and_join_back() {
        let text = "账单,".repeat(200_000); // 800 KB of three- and one-byte characters
        let pieces = parts(&text);
        assert!(pieces.len() >= 3 && pieces.iter().all(|p| p.len() <= PART));
        assert_eq!(pieces.concat(), text);
        assert!(parts("").is_empty());
    }
}
