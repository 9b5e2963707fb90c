//! Alibaba Cloud Marketplace `PushMeteringData` (Market 2015-11-01, RPC style, `POST /`): the
//! parameters in the query string as the official SDKs send them, or in a form body; both are read
//! and the signature covers all of them.
//!
//! Pages (cited beside each rule by their short name):
//! - [PMD] 推送计量数据 PushMeteringData, https://help.aliyun.com/zh/marketplace/api-pushmeteringdata
//!   (newest copy https://help.aliyun.com/document_detail/153320.htm; its error table is the OpenAPI
//!   metadata of Market 2015-11-01).
//! - [CP] 公共参数 (common parameters), https://help.aliyun.com/zh/marketplace/common-parameters
//! - [SIG] 签名机制 (RPC signature V1), https://help.aliyun.com/document_detail/28839.html; the
//!   Marketplace copy https://www.alibabacloud.com/help/en/marketplace/signature-method
//! - [POP] The generic POP gateway's error codes (`SignatureDoesNotMatch`, `InvalidTimeStamp.Expired`,
//!   `SignatureNonceUsed`, `InvalidAction.NotFound`): not on any Marketplace page; used as the gateway
//!   in front of every RPC API answers them (stricter reading).

use crate::reply::{request_id, Reply};
use crate::world::{AliyunInstance, World};
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use sha1::Sha1;
use std::collections::{BTreeMap, BTreeSet};

type Outcome<T> = Result<T, Reply>;

/// [META] via [PMD]: the fixed entity keys of the Metering JSON.
pub const KEYS: [&str; 14] = [
    "Frequency",
    "Period",
    "Storage",
    "NetworkOut",
    "NetworkIn",
    "Character",
    "DailyActiveUser",
    "PeriodMin",
    "VirtualCpu",
    "Unit",
    "Memory",
    "KTokens",
    "Suit",
    "StorageGigaByte",
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    Json,
    Xml,
}

/// [CP]: "返回值的类型,支持 JSON 与 XML。默认为 XML。"
fn format_of(params: &BTreeMap<String, String>) -> Format {
    match params.get("Format") {
        Some(f) if f.eq_ignore_ascii_case("json") => Format::Json,
        _ => Format::Xml,
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// [CP]: failures answer 4xx/5xx with the common error body `RequestId`, `HostId`, `Code`, `Message`.
fn error(format: Format, status: StatusCode, code: &str, message: &str) -> Reply {
    let id = request_id();
    match format {
        Format::Json => Reply::json(
            status,
            &json!({ "RequestId": id, "HostId": "market.aliyuncs.com", "Code": code, "Message": message }),
        ),
        Format::Xml => Reply {
            status,
            content_type: "application/xml",
            headers: vec![],
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><RequestId>{id}</RequestId><HostId>market.aliyuncs.com</HostId><Code>{}</Code><Message>{}</Message></Error>",
                xml_escape(code),
                xml_escape(message)
            ),
        },
    }
}

fn metering_invalid(f: Format, message: &str) -> Reply {
    error(f, StatusCode::INTERNAL_SERVER_ERROR, "Invalid.Parameter.Metering", message)
}

/// [PMD] 正常返回示例: `{"Success": true, "RequestId": "…"}` and nothing else (XML by default).
fn success(format: Format) -> Reply {
    let id = request_id();
    match format {
        Format::Json => Reply::json(StatusCode::OK, &json!({ "Success": true, "RequestId": id })),
        Format::Xml => Reply {
            status: StatusCode::OK,
            content_type: "application/xml",
            headers: vec![],
            body: format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><PushMeteringDataResponse><RequestId>{id}</RequestId><Success>true</Success></PushMeteringDataResponse>"),
        },
    }
}

/// [SIG]: "A~Z、a~z、0~9以及"-"、"_"、"."和"~"不编码"; everything else `%XY` (space `%20`).
const RPC: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn rpc_encode(s: &str) -> String {
    utf8_percent_encode(s, RPC).to_string()
}

/// [SIG] StringToSign = HTTPMethod + "&" + percentEncode("/") + "&" + percentEncode(CanonicalizedQueryString),
/// the canonical query being every parameter but `Signature`, sorted by name, name and value encoded.
pub fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    let canonical = params
        .iter()
        .filter(|(k, _)| *k != "Signature")
        .map(|(k, v)| format!("{}={}", rpc_encode(k), rpc_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&%2F&{}", rpc_encode(&canonical))
}

/// [SIG] Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).
pub fn signature(secret: &str, method: &str, params: &BTreeMap<String, String>) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign(method, params).as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// One call of the Marketplace API (`Action` picks it; only `PushMeteringData` is emulated).
pub fn handle(world: &mut World, method: &str, params: &BTreeMap<String, String>) -> Reply {
    let format = format_of(params);
    push(world, method, params, format).unwrap_or_else(|e| e)
}

/// [CP]: every request carries Format, Version (2015-11-01), AccessKeyId, Signature, SignatureMethod
/// (HMAC-SHA1), Timestamp (`YYYY-MM-DDThh:mm:ssZ`, UTC), SignatureVersion (1.0), SignatureNonce; a
/// missing or wrong one is `400 Invalid.Parameter` ([PMD] error table: "The specified parameter is invalid.").
fn check_common(params: &BTreeMap<String, String>, f: Format) -> Outcome<DateTime<Utc>> {
    let required = [
        "Action",
        "Format",
        "Version",
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
    ];
    let invalid = |m: String| error(f, StatusCode::BAD_REQUEST, "Invalid.Parameter", &m);
    if let Some(missing) = required.iter().find(|k| params.get(**k).is_none_or(|v| v.is_empty())) {
        return Err(invalid(format!("The specified parameter {missing} is missing.")));
    }
    let fixed = [("Version", "2015-11-01"), ("SignatureMethod", "HMAC-SHA1"), ("SignatureVersion", "1.0")];
    if let Some((k, v)) = fixed.iter().find(|(k, v)| params[*k] != *v) {
        return Err(invalid(format!("The specified parameter {k} is invalid: it must be {v}.")));
    }
    if !["json", "xml"].contains(&params["Format"].to_ascii_lowercase().as_str()) {
        return Err(invalid("The specified parameter Format is invalid: JSON or XML.".into()));
    }
    let stamp = &params["Timestamp"];
    let parsed = NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%SZ").ok().filter(|_| stamp.len() == 20);
    let Some(t) = parsed else {
        return Err(invalid("The specified parameter Timestamp is invalid: YYYY-MM-DDThh:mm:ssZ (UTC).".into()));
    };
    if params["Action"] != "PushMeteringData" {
        let m = format!("Specified api {} is not found.", params["Action"]);
        return Err(error(f, StatusCode::BAD_REQUEST, "InvalidAction.NotFound", &m));
    }
    Ok(t.and_utc())
}

/// [SIG] checked with `ALIYUN_ACCESS_KEY_SECRET` → [POP] `400 SignatureDoesNotMatch`; the time stamp
/// within 15 minutes of the gateway's clock → else `400 InvalidTimeStamp.Expired`; [SIG] "SignatureNonce:
/// 唯一随机数,用于防止网络重放攻击。用户在不同请求间要使用不同的随机数值" → a nonce seen before is
/// `400 SignatureNonceUsed` (the gateway's; the window is not published: remembered for good here).
fn authenticate(
    world: &mut World,
    method: &str,
    params: &BTreeMap<String, String>,
    stamp: DateTime<Utc>,
    scopes: &[&str],
    f: Format,
) -> Outcome<()> {
    let secret = &world.config.aliyun_secret;
    if secret.is_empty() || signature(secret, method, params) != params["Signature"] {
        let m = "Specified signature is not matched with our calculation.";
        return Err(error(f, StatusCode::BAD_REQUEST, "SignatureDoesNotMatch", m));
    }
    if !world.is_fresh(stamp, scopes, Duration::minutes(15)) {
        let m = "Specified time stamp or date value is expired.";
        return Err(error(f, StatusCode::BAD_REQUEST, "InvalidTimeStamp.Expired", m));
    }
    if !world.aliyun_nonces.insert(params["SignatureNonce"].clone()) {
        let m = "Specified signature nonce was used already.";
        return Err(error(f, StatusCode::BAD_REQUEST, "SignatureNonceUsed", m));
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct Entity {
    key: String,
    value: u64,
    assit: String,
}

#[derive(Debug, Clone)]
struct Record {
    instance: String,
    start: i64,
    end: i64,
    entities: Vec<Entity>,
}

/// An integer the page writes as a JSON string (`"StartTime":"100000000"`, `"Value":"96"`) and types
/// as Long/Integer: both forms are read, nothing else (no sign, no decimals).
fn integer(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The instance ids a Metering text names, read loosely (for clocks and faults before validation).
fn instances_named(text: Option<&String>) -> Vec<String> {
    let records: Vec<Value> = text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    records.iter().filter_map(|r| r["InstanceId"].as_str().map(String::from)).collect()
}

/// [PMD] the `Metering` JSON: "Metering字段要严格按照文档中的示例来提交" and "示例中的参数都是必要的,数据缺失会推送计量失败":
/// an array of `{InstanceId, StartTime, EndTime (Unix seconds), Entities: [{Key, Value, meteringAssit}]}`
/// (`SerialNo` allowed: the LLM example); anything else → `500 Invalid.Parameter.Metering`.
/// "每次请求支持写入的计量数据为100条" / `Metering.Data.Exceeded` "The number of metering entities must not
/// exceed 100": counted in entities, the stricter of the two (records ≤ entities).
/// `Key` one of the 14 fixed keys; `Value` "计量数值（取值 >= 0）。参数类型为Integer";
/// an empty `meteringAssit` → `400 Invalid.Parameter.Metering "meteringAssit is empty"`.
fn parse_metering(text: Option<&String>, f: Format) -> Outcome<Vec<Record>> {
    let invalid = |m: &str| metering_invalid(f, m);
    let records: Vec<Value> = text
        .and_then(|t| serde_json::from_str(t).ok())
        .ok_or_else(|| invalid("The specified Metering parameter is invalid: a JSON array as in the example."))?;
    if records.is_empty() {
        return Err(invalid("The specified Metering parameter is invalid: no records."));
    }
    let entities: usize = records.iter().map(|r| r["Entities"].as_array().map_or(0, Vec::len)).sum();
    if records.len() > 100 || entities > 100 {
        let m = "The number of metering entities must not exceed 100.";
        return Err(error(f, StatusCode::INTERNAL_SERVER_ERROR, "Metering.Data.Exceeded", m));
    }
    records.iter().map(|r| parse_record(r, f)).collect()
}

fn only_keys(m: &Map<String, Value>, allowed: &[&str]) -> bool {
    m.keys().all(|k| allowed.contains(&k.as_str()))
}

fn parse_record(r: &Value, f: Format) -> Outcome<Record> {
    let invalid = |m: &str| metering_invalid(f, m);
    let m = r.as_object().filter(|m| only_keys(m, &["InstanceId", "StartTime", "EndTime", "Entities", "SerialNo"]));
    let m = m.ok_or_else(|| invalid("a record holds InstanceId, StartTime, EndTime, Entities (and SerialNo) only"))?;
    let instance = m.get("InstanceId").and_then(Value::as_str).filter(|s| !s.is_empty());
    let instance = instance.ok_or_else(|| invalid("InstanceId is required"))?;
    let time = |k: &str| m.get(k).and_then(integer).and_then(|t| i64::try_from(t).ok());
    let (Some(start), Some(end)) = (time("StartTime"), time("EndTime")) else {
        return Err(invalid("StartTime and EndTime are Unix times in seconds"));
    };
    let list = m.get("Entities").and_then(Value::as_array).filter(|l| !l.is_empty());
    let list = list.ok_or_else(|| invalid("Entities is a non-empty list"))?;
    let entities = list.iter().map(|e| parse_entity(e, f)).collect::<Outcome<Vec<_>>>()?;
    Ok(Record { instance: instance.to_string(), start, end, entities })
}

fn parse_entity(e: &Value, f: Format) -> Outcome<Entity> {
    let invalid = |m: &str| metering_invalid(f, m);
    let m = e.as_object().filter(|m| only_keys(m, &["Key", "Value", "meteringAssit"]));
    let m = m.ok_or_else(|| invalid("an entity holds Key, Value and meteringAssit only"))?;
    let key = m.get("Key").and_then(Value::as_str).filter(|k| KEYS.contains(k));
    let key = key.ok_or_else(|| invalid("Key is one of the fixed metering keys"))?;
    let value = m.get("Value").and_then(integer).ok_or_else(|| invalid("Value is an integer >= 0"))?;
    let Some(assit) = m.get("meteringAssit").and_then(Value::as_str).filter(|a| !a.is_empty()) else {
        return Err(error(f, StatusCode::BAD_REQUEST, "Invalid.Parameter.Metering", "meteringAssit is empty"));
    };
    Ok(Entity { key: key.to_string(), value, assit: assit.to_string() })
}

/// A metering item's product and key: `<productCode>-<Key>-<n>` ([PMD]: "格式如(cmapi00060317-PeriodMin-3,
/// cmapi00060317-PeriodMin-4)").
fn assit_parts(assit: &str) -> Option<(&str, &str)> {
    let mut parts = assit.rsplitn(3, '-');
    let (n, key, product) = (parts.next()?, parts.next()?, parts.next()?);
    let numbered = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    (numbered && !product.is_empty()).then_some((product, key))
}

fn push(world: &mut World, method: &str, params: &BTreeMap<String, String>, f: Format) -> Outcome<Reply> {
    let stamp = check_common(params, f)?;
    let named = instances_named(params.get("Metering"));
    let scopes: Vec<&str> = named.iter().map(String::as_str).collect();
    authenticate(world, method, params, stamp, &scopes, f)?;
    let records = parse_metering(params.get("Metering"), f)?;
    let mut fault_scopes = scopes.clone();
    fault_scopes.extend(records.iter().flat_map(|r| &r.entities).filter_map(|e| assit_parts(&e.assit)).map(|p| p.0));
    let fault = world.fault("PushMeteringData", &fault_scopes);
    match fault.as_deref() {
        Some("throttle") => return Err(flow_control(f)),
        Some("error" | "unprocessed" | "reject") => {
            let m = "An error occurred while processing your request.";
            return Err(error(f, StatusCode::INTERNAL_SERVER_ERROR, "UnknownError", m));
        }
        _ => {}
    }
    rate_limit(world, &records, f)?;
    let product = check_instances_and_items(world, &records, f)?;
    check_times(world, &records, f)?;
    apply(world, &product, &records);
    if fault.as_deref() == Some("drop") {
        let m = "injected: applied, then the answer was lost";
        return Err(error(f, StatusCode::INTERNAL_SERVER_ERROR, "UnknownError", m));
    }
    Ok(success(f))
}

fn flow_control(f: Format) -> Reply {
    let m = "The rate throttling threshold has been exceeded.";
    error(f, StatusCode::INTERNAL_SERVER_ERROR, "Service.Flow.Control", m)
}

/// [PMD] "按小时/天计量时:云市场对每个InstanceId的请求限制为60秒一次" → `500 Service.Flow.Control`. Every
/// authenticated call counts (the page limits requests, not successes); a throttled one does not
/// restart the minute.
fn rate_limit(world: &mut World, records: &[Record], f: Format) -> Outcome<()> {
    let instances: BTreeSet<&str> = records.iter().map(|r| r.instance.as_str()).collect();
    for i in &instances {
        let last = world.aliyun_last_push.get(*i);
        if last.is_some_and(|t| world.now(&[i]) - *t < Duration::seconds(60)) {
            return Err(flow_control(f));
        }
    }
    for i in instances {
        let now = world.now(&[i]);
        world.aliyun_last_push.insert(i.to_string(), now);
    }
    Ok(())
}

/// - Unknown instance → `500 Invalid.Parameter.Instance` ([PMD] error table).
/// - [PMD] "新发布的品推送计量时需要将这个参数传递过来": `meteringAssit` names one of the product's metering
///   items (`ALIYUN_METERING_ITEMS`), its Key part the entity's `Key`, else `500 Invalid.Parameter.Metering`.
/// - [PMD] "不支持跨商品的InstanceId批量推送,批量推送时请确保所有InstanceId来自同一个商品": one product a
///   call (the product of an item: its code's prefix), the instance's own if registered with one.
///
/// Returns the call's product.
fn check_instances_and_items(world: &World, records: &[Record], f: Format) -> Outcome<String> {
    let mut products = BTreeSet::new();
    for r in records {
        let Some(instance) = world.aliyun_instances.get(&r.instance) else {
            let m = "The specified Instance parameter is invalid.";
            return Err(error(f, StatusCode::INTERNAL_SERVER_ERROR, "Invalid.Parameter.Instance", m));
        };
        for e in &r.entities {
            let known = world.config.aliyun_items.values().any(|a| *a == e.assit);
            let Some((product, _)) = assit_parts(&e.assit).filter(|(_, k)| known && *k == e.key) else {
                return Err(metering_invalid(
                    f,
                    &format!("meteringAssit {} is not a {} item of the product", e.assit, e.key),
                ));
            };
            if instance.product_code.as_deref().is_some_and(|p| p != product) {
                return Err(metering_invalid(f, &format!("{} is not an item of the instance's product", e.assit)));
            }
            products.insert(product.to_string());
        }
    }
    match products.len() {
        1 => Ok(products.pop_first().unwrap_or_default()),
        _ => Err(metering_invalid(f, "all InstanceIds of a push must come from one product")),
    }
}

/// Time rules of a product billed hourly (not in real time), each → `500 Invalid.Parameter.Metering`:
/// - [PMD] "如果商品设置为非实时出账(即选择按小时、按天等),StartTime和EndTime 的间隔必须大于5分钟": > 300 s.
/// - EndTime not in the future (stricter: a period not yet over has no usage to bill).
/// - [PMD] "推送的计量数据是8:10-08:20,则必须在9.59之前将计量数据推送过来,否则将不会出账": the push
///   arrives before `floor_hour(StartTime) + 1h59m`. The page says only that a late hourly record is not
///   billed; the daily rule says a late push "会报错" (errors). The stricter reading refuses the late
///   hourly push too, so the sender learns it (docs/marketplaces/aliyun.md).
fn check_times(world: &World, records: &[Record], f: Format) -> Outcome<()> {
    for r in records {
        let now = world.now(&[r.instance.as_str()]).timestamp();
        if r.end - r.start <= 300 {
            return Err(metering_invalid(f, "EndTime - StartTime must be greater than 5 minutes"));
        }
        if r.end > now {
            return Err(metering_invalid(f, "EndTime is in the future"));
        }
        if now >= r.start.div_euclid(3600) * 3600 + 3600 + 59 * 60 {
            return Err(metering_invalid(f, "the push is past its deadline: before the end of the next hour (xx:59)"));
        }
    }
    Ok(())
}

/// [PMD] "如果实例状态已经过期,则在实例过期之后推送的计量数据不会出账,比如实例是2025-07-09 12:20:00过期,则推送过来的
/// 2025-07-09 13:00:00-2025-07-09 14:00:00这一小时的计量数据是不会出账的。2025-07-09 12:00:00-2025-07-09 13:00:00 这一小时
/// 的计量数据仍然可以正常出账。" A record starting after the hour in which the instance expired is taken
/// but not billed.
pub fn is_billed(instance: &AliyunInstance, start: i64) -> bool {
    instance.expires_at.is_none_or(|e| start < e.timestamp().div_euclid(3600) * 3600 + 3600)
}

/// The records into the ledger. No page documents a duplicate code (none is in [PMD]'s error table),
/// so the emulator invents none: a record identical to one taken (instance, start, end, key, item,
/// value) is not taken again; any other record is, even for a period already pushed.
fn apply(world: &mut World, product: &str, records: &[Record]) {
    for r in records {
        let billed = world.aliyun_instances.get(&r.instance).is_some_and(|i| is_billed(i, r.start));
        for e in &r.entities {
            let key = (r.instance.clone(), r.start, r.end, e.key.clone(), e.assit.clone(), e.value);
            if !world.aliyun_taken.insert(key) {
                continue;
            }
            let item = world.config.aliyun_items.iter().find(|(_, a)| **a == e.assit).map(|(i, _)| i.clone());
            world.ledger.push(json!({"platform": "aliyun", "product_code": product,
                "customer": format!("instance:{}", r.instance), "key": e.key, "metering_assit": e.assit,
                "item": item, "dimension": item.as_deref().unwrap_or(&e.assit), "start": r.start, "end": r.end,
                "timestamp": r.start, "value": e.value.to_string(), "quantity": e.value.to_string(),
                "billed": billed, "id": ulid::Ulid::new().to_string()}));
        }
    }
}

/// An instance the marketplace opened (known only once registered at the test endpoint).
pub fn register_instance(world: &mut World, id: &str, product_code: Option<String>, expires_at: Option<DateTime<Utc>>) {
    world.aliyun_instances.insert(id.to_string(), AliyunInstance { product_code, expires_at });
}

/// The instance expires now (its scope's clock); usage of later hours is no longer billed.
pub fn expire_now(world: &mut World, id: &str) {
    let now = world.now(&[id]);
    if let Some(i) = world.aliyun_instances.get_mut(id) {
        i.expires_at = Some(now);
    }
}

/// The request's parameters: the query string's and the form body's (`application/x-www-form-urlencoded`),
/// percent-decoded; the official SDKs put `Metering` in the query, others send a form.
pub fn rpc_params(query: Option<&str>, body: &[u8]) -> BTreeMap<String, String> {
    let decode = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    let pairs = |text: &str| {
        text.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect::<Vec<_>>()
    };
    let mut params: BTreeMap<String, String> = pairs(query.unwrap_or_default()).into_iter().collect();
    params.extend(pairs(&String::from_utf8_lossy(body)));
    params
}

#[cfg(test)]
#[path = "aliyun_tests.rs"]
mod tests;
