//! Settlement: which options a workspace is offered (the four scenarios of the seed) and
//! whether a change is allowed (lock while a cloud account pays, one change per UTC month).

use crate::error::Error;
use crate::model::{CloudAccount, Platform, Settlement};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The method a client asks for on `PUT .../settlement`, before its details are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Registered,
    Aliyun,
    Aws,
    Huawei,
    Enterprise,
}

impl Method {
    fn of_platform(p: Platform) -> Option<Method> {
        match p {
            Platform::Aliyun => Some(Method::Aliyun),
            Platform::Aws => Some(Method::Aws),
            Platform::Huawei => Some(Method::Huawei),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementOption {
    pub method: Method,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_account_id: Option<String>,
    pub recommended: bool,
    /// True for the option that describes the current settlement.
    pub current: bool,
}

impl SettlementOption {
    fn new(method: Method, current: bool) -> Self {
        Self { method, cloud_account_id: None, recommended: false, current }
    }
}

/// The four scenarios (domain.md, flow 4). `registered` are the billing account's active
/// registered cloud accounts; R is "any of them", F is `free_choice`, P is `site_platform`.
///
/// | R | F | offered |
/// |---|---|---|
/// | yes | no | registered accounts on P (recommended), a new account on P, enterprise |
/// | yes | yes | all registered accounts (recommended), a new account on any platform, enterprise |
/// | no | yes | a new account on any platform, enterprise |
/// | no | no | a new account on P, enterprise |
pub fn options(
    registered: &[CloudAccount],
    free_choice: bool,
    site_platform: Platform,
    current: &Settlement,
) -> Vec<SettlementOption> {
    let current_account = current.cloud_account_id();
    let mut out: Vec<SettlementOption> = registered
        .iter()
        .filter(|a| a.is_active() && (free_choice || a.platform == site_platform))
        .map(|a| SettlementOption {
            method: Method::Registered,
            cloud_account_id: Some(a.id.clone()),
            recommended: true,
            current: current_account.as_deref() == Some(a.id.as_str()),
        })
        .collect();
    let platforms: Vec<Platform> = if free_choice { Platform::SETTLING.to_vec() } else { vec![site_platform] };
    out.extend(platforms.into_iter().filter_map(Method::of_platform).map(|m| SettlementOption::new(m, false)));
    out.push(SettlementOption::new(Method::Enterprise, *current == Settlement::Enterprise));
    out
}

/// "The method is checked against the offered options before its details are looked at."
pub fn check_offered(
    offered: &[SettlementOption],
    method: Method,
    cloud_account_id: Option<&str>,
) -> Result<(), Error> {
    let ok = offered.iter().any(|o| {
        o.method == method && (method != Method::Registered || o.cloud_account_id.as_deref() == cloud_account_id)
    });
    if ok {
        Ok(())
    } else {
        Err(Error::SettlementNotAllowed)
    }
}

/// What a requested change amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The target is the current settlement: nothing to write, nothing counted.
    Unchanged,
    /// A real change, counted against this month's allowance.
    Apply,
}

/// A workspace on an active cloud account cannot move to another cloud account; it can
/// always go back to enterprise. One change per workspace per calendar month (UTC).
pub fn decide_change(
    current: &Settlement,
    current_account_active: bool,
    target: &Settlement,
    last_change: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Change, Error> {
    if current == target {
        return Ok(Change::Unchanged);
    }
    if current.platform().is_some() && current_account_active && target.platform().is_some() {
        return Err(Error::CloudAccountLocked);
    }
    if let Some(next) = next_change_at(last_change, now) {
        return Err(Error::SettlementChangeLimit { next });
    }
    Ok(Change::Apply)
}

/// When the next change is allowed, or `None` if one is allowed now.
pub fn next_change_at(last_change: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let last = last_change?;
    let same_month = last.year() == now.year() && last.month() == now.month();
    same_month.then(|| start_of_next_month(last))
}

fn start_of_next_month(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().expect("the first of a month exists")
}

#[cfg(test)]
mod tests;
