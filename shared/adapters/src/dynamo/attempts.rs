//! Password-check throttling: one item per key, a fixed window, removed by TTL. An attempt
//! is taken with a conditional write before the password is checked, so at most
//! `max_failures` checks run per window however many arrive at once.

use super::{key, keys, n, sdk_error, DynamoStore, Item};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use billing_domain::ports::{AttemptGrant, AttemptStore, Throttle};
use billing_domain::{Error, Result};
use chrono::{DateTime, TimeZone, Utc};

fn num(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

/// `Ok(None)`: the condition failed, with the item as it stood.
fn refused<T>(r: std::result::Result<T, SdkError<UpdateItemError>>) -> Result<std::result::Result<T, Option<Item>>> {
    match r {
        Ok(t) => Ok(Ok(t)),
        Err(e) => match e.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(c)) => Ok(Err(c.item.clone())),
            _ => Err(sdk_error(e)),
        },
    }
}

#[async_trait]
impl AttemptStore for DynamoStore {
    async fn take(&self, login_key: &str, throttle: Throttle, now: DateTime<Utc>) -> Result<AttemptGrant> {
        let ends = (now + throttle.window).timestamp();
        for _ in 0..5 {
            // No window open: this attempt opens one (the common case, one round trip).
            let opened = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(keys::attempt(login_key), keys::ATTEMPT_SK)))
                .update_expression("SET failures = :one, window_ends = :ends, #ttl = :ends")
                .condition_expression("attribute_not_exists(window_ends) OR window_ends <= :now")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":ends", n(ends))
                .expression_attribute_values(":now", n(now.timestamp()))
                .send()
                .await;
            if refused(opened)?.is_ok() {
                return Ok(AttemptGrant::Granted);
            }
            // A window is open: count in it while it has room.
            let counted = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(keys::attempt(login_key), keys::ATTEMPT_SK)))
                .update_expression("ADD failures :one")
                .condition_expression("window_ends > :now AND failures < :max")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", n(now.timestamp()))
                .expression_attribute_values(":max", n(throttle.max_failures))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let old = match refused(counted)? {
                Ok(_) => return Ok(AttemptGrant::Granted),
                Err(old) => old,
            };
            let window_ends = old.as_ref().and_then(|i| num(i, "window_ends")).unwrap_or(0);
            if window_ends > now.timestamp() {
                let until = Utc.timestamp_opt(window_ends, 0).single().ok_or_else(|| Error::internal("bad window"))?;
                return Ok(AttemptGrant::Locked { until });
            }
            // The window ended (or the item went) between the two writes: open a new one.
        }
        Err(Error::Conflict)
    }

    async fn clear(&self, login_key: &str) -> Result<()> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(keys::attempt(login_key), keys::ATTEMPT_SK)))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
