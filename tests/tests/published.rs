//! The marketplaces as they publish their protocols (issue 16): their documented sample
//! messages (tests/fixtures/marketplaces, each README naming the page) through the real
//! handlers, and the calls a strict marketplace would refuse, against the emulator that refuses
//! what the pages refuse.

use billing_domain::model::{CloudAccount, CloudStatus, Settlement};
use billing_domain::rules::usage::hour_start;
use billing_tests::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

fn fixture(path: &str) -> String {
    let p = format!("{}/fixtures/marketplaces/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn aws_account_id() -> String {
    format!("{:012}", ulid::Ulid::new().random() % 1_000_000_000_000)
}

/// An SNS envelope of a documented subscription message, as SQS hands it over.
fn sns(message: &str, at: DateTime<Utc>) -> Value {
    json!({"Type": "Notification", "MessageId": unique(), "TopicArn": "arn:aws:sns:us-east-1:123456789012:aws-mp-subscription-notification-x",
           "Message": message, "Timestamp": at.to_rfc3339()})
}

async fn failures(w: &marketplace_webhook::Webhook, bodies: &[Value]) -> Value {
    deliver_sqs(w, sqs_bodies(bodies)).await["batchItemFailures"].clone()
}

/// The buyer lands with `token` and registers a commercial us1 workspace settled by the
/// subscription the landing names; the request and the registration's answer.
async fn registered_by_landing(w: &marketplace_webhook::Webhook, token: &str) -> (Value, Value) {
    let r = marketplace_webhook::handle_http(w, landing_request(token), None).await;
    let claim = r.headers()["location"].to_str().unwrap().split("aws_subscription=").nth(1).unwrap().to_string();
    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.app, &req).await;
    (req, reg)
}

#[tokio::test]
async fn every_documented_eventbridge_and_sns_sample_is_acknowledged_not_failed_into_the_dead_letter_queue() {
    let w = webhook(Harness::isolated().await);
    let dir = format!("{}/fixtures/marketplaces/aws/eventbridge", env!("CARGO_MANIFEST_DIR"));
    let mut events: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        .collect();
    assert!(events.len() >= 10, "the documented samples are there");
    let now = Utc::now();
    for m in
        ["subscribe-success", "unsubscribe-pending", "unsubscribe-success", "subscribe-fail", "entitlement-updated"]
    {
        events.push(sns(&fixture(&format!("aws/sns/{m}.derived.json")), now));
    }
    // An EventBridge event that reached the queue through SNS is read as what it is.
    events.push(sns(&fixture("aws/eventbridge/license-updated-manufacturer.json"), now));
    assert_eq!(failures(&w, &events).await, json!([]));
    // The documented licence sample's ARN has no `arn:`; the account keeps it as BatchMeterUsage takes it.
    let id = CloudAccount::aws_license_id(
        "845735284135",
        "aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x",
    );
    let a = w.app.deps.marketplace.cloud_account(&id).await.unwrap().unwrap();
    assert_eq!(
        a.license_arn.as_deref(),
        Some("arn:aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x")
    );
    // The documented template pads the customer identifier with a space; it is read trimmed.
    let legacy = CloudAccount::aws_id("X01EXAMPLEX", "n0123EXAMPLEXXXXXXXXXXXX");
    assert!(w.app.deps.marketplace.cloud_account(&legacy).await.unwrap().is_some());
}

#[tokio::test]
async fn a_licence_an_event_named_first_is_metered_under_the_arn_resolve_customer_returns() {
    let h = Harness::isolated().await;
    let start = hour_start(Utc::now()) - Duration::hours(3);
    h.clock.set(start + Duration::minutes(5));
    let clock = h.clock.clone();
    let w = webhook(h);
    // The documented License Updated sample (its ARN without `arn:`) before the buyer lands.
    assert_eq!(
        failures(&w, &[serde_json::from_str(&fixture("aws/eventbridge/license-updated-manufacturer.json")).unwrap()])
            .await,
        json!([])
    );
    let (acceptor, product) = ("845735284135", "aw4fgf5tyo5w2ap6fEXAMPLE");
    let resolved = format!("arn:aws:license-manager::{acceptor}:license:l-e52ca6f38bf84d0fafb8802ca15ac11x");
    let token = emulator::mint_token(&emulator::TokenSpec {
        license_arn: Some(&resolved),
        aws_account_id: acceptor,
        product_code: product,
        activated_at: Some(start - Duration::hours(1)),
        ..Default::default()
    })
    .await;
    let r = marketplace_webhook::handle_http(&w, landing_request(&token), None).await;
    assert_eq!(r.status(), 303);
    let claim = r.headers()["location"].to_str().unwrap().split("aws_subscription=").nth(1).unwrap().to_string();
    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.app, &req).await;
    let ws = reg["workspace"]["id"].as_str().unwrap();
    let (s, r) = report_usage(&w.app, &[usage_record(&format!("e-{ws}"), ws, "log_events", start, "7")]).await;
    assert_eq!((s, r["accepted"].as_u64()), (200, Some(1)), "{r}");
    let t = start + Duration::hours(1) + Duration::minutes(5);
    clock.set(t);
    emulator_clock(&resolved, t).await;
    let f = metering::run(&w.app.deps, None, None).await.unwrap();
    assert_eq!((f.reported, f.fell_back, f.pending), (1, 0, 0), "{f:?}");
    // The documented sample's licence is the same in every run: this run's records only.
    let ledger: Vec<Value> = emulator_ledger(&format!("acct:{acceptor}|{resolved}"))
        .await
        .into_iter()
        .filter(|r| r["timestamp"].as_i64() >= Some(start.timestamp()))
        .collect();
    assert_eq!(ledger.len(), 1, "sent under ResolveCustomer's ARN: {ledger:?}");
}

#[tokio::test]
async fn a_renewal_on_the_same_licence_is_no_cancellation_even_without_previous_agreement_id() {
    let w = webhook(Harness::isolated().await);
    let (acceptor, license, product) = (aws_account_id(), license_arn(), "prod-renew");
    let claim = land_license(&w, &acceptor, &license, product).await;
    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.app, &req).await;
    let ws = reg["workspace"]["id"].as_str().unwrap();
    let now = Utc::now();
    let (old, new) = (format!("agmt-{}", unique()), format!("agmt-{}", unique()));
    let lic = |agreement: &str, at| {
        agreement_event(
            "License Updated - Manufacturer",
            agreement,
            &acceptor,
            json!({"license": {"arn": license}, "product": {"code": product}}),
            at,
        )
    };
    // The renewal's Created event as documented, less `previousAgreementId`; the old agreement's
    // end as the documented Ended sample says it (`CANCELLED`).
    let mut renewal: Value =
        serde_json::from_str(&fixture("aws/eventbridge/purchase-agreement-created-proposer-renew.json")).unwrap();
    renewal["detail"]["agreement"].as_object_mut().unwrap().remove("previousAgreementId");
    renewal["detail"]["agreement"]["id"] = new.clone().into();
    renewal["detail"]["acceptor"]["accountId"] = acceptor.clone().into();
    renewal["time"] = (now + Duration::minutes(1)).to_rfc3339().into();
    let ended = agreement_event(
        "Purchase Agreement Ended - Proposer",
        &old,
        &acceptor,
        json!({"agreement": {"status": "CANCELLED"}}),
        now + Duration::minutes(3),
    );
    let events = [lic(&old, now), renewal, lic(&new, now + Duration::minutes(2)), ended];
    assert_eq!(failures(&w, &events).await, json!([]));
    let a = w
        .app
        .deps
        .marketplace
        .cloud_account(&CloudAccount::aws_license_id(&acceptor, &license))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.status, CloudStatus::Active, "the licence goes on under its renewal");
    assert!(matches!(settlement_of(&w.app, ws).await, Some(Settlement::Aws { .. })));
    assert!(cancellation_mail(req["email"].as_str().unwrap()).await.is_empty());
}

#[tokio::test]
async fn a_listing_integrated_before_licences_is_one_cloud_account_whichever_message_names_it() {
    let w = webhook(Harness::isolated().await);
    let (customer, acceptor, license, product) =
        (format!("cust{}", unique()), aws_account_id(), license_arn(), "prod-legacy");
    // ResolveCustomer of an older listing returns both identities.
    let token = emulator::mint_token(&emulator::TokenSpec {
        customer_identifier: Some(&customer),
        license_arn: Some(&license),
        aws_account_id: &acceptor,
        product_code: product,
        ..Default::default()
    })
    .await;
    let (req, reg) = registered_by_landing(&w, &token).await;
    let ws = reg["workspace"]["id"].as_str().unwrap();
    let now = Utc::now();
    // Its SNS messages name it by customer identifier: the same account.
    assert_eq!(
        failures(
            &w,
            &[sns(
                &json!({"action": "subscribe-success", "customer-identifier": customer, "product-code": product})
                    .to_string(),
                now
            )]
        )
        .await,
        json!([])
    );
    assert_eq!(
        failures(
            &w,
            &[sns(
                &json!({"action": "unsubscribe-success", "customer-identifier": customer, "product-code": product})
                    .to_string(),
                now + Duration::minutes(1)
            )]
        )
        .await,
        json!([])
    );
    assert_eq!(
        settlement_of(&w.app, ws).await,
        Some(Settlement::Enterprise),
        "the workspace it paid for switched back"
    );
    assert_eq!(cancellation_mail(req["email"].as_str().unwrap()).await.len(), 1);
}

#[tokio::test]
async fn a_call_refused_for_one_licence_is_split_and_only_that_customer_falls_back() {
    let h = Harness::isolated().await;
    let hour = hour_start(Utc::now()) - Duration::hours(2);
    h.clock.set(hour + Duration::minutes(5));
    let clock = h.clock.clone();
    let w = webhook(h);
    let product = format!("prod-{}", unique());
    let mut customers = Vec::new();
    for i in 0..5 {
        let (acceptor, license) = (aws_account_id(), license_arn());
        // The third licence was activated after the usage it is billed for: AWS refuses the
        // whole call ("usage is within the license activation period").
        let activated = if i == 2 { hour + Duration::minutes(50) } else { hour };
        let token = emulator::mint_token(&emulator::TokenSpec {
            license_arn: Some(&license),
            aws_account_id: &acceptor,
            product_code: &product,
            activated_at: Some(activated),
            ..Default::default()
        })
        .await;
        let (req, reg) = registered_by_landing(&w, &token).await;
        let ws = reg["workspace"]["id"].as_str().unwrap().to_string();
        let (s, r) = report_usage(&w.app, &[usage_record(&format!("s-{ws}"), &ws, "log_events", hour, "3")]).await;
        assert_eq!((s, r["accepted"].as_u64()), (200, Some(1)), "{r}");
        customers.push((acceptor, license, ws, req["email"].as_str().unwrap().to_string()));
    }
    let t = hour + Duration::hours(1) + Duration::minutes(5);
    clock.set(t);
    emulator_clock(&product, t).await;
    let f = metering::run(&w.app.deps, None, None).await.unwrap();
    assert_eq!((f.reported, f.fell_back), (4, 1), "{f:?}");
    for (i, (acceptor, license, ws, email)) in customers.iter().enumerate() {
        let ledger = emulator_ledger(&format!("acct:{acceptor}|{license}")).await;
        let settled = settlement_of(&w.app, ws).await;
        if i == 2 {
            assert!(ledger.is_empty());
            assert_eq!(settled, Some(Settlement::Enterprise), "the refused subscription ended");
        } else {
            assert_eq!(ledger.len(), 1, "customer {i}: {ledger:?}");
            assert!(matches!(settled, Some(Settlement::Aws { .. })), "customer {i} still paid by AWS");
            assert!(cancellation_mail(email).await.is_empty(), "no innocent customer is emailed");
        }
    }
}

#[tokio::test]
async fn the_documented_spi_requests_are_answered_in_the_shapes_api_md_fixes() {
    let w = webhook(Harness::isolated().await);
    let order = format!("9{}", ulid::Ulid::new().random() % 100_000_000_000_000_000);
    let uid = aliyun_uid();
    let params = |name: &str, extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let v: Value = serde_json::from_str(&fixture(&format!("aliyun/{name}"))).unwrap();
        let mut p: Vec<(String, String)> = v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        for (k, val) in extra {
            p.retain(|(pk, _)| pk != k);
            p.push((k.to_string(), val.to_string()));
        }
        p
    };
    let call = |p: Vec<(String, String)>| {
        let w = &w;
        async move {
            let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            spi(w, &refs).await
        }
    };
    for name in [
        "createInstance.table.derived.json",
        "createInstance.trial.derived.json",
        "createInstance.extra-items.derived.json",
    ] {
        let (s, r) = call(params(name, &[("aliUid", &uid), ("orderBizId", &order)])).await;
        assert_eq!((s, r["instanceId"].as_str()), (200, Some(order.as_str())), "{name}: {r}");
    }
    for name in [
        "renewInstance.example.json",
        "upgradeInstance.example.json",
        "upgradeInstance.table.derived.json",
        "refundRenewInstance.example.json",
        "expiredInstance.example.json",
        "releaseInstance.example.json",
        "releaseInstance.table.derived.json",
    ] {
        let (s, r) = call(params(name, &[("instanceId", &order)])).await;
        assert_eq!((s, r), (200, json!({"success": true})), "{name}");
    }
    let a = w.app.deps.marketplace.cloud_account(&CloudAccount::aliyun_id(&order)).await.unwrap().unwrap();
    assert_eq!(a.status, CloudStatus::Cancelled);
    let (s, r) = call(params("renewInstance.example.json", &[("instanceId", "no-such-instance")])).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("instance_not_found")));
}
