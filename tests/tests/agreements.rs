//! AWS Marketplace as it is today (issue 10): licences as cloud accounts, the landing in the
//! new ResolveCustomer shape, EventBridge agreement events through the SQS handler, renewals,
//! concurrent agreements, and records written before licences. Real handlers, DynamoDB
//! Local, moto and the Marketplace emulator.

use aws_sdk_dynamodb::types::AttributeValue;
use billing_domain::model::{CloudAccount, CloudStatus, Settlement};
use billing_tests::*;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

const PRODUCT: &str = "prod-eb-7c1";

fn aws_account_id() -> String {
    format!("{:012}", ulid::Ulid::new().random() % 1_000_000_000_000)
}

fn created(agreement: &str, acceptor: &str, intent: &str, previous: Option<&str>, at: chrono::DateTime<Utc>) -> Value {
    let mut a = json!({"intent": intent, "status": "ACTIVE"});
    if let Some(p) = previous {
        a["previousAgreementId"] = p.into();
    }
    agreement_event("Purchase Agreement Created - Proposer", agreement, acceptor, json!({"agreement": a}), at)
}

fn licence(kind: &str, agreement: &str, acceptor: &str, license: &str, at: chrono::DateTime<Utc>) -> Value {
    let detail = json!({"license": {"arn": license}, "product": {"code": PRODUCT, "id": "prod-x"}});
    agreement_event(&format!("License {kind} - Manufacturer"), agreement, acceptor, detail, at)
}

fn ended(agreement: &str, acceptor: &str, status: &str, at: chrono::DateTime<Utc>) -> Value {
    agreement_event(
        "Purchase Agreement Ended - Proposer",
        agreement,
        acceptor,
        json!({"agreement": {"status": status}}),
        at,
    )
}

async fn deliver(w: &marketplace_webhook::Webhook, bodies: &[Value]) {
    let r = deliver_sqs(w, sqs_bodies(bodies)).await;
    assert_eq!(r["batchItemFailures"], json!([]), "{r}");
}

async fn account(w: &marketplace_webhook::Webhook, acceptor: &str, license: &str) -> CloudAccount {
    w.app.deps.marketplace.cloud_account(&CloudAccount::aws_license_id(acceptor, license)).await.unwrap().unwrap()
}

/// A commercial registration on us1 settled by the licence the buyer landed with.
async fn register_on_licence(w: &marketplace_webhook::Webhook, acceptor: &str, license: &str) -> (Value, Value) {
    let claim = land_license(w, acceptor, license, PRODUCT).await;
    let mut req = commercial_registration("us1");
    req["workspace"]["language"] = "en".into();
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.app, &req).await;
    (req, reg)
}

#[tokio::test]
async fn a_new_style_customer_from_landing_to_registration_to_cancellation_by_agreement_ended() {
    let w = webhook(Harness::new().await);
    let agmt_a1 = format!("agmt-{}", unique());
    let (acceptor, license) = (aws_account_id(), license_arn());
    let (req, reg) = register_on_licence(&w, &acceptor, &license).await;
    let settlement = &reg["workspace"]["settlement"];
    assert_eq!(settlement["method"], "aws");
    assert_eq!(
        (settlement["aws_account_id"].as_str(), settlement["license_arn"].as_str()),
        (Some(acceptor.as_str()), Some(license.as_str()))
    );
    assert_eq!(settlement["product_code"], PRODUCT);
    assert!(settlement.get("customer_identifier").is_none(), "AWS no longer fills it: {settlement}");

    let (_, listed) = call!(
        change_settlement::handle,
        w,
        "GET",
        "/v1/billing/cloud-accounts",
        None,
        Some(&token(&reg, "billing_session"))
    );
    let ca = &listed["cloud_accounts"][0];
    assert_eq!(ca["id"], CloudAccount::aws_license_id(&acceptor, &license));
    assert_eq!(
        (ca["aws_account_id"].as_str(), ca["license_arn"].as_str()),
        (Some(acceptor.as_str()), Some(license.as_str()))
    );
    assert_eq!((ca["status"].as_str(), ca["workspaces"].clone()), (Some("pending"), json!([reg["workspace"]["id"]])));

    let t0 = Utc::now();
    deliver(
        &w,
        &[created(&agmt_a1, &acceptor, "NEW", None, t0), licence("Updated", &agmt_a1, &acceptor, &license, t0)],
    )
    .await;
    assert_eq!(account(&w, &acceptor, &license).await.status, CloudStatus::Active);

    let end = ended(&agmt_a1, &acceptor, "CANCELLED", t0 + Duration::minutes(5));
    deliver(&w, std::slice::from_ref(&end)).await;
    deliver(&w, &[end]).await; // delivered twice
    assert_eq!(account(&w, &acceptor, &license).await.status, CloudStatus::Cancelled);
    assert_eq!(settlement_of(&w.app, reg["workspace"]["id"].as_str().unwrap()).await, Some(Settlement::Enterprise));
    let mail = cancellation_mail(req["email"].as_str().unwrap()).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0]["body"].as_str().unwrap().contains(req["workspace"]["name"].as_str().unwrap()));
}

#[tokio::test]
async fn a_renewal_in_either_order_cancels_nothing_and_sends_no_email() {
    let w = webhook(Harness::new().await);
    let agmt_x1 = format!("agmt-{}", unique());
    let agmt_x2 = format!("agmt-{}", unique());
    let t0 = Utc::now();
    for (order, ended_first) in [("ended first", true), ("created first", false)] {
        let (acceptor, license) = (aws_account_id(), license_arn());
        let (req, reg) = register_on_licence(&w, &acceptor, &license).await;
        let (old, new) = (format!("agmt-{}", unique()), format!("agmt-{}", unique()));
        deliver(&w, &[created(&old, &acceptor, "NEW", None, t0), licence("Updated", &old, &acceptor, &license, t0)])
            .await;
        let renewal_end = ended(&old, &acceptor, "RENEWED", t0 + Duration::days(1));
        let renewal = created(&new, &acceptor, "RENEW", Some(&old), t0 + Duration::days(1));
        let events = if ended_first { vec![renewal_end, renewal] } else { vec![renewal, renewal_end] };
        for e in &events {
            deliver(&w, std::slice::from_ref(e)).await;
        }
        deliver(&w, &[licence("Updated", &new, &acceptor, &license, t0 + Duration::days(1))]).await;
        assert_eq!(account(&w, &acceptor, &license).await.status, CloudStatus::Active, "{order}");
        let ws = reg["workspace"]["id"].as_str().unwrap();
        assert!(matches!(settlement_of(&w.app, ws).await, Some(Settlement::Aws { .. })), "{order}");
        assert!(cancellation_mail(req["email"].as_str().unwrap()).await.is_empty(), "{order}");
    }

    // An old agreement that AWS reports as expired after its renewal was created is superseded.
    let (acceptor, license) = (aws_account_id(), license_arn());
    let (req, reg) = register_on_licence(&w, &acceptor, &license).await;
    deliver(&w, &[licence("Updated", &agmt_x1, &acceptor, &license, t0)]).await;
    deliver(&w, &[created(&agmt_x2, &acceptor, "REPLACE", Some(&agmt_x1), t0 + Duration::hours(1))]).await;
    deliver(&w, &[ended(&agmt_x1, &acceptor, "EXPIRED", t0 + Duration::hours(2))]).await;
    assert!(matches!(
        settlement_of(&w.app, reg["workspace"]["id"].as_str().unwrap()).await,
        Some(Settlement::Aws { .. })
    ));
    assert!(cancellation_mail(req["email"].as_str().unwrap()).await.is_empty());
}

#[tokio::test]
async fn two_concurrent_agreements_of_one_aws_account_are_two_cloud_accounts() {
    let w = webhook(Harness::new().await);
    let agmt_c1 = format!("agmt-{}", unique());
    let agmt_c2 = format!("agmt-{}", unique());
    let acceptor = aws_account_id();
    let (l1, l2) = (license_arn(), license_arn());
    let (req1, reg1) = register_on_licence(&w, &acceptor, &l1).await;
    let (req2, reg2) = register_on_licence(&w, &acceptor, &l2).await;
    assert_ne!(CloudAccount::aws_license_id(&acceptor, &l1), CloudAccount::aws_license_id(&acceptor, &l2));
    let t0 = Utc::now();
    deliver(
        &w,
        &[
            created(&agmt_c1, &acceptor, "NEW", None, t0),
            created(&agmt_c2, &acceptor, "NEW", None, t0),
            licence("Updated", &agmt_c1, &acceptor, &l1, t0),
            licence("Updated", &agmt_c2, &acceptor, &l2, t0),
        ],
    )
    .await;
    deliver(&w, &[ended(&agmt_c1, &acceptor, "CANCELLED", t0 + Duration::hours(1))]).await;
    assert_eq!(account(&w, &acceptor, &l1).await.status, CloudStatus::Cancelled);
    assert_eq!(account(&w, &acceptor, &l2).await.status, CloudStatus::Active);
    assert_eq!(settlement_of(&w.app, reg1["workspace"]["id"].as_str().unwrap()).await, Some(Settlement::Enterprise));
    match settlement_of(&w.app, reg2["workspace"]["id"].as_str().unwrap()).await {
        Some(Settlement::Aws { license_arn, .. }) => assert_eq!(license_arn.as_deref(), Some(l2.as_str())),
        other => panic!("the other agreement's workspace moved: {other:?}"),
    }
    assert_eq!(cancellation_mail(req1["email"].as_str().unwrap()).await.len(), 1);
    assert!(cancellation_mail(req2["email"].as_str().unwrap()).await.is_empty());
}

#[tokio::test]
async fn agreement_events_duplicated_and_reversed_end_in_the_newest_state() {
    let w = webhook(Harness::new().await);
    let agmt_r1 = format!("agmt-{}", unique());
    let agmt_r2 = format!("agmt-{}", unique());
    let agmt_r3 = format!("agmt-{}", unique());
    let agmt_r4 = format!("agmt-{}", unique());
    let t0 = Utc::now();
    let at = |s: i64| t0 + Duration::seconds(s);

    // Created, licence, end: reversed and duplicated in one batch, then again one by one.
    let (acceptor, license) = (aws_account_id(), license_arn());
    let (req, reg) = register_on_licence(&w, &acceptor, &license).await;
    let seq = [
        created(&agmt_r1, &acceptor, "NEW", None, at(0)),
        licence("Updated", &agmt_r1, &acceptor, &license, at(1)),
        ended(&agmt_r1, &acceptor, "TERMINATED", at(9)),
    ];
    let mut reversed: Vec<Value> = seq.iter().rev().cloned().collect();
    reversed.extend(seq.iter().rev().cloned());
    deliver(&w, &reversed).await;
    for e in &seq {
        deliver(&w, std::slice::from_ref(e)).await;
    }
    assert_eq!(
        account(&w, &acceptor, &license).await.status,
        CloudStatus::Cancelled,
        "a late Created does not revive it"
    );
    assert_eq!(settlement_of(&w.app, reg["workspace"]["id"].as_str().unwrap()).await, Some(Settlement::Enterprise));
    assert_eq!(cancellation_mail(req["email"].as_str().unwrap()).await.len(), 1, "one email whatever the order");

    // Licence before agreement, each twice: active.
    let (acceptor, license) = (aws_account_id(), license_arn());
    let up = licence("Updated", &agmt_r2, &acceptor, &license, at(1));
    deliver(&w, &[up.clone(), up, created(&agmt_r2, &acceptor, "NEW", None, at(0))]).await;
    assert_eq!(account(&w, &acceptor, &license).await.status, CloudStatus::Active);

    // A deprovisioned licence can pay no more: it is cancelled.
    let (acceptor, license) = (aws_account_id(), license_arn());
    let (_, reg) = register_on_licence(&w, &acceptor, &license).await;
    deliver(&w, &[licence("Updated", &agmt_r3, &acceptor, &license, at(0))]).await;
    deliver(&w, &[licence("Deprovisioned", &agmt_r3, &acceptor, &license, at(5))]).await;
    assert_eq!(account(&w, &acceptor, &license).await.status, CloudStatus::Cancelled);
    assert_eq!(settlement_of(&w.app, reg["workspace"]["id"].as_str().unwrap()).await, Some(Settlement::Enterprise));

    // One batch mixing both paths and a broken record: only the broken one is retried.
    let customer = format!("old{}", unique());
    let sns = sqs_event(&[("subscribe-success", &customer, "prod", at(0))]);
    let mut mixed = sqs_bodies(&[
        created(&agmt_r4, &aws_account_id(), "NEW", None, at(0)),
        agreement_event("Purchase Agreement Ending - Proposer", &agmt_r4, "1", json!({}), at(0)),
    ]);
    let records = mixed["Records"].as_array_mut().unwrap();
    records.push(sns["Records"][0].clone());
    records.push(json!({"messageId": "broken", "eventSource": "aws:sqs", "body": json!({"detail-type": "License Updated - Manufacturer", "detail": {}}).to_string()}));
    let r = deliver_sqs(&w, mixed).await;
    assert_eq!(r["batchItemFailures"], json!([{"itemIdentifier": "broken"}]));
    let old = w.app.deps.marketplace.cloud_account(&CloudAccount::aws_id(&customer, "prod")).await.unwrap().unwrap();
    assert_eq!(old.status, CloudStatus::Active, "the SNS record of the same batch was applied");
}

#[tokio::test]
async fn records_written_before_licences_keep_working() {
    let w = webhook(Harness::new().await);
    let client = aws_sdk_dynamodb::Client::new(&billing_adapters::config::sdk_config().await);
    let table = std::env::var("TABLE_NAME").unwrap();
    let (customer, claim) = (format!("legacy{}", unique()), unique());
    let s = |v: &str| AttributeValue::S(v.to_string());
    let put = |fields: Vec<(&str, AttributeValue)>| {
        let item = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        client.put_item().table_name(&table).set_item(Some(item)).send()
    };
    // A cloud account and a landing claim exactly as the code before licences wrote them.
    let id = format!("aws-{customer}-legacy-prod");
    put(vec![
        ("pk", s(&format!("CLOUD#{id}"))),
        ("sk", s("CLOUD")),
        ("id", s(&id)),
        ("platform", s("aws")),
        ("account_id", s("999988887777")),
        ("customer_identifier", s(&customer)),
        ("product_code", s("legacy-prod")),
        ("status", s("pending")),
        ("last_event_at", s("1970-01-01T00:00:00Z")),
    ])
    .await
    .unwrap();
    let ttl = AttributeValue::N((Utc::now().timestamp() + 3600).to_string());
    put(vec![
        ("pk", s(&format!("CLAIM#{claim}"))),
        ("sk", s("CLAIM")),
        ("customer_identifier", s(&customer)),
        ("aws_account_id", s("999988887777")),
        ("product_code", s("legacy-prod")),
        ("ttl", ttl),
    ])
    .await
    .unwrap();

    let mut req = commercial_registration("us1");
    req["settlement"] = json!({"method": "aws", "subscription": claim});
    let reg = registered(&w.app, &req).await;
    assert_eq!(reg["workspace"]["settlement"]["customer_identifier"], customer.as_str());
    assert!(reg["workspace"]["settlement"].get("license_arn").is_none());
    let (_, listed) = call!(
        change_settlement::handle,
        w,
        "GET",
        "/v1/billing/cloud-accounts",
        None,
        Some(&token(&reg, "billing_session"))
    );
    assert_eq!(listed["cloud_accounts"][0]["id"], id.as_str());
    assert_eq!(listed["cloud_accounts"][0]["customer_identifier"], customer.as_str());

    // The SNS path still runs its lifecycle, to the cancellation.
    let now = Utc::now();
    deliver_sqs(&w, sqs_event(&[("subscribe-success", &customer, "legacy-prod", now)])).await;
    deliver_sqs(&w, sqs_event(&[("unsubscribe-success", &customer, "legacy-prod", now + Duration::seconds(1))])).await;
    assert_eq!(settlement_of(&w.app, reg["workspace"]["id"].as_str().unwrap()).await, Some(Settlement::Enterprise));
    assert_eq!(cancellation_mail(req["email"].as_str().unwrap()).await.len(), 1);
}
