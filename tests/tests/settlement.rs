//! Settlement changes (flows 5 and 6) through the real handlers and DynamoDB Local: the
//! options offered, the rules and locks, the monthly limit, the billing account's views, and one
//! conditional write per change under concurrency.

use billing_tests::*;
use serde_json::{json, Value};

async fn fresh_billing_token(w: &marketplace_webhook::Webhook, reg: &Value) -> String {
    let body = json!({"username": reg["billing_account"]["username"], "password": "s3cret-pass"});
    let (s, b) = parts(login::handle(&w.app, request("POST", "/v1/billing/sessions", Some(&body), None)).await);
    assert_eq!(s, 200, "{b}");
    b["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn settlement_rules_lock_monthly_limit_errors_and_admin() {
    let w = webhook(Harness::new().await);
    let uid = aliyun_uid();
    let (i1, i2) = (open_instance(&w, &uid).await, open_instance(&w, &uid).await);
    let reg = registered(&w.app, &commercial_registration("cn1")).await;
    let (ws, tok, owner) = (reg["workspace"]["id"].clone(), token(&reg, "billing_session"), token(&reg, "session"));

    let (s, o) = options(&w, &ws, &owner).await;
    assert_eq!(s, 200);
    assert_eq!(
        o["options"],
        json!([{"method": "aliyun", "recommended": false, "current": false}, {"method": "enterprise", "recommended": false, "current": true}])
    );
    assert_eq!(o["next_change_at"], Value::Null);

    // Cloud-account errors.
    let ali = |uid: &str, inst: &str| json!({"method": "aliyun", "account_id": uid, "instance_id": inst});
    assert_eq!(settle(&w, &ws, ali(&uid, "missing"), &tok).await.1["code"], "cloud_account_not_found");
    assert_eq!(settle(&w, &ws, ali(&aliyun_uid(), &i1), &tok).await.1["code"], "cloud_account_mismatch");
    assert_eq!(
        settle(&w, &ws, json!({"method": "aws", "subscription": "x"}), &tok).await.1["code"],
        "settlement_not_allowed"
    );

    // First change, then the monthly limit.
    let (s, r) = settle(&w, &ws, ali(&uid, &i1), &tok).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = settle(&w, &ws, ali(&uid, &i2), &tok).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("cloud_account_locked")));
    let (s, r) = settle(&w, &ws, json!({"method": "enterprise"}), &tok).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("settlement_change_limit")));
    assert!(r["detail"].as_str().unwrap().contains("next change allowed"));
    let (_, o) = options(&w, &ws, &tok).await;
    assert!(o["next_change_at"].is_string());

    // Next month (UTC): allowed again.
    let now = w.app.deps.clock.now();
    let next = chrono::DateTime::parse_from_rfc3339(o["next_change_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let h2 = Harness::new().await;
    h2.clock.set(next);
    assert!(next > now);
    let w2 = webhook(h2);
    let tok = fresh_billing_token(&w2, &reg).await; // a month later, the old token has expired
    let (s, r) = settle(&w2, &ws, json!({"method": "enterprise"}), &tok).await;
    assert_eq!(s, 200, "{r}");

    // A closed instance cannot be bound.
    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &i2)]).await.0, 200);
    let h3 = Harness::new().await;
    h3.clock.set(next + chrono::Duration::days(40));
    let w3 = webhook(h3);
    let tok = fresh_billing_token(&w3, &reg).await;
    assert_eq!(settle(&w3, &ws, ali(&uid, &i2), &tok).await.1["code"], "cloud_account_not_active");

    // Anyone else: not found; a free workspace: not commercial.
    let stranger = registered(&w.app, &commercial_registration("cn1")).await;
    assert_eq!(options(&w, &ws, &token(&stranger, "billing_session")).await.1["code"], "workspace_not_found");
    let free = registered(&w.app, &free_registration("cn1")).await;
    assert_eq!(
        options(&w, &free["workspace"]["id"], &token(&free, "session")).await.1["code"],
        "workspace_not_commercial"
    );

    // Admin: IAM only.
    let username = reg["billing_account"]["username"].as_str().unwrap();
    assert_eq!(parts(admin::handle(&w.app, admin_request(username, true, false)).await).0, 403);
    let (s, b) = parts(admin::handle(&w.app, admin_request(username, true, true)).await);
    assert_eq!((s, b), (200, json!({"username": username, "free_choice": true})));
    let (s, b) = parts(admin::handle(&w.app, admin_request("nobody-here", true, true)).await);
    assert_eq!((s, b["code"].as_str()), (404, Some("billing_account_not_found")));
}

#[tokio::test]
async fn a_billing_account_lists_workspaces_on_three_sites() {
    let w = webhook(Harness::new().await);
    let first = commercial_registration("cn1");
    let a = registered(&w.app, &first).await;
    let bind = json!({"mode": "bind", "username": first["username"], "password": "s3cret-pass"});
    for site in ["us1", "cn4"] {
        let mut r = commercial_registration(site);
        r["billing_account"] = bind.clone();
        registered(&w.app, &r).await;
    }
    let (s, b) = parts(
        change_settlement::handle(
            &w.app,
            request("GET", "/v1/billing/workspaces", None, Some(&token(&a, "billing_session"))),
        )
        .await,
    );
    assert_eq!(s, 200);
    let mut sites: Vec<&str> =
        b["workspaces"].as_array().unwrap().iter().map(|w| w["site"].as_str().unwrap()).collect();
    sites.sort();
    assert_eq!(sites, ["cn1", "cn4", "us1"]);
    let (s, _) = parts(
        change_settlement::handle(&w.app, request("GET", "/v1/billing/workspaces", None, Some(&token(&a, "session"))))
            .await,
    );
    assert_eq!(s, 403, "a console token is not a billing token");
}

/// The real store, holding each settlement commit until both concurrent requests have read
/// the workspace: the race the version condition must settle, made certain to happen.
struct BothReadFirst {
    inner: std::sync::Arc<dyn billing_domain::ports::AccountStore>,
    barrier: tokio::sync::Barrier,
}

#[async_trait::async_trait]
impl billing_domain::ports::AccountStore for BothReadFirst {
    async fn user(&self, id: &str) -> billing_domain::Result<Option<billing_domain::model::User>> {
        self.inner.user(id).await
    }
    async fn user_by_login(
        &self,
        site: &str,
        login: &str,
    ) -> billing_domain::Result<Option<billing_domain::model::User>> {
        self.inner.user_by_login(site, login).await
    }
    async fn billing_account(&self, u: &str) -> billing_domain::Result<Option<billing_domain::model::BillingAccount>> {
        self.inner.billing_account(u).await
    }
    async fn workspace(&self, id: &str) -> billing_domain::Result<Option<billing_domain::model::Workspace>> {
        self.inner.workspace(id).await
    }
    async fn workspaces(&self, ids: &[String]) -> billing_domain::Result<Vec<billing_domain::model::Workspace>> {
        self.inner.workspaces(ids).await
    }
    async fn settlement_history(
        &self,
        id: &str,
    ) -> billing_domain::Result<Vec<billing_domain::model::SettlementChange>> {
        self.inner.settlement_history(id).await
    }
    async fn workspaces_of_billing_account(
        &self,
        u: &str,
    ) -> billing_domain::Result<Vec<billing_domain::model::Workspace>> {
        self.inner.workspaces_of_billing_account(u).await
    }
    async fn registered_cloud_accounts(
        &self,
        u: &str,
    ) -> billing_domain::Result<Vec<billing_domain::model::CloudAccount>> {
        self.inner.registered_cloud_accounts(u).await
    }
    async fn commit_registration(&self, w: &billing_domain::ports::RegistrationWrite) -> billing_domain::Result<()> {
        self.inner.commit_registration(w).await
    }
    async fn commit_upgrade(&self, w: &billing_domain::ports::UpgradeWrite) -> billing_domain::Result<()> {
        self.inner.commit_upgrade(w).await
    }
    async fn commit_settlement(&self, w: &billing_domain::ports::SettlementWrite) -> billing_domain::Result<()> {
        self.barrier.wait().await;
        self.inner.commit_settlement(w).await
    }
    async fn set_free_choice(
        &self,
        u: &str,
        on: bool,
    ) -> billing_domain::Result<Option<billing_domain::model::BillingAccount>> {
        self.inner.set_free_choice(u, on).await
    }
}

#[tokio::test]
async fn two_concurrent_changes_give_one_200_and_one_409_conflict_never_a_lost_update() {
    let mut h = Harness::new().await;
    let real = h.app.deps.accounts.clone();
    h.app.deps.accounts = std::sync::Arc::new(BothReadFirst { inner: real, barrier: tokio::sync::Barrier::new(2) });
    let w = webhook(h);
    let uid = aliyun_uid();
    let (i1, i2) = (open_instance(&w, &uid).await, open_instance(&w, &uid).await);
    let reg = registered(&w.app, &commercial_registration("cn1")).await;
    let (ws, tok) = (reg["workspace"]["id"].clone(), token(&reg, "billing_session"));
    let (ra, rb) = futures::join!(
        settle(&w, &ws, json!({"method": "aliyun", "account_id": uid, "instance_id": i1}), &tok),
        settle(&w, &ws, json!({"method": "aliyun", "account_id": uid, "instance_id": i2}), &tok)
    );
    let mut outcomes = vec![(ra.0, ra.1["code"].clone()), (rb.0, rb.1["code"].clone())];
    outcomes.sort_by_key(|o| o.0);
    assert_eq!(outcomes, vec![(200, Value::Null), (409, json!("conflict"))], "{ra:?} {rb:?}");
    let winner = if ra.0 == 200 { &ra.1 } else { &rb.1 };
    let stored = workspace(&w, &ws).await;
    assert_eq!(stored.version, 2, "exactly one change was written");
    assert_eq!(
        stored.settlement.and_then(|s| s.cloud_account_id()),
        Some(format!("aliyun-{}", winner["workspace"]["settlement"]["instance_id"].as_str().unwrap())),
        "the stored settlement is the winner's"
    );
}

#[tokio::test]
async fn changing_a_free_or_foreign_workspace_is_refused() {
    let w = webhook(Harness::new().await);
    let free = registered(&w.app, &free_registration("cn1")).await;
    let (s, b) = settle(&w, &free["workspace"]["id"], json!({"method": "enterprise"}), &token(&free, "session")).await;
    assert_eq!((s, b["code"].as_str()), (409, Some("workspace_not_commercial")));
    let mine = registered(&w.app, &commercial_registration("cn1")).await;
    let stranger = registered(&w.app, &commercial_registration("cn1")).await;
    for tok in [token(&stranger, "session"), token(&stranger, "billing_session")] {
        let (s, b) = settle(&w, &mine["workspace"]["id"], json!({"method": "enterprise"}), &tok).await;
        assert_eq!((s, b["code"].as_str()), (404, Some("workspace_not_found")));
    }
    let (s, b) = settle(&w, &mine["workspace"]["id"], json!({"method": "enterprise"}), "forged").await;
    assert_eq!((s, b["code"].as_str()), (401, Some("unauthenticated")));
    let (s, b) = settle(&w, &mine["workspace"]["id"], json!({"method": "aliyun"}), &token(&mine, "session")).await;
    assert_eq!((s, b["code"].as_str()), (422, Some("invalid_field")));
    // The owner's console token works as well as the billing token.
    let (s, b) = settle(&w, &mine["workspace"]["id"], json!({"method": "enterprise"}), &token(&mine, "session")).await;
    assert_eq!((s, b["workspace"]["settlement"]["method"].as_str()), (200, Some("enterprise")));
}

#[tokio::test]
async fn the_registration_choice_the_upgrade_and_the_automatic_switch_do_not_count_against_the_monthly_limit() {
    let w = webhook(Harness::new().await);
    let uid = aliyun_uid();
    let (i1, i2) = (open_instance(&w, &uid).await, open_instance(&w, &uid).await);
    let mut req = commercial_registration("cn1");
    req["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": i1});
    let reg = registered(&w.app, &req).await;
    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &i1)]).await.0, 200);
    let (_, o) = options(&w, &reg["workspace"]["id"], &token(&reg, "billing_session")).await;
    assert_eq!(o["next_change_at"], Value::Null, "{o}");
    let (s, b) = settle(
        &w,
        &reg["workspace"]["id"],
        json!({"method": "aliyun", "account_id": uid, "instance_id": i2}),
        &token(&reg, "billing_session"),
    )
    .await;
    assert_eq!(s, 200, "{b}");

    let free = registered(&w.app, &free_registration("cn1")).await;
    let body = json!({"billing_account": {"mode": "create", "username": format!("up{}", unique()),
                      "password": "billing-pass1", "email": "up@example.com"}, "accept_agreement": true});
    let path = format!("/v1/workspaces/{}/upgrade", free["workspace"]["id"].as_str().unwrap());
    let (s, up) =
        parts(upgrade::handle(&w.app, request("POST", &path, Some(&body), Some(&token(&free, "session")))).await);
    assert_eq!(s, 200, "{up}");
    let (s, b) = settle(
        &w,
        &free["workspace"]["id"],
        json!({"method": "aliyun", "account_id": uid, "instance_id": i2}),
        &token(&up, "billing_session"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn a_settlement_change_is_one_conditional_write_on_the_workspace_version() {
    let w = webhook(Harness::new().await);
    let reg = registered(&w.app, &commercial_registration("cn1")).await;
    let read = workspace(&w, &reg["workspace"]["id"]).await;
    let next = billing_domain::model::Workspace { version: read.version + 1, ..read.clone() };
    let write = |ws: billing_domain::model::Workspace| billing_domain::ports::SettlementWrite {
        history: billing_domain::model::SettlementChange {
            at: chrono::Utc::now(),
            from: None,
            to: billing_domain::model::Settlement::Enterprise,
            cause: billing_domain::model::ChangeCause::Change,
            actor: "test".into(),
        },
        workspace: ws,
        cloud: None,
    };
    let (wa, wb) = (write(next.clone()), write(next.clone()));
    let (a, b) = futures::join!(w.app.deps.accounts.commit_settlement(&wa), w.app.deps.accounts.commit_settlement(&wb));
    let mut outcomes = vec![a.is_ok(), b.is_ok()];
    outcomes.sort();
    assert_eq!(outcomes, vec![false, true]);
    assert!([a, b].contains(&Err(billing_domain::Error::Conflict)));
    assert_eq!(
        w.app.deps.accounts.commit_settlement(&write(next)).await,
        Err(billing_domain::Error::Conflict),
        "a stale version never overwrites"
    );
}
