//! The steps of a cancellation run, each idempotent (see `billing_domain::service::cancellation`).

use super::accounts::history_item;
use super::outbox::email_item;
use super::tx::{Cond, Tx};
use super::{from_item, item, key, keys, n, s, sdk_error, str_attr, DynamoStore, Item};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use billing_domain::email::EmailIntent;
use billing_domain::model::{ChangeCause, Settlement, SettlementChange, Workspace};
use billing_domain::ports::{CancellationStore, SwitchedWorkspace};
use billing_domain::{Error, Result};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};

/// Workspaces per transaction: three items each (the switch, its history entry, the record
/// for the email), within DynamoDB's 100-item limit.
const CHUNK: usize = 33;
/// Transactions in flight at once.
const PARALLEL: usize = 4;
/// Records of a run are kept this long for a rerun to rebuild its emails.
const KEEP_DAYS: i64 = 30;

impl DynamoStore {
    #[allow(clippy::too_many_arguments)]
    fn add_switch(
        &self,
        tx: &mut Tx,
        run: &str,
        cloud_account_id: &str,
        ws: &Workspace,
        cause: ChangeCause,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let enterprise: Item = serde_dynamo::to_item(Settlement::Enterprise).map_err(Error::internal)?;
        tx.update(
            self.table(),
            key(keys::workspace(&ws.id), keys::WORKSPACE_SK),
            "SET settlement = :ent, settlement_since = :now ADD version :one REMOVE gsi2pk, gsi2sk",
            vec![(":ent", AttributeValue::M(enterprise)), (":now", s(now.to_rfc3339())), (":one", n(1))],
            Cond::new("gsi2pk = :cloud", Error::Conflict).value(":cloud", s(keys::cloud(cloud_account_id))),
        )?;
        let billing = ws.billing_account.clone().unwrap_or_default();
        let record = SwitchedWorkspace {
            workspace_id: ws.id.clone(),
            name: ws.name.clone(),
            language: ws.language,
            site: ws.site.clone(),
            billing_account: billing.clone(),
        };
        let mut it = item(&record, &[("pk", keys::cancel(run)), ("sk", keys::switched_sk(&billing, &ws.id))])?;
        it.insert("ttl".into(), n((now + chrono::Duration::days(KEEP_DAYS)).timestamp()));
        tx.put(self.table(), it, None)?;
        let change = SettlementChange {
            at: now,
            from: ws.settlement.clone(),
            to: Settlement::Enterprise,
            cause,
            actor: actor.to_string(),
        };
        tx.put(self.table(), history_item(&ws.id, &change)?, None)
    }

    async fn switch_chunk(
        &self,
        run: &str,
        cloud_account_id: &str,
        chunk: &[Workspace],
        cause: ChangeCause,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = Tx::default();
        for ws in chunk {
            self.add_switch(&mut tx, run, cloud_account_id, ws, cause, actor, now)?;
        }
        match self.commit(tx).await {
            Err(Error::Conflict) if chunk.len() > 1 => {
                // One workspace moved meanwhile (its condition failed): the others go one by one.
                for ws in chunk {
                    let mut one = Tx::default();
                    self.add_switch(&mut one, run, cloud_account_id, ws, cause, actor, now)?;
                    match self.commit(one).await {
                        Ok(()) | Err(Error::Conflict) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Err(Error::Conflict) => Ok(()),
            other => other,
        }
    }
}

#[async_trait]
impl CancellationStore for DynamoStore {
    async fn settled_by(&self, cloud_account_id: &str, limit: usize) -> Result<Vec<Workspace>> {
        let (items, _) = self
            .query_page(
                Some("gsi2"),
                "gsi2pk",
                &keys::cloud(cloud_account_id),
                "gsi2sk",
                keys::WORKSPACES,
                Some(limit as i32),
                None,
            )
            .await?;
        items.into_iter().map(from_item).collect()
    }

    async fn switch_to_enterprise(
        &self,
        run: &str,
        cloud_account_id: &str,
        workspaces: &[Workspace],
        cause: ChangeCause,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let jobs: Vec<_> = workspaces
            .chunks(CHUNK)
            .map(|chunk| Box::pin(self.switch_chunk(run, cloud_account_id, chunk, cause, actor, now)))
            .collect();
        stream::iter(jobs).buffer_unordered(PARALLEL).try_collect::<Vec<()>>().await?;
        Ok(())
    }

    async fn switched_page(
        &self,
        run: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<(Vec<SwitchedWorkspace>, Option<String>)> {
        let start = after.map(|sk| key(keys::cancel(run), &sk));
        let (items, last) =
            self.query_page(None, "pk", &keys::cancel(run), "sk", keys::SWITCHED, Some(limit as i32), start).await?;
        let cursor = last.and_then(|k| str_attr(&k, "sk"));
        Ok((items.into_iter().map(from_item).collect::<Result<_>>()?, cursor))
    }

    async fn registrations(&self, cloud_account_id: &str) -> Result<Vec<String>> {
        let items = self
            .query_all(Some("gsi2"), "gsi2pk", &keys::cloud(cloud_account_id), "gsi2sk", keys::REGISTERED_TO)
            .await?;
        Ok(items.iter().filter_map(|i| str_attr(i, "username")).collect())
    }

    async fn finish_billing_account(
        &self,
        cloud_account_id: &str,
        username: &str,
        email: Option<&EmailIntent>,
    ) -> Result<()> {
        let registration = key(keys::billing(username), &keys::registration_sk(cloud_account_id));
        let mut tx = Tx::default();
        tx.delete(self.table(), registration.clone(), None)?;
        if let Some(e) = email {
            tx.put(self.table(), email_item(e, Utc::now(), false)?, Some(Cond::not_exists(Error::Conflict)))?;
        }
        match self.commit(tx).await {
            Err(Error::Conflict) if email.is_some() => {
                // Written by an earlier run of this cancellation: never a second email.
                let id = email.map(|e| e.id.as_str()).unwrap_or_default();
                if self.get(&keys::mail(id), keys::MAIL_SK).await?.is_none() {
                    return Err(Error::Conflict);
                }
                self.client()
                    .delete_item()
                    .table_name(self.table())
                    .set_key(Some(registration))
                    .send()
                    .await
                    .map_err(sdk_error)?;
                Ok(())
            }
            other => other,
        }
    }

    async fn mark_done(&self, run: &str, now: DateTime<Utc>) -> Result<()> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::cancel(run), keys::RUN_SK)))
            .update_expression("SET done_at = if_not_exists(done_at, :now)")
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn finished_at(&self, run: &str) -> Result<Option<DateTime<Utc>>> {
        let item = self.get(&keys::cancel(run), keys::RUN_SK).await?;
        Ok(item
            .and_then(|i| str_attr(&i, "done_at"))
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)))
    }

    async fn close(&self, run: &str, now: DateTime<Utc>) -> Result<()> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::cancel(run), keys::RUN_SK)))
            .update_expression("SET closed_at = :now, #ttl = :ttl REMOVE gsi1pk, gsi1sk")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .expression_attribute_values(":ttl", n((now + chrono::Duration::days(KEEP_DAYS)).timestamp()))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn open_runs(&self) -> Result<Vec<(String, String)>> {
        let items = self.query_all(Some("gsi1"), "gsi1pk", keys::OPEN_CANCELS, "gsi1sk", "").await?;
        Ok(items.iter().filter_map(|i| Some((str_attr(i, "run")?, str_attr(i, "cloud_account_id")?))).collect())
    }
}
