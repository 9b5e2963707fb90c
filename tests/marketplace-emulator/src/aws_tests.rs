//! Each published rule of the Metering Service: a call that breaks it is refused with the documented
//! exception; a documented-good call passes.

use super::*;
use crate::world::{parse_dimensions, Config, DEFAULT_AWS_DIMENSIONS};

const ARN: &str = "arn:aws:license-manager::111122223333:license:l-0123456789abcdef";
const ACCOUNT: &str = "111122223333";
const PRODUCT: &str = "prod-1";

fn world() -> World {
    let mut w = World::new(Config { aws_dimensions: parse_dimensions(DEFAULT_AWS_DIMENSIONS), ..Config::default() });
    register_licence(&mut w, ARN, ACCOUNT, PRODUCT, Some(Utc::now() - Duration::days(1)));
    let legacy = Token {
        customer_identifier: Some("cust-1".into()),
        license_arn: None,
        aws_account_id: "444455556666".into(),
        product_code: PRODUCT.into(),
        agreement_id: None,
        expires_at: Utc::now() + Duration::hours(1),
        redeemed: false,
    };
    mint(&mut w, legacy, None);
    w
}

/// An instant in the hour two hours ago, `minute` past it: well inside the 6-hour window.
fn at(minute: i64) -> i64 {
    (Utc::now().timestamp().div_euclid(3600) - 2) * 3600 + minute * 60
}

fn licence_record(ts: i64, dimension: &str, quantity: i64) -> Value {
    json!({"Timestamp": ts, "CustomerAWSAccountId": ACCOUNT, "LicenseArn": ARN, "Dimension": dimension, "Quantity": quantity})
}

fn bmu(w: &mut World, body: &Value) -> Reply {
    handle(w, "AWSMPMeteringService.BatchMeterUsage", &body.to_string())
}

fn kind(r: &Reply) -> String {
    r.value()["__type"].as_str().unwrap_or("none").to_string()
}

fn licence_call(w: &mut World, records: Vec<Value>) -> Reply {
    bmu(w, &json!({ "UsageRecords": records }))
}

#[test]
fn a_licence_record_without_product_code_is_taken() {
    let mut w = world();
    let r = licence_call(&mut w, vec![licence_record(at(10), "LogEvents", 3)]);
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.value();
    assert_eq!(v["Results"][0]["Status"], "Success");
    assert_eq!(v["Results"][0]["UsageRecord"], licence_record(at(10), "LogEvents", 3), "the record is echoed");
    assert_eq!(v["UnprocessedRecords"], json!([]));
    assert_eq!(w.ledger.len(), 1);
    assert_eq!(w.ledger[0]["customer"], format!("acct:{ACCOUNT}|{ARN}"));
    assert_eq!((w.ledger[0]["product_code"].as_str(), w.ledger[0]["quantity"].as_str()), (Some(PRODUCT), Some("3")));
    assert_eq!(w.ledger[0]["id"], v["Results"][0]["MeteringRecordId"]);
}

#[test]
fn the_sdk_probe_body_with_an_empty_customer_identifier_is_refused() {
    // The wire body aws-sdk-marketplacemetering 1.124 writes for a record that never set it.
    let mut w = world();
    let body = json!({"UsageRecords":[{"Timestamp": at(5),"CustomerIdentifier":"","Dimension":"LogEvents","Quantity":0,
        "CustomerAWSAccountId": ACCOUNT,"LicenseArn": ARN}]});
    let r = bmu(&mut w, &body);
    assert_eq!((r.status, kind(&r)), (StatusCode::BAD_REQUEST, "ValidationException".into()));
    assert!(w.ledger.is_empty());
}

#[test]
fn both_customer_identifiers_are_mutually_exclusive() {
    let mut w = world();
    let mut rec = licence_record(at(5), "LogEvents", 1);
    rec["CustomerIdentifier"] = "cust-1".into();
    assert_eq!(kind(&licence_call(&mut w, vec![rec])), "ValidationException");
}

#[test]
fn a_record_naming_no_customer_is_refused() {
    let mut w = world();
    let none = json!({"Timestamp": at(5), "Dimension": "LogEvents", "Quantity": 1});
    let empty = json!({"Timestamp": at(5), "CustomerIdentifier": "", "Dimension": "LogEvents", "Quantity": 1});
    for rec in [none, empty] {
        let r = bmu(&mut w, &json!({"ProductCode": PRODUCT, "UsageRecords": [rec]}));
        assert_eq!(kind(&r), "ValidationException", "{}", r.body);
    }
}

#[test]
fn the_account_id_is_digits() {
    let mut w = world();
    for bad in ["", "1111-2222-3333", "12ab"] {
        let mut rec = licence_record(at(5), "LogEvents", 1);
        rec["CustomerAWSAccountId"] = bad.into();
        assert_eq!(kind(&licence_call(&mut w, vec![rec])), "ValidationException", "{bad:?}");
    }
}

#[test]
fn at_most_25_records_a_call() {
    let mut w = world();
    let dims = ["LogEvents", "TimeSeries", "ApmTraces", "RumViews", "SyntheticRuns"];
    let records = |n: usize| (0..n).map(|i| licence_record(at(i as i64 % 60), dims[i / 5 % 5], 1)).collect::<Vec<_>>();
    assert_eq!(kind(&licence_call(&mut w, records(26))), "ValidationException");
    assert!(w.ledger.is_empty());
    let r = licence_call(&mut w, records(25));
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[test]
fn a_request_of_1_mb_is_refused() {
    let mut w = world();
    let mut rec = licence_record(at(5), "LogEvents", 1);
    rec["Padding"] = "x".repeat(1 << 20).into();
    assert_eq!(kind(&licence_call(&mut w, vec![rec])), "ValidationException");
}

#[test]
fn product_code_goes_without_licences_and_with_customer_identifiers() {
    let mut w = world();
    let with_licence = json!({"ProductCode": PRODUCT, "UsageRecords": [licence_record(at(5), "LogEvents", 1)]});
    assert_eq!(kind(&bmu(&mut w, &with_licence)), "ValidationException", "ProductCode with LicenseArn");
    let empty = json!({"ProductCode": "", "UsageRecords": [licence_record(at(5), "LogEvents", 1)]});
    assert_eq!(kind(&bmu(&mut w, &empty)), "ValidationException", "ProductCode \"\"");
    // The SDK probe's legacy body (dimension and timestamp of this product and hour).
    let legacy = json!({"UsageRecords":[{"Timestamp": at(5),"CustomerIdentifier":"cust-1","Dimension":"LogEvents"}]});
    assert_eq!(kind(&bmu(&mut w, &legacy)), "ValidationException", "CustomerIdentifier without ProductCode");
    let mut good = legacy.clone();
    good["ProductCode"] = PRODUCT.into();
    let r = bmu(&mut w, &good);
    assert_eq!(r.value()["Results"][0]["Status"], "Success", "{}", r.body);
    assert_eq!((w.ledger[0]["customer"].as_str(), w.ledger[0]["quantity"].as_str()), (Some("id:cust-1"), Some("0")));
}

#[test]
fn a_licence_must_be_valid_match_the_customer_and_be_active() {
    let mut w = world();
    // The EventBridge samples print licences without `arn:`; the model's pattern refuses that form.
    let event_form = ARN.trim_start_matches("arn:");
    let unknown = "arn:aws:license-manager::111122223333:license:l-ffffffffffffffff";
    for arn in [event_form, unknown] {
        let mut rec = licence_record(at(5), "LogEvents", 1);
        rec["LicenseArn"] = arn.into();
        assert_eq!(kind(&licence_call(&mut w, vec![rec])), "InvalidLicenseException", "{arn}");
    }
    let mut other_account = licence_record(at(5), "LogEvents", 1);
    other_account["CustomerAWSAccountId"] = "999988887777".into();
    assert_eq!(kind(&licence_call(&mut w, vec![other_account])), "InvalidLicenseException");
    register_licence(&mut w, ARN, ACCOUNT, PRODUCT, Some(Utc::now() - Duration::minutes(30)));
    let before_activation = licence_record(at(5), "LogEvents", 1);
    assert_eq!(kind(&licence_call(&mut w, vec![before_activation])), "InvalidLicenseException");
    assert!(w.ledger.is_empty());
}

#[test]
fn the_license_arn_pattern_is_the_models() {
    assert!(is_license_arn(ARN));
    assert!(is_license_arn("arn:aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x"));
    assert!(is_license_arn("arn:aws-cn:license-manager::123456789012:license:l-1"));
    assert!(!is_license_arn("aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x"));
    assert!(!is_license_arn("arn:aws:license-manager::123456789012"));
    assert!(!is_license_arn("arn:aws:-bad::1:license:l-1"));
}

#[test]
fn an_unknown_customer_identifier_or_another_products_customer_is_refused() {
    let mut w = world();
    let rec = |id: &str| json!({"Timestamp": at(5), "CustomerIdentifier": id, "Dimension": "LogEvents", "Quantity": 1});
    let r = bmu(&mut w, &json!({"ProductCode": PRODUCT, "UsageRecords": [rec("nobody")]}));
    assert_eq!(kind(&r), "InvalidCustomerIdentifierException");
    let r = bmu(&mut w, &json!({"ProductCode": "prod-2", "UsageRecords": [rec("cust-1")]}));
    assert_eq!(kind(&r), "InvalidProductCodeException");
}

#[test]
fn a_dimension_must_be_the_products() {
    let mut w = world();
    let r = licence_call(&mut w, vec![licence_record(at(5), "LogEvents", 1), licence_record(at(5), "log_events", 1)]);
    assert_eq!(kind(&r), "InvalidUsageDimensionException");
    assert!(w.ledger.is_empty(), "the whole call is refused");
}

#[test]
fn quantity_is_an_integer_from_0_to_2147483647_and_defaults_to_0() {
    let mut w = world();
    for bad in [json!(-1), json!(2_147_483_648i64), json!(1.5)] {
        let mut rec = licence_record(at(5), "LogEvents", 0);
        rec["Quantity"] = bad.clone();
        assert_eq!(kind(&licence_call(&mut w, vec![rec])), "ValidationException", "{bad}");
    }
    let mut text = licence_record(at(5), "LogEvents", 0);
    text["Quantity"] = "3".into();
    assert_eq!(kind(&licence_call(&mut w, vec![text])), "SerializationException");
    let mut absent = licence_record(at(5), "LogEvents", 0);
    absent.as_object_mut().unwrap().remove("Quantity");
    let r = licence_call(&mut w, vec![absent, licence_record(at(5), "TimeSeries", 2_147_483_647)]);
    assert_eq!(r.value()["Results"][0]["Status"], "Success", "{}", r.body);
    assert_eq!(w.ledger[0]["quantity"], "0");
    assert_eq!(w.ledger[1]["quantity"], "2147483647");
}

#[test]
fn timestamps_six_hours_old_or_in_the_future_refuse_the_whole_call() {
    let mut w = world();
    let now = Utc::now().timestamp();
    for ts in [now - 6 * 3600, now - 7 * 3600, now + 120] {
        let r = licence_call(&mut w, vec![licence_record(at(5), "LogEvents", 1), licence_record(ts, "TimeSeries", 1)]);
        assert_eq!(kind(&r), "TimestampOutOfBoundsException", "{ts}");
    }
    assert!(w.ledger.is_empty(), "if any is out of range, the entire batch is not processed");
    let r = licence_call(&mut w, vec![licence_record(now - 6 * 3600 + 60, "LogEvents", 1)]);
    assert_eq!(r.value()["Results"][0]["Status"], "Success", "{}", r.body);
}

#[test]
fn the_previous_month_is_taken_until_06_00_utc_on_the_first() {
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    // The page's own example: on April 1 at 05:00 UTC, March 31 is still accepted.
    assert!(timestamp_in_bounds(t("2026-03-31T23:30:00Z"), t("2026-04-01T05:00:00Z")));
    assert!(!timestamp_in_bounds(t("2026-03-31T23:59:00Z"), t("2026-04-01T06:00:00Z")));
    assert!(timestamp_in_bounds(t("2026-04-01T00:30:00Z"), t("2026-04-01T06:00:00Z")));
    assert!(timestamp_in_bounds(t("2026-04-01T06:00:30Z"), t("2026-04-01T06:00:00Z")), "a minute's skew");
}

#[test]
fn the_same_record_again_is_the_same_record_and_another_quantity_that_hour_a_duplicate() {
    let mut w = world();
    let first = licence_call(&mut w, vec![licence_record(at(10), "LogEvents", 4)]).value();
    let again = licence_call(&mut w, vec![licence_record(at(10), "LogEvents", 4)]).value();
    assert_eq!(again["Results"][0]["Status"], "Success");
    assert_eq!(again["Results"][0]["MeteringRecordId"], first["Results"][0]["MeteringRecordId"]);
    let later_same_hour = licence_call(&mut w, vec![licence_record(at(40), "LogEvents", 4)]).value();
    assert_eq!(later_same_hour["Results"][0]["MeteringRecordId"], first["Results"][0]["MeteringRecordId"]);
    let other_quantity = licence_call(&mut w, vec![licence_record(at(40), "LogEvents", 5)]).value();
    assert_eq!(other_quantity["Results"][0]["Status"], "DuplicateRecord");
    assert!(other_quantity["Results"][0].get("MeteringRecordId").is_none());
    let next_hour = licence_call(&mut w, vec![licence_record(at(70), "LogEvents", 5)]).value();
    assert_eq!(next_hour["Results"][0]["Status"], "Success");
    assert_eq!(w.ledger.len(), 2, "one per (customer, dimension, hour)");
}

#[test]
fn an_unsubscribed_customer_or_deprovisioned_licence_is_not_subscribed() {
    let mut w = world();
    unsubscribe(&mut w, None, Some(ACCOUNT), Some(ARN));
    let r = licence_call(&mut w, vec![licence_record(at(5), "LogEvents", 1)]).value();
    assert_eq!(r["Results"][0]["Status"], "CustomerNotSubscribed");
    unsubscribe(&mut w, Some("cust-1"), None, None);
    let rec = json!({"Timestamp": at(5), "CustomerIdentifier": "cust-1", "Dimension": "LogEvents", "Quantity": 1});
    let r = bmu(&mut w, &json!({"ProductCode": PRODUCT, "UsageRecords": [rec]})).value();
    assert_eq!(r["Results"][0]["Status"], "CustomerNotSubscribed");
    assert!(w.ledger.is_empty());
}

#[test]
fn a_legacy_customer_and_its_licence_are_one_subscription() {
    let mut w = world();
    let arn = "arn:aws:license-manager::555566667777:license:l-legacy";
    let t = Token {
        customer_identifier: Some("cust-2".into()),
        license_arn: Some(arn.into()),
        aws_account_id: "555566667777".into(),
        product_code: PRODUCT.into(),
        agreement_id: None,
        expires_at: Utc::now() + Duration::hours(1),
        redeemed: false,
    };
    w.licences.remove(arn);
    mint(&mut w, t, Some(Utc::now() - Duration::days(1)));
    unsubscribe(&mut w, Some("cust-2"), None, None);
    let rec = json!({"Timestamp": at(5), "CustomerAWSAccountId": "555566667777", "LicenseArn": arn,
        "Dimension": "LogEvents", "Quantity": 1});
    let r = licence_call(&mut w, vec![rec]).value();
    assert_eq!(r["Results"][0]["Status"], "CustomerNotSubscribed");
}

#[test]
fn one_product_a_call() {
    let mut w = world();
    let other = "arn:aws:license-manager::111122223333:license:l-other";
    register_licence(&mut w, other, ACCOUNT, "prod-2", Some(Utc::now() - Duration::days(1)));
    let mut rec = licence_record(at(5), "LogEvents", 1);
    rec["LicenseArn"] = other.into();
    let r = licence_call(&mut w, vec![licence_record(at(5), "LogEvents", 1), rec]);
    assert_eq!(kind(&r), "ValidationException");
}

#[test]
fn usage_allocations_sum_to_the_quantity_with_at_most_5_good_tags() {
    let mut w = world();
    let tags = |n: usize| (0..n).map(|i| json!({"Key": format!("k{i}"), "Value": "v"})).collect::<Vec<_>>();
    let with = |allocs: Value| {
        let mut rec = licence_record(at(5), "LogEvents", 5);
        rec["UsageAllocations"] = allocs;
        vec![rec]
    };
    let r = licence_call(&mut w, with(json!([{"AllocatedUsageQuantity": 2}, {"AllocatedUsageQuantity": 2}])));
    assert_eq!(kind(&r), "InvalidUsageAllocationsException");
    let r = licence_call(&mut w, with(json!([{"AllocatedUsageQuantity": 5, "Tags": tags(6)}])));
    assert_eq!(kind(&r), "InvalidTagException");
    let r = licence_call(&mut w, with(json!([{"AllocatedUsageQuantity": 5, "Tags": [{"Key": "k", "Value": "a|b"}]}])));
    assert_eq!(kind(&r), "InvalidTagException");
    let good = json!([{"AllocatedUsageQuantity": 3, "Tags": tags(5)}, {"AllocatedUsageQuantity": 2}]);
    let r = licence_call(&mut w, with(good));
    assert_eq!(r.value()["Results"][0]["Status"], "Success", "{}", r.body);
}

#[test]
fn faults_throttle_fail_drop_or_leave_records_unprocessed() {
    let mut w = world();
    let call = |w: &mut World| licence_call(w, vec![licence_record(at(5), "LogEvents", 1)]);
    w.add_fault("BatchMeterUsage".into(), Some(ARN.into()), "throttle".into(), 1, 1);
    let r = call(&mut w);
    assert_eq!((r.status, kind(&r)), (StatusCode::BAD_REQUEST, "ThrottlingException".into()));
    w.add_fault("BatchMeterUsage".into(), Some(PRODUCT.into()), "error".into(), 1, 1);
    assert_eq!(call(&mut w).status, StatusCode::INTERNAL_SERVER_ERROR);
    w.add_fault("any".into(), None, "unprocessed".into(), 1, 1);
    let r = call(&mut w).value();
    assert_eq!(
        (r["Results"].clone(), r["UnprocessedRecords"][0].clone()),
        (json!([]), licence_record(at(5), "LogEvents", 1))
    );
    assert!(w.ledger.is_empty());
    w.add_fault("BatchMeterUsage".into(), None, "drop".into(), 1, 1);
    assert_eq!(call(&mut w).status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(w.ledger.len(), 1, "applied, then the answer lost");
}

#[test]
fn resolve_customer_answers_what_each_integration_gets() {
    let mut w = world();
    let token = |ci: Option<&str>, arn: Option<&str>, ttl: i64| Token {
        customer_identifier: ci.map(String::from),
        license_arn: arn.map(String::from),
        aws_account_id: ACCOUNT.into(),
        product_code: PRODUCT.into(),
        agreement_id: arn.map(|_| "agmt-1".into()),
        expires_at: Utc::now() + Duration::seconds(ttl),
        redeemed: false,
    };
    let resolve = |w: &mut World, t: &str| {
        handle(w, "AWSMPMeteringService.ResolveCustomer", &json!({"RegistrationToken": t}).to_string())
    };
    let new = mint(&mut w, token(None, Some(ARN), 60), None);
    let v = resolve(&mut w, &new).value();
    assert_eq!(
        v,
        json!({"CustomerAWSAccountId": ACCOUNT, "LicenseArn": ARN, "ProductCode": PRODUCT, "Metadata": {"AgreementId": "agmt-1"}})
    );
    let legacy = mint(&mut w, token(Some("c-9"), None, 60), None);
    assert_eq!(
        resolve(&mut w, &legacy).value(),
        json!({"CustomerAWSAccountId": ACCOUNT, "CustomerIdentifier": "c-9", "ProductCode": PRODUCT})
    );
    let both = mint(&mut w, token(Some("c-8"), Some(ARN), 60), None);
    let v = resolve(&mut w, &both).value();
    assert!(
        ["CustomerIdentifier", "CustomerAWSAccountId", "LicenseArn", "ProductCode"].iter().all(|k| v.get(*k).is_some()),
        "{v}"
    );
    assert_eq!(kind(&resolve(&mut w, &new)), "ExpiredTokenException", "a token is redeemed once");
    let expired = mint(&mut w, token(Some("c-7"), None, 0), None);
    assert_eq!(kind(&resolve(&mut w, &expired)), "ExpiredTokenException");
    assert_eq!(kind(&resolve(&mut w, "emu-unknown")), "InvalidTokenException");
    assert_eq!(kind(&handle(&mut w, "AWSMPMeteringService.MeterUsage", "{}")), "UnknownOperationException");
}
