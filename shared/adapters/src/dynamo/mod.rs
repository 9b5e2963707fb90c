//! Every store port on one DynamoDB table (see `infra/table.json`; docs/data-model.md tells the
//! layout to readers). `keys.rs` builds every key and documents the layout: each item kind, its
//! `pk` / `sk`, its places in the two overloaded, sparse indexes and the module that writes it.
//! Every other module takes its keys from there; general item helpers are here.

mod accounts;
mod attempts;
mod bills;
mod cancellation;
mod idempotency;
mod keys;
mod lines;
mod marketplace;
mod metering;
mod outbox;
mod tx;
mod usage;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use billing_domain::money::Amount;
use billing_domain::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::str::FromStr;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.item)
    }

    /// All items of a key condition, following pages.
    async fn query_all(
        &self,
        index: Option<&str>,
        pk_name: &str,
        pk: &str,
        sk_name: &str,
        sk_prefix: &str,
    ) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.query_page(index, pk_name, pk, sk_name, sk_prefix, None, start).await?;
            items.extend(page);
            match next {
                Some(k) => start = Some(k),
                None => return Ok(items),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn query_page(
        &self,
        index: Option<&str>,
        pk_name: &str,
        pk: &str,
        sk_name: &str,
        sk_prefix: &str,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>)> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(String::from))
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", s(pk));
        // begins_with refuses an empty prefix: no prefix means the whole partition.
        q = if sk_prefix.is_empty() {
            q.key_condition_expression("#pk = :pk")
        } else {
            q.key_condition_expression("#pk = :pk AND begins_with(#sk, :sk)")
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":sk", s(sk_prefix))
        };
        let out = q.set_limit(limit).set_exclusive_start_key(start).send().await.map_err(sdk_error)?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A domain value as an item, with its keys added.
pub(crate) fn item<T: Serialize>(value: &T, keys: &[(&str, String)]) -> Result<Item> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(Error::internal)?;
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    for (k, v) in keys {
        item.insert(k.to_string(), s(v.clone()));
    }
    Ok(item)
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T> {
    serde_dynamo::from_item(item).map_err(Error::internal)
}

pub(crate) fn str_attr(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// A number attribute as an exact amount; zero when absent.
pub(crate) fn num_attr(item: &Item, name: &str) -> Amount {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| Amount::from_str(v).ok()).unwrap_or_default()
}

/// An exact amount as a number attribute.
pub(crate) fn dec(v: Amount) -> AttributeValue {
    n(v.normalize())
}

/// An item's key, as gets, updates, deletes and condition checks take it (strings from `keys`).
pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(crate) fn sdk_error<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Error::internal(aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

/// A conditional request's outcome: `Ok(None)` when its condition failed (the store's "no",
/// not a fault), the SDK error otherwise.
pub(crate) fn conditional<T, E, R>(
    result: std::result::Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<Option<T>>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException") => Ok(None),
        Err(e) => Err(sdk_error(e)),
    }
}
