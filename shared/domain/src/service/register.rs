//! Flow 1: register a free or commercial workspace, all or nothing.

use super::cloud::{self, SettlementInput, Target};
use super::session::{check_billing_password, Checked};
use super::{new_id, outbox, Deps};
use crate::crypto::password;
use crate::crypto::token::Principal;
use crate::email::{self, EmailIntent};
use crate::error::{Error, Result};
use crate::model::{
    BillingAccount, ChangeCause, Edition, Language, Session, Settlement, SettlementChange, User, Workspace,
};
use crate::ports::{BillingWrite, RegistrationWrite};
use crate::rules::fields::{self, normalise_login, Problems};
use crate::rules::settlement;
use crate::sites::{self, Site};
use crate::views::{BillingAccountView, UserView, WorkspaceView};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WorkspaceInput {
    pub name: Option<String>,
    pub language: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CompanyInput {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BillingAccountInput {
    pub mode: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub email: Option<String>,
}

/// `POST /v1/registrations` as sent. Strings stay strings here so that a wrong value is a
/// `422` naming the field, and only a wrong JSON type is a `400`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegisterRequest {
    pub edition: Option<String>,
    pub site: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: Option<String>,
    pub workspace: Option<WorkspaceInput>,
    pub company: Option<CompanyInput>,
    pub billing_account: Option<BillingAccountInput>,
    pub settlement: Option<SettlementInput>,
    pub accept_agreement: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingChoice {
    Create,
    Bind { username: String, password: String },
}

#[derive(Debug, Clone)]
pub struct Commercial {
    pub company: String,
    pub billing: BillingChoice,
    pub settlement: Target,
}

/// A registration whose fields passed validation.
#[derive(Debug, Clone)]
pub struct Registration {
    pub site: &'static Site,
    pub username: String,
    pub email: String,
    pub phone: String,
    pub password: String,
    pub workspace_name: String,
    pub language: Language,
    pub commercial: Option<Commercial>,
}

pub fn parse_language(field: &str, v: Option<&str>, p: &mut Problems) -> Option<Language> {
    match v {
        Some("zh") => Some(Language::Zh),
        Some("en") => Some(Language::En),
        Some(_) => {
            p.push(field, "invalid", "must be zh or en");
            None
        }
        None => {
            p.push(field, "required", "is required");
            None
        }
    }
}

impl RegisterRequest {
    /// Every field rule of api.md, then the site, then the agreement.
    pub fn validate(&self) -> Result<Registration> {
        let mut p = Problems::default();
        let edition = parse_edition(self.edition.as_deref(), &mut p);
        let commercial = edition == Some(Edition::Commercial);
        let site = p.required("site", &self.site);
        let username = p.required("username", &self.username);
        p.check("username", username, fields::username);
        let email = p.required("email", &self.email);
        p.check("email", email, fields::email);
        let phone = p.required("phone", &self.phone);
        p.check("phone", phone, fields::phone);
        let password = p.required("password", &self.password);
        p.check("password", password, fields::password);
        let ws = self.workspace.clone().unwrap_or_default();
        if self.workspace.is_none() {
            p.push("workspace", "required", "is required");
        }
        let ws_name = p.required("workspace.name", &ws.name);
        p.check("workspace.name", ws_name, fields::workspace_name);
        let language = parse_language("workspace.language", ws.language.as_deref(), &mut p);
        let commercial_parts = if commercial { self.commercial_parts(username, &mut p) } else { None };
        p.finish()?;
        let site = sites::find(site.unwrap_or_default()).ok_or(Error::UnknownSite)?;
        if commercial && self.accept_agreement != Some(true) {
            return Err(Error::AgreementRequired);
        }
        let missing = || Error::internal("validated field missing");
        Ok(Registration {
            site,
            username: username.ok_or_else(missing)?.trim().to_string(),
            email: normalise_login(email.ok_or_else(missing)?),
            phone: phone.ok_or_else(missing)?.to_string(),
            password: password.ok_or_else(missing)?.to_string(),
            workspace_name: ws_name.ok_or_else(missing)?.trim().to_string(),
            language: language.ok_or_else(missing)?,
            commercial: commercial_parts,
        })
    }

    /// The commercial parts (company, billing account, settlement), each problem noted in `p`;
    /// `None` when one is missing or wrong.
    fn commercial_parts(&self, username: Option<&str>, p: &mut Problems) -> Option<Commercial> {
        let company = self.company.clone().unwrap_or_default();
        let company_name = p.required("company.name", &company.name);
        p.check("company.name", company_name, fields::company_name);
        // `billing_account` and `settlement` default as whole objects (create, enterprise);
        // an object that is sent must say which mode or method it means.
        let billing = match &self.billing_account {
            None => Some(BillingChoice::Create),
            Some(b) => billing_choice(b, p),
        };
        if billing == Some(BillingChoice::Create) {
            // The billing account takes the user's username: it must be a valid billing username.
            p.check("username", username, fields::billing_username);
        }
        let settlement = match &self.settlement {
            None => Some(Target::Enterprise),
            Some(s) => Target::parse(s, "settlement", false, p),
        };
        let (company, billing, settlement) = (company_name?, billing?, settlement?);
        Some(Commercial { company: company.trim().to_string(), billing, settlement })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub user: UserView,
    pub workspace: WorkspaceView,
    pub billing_account: Option<BillingAccountView>,
    pub session: Session,
    pub billing_session: Option<Session>,
}

/// Registration's bind: a missing account and a wrong password look the same. The check
/// counts against the account's lock like any other (see `session::check_billing_password`).
pub async fn prove_billing_account(deps: &Deps, username: &str, password: &str) -> Result<BillingAccount> {
    match check_billing_password(deps, username, password).await? {
        Checked::Verified(account) => Ok(account),
        _ => Err(Error::BillingCredentialsInvalid),
    }
}

/// Upgrade's bind: the seed checks that the username exists, so a missing one is
/// `404 billing_account_not_found`.
pub async fn prove_billing_account_or_404(deps: &Deps, username: &str, password: &str) -> Result<BillingAccount> {
    match check_billing_password(deps, username, password).await? {
        Checked::Verified(account) => Ok(account),
        Checked::WrongPassword => Err(Error::BillingCredentialsInvalid),
        Checked::NoSuchAccount => Err(Error::BillingAccountNotFound),
    }
}

/// `edition`: free or commercial.
fn parse_edition(edition: Option<&str>, p: &mut Problems) -> Option<Edition> {
    match edition {
        Some("free") => Some(Edition::Free),
        Some("commercial") => Some(Edition::Commercial),
        Some(_) => {
            p.push("edition", "invalid", "must be free or commercial");
            None
        }
        None => {
            p.push("edition", "required", "is required");
            None
        }
    }
}

/// `billing_account` as sent: create, or bind with the account's username and password.
fn billing_choice(b: &BillingAccountInput, p: &mut Problems) -> Option<BillingChoice> {
    match b.mode.as_deref() {
        Some("create") => Some(BillingChoice::Create),
        Some("bind") => {
            let u = p.required("billing_account.username", &b.username);
            p.check("billing_account.username", u, fields::billing_username);
            let pw = p.required("billing_account.password", &b.password);
            Some(BillingChoice::Bind { username: u?.to_string(), password: pw?.to_string() })
        }
        Some(_) => {
            p.push("billing_account.mode", "invalid", "must be create or bind");
            None
        }
        None => {
            p.push("billing_account.mode", "required", "is required");
            None
        }
    }
}

pub async fn register(deps: &Deps, req: Registration) -> Result<Registered> {
    let now = deps.clock.now();
    let password_hash = password::hash(&req.password);
    let (user, workspace) = new_user_and_workspace(&req, password_hash.clone(), now);
    let mut write = RegistrationWrite { user, workspace, billing: None, cloud: None, emails: vec![], history: None };
    let billing_view = match &req.commercial {
        Some(c) => Some(make_commercial(deps, &req, c, password_hash, &mut write).await?),
        None => None,
    };

    // Sessions first: a registration is never committed without the tokens it answers with.
    let session =
        deps.session(Principal::Console { user_id: write.user.id.clone(), site: write.user.site.clone() }).await?;
    let billing_session = match &billing_view {
        Some(b) => Some(deps.session(Principal::Billing { username: b.username.clone() }).await?),
        None => None,
    };
    deps.accounts.commit_registration(&write).await?;
    outbox::deliver_committed(deps, &write.emails).await;

    Ok(Registered {
        user: UserView::from(&write.user),
        workspace: WorkspaceView::from(&write.workspace),
        billing_account: billing_view.as_ref().map(BillingAccountView::from),
        session,
        billing_session,
    })
}

/// The user and a free workspace of theirs, as every registration starts.
fn new_user_and_workspace(req: &Registration, password_hash: String, now: DateTime<Utc>) -> (User, Workspace) {
    let user = User {
        id: new_id("usr"),
        site: req.site.id.to_string(),
        username: req.username.clone(),
        email: req.email.clone(),
        phone: req.phone.clone(),
        password_hash,
        created_at: now,
    };
    let workspace = Workspace {
        id: new_id("ws"),
        name: req.workspace_name.clone(),
        language: req.language,
        site: req.site.id.to_string(),
        edition: Edition::Free,
        owner_id: user.id.clone(),
        billing_account: None,
        settlement: None,
        settlement_since: None,
        last_settlement_change: None,
        version: 1,
        created_at: now,
    };
    (user, workspace)
}

/// A commercial registration: its billing account (created, or bound by its password), the
/// settlement it chose (checked as offered, its cloud account resolved), the history entry and
/// the activation email, all in `write`. Returns the billing account.
async fn make_commercial(
    deps: &Deps,
    req: &Registration,
    c: &Commercial,
    password_hash: String,
    write: &mut RegistrationWrite,
) -> Result<BillingAccount> {
    let now = write.workspace.created_at;
    let (account, billing_write) = match &c.billing {
        BillingChoice::Create => {
            let account = BillingAccount {
                username: req.username.clone(),
                email: req.email.clone(),
                password_hash,
                company: Some(c.company.clone()),
                free_choice: false,
                created_at: now,
            };
            (account.clone(), BillingWrite::Create(account))
        }
        BillingChoice::Bind { username, password } => {
            let account = prove_billing_account(deps, username, password).await?;
            let hash = account.password_hash.clone();
            (account.clone(), BillingWrite::Bind { username: account.username, password_hash_checked: hash })
        }
    };
    // Registration offers new accounts and enterprise, never "registered": which accounts
    // are on file does not change what it may choose, so they are not read.
    let offered = settlement::options(&[], account.free_choice, req.site.platform, &Settlement::Enterprise);
    settlement::check_offered(&offered, c.settlement.method(), None)?;
    let cloud = cloud::resolve(deps, &c.settlement).await?;

    let ws = &mut write.workspace;
    ws.edition = Edition::Commercial;
    ws.billing_account = Some(account.username.clone());
    ws.settlement = Some(cloud.as_ref().map(|b| b.account.settlement()).unwrap_or(Settlement::Enterprise));
    ws.settlement_since = Some(now);
    write.history = ws.settlement.clone().map(|to| SettlementChange {
        at: now,
        from: None,
        to,
        cause: ChangeCause::Registration,
        actor: format!("user:{}", write.user.id),
    });
    write.emails.push(EmailIntent {
        id: format!("activation-{}", ws.id),
        email: email::activation(&account.email, req.language, &account.username, &ws.name, req.site.name),
    });
    write.billing = Some(billing_write);
    write.cloud = cloud;
    Ok(account)
}
