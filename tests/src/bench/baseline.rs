//! What each kind of call costs on its own, through the same proxies the functions use: the
//! units a route's floor is made of.

use super::stats::percentile;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

/// Where the baselines run.
pub struct Probe<'a> {
    pub sdk: &'a aws_config::SdkConfig,
    pub dynamodb_url: &'a str,
    pub ses_url: &'a str,
    pub metering_url: &'a str,
    pub table: &'a str,
    /// An existing workspace (the item routes read most).
    pub workspace_id: &'a str,
    /// A billing account with a few workspaces (the partition list routes query).
    pub billing_key: String,
    /// Registration tokens the emulator will resolve, one per call.
    pub tokens: Vec<String>,
    pub sender: String,
}

async fn time<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    for i in 0..5 {
        f(i).await; // warm the connection
    }
    let mut out = Vec::with_capacity(n);
    for i in 5..n + 5 {
        let t = Instant::now();
        f(i).await;
        out.push(t.elapsed());
    }
    out
}

fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), AttributeValue::S(pk)), ("sk".to_string(), AttributeValue::S(sk.into()))])
}

/// p50 of every operation the routes make, keyed by the operation name the proxies count.
pub async fn measure(p: &Probe<'_>, n: usize) -> BTreeMap<String, Vec<Duration>> {
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(p.sdk).endpoint_url(p.dynamodb_url).build(),
    );
    let ses = aws_sdk_ses::Client::from_conf(aws_sdk_ses::config::Builder::from(p.sdk).endpoint_url(p.ses_url).build());
    let metering = aws_sdk_marketplacemetering::Client::from_conf(
        aws_sdk_marketplacemetering::config::Builder::from(p.sdk).endpoint_url(p.metering_url).build(),
    );
    let t = p.table;
    let ws = || key(format!("WS#{}", p.workspace_id), "WS");
    let probe = |i: usize| key(format!("BENCH#{i}"), "PROBE");
    let mut out = BTreeMap::new();
    out.insert(
        "GetItem".into(),
        time(n, |_| async {
            ddb.get_item().table_name(t).set_key(Some(ws())).consistent_read(true).send().await.unwrap();
        })
        .await,
    );
    out.insert(
        "PutItem".into(),
        time(n, |i| {
            let item = probe(i);
            async {
                ddb.put_item().table_name(t).set_item(Some(item)).send().await.unwrap();
            }
        })
        .await,
    );
    out.insert(
        "UpdateItem".into(),
        time(n, |i| {
            let k = probe(i);
            async {
                ddb.update_item()
                    .table_name(t)
                    .set_key(Some(k))
                    .update_expression("SET touched = :t")
                    .expression_attribute_values(":t", AttributeValue::N("1".into()))
                    .send()
                    .await
                    .unwrap();
            }
        })
        .await,
    );
    out.insert(
        "Query".into(),
        time(n, |_| async {
            ddb.query()
                .table_name(t)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(p.billing_key.clone()))
                .send()
                .await
                .unwrap();
        })
        .await,
    );
    out.insert(
        "BatchGetItem".into(),
        time(n, |_| async {
            let keys = KeysAndAttributes::builder().keys(ws()).build().unwrap();
            ddb.batch_get_item().request_items(t, keys).send().await.unwrap();
        })
        .await,
    );
    out.insert(
        "TransactWriteItems".into(),
        time(n, |i| {
            let items: Vec<TransactWriteItem> = [probe(i), probe(i + 100_000)]
                .into_iter()
                .map(|item| {
                    TransactWriteItem::builder()
                        .put(Put::builder().table_name(t).set_item(Some(item)).build().unwrap())
                        .build()
                })
                .collect();
            async {
                ddb.transact_write_items().set_transact_items(Some(items)).send().await.unwrap();
            }
        })
        .await,
    );
    out.insert(
        "DeleteItem".into(),
        time(n, |i| {
            let k = probe(i);
            async {
                ddb.delete_item().table_name(t).set_key(Some(k)).send().await.unwrap();
            }
        })
        .await,
    );
    out.insert(
        "SendEmail".into(),
        time(n, |_| async {
            use aws_sdk_ses::types::{Body, Content, Destination, Message};
            let c = |s: &str| Content::builder().data(s).build().unwrap();
            ses.send_email()
                .source(&p.sender)
                .destination(Destination::builder().to_addresses("baseline@bench.example").build())
                .message(
                    Message::builder().subject(c("baseline")).body(Body::builder().text(c("baseline")).build()).build(),
                )
                .send()
                .await
                .unwrap();
        })
        .await,
    );
    let tokens = p.tokens.clone();
    out.insert(
        "ResolveCustomer".into(),
        time(n.min(tokens.len().saturating_sub(5)), |i| {
            let token = tokens[i].clone();
            let metering = metering.clone();
            async move {
                metering.resolve_customer().registration_token(token).send().await.unwrap();
            }
        })
        .await,
    );
    out
}

pub fn p50s(samples: &BTreeMap<String, Vec<Duration>>) -> BTreeMap<String, Duration> {
    samples.iter().map(|(k, v)| (k.clone(), percentile(v, 50.0))).collect()
}
