//! AWS Marketplace Metering Service over its wire protocol (awsJson1.1: `POST /`,
//! `X-Amz-Target: AWSMPMeteringService.<Op>`; errors `{"__type","message"}`, client faults 400,
//! `InternalServiceErrorException` 500 — the service model's `client`/`server` traits, botocore
//! `marketplace.meteringmarketplace` service-2.json and the Rust SDK 1.124 model).
//!
//! Pages (cited beside each rule by their short name):
//! - [BMU] "BatchMeterUsage - AWS Marketplace",
//!   https://docs.aws.amazon.com/marketplace/latest/APIReference/API_marketplace-metering_BatchMeterUsage.html
//! - [UR] "UsageRecord", https://docs.aws.amazon.com/marketplace/latest/APIReference/API_marketplace-metering_UsageRecord.html
//! - [URR] "UsageRecordResult",
//!   https://docs.aws.amazon.com/marketplace/latest/APIReference/API_marketplace-metering_UsageRecordResult.html
//! - [RC] "ResolveCustomer",
//!   https://docs.aws.amazon.com/marketplace/latest/APIReference/API_marketplace-metering_ResolveCustomer.html
//! - [RH6539] RedHatInsights/rhsm-subscriptions PR #6539 "Omit ProductCode when metering with LicenseArn",
//!   https://github.com/RedHatInsights/rhsm-subscriptions/pull/6539 (a production client's observation).

use crate::reply::Reply;
use crate::world::{AwsTaken, LegacyCustomer, Licence, Token, World};
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

type Outcome<T> = Result<T, Reply>;

fn error(status: StatusCode, kind: &str, message: &str) -> Reply {
    Reply {
        status,
        content_type: "application/x-amz-json-1.1",
        headers: vec![("x-amzn-errortype", kind.to_string())],
        body: json!({ "__type": kind, "message": message }).to_string(),
    }
}

fn refuse(kind: &str, message: &str) -> Reply {
    error(StatusCode::BAD_REQUEST, kind, message)
}

fn internal(message: &str) -> Reply {
    error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServiceErrorException", message)
}

fn ok(v: Value) -> Reply {
    Reply { status: StatusCode::OK, content_type: "application/x-amz-json-1.1", headers: vec![], body: v.to_string() }
}

/// One call of the Metering Service, by its `X-Amz-Target`.
pub fn handle(world: &mut World, target: &str, body: &str) -> Reply {
    match target.strip_prefix("AWSMPMeteringService.") {
        Some("ResolveCustomer") => resolve_customer(world, body).unwrap_or_else(|e| e),
        Some("BatchMeterUsage") => batch_meter_usage(world, body).unwrap_or_else(|e| e),
        _ => refuse("UnknownOperationException", &format!("unknown operation {target}")),
    }
}

fn parse_object(body: &str) -> Outcome<Map<String, Value>> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(refuse("SerializationException", "the body is not a JSON object")),
    }
}

/// A member as AWS's JSON protocol reads it: `null` is unset.
fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).filter(|v| !v.is_null())
}

fn string_field<'a>(m: &'a Map<String, Value>, name: &str) -> Outcome<Option<&'a str>> {
    match field(m, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(refuse("SerializationException", &format!("{name} is not a string"))),
    }
}

// ---------------------------------------------------------------------------------------------
// ResolveCustomer

/// [RC]: a new integration gets `CustomerAWSAccountId`, `LicenseArn`, `ProductCode` (and, SDK 1.124,
/// `Metadata.AgreementId`); "For new SaaS product integrations, the `CustomerIdentifier` field is not
/// populated"; an existing integration continues to get `CustomerIdentifier` along with the others.
/// `InvalidTokenException` for an unknown token; `ExpiredTokenException` "The submitted registration
/// token has expired. This can happen if the buyer's browser takes too long to redirect to your page,
/// the buyer has resubmitted the registration token, or your application has held on to the
/// registration token for too long": expired, or resolved once already.
fn resolve_customer(world: &mut World, body: &str) -> Outcome<Reply> {
    let input = parse_object(body)?;
    let Some(token) = string_field(&input, "RegistrationToken")? else {
        return Err(refuse("ValidationException", "RegistrationToken is required"));
    };
    let Some(t) = world.tokens.get_mut(token) else {
        return Err(refuse("InvalidTokenException", "Registration token is invalid."));
    };
    if t.expires_at <= Utc::now() || t.redeemed {
        return Err(refuse("ExpiredTokenException", "The submitted registration token has expired."));
    }
    t.redeemed = true;
    let mut out = json!({ "CustomerAWSAccountId": t.aws_account_id, "ProductCode": t.product_code });
    if let Some(id) = &t.customer_identifier {
        out["CustomerIdentifier"] = id.as_str().into();
    }
    if let Some(arn) = &t.license_arn {
        out["LicenseArn"] = arn.as_str().into();
    }
    if let Some(agreement) = &t.agreement_id {
        out["Metadata"] = json!({ "AgreementId": agreement });
    }
    Ok(ok(out))
}

/// A token minted at the test endpoint; minting models the buyer subscribing, so it (re)registers
/// the licence (activated at `activated_at`, default now) and the legacy customer it names as active.
pub fn mint(world: &mut World, t: Token, activated_at: Option<DateTime<Utc>>) -> String {
    if let Some(arn) = &t.license_arn {
        let now = world.now(&[arn.as_str(), t.product_code.as_str()]);
        register_licence(world, arn, &t.aws_account_id, &t.product_code, activated_at.or(Some(now)));
    }
    if let Some(id) = &t.customer_identifier {
        let c = LegacyCustomer {
            aws_account_id: t.aws_account_id.clone(),
            product_code: t.product_code.clone(),
            license_arn: t.license_arn.clone(),
            unsubscribed: false,
        };
        world.legacy.insert(id.clone(), c);
    }
    let token = format!("emu-{}", ulid::Ulid::new());
    world.tokens.insert(token.clone(), t);
    token
}

/// A licence AWS knows (learnt by the product from events). A licence registered again keeps its
/// activation time unless a new one is given.
pub fn register_licence(
    world: &mut World,
    arn: &str,
    account: &str,
    product: &str,
    activated_at: Option<DateTime<Utc>>,
) {
    let now = world.now(&[arn, product]);
    let before = world.licences.get(arn).map(|l| l.activated_at);
    let licence = Licence {
        aws_account_id: account.to_string(),
        product_code: product.to_string(),
        activated_at: activated_at.or(before).unwrap_or(now),
        deprovisioned: false,
    };
    world.licences.insert(arn.to_string(), licence);
}

/// The customer unsubscribes (`CustomerNotSubscribed` from now on). One subscription whichever name
/// it goes by: a legacy customer's licence is deprovisioned with it, and the other way round; an
/// account without a licence ends all of its subscriptions.
pub fn unsubscribe(world: &mut World, customer_identifier: Option<&str>, account: Option<&str>, licence: Option<&str>) {
    let mut licences: Vec<String> = licence.map(String::from).into_iter().collect();
    if let Some(c) = customer_identifier.and_then(|id| world.legacy.get_mut(id)) {
        c.unsubscribed = true;
        licences.extend(c.license_arn.clone());
    }
    if let (Some(acct), None) = (account, licence) {
        licences.extend(world.licences.iter().filter(|(_, l)| l.aws_account_id == acct).map(|(a, _)| a.clone()));
    }
    for arn in &licences {
        if let Some(l) = world.licences.get_mut(arn) {
            l.deprovisioned = true;
        }
    }
    for c in world.legacy.values_mut() {
        let same_licence = c.license_arn.as_ref().is_some_and(|a| licences.contains(a));
        let same_account = licence.is_none() && account == Some(c.aws_account_id.as_str());
        if same_licence || same_account {
            c.unsubscribed = true;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// BatchMeterUsage: the records

/// Who a record meters: a customer identifier (listings integrated before licences) or an account,
/// with the licence of the agreement (concurrent agreements) or without (account + ProductCode).
#[derive(Debug, Clone, PartialEq)]
enum Who {
    Legacy(String),
    Account { account: String, licence: Option<String> },
}

impl Who {
    /// The ledger's customer key: `acct:<account>|<licenceArn>` or `id:<customerIdentifier>`.
    fn key(&self) -> String {
        match self {
            Who::Legacy(id) => format!("id:{id}"),
            Who::Account { account, licence } => format!("acct:{account}|{}", licence.as_deref().unwrap_or_default()),
        }
    }

    fn licence(&self) -> Option<&str> {
        match self {
            Who::Account { licence: Some(l), .. } => Some(l),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct UsageRecord {
    raw: Value,
    timestamp: DateTime<Utc>,
    dimension: String,
    quantity: i64,
    who: Who,
}

/// [UR]: `Quantity` is an integer 0..2147483647, "Defaults to 0 if not specified".
const MAX_QUANTITY: i64 = 2_147_483_647;

fn parse_record(raw: &Value) -> Outcome<UsageRecord> {
    let Some(m) = raw.as_object() else {
        return Err(refuse("SerializationException", "a UsageRecord is not an object"));
    };
    // [UR]: `Timestamp` and `Dimension` are required; the SDK sends the timestamp as epoch seconds.
    let timestamp = match field(m, "Timestamp") {
        None => return Err(refuse("ValidationException", "Timestamp is required")),
        Some(v) => v.as_f64().ok_or_else(|| refuse("SerializationException", "Timestamp is not a number"))?,
    };
    let timestamp = DateTime::from_timestamp(timestamp.floor() as i64, ((timestamp.fract()) * 1e9) as u32)
        .ok_or_else(|| refuse("ValidationException", "Timestamp is out of range"))?;
    // [UR]: Dimension, length 1..255, pattern [\s\S]+.
    let dimension =
        string_field(m, "Dimension")?.ok_or_else(|| refuse("ValidationException", "Dimension is required"))?;
    if dimension.is_empty() || dimension.chars().count() > 255 {
        return Err(refuse("ValidationException", "Dimension must be 1 to 255 characters"));
    }
    let quantity = match field(m, "Quantity") {
        None => 0,
        Some(v) if v.is_number() => v
            .as_i64()
            .filter(|q| (0..=MAX_QUANTITY).contains(q))
            .ok_or_else(|| refuse("ValidationException", "Quantity must be an integer from 0 to 2147483647"))?,
        Some(_) => return Err(refuse("SerializationException", "Quantity is not a number")),
    };
    let who = who(m)?;
    check_allocations(field(m, "UsageAllocations"), quantity)?;
    Ok(UsageRecord { raw: raw.clone(), timestamp, dimension: dimension.to_string(), quantity, who })
}

/// The customer a record names.
/// - [BMU] model text 2025-03..2026-01: "`CustomerIdentifier` and `CustomerAWSAccountID` are mutually
///   exclusive parameters. You must use one or the other, but not both in the same API request." The
///   current text no longer says it; the stricter reading is kept, and a record carrying the key
///   `CustomerIdentifier` at all (even `""`, which the Rust SDK 1.124 writes for a record that never set
///   it) next to `CustomerAWSAccountId` is refused.
/// - [UR]: `CustomerAWSAccountId` length 1..255, pattern `^[0-9]+$`; `CustomerIdentifier` 0..255.
/// - A record naming no customer has nobody to bill.
fn who(m: &Map<String, Value>) -> Outcome<Who> {
    let identifier = string_field(m, "CustomerIdentifier")?;
    let account = string_field(m, "CustomerAWSAccountId")?;
    let licence = string_field(m, "LicenseArn")?;
    if identifier.is_some() && account.is_some() {
        return Err(refuse(
            "ValidationException",
            "CustomerIdentifier and CustomerAWSAccountId are mutually exclusive parameters",
        ));
    }
    if identifier.is_some_and(|s| s.chars().count() > 255) {
        return Err(refuse("ValidationException", "CustomerIdentifier must be at most 255 characters"));
    }
    if let Some(a) = account {
        if a.is_empty() || a.len() > 255 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse("ValidationException", "CustomerAWSAccountId must match ^[0-9]+$ (1 to 255)"));
        }
    }
    match (identifier.filter(|s| !s.is_empty()), account, licence) {
        (Some(_), _, Some(_)) => Err(refuse(
            "ValidationException",
            "LicenseArn identifies an account's licence: it goes with CustomerAWSAccountId",
        )),
        (Some(id), None, None) => Ok(Who::Legacy(id.to_string())),
        (None, Some(a), l) => Ok(Who::Account { account: a.to_string(), licence: l.map(String::from) }),
        _ => Err(refuse("ValidationException", "a UsageRecord must name CustomerAWSAccountId or CustomerIdentifier")),
    }
}

/// [UR] `UsageAllocations`: 1..2500 allocations, each `AllocatedUsageQuantity` 0..2147483647 and
/// 1..5 tags (`Key` 1..100, `Value` 1..256, pattern `^[a-zA-Z0-9+ -=._:\/@]+$`); "The sum of all
/// `UsageAllocation` quantities must equal the Quantity of the `UsageRecord`" →
/// `InvalidUsageAllocationsException`; a bad tag or more than 5 → `InvalidTagException`.
fn check_allocations(v: Option<&Value>, quantity: i64) -> Outcome<()> {
    let Some(v) = v else { return Ok(()) };
    let list = v.as_array().ok_or_else(|| refuse("SerializationException", "UsageAllocations is not a list"))?;
    if list.is_empty() || list.len() > 2500 {
        return Err(refuse("ValidationException", "UsageAllocations must hold 1 to 2500 allocations"));
    }
    let mut sum = 0i64;
    for a in list {
        let q = a["AllocatedUsageQuantity"].as_i64().filter(|q| (0..=MAX_QUANTITY).contains(q));
        sum += q.ok_or_else(|| refuse("ValidationException", "AllocatedUsageQuantity must be 0 to 2147483647"))?;
        if let Some(tags) = a.get("Tags").filter(|t| !t.is_null()) {
            let tags = tags.as_array().filter(|t| (1..=5).contains(&t.len()));
            let good = |t: &Value| tag_text(&t["Key"], 100) && tag_text(&t["Value"], 256);
            if !tags.is_some_and(|t| t.iter().all(good)) {
                return Err(refuse(
                    "InvalidTagException",
                    "The tag is invalid, or the number of tags is greater than 5.",
                ));
            }
        }
    }
    if sum != quantity {
        return Err(refuse(
            "InvalidUsageAllocationsException",
            "Sum of allocated usage quantities is not equal to the usage quantity.",
        ));
    }
    Ok(())
}

fn tag_text(v: &Value, max: usize) -> bool {
    // `^[a-zA-Z0-9+ -=._:\/@]+$`: note ` -=` is the range space..'='.
    let allowed = |c: char| c.is_ascii_alphanumeric() || (' '..='=').contains(&c) || "+._:/@".contains(c);
    v.as_str().is_some_and(|s| (1..=max).contains(&s.chars().count()) && s.chars().all(allowed))
}

/// The model's `LicenseArn` pattern:
/// `^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.-]{0,1023}$`.
fn is_license_arn(s: &str) -> bool {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_/.-".contains(c);
    let Some((partition, rest)) = s.strip_prefix("arn:aws").and_then(|r| r.split_once(':')) else {
        return false;
    };
    let parts: Vec<&str> = rest.splitn(4, ':').collect();
    let [service, region, account, resource] = parts[..] else { return false };
    let starts_alnum = |p: &str| p.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    partition.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
        && starts_alnum(service)
        && service.len() <= 63
        && service.chars().all(plain)
        && region.len() <= 63
        && region.chars().all(plain)
        && account.len() <= 63
        && account.chars().all(plain)
        && starts_alnum(resource)
        && resource.len() <= 1024
        && resource.chars().all(|c| c.is_ascii_alphanumeric() || ":_/+=,@.-".contains(c))
}

// ---------------------------------------------------------------------------------------------
// BatchMeterUsage: the call

fn batch_meter_usage(world: &mut World, body: &str) -> Outcome<Reply> {
    // [BMU]: "each request must be less than 1 MB in size".
    if body.len() >= 1 << 20 {
        return Err(refuse("ValidationException", "the request must be less than 1 MB"));
    }
    let input = parse_object(body)?;
    let product = product_code(&input)?;
    // [BMU]: "BatchMeterUsage can process up to 25 UsageRecords at a time" (model: max 25).
    let raw = match field(&input, "UsageRecords") {
        None => return Err(refuse("ValidationException", "UsageRecords is required")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(refuse("SerializationException", "UsageRecords is not a list")),
    };
    if raw.len() > 25 {
        return Err(refuse("ValidationException", "UsageRecords must have at most 25 members"));
    }
    let records = raw.iter().map(parse_record).collect::<Outcome<Vec<_>>>()?;
    check_product_code(product, &records)?;
    let scopes = call_scopes(world, product, &records);
    let fault = world.fault("BatchMeterUsage", &scopes.iter().map(String::as_str).collect::<Vec<_>>());
    match fault.as_deref() {
        Some("throttle") => return Err(refuse("ThrottlingException", "The calls to the API are throttled.")),
        Some("error" | "reject") => return Err(internal("injected: an internal error has occurred")),
        // [BMU]: `UnprocessedRecords` "indicate errors on the service side that should be retried".
        Some("unprocessed") => return Ok(ok(json!({ "Results": [], "UnprocessedRecords": raw }))),
        _ => {}
    }
    let product = check_customers(world, product, &records)?;
    check_dimensions(world, &records)?;
    check_timestamps(world, &product, &records)?;
    let results: Vec<Value> = records.iter().map(|r| take(world, &product, r)).collect();
    if fault.as_deref() == Some("drop") {
        return Err(internal("injected: applied, then the answer was lost"));
    }
    Ok(ok(json!({ "Results": results, "UnprocessedRecords": [] })))
}

/// [BMU] model: `ProductCode` 0..255, pattern `^[-a-zA-Z0-9/=:_.@]*$`, optional since 2026-02.
/// Present as `""` it names no product: refused (stricter; the project never sends it so).
fn product_code(input: &Map<String, Value>) -> Outcome<Option<&str>> {
    let code = string_field(input, "ProductCode")?;
    if let Some(c) = code {
        let allowed = |ch: char| ch.is_ascii_alphanumeric() || "-/=:_.@".contains(ch);
        if c.is_empty() || c.len() > 255 || !c.chars().all(allowed) {
            return Err(refuse("ValidationException", "ProductCode must be 1 to 255 of [-a-zA-Z0-9/=:_.@]"));
        }
    }
    Ok(code)
}

/// [BMU] SDK 1.124 `ProductCode` member: "`ProductCode` is required only for legacy integrations that
/// use `CustomerIdentifier`. For new integrations using `LicenseArn` (Concurrent Agreements), do NOT
/// include `ProductCode` at the request level." [RH6539]: "AWS rejects BatchMeterUsage that sends both
/// ProductCode and LicenseArn for concurrent-agreement products." An account record without a licence
/// has only `ProductCode` to name its product.
fn check_product_code(product: Option<&str>, records: &[UsageRecord]) -> Outcome<()> {
    let has_licence = records.iter().any(|r| r.who.licence().is_some());
    let needs_product = records.iter().any(|r| matches!(r.who, Who::Legacy(_) | Who::Account { licence: None, .. }));
    if product.is_some() && has_licence {
        return Err(refuse("ValidationException", "do not include ProductCode with LicenseArn records"));
    }
    if product.is_none() && needs_product {
        return Err(refuse("ValidationException", "ProductCode is required for records without LicenseArn"));
    }
    Ok(())
}

/// What faults and clocks of a call are scoped by: its product code, its licences and their products.
fn call_scopes(world: &World, product: Option<&str>, records: &[UsageRecord]) -> Vec<String> {
    let mut scopes: Vec<String> = product.map(String::from).into_iter().collect();
    for arn in records.iter().filter_map(|r| r.who.licence()) {
        scopes.push(arn.to_string());
        scopes.extend(world.licences.get(arn).map(|l| l.product_code.clone()));
    }
    scopes
}

/// Whole-call refusals naming the customer:
/// - `InvalidLicenseException` ([BMU] errors): "Ensure the `LicenseArn` is valid, matches the customer,
///   and usage is within the license activation period": a malformed ARN (model pattern), a licence AWS
///   does not know, one of another account, or a timestamp before its activation.
/// - `InvalidCustomerIdentifierException`: "You have metered usage for a `CustomerIdentifier` that does
///   not exist."; `InvalidProductCodeException`: "The product code passed does not match the product code
///   used for publishing the product."
/// - [BMU]: "Each `BatchMeterUsage` request is for only one product": licences of several products in
///   one call are refused (`ValidationException`; the page names no exception for it).
///
/// Returns the call's product.
fn check_customers(world: &World, product: Option<&str>, records: &[UsageRecord]) -> Outcome<String> {
    let mut products: BTreeSet<String> = product.map(String::from).into_iter().collect();
    let invalid_licence = || {
        refuse(
            "InvalidLicenseException",
            "Ensure the LicenseArn is valid, matches the customer, and usage is within the license activation period.",
        )
    };
    for r in records {
        match &r.who {
            Who::Legacy(id) => {
                let Some(c) = world.legacy.get(id) else {
                    return Err(refuse(
                        "InvalidCustomerIdentifierException",
                        "You have metered usage for a CustomerIdentifier that does not exist.",
                    ));
                };
                if Some(c.product_code.as_str()) != product {
                    return Err(refuse(
                        "InvalidProductCodeException",
                        "The product code passed does not match the product code used for publishing the product.",
                    ));
                }
            }
            Who::Account { account, licence: Some(arn) } => {
                let l = world.licences.get(arn).filter(|_| is_license_arn(arn)).ok_or_else(invalid_licence)?;
                if &l.aws_account_id != account || r.timestamp < l.activated_at {
                    return Err(invalid_licence());
                }
                products.insert(l.product_code.clone());
            }
            Who::Account { licence: None, .. } => {}
        }
    }
    match products.len() {
        1 => Ok(products.pop_first().unwrap_or_default()),
        _ => Err(refuse("ValidationException", "Each BatchMeterUsage request is for only one product")),
    }
}

/// `InvalidUsageDimensionException` ([BMU] errors): "The usage dimension does not match one of the
/// `UsageDimensions` associated with products." The product's dimensions: `AWS_DIMENSIONS`.
fn check_dimensions(world: &World, records: &[UsageRecord]) -> Outcome<()> {
    match records.iter().find(|r| !world.config.aws_dimensions.contains(&r.dimension)) {
        Some(r) => Err(refuse(
            "InvalidUsageDimensionException",
            &format!(
                "The usage dimension {} does not match one of the UsageDimensions associated with products.",
                r.dimension
            ),
        )),
        None => Ok(()),
    }
}

/// `TimestampOutOfBoundsException` ([BMU] errors): "For `BatchMeterUsage`, if any of the records are
/// outside of the allowed range, the entire batch is not processed."
fn check_timestamps(world: &World, product: &str, records: &[UsageRecord]) -> Outcome<()> {
    for r in records {
        let scopes: Vec<&str> = r.who.licence().into_iter().chain([product]).collect();
        if !timestamp_in_bounds(r.timestamp, world.now(&scopes)) {
            return Err(refuse(
                "TimestampOutOfBoundsException",
                "The timestamp value passed in the UsageRecord is out of allowed range.",
            ));
        }
    }
    Ok(())
}

/// The allowed range of a record's `Timestamp` seen at `now`:
/// - [BMU] before 2026-07: "Usage records aren't accepted 6 hours or more after an event"; since
///   2026-07 the text says 24 hours. The stricter 6 hours is kept (docs/marketplaces/aws.md).
/// - Not in the future: [UR] "Make sure the `timestamp` value is not before the start of the software
///   usage"; a minute's clock skew is allowed.
/// - [BMU]: "We accept usage records for the previous billing month until 06:00 UTC on the first day of
///   the next month." (Within the 6-hour rule this cut-off never binds on its own; it is kept so that
///   the rule stands if the window is widened.)
pub fn timestamp_in_bounds(ts: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let month_start = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().unwrap_or(now);
    let previous_month_closed = ts < month_start && now >= month_start + Duration::hours(6);
    ts > now - Duration::hours(6) && ts <= now + Duration::seconds(60) && !previous_month_closed
}

fn is_subscribed(world: &World, product: &str, who: &Who) -> bool {
    match who {
        Who::Legacy(id) => world.legacy.get(id).is_some_and(|c| !c.unsubscribed),
        Who::Account { licence: Some(arn), .. } => world.licences.get(arn).is_some_and(|l| !l.deprovisioned),
        Who::Account { account, licence: None } => {
            world
                .licences
                .values()
                .any(|l| &l.aws_account_id == account && l.product_code == product && !l.deprovisioned)
                || world
                    .legacy
                    .values()
                    .any(|c| &c.aws_account_id == account && c.product_code == product && !c.unsubscribed)
        }
    }
}

/// One record of an accepted call ([URR]):
/// - `CustomerNotSubscribed`: "The CustomerIdentifier specified is not able to use your product" —
///   unsubscribed, or its licence deprovisioned.
/// - `DuplicateRecord`: "A previously metered UsageRecord had the same customer, dimension, and time,
///   but a different quantity." "Time" is read as the **hour**: AWS meters hourly and [BMU] says records
///   "for the same customer within the same hour will result in duplicate billing"; the page gives no
///   finer grain, and the hour is the stricter reading.
/// - Otherwise `Success`; the same record again is the same record ([UR]: "Multiple requests with the
///   same UsageRecords as input will be de-duplicated to prevent double charges"): same
///   `MeteringRecordId`, nothing new in the ledger.
fn take(world: &mut World, product: &str, r: &UsageRecord) -> Value {
    let customer = r.who.key();
    let hour = r.timestamp.timestamp().div_euclid(3600) * 3600;
    let (status, id) = if !is_subscribed(world, product, &r.who) {
        ("CustomerNotSubscribed", None)
    } else {
        let key = (product.to_string(), customer.clone(), r.dimension.clone(), hour);
        match world.aws_taken.get(&key) {
            Some(t) if t.quantity == r.quantity => ("Success", Some(t.id.clone())),
            Some(_) => ("DuplicateRecord", None),
            None => {
                let id = ulid::Ulid::new().to_string();
                world.aws_taken.insert(key, AwsTaken { quantity: r.quantity, id: id.clone() });
                world.ledger.push(json!({"platform": "aws", "product_code": product, "customer": customer,
                    "dimension": r.dimension, "timestamp": r.timestamp.timestamp(),
                    "quantity": r.quantity.to_string(), "id": id}));
                ("Success", Some(id))
            }
        }
    };
    let mut result = json!({ "UsageRecord": r.raw, "Status": status });
    if let Some(id) = id {
        result["MeteringRecordId"] = id.into();
    }
    result
}

#[cfg(test)]
#[path = "aws_tests.rs"]
mod tests;
