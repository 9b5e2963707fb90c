//! Transactions whose failed conditions map to domain errors, item by item.

use super::{sdk_error, DynamoStore, Item};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
use billing_domain::{Error, Result};
use std::time::Duration;

/// How often a transaction that lost a race (TransactionConflict) is tried again before
/// the caller gets `409 conflict`.
const ATTEMPTS: u32 = 10;

/// A condition on one item and the error its failure means.
pub(crate) struct Cond {
    pub expr: &'static str,
    pub names: Vec<(&'static str, &'static str)>,
    pub values: Vec<(&'static str, AttributeValue)>,
    pub error: Error,
}

impl Cond {
    pub fn new(expr: &'static str, error: Error) -> Self {
        Self {
            expr,
            names: vec![],
            values: vec![],
            error,
        }
    }
    pub fn not_exists(error: Error) -> Self {
        Self::new("attribute_not_exists(pk)", error)
    }
    pub fn value(mut self, name: &'static str, v: AttributeValue) -> Self {
        self.values.push((name, v));
        self
    }
    pub fn name(mut self, placeholder: &'static str, attr: &'static str) -> Self {
        self.names.push((placeholder, attr));
        self
    }
}

#[derive(Default)]
pub(crate) struct Tx {
    items: Vec<TransactWriteItem>,
    errors: Vec<Error>,
}

fn names(c: &Cond) -> Option<std::collections::HashMap<String, String>> {
    (!c.names.is_empty()).then(|| {
        c.names
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

fn values(c: &Cond, extra: Vec<(&'static str, AttributeValue)>) -> Option<Item> {
    let all: Item = c
        .values
        .iter()
        .cloned()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    (!all.is_empty()).then_some(all)
}

impl Tx {
    pub fn put(&mut self, table: &str, item: Item, cond: Option<Cond>) -> Result<()> {
        let mut b = Put::builder().table_name(table).set_item(Some(item));
        let mut err = Error::Conflict;
        if let Some(c) = cond {
            b = b
                .condition_expression(c.expr)
                .set_expression_attribute_names(names(&c))
                .set_expression_attribute_values(values(&c, vec![]));
            err = c.error;
        }
        self.items.push(
            TransactWriteItem::builder()
                .put(b.build().map_err(Error::internal)?)
                .build(),
        );
        self.errors.push(err);
        Ok(())
    }

    pub fn check(&mut self, table: &str, key: Item, cond: Cond) -> Result<()> {
        let b = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression(cond.expr)
            .set_expression_attribute_names(names(&cond))
            .set_expression_attribute_values(values(&cond, vec![]));
        self.items.push(
            TransactWriteItem::builder()
                .condition_check(b.build().map_err(Error::internal)?)
                .build(),
        );
        self.errors.push(cond.error);
        Ok(())
    }

    pub fn delete(&mut self, table: &str, key: Item, cond: Option<Cond>) -> Result<()> {
        let mut b = Delete::builder().table_name(table).set_key(Some(key));
        let mut err = Error::Conflict;
        if let Some(c) = cond {
            b = b
                .condition_expression(c.expr)
                .set_expression_attribute_names(names(&c))
                .set_expression_attribute_values(values(&c, vec![]));
            err = c.error;
        }
        self.items.push(
            TransactWriteItem::builder()
                .delete(b.build().map_err(Error::internal)?)
                .build(),
        );
        self.errors.push(err);
        Ok(())
    }

    /// An update; `update_values` are the values the update expression uses.
    pub fn update(
        &mut self,
        table: &str,
        key: Item,
        update: &str,
        update_names: Vec<(&'static str, &'static str)>,
        update_values: Vec<(&'static str, AttributeValue)>,
        cond: Cond,
    ) -> Result<()> {
        let mut all_names = cond.names.clone();
        all_names.extend(update_names);
        let n = (!all_names.is_empty()).then(|| {
            all_names
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        });
        let b = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression(cond.expr)
            .set_expression_attribute_names(n)
            .set_expression_attribute_values(values(&cond, update_values));
        self.items.push(
            TransactWriteItem::builder()
                .update(b.build().map_err(Error::internal)?)
                .build(),
        );
        self.errors.push(cond.error);
        Ok(())
    }
}

impl DynamoStore {
    /// Commits all items or none. A failed condition becomes the error its item names (the
    /// first in item order); a lost race is retried with jitter.
    pub(crate) async fn commit(&self, tx: Tx) -> Result<()> {
        if tx.items.is_empty() {
            return Ok(());
        }
        for attempt in 0..ATTEMPTS {
            let result = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(tx.items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons = c.cancellation_reasons();
                    if let Some(i) = reasons
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"))
                    {
                        return Err(tx.errors.get(i).cloned().unwrap_or(Error::Conflict));
                    }
                    if !reasons.iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("TransactionConflict") | Some("ThrottlingError")
                        )
                    }) {
                        return Err(sdk_error(err));
                    }
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {}
                _ => return Err(sdk_error(err)),
            }
            let backoff = 5u64 << attempt.min(5);
            tokio::time::sleep(Duration::from_millis(
                backoff + fastrand::u64(0..backoff * 2),
            ))
            .await;
        }
        Err(Error::Conflict)
    }
}
