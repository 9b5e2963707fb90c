//! Data written straight through the store ports, as the real flows write it, for tests that
//! need many accounts or workspaces at once.

use crate::*;
use billing_domain::model::{CloudAccount, Edition, User, Workspace};
use billing_domain::ports::{CloudBinding, RegistrationWrite};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};

/// A user and a commercial workspace of `billing` settled by `cloud`, as a registration
/// writes them; `bind` also registers the account on the billing account, as a real binding does.
pub fn settled_registration(
    billing: &str,
    cloud: &CloudAccount,
    name: String,
    language: billing_domain::model::Language,
    password_hash: String,
    bind: bool,
) -> RegistrationWrite {
    let now = Utc::now();
    let u = unique();
    let user = User {
        id: format!("usr_{u}"),
        site: "cn1".into(),
        username: "seed".into(),
        email: format!("{u}@seed.example"),
        phone: unique_phone(),
        password_hash,
        created_at: now,
    };
    let workspace = Workspace {
        id: format!("ws_{u}"),
        name,
        language,
        site: "cn1".into(),
        edition: Edition::Commercial,
        owner_id: user.id.clone(),
        billing_account: Some(billing.to_string()),
        settlement: Some(cloud.settlement()),
        settlement_since: Some(now),
        last_settlement_change: None,
        version: 1,
        created_at: now,
    };
    let cloud = bind.then(|| CloudBinding { account: cloud.clone(), claim: None });
    let history = billing_domain::model::SettlementChange::of(
        &Workspace { settlement: None, ..workspace.clone() },
        &workspace,
        billing_domain::model::ChangeCause::Registration,
        format!("user:{}", user.id),
    );
    RegistrationWrite { user, workspace, billing: None, cloud, emails: vec![], history }
}

/// Writes `n` commercial workspaces of `billing` settled by `cloud`, through the store port.
pub async fn seed_workspaces(
    deps: &billing_domain::service::Deps,
    billing: &str,
    cloud: &CloudAccount,
    n: usize,
    language: billing_domain::model::Language,
) -> Vec<String> {
    let hash = billing_domain::crypto::password::hash("seeded-pass1");
    stream::iter(0..n)
        .map(|i| {
            let write = settled_registration(billing, cloud, format!("seeded {i}"), language, hash.clone(), i == 0);
            async move {
                deps.accounts.commit_registration(&write).await.unwrap();
                write.workspace.id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Writes `n` commercial workspaces of `billing` settled by enterprise since the start of the
/// month (as a commercial registration writes them, history included); returns their ids.
pub async fn seed_enterprise_workspaces(deps: &billing_domain::service::Deps, billing: &str, n: usize) -> Vec<String> {
    let hash = billing_domain::crypto::password::hash("seeded-pass1");
    let enterprise = CloudAccount {
        id: String::new(),
        platform: billing_domain::model::Platform::Aliyun,
        account_id: String::new(),
        instance_id: None,
        customer_identifier: None,
        product_code: None,
        license_arn: None,
        status: billing_domain::model::CloudStatus::Active,
        last_event_at: Utc::now(),
        cancelled_at: None,
        refused_at: None,
        opened_at: None,
        order: None,
        freezes: Vec::new(),
    };
    stream::iter(0..n)
        .map(|i| {
            let mut write = settled_registration(
                billing,
                &enterprise,
                format!("ws {i:03}"),
                billing_domain::model::Language::En,
                hash.clone(),
                false,
            );
            // Registered at the start of the month, as the workspaces of a month's bill are.
            let since = billing_domain::rules::usage::month_start(Utc::now());
            write.workspace.settlement = Some(billing_domain::model::Settlement::Enterprise);
            write.workspace.settlement_since = Some(since);
            write.workspace.created_at = since;
            write.workspace.site = "us1".into();
            write.user.site = "us1".into();
            if let Some(h) = write.history.as_mut() {
                h.to = billing_domain::model::Settlement::Enterprise;
                h.at = since;
            }
            async move {
                deps.accounts.commit_registration(&write).await.unwrap();
                write.workspace.id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Writes `n` billing accounts, each with one cn1 workspace settled by enterprise, registered
/// at `at` (as a commercial registration writes them, history included); returns
/// `(billing username, workspace id)` of each.
pub async fn seed_billing_accounts(
    deps: &billing_domain::service::Deps,
    n: usize,
    at: DateTime<Utc>,
) -> Vec<(String, String)> {
    use billing_domain::model::{BillingAccount, ChangeCause, Settlement, SettlementChange};
    use billing_domain::ports::BillingWrite;
    let hash = billing_domain::crypto::password::hash("seeded-pass1");
    let run = unique();
    stream::iter(0..n)
        .map(|i| {
            let u = format!("seed{run}-{i}");
            let user = User {
                id: format!("usr_{u}"),
                site: "cn1".into(),
                username: u.clone(),
                email: format!("{u}@seed.example"),
                phone: unique_phone(),
                password_hash: hash.clone(),
                created_at: at,
            };
            let workspace = Workspace {
                id: format!("ws_{u}"),
                name: format!("ws {i}"),
                language: if i % 2 == 0 {
                    billing_domain::model::Language::Zh
                } else {
                    billing_domain::model::Language::En
                },
                site: "cn1".into(),
                edition: Edition::Commercial,
                owner_id: user.id.clone(),
                billing_account: Some(u.clone()),
                settlement: Some(Settlement::Enterprise),
                settlement_since: Some(at),
                last_settlement_change: None,
                version: 1,
                created_at: at,
            };
            let account = BillingAccount {
                username: u.clone(),
                email: user.email.clone(),
                password_hash: hash.clone(),
                company: None,
                free_choice: false,
                created_at: at,
            };
            let history = SettlementChange::of(
                &Workspace { settlement: None, ..workspace.clone() },
                &workspace,
                ChangeCause::Registration,
                format!("user:{}", user.id),
            );
            let write = RegistrationWrite {
                user,
                workspace,
                billing: Some(BillingWrite::Create(account)),
                cloud: None,
                emails: vec![],
                history,
            };
            async move {
                deps.accounts.commit_registration(&write).await.unwrap();
                (u, write.workspace.id)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}
