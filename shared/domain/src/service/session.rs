//! Flow 2: console and billing-center login, and SSO from a commercial workspace into the
//! billing center. Every password check, here and in registration and upgrade binds, goes
//! through [`check_password`], which takes the attempt before argon2 runs.

use super::Deps;
use crate::crypto::password;
use crate::crypto::token::Principal;
use crate::error::{Error, Result};
use crate::model::{BillingAccount, Edition, Session, User};
use crate::ports::{AttemptGrant, Throttle};
use crate::rules::fields::{self, normalise_login, Problems};
use crate::sites;
use serde::Deserialize;

/// Five failed checks for one key within fifteen minutes; the next attempt gets `429`.
pub const THROTTLE: Throttle = Throttle { max_failures: 5, window: chrono::Duration::minutes(15) };

#[derive(Debug, Deserialize)]
pub struct ConsoleLogin {
    pub site: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct BillingLogin {
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SsoRequest {
    pub workspace_id: Option<String>,
}

/// What a password check found.
pub(crate) enum Checked<T> {
    Verified(T),
    WrongPassword,
    NoSuchAccount,
}

/// The lock key of a billing account: usernames are unique regardless of case and never
/// change, so the lock follows the account however its name is typed.
pub(crate) fn billing_key(username: &str) -> String {
    format!("billing#{}", username.to_lowercase())
}

/// Takes an attempt on `key` (refusing a locked key before spending argon2 on it) while the
/// account is looked up, then checks the password. A wrong password keeps the attempt as a
/// failure; a right one clears the key. An unknown account costs the same argon2 time.
pub(crate) async fn check_password<T>(
    deps: &Deps,
    key: &str,
    lookup: impl std::future::Future<Output = Result<Option<T>>>,
    hash_of: fn(&T) -> &str,
    password: &str,
) -> Result<Checked<T>> {
    let now = deps.clock.now();
    let (grant, found) = futures::try_join!(deps.attempts.take(key, THROTTLE, now), lookup)?;
    if let AttemptGrant::Locked { until } = grant {
        return Err(Error::TooManyAttempts { retry_after_secs: (until - now).num_seconds().max(1) as u64 });
    }
    match found {
        Some(t) if password::verify(password, hash_of(&t)) => {
            deps.attempts.clear(key).await?;
            Ok(Checked::Verified(t))
        }
        Some(_) => Ok(Checked::WrongPassword),
        None => {
            password::verify_against_nothing(password);
            Ok(Checked::NoSuchAccount)
        }
    }
}

/// A billing account's password, wherever it is checked (login, registration and upgrade
/// binds): one lock per account.
pub(crate) async fn check_billing_password(
    deps: &Deps,
    username: &str,
    password: &str,
) -> Result<Checked<BillingAccount>> {
    if fields::billing_username(username).is_err() {
        // No account can have this name: nothing to look up or lock.
        password::verify_against_nothing(password);
        return Ok(Checked::NoSuchAccount);
    }
    let key = billing_key(username);
    check_password(deps, &key, deps.accounts.billing_account(username), |a: &BillingAccount| &a.password_hash, password)
        .await
}

pub async fn console_login(deps: &Deps, req: ConsoleLogin) -> Result<(Session, String)> {
    let mut p = Problems::default();
    let site = p.required("site", &req.site);
    let login = p.required("login", &req.login);
    let password = p.required("password", &req.password);
    p.finish()?;
    let (site, login, password) =
        (site.unwrap_or_default(), normalise_login(login.unwrap_or_default()), password.unwrap_or_default());
    sites::find(site).ok_or(Error::UnknownSite)?;
    if login.is_empty() || login.len() > fields::LOGIN_MAX {
        return Err(Error::InvalidCredentials); // no user can log in with it
    }
    // The lock belongs to the user, whichever of their logins is typed; a login that names
    // nobody is locked by the string itself, so unknown logins are throttled alike.
    let found = deps.accounts.user_by_login(site, &login).await?;
    let key = match &found {
        Some(u) => format!("console#user#{}", u.id),
        None => format!("console#{site}#{login}"),
    };
    match check_password(deps, &key, async { Ok(found) }, |u: &User| &u.password_hash, password).await? {
        Checked::Verified(user) => {
            Ok((deps.session(Principal::Console { user_id: user.id.clone(), site: user.site }).await?, user.id))
        }
        _ => Err(Error::InvalidCredentials),
    }
}

pub async fn billing_login(deps: &Deps, req: BillingLogin) -> Result<Session> {
    let mut p = Problems::default();
    let username = p.required("username", &req.username);
    let password = p.required("password", &req.password);
    p.finish()?;
    match check_billing_password(deps, username.unwrap_or_default(), password.unwrap_or_default()).await? {
        Checked::Verified(account) => deps.session(Principal::Billing { username: account.username }).await,
        _ => Err(Error::InvalidCredentials),
    }
}

/// 进入费用中心: the owner of a commercial workspace gets a billing token without a password.
pub async fn sso(deps: &Deps, caller: &Principal, req: SsoRequest) -> Result<Session> {
    let Principal::Console { user_id, .. } = caller else {
        return Err(Error::Forbidden);
    };
    let mut p = Problems::default();
    let workspace_id = p.required("workspace_id", &req.workspace_id);
    p.finish()?;
    let ws = super::workspace_if(deps, workspace_id.unwrap_or_default())
        .await?
        .filter(|w| &w.owner_id == user_id)
        .ok_or(Error::WorkspaceNotFound)?;
    match (ws.edition, ws.billing_account) {
        (Edition::Commercial, Some(username)) => deps.session(Principal::Billing { username }).await,
        _ => Err(Error::WorkspaceNotCommercial),
    }
}
