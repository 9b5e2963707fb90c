//! `Idempotency-Key` records: one conditional put decides first use, replay or mismatch.

use super::{key, keys, n, s, sdk_error, str_attr, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use billing_domain::ports::{IdempotencyBegin, IdempotencyStore, StoredResponse};
use billing_domain::{Error, Result};
use chrono::{DateTime, Duration, Utc};

const KEEP: Duration = Duration::hours(24);
/// A request still "running" after this long died with its process: the key is free again.
const STALE_SECONDS: i64 = 30;

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn begin(&self, k: &str, request_hash: &str, now: DateTime<Utc>) -> Result<IdempotencyBegin> {
        let mut item = key(keys::idempotency(k), keys::IDEMPOTENCY_SK);
        item.insert("request_hash".into(), s(request_hash));
        item.insert("state".into(), s("running"));
        item.insert("started".into(), n(now.timestamp()));
        item.insert("ttl".into(), n((now + KEEP).timestamp()));
        let out = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now OR (#state = :running AND started < :stale)")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":running", s("running"))
            .expression_attribute_values(":stale", n(now.timestamp() - STALE_SECONDS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match out {
            Ok(_) => return Ok(IdempotencyBegin::Started),
            Err(e) => e,
        };
        let old = match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                c.item.clone()
            }
            _ => return Err(sdk_error(err)),
        };
        let old = match old {
            Some(o) => o,
            None => self.get(&keys::idempotency(k), keys::IDEMPOTENCY_SK).await?.ok_or(Error::Conflict)?,
        };
        if str_attr(&old, "request_hash").as_deref() != Some(request_hash) {
            return Ok(IdempotencyBegin::Mismatch);
        }
        match (str_attr(&old, "state").as_deref(), str_attr(&old, "response")) {
            (Some("done"), Some(body)) => {
                Ok(IdempotencyBegin::Replay(serde_json::from_str(&body).map_err(Error::internal)?))
            }
            _ => Ok(IdempotencyBegin::InProgress),
        }
    }

    async fn complete(&self, k: &str, response: &StoredResponse, _now: DateTime<Utc>) -> Result<()> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::idempotency(k), keys::IDEMPOTENCY_SK)))
            .update_expression("SET #state = :done, #resp = :r")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#resp", "response")
            .expression_attribute_values(":done", s("done"))
            .expression_attribute_values(":r", s(serde_json::to_string(response).map_err(Error::internal)?))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn abandon(&self, k: &str) -> Result<()> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(keys::idempotency(k), keys::IDEMPOTENCY_SK)))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
