//! Logs as deployed: JSON lines (template.yaml's LoggingConfig, tracing's JSON output), each
//! naming its invocation's request id and the business ids it concerns, never a secret, a
//! token or a password. (`make test` then scans the logs of the whole run: scripts/scan-logs.sh.)

use billing_tests::bench::events::{apigw, json_post};
use billing_tests::hosted::host;
use billing_tests::template::{functions, load};
use billing_tests::*;
use serde_json::{json, Value};

/// The JSON log lines of a function's output (metric records aside); every line must parse.
fn log_lines(output: &[String]) -> Vec<Value> {
    output
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("not a JSON line: {l}")))
        .filter(|v| v.get("_aws").is_none())
        .collect()
}

/// The span named `name` a line was written in.
fn span<'a>(line: &'a Value, name: &str) -> &'a Value {
    line["spans"].as_array().and_then(|s| s.iter().find(|s| s["name"] == name)).unwrap_or(&Value::Null)
}

fn secrets() -> Vec<String> {
    SECRET_VALUE_VARS
        .iter()
        .filter(|v| !v.ends_with("_ID") && !v.ends_with("_ACCESS_KEY"))
        .map(|v| std::env::var(v).unwrap_or_else(|_| panic!("{v} in .local/env")))
        .collect()
}

fn never_in(output: &[String], words: &[String]) {
    for w in words {
        assert!(w.len() >= 8, "too short to look for: {w}");
        assert!(!output.iter().any(|l| l.contains(w.as_str())), "the output holds {w}");
    }
}

#[tokio::test]
async fn a_request_logs_json_lines_naming_its_request_route_and_caller_and_no_secret() {
    let h = Harness::isolated().await;
    let reg = registered(&h.app, &free_registration("cn1")).await;
    let (ws, console) = (reg["workspace"]["id"].as_str().unwrap().to_string(), token(&reg, "session"));
    let user = format!("user:{}", reg["user"]["id"].as_str().unwrap());
    let body = json!({"billing_account": {"mode": "create", "username": format!("b{}", unique()),
                      "password": "billing-pass1", "email": format!("{}@example.com", unique())},
                      "accept_agreement": true});
    let path = format!("/v1/workspaces/{ws}/upgrade");

    let upgrade = host("upgrade", &h.table).await;
    let (id, _, answer, _) = upgrade.invoke_as(&unique(), json_post("POST", &path, &body, Some(&console))).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let output = upgrade.output();
    upgrade.stop();
    let answered: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let billing = answered["billing_session"]["token"].as_str().expect("upgraded").to_string();

    let lines = log_lines(&output);
    assert!(lines.iter().any(|l| l["fields"]["message"] == "email sent"), "{output:?}");
    for l in &lines {
        assert_eq!(span(l, "Lambda runtime invoke")["requestId"], id.as_str(), "{l}");
        let request = span(l, "request");
        assert_eq!((request["method"].as_str(), request["path"].as_str()), (Some("POST"), Some(path.as_str())), "{l}");
        assert_eq!(request["caller"], user.as_str(), "{l}");
    }
    never_in(&output, &[secrets(), vec!["billing-pass1".into(), console, billing]].concat());
}

#[tokio::test]
async fn a_marketplace_call_logs_its_action_and_instance_and_never_its_signature() {
    let h = Harness::isolated().await;
    let table = h.table.clone();
    let w = webhook(h);
    let uid = aliyun_uid();
    let instance = open_instance(&w, &uid).await;
    let mut req = commercial_registration("cn1");
    req["settlement"] = json!({"method": "aliyun", "account_id": uid, "instance_id": instance});
    registered(&w.app, &req).await;
    let query = spi_query(&[("action", "releaseInstance"), ("instanceId", &instance)]);
    let signature = query.split("token=").nth(1).unwrap().to_string();

    let hook = host("marketplace-webhook", &table).await;
    let event = apigw("GET", "/v1/marketplace/aliyun", &query, None, &[], false);
    let (id, _, answer, _) = hook.invoke_as(&unique(), event).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let output = hook.output();
    hook.stop();
    assert_eq!(answer["body"], r#"{"success":true}"#, "{answer}");

    let lines = log_lines(&output);
    assert!(lines.iter().any(|l| l["fields"]["message"] == "cancellation finished"), "{output:?}");
    for l in &lines {
        assert_eq!(span(l, "Lambda runtime invoke")["requestId"], id.as_str(), "{l}");
        let request = span(l, "request");
        assert_eq!(
            (request["action"].as_str(), request["instance"].as_str()),
            (Some("releaseInstance"), Some(instance.as_str())),
            "{l}"
        );
    }
    never_in(&output, &[secrets(), vec![signature]].concat());
}

#[test]
fn every_function_logs_json_on_lambda() {
    let t = load();
    let global = &t["Globals"]["Function"]["LoggingConfig"]["LogFormat"];
    for (id, f) in functions(&t) {
        let own = &f["Properties"]["LoggingConfig"]["LogFormat"];
        let format = if own.is_null() { global } else { own };
        assert_eq!(format, "JSON", "{id}");
    }
}
