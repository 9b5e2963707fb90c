//! AWS notifications in any order, cancellation at scale, and a cancellation that dies half way.

use async_trait::async_trait;
use billing_domain::email::EmailIntent;
use billing_domain::model::{CloudAccount, CloudStatus, Settlement, Workspace};
use billing_domain::ports::{CancellationStore, SwitchedWorkspace};
use billing_tests::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

async fn status(w: &marketplace_webhook::Webhook, customer: &str) -> CloudStatus {
    w.app.deps.marketplace.cloud_account(&CloudAccount::aws_id(customer, "prod")).await.unwrap().unwrap().status
}

#[tokio::test]
async fn aws_notifications_in_order_reversed_and_duplicated_end_in_the_newest_state() {
    let w = webhook(Harness::new().await);
    let t0 = Utc::now();
    let seq = ["subscribe-success", "unsubscribe-pending", "unsubscribe-success"];
    let at = |i: usize| t0 + Duration::seconds(i as i64);

    let c = format!("in-order-{}", unique());
    for (i, a) in seq.iter().enumerate() {
        let r = deliver_sqs(&w, sqs_event(&[(a, &c, "prod", at(i))])).await;
        assert_eq!(r["batchItemFailures"], json!([]));
        let expect = if i < 2 { CloudStatus::Active } else { CloudStatus::Cancelled };
        assert_eq!(status(&w, &c).await, expect, "after {a}");
    }

    let c = format!("reversed-{}", unique());
    for (i, a) in seq.iter().enumerate().rev() {
        deliver_sqs(&w, sqs_event(&[(a, &c, "prod", at(i))])).await;
    }
    assert_eq!(status(&w, &c).await, CloudStatus::Cancelled, "a late subscribe-success does not revive it");

    let c = format!("duplicated-{}", unique());
    let twice: Vec<_> = seq[..1].iter().chain(seq[..1].iter()).map(|a| (*a, c.as_str(), "prod", at(0))).collect();
    deliver_sqs(&w, sqs_event(&twice)).await;
    assert_eq!(status(&w, &c).await, CloudStatus::Active);
    let fail =
        deliver_sqs(&w, sqs_event(&[("subscribe-fail", &c, "prod", at(5)), ("subscribe-fail", &c, "prod", at(5))]))
            .await;
    assert_eq!(fail["batchItemFailures"], json!([]));
    assert_eq!(status(&w, &c).await, CloudStatus::Cancelled);

    // A record that can never be read is reported, and only it.
    let mut bad = sqs_event(&[("subscribe-success", "ok-cust", "prod", at(0))]);
    bad["Records"]
        .as_array_mut()
        .unwrap()
        .push(json!({"messageId": "broken", "eventSource": "aws:sqs", "body": "{not json"}));
    let r = deliver_sqs(&w, bad).await;
    assert_eq!(r["batchItemFailures"], json!([{"itemIdentifier": "broken"}]));
}

#[tokio::test]
async fn one_thousand_workspaces_on_one_cloud_account_are_all_switched() {
    let w = webhook(Harness::new().await);
    let uid = aliyun_uid();
    let inst = open_instance(&w, &uid).await;
    let owner = commercial_registration("cn1");
    registered(&w.app, &owner).await;
    let cloud = w.app.deps.marketplace.cloud_account(&format!("aliyun-{inst}")).await.unwrap().unwrap();
    let ids = seed_workspaces(
        &w.app.deps,
        owner["username"].as_str().unwrap(),
        &cloud,
        1000,
        billing_domain::model::Language::En,
    )
    .await;

    let started = std::time::Instant::now();
    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &inst)]).await.0, 200);
    let took = started.elapsed();
    println!(
        "cancellation of {} workspaces: {:.2} s ({:.0} workspaces/s)",
        ids.len(),
        took.as_secs_f64(),
        ids.len() as f64 / took.as_secs_f64()
    );
    for id in ids.iter().step_by(97) {
        assert_eq!(settlement_of(&w.app, id).await, Some(Settlement::Enterprise));
    }
    assert!(w.app.deps.cancellations.settled_by(&cloud.id, 10).await.unwrap().is_empty());
    let mail = cancellation_mail(owner["email"].as_str().unwrap()).await;
    assert_eq!(mail.len(), 1);
    let body = mail[0]["body"].as_str().unwrap();
    assert!(body.contains("and 900 more"), "one email names the first 100 and counts the rest");
}

/// The real store, failing once after switching part of a page: the process "dies half way".
struct DiesHalfWay {
    inner: Arc<billing_adapters::DynamoStore>,
    died: AtomicBool,
}

#[async_trait]
impl CancellationStore for DiesHalfWay {
    async fn settled_by(&self, c: &str, limit: usize) -> billing_domain::Result<Vec<Workspace>> {
        self.inner.settled_by(c, limit).await
    }
    async fn switch_to_enterprise(
        &self,
        run: &str,
        c: &str,
        ws: &[Workspace],
        cause: billing_domain::model::ChangeCause,
        actor: &str,
        now: DateTime<Utc>,
    ) -> billing_domain::Result<()> {
        if !self.died.swap(true, Ordering::SeqCst) {
            self.inner.switch_to_enterprise(run, c, &ws[..ws.len() / 2], cause, actor, now).await?;
            return Err(billing_domain::Error::internal("injected: process died"));
        }
        self.inner.switch_to_enterprise(run, c, ws, cause, actor, now).await
    }
    async fn switched_page(
        &self,
        run: &str,
        after: Option<String>,
        limit: usize,
    ) -> billing_domain::Result<(Vec<SwitchedWorkspace>, Option<String>)> {
        self.inner.switched_page(run, after, limit).await
    }
    async fn registrations(&self, c: &str) -> billing_domain::Result<Vec<String>> {
        self.inner.registrations(c).await
    }
    async fn finish_billing_account(&self, c: &str, u: &str, e: Option<&EmailIntent>) -> billing_domain::Result<()> {
        self.inner.finish_billing_account(c, u, e).await
    }
    async fn mark_done(&self, run: &str, now: DateTime<Utc>) -> billing_domain::Result<()> {
        self.inner.mark_done(run, now).await
    }
    async fn finished_at(&self, run: &str) -> billing_domain::Result<Option<DateTime<Utc>>> {
        self.inner.finished_at(run).await
    }
    async fn close(&self, run: &str, now: DateTime<Utc>) -> billing_domain::Result<()> {
        self.inner.close(run, now).await
    }
    async fn open_runs(&self) -> billing_domain::Result<Vec<(String, String)>> {
        self.inner.open_runs().await
    }
}

#[tokio::test]
async fn a_cancellation_that_dies_half_way_finishes_on_redelivery_with_one_email_each() {
    let mut h = Harness::new().await;
    let store = Arc::new(billing_adapters::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&h.wired_sdk),
        std::env::var("TABLE_NAME").unwrap(),
    ));
    h.app.deps.cancellations = Arc::new(DiesHalfWay { inner: store, died: AtomicBool::new(false) });
    let w = webhook(h);
    let uid = aliyun_uid();
    let inst = open_instance(&w, &uid).await;
    let (a, b) = (commercial_registration("cn1"), commercial_registration("cn1"));
    let seeder = Harness::new().await;
    registered(&seeder.app, &a).await;
    registered(&seeder.app, &b).await;
    let cloud = w.app.deps.marketplace.cloud_account(&format!("aliyun-{inst}")).await.unwrap().unwrap();
    let mut ids = seed_workspaces(
        seeder.deps(),
        a["username"].as_str().unwrap(),
        &cloud,
        60,
        billing_domain::model::Language::Zh,
    )
    .await;
    ids.extend(
        seed_workspaces(
            seeder.deps(),
            b["username"].as_str().unwrap(),
            &cloud,
            60,
            billing_domain::model::Language::Zh,
        )
        .await,
    );

    let (s, _) = spi(&w, &[("action", "releaseInstance"), ("instanceId", &inst)]).await;
    assert_eq!(s, 500, "the first delivery dies");
    let left = w.app.deps.cancellations.settled_by(&cloud.id, 1000).await.unwrap().len();
    assert!(left > 0 && left < 120, "part of the workspaces switched: {left} left");
    assert_eq!(cancellation_mail(a["email"].as_str().unwrap()).await.len(), 0);

    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &inst)]).await.0, 200, "delivered again");
    for id in &ids {
        assert_eq!(settlement_of(&w.app, id).await, Some(Settlement::Enterprise));
    }
    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &inst)]).await.0, 200, "and once more");
    assert_eq!(cancellation_mail(a["email"].as_str().unwrap()).await.len(), 1);
    assert_eq!(cancellation_mail(b["email"].as_str().unwrap()).await.len(), 1);
}

#[tokio::test]
async fn the_sweeper_rechecks_a_finished_cancellation_and_switches_a_workspace_the_index_showed_late() {
    let h = Harness::new().await;
    let clock = h.clock.clone();
    let w = webhook(h);
    let uid = aliyun_uid();
    let inst = open_instance(&w, &uid).await;
    let owner = commercial_registration("cn1");
    registered(&w.app, &owner).await;
    let cloud = w.app.deps.marketplace.cloud_account(&format!("aliyun-{inst}")).await.unwrap().unwrap();
    seed_workspaces(&w.app.deps, owner["username"].as_str().unwrap(), &cloud, 3, billing_domain::model::Language::Zh)
        .await;
    assert_eq!(spi(&w, &[("action", "releaseInstance"), ("instanceId", &inst)]).await.0, 200);
    let run = w.app.deps.marketplace.cloud_account(&cloud.id).await.unwrap().unwrap().cancellation_id().unwrap();

    // A binding that committed just before the end but reached the index only after the run read it.
    let write = settled_registration(
        owner["username"].as_str().unwrap(),
        &cloud,
        "late".into(),
        billing_domain::model::Language::Zh,
        "x".into(),
        false,
    );
    let late = write.workspace.clone();
    w.app.deps.accounts.commit_registration(&write).await.unwrap();
    let open = || async { w.app.deps.cancellations.open_runs().await.unwrap().iter().any(|(r, _)| r == &run) };
    assert!(open().await, "a finished run stays listed until its recheck");

    clock.advance(billing_domain::service::cancellation::RECHECK_AFTER + Duration::seconds(1));
    sweeper::sweep(&w.app.deps, None).await.unwrap();
    assert_eq!(settlement_of(&w.app, &late.id).await, Some(Settlement::Enterprise));
    sweeper::sweep(&w.app.deps, None).await.unwrap();
    assert!(!open().await, "closed once a recheck finds nothing new");
    assert_eq!(cancellation_mail(owner["email"].as_str().unwrap()).await.len(), 1, "still one email");
}
