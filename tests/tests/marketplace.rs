//! Marketplace webhook, settlement changes and cancellation through the real handlers,
//! DynamoDB Local, moto and the Marketplace emulator.

use billing_tests::*;
use serde_json::{json, Value};

async fn settle(h: &marketplace_webhook::Webhook, ws: &Value, body: Value, tok: &str) -> (u16, Value) {
    parts(
        change_settlement::handle(
            &h.app,
            request("PUT", &format!("/v1/workspaces/{}/settlement", ws.as_str().unwrap()), Some(&body), Some(tok)),
        )
        .await,
    )
}

async fn options(h: &marketplace_webhook::Webhook, ws: &Value, tok: &str) -> (u16, Value) {
    parts(
        change_settlement::handle(
            &h.app,
            request("GET", &format!("/v1/workspaces/{}/settlement-options", ws.as_str().unwrap()), None, Some(tok)),
        )
        .await,
    )
}

async fn workspace(w: &marketplace_webhook::Webhook, id: &Value) -> billing_domain::model::Workspace {
    w.app.deps.accounts.workspace(id.as_str().unwrap()).await.unwrap().unwrap()
}

async fn fresh_billing_token(w: &marketplace_webhook::Webhook, reg: &Value) -> String {
    let body = json!({"username": reg["billing_account"]["username"], "password": "s3cret-pass"});
    let (s, b) = parts(login::handle(&w.app, request("POST", "/v1/billing/sessions", Some(&body), None)).await);
    assert_eq!(s, 200, "{b}");
    b["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn spi_actions_signature_replay_and_unknowns() {
    let w = webhook(Harness::new().await);
    let uid = aliyun_uid();
    // Unsigned and wrongly signed calls change nothing.
    let order = format!("order{}", unique());
    let unsigned = format!("/v1/marketplace/aliyun?action=createInstance&aliUid={uid}&orderBizId={order}");
    let (s, b) = parts(marketplace_webhook::handle_http(&w, raw("GET", &unsigned, "", &[]), None).await);
    assert_eq!((s, b), (403, json!({"success": false, "code": "invalid_token"})));
    let forged = format!("{unsigned}&token=00000000000000000000000000000000");
    assert_eq!(parts(marketplace_webhook::handle_http(&w, raw("GET", &forged, "", &[]), None).await).0, 403);
    assert!(w.app.deps.marketplace.cloud_account(&format!("aliyun-{order}")).await.unwrap().is_none());

    let instance = open_instance(&w, &uid).await;
    // Replayed createInstance: the same answer, one instance.
    let again = spi(&w, &[("action", "createInstance"), ("aliUid", &uid), ("orderBizId", &instance)]).await;
    assert_eq!(again, (200, json!({"instanceId": instance})));
    for action in ["renewInstance", "upgradeInstance"] {
        assert_eq!(spi(&w, &[("action", action), ("instanceId", &instance)]).await, (200, json!({"success": true})));
    }
    assert_eq!(spi(&w, &[("action", "renewInstance"), ("instanceId", "nope")]).await.1["code"], "instance_not_found");
    assert_eq!(
        spi(&w, &[("action", "eatInstance"), ("instanceId", &instance)]).await,
        (400, json!({"success": false, "code": "unknown_action"}))
    );
    let account = w.app.deps.marketplace.cloud_account(&format!("aliyun-{instance}")).await.unwrap().unwrap();
    assert_eq!(
        (account.account_id.as_str(), account.status),
        (uid.as_str(), billing_domain::model::CloudStatus::Active)
    );
    for action in ["expiredInstance", "releaseInstance"] {
        let other = open_instance(&w, &uid).await;
        assert_eq!(spi(&w, &[("action", action), ("instanceId", &other)]).await, (200, json!({"success": true})));
        let closed = w.app.deps.marketplace.cloud_account(&format!("aliyun-{other}")).await.unwrap().unwrap();
        assert_eq!(closed.status, billing_domain::model::CloudStatus::Cancelled, "{action}");
    }
}

#[tokio::test]
async fn seed_story_release_switches_every_workspace_on_every_site_and_emails_each_billing_account_once() {
    let w = webhook(Harness::new().await);
    let uid = aliyun_uid();
    let instance = open_instance(&w, &uid).await;

    // 1. Commercial registration on cn1 with the Alibaba instance.
    let mut first = commercial_registration("cn1");
    first["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
    let a = registered(&w.app, &first).await;
    assert_eq!(a["workspace"]["settlement"]["method"], "aliyun");
    let billing_a = token(&a, "billing_session");

    // 2. A second workspace of that billing account, bound by a settlement change.
    let mut second = commercial_registration("cn6");
    second["billing_account"] = json!({"mode": "bind", "username": first["username"], "password": "s3cret-pass"});
    let b = registered(&w.app, &second).await;
    let (s, opts) = options(&w, &b["workspace"]["id"], &billing_a).await;
    assert_eq!(s, 200, "{opts}");
    assert_eq!(
        opts["options"][0],
        json!({"method": "registered", "cloud_account_id": format!("aliyun-{instance}"), "recommended": true, "current": false})
    );
    let (s, r) = settle(
        &w,
        &b["workspace"]["id"],
        json!({"method": "registered", "cloud_account_id": format!("aliyun-{instance}")}),
        &billing_a,
    )
    .await;
    assert_eq!(s, 200, "{r}");

    // 3. A workspace of another billing account on an AWS site, bound with free choice on.
    let third_req = commercial_registration("us1");
    let c = registered(&w.app, &third_req).await;
    let billing_c = token(&c, "billing_session");
    let (s, r) = settle(
        &w,
        &c["workspace"]["id"],
        json!({"method": "aliyun", "account_id": uid, "instance_id": instance}),
        &billing_c,
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (422, Some("settlement_not_allowed")));
    let (s, _) = parts(admin::handle(&w.app, admin_request(third_req["username"].as_str().unwrap(), true, true)).await);
    assert_eq!(s, 200);
    let (s, r) = settle(
        &w,
        &c["workspace"]["id"],
        json!({"method": "aliyun", "account_id": uid, "instance_id": instance}),
        &billing_c,
    )
    .await;
    assert_eq!(s, 200, "{r}");

    // Release the instance.
    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &instance)]).await.0, 200);
    for reg in [&a, &b, &c] {
        let ws = workspace(&w, &reg["workspace"]["id"]).await;
        assert_eq!(ws.settlement, Some(billing_domain::model::Settlement::Enterprise), "{}", ws.id);
    }
    let (_, accounts) = parts(
        change_settlement::handle(&w.app, request("GET", "/v1/billing/cloud-accounts", None, Some(&billing_a))).await,
    );
    assert_eq!(accounts["cloud_accounts"], json!([]), "no longer registered");
    let cancel_a = cancellation_mail(first["email"].as_str().unwrap()).await;
    assert_eq!(cancel_a.len(), 1, "{cancel_a:?}");
    assert!(cancel_a[0]["subject"].as_str().unwrap().contains("结算方式变更"), "in the workspaces' language (zh)");
    let body = cancel_a[0]["body"].as_str().unwrap();
    assert!(
        body.contains(first["workspace"]["name"].as_str().unwrap())
            && body.contains(second["workspace"]["name"].as_str().unwrap())
    );
    assert_eq!(cancellation_mail(third_req["email"].as_str().unwrap()).await.len(), 1);

    // A redelivered release changes nothing and sends nothing.
    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &instance)]).await.0, 200);
    assert_eq!(cancellation_mail(first["email"].as_str().unwrap()).await.len(), 1);
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
async fn aws_landing_with_valid_unknown_and_expired_tokens_and_registration_by_claim() {
    let w = webhook(Harness::new().await);
    let mint = |ttl: u64| async move {
        let customer = format!("cust{}", unique());
        (mint_marketplace_token(&customer, "111122223333", "prod-billing", ttl).await, customer)
    };
    let (tok, customer) = mint(3600).await;
    let r = marketplace_webhook::handle_http(&w, landing_request(&tok), None).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let claim = location.split("aws_subscription=").nth(1).unwrap().to_string();
    let (s, b) = parts(marketplace_webhook::handle_http(&w, landing_request("emu-unknown"), None).await);
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_marketplace_token")));
    let (expired, _) = mint(0).await;
    assert_eq!(
        parts(marketplace_webhook::handle_http(&w, landing_request(&expired), None).await).1["code"],
        "invalid_marketplace_token"
    );

    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.app, &req).await;
    assert_eq!(reg["workspace"]["settlement"]["customer_identifier"], customer.as_str());
    assert_eq!(reg["workspace"]["settlement"]["aws_account_id"], "111122223333");
    // The claim is spent.
    let mut again = commercial_registration("us1");
    again["settlement"] = json!({"method": "aws", "subscription": claim});
    assert_eq!(
        parts(register::handle(&w.app, request("POST", "/v1/registrations", Some(&again), None)).await).1["code"],
        "cloud_account_not_found"
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
async fn aws_settlement_by_claim_then_unsubscribe_switches_it_back_and_emails_once() {
    let w = webhook(Harness::new().await);
    let mut req = commercial_registration("eu1");
    req["workspace"]["language"] = "en".into();
    let reg = registered(&w.app, &req).await;
    let customer = format!("cust{}", unique());
    let claim = land(&w, &customer, "111122223333", "prod").await;
    let (s, b) =
        settle(&w, &reg["workspace"]["id"], json!({"method": "aws", "subscription": claim}), &token(&reg, "session"))
            .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["workspace"]["settlement"]["customer_identifier"], customer.as_str());

    let now = chrono::Utc::now();
    let ok = deliver_sqs(&w, sqs_event(&[("subscribe-success", &customer, "prod", now)])).await;
    assert_eq!(ok["batchItemFailures"], json!([]));
    let done = sqs_event(&[("unsubscribe-success", &customer, "prod", now + chrono::Duration::seconds(1))]);
    deliver_sqs(&w, done.clone()).await;
    deliver_sqs(&w, done).await; // delivered twice
    assert_eq!(
        settlement_of(&w.app, reg["workspace"]["id"].as_str().unwrap()).await,
        Some(billing_domain::model::Settlement::Enterprise)
    );
    let mail = cancellation_mail(req["email"].as_str().unwrap()).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0]["subject"].as_str().unwrap().starts_with("Settlement changed"), "English workspace, English email");
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
async fn a_notification_before_the_landing_is_kept_and_the_landing_fills_in_the_account() {
    let w = webhook(Harness::new().await);
    let customer = format!("early{}", unique());
    deliver_sqs(&w, sqs_event(&[("subscribe-success", &customer, "prod", chrono::Utc::now())])).await;
    let claim = land(&w, &customer, "444455556666", "prod").await;
    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.app, &req).await;
    assert_eq!(reg["workspace"]["settlement"]["aws_account_id"], "444455556666");
    let account = w.app.deps.marketplace.cloud_account(&format!("aws-{customer}-prod")).await.unwrap().unwrap();
    assert_eq!(
        account.status,
        billing_domain::model::CloudStatus::Active,
        "the landing does not undo the notification"
    );
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
