//! Flow 2: console and billing-center login, with failed-attempt throttling, and SSO from
//! a commercial workspace into the billing center.

use super::Deps;
use crate::crypto::password;
use crate::crypto::token::Principal;
use crate::error::{Error, Result};
use crate::model::{Edition, Session};
use crate::rules::fields::{normalise_login, Problems};
use crate::sites;
use serde::Deserialize;

/// Failures allowed for one login within [`WINDOW_MINUTES`]; the next attempt gets `429`.
pub const MAX_FAILURES: u32 = 5;
pub const WINDOW_MINUTES: i64 = 15;

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

/// Runs the password check unless the login is locked out; records a failure when it says no.
async fn throttled(deps: &Deps, key: &str, password_ok: impl std::future::Future<Output = Result<bool>>) -> Result<()> {
    let now = deps.clock.now();
    let (failures, window_ends) = deps.attempts.failures(key, now).await?;
    if failures >= MAX_FAILURES {
        let retry_after_secs = window_ends.map(|t| (t - now).num_seconds().max(1) as u64).unwrap_or(60);
        return Err(Error::TooManyAttempts { retry_after_secs });
    }
    if password_ok.await? {
        if failures > 0 {
            deps.attempts.clear(key).await?;
        }
        Ok(())
    } else {
        deps.attempts.record_failure(key, now).await?;
        Err(Error::InvalidCredentials)
    }
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
    let key = format!("console#{site}#{login}");
    let mut user_id = None;
    throttled(deps, &key, async {
        Ok(match deps.accounts.user_by_login(site, &login).await? {
            Some(user) if password::verify(password, &user.password_hash) => {
                user_id = Some((user.id, user.site));
                true
            }
            Some(_) => false,
            None => {
                password::verify_against_nothing(password);
                false
            }
        })
    })
    .await?;
    let (user_id, site) = user_id.ok_or_else(|| Error::internal("login succeeded without a user"))?;
    Ok((deps.session(Principal::Console { user_id: user_id.clone(), site }), user_id))
}

pub async fn billing_login(deps: &Deps, req: BillingLogin) -> Result<Session> {
    let mut p = Problems::default();
    let username = p.required("username", &req.username);
    let password = p.required("password", &req.password);
    p.finish()?;
    let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());
    let key = format!("billing#{}", username.to_lowercase());
    let mut found = None;
    throttled(deps, &key, async {
        Ok(match deps.accounts.billing_account(username).await? {
            Some(account) if password::verify(password, &account.password_hash) => {
                found = Some(account.username);
                true
            }
            Some(_) => false,
            None => {
                password::verify_against_nothing(password);
                false
            }
        })
    })
    .await?;
    let username = found.ok_or_else(|| Error::internal("login succeeded without an account"))?;
    Ok(deps.session(Principal::Billing { username }))
}

/// 进入费用中心: the owner of a commercial workspace gets a billing token without a password.
pub async fn sso(deps: &Deps, caller: &Principal, req: SsoRequest) -> Result<Session> {
    let Principal::Console { user_id, .. } = caller else {
        return Err(Error::Forbidden);
    };
    let mut p = Problems::default();
    let workspace_id = p.required("workspace_id", &req.workspace_id);
    p.finish()?;
    let ws = deps
        .accounts
        .workspace(workspace_id.unwrap_or_default())
        .await?
        .filter(|w| &w.owner_id == user_id)
        .ok_or(Error::WorkspaceNotFound)?;
    match (ws.edition, ws.billing_account) {
        (Edition::Commercial, Some(username)) => Ok(deps.session(Principal::Billing { username })),
        _ => Err(Error::WorkspaceNotCommercial),
    }
}
