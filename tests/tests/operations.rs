//! The operations side of template.yaml: every function watched, every scheduled function's
//! silence noticed, the metering alarms tied to the rules they watch, every metric an alarm or
//! the dashboard reads one the functions emit.

use billing_domain::model::Platform;
use billing_domain::rules::metering::{window, FallbackReason};
use billing_domain::telemetry::{marketplace, CATALOGUE};
use billing_tests::template::{functions, load, resources, schedule_seconds, untag};
use serde_yaml::Value as Yaml;

fn alarms(t: &Yaml) -> Vec<(String, Yaml)> {
    resources(t, "AWS::CloudWatch::Alarm")
}

/// The alarms on AWS/Lambda `metric` of the function `id`.
fn lambda_alarms<'a>(all: &'a [(String, Yaml)], metric: &str, id: &str) -> Vec<&'a Yaml> {
    all.iter()
        .map(|(_, a)| &a["Properties"])
        .filter(|p| p["Namespace"] == "AWS/Lambda" && p["MetricName"] == metric)
        .filter(|p| {
            p["Dimensions"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|d| d["Name"] == "FunctionName" && untag(&d["Value"]) == ("!Ref".to_string(), id.to_string()))
        })
        .collect()
}

fn notifies_the_topic(p: &Yaml) -> bool {
    p["AlarmActions"].as_sequence().is_some_and(|a| a.iter().any(|x| untag(x) == ("!Ref".into(), "AlarmTopic".into())))
}

#[test]
fn every_function_has_an_errors_and_a_throttles_alarm_to_the_topic() {
    let t = load();
    let all = alarms(&t);
    for (id, _) in functions(&t) {
        for metric in ["Errors", "Throttles"] {
            let found = lambda_alarms(&all, metric, &id);
            assert_eq!(found.len(), 1, "{id}: one {metric} alarm");
            let p = found[0];
            assert!(notifies_the_topic(p), "{id} {metric}");
            assert_eq!(
                (p["Threshold"].as_f64(), p["ComparisonOperator"].as_str()),
                (Some(0.0), Some("GreaterThanThreshold"))
            );
        }
    }
}

#[test]
fn every_scheduled_function_is_missed_after_two_of_its_periods() {
    let t = load();
    let all = alarms(&t);
    let mut scheduled = 0;
    for (id, f) in functions(&t) {
        let Some(period) = schedule_seconds(&f) else { continue };
        scheduled += 1;
        let found = lambda_alarms(&all, "Invocations", &id);
        assert_eq!(found.len(), 1, "{id}: one has-not-run alarm");
        let p = found[0];
        assert_eq!(p["Period"].as_u64(), Some(period), "{id}: the alarm's period is its schedule's");
        assert_eq!((p["EvaluationPeriods"].as_u64(), p["DatapointsToAlarm"].as_u64()), (Some(2), Some(2)), "{id}");
        assert_eq!((p["Threshold"].as_f64(), p["ComparisonOperator"].as_str()), (Some(1.0), Some("LessThanThreshold")));
        assert_eq!(p["TreatMissingData"], "breaching", "{id}: no invocation at all is the case it exists for");
        assert!(notifies_the_topic(p), "{id}");
    }
    assert!(scheduled >= 2, "the sweeper and metering at least");
}

#[test]
fn a_pending_report_alarms_when_the_next_run_is_its_last_chance() {
    let t = load();
    let all = alarms(&t);
    let metering = functions(&t).into_iter().find(|(id, _)| id == "MeteringFunction").unwrap().1;
    let period = schedule_seconds(&metering).unwrap() as i64;
    for p in [Platform::Aws, Platform::Aliyun, Platform::Huawei] {
        let found: Vec<&Yaml> = all
            .iter()
            .map(|(_, a)| &a["Properties"])
            .filter(|a| a["MetricName"] == "MeteringPendingAge" && a["Dimensions"][0]["Value"] == marketplace(p))
            .collect();
        assert_eq!(found.len(), 1, "{p:?}");
        let a = found[0];
        assert_eq!(a["Threshold"].as_i64(), Some(window(p).num_seconds() - period), "{p:?}");
        assert_eq!(
            (a["Statistic"].as_str(), a["ComparisonOperator"].as_str()),
            (Some("Maximum"), Some("GreaterThanThreshold"))
        );
        assert!(notifies_the_topic(a));
    }
}

#[test]
fn every_fallback_but_a_subscription_that_ended_alarms() {
    let t = load();
    let all = alarms(&t);
    let (_, fell) = all.iter().find(|(id, _)| id == "MeteringFallbackAlarm").unwrap();
    let (_, query) = untag(&fell["Properties"]["Metrics"][0]["Expression"]);
    assert!(query.starts_with(
        "SELECT SUM(MeteringFellBack) FROM SCHEMA(\"BillingCenter/${AWS::StackName}\", Marketplace, Reason)"
    ));
    assert!(query.ends_with(&format!("WHERE Reason != '{}'", FallbackReason::SubscriptionEnded.code())), "{query}");
}

#[test]
fn the_unsent_email_alarm_fires_after_15_minutes_and_the_dead_letter_queue_alarm_at_one_message() {
    let t = load();
    let all = alarms(&t);
    let by_metric = |m: &str| all.iter().map(|(_, a)| &a["Properties"]).find(|p| p["MetricName"] == m).unwrap().clone();
    let email = by_metric("EmailsOldestUnsentAge");
    assert_eq!((email["Threshold"].as_f64(), email["Statistic"].as_str()), (Some(900.0), Some("Maximum")));
    let dlq = by_metric("ApproximateNumberOfMessagesVisible");
    assert_eq!(
        untag(&dlq["Dimensions"][0]["Value"]),
        ("!GetAtt".into(), "MarketplaceDeadLetterQueue.QueueName".into())
    );
    assert_eq!(
        (dlq["Threshold"].as_f64(), dlq["ComparisonOperator"].as_str()),
        (Some(0.0), Some("GreaterThanThreshold"))
    );
}

#[test]
fn every_business_metric_the_alarms_and_the_dashboard_read_is_one_the_functions_emit() {
    let t = load();
    let known: Vec<&str> = CATALOGUE.iter().map(|m| m.name).collect();
    let mut read = Vec::new();
    for (id, a) in alarms(&t) {
        let p = &a["Properties"];
        if untag(&p["Namespace"]).1.starts_with("BillingCenter/") {
            read.push((id.clone(), p["MetricName"].as_str().unwrap().to_string()));
        }
    }
    let (_, body) = untag(&resources(&t, "AWS::CloudWatch::Dashboard")[0].1["Properties"]["DashboardBody"]);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut charted = 0;
    for w in body["widgets"].as_array().unwrap().iter().filter(|w| w["type"] == "metric") {
        for m in w["properties"]["metrics"].as_array().unwrap() {
            charted += 1;
            if m[0] == "BillingCenter/${AWS::StackName}" {
                read.push(("dashboard".into(), m[1].as_str().unwrap().to_string()));
            } else if let Some(e) = m[0]["expression"].as_str() {
                let name = e.split("MetricName=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
                read.push(("dashboard".into(), name.to_string()));
            } else {
                assert_eq!(m[0], "AWS/SQS", "a chart of something else: {m}");
            }
        }
    }
    assert!(charted >= 20, "{charted}");
    for (who, metric) in &read {
        assert!(known.contains(&metric.as_str()), "{who} reads {metric}, which no function emits");
    }
    for money in ["UsageRecordsAccepted", "MeteringReported", "MeteringFellBack", "BillsIssued", "EmailsSent"] {
        assert!(read.iter().any(|(w, m)| w == "dashboard" && m == money), "the money flow shows {money}");
    }
}

#[test]
fn the_runbook_says_what_each_alarm_means_and_what_to_do() {
    let t = load();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md")).unwrap();
    let functions: Vec<String> = functions(&t)
        .iter()
        .map(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string())
        .collect();
    for (id, a) in alarms(&t) {
        let (_, name) = untag(&a["Properties"]["AlarmName"]);
        let name = name.strip_prefix("${AWS::StackName}-").unwrap_or_else(|| panic!("{id}: {name}"));
        let generic = functions
            .iter()
            .find_map(|f| name.strip_prefix(&format!("{f}-")))
            .filter(|k| ["errors", "throttles"].contains(k));
        let heading = match generic {
            Some(kind) => format!("`<stack>-<function>-{kind}`"),
            None => format!("`<stack>-{name}`"),
        };
        assert!(doc.lines().any(|l| l.starts_with("### ") && l.contains(&heading)), "{id}: no runbook entry {heading}");
    }
}
