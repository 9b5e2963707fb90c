//! Each published rule of PushMeteringData: a push that breaks it is refused with the documented code;
//! the page's own sample (its interval widened past the 5-minute rule) is taken.

use super::*;
use crate::world::Config;

const SECRET: &str = "testsecret";
/// The page's sample instance and metering item: `cmapi00060317-PeriodMin-4`.
const INSTANCE: &str = "1000001";
const ASSIT: &str = "cmapi00060317-PeriodMin-4";
/// [META]'s own example times ("如1723771200", "如1723771800"): a 10-minute period.
const START: i64 = 1_723_771_200;
const END: i64 = 1_723_771_800;

fn world() -> World {
    let items =
        [("period_min", ASSIT), ("log_events", "cmapi00060317-Frequency-1"), ("other", "cmapi00099999-Frequency-1")];
    let config = Config {
        aliyun_secret: SECRET.into(),
        aliyun_items: items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Config::default()
    };
    let mut w = World::new(config);
    register_instance(&mut w, INSTANCE, Some("cmapi00060317".into()), None);
    w.set_clock(INSTANCE, at(END + 300));
    w
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap()
}

/// The page's Metering sample with its own example times.
fn sample() -> Value {
    json!([{"InstanceId": INSTANCE, "StartTime": START.to_string(), "EndTime": END.to_string(),
            "Entities": [{"Key": "PeriodMin", "Value": "96", "meteringAssit": ASSIT}]}])
}

/// A request as the SDK makes it, signed, stamped with the machine's clock.
fn params(_: &World, _: &str, metering: &str) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("Action", "PushMeteringData"),
        ("Format", "JSON"),
        ("Version", "2015-11-01"),
        ("AccessKeyId", "testid"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("Metering", metering),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p.insert("SignatureNonce".into(), ulid::Ulid::new().to_string());
    p.insert("Timestamp".into(), Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let s = signature(SECRET, "POST", &p);
    p.insert("Signature".into(), s);
    p
}

fn push(w: &mut World, metering: &Value) -> Reply {
    let p = params(w, INSTANCE, &metering.to_string());
    handle(w, "POST", &p)
}

/// The status and `Code` of an answer, JSON or XML.
fn code(r: &Reply) -> (u16, String) {
    let xml = r.body.split_once("<Code>").and_then(|(_, rest)| rest.split_once("</Code>")).map(|(c, _)| c.to_string());
    let json = r.value()["Code"].as_str().map(String::from);
    (r.status.as_u16(), json.or(xml).unwrap_or_else(|| "none".into()))
}

#[test]
fn the_documented_signature_example_is_reproduced() {
    // [SIG-EX] "API 签名指南(示例)": DescribeRegions, secret testsecret → CT9X0VtwR86fNWSnsc6v8YGOjuE=.
    let p: BTreeMap<String, String> = [
        ("TimeStamp", "2016-02-23T12:46:24Z"),
        ("Format", "XML"),
        ("AccessKeyId", "testid"),
        ("Action", "DescribeRegions"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        ("Version", "2014-05-26"),
        ("SignatureVersion", "1.0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert!(string_to_sign("GET", &p).starts_with("GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions"));
    assert_eq!(signature("testsecret", "GET", &p), "CT9X0VtwR86fNWSnsc6v8YGOjuE=");
}

#[test]
fn the_page_sample_with_a_10_minute_period_is_taken() {
    let mut w = world();
    let r = push(&mut w, &sample());
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.value();
    assert_eq!(v["Success"], true);
    assert_eq!(v.as_object().unwrap().len(), 2, "Success and RequestId only: {v}");
    assert_eq!(w.ledger.len(), 1);
    let l = &w.ledger[0];
    assert_eq!(
        (l["customer"].as_str(), l["key"].as_str(), l["metering_assit"].as_str()),
        (Some("instance:1000001"), Some("PeriodMin"), Some(ASSIT))
    );
    assert_eq!(
        (l["start"].as_i64(), l["end"].as_i64(), l["value"].as_str(), l["billed"].as_bool()),
        (Some(START), Some(END), Some("96"), Some(true))
    );
    assert_eq!((l["item"].as_str(), l["quantity"].as_str()), (Some("period_min"), Some("96")));
}

#[test]
fn the_page_sample_as_printed_spans_10_seconds_and_is_refused() {
    let mut w = world();
    w.set_clock(INSTANCE, at(100_000_010 + 60));
    let printed = json!([{"InstanceId":"1000001","StartTime":"100000000","EndTime":"100000010","Entities":[{"Key":"PeriodMin","Value":"96","meteringAssit":"cmapi00060317-PeriodMin-4"}]}]);
    assert_eq!(code(&push(&mut w, &printed)), (500, "Invalid.Parameter.Metering".into()));
    assert!(w.ledger.is_empty());
}

#[test]
fn numbers_are_read_as_well_as_strings() {
    let mut w = world();
    let m = json!([{"InstanceId": INSTANCE, "StartTime": START, "EndTime": END,
                    "Entities": [{"Key": "PeriodMin", "Value": 96, "meteringAssit": ASSIT}]}]);
    assert_eq!(push(&mut w, &m).status, StatusCode::OK);
}

#[test]
fn every_common_parameter_is_required_with_its_value() {
    let mut w = world();
    for k in [
        "Action",
        "Format",
        "Version",
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
    ] {
        let mut p = params(&w, INSTANCE, &sample().to_string());
        p.remove(k);
        assert_eq!(code(&handle(&mut w, "POST", &p)).1, "Invalid.Parameter", "{k} missing");
    }
    for (k, v) in [
        ("Version", "2014-05-26"),
        ("SignatureMethod", "HMAC-SHA256"),
        ("SignatureVersion", "2.0"),
        ("Timestamp", "2024-08-16 01:35:00"),
        ("Format", "YAML"),
    ] {
        let mut p = params(&w, INSTANCE, &sample().to_string());
        p.insert(k.into(), v.into());
        assert_eq!(code(&handle(&mut w, "POST", &p)).0, 400, "{k}={v}");
    }
    let mut p = params(&w, INSTANCE, &sample().to_string());
    p.insert("Action".into(), "DescribePrice".into());
    assert_eq!(code(&handle(&mut w, "POST", &p)), (400, "InvalidAction.NotFound".into()));
    assert!(w.ledger.is_empty());
}

#[test]
fn a_signature_over_other_parameters_does_not_match() {
    let mut w = world();
    let mut p = params(&w, INSTANCE, &sample().to_string());
    p.insert("Metering".into(), sample().to_string().replace("\"96\"", "\"960\""));
    assert_eq!(code(&handle(&mut w, "POST", &p)), (400, "SignatureDoesNotMatch".into()));
    w.config.aliyun_secret = "another".into();
    let p = params(&w, INSTANCE, &sample().to_string());
    assert_eq!(code(&handle(&mut w, "POST", &p)), (400, "SignatureDoesNotMatch".into()));
}

#[test]
fn the_query_and_the_form_body_are_both_read_and_signed() {
    let p = rpc_params(Some("Action=PushMeteringData&Metering=%5B%5D"), b"Format=JSON&SignatureNonce=a+b%2Bc");
    assert_eq!((p["Action"].as_str(), p["Metering"].as_str()), ("PushMeteringData", "[]"));
    assert_eq!((p["Format"].as_str(), p["SignatureNonce"].as_str()), ("JSON", "a b+c"));
}

#[test]
fn a_time_stamp_15_minutes_off_is_expired() {
    let mut w = world();
    let mut p = params(&w, INSTANCE, &sample().to_string());
    let stale = (Utc::now() - Duration::minutes(16)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    p.insert("Timestamp".into(), stale);
    let s = signature(SECRET, "POST", &p);
    p.insert("Signature".into(), s);
    assert_eq!(code(&handle(&mut w, "POST", &p)), (400, "InvalidTimeStamp.Expired".into()));
}

#[test]
fn a_nonce_is_used_once() {
    let mut w = world();
    let p = params(&w, INSTANCE, &sample().to_string());
    assert_eq!(handle(&mut w, "POST", &p).status, StatusCode::OK);
    assert_eq!(code(&handle(&mut w, "POST", &p)), (400, "SignatureNonceUsed".into()));
}

#[test]
fn metering_is_the_documented_json() {
    let mut w = world();
    let entity = |key: &str, value: Value, assit: Option<&str>| {
        let mut e = json!({"Key": key, "Value": value});
        if let Some(a) = assit {
            e["meteringAssit"] = a.into();
        }
        json!([{"InstanceId": INSTANCE, "StartTime": START, "EndTime": END, "Entities": [e]}])
    };
    let cases = [
        (json!("not json"), 500, "Invalid.Parameter.Metering"),
        (json!([]), 500, "Invalid.Parameter.Metering"),
        (entity("log_events", json!("1"), Some(ASSIT)), 500, "Invalid.Parameter.Metering"),
        (entity("PeriodMin", json!("-1"), Some(ASSIT)), 500, "Invalid.Parameter.Metering"),
        (entity("PeriodMin", json!("1.5"), Some(ASSIT)), 500, "Invalid.Parameter.Metering"),
        (entity("PeriodMin", json!(1.5), Some(ASSIT)), 500, "Invalid.Parameter.Metering"),
        (entity("PeriodMin", json!("1"), None), 400, "Invalid.Parameter.Metering"),
        (entity("PeriodMin", json!("1"), Some("")), 400, "Invalid.Parameter.Metering"),
        (entity("PeriodMin", json!("1"), Some("cmapi00060317-PeriodMin-9")), 500, "Invalid.Parameter.Metering"),
        (entity("Frequency", json!("1"), Some(ASSIT)), 500, "Invalid.Parameter.Metering"),
        (
            json!([{"InstanceId": INSTANCE, "StartTime": START, "EndTime": END, "Entities": []}]),
            500,
            "Invalid.Parameter.Metering",
        ),
        (
            json!([{"InstanceId": INSTANCE, "StartTime": START, "EndTime": END, "Unit": "h",
                 "Entities": [{"Key": "PeriodMin", "Value": "1", "meteringAssit": ASSIT}]}]),
            500,
            "Invalid.Parameter.Metering",
        ),
    ];
    for (i, (m, status, c)) in cases.into_iter().enumerate() {
        let text = m.as_str().map(String::from).unwrap_or_else(|| m.to_string());
        w.aliyun_last_push.clear();
        let p = params(&w, INSTANCE, &text);
        let r = handle(&mut w, "POST", &p);
        assert_eq!(code(&r), (status, c.to_string()), "case {i}: {}", r.body);
    }
    assert!(w.ledger.is_empty());
}

#[test]
fn at_most_100_entities_a_push() {
    let mut w = world();
    let entities: Vec<Value> =
        (0..101).map(|v| json!({"Key": "PeriodMin", "Value": v.to_string(), "meteringAssit": ASSIT})).collect();
    let m = json!([{"InstanceId": INSTANCE, "StartTime": START, "EndTime": END, "Entities": entities}]);
    assert_eq!(code(&push(&mut w, &m)), (500, "Metering.Data.Exceeded".into()));
    let m = json!([{"InstanceId": INSTANCE, "StartTime": START, "EndTime": END, "Entities": entities[..100]}]);
    assert_eq!(push(&mut w, &m).status, StatusCode::OK);
}

#[test]
fn an_unknown_instance_is_refused() {
    let mut w = world();
    let m = sample().to_string().replace(INSTANCE, "2000002");
    w.set_clock("2000002", at(END + 300));
    let p = params(&w, "2000002", &m);
    assert_eq!(code(&handle(&mut w, "POST", &p)), (500, "Invalid.Parameter.Instance".into()));
}

#[test]
fn one_product_a_push() {
    let mut w = world();
    register_instance(&mut w, "3000003", None, None);
    let mut m = sample();
    m.as_array_mut().unwrap().push(json!({"InstanceId": "3000003", "StartTime": START, "EndTime": END,
        "Entities": [{"Key": "Frequency", "Value": "1", "meteringAssit": "cmapi00099999-Frequency-1"}]}));
    assert_eq!(code(&push(&mut w, &m)), (500, "Invalid.Parameter.Metering".into()));
    // An instance of the product may not push another product's item either.
    let other = json!([{"InstanceId": INSTANCE, "StartTime": START, "EndTime": END,
        "Entities": [{"Key": "Frequency", "Value": "1", "meteringAssit": "cmapi00099999-Frequency-1"}]}]);
    w.aliyun_last_push.clear();
    assert_eq!(code(&push(&mut w, &other)), (500, "Invalid.Parameter.Metering".into()));
}

#[test]
fn a_period_of_5_minutes_or_not_over_is_refused() {
    let mut w = world();
    let period = |start: i64, end: i64| {
        json!([{"InstanceId": INSTANCE, "StartTime": start, "EndTime": end,
        "Entities": [{"Key": "PeriodMin", "Value": "5", "meteringAssit": ASSIT}]}])
    };
    assert_eq!(code(&push(&mut w, &period(START, START + 300))).1, "Invalid.Parameter.Metering", "exactly 5 minutes");
    w.aliyun_last_push.clear();
    assert_eq!(code(&push(&mut w, &period(START, END + 600))).1, "Invalid.Parameter.Metering", "ends in the future");
    w.aliyun_last_push.clear();
    assert_eq!(push(&mut w, &period(START, START + 301)).status, StatusCode::OK);
}

#[test]
fn an_hourly_record_is_pushed_before_59_minutes_past_the_next_hour() {
    // The page's example: usage of 08:10-08:20 must arrive before 09:59.
    let mut w = world();
    let t = |hm: &str| format!("2024-08-16T{hm}:00Z").parse::<DateTime<Utc>>().unwrap();
    let m = json!([{"InstanceId": INSTANCE, "StartTime": t("08:10").timestamp(), "EndTime": t("08:20").timestamp(),
        "Entities": [{"Key": "PeriodMin", "Value": "10", "meteringAssit": ASSIT}]}]);
    w.set_clock(INSTANCE, t("09:59"));
    assert_eq!(code(&push(&mut w, &m)), (500, "Invalid.Parameter.Metering".into()));
    w.set_clock(INSTANCE, t("09:58") + Duration::seconds(59));
    w.aliyun_last_push.clear();
    assert_eq!(push(&mut w, &m).status, StatusCode::OK);
}

#[test]
fn one_push_per_instance_a_minute() {
    let mut w = world();
    assert_eq!(push(&mut w, &sample()).status, StatusCode::OK);
    let next = sample().to_string().replace("\"96\"", "\"97\"");
    let second = serde_json::from_str::<Value>(&next).unwrap();
    assert_eq!(code(&push(&mut w, &second)), (500, "Service.Flow.Control".into()));
    w.set_clock(INSTANCE, at(END + 300 + 59));
    assert_eq!(code(&push(&mut w, &second)), (500, "Service.Flow.Control".into()), "59 s later");
    w.set_clock(INSTANCE, at(END + 300 + 61));
    assert_eq!(push(&mut w, &second).status, StatusCode::OK);
}

#[test]
fn usage_after_the_hour_the_instance_expired_in_is_not_billed() {
    // The page's example: expired 2025-07-09 12:20; 12:00-13:00 bills, 13:00-14:00 does not.
    let t = |hm: &str| format!("2025-07-09T{hm}:00Z").parse::<DateTime<Utc>>().unwrap();
    let instance = AliyunInstance { product_code: None, expires_at: Some(t("12:20")) };
    assert!(is_billed(&instance, t("12:00").timestamp()));
    assert!(is_billed(&instance, t("12:30").timestamp()));
    assert!(!is_billed(&instance, t("13:00").timestamp()));
    let mut w = world();
    w.set_clock(INSTANCE, t("12:20"));
    expire_now(&mut w, INSTANCE);
    let hour = |h: &str, e: &str| {
        json!([{"InstanceId": INSTANCE, "StartTime": t(h).timestamp(), "EndTime": t(e).timestamp(),
        "Entities": [{"Key": "PeriodMin", "Value": "60", "meteringAssit": ASSIT}]}])
    };
    w.set_clock(INSTANCE, t("13:05"));
    assert_eq!(push(&mut w, &hour("12:00", "13:00")).status, StatusCode::OK);
    w.set_clock(INSTANCE, t("14:07"));
    assert_eq!(push(&mut w, &hour("13:00", "14:00")).status, StatusCode::OK, "accepted");
    let billed: Vec<bool> = w.ledger.iter().map(|l| l["billed"].as_bool().unwrap()).collect();
    assert_eq!(billed, [true, false]);
}

#[test]
fn an_identical_record_is_taken_once_and_any_other_again() {
    let mut w = world();
    push(&mut w, &sample());
    w.aliyun_last_push.clear();
    push(&mut w, &sample());
    assert_eq!(w.ledger.len(), 1);
    w.aliyun_last_push.clear();
    let other = serde_json::from_str::<Value>(&sample().to_string().replace("\"96\"", "\"4\"")).unwrap();
    assert_eq!(push(&mut w, &other).status, StatusCode::OK);
    assert_eq!(w.ledger.len(), 2, "no duplicate rule is published: taken");
}

#[test]
fn faults_throttle_and_drop() {
    let mut w = world();
    w.add_fault("PushMeteringData".into(), Some(INSTANCE.into()), "throttle".into(), 1, 1);
    assert_eq!(code(&push(&mut w, &sample())), (500, "Service.Flow.Control".into()));
    w.add_fault("PushMeteringData".into(), Some("cmapi00060317".into()), "drop".into(), 1, 1);
    assert_eq!(code(&push(&mut w, &sample())), (500, "UnknownError".into()));
    assert_eq!(w.ledger.len(), 1, "applied, then the answer lost");
}

#[test]
fn xml_is_the_default_format() {
    let mut w = world();
    let mut p = params(&w, INSTANCE, &sample().to_string());
    p.insert("Format".into(), "XML".into());
    let s = signature(SECRET, "POST", &p);
    p.insert("Signature".into(), s);
    let r = handle(&mut w, "POST", &p);
    assert_eq!((r.status, r.content_type), (StatusCode::OK, "application/xml"));
    assert!(r.body.contains("<PushMeteringDataResponse>") && r.body.contains("<Success>true</Success>"), "{}", r.body);
}
