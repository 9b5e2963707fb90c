//! Flow 2: console and billing-center login, with failed-attempt throttling, and SSO from
//! a commercial workspace into the billing center.

use super::Deps;
use crate::crypto::password;
use crate::crypto::token::Principal;
use crate::error::{Error, Result};
use crate::model::{BillingAccount, Edition, Session, User};
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

/// Reads the login's failure count and looks it up at once (one round trip of latency),
/// refuses a locked-out login before spending argon2 on it, and counts a wrong password.
/// An unknown login costs the same argon2 time as a wrong password and gets the same answer.
async fn authenticate<T>(
    deps: &Deps,
    key: &str,
    lookup: impl std::future::Future<Output = Result<Option<T>>>,
    hash_of: fn(&T) -> &str,
    password: &str,
) -> Result<T> {
    let now = deps.clock.now();
    let ((failures, window_ends), found) = futures::try_join!(deps.attempts.failures(key, now), lookup)?;
    if failures >= MAX_FAILURES {
        let retry_after_secs = window_ends.map(|t| (t - now).num_seconds().max(1) as u64).unwrap_or(60);
        return Err(Error::TooManyAttempts { retry_after_secs });
    }
    match found {
        Some(t) if password::verify(password, hash_of(&t)) => {
            if failures > 0 {
                deps.attempts.clear(key).await?;
            }
            Ok(t)
        }
        other => {
            if other.is_none() {
                password::verify_against_nothing(password);
            }
            deps.attempts.record_failure(key, now).await?;
            Err(Error::InvalidCredentials)
        }
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
    let user =
        authenticate(deps, &key, deps.accounts.user_by_login(site, &login), |u: &User| &u.password_hash, password)
            .await?;
    Ok((deps.session(Principal::Console { user_id: user.id.clone(), site: user.site }), user.id))
}

pub async fn billing_login(deps: &Deps, req: BillingLogin) -> Result<Session> {
    let mut p = Problems::default();
    let username = p.required("username", &req.username);
    let password = p.required("password", &req.password);
    p.finish()?;
    let (username, password) = (username.unwrap_or_default(), password.unwrap_or_default());
    let key = format!("billing#{}", username.to_lowercase());
    let account = authenticate(
        deps,
        &key,
        deps.accounts.billing_account(username),
        |a: &BillingAccount| &a.password_hash,
        password,
    )
    .await?;
    Ok(deps.session(Principal::Billing { username: account.username }))
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
