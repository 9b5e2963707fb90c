//! Cloud accounts (marketplace subscriptions), AWS landing claims, AWS identities, agreements;
//! keys in `keys.rs`.
//!
//! - The account, listed in gsi1 while a KooGallery instance's buyer is not known.
//! - Which account an AWS identity (`cust:...`, `lic:...`) is.
//! - An agreement's facts, listed in gsi1 under its acceptor and licence once that is known.

use super::tx::{Cond, Tx};
use super::{conditional, from_item, item, key, keys, n, s, sdk_error, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use billing_domain::model::{AwsCustomer, CloudAccount, CloudStatus};
use billing_domain::ports::{MarketplaceStore, Transition};
use billing_domain::rules::agreements::Agreement;
use billing_domain::{Error, Result};
use chrono::{DateTime, Utc};

fn cloud_item(a: &CloudAccount) -> Result<super::Item> {
    let mut keys = vec![("pk", keys::cloud(&a.id)), ("sk", keys::CLOUD_SK.into())];
    if !a.buyer_known() && a.order.is_some() {
        keys.extend([("gsi1pk", keys::BUYERS_UNKNOWN.to_string()), ("gsi1sk", a.id.clone())]);
    }
    item(a, &keys)
}

#[async_trait]
impl MarketplaceStore for DynamoStore {
    async fn cloud_account(&self, id: &str) -> Result<Option<CloudAccount>> {
        self.get(&keys::cloud(id), keys::CLOUD_SK).await?.map(from_item).transpose()
    }

    /// One conditional put: it creates the account, or its failure hands back the one on file.
    async fn open_cloud_account(&self, account: &CloudAccount) -> Result<CloudAccount> {
        let out = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(cloud_item(account)?))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let existing: CloudAccount = match out {
            Ok(_) => return Ok(account.clone()),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) if c.item.is_some() => {
                    from_item(c.item.clone().unwrap_or_default())?
                }
                Some(PutItemError::ConditionalCheckFailedException(_)) => {
                    self.cloud_account(&account.id).await?.ok_or(Error::Conflict)?
                }
                _ => return Err(sdk_error(e)),
            },
        };
        if existing.account_id.is_empty() && !account.account_id.is_empty() {
            // Made from a notification that came before the landing: learn the AWS account id.
            let learnt = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(keys::cloud(&account.id), keys::CLOUD_SK)))
                .update_expression("SET account_id = :a")
                .condition_expression("account_id = :empty")
                .expression_attribute_values(":a", s(account.account_id.clone()))
                .expression_attribute_values(":empty", s(""))
                .send()
                .await;
            conditional(learnt)?;
            return self.cloud_account(&account.id).await?.ok_or(Error::Conflict);
        }
        Ok(existing)
    }

    /// Optimistic: the write is conditioned on the event time it read, so two events racing
    /// for one account are applied one after the other, newest last.
    async fn transition(&self, id: &str, status: CloudStatus, event_at: DateTime<Utc>) -> Result<Option<Transition>> {
        for _ in 0..10 {
            let Some(raw) = self.get(&keys::cloud(id), keys::CLOUD_SK).await? else {
                return Ok(None);
            };
            let read_event_at = raw.get("last_event_at").cloned().unwrap_or(AttributeValue::Null(true));
            let mut account: CloudAccount = from_item(raw)?;
            if event_at < account.last_event_at {
                return Ok(Some(Transition::Stale));
            }
            let was_cancelled = account.status == CloudStatus::Cancelled;
            account.record_transition(status, event_at);
            let mut tx = Tx::default();
            tx.put(
                self.table(),
                cloud_item(&account)?,
                Some(Cond::new("last_event_at = :seen", Error::Conflict).value(":seen", read_event_at)),
            )?;
            if let (false, Some(run)) = (was_cancelled, account.cancellation_id()) {
                // The run is written with the cancellation, so the sweeper finds it even if
                // this process dies before it starts switching workspaces.
                let mut r = key(keys::cancel(&run), keys::RUN_SK);
                r.insert("gsi1pk".into(), s(keys::OPEN_CANCELS));
                r.insert("gsi1sk".into(), s(keys::open_cancel_sk(event_at, &run)));
                r.insert("run".into(), s(run.clone()));
                r.insert("cloud_account_id".into(), s(id));
                tx.put(self.table(), r, None)?;
            }
            match self.commit(tx).await {
                Ok(()) => return Ok(Some(Transition::Applied { account })),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    async fn save_claim(&self, claim: &str, customer: &AwsCustomer, expires_at: DateTime<Utc>) -> Result<()> {
        let mut it = item(customer, &[("pk", keys::claim(claim)), ("sk", keys::CLAIM_SK.into())])?;
        it.insert("ttl".into(), n(expires_at.timestamp()));
        self.client().put_item().table_name(self.table()).set_item(Some(it)).send().await.map_err(sdk_error)?;
        Ok(())
    }

    async fn claim(&self, claim: &str, now: DateTime<Utc>) -> Result<Option<AwsCustomer>> {
        let Some(it) = self.get(&keys::claim(claim), keys::CLAIM_SK).await? else {
            return Ok(None);
        };
        // TTL deletion lags by up to days: expiry is checked here, not left to it.
        let ttl = it.get("ttl").and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        if ttl <= now.timestamp() {
            return Ok(None);
        }
        Ok(Some(from_item(it)?))
    }

    async fn first_use_of_nonce(&self, nonce: &str, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<bool> {
        let mut it = key(keys::nonce(nonce), keys::NONCE_SK);
        it.insert("ttl".into(), n(expires_at.timestamp()));
        let out = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(it))
            // A remembered nonce past its time (TTL deletion lags) may be used again.
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now.timestamp()))
            .send()
            .await;
        Ok(conditional(out)?.is_some())
    }

    async fn mark_refused(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::cloud(id), keys::CLOUD_SK)))
            .update_expression("SET refused_at = if_not_exists(refused_at, :at)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn agreement(&self, id: &str) -> Result<Option<Agreement>> {
        self.get(&keys::agreement(id), keys::AGREEMENT_SK).await?.map(from_item).transpose()
    }

    async fn save_agreement(&self, a: &Agreement) -> Result<bool> {
        let mut keys = vec![("pk", keys::agreement(&a.id)), ("sk", keys::AGREEMENT_SK.to_string())];
        if let (Some(acceptor), Some(licence)) = (&a.acceptor, &a.license_arn) {
            keys.extend([("gsi1pk", keys::licence_agreements(acceptor, licence)), ("gsi1sk", a.id.clone())]);
        }
        let put = self.client().put_item().table_name(self.table()).set_item(Some(item(a, &keys)?));
        let put = if a.version <= 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :v").expression_attribute_values(":v", n(a.version - 1))
        };
        Ok(conditional(put.send().await)?.is_some())
    }

    async fn agreements_of_licence(&self, acceptor: &str, license_arn: &str) -> Result<Vec<Agreement>> {
        let found = self
            .query_all(Some("gsi1"), "gsi1pk", &keys::licence_agreements(acceptor, license_arn), "gsi1sk", "")
            .await?;
        found.into_iter().map(from_item).collect()
    }

    async fn aws_alias(&self, identity: &str) -> Result<Option<String>> {
        Ok(self
            .get(&keys::aws_identity(identity), keys::AWS_IDENTITY_SK)
            .await?
            .and_then(|i| super::str_attr(&i, "cloud_account_id")))
    }

    async fn link_aws_alias(&self, identity: &str, cloud_account_id: &str) -> Result<String> {
        let mut it = key(keys::aws_identity(identity), keys::AWS_IDENTITY_SK);
        it.insert("cloud_account_id".into(), s(cloud_account_id));
        let out = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(it))
            .condition_expression("attribute_not_exists(pk) OR cloud_account_id = :id")
            .expression_attribute_values(":id", s(cloud_account_id))
            .send()
            .await;
        match conditional(out)? {
            Some(_) => Ok(cloud_account_id.to_string()),
            None => self.aws_alias(identity).await?.ok_or(Error::Conflict),
        }
    }

    async fn learn_aws_identity(&self, id: &str, c: &AwsCustomer) -> Result<CloudAccount> {
        let mut sets = vec!["account_id = :acct"];
        let mut u = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::cloud(id), keys::CLOUD_SK)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":acct", s(c.aws_account_id.clone()));
        if let Some(licence) = &c.license_arn {
            sets.push("license_arn = :lic");
            u = u.expression_attribute_values(":lic", s(licence.clone()));
        }
        if let Some(customer) = &c.customer_identifier {
            sets.push("customer_identifier = if_not_exists(customer_identifier, :cust)");
            u = u.expression_attribute_values(":cust", s(customer.clone()));
        }
        if !c.product_code.is_empty() {
            sets.push("product_code = if_not_exists(product_code, :prod)");
            u = u.expression_attribute_values(":prod", s(c.product_code.clone()));
        }
        let out = u
            .update_expression(format!("SET {}", sets.join(", ")))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(sdk_error)?;
        from_item(out.attributes.unwrap_or_default())
    }

    async fn learn_buyer(&self, id: &str, account_id: &str) -> Result<CloudAccount> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::cloud(id), keys::CLOUD_SK)))
            .update_expression("SET account_id = :a REMOVE gsi1pk, gsi1sk")
            .condition_expression("account_id = :empty OR account_id = :a")
            .expression_attribute_values(":a", s(account_id))
            .expression_attribute_values(":empty", s(""))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match conditional(out)? {
            Some(o) => from_item(o.attributes.unwrap_or_default()),
            // Another buyer was recorded first: the one on file stands.
            None => self.cloud_account(id).await?.ok_or(Error::Conflict),
        }
    }

    async fn buyers_unknown(&self) -> Result<Vec<String>> {
        let items = self.query_all(Some("gsi1"), "gsi1pk", keys::BUYERS_UNKNOWN, "gsi1sk", "").await?;
        Ok(items.iter().filter_map(|i| super::str_attr(i, "gsi1sk")).collect())
    }
}
