//! Property tests of money (issue 20), through the real handlers against DynamoDB Local:
//! arbitrary usage batches — quantities at every precision (and some that break the grammar),
//! hours around the registration and the settlement changes, ids repeated within and across
//! batches — are answered record by record as an oracle says, and then:
//! - the bill's total per currency is the sum of its lines' amounts;
//! - the quantities on each payer's lines are the accepted quantities of the hours it paid;
//! - once the month is issued, the balance's charges are the issued total, to the cent.

use billing_tests::*;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::OnceLock;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

struct World {
    rt: tokio::runtime::Runtime,
    w: marketplace_webhook::Webhook,
    clock: std::sync::Arc<TestClock>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let h = rt.block_on(Harness::isolated());
        let clock = h.clock.clone();
        World { rt, w: webhook(h), clock }
    })
}

/// How a record's quantity is written.
#[derive(Debug, Clone)]
enum Written {
    /// Digits, a point and `fraction` (up to 13 digits: 13 is one too many), as a JSON string
    /// or a JSON number.
    Decimal { whole: u32, fraction: String, number: bool },
    /// Text the grammar refuses.
    Loose(&'static str),
}

impl Written {
    fn json(&self) -> String {
        match self {
            Written::Decimal { whole, fraction, number } => {
                let text = if fraction.is_empty() { whole.to_string() } else { format!("{whole}.{fraction}") };
                if *number {
                    text
                } else {
                    format!("\"{text}\"")
                }
            }
            Written::Loose(s) => s.to_string(),
        }
    }

    /// The quantity, if the contract takes it.
    fn value(&self) -> Option<Decimal> {
        match self {
            Written::Decimal { whole, fraction, .. } if fraction.len() <= 12 => {
                Some(d(&format!("{whole}.{fraction}0")).normalize())
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Spec {
    id: u8,
    hour: i64,
    item: usize,
    quantity: Written,
    batch: u8,
}

#[derive(Debug, Clone)]
struct Case {
    cloud: bool,
    minute: i64,
    /// Hours after registration the workspace moves to an Alibaba instance (then minutes).
    change: (i64, i64),
    /// Hours after that the instance is released (back to enterprise), if it is.
    release: Option<(i64, i64)>,
    records: Vec<Spec>,
}

fn written() -> impl Strategy<Value = Written> {
    prop_oneof![
        9 => (0u32..5000, 0usize..=13, any::<u64>(), any::<bool>()).prop_map(|(whole, scale, digits, number)| {
            let fraction: String = format!("{digits:020}").chars().take(scale).collect();
            Written::Decimal { whole, fraction, number }
        }),
        1 => prop::sample::select(vec!["\"1_0\"", "-1", "\"1e2\"", "2E1", "\" 3\"", "\"4.\"", "null", "\"+1\""])
            .prop_map(Written::Loose),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let spec = (0u8..8, -3i64..=12, 0usize..10, written(), 0u8..3).prop_map(|(id, hour, item, quantity, batch)| Spec {
        id,
        hour,
        item,
        quantity,
        batch,
    });
    (
        any::<bool>(),
        0i64..60,
        (1i64..6, 0i64..60),
        prop::option::of((1i64..5, 0i64..60)),
        prop::collection::vec(spec, 1..30),
    )
        .prop_map(|(cloud, minute, change, release, records)| Case { cloud, minute, change, release, records })
}

/// What the oracle expects of the whole case: the answers, and the quantity each payer's
/// hours accepted.
struct Expected {
    answers: Vec<(usize, Vec<(usize, &'static str)>)>,
    enterprise: Decimal,
    cloud: Decimal,
}

/// The rules of flows 8 and 9, restated: grammar, before the workspace, one record per id (a
/// repeat with the content its id stands for is a duplicate, else a conflict), the payer of
/// an hour being the settlement in force at its start.
fn oracle(
    c: &Case,
    registered: DateTime<Utc>,
    changed: Option<DateTime<Utc>>,
    released: Option<DateTime<Utc>>,
) -> Expected {
    let first = billing_domain::rules::usage::hour_start(registered);
    let mut stands: HashMap<u8, (i64, usize, Decimal)> = HashMap::new();
    let (mut enterprise, mut cloud) = (Decimal::ZERO, Decimal::ZERO);
    let mut answers = Vec::new();
    for b in 0..3u8 {
        let batch: Vec<&Spec> = c.records.iter().filter(|r| r.batch == b).collect();
        if batch.is_empty() {
            continue;
        }
        let mut accepted = 0;
        let mut rejected = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            let Some(q) = r.quantity.value() else {
                rejected.push((i, "invalid_field"));
                continue;
            };
            let hour = first + Duration::hours(r.hour);
            if hour + Duration::hours(1) <= registered {
                rejected.push((i, "before_workspace"));
                continue;
            }
            match stands.get(&r.id) {
                Some(s) if *s == (r.hour, r.item, q) => {}
                Some(_) => rejected.push((i, "usage_record_conflict")),
                None => {
                    stands.insert(r.id, (r.hour, r.item, q));
                    accepted += 1;
                    let on_cloud = changed.is_some_and(|ch| hour >= ch) && released.is_none_or(|rel| hour < rel);
                    if on_cloud {
                        cloud += q;
                    } else {
                        enterprise += q;
                    }
                }
            }
        }
        answers.push((accepted, rejected));
    }
    Expected { answers, enterprise, cloud }
}

fn run_case(c: &Case, n: u64) -> Result<(), TestCaseError> {
    let wd = world();
    let (app, clock) = (&wd.w.app, &wd.clock);
    wd.rt.block_on(async {
        // Each case in a month of its own, so that each can close and be issued.
        let month_start = t("2020-01-01T00:00:00Z") + Duration::days(31 * n as i64);
        let month_start = billing_domain::rules::usage::month_start(month_start + Duration::days(1));
        let registered_at = month_start + Duration::days(10) + Duration::minutes(c.minute);
        clock.set(registered_at);
        let site = if c.cloud { "cn1" } else { "us1" };
        let req = commercial_registration(site);
        let reg = registered(app, &req).await;
        let (ws, user) = (reg["workspace"]["id"].as_str().unwrap().to_string(), req["username"].as_str().unwrap().to_string());
        let (mut changed, mut released) = (None, None);
        if c.cloud {
            let uid = aliyun_uid();
            let instance = open_instance(&wd.w, &uid).await;
            let at = registered_at + Duration::hours(c.change.0) + Duration::minutes(c.change.1);
            clock.set(at);
            let tok = billing_token(app, &user).await;
            let body = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
            let path = format!("/v1/workspaces/{ws}/settlement");
            let (s, b) = parts(change_settlement::handle(app, request("PUT", &path, Some(&body), Some(&tok))).await);
            prop_assert_eq!(s, 200, "{}", b);
            changed = Some(at);
            if let Some((h, m)) = c.release {
                let at = at + Duration::hours(h) + Duration::minutes(m);
                clock.set(at);
                let (s, _) = spi(&wd.w, &[("action", "releaseInstance"), ("instanceId", &instance)]).await;
                prop_assert_eq!(s, 200);
                released = Some(at);
            }
        }
        let expected = oracle(c, registered_at, changed, released);

        // The site reports, batch by batch, once every hour reported has begun.
        clock.set(registered_at + Duration::hours(20));
        let first = billing_domain::rules::usage::hour_start(registered_at);
        let mut got = Vec::new();
        for b in 0..3u8 {
            let batch: Vec<String> = c
                .records
                .iter()
                .filter(|r| r.batch == b)
                .map(|r| {
                    let hour = (first + Duration::hours(r.hour)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    let item = billing_domain::billing_items::ITEMS[r.item].id;
                    format!(r#"{{"id": "p-{ws}-{}", "workspace_id": "{ws}", "item": "{item}", "hour": "{hour}", "quantity": {}}}"#, r.id, r.quantity.json())
                })
                .collect();
            if batch.is_empty() {
                continue;
            }
            let body = format!(r#"{{"records": [{}]}}"#, batch.join(","));
            let req = iam_request_as("POST", "/v1/usage", &body, Some(&exporter_arn(site)));
            let (s, r) = parts(usage::handle(app, req).await);
            prop_assert_eq!(s, 200, "{}", r);
            let rejected: Vec<(usize, &'static str)> = r["rejected"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| (x["index"].as_u64().unwrap() as usize, code(x["code"].as_str().unwrap())))
                .collect();
            got.push((r["accepted"].as_u64().unwrap() as usize, rejected));
        }
        prop_assert_eq!(&got, &expected.answers);

        // The bill: each payer's lines hold what its hours accepted; the total is its lines.
        let month = billing_domain::rules::usage::month_of(registered_at);
        let tok = billing_token(app, &user).await;
        let (s, bill) = parts(bills::handle(app, request("GET", &format!("/v1/billing/bills/{month}"), None, Some(&tok))).await);
        prop_assert_eq!(s, 200);
        let lines = bill["lines"].as_array().unwrap();
        let sum = |method: &str| -> Decimal {
            lines.iter().filter(|l| l["payer"]["method"] == method).map(|l| d(l["quantity"].as_str().unwrap())).sum()
        };
        prop_assert_eq!(sum("enterprise"), expected.enterprise, "{}", bill);
        prop_assert_eq!(sum("aliyun"), expected.cloud, "{}", bill);
        let amounts: Decimal = lines.iter().filter_map(|l| l["amount"].as_str()).map(d).sum();
        let total = enterprise_total(&bill);
        prop_assert_eq!(total, amounts, "{}", bill);

        // Issued: the balance's charges are the issued total, to the cent.
        clock.set(billing_domain::rules::usage::closes_at(month_start) + Duration::minutes(5));
        let f = issue_bills::run(&app.deps, None).await.unwrap();
        let any_accepted = expected.answers.iter().any(|(accepted, _)| *accepted > 0);
        prop_assert_eq!((f.issued, f.failed), (usize::from(any_accepted), 0));
        let tok = billing_token(app, &user).await;
        let (_, issued) = parts(bills::handle(app, request("GET", &format!("/v1/billing/bills/{month}"), None, Some(&tok))).await);
        prop_assert_eq!(&issued["lines"], &bill["lines"]);
        let (_, balance) = parts(bills::handle(app, request("GET", "/v1/billing/balance", None, Some(&tok))).await);
        let charges = balance["balances"].as_array().unwrap().first().map(|b| d(b["charges"].as_str().unwrap()));
        prop_assert_eq!(charges.unwrap_or_default(), total, "{}", balance);
        Ok(())
    })
}

fn enterprise_total(bill: &Value) -> Decimal {
    bill["totals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["payer"]["method"] == "enterprise")
        .map(|t| d(t["amount"].as_str().unwrap()))
        .sum()
}

fn code(c: &str) -> &'static str {
    ["invalid_field", "before_workspace", "usage_record_conflict"].into_iter().find(|k| *k == c).unwrap_or("other")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn usage_batches_keep_bills_lines_payers_and_balances_in_step(c in case()) {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        run_case(&c, N.fetch_add(1, std::sync::atomic::Ordering::Relaxed))?;
    }
}
