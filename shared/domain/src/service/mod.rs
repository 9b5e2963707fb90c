//! One function per operation: load through ports → decide with `rules` → commit → effects.

pub mod agreements;
pub mod aliyun;
pub mod aws;
pub mod billing;
pub mod cancellation;
pub mod cloud;
pub mod issuing;
pub mod koogallery;
pub mod metering;
pub mod outbox;
pub mod register;
pub mod session;
pub mod settlement;
pub mod subscription;
pub mod upgrade;
pub mod usage;

use crate::crypto::token::{Principal, Verdict};
use crate::model::Session;
use crate::ports::{
    AccountStore, AttemptStore, BillStore, CancellationStore, Clock, CustomerResolver, Mailer, MarketMeter,
    MarketplaceStore, MeteringStore, OrderQuery, OutboxStore, TokenKeyring, UsageStore,
};
use crate::rules::exporters::SiteExporters;
use std::sync::Arc;

/// The ports an operation may use, built once per process (in `main`) and shared by every
/// invocation.
#[derive(Clone)]
pub struct Deps {
    pub accounts: Arc<dyn AccountStore>,
    pub attempts: Arc<dyn AttemptStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub marketplace: Arc<dyn MarketplaceStore>,
    pub cancellations: Arc<dyn CancellationStore>,
    pub usage: Arc<dyn UsageStore>,
    pub bills: Arc<dyn BillStore>,
    pub metering: Arc<dyn MeteringStore>,
    pub meters: Meters,
    pub mailer: Arc<dyn Mailer>,
    pub resolver: Arc<dyn CustomerResolver>,
    /// KooGallery's order query: who bought an instance.
    pub orders: Arc<dyn OrderQuery>,
    pub clock: Arc<dyn Clock>,
    pub tokens: Arc<dyn TokenKeyring>,
    /// Which IAM roles report usage for which site (configuration, flow 8).
    pub exporters: Arc<SiteExporters>,
}

/// The marketplaces' usage reporting, one adapter each.
#[derive(Clone)]
pub struct Meters {
    pub aws: Arc<dyn MarketMeter>,
    pub aliyun: Arc<dyn MarketMeter>,
    pub huawei: Arc<dyn MarketMeter>,
}

impl Meters {
    pub fn of(&self, platform: crate::model::Platform) -> &dyn MarketMeter {
        match platform {
            crate::model::Platform::Aws => &*self.aws,
            crate::model::Platform::Aliyun => &*self.aliyun,
            crate::model::Platform::Huawei => &*self.huawei,
        }
    }
}

impl Deps {
    /// A token for `principal`, signed with the current key.
    pub async fn session(&self, principal: Principal) -> crate::Result<Session> {
        let (token, expires_at) = self.tokens.keys().await?.issue(principal, self.clock.now());
        Ok(Session { token, expires_at })
    }

    /// Who a bearer token acts as. A token signed by a key the keys in force do not hold is
    /// checked once more against keys read again: they may have rotated since they were read.
    pub async fn principal(&self, token: &str) -> crate::Result<Principal> {
        let now = self.clock.now();
        let verdict = match self.tokens.keys().await?.verify(token, now) {
            Verdict::UnknownKey => self.tokens.reload().await?.verify(token, now),
            v => v,
        };
        match verdict {
            Verdict::Valid(p) => Ok(p),
            Verdict::UnknownKey | Verdict::Invalid => Err(crate::Error::Unauthenticated),
        }
    }
}

/// Who may manage a workspace's settlement and read its history: its owner (console token)
/// or the billing account that settles it (billing token).
pub(crate) fn may_manage(caller: &Principal, ws: &crate::model::Workspace) -> bool {
    match caller {
        Principal::Console { user_id, .. } => &ws.owner_id == user_id,
        Principal::Billing { username } => {
            ws.billing_account.as_deref().is_some_and(|b| b.eq_ignore_ascii_case(username))
        }
    }
}

/// The workspace `id` names, if any. An id the service could never have handed out (too
/// long, not visible ASCII) names nothing and is not looked up.
pub(crate) async fn workspace_if(deps: &Deps, id: &str) -> crate::Result<Option<crate::model::Workspace>> {
    if !crate::rules::fields::is_id(id) {
        return Ok(None);
    }
    deps.accounts.workspace(id).await
}

pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}
