//! Flow 4: settlement options and changes, the billing center's workspace and cloud-account
//! lists, and the free-choice switch.

use super::cloud::{self, SettlementInput, Target};
use super::Deps;
use crate::crypto::token::Principal;
use crate::error::{Error, Result};
use crate::model::{BillingAccount, ChangeCause, CloudAccount, Edition, Platform, SettlementChange, Workspace};
use crate::ports::{CloudBinding, SettlementWrite};
use crate::rules::fields::Problems;
use crate::rules::settlement::{self as rules, Change, Method, SettlementOption};
use crate::sites;
use crate::views::{CloudAccountView, SettlementView, WorkspaceView};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A workspace the caller may manage: its owner (console token) or the billing account that
/// settles it (billing token). Anyone else: "not found".
async fn managed_workspace(deps: &Deps, caller: &Principal, id: &str) -> Result<Workspace> {
    let ws = super::workspace_if(deps, id).await?.ok_or(Error::WorkspaceNotFound)?;
    if !super::may_manage(caller, &ws) {
        return Err(Error::WorkspaceNotFound);
    }
    if ws.edition != Edition::Commercial {
        return Err(Error::WorkspaceNotCommercial);
    }
    Ok(ws)
}

struct Context {
    ws: Workspace,
    account: BillingAccount,
    registered: Vec<CloudAccount>,
    platform: Platform,
}

async fn context(deps: &Deps, caller: &Principal, id: &str) -> Result<Context> {
    let ws = managed_workspace(deps, caller, id).await?;
    let username =
        ws.billing_account.clone().ok_or_else(|| Error::internal("commercial workspace without billing account"))?;
    // Independent reads, one round trip of latency.
    let (account, registered) =
        futures::join!(deps.accounts.billing_account(&username), deps.accounts.registered_cloud_accounts(&username));
    let account = account?.ok_or_else(|| Error::internal("billing account missing"))?;
    let registered: Vec<CloudAccount> = registered?.into_iter().filter(|a| a.is_active()).collect();
    let platform =
        sites::find(&ws.site).map(|s| s.platform).ok_or_else(|| Error::internal("workspace on unknown site"))?;
    Ok(Context { ws, account, registered, platform })
}

fn current(ws: &Workspace) -> crate::model::Settlement {
    ws.settlement.clone().unwrap_or(crate::model::Settlement::Enterprise)
}

#[derive(Debug, Serialize)]
pub struct Options {
    pub current: SettlementView,
    pub site_platform: Platform,
    pub free_choice: bool,
    pub registered_cloud_accounts: Vec<CloudAccountView>,
    pub options: Vec<SettlementOption>,
    pub next_change_at: Option<DateTime<Utc>>,
}

pub async fn options(deps: &Deps, caller: &Principal, id: &str) -> Result<Options> {
    let c = context(deps, caller, id).await?;
    let cur = current(&c.ws);
    let options = rules::options(&c.registered, c.account.free_choice, c.platform, &cur);
    // Which workspaces each registered account settles: only worth a query if there are any.
    let settled = match c.registered.is_empty() {
        true => vec![],
        false => deps.accounts.workspaces_of_billing_account(&c.account.username).await?,
    };
    Ok(Options {
        current: SettlementView { settlement: cur, since: c.ws.settlement_since },
        site_platform: c.platform,
        free_choice: c.account.free_choice,
        registered_cloud_accounts: c.registered.iter().map(|a| view(a, &settled)).collect(),
        options,
        next_change_at: rules::next_change_at(c.ws.last_settlement_change, deps.clock.now()),
    })
}

fn view(a: &CloudAccount, settled: &[Workspace]) -> CloudAccountView {
    let ids = settled
        .iter()
        .filter(|w| w.settlement.as_ref().and_then(|s| s.cloud_account_id()).as_deref() == Some(a.id.as_str()))
        .map(|w| w.id.clone())
        .collect();
    CloudAccountView::new(a, ids)
}

/// The id a target names without looking anything up, when it can.
fn peek_id(target: &Target) -> Option<String> {
    match target {
        Target::Aliyun { instance_id, .. } => Some(CloudAccount::aliyun_id(instance_id)),
        Target::Huawei { instance_id, .. } => Some(CloudAccount::huawei_id(instance_id)),
        Target::Registered { cloud_account_id } => Some(cloud_account_id.clone()),
        _ => None,
    }
}

pub async fn change(deps: &Deps, caller: &Principal, id: &str, input: SettlementInput) -> Result<WorkspaceView> {
    let mut p = Problems::default();
    let target = Target::parse(&input, "", true, &mut p);
    p.finish()?;
    let target = target.ok_or_else(|| Error::internal("validated target missing"))?;
    let c = context(deps, caller, id).await?;
    let cur = current(&c.ws);
    let now = deps.clock.now();

    // The method first, before its details are looked at.
    let offered = rules::options(&c.registered, c.account.free_choice, c.platform, &cur);
    rules::check_offered(&offered, target.method(), target.cloud_account_id())?;

    // The lock and the monthly limit need nothing of the target but its method and id.
    // The current account pays through this billing account, so it is registered there while
    // it is active: the list read above answers without another round trip.
    let current_id = cur.cloud_account_id();
    let current_active = c.registered.iter().any(|a| Some(&a.id) == current_id.as_ref());
    let same_account = peek_id(&target).is_some() && peek_id(&target) == cur.cloud_account_id();
    if current_active && target.method() != Method::Enterprise && !same_account {
        return Err(Error::CloudAccountLocked);
    }
    let already_enterprise = target == Target::Enterprise && cur == crate::model::Settlement::Enterprise;
    if !(same_account || already_enterprise) {
        if let Some(next) = rules::next_change_at(c.ws.last_settlement_change, now) {
            return Err(Error::SettlementChangeLimit { next });
        }
    }

    let binding = match &target {
        // Offered, so on file and active: no need to read it again.
        Target::Registered { cloud_account_id } => c
            .registered
            .iter()
            .find(|a| &a.id == cloud_account_id)
            .map(|a| CloudBinding { account: a.clone(), claim: None }),
        _ => cloud::resolve(deps, &target).await?,
    };
    let wanted = binding.as_ref().map(|b| b.account.settlement()).unwrap_or(crate::model::Settlement::Enterprise);
    match rules::decide_change(&cur, current_active, &wanted, c.ws.last_settlement_change, now)? {
        Change::Unchanged => Ok(WorkspaceView::from(&c.ws)),
        Change::Apply => {
            let history = SettlementChange {
                at: now,
                from: Some(cur),
                to: wanted.clone(),
                cause: ChangeCause::Change,
                actor: caller.subject(),
            };
            let ws = Workspace {
                settlement: Some(wanted),
                settlement_since: Some(now),
                last_settlement_change: Some(now),
                version: c.ws.version + 1,
                ..c.ws
            };
            deps.accounts
                .commit_settlement(&SettlementWrite { workspace: ws.clone(), cloud: binding, history })
                .await?;
            Ok(WorkspaceView::from(&ws))
        }
    }
}

fn billing_username(caller: &Principal) -> Result<&str> {
    match caller {
        Principal::Billing { username } => Ok(username),
        Principal::Console { .. } => Err(Error::Forbidden),
    }
}

pub async fn billing_workspaces(deps: &Deps, caller: &Principal) -> Result<Vec<WorkspaceView>> {
    let username = billing_username(caller)?;
    Ok(deps.accounts.workspaces_of_billing_account(username).await?.iter().map(WorkspaceView::from).collect())
}

pub async fn billing_cloud_accounts(deps: &Deps, caller: &Principal) -> Result<Vec<CloudAccountView>> {
    let username = billing_username(caller)?;
    let (settled, accounts) = futures::join!(
        deps.accounts.workspaces_of_billing_account(username),
        deps.accounts.registered_cloud_accounts(username)
    );
    let settled = settled?;
    Ok(accounts?.iter().map(|a| view(a, &settled)).collect())
}

pub async fn set_free_choice(deps: &Deps, username: &str, enabled: Option<bool>) -> Result<BillingAccount> {
    let enabled = enabled.ok_or_else(|| Error::field("enabled", "required", "is required"))?;
    if crate::rules::fields::billing_username(username).is_err() {
        return Err(Error::BillingAccountNotFound); // no account can have this name
    }
    deps.accounts.set_free_choice(username, enabled).await?.ok_or(Error::BillingAccountNotFound)
}
