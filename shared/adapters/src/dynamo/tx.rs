//! Transactions whose failed conditions map to domain errors, item by item.

use super::{sdk_error, DynamoStore, Item};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use billing_domain::backoff::Backoff;
use billing_domain::{Error, Result};
use std::collections::HashMap;

/// How often a transaction that lost a race (TransactionConflict) is tried again before
/// the caller gets `409 conflict`.
const ATTEMPTS: u32 = 10;
/// After a lost race (a transaction conflict, throttling): 5 ms doubling up to 160 ms, jittered
/// so that the racing writers spread out.
const LOST_RACE: Backoff = Backoff::new(5, 160).jittered();

/// A condition on one item and the error its failure means.
pub(crate) struct Cond {
    pub expr: &'static str,
    pub names: Vec<(&'static str, &'static str)>,
    pub values: Vec<(&'static str, AttributeValue)>,
    pub error: Error,
}

impl Cond {
    pub fn new(expr: &'static str, error: Error) -> Self {
        Self { expr, names: vec![], values: vec![], error }
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

/// A condition in the shapes the SDK builders take; `values` may add the update's values.
struct Parts {
    expr: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<Item>,
    error: Error,
}

impl Parts {
    fn of(cond: Option<Cond>, extra_values: Vec<(&'static str, AttributeValue)>) -> Self {
        let Some(c) = cond else {
            let values: Item = extra_values.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            return Self {
                expr: None,
                names: None,
                values: (!values.is_empty()).then_some(values),
                error: Error::Conflict,
            };
        };
        let names: HashMap<String, String> = c.names.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let values: Item = c.values.into_iter().chain(extra_values).map(|(k, v)| (k.to_string(), v)).collect();
        Self {
            expr: Some(c.expr.to_string()),
            names: (!names.is_empty()).then_some(names),
            values: (!values.is_empty()).then_some(values),
            error: c.error,
        }
    }
}

impl Tx {
    /// Items so far: the next item's index in a refusal.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    fn push(&mut self, item: TransactWriteItem, error: Error) -> Result<()> {
        self.items.push(item);
        self.errors.push(error);
        Ok(())
    }

    pub fn put(&mut self, table: &str, item: Item, cond: Option<Cond>) -> Result<()> {
        let p = Parts::of(cond, vec![]);
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .set_condition_expression(p.expr)
            .set_expression_attribute_names(p.names)
            .set_expression_attribute_values(p.values)
            .build()
            .map_err(Error::internal)?;
        self.push(TransactWriteItem::builder().put(put).build(), p.error)
    }

    /// A put that, when its condition fails, reports the item it found (see `commit_detailed`).
    pub fn put_reporting(&mut self, table: &str, item: Item, cond: Cond) -> Result<()> {
        let p = Parts::of(Some(cond), vec![]);
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .set_condition_expression(p.expr)
            .set_expression_attribute_names(p.names)
            .set_expression_attribute_values(p.values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(Error::internal)?;
        self.push(TransactWriteItem::builder().put(put).build(), p.error)
    }

    pub fn check(&mut self, table: &str, key: Item, cond: Cond) -> Result<()> {
        let p = Parts::of(Some(cond), vec![]);
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .set_condition_expression(p.expr)
            .set_expression_attribute_names(p.names)
            .set_expression_attribute_values(p.values)
            .build()
            .map_err(Error::internal)?;
        self.push(TransactWriteItem::builder().condition_check(check).build(), p.error)
    }

    pub fn delete(&mut self, table: &str, key: Item, cond: Option<Cond>) -> Result<()> {
        let p = Parts::of(cond, vec![]);
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(key))
            .set_condition_expression(p.expr)
            .set_expression_attribute_names(p.names)
            .set_expression_attribute_values(p.values)
            .build()
            .map_err(Error::internal)?;
        self.push(TransactWriteItem::builder().delete(delete).build(), p.error)
    }

    /// An update with no condition; `update_values` are the values its expression uses.
    pub fn update_always(
        &mut self,
        table: &str,
        key: Item,
        update: &str,
        names: Vec<(&'static str, &'static str)>,
        update_values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<()> {
        let values: Item = update_values.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let names: HashMap<String, String> = names.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(update)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(Error::internal)?;
        self.push(TransactWriteItem::builder().update(update).build(), Error::Conflict)
    }

    /// An update; `update_values` are the values the update expression uses.
    pub fn update(
        &mut self,
        table: &str,
        key: Item,
        update: &str,
        update_values: Vec<(&'static str, AttributeValue)>,
        cond: Cond,
    ) -> Result<()> {
        let p = Parts::of(Some(cond), update_values);
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(update)
            .set_condition_expression(p.expr)
            .set_expression_attribute_names(p.names)
            .set_expression_attribute_values(p.values)
            .build()
            .map_err(Error::internal)?;
        self.push(TransactWriteItem::builder().update(update).build(), p.error)
    }
}

/// Items whose condition failed when a transaction was cancelled: their index in the
/// transaction and, for `put_reporting` items, what was stored.
pub(crate) type Refused = Vec<(usize, Option<Item>)>;

impl DynamoStore {
    /// Commits all items or none. A failed condition becomes the error its item names (the
    /// first in item order); a lost race is retried with jitter.
    pub(crate) async fn commit(&self, tx: Tx) -> Result<()> {
        match self.commit_detailed(&tx, ATTEMPTS).await? {
            Ok(()) => Ok(()),
            Err(refused) => {
                Err(refused.first().and_then(|(i, _)| tx.errors.get(*i).cloned()).unwrap_or(Error::Conflict))
            }
        }
    }

    /// Commits all items or none; `Ok(Err(refused))` lists every item whose condition failed.
    /// Lost races (TransactionConflict, throttling) are retried up to `attempts` times.
    pub(crate) async fn commit_detailed(&self, tx: &Tx, attempts: u32) -> Result<std::result::Result<(), Refused>> {
        if tx.items.is_empty() {
            return Ok(Ok(()));
        }
        for attempt in 0..attempts {
            let result = self.client().transact_write_items().set_transact_items(Some(tx.items.clone())).send().await;
            let err = match result {
                Ok(_) => return Ok(Ok(())),
                Err(e) => e,
            };
            match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons = c.cancellation_reasons();
                    let refused: Refused = reasons
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                        .map(|(i, r)| (i, r.item().cloned()))
                        .collect();
                    if !refused.is_empty() {
                        return Ok(Err(refused));
                    }
                    if !reasons
                        .iter()
                        .any(|r| matches!(r.code(), Some("TransactionConflict") | Some("ThrottlingError")))
                    {
                        return Err(sdk_error(err));
                    }
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {}
                _ => return Err(sdk_error(err)),
            }
            LOST_RACE.wait(attempt).await;
        }
        Err(Error::Conflict)
    }
}
