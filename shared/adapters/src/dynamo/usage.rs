//! Usage records, balances and top-ups (flows 8, 9 and 11); keys in `keys.rs`.
//!
//! - A usage record: one per record a site reported (the dedupe guard, with its fingerprint and
//!   payer).
//! - A commit adds to its bill lines (`lines.rs`) and to its months (`bills.rs`), the month
//!   only while it is not issued.
//! - A balance: top-ups, exact charges, the arrears flag.
//! - A top-up: one per bank transfer reference.

use super::lines::{due_update, stored_line};
use super::outbox::email_item;
use super::tx::{Cond, Tx};
use super::{dec, from_item, key, keys, n, num_attr, s, sdk_error, str_attr, DynamoStore, Item};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use billing_domain::email::EmailIntent;
use billing_domain::money::{Amount, Currency};
use billing_domain::ports::{TopUp, TopUpOutcome, UsageOutcome, UsageStore};
use billing_domain::rules::balance::Balance;
use billing_domain::rules::bill::StoredLine;
use billing_domain::rules::rating::UsageCommit;
use billing_domain::{Error, Result};
use chrono::{DateTime, Utc};

/// Records are kept this long as the guard against a record counted twice.
const KEEP_RECORDS_DAYS: i64 = 400;
/// A commit of usage can meet many concurrent ones on a hot line or balance: it keeps trying
/// longer than a request that a person waits for.
const USAGE_ATTEMPTS: u32 = 25;

fn record_key(site: &str, id: &str) -> Item {
    key(keys::usage_record(site, id), keys::USAGE_RECORD_SK)
}

fn balance_key(billing_account: &str, currency: Currency) -> Item {
    key(keys::billing(billing_account), &keys::balance_sk(currency))
}

fn balance_of(item: &Item) -> Balance {
    Balance {
        top_ups: num_attr(item, "top_ups"),
        charges: num_attr(item, "charges"),
        notified: item.get("notified").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        episode: num_attr(item, "episode").try_into().unwrap_or(0),
    }
}

impl DynamoStore {
    /// Adds to a balance's charges (or top-ups), creating every field the arrears rule reads.
    pub(crate) fn add_to_balance(
        &self,
        tx: &mut Tx,
        billing_account: &str,
        currency: Currency,
        field: &'static str,
        amount: Amount,
    ) -> Result<()> {
        let other = if field == "charges" { "top_ups" } else { "charges" };
        let update = format!(
            "SET {other} = if_not_exists({other}, :zero), notified = if_not_exists(notified, :no), \
             episode = if_not_exists(episode, :zero), currency = :cur ADD {field} :a"
        );
        tx.update_always(
            self.table(),
            balance_key(billing_account, currency),
            &update,
            vec![],
            vec![
                (":zero", n(0)),
                (":no", AttributeValue::Bool(false)),
                (":cur", s(currency.code())),
                (":a", dec(amount)),
            ],
        )
    }
}

#[async_trait]
impl UsageStore for DynamoStore {
    async fn commit_usage(&self, commit: &UsageCommit, now: DateTime<Utc>) -> Result<UsageOutcome> {
        let mut tx = Tx::default();
        let ttl = n((now + chrono::Duration::days(KEEP_RECORDS_DAYS)).timestamp());
        for r in &commit.records {
            let mut it = record_key(&r.site, &r.record.id);
            let payer = serde_dynamo::to_attribute_value(&r.payer).map_err(Error::internal)?;
            it.extend([
                ("fingerprint".to_string(), s(r.fingerprint.clone())),
                ("workspace_id".to_string(), s(r.record.workspace_id.clone())),
                ("item".to_string(), s(r.record.item.id)),
                ("hour".to_string(), s(r.record.hour.to_rfc3339())),
                ("quantity".to_string(), dec(r.record.quantity)),
                ("payer".to_string(), payer),
                ("ingested_at".to_string(), s(now.to_rfc3339())),
                ("ttl".to_string(), ttl.clone()),
            ]);
            if let Some(b) = &r.billing_account {
                it.insert("billing_account".into(), s(b.clone()));
            }
            tx.put_reporting(self.table(), it, Cond::not_exists(Error::Conflict))?;
        }
        for l in &commit.lines {
            self.add_to_line(&mut tx, &l.key, l.quantity, &l.workspace_name, &l.site)?;
        }
        for b in &commit.balances {
            self.add_to_balance(&mut tx, &b.billing_account, b.currency, "charges", b.charges)?;
        }
        for (cloud, platform) in &commit.meters {
            due_update(&mut tx, self.table(), cloud, *platform)?;
        }
        let months_from = commit.records.len() + commit.lines.len() + commit.balances.len() + commit.meters.len();
        for m in &commit.months {
            self.add_to_month(&mut tx, &m.key.billing_account, &m.key.month, &m.accrued)?;
        }
        let refused = match self.commit_detailed(&tx, USAGE_ATTEMPTS).await? {
            Ok(()) => return Ok(UsageOutcome::Committed),
            Err(refused) => refused,
        };
        let issued = refused
            .iter()
            .filter_map(|(i, _)| i.checked_sub(months_from).and_then(|m| commit.months.get(m)))
            .map(|m| m.key.clone())
            .collect();
        let mut existing = Vec::new();
        for (i, old) in refused.into_iter().filter(|(i, _)| *i < commit.records.len()) {
            let old = match old {
                Some(o) => Some(o),
                // Not every DynamoDB returns the item with the reason: read it.
                None => {
                    let r = &commit.records[i];
                    self.get(&keys::usage_record(&r.site, &r.record.id), keys::USAGE_RECORD_SK).await?
                }
            };
            existing.push((i, old.and_then(|o| str_attr(&o, "fingerprint"))));
        }
        Ok(UsageOutcome::Refused { existing, issued })
    }

    async fn bill_lines(&self, billing_account: &str, month: &str) -> Result<Vec<StoredLine>> {
        let items = self.query_all(None, "pk", &keys::bill(billing_account, month), "sk", keys::LINES).await?;
        items.into_iter().map(stored_line).collect()
    }

    async fn balances(&self, billing_account: &str) -> Result<Vec<(Currency, Balance)>> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
            .expression_attribute_values(":pk", s(keys::billing(billing_account)))
            .expression_attribute_values(":sk", s(keys::BALANCES))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| Some((Currency::parse(&str_attr(i, "currency")?)?, balance_of(i))))
            .collect())
    }

    async fn mark_arrears(
        &self,
        billing_account: &str,
        currency: Currency,
        seen: &Balance,
        next: &Balance,
        email: Option<&EmailIntent>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = Tx::default();
        tx.update(
            self.table(),
            balance_key(billing_account, currency),
            "SET notified = :nn, episode = :ne",
            vec![(":nn", AttributeValue::Bool(next.notified)), (":ne", n(next.episode))],
            Cond::new("top_ups = :t AND charges = :c AND notified = :n AND episode = :e", Error::Conflict)
                .value(":t", dec(seen.top_ups))
                .value(":c", dec(seen.charges))
                .value(":n", AttributeValue::Bool(seen.notified))
                .value(":e", n(seen.episode)),
        )?;
        if let Some(e) = email {
            tx.put(self.table(), email_item(e, now, true)?, Some(Cond::not_exists(Error::Conflict)))?;
        }
        match self.commit(tx).await {
            Ok(()) => Ok(true),
            Err(Error::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn top_up(&self, t: &TopUp) -> Result<TopUpOutcome> {
        let mut tx = Tx::default();
        tx.check(
            self.table(),
            key(keys::billing(&t.username), keys::ACCOUNT_SK),
            Cond::new("attribute_exists(pk)", Error::BillingAccountNotFound),
        )?;
        let it = super::item(t, &[("pk", keys::top_up(&t.reference)), ("sk", keys::TOP_UP_SK.into())])?;
        tx.put_reporting(self.table(), it, Cond::not_exists(Error::Conflict))?;
        self.add_to_balance(&mut tx, &t.username, t.currency, "top_ups", t.amount)?;
        match self.commit_detailed(&tx, USAGE_ATTEMPTS).await? {
            Ok(()) => Ok(TopUpOutcome::Created),
            Err(refused) if refused.iter().any(|(i, _)| *i == 1) => {
                let old = refused.into_iter().find(|(i, _)| *i == 1).and_then(|(_, o)| o);
                let old = match old {
                    Some(o) => o,
                    None => self.get(&keys::top_up(&t.reference), keys::TOP_UP_SK).await?.ok_or(Error::Conflict)?,
                };
                Ok(TopUpOutcome::Existing(from_item(old)?))
            }
            Err(_) => Err(Error::BillingAccountNotFound),
        }
    }
}
