//! Users, workspaces, billing accounts and their registered cloud accounts.

use super::outbox::email_item;
use super::tx::{Cond, Tx};
use super::{conditional, from_item, item, key, keys, n, s, sdk_error, str_attr, DynamoStore, Item};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use billing_domain::backoff::Backoff;
use billing_domain::email::EmailIntent;
use billing_domain::model::{BillingAccount, CloudAccount, Edition, SettlementChange, User, Workspace};
use billing_domain::ports::{
    AccountStore, BillingWrite, CloudBinding, RegistrationWrite, SettlementWrite, UpgradeWrite,
};
use billing_domain::{Error, Result};
use std::collections::HashMap;

/// Keys `BatchGetItem` left unprocessed are asked again after 10 ms, doubling.
const UNPROCESSED_KEYS: Backoff = Backoff::new(10, 1_280);

/// A workspace item with its index keys: gsi1 lists a billing account's workspaces, gsi2
/// the workspaces a cloud account pays for (what a cancellation queries).
pub(crate) fn workspace_item(ws: &Workspace) -> Result<Item> {
    let mut keys_ = vec![("pk", keys::workspace(&ws.id)), ("sk", keys::WORKSPACE_SK.to_string())];
    if let Some(b) = &ws.billing_account {
        keys_.push(("gsi1pk", keys::billing(b)));
        keys_.push(("gsi1sk", keys::workspace(&ws.id)));
    }
    if let Some(cloud) = ws.settlement.as_ref().and_then(|s| s.cloud_account_id()) {
        keys_.push(("gsi2pk", keys::cloud(&cloud)));
        keys_.push(("gsi2sk", keys::workspace(&ws.id)));
    }
    item(ws, &keys_)
}

/// A history entry of a workspace: under the workspace, ordered by time.
pub(crate) fn history_item(workspace_id: &str, change: &SettlementChange) -> Result<Item> {
    let sk = keys::history_sk(change.at, &ulid::Ulid::new().to_string());
    item(change, &[("pk", keys::workspace(workspace_id)), ("sk", sk)])
}

impl DynamoStore {
    fn add_history(&self, tx: &mut Tx, workspace_id: &str, change: &SettlementChange) -> Result<()> {
        tx.put(self.table(), history_item(workspace_id, change)?, None)
    }

    fn add_billing(&self, tx: &mut Tx, billing: &BillingWrite) -> Result<()> {
        match billing {
            BillingWrite::Create(account) => tx.put(
                self.table(),
                item(account, &[("pk", keys::billing(&account.username)), ("sk", keys::ACCOUNT_SK.into())])?,
                Some(Cond::not_exists(Error::BillingUsernameTaken)),
            ),
            BillingWrite::Bind { username, password_hash_checked } => tx.check(
                self.table(),
                key(keys::billing(username), keys::ACCOUNT_SK),
                Cond::new("password_hash = :h", Error::BillingCredentialsInvalid)
                    .value(":h", s(password_hash_checked.clone())),
            ),
        }
    }

    /// The cloud account must still be paying; binding registers it on the billing account
    /// and consumes the AWS landing claim it came from.
    fn add_cloud(&self, tx: &mut Tx, cloud: &CloudBinding, billing_username: &str) -> Result<()> {
        let id = &cloud.account.id;
        tx.check(
            self.table(),
            key(keys::cloud(id), keys::CLOUD_SK),
            Cond::new("attribute_exists(pk) AND #st <> :cancelled", Error::CloudAccountNotActive)
                .name("#st", "status")
                .value(":cancelled", s("cancelled")),
        )?;
        let mut reg = key(keys::billing(billing_username), &keys::registration_sk(id));
        reg.insert("gsi2pk".into(), s(keys::cloud(id)));
        reg.insert("gsi2sk".into(), s(keys::registration_gsi2sk(billing_username)));
        reg.insert("username".into(), s(billing_username));
        reg.insert("cloud_account_id".into(), s(id.clone()));
        tx.put(self.table(), reg, None)?;
        if let Some(claim) = &cloud.claim {
            tx.delete(
                self.table(),
                key(keys::claim(claim), keys::CLAIM_SK),
                Some(Cond::new("attribute_exists(pk)", Error::CloudAccountNotFound)),
            )?;
        }
        Ok(())
    }

    fn add_emails(&self, tx: &mut Tx, emails: &[EmailIntent], now: chrono::DateTime<chrono::Utc>) -> Result<()> {
        for e in emails {
            tx.put(self.table(), email_item(e, now, true)?, Some(Cond::not_exists(Error::Conflict)))?;
        }
        Ok(())
    }

    pub(crate) async fn batch_get(&self, keys_: Vec<Item>) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        for chunk in keys_.chunks(100) {
            let mut request = HashMap::from([(
                self.table().to_string(),
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(Error::internal)?,
            )]);
            for attempt in 0..8u32 {
                let out =
                    self.client().batch_get_item().set_request_items(Some(request)).send().await.map_err(sdk_error)?;
                found.extend(out.responses.unwrap_or_default().into_values().flatten());
                match out.unprocessed_keys.filter(|u| !u.is_empty()) {
                    Some(rest) => {
                        request = rest;
                        UNPROCESSED_KEYS.wait(attempt).await;
                    }
                    None => break,
                }
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn user(&self, id: &str) -> Result<Option<User>> {
        self.get(&keys::user(id), keys::USER_SK).await?.map(from_item).transpose()
    }

    async fn user_by_login(&self, site: &str, login: &str) -> Result<Option<User>> {
        let guard = if login.contains('@') { keys::email_guard(site, login) } else { keys::phone_guard(site, login) };
        match self.get(&guard, keys::GUARD_SK).await?.and_then(|g| str_attr(&g, "user_id")) {
            Some(id) => self.user(&id).await,
            None => Ok(None),
        }
    }

    async fn billing_account(&self, username: &str) -> Result<Option<BillingAccount>> {
        self.get(&keys::billing(username), keys::ACCOUNT_SK).await?.map(from_item).transpose()
    }

    async fn workspace(&self, id: &str) -> Result<Option<Workspace>> {
        self.get(&keys::workspace(id), keys::WORKSPACE_SK).await?.map(from_item).transpose()
    }

    async fn workspaces(&self, ids: &[String]) -> Result<Vec<Workspace>> {
        let wanted: Vec<Item> = ids.iter().map(|id| key(keys::workspace(id), keys::WORKSPACE_SK)).collect();
        self.batch_get(wanted).await?.into_iter().map(from_item).collect()
    }

    async fn settlement_history(&self, workspace_id: &str) -> Result<Vec<SettlementChange>> {
        let items = self.query_all(None, "pk", &keys::workspace(workspace_id), "sk", keys::HISTORY).await?;
        items.into_iter().map(from_item).collect()
    }

    async fn workspaces_of_billing_account(&self, username: &str) -> Result<Vec<Workspace>> {
        let items =
            self.query_all(Some("gsi1"), "gsi1pk", &keys::billing(username), "gsi1sk", keys::WORKSPACES).await?;
        items.into_iter().map(from_item).collect()
    }

    async fn registered_cloud_accounts(&self, username: &str) -> Result<Vec<CloudAccount>> {
        let regs = self.query_all(None, "pk", &keys::billing(username), "sk", keys::REGISTRATIONS).await?;
        let wanted: Vec<Item> = regs
            .iter()
            .filter_map(|r| str_attr(r, "cloud_account_id"))
            .map(|id| key(keys::cloud(&id), keys::CLOUD_SK))
            .collect();
        let mut accounts: Vec<CloudAccount> =
            self.batch_get(wanted).await?.into_iter().map(from_item).collect::<Result<_>>()?;
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(accounts)
    }

    async fn commit_registration(&self, w: &RegistrationWrite) -> Result<()> {
        let t = self.table();
        let mut tx = Tx::default();
        let u = &w.user;
        tx.put(
            t,
            item(u, &[("pk", keys::user(&u.id)), ("sk", keys::USER_SK.into())])?,
            Some(Cond::not_exists(Error::Conflict)),
        )?;
        let guard = |pk: String| -> Item {
            let mut g = key(pk, keys::GUARD_SK);
            g.insert("user_id".into(), s(u.id.clone()));
            g
        };
        tx.put(t, guard(keys::email_guard(&u.site, &u.email)), Some(Cond::not_exists(Error::EmailTaken)))?;
        tx.put(t, guard(keys::phone_guard(&u.site, &u.phone)), Some(Cond::not_exists(Error::PhoneTaken)))?;
        tx.put(t, workspace_item(&w.workspace)?, Some(Cond::not_exists(Error::Conflict)))?;
        if let Some(b) = &w.billing {
            self.add_billing(&mut tx, b)?;
        }
        if let (Some(cloud), Some(username)) = (&w.cloud, &w.workspace.billing_account) {
            self.add_cloud(&mut tx, cloud, username)?;
        }
        self.add_emails(&mut tx, &w.emails, u.created_at)?;
        if let Some(h) = &w.history {
            self.add_history(&mut tx, &w.workspace.id, h)?;
        }
        self.commit(tx).await
    }

    async fn commit_upgrade(&self, w: &UpgradeWrite) -> Result<()> {
        let mut tx = Tx::default();
        tx.put(
            self.table(),
            workspace_item(&w.workspace)?,
            Some(Cond::new("#ed = :free", Error::AlreadyCommercial).name("#ed", "edition").value(":free", s("free"))),
        )?;
        self.add_billing(&mut tx, &w.billing)?;
        self.add_emails(&mut tx, &w.emails, w.workspace.settlement_since.unwrap_or(w.workspace.created_at))?;
        self.add_history(&mut tx, &w.workspace.id, &w.history)?;
        self.commit(tx).await
    }

    async fn commit_settlement(&self, w: &SettlementWrite) -> Result<()> {
        let mut tx = Tx::default();
        tx.put(
            self.table(),
            workspace_item(&w.workspace)?,
            Some(
                Cond::new("#v = :v AND #ed = :commercial", Error::Conflict)
                    .name("#v", "version")
                    .name("#ed", "edition")
                    .value(":v", n(w.workspace.version - 1))
                    .value(":commercial", s("commercial")),
            ),
        )?;
        if let (Some(cloud), Some(username)) = (&w.cloud, &w.workspace.billing_account) {
            self.add_cloud(&mut tx, cloud, username)?;
        }
        self.add_history(&mut tx, &w.workspace.id, &w.history)?;
        debug_assert!(w.workspace.edition == Edition::Commercial);
        self.commit(tx).await
    }

    async fn set_free_choice(&self, username: &str, enabled: bool) -> Result<Option<BillingAccount>> {
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(keys::billing(username), keys::ACCOUNT_SK)))
            .update_expression("SET free_choice = :f")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":f", AttributeValue::Bool(enabled))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional(out)? {
            Some(o) => o.attributes.map(from_item).transpose(),
            None => Ok(None), // no such billing account
        }
    }
}
