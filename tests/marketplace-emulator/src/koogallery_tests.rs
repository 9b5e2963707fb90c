//! Each published rule of the KooGallery usage push and order query: a request that breaks it is
//! refused (or its record listed abnormal) with the documented code; the page's sample is taken.

use super::*;
use crate::world::Config;
use axum::http::HeaderValue;

const KEY: &str = "seller-key";
/// The page's sample record: instance, times and value.
const INSTANCE: &str = "7f141bf1-aec8-4859-8323-fb3a8ad50721";
const SAMPLE: &[u8] = include_bytes!("../../fixtures/marketplaces/huawei/usage-data.derived.json");

fn t(s: &str) -> DateTime<Utc> {
    utc_time(s).unwrap()
}

fn world() -> World {
    let config =
        Config { huawei_key: KEY.into(), koogallery_ak: "AK".into(), koogallery_sk: "SK".into(), ..Config::default() };
    let mut w = World::new(config);
    register_instance(&mut w, INSTANCE, Some(t("20220801T000000Z")), None);
    // Pushed at the sample's record_time.
    w.set_clock(INSTANCE, t("20220809T091000Z"));
    w
}

/// Headers as the page's Java demo makes them: ts the machine's time in ms
/// (`System.currentTimeMillis()`), a nonce used once, the signature over
/// `ts={ts}&nonce={nonce}&body={body}` with the seller key (written out here from the page).
fn signed_headers(_: &World, key: &str, body: &[u8]) -> HeaderMap {
    let ts = Utc::now().timestamp_millis().to_string();
    let nonce = ulid::Ulid::new().to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("ts={ts}&nonce={nonce}&body={}", String::from_utf8_lossy(body)).as_bytes());
    let signature = B64.encode(mac.finalize().into_bytes());
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("ts", ts.parse().unwrap());
    h.insert("nonce", nonce.parse().unwrap());
    h.insert("signature", signature.parse().unwrap());
    h
}

fn push_bytes(w: &mut World, body: &[u8]) -> Reply {
    let h = signed_headers(w, KEY, body);
    usage_push(w, &h, body)
}

fn push(w: &mut World, records: Vec<Value>) -> Reply {
    push_bytes(w, json!({ "usage_records": records }).to_string().as_bytes())
}

fn code(r: &Reply) -> (u16, String) {
    (r.status.as_u16(), r.value()["error_code"].as_str().unwrap_or("none").to_string())
}

/// A record of the sample's instance; serde_json writes its keys sorted.
fn record(sn: &str, begin: &str, end: &str, value: &str) -> Value {
    json!({"instance_id": INSTANCE, "record_time": "20220809T091000Z", "begin_time": begin, "end_time": end,
           "usage_value": value, "metering_sn": sn})
}

fn abnormal(w: &World) -> Vec<String> {
    w.koo_abnormal.iter().map(|a| a["code"].as_str().unwrap().to_string()).collect()
}

#[test]
fn the_page_sample_is_taken() {
    let mut w = world();
    let r = push_bytes(&mut w, SAMPLE);
    assert_eq!((r.status, r.value()), (StatusCode::OK, json!({"error_code": "MKT.0000", "error_msg": "success"})));
    assert_eq!(w.ledger.len(), 1, "{:?}", w.koo_abnormal);
    let l = &w.ledger[0];
    assert_eq!(l["customer"], format!("hwinstance:{INSTANCE}"));
    assert_eq!(
        (l["begin"].as_str(), l["end"].as_str(), l["value"].as_str()),
        (Some("20220809T080000Z"), Some("20220809T090000Z"), Some("999"))
    );
}

#[test]
fn the_sample_in_its_printed_key_order_is_refused() {
    let mut w = world();
    let printed = br#"{"usage_records":[{"instance_id":"7f141bf1-aec8-4859-8323-fb3a8ad50721","record_time":"20220809T091000Z","begin_time":"20220809T080000Z","end_time":"20220809T090000Z","usage_value":"999","metering_sn":"a1"}]}"#;
    assert_eq!(code(&push_bytes(&mut w, printed)), (400, "MKT.0102".into()));
    assert!(w.ledger.is_empty());
}

#[test]
fn keys_are_checked_at_every_level() {
    assert_eq!(keys_in_natural_order(br#"{"a":1,"b":{"c":[{"d":1,"e":2}]}}"#), Some(true));
    assert_eq!(keys_in_natural_order(br#"{"a":1,"b":{"c":[{"e":1,"d":2}]}}"#), Some(false));
    assert_eq!(keys_in_natural_order(br#"{"b":1,"a":2}"#), Some(false));
    assert_eq!(keys_in_natural_order(br#"{"a":1,"a":2}"#), Some(false), "a repeated key is not ascending");
    assert_eq!(keys_in_natural_order(b"not json"), None);
}

#[test]
fn the_three_headers_are_required() {
    let mut w = world();
    for missing in ["signature", "ts", "nonce"] {
        let mut h = signed_headers(&w, KEY, SAMPLE);
        h.remove(missing);
        assert_eq!(code(&usage_push(&mut w, &h, SAMPLE)), (401, "MKT.0154".into()), "{missing}");
    }
}

#[test]
fn a_signature_by_another_key_or_over_another_body_is_refused() {
    let mut w = world();
    let h = signed_headers(&w, "another-key", SAMPLE);
    assert_eq!(code(&usage_push(&mut w, &h, SAMPLE)), (400, "MKT.0102".into()));
    let h = signed_headers(&w, KEY, SAMPLE);
    let changed = String::from_utf8_lossy(SAMPLE).replace("\"999\"", "\"998\"");
    assert_eq!(code(&usage_push(&mut w, &h, changed.as_bytes())), (400, "MKT.0102".into()));
    assert!(w.ledger.is_empty());
}

#[test]
fn ts_is_milliseconds_within_5_minutes_and_a_nonce_is_used_once() {
    let mut w = world();
    let with = |w: &World, name: &'static str, value: String| {
        let mut h = signed_headers(w, KEY, SAMPLE);
        h.insert(name, value.parse().unwrap());
        // Re-sign with the changed header.
        let (ts, nonce) = (h["ts"].to_str().unwrap().to_string(), h["nonce"].to_str().unwrap().to_string());
        h.insert("signature", push_signature(KEY, &ts, &nonce, SAMPLE).parse().unwrap());
        h
    };
    let now = Utc::now();
    for (name, value) in [
        ("ts", (now - Duration::minutes(6)).timestamp_millis().to_string()),
        ("ts", now.timestamp().to_string()),
        ("ts", format!("{}x", now.timestamp_millis())),
        ("nonce", "n".repeat(65)),
    ] {
        let h = with(&w, name, value.clone());
        assert_eq!(code(&usage_push(&mut w, &h, SAMPLE)), (400, "MKT.0102".into()), "{name}={value}");
    }
    let h = signed_headers(&w, KEY, SAMPLE);
    assert_eq!(usage_push(&mut w, &h, SAMPLE).status, StatusCode::OK);
    assert_eq!(code(&usage_push(&mut w, &h, SAMPLE)), (400, "MKT.0102".into()), "the same nonce again");
}

#[test]
fn the_body_is_usage_records_of_the_documented_fields() {
    let mut w = world();
    let good = record("sn-1", "20220809T080000Z", "20220809T090000Z", "1");
    let mut extra = good.clone();
    extra["product_id"] = "OFFI1".into();
    let mut no_sn = good.clone();
    no_sn.as_object_mut().unwrap().remove("metering_sn");
    let cases = [
        json!({"usage_records": [good.clone()], "extra": 1}),
        json!({"usageRecords": [good.clone()]}),
        json!({"usage_records": [extra]}),
        json!({"usage_records": [no_sn]}),
        json!({"usage_records": []}),
        json!([good.clone()]),
    ];
    for c in cases {
        assert_eq!(code(&push_bytes(&mut w, c.to_string().as_bytes())), (400, "MKT.0101".into()), "{c}");
    }
    let many: Vec<Value> =
        (0..1001).map(|i| record(&format!("sn-{i}"), "20220809T080000Z", "20220809T090000Z", "1")).collect();
    assert_eq!(code(&push(&mut w, many)), (500, "MKT.9003".into()));
    assert!(w.ledger.is_empty());
}

#[test]
fn values_out_of_range_or_format_are_refused() {
    let mut w = world();
    let base = record("sn-1", "20220809T080000Z", "20220809T090000Z", "1");
    let with = |k: &str, v: Value| {
        let mut r = base.clone();
        r[k] = v;
        r
    };
    let cases = [
        with("begin_time", json!("2022-08-09T08:00:00Z")),
        with("begin_time", json!("20220809T250000Z")),
        with("end_time", json!("20220809T0900Z")),
        with("record_time", json!(20220809)),
        with("usage_value", json!("0")),
        with("usage_value", json!("-1")),
        with("usage_value", json!("1.23456")),
        with("usage_value", json!("1e3")),
        with("usage_value", json!("1".repeat(21))),
        with("usage_value", json!(0)),
        with("instance_id", json!("i".repeat(65))),
        with("metering_sn", json!("s".repeat(65))),
        with("relate_pkg_instance", json!(7)),
    ];
    for c in cases {
        assert_eq!(code(&push(&mut w, vec![c.clone()])), (500, "MKT.0100".into()), "{c}");
    }
    for v in ["999", "0.0001", "12.5", "1234567890123456.123"] {
        assert!(is_usage_value(v), "{v}");
    }
    assert!(!is_usage_value("1.") && !is_usage_value(".5") && !is_usage_value("0.0000"));
    let r = push(&mut w, vec![with("usage_value", json!(12.5))]);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(w.ledger[0]["value"], "12.5");
}

#[test]
fn an_unknown_instance_or_a_begin_time_21_days_away_refuses_the_whole_call() {
    let mut w = world();
    let good = record("sn-1", "20220809T080000Z", "20220809T090000Z", "1");
    let mut unknown = record("sn-2", "20220809T080000Z", "20220809T090000Z", "1");
    unknown["instance_id"] = "never-opened".into();
    assert_eq!(code(&push(&mut w, vec![good.clone(), unknown])), (500, "MKT.9001".into()));
    let old = record("sn-3", "20220718T080000Z", "20220718T090000Z", "1");
    assert_eq!(code(&push(&mut w, vec![good, old])), (500, "MKT.9004".into()));
    assert!(w.ledger.is_empty());
}

#[test]
fn records_are_checked_after_the_answer_as_the_sdr_job_does() {
    let mut w = world();
    let r = push(
        &mut w,
        vec![
            record("sn-1", "20220809T080000Z", "20220809T090000Z", "5"),
            record("", "20220809T070000Z", "20220809T080000Z", "5"),
            record("sn-1", "20220809T060000Z", "20220809T070000Z", "5"),
            record("sn-2", "20220809T080000Z", "20220809T090000Z", "6"),
            record("sn-3", "20220809T090000Z", "20220809T080000Z", "5"),
            record("sn-4", "20220809T090000Z", "20220809T100000Z", "5"),
            record("sn-5", "20220731T230000Z", "20220801T000000Z", "5"),
            record("sn-6", "20220809T050000Z", "20220809T060000Z", "5"),
        ],
    );
    assert_eq!(code(&r), (200, "MKT.0000".into()), "data errors are not reported at the interface");
    assert_eq!(abnormal(&w), ["004", "005", "010", "011", "011", "011", "007"]);
    assert_eq!(w.ledger.len(), 1);
    // The same record again is a harmless resend.
    push(&mut w, vec![record("sn-1", "20220809T080000Z", "20220809T090000Z", "5")]);
    assert_eq!((w.ledger.len(), w.koo_abnormal.len()), (1, 7));
}

#[test]
fn released_or_frozen_instances_take_no_usage_of_their_periods() {
    let mut w = world();
    w.set_clock(INSTANCE, t("20220809T083000Z"));
    release_now(&mut w, INSTANCE);
    w.set_clock(INSTANCE, t("20220809T091000Z"));
    push(
        &mut w,
        vec![
            record("sn-1", "20220809T070000Z", "20220809T080000Z", "5"),
            record("sn-2", "20220809T080000Z", "20220809T090000Z", "5"),
        ],
    );
    assert_eq!((w.ledger.len(), abnormal(&w)), (1, vec!["011".to_string()]), "end after release");
    let mut w = world();
    w.set_clock(INSTANCE, t("20220809T083000Z"));
    register_instance(&mut w, INSTANCE, None, Some(true));
    w.set_clock(INSTANCE, t("20220809T091000Z"));
    push(
        &mut w,
        vec![
            record("sn-1", "20220809T070000Z", "20220809T080000Z", "5"),
            record("sn-2", "20220809T080000Z", "20220809T090000Z", "5"),
        ],
    );
    assert_eq!((w.ledger.len(), abnormal(&w)), (1, vec!["013".to_string()]), "frozen during the period");
}

#[test]
fn faults_reject_throttle_and_drop() {
    let mut w = world();
    let rec = |sn: &str| vec![record(sn, "20220809T080000Z", "20220809T090000Z", "1")];
    w.add_fault("KooGalleryUsage".into(), Some(INSTANCE.into()), "reject".into(), 1, 1);
    assert_eq!(code(&push(&mut w, rec("sn-1"))), (500, "MKT.9001".into()));
    w.add_fault("KooGalleryUsage".into(), None, "throttle".into(), 1, 1);
    assert_eq!(code(&push(&mut w, rec("sn-1"))), (500, "MKT.0999".into()));
    assert!(w.ledger.is_empty());
    w.add_fault("any".into(), None, "drop".into(), 1, 1);
    assert_eq!(code(&push(&mut w, rec("sn-1"))), (500, "MKT.0999".into()));
    assert_eq!(w.ledger.len(), 1, "applied, then the answer lost");
}

// ---------------------------------------------------------------------------------------------
// Order query

fn order_world() -> World {
    let mut w = world();
    w.koo_orders.insert(
        "CS2211181819B4LVS".into(),
        KooOrder {
            order_id: "CS2211181819B4LVS".into(),
            order_line_id: "CS2211181819B4LVS-000001".into(),
            customer_id: Some("688055f1aa90f1858".into()),
            customer_name: Some("buyer".into()),
            order_type: "NEW".into(),
            charging_mode: "ON_DEMAND".into(),
            product_id: "OFFI461867333479178240".into(),
            sku_code: "sku-1".into(),
            create_time: t("20221118T181900Z"),
        },
    );
    w
}

/// A GET signed as the APIG SDK signs it: content-type, host and x-sdk-date.
fn order_get(w: &mut World, query: &str, ak: &str, sk: &str, date: DateTime<Utc>) -> Reply {
    let path = "/api/mkp-openapi-public/global/v1/order/query";
    let date = date.format("%Y%m%dT%H%M%SZ").to_string();
    let headers = [
        ("content-type".to_string(), "application/json".to_string()),
        ("host".to_string(), "127.0.0.1:8602".to_string()),
        ("x-sdk-date".to_string(), date.clone()),
    ];
    let c = apig::canonical_request("GET", path, Some(query), &headers, b"");
    let auth = format!(
        "SDK-HMAC-SHA256 Access={ak}, SignedHeaders=content-type;host;x-sdk-date, Signature={}",
        apig::signature(sk, &date, &c)
    );
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
    }
    h.insert("authorization", auth.parse().unwrap());
    order_query(w, path, Some(query), &h)
}

#[test]
fn an_order_is_answered_with_its_buyer() {
    let mut w = order_world();
    let r = order_get(&mut w, "orderId=CS2211181819B4LVS&orderLineId=CS2211181819B4LVS-000001", "AK", "SK", Utc::now());
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.value(),
        json!({"resultCode": "MKT.0000", "resultMsg": "Success", "orderInfo": {"orderId": "CS2211181819B4LVS",
            "orderType": "NEW", "createTime": "20221118181900",
            "orderLine": [{"orderLineId": "CS2211181819B4LVS-000001", "chargingMode": "ON_DEMAND",
                           "productId": "OFFI461867333479178240", "skuCode": "sku-1"}],
            "buyerInfo": {"customerId": "688055f1aa90f1858", "customerName": "buyer"}}})
    );
}

#[test]
fn the_pages_mock_orders_are_served_without_a_buyer() {
    let mut w = order_world();
    let v = order_get(&mut w, "orderId=MOCKONDEMAND", "AK", "SK", Utc::now()).value();
    assert_eq!(
        (v["orderInfo"]["orderType"].as_str(), v["orderInfo"]["orderLine"][0]["chargingMode"].as_str()),
        (Some("NEW"), Some("ON_DEMAND"))
    );
    assert!(v["orderInfo"].get("buyerInfo").is_none(), "{v}");
}

#[test]
fn unknown_orders_and_bad_parameters_are_refused() {
    let mut w = order_world();
    let result = |r: Reply| (r.status.as_u16(), r.value()["resultCode"].as_str().unwrap_or("none").to_string());
    assert_eq!(result(order_get(&mut w, "orderId=CS0000", "AK", "SK", Utc::now())), (400, "MKT.0199".into()));
    let wrong_line = "orderId=CS2211181819B4LVS&orderLineId=CS2211181819B4LVS-000002";
    assert_eq!(result(order_get(&mut w, wrong_line, "AK", "SK", Utc::now())), (400, "MKT.0199".into()));
    assert_eq!(result(order_get(&mut w, "orderLineId=x", "AK", "SK", Utc::now())), (400, "MKT.0101".into()));
    w.add_fault("OrderQuery".into(), Some("CS2211181819B4LVS".into()), "error".into(), 1, 1);
    assert_eq!(
        result(order_get(&mut w, "orderId=CS2211181819B4LVS", "AK", "SK", Utc::now())),
        (500, "MKT.0999".into())
    );
}

#[test]
fn the_order_query_needs_the_apig_signature() {
    let mut w = order_world();
    let q = "orderId=CS2211181819B4LVS";
    for r in [
        order_get(&mut w, q, "AK", "another-sk", Utc::now()),
        order_get(&mut w, q, "another-ak", "SK", Utc::now()),
        order_get(&mut w, q, "AK", "SK", Utc::now() - Duration::minutes(16)),
    ] {
        assert_eq!((r.status.as_u16(), r.value()["error_code"].as_str()), (401, Some("APIGW.0301")), "{}", r.body);
    }
    // Signed without the query: the canonical request covers it.
    let path = "/api/mkp-openapi-public/global/v1/order/query";
    let date = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let headers = [("x-sdk-date".to_string(), date.clone())];
    let c = apig::canonical_request("GET", path, None, &headers, b"");
    let mut h = HeaderMap::new();
    h.insert("x-sdk-date", date.parse().unwrap());
    let auth =
        format!("SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature={}", apig::signature("SK", &date, &c));
    h.insert("authorization", auth.parse().unwrap());
    assert_eq!(order_query(&mut w, path, Some(q), &h).status, StatusCode::UNAUTHORIZED);
    assert_eq!(order_query(&mut w, path, Some(q), &HeaderMap::new()).status, StatusCode::UNAUTHORIZED);
}
