//! Failed-login counters: one item per login, a fixed window, removed by TTL.

use super::accounts::key;
use super::{conditional, n, sdk_error, DynamoStore};
use async_trait::async_trait;
use billing_domain::ports::AttemptStore;
use billing_domain::service::session::WINDOW_MINUTES;
use billing_domain::Result;
use chrono::{DateTime, Duration, TimeZone, Utc};

fn pk(login_key: &str) -> String {
    format!("ATTEMPT#{login_key}")
}

fn num(item: &super::Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

#[async_trait]
impl AttemptStore for DynamoStore {
    async fn failures(&self, login_key: &str, now: DateTime<Utc>) -> Result<(u32, Option<DateTime<Utc>>)> {
        let Some(item) = self.get(&pk(login_key), "ATTEMPT").await? else {
            return Ok((0, None));
        };
        let ends = num(&item, "window_ends").and_then(|t| Utc.timestamp_opt(t, 0).single());
        match ends {
            Some(end) if end > now => Ok((num(&item, "failures").unwrap_or(0) as u32, Some(end))),
            _ => Ok((0, None)),
        }
    }

    /// Counts a failure in the open window, or opens a new window. Both are single
    /// conditional writes, so concurrent failures are all counted.
    async fn record_failure(&self, login_key: &str, now: DateTime<Utc>) -> Result<()> {
        let ends = (now + Duration::minutes(WINDOW_MINUTES)).timestamp();
        for _ in 0..5 {
            let counted = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(pk(login_key), "ATTEMPT")))
                .update_expression("ADD failures :one")
                .condition_expression("window_ends > :now")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", n(now.timestamp()))
                .send()
                .await;
            if conditional(counted)?.is_some() {
                return Ok(());
            }
            let opened = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(pk(login_key), "ATTEMPT")))
                .update_expression("SET failures = :one, window_ends = :ends, #ttl = :ends")
                .condition_expression("attribute_not_exists(window_ends) OR window_ends <= :now")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":ends", n(ends))
                .expression_attribute_values(":now", n(now.timestamp()))
                .send()
                .await;
            if conditional(opened)?.is_some() {
                return Ok(());
            }
            // Someone opened a window meanwhile: count in it.
        }
        Ok(())
    }

    async fn clear(&self, login_key: &str) -> Result<()> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key(pk(login_key), "ATTEMPT")))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}
