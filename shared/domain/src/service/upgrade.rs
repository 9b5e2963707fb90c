//! Flow 3: upgrade a free workspace to commercial, once, binding or creating its billing account.

use super::register::{prove_billing_account_or_404, BillingAccountInput};
use super::{outbox, Deps};
use crate::crypto::password;
use crate::crypto::token::Principal;
use crate::email::{self, EmailIntent};
use crate::error::{Error, Result};
use crate::model::{BillingAccount, ChangeCause, Edition, Session, Settlement, SettlementChange, Workspace};
use crate::ports::{BillingWrite, UpgradeWrite};
use crate::rules::fields::{self, normalise_login, Problems};
use crate::sites;
use crate::views::{BillingAccountView, WorkspaceView};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct UpgradeRequest {
    pub billing_account: Option<BillingAccountInput>,
    pub accept_agreement: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Upgraded {
    pub workspace: WorkspaceView,
    pub billing_account: BillingAccountView,
    pub billing_session: Session,
}

enum Choice {
    Bind { username: String, password: String },
    Create { username: String, password: String, email: String },
}

fn validate(req: &UpgradeRequest) -> Result<Choice> {
    let mut p = Problems::default();
    let b = req.billing_account.clone().unwrap_or_default();
    if req.billing_account.is_none() {
        p.push("billing_account", "required", "is required");
    }
    let username = p.required("billing_account.username", &b.username);
    p.check("billing_account.username", username, fields::billing_username);
    let pw = p.required("billing_account.password", &b.password);
    let choice = match b.mode.as_deref() {
        Some("bind") => None,
        Some("create") => {
            p.check("billing_account.password", pw, fields::password);
            let email = p.required("billing_account.email", &b.email);
            p.check("billing_account.email", email, fields::email);
            email.map(normalise_login)
        }
        Some(_) => {
            p.push("billing_account.mode", "invalid", "must be bind or create");
            None
        }
        None => {
            p.push("billing_account.mode", "required", "is required");
            None
        }
    };
    p.finish()?;
    if req.accept_agreement != Some(true) {
        return Err(Error::AgreementRequired);
    }
    let (username, password) = (username.unwrap_or_default().to_string(), pw.unwrap_or_default().to_string());
    Ok(match choice {
        Some(email) => Choice::Create { username, password, email },
        None => Choice::Bind { username, password },
    })
}

/// The workspace the caller owns; anyone else (and any billing token) gets "not found".
pub async fn owned_workspace(deps: &Deps, caller: &Principal, id: &str) -> Result<Workspace> {
    let Principal::Console { user_id, .. } = caller else {
        return Err(Error::WorkspaceNotFound);
    };
    super::workspace_if(deps, id).await?.filter(|w| &w.owner_id == user_id).ok_or(Error::WorkspaceNotFound)
}

pub async fn upgrade(deps: &Deps, caller: &Principal, workspace_id: &str, req: UpgradeRequest) -> Result<Upgraded> {
    let choice = validate(&req)?;
    let ws = owned_workspace(deps, caller, workspace_id).await?;
    if ws.edition != Edition::Free {
        return Err(Error::AlreadyCommercial);
    }
    let now = deps.clock.now();
    let (account, billing) = match choice {
        Choice::Bind { username, password } => {
            let account = prove_billing_account_or_404(deps, &username, &password).await?;
            let write = BillingWrite::Bind {
                username: account.username.clone(),
                password_hash_checked: account.password_hash.clone(),
            };
            (account, write)
        }
        Choice::Create { username, password, email } => {
            let account = BillingAccount {
                username,
                email,
                password_hash: password::hash(&password),
                company: None,
                free_choice: false,
                created_at: now,
            };
            (account.clone(), BillingWrite::Create(account))
        }
    };
    let upgraded = Workspace {
        edition: Edition::Commercial,
        billing_account: Some(account.username.clone()),
        settlement: Some(Settlement::Enterprise),
        settlement_since: Some(now),
        version: ws.version + 1,
        ..ws
    };
    let site_name = sites::find(&upgraded.site).map(|s| s.name).unwrap_or_default();
    let intent = EmailIntent {
        id: format!("activation-{}", upgraded.id),
        email: email::activation(&account.email, upgraded.language, &account.username, &upgraded.name, site_name),
    };
    let history = SettlementChange {
        at: now,
        from: None,
        to: Settlement::Enterprise,
        cause: ChangeCause::Upgrade,
        actor: caller.subject(),
    };
    let write = UpgradeWrite { workspace: upgraded.clone(), billing, emails: vec![intent], history };
    // The session first: an upgrade is never committed without the token it answers with.
    let billing_session = deps.session(Principal::Billing { username: account.username.clone() }).await?;
    deps.accounts.commit_upgrade(&write).await?;
    outbox::deliver_committed(deps, &write.emails).await;
    Ok(Upgraded {
        workspace: WorkspaceView::from(&upgraded),
        billing_account: BillingAccountView::from(&account),
        billing_session,
    })
}
