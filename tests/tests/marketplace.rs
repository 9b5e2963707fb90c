//! Marketplace webhook and cancellation through the real handlers,
//! DynamoDB Local, moto and the Marketplace emulator.

use billing_tests::*;
use serde_json::json;

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
