//! Huawei Cloud KooGallery (SaaS Access Guide V2.0): the pay-per-use usage push and the order query.
//!
//! Pages (cited beside each rule by their short name):
//! - [PUSH] 按需使用量推送(新) / "Pushing the Pay-per-Use Resource Usage (New)",
//!   https://support.huaweicloud.com/intl/zh-cn/accessg-marketplace/topic_0070649117.html (EN same path
//!   under intl/en-us; older guide topic_0070649083; CN site zh-cn_topic_0070649410 with the Java demo).
//! - [ERR] 云商店-按需使用量推送:响应消息 / error codes, https://support.huaweicloud.com/accessg-marketplace/zh-cn_topic_0070649186.html
//! - [SDR] the push pages' notes on SDRs (话单) and the SDR-level codes 001..013 ("话单级错误码"), read in
//!   site-search excerpts of the same pages.
//! - [ORDER] 查询订单 / "Querying an Order", https://support.huaweicloud.com/accessg-marketplace/zh-cn_topic_0070649350.html
//!   (EN https://support.huaweicloud.com/intl/en-us/accessg-marketplace/topic_0070649116.html).

use crate::apig;
use crate::reply::{request_id, Reply};
use crate::world::{KooInstance, KooOrder, World};
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value};
use sha2::Sha256;

type Outcome<T> = Result<T, Reply>;

/// [ERR]: every answer is `{"error_code","error_msg"}` with the table's HTTP status.
fn answer(status: StatusCode, code: &str, msg: &str) -> Reply {
    Reply::json(status, &json!({ "error_code": code, "error_msg": msg }))
}

fn invalid_parameter(detail: &str) -> Reply {
    answer(StatusCode::BAD_REQUEST, "MKT.0101", &format!("Invalid parameter: {detail}"))
}

fn bad_format(detail: &str) -> Reply {
    answer(StatusCode::INTERNAL_SERVER_ERROR, "MKT.0100", &format!("Failure of input parameter: {detail}"))
}

fn bad_sign(detail: &str) -> Reply {
    answer(StatusCode::BAD_REQUEST, "MKT.0102", &format!("Invalid body sign: {detail}"))
}

fn internal() -> Reply {
    answer(StatusCode::INTERNAL_SERVER_ERROR, "MKT.0999", "System internal error.")
}

// ---------------------------------------------------------------------------------------------
// The usage push: POST /api/mkp-openapi-public/global/v1/isv/usage-data

/// [PUSH] "此处body按自然排序后参与签名" (the body takes part in the signature sorted in natural order):
/// read strictly, the body sent is that sorted body, its keys ascending at every level. A visitor
/// over the raw JSON, which meets the keys in the order they were written.
struct Sorted(bool);

impl<'de> Deserialize<'de> for Sorted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SortedVisitor)
    }
}

struct SortedVisitor;

impl<'de> Visitor<'de> for SortedVisitor {
    type Value = Sorted;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Sorted, E> {
        Ok(Sorted(true))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Sorted, E> {
        Ok(Sorted(true))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Sorted, E> {
        Ok(Sorted(true))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Sorted, E> {
        Ok(Sorted(true))
    }
    fn visit_str<E>(self, _: &str) -> Result<Sorted, E> {
        Ok(Sorted(true))
    }
    fn visit_unit<E>(self) -> Result<Sorted, E> {
        Ok(Sorted(true))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sorted, A::Error> {
        let mut sorted = true;
        while let Some(Sorted(s)) = seq.next_element()? {
            sorted &= s;
        }
        Ok(Sorted(sorted))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sorted, A::Error> {
        let (mut sorted, mut previous) = (true, None::<String>);
        while let Some(key) = map.next_key::<String>()? {
            sorted &= previous.as_ref().is_none_or(|p| *p < key);
            let Sorted(s) = map.next_value()?;
            sorted &= s;
            previous = Some(key);
        }
        Ok(Sorted(sorted))
    }
}

/// Whether a JSON body's keys are in natural (ascending) order at every level; `None` if not JSON.
pub fn keys_in_natural_order(body: &[u8]) -> Option<bool> {
    serde_json::from_slice::<Sorted>(body).ok().map(|s| s.0)
}

/// [PUSH] `signature` = "base64(hmacSHA256(商家对接密钥, ts={ts}&nonce={nonce}&body={body}))", the key
/// being the one bound to the basic interface (the Java demo's `ISV_ACCESS_KEY`, "商家密钥-已绑定基础接口的密钥值").
pub fn push_signature(key: &str, ts: &str, nonce: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("ts={ts}&nonce={nonce}&body=").as_bytes());
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

#[derive(Debug, Clone)]
struct UsageRecord {
    raw: Value,
    instance: String,
    record_time: String,
    begin_time: String,
    end_time: String,
    begin: DateTime<Utc>,
    end: DateTime<Utc>,
    value: String,
    metering_sn: String,
    relate_pkg_instance: Option<String>,
}

impl UsageRecord {
    /// What makes a resend harmless: every field the same.
    fn content(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}",
            self.instance,
            self.record_time,
            self.begin_time,
            self.end_time,
            self.value,
            self.relate_pkg_instance.as_deref().unwrap_or_default()
        )
    }
}

/// One usage push.
pub fn usage_push(world: &mut World, headers: &HeaderMap, body: &[u8]) -> Reply {
    push(world, headers, body).unwrap_or_else(|e| e)
}

fn push(world: &mut World, headers: &HeaderMap, body: &[u8]) -> Outcome<Reply> {
    let named = instances_named(body);
    let scopes: Vec<&str> = named.iter().map(String::as_str).collect();
    authenticate(world, headers, body, &scopes)?;
    let records = parse_body(body)?;
    let fault = world.fault("KooGalleryUsage", &scopes);
    match fault.as_deref() {
        Some("reject") => {
            return Err(answer(StatusCode::INTERNAL_SERVER_ERROR, "MKT.9001", "Instance ID not found."));
        }
        Some("drop") | None => {}
        Some(_) => return Err(internal()),
    }
    check_call(world, &records)?;
    take(world, &records);
    if fault.is_some() {
        // Applied, then the answer is lost.
        return Err(internal());
    }
    // [ERR] 响应消息示例: { "error_code":"MKT.0000", "error_msg":"success" }.
    Ok(answer(StatusCode::OK, "MKT.0000", "success"))
}

fn instances_named(body: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let records = v["usage_records"].as_array().cloned().unwrap_or_default();
    records.iter().filter_map(|r| r["instance_id"].as_str().map(String::from)).collect()
}

/// [PUSH] headers `signature` (≤1000), `ts` ("Unix timestamp … in milliseconds", ≤20) and `nonce`
/// ("Security random number", ≤64); missing → `401 MKT.0154` ([ERR]: "鉴权失败 token无效"). A bad
/// signature → `400 MKT.0102 "Invalid body sign"`, and so, stricter than the page, are a `ts` more than
/// 5 minutes from the clock (the page gives no window), a nonce seen before (a nonce is "used once":
/// the demo's comment "nonce 只被使用一次"), and a body whose keys are not in natural order.
fn authenticate(world: &mut World, headers: &HeaderMap, body: &[u8], scopes: &[&str]) -> Outcome<()> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    let (Some(signature), Some(ts), Some(nonce)) = (header("signature"), header("ts"), header("nonce")) else {
        return Err(answer(StatusCode::UNAUTHORIZED, "MKT.0154", "Illegal token"));
    };
    if signature.len() > 1000 || ts.len() > 20 || nonce.len() > 64 {
        return Err(bad_sign("signature, ts or nonce too long"));
    }
    let stamp = ts.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis);
    if !stamp.is_some_and(|t| world.is_fresh(t, scopes, Duration::minutes(5))) {
        return Err(bad_sign("ts is not the time in milliseconds, within 5 minutes"));
    }
    let key = &world.config.huawei_key;
    if key.is_empty() || push_signature(key, ts, nonce, body) != signature {
        return Err(bad_sign("the signature does not match"));
    }
    if keys_in_natural_order(body) == Some(false) {
        return Err(bad_sign("the body's keys are not in natural order"));
    }
    if !world.koo_nonces.insert(nonce.to_string()) {
        return Err(bad_sign("the nonce was used already"));
    }
    Ok(())
}

const FIELDS: [&str; 7] =
    ["instance_id", "record_time", "begin_time", "end_time", "usage_value", "metering_sn", "relate_pkg_instance"];

/// [PUSH] the body: `{"usage_records": [UsagePushData…]}`, up to 1,000 records. [ERR]: a parameter the
/// interface does not define, or a missing mandatory one → `400 MKT.0101` ("输入非接口定义的参数,多参数或
/// 少必选参数"); more than 1,000 records → `500 MKT.9003`; a value out of range or of a bad format →
/// `500 MKT.0100` ("参数范围超限,非法值或格式错误").
fn parse_body(body: &[u8]) -> Outcome<Vec<UsageRecord>> {
    let v: Value = serde_json::from_slice(body).map_err(|_| invalid_parameter("the body is not JSON"))?;
    let top = v.as_object().filter(|m| m.len() == 1);
    let list = top.and_then(|m| m.get("usage_records")).and_then(Value::as_array);
    let list = list.ok_or_else(|| invalid_parameter("the body is {\"usage_records\": [...]}"))?;
    if list.len() > 1000 {
        return Err(answer(StatusCode::INTERNAL_SERVER_ERROR, "MKT.9003", "Usage records extends size limit."));
    }
    if list.is_empty() {
        return Err(invalid_parameter("usage_records is empty"));
    }
    for r in list {
        let m = r.as_object().ok_or_else(|| invalid_parameter("a usage record is an object"))?;
        if let Some(k) = m.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(invalid_parameter(&format!("{k} is not a field of UsagePushData")));
        }
        if let Some(k) = FIELDS[..6].iter().find(|k| !m.contains_key(**k)) {
            return Err(invalid_parameter(&format!("{k} is mandatory")));
        }
    }
    list.iter().map(parse_record).collect()
}

/// [PUSH] Table 1 UsagePushData: `instance_id` ≤64; `record_time`, `begin_time`, `end_time`
/// "yyyyMMdd'T'HHmmss'Z'" (17, UTC); `usage_value` "最多支持4位有效小数,需为大于0的数值" (≤20; a string in
/// the samples, Double(12,4) in one table: both read); `metering_sn` ≤64; `relate_pkg_instance` ≤64.
fn parse_record(r: &Value) -> Outcome<UsageRecord> {
    let text = |k: &str, max: usize| {
        r[k].as_str()
            .filter(|s| s.chars().count() <= max)
            .map(String::from)
            .ok_or_else(|| bad_format(&format!("{k}: a string of at most {max}")))
    };
    let time = |k: &str| {
        let s = text(k, 17)?;
        utc_time(&s).map(|t| (s, t)).ok_or_else(|| bad_format(&format!("{k}: yyyyMMdd'T'HHmmss'Z'")))
    };
    let instance = text("instance_id", 64)?;
    if instance.is_empty() {
        return Err(bad_format("instance_id is empty"));
    }
    let (record_time, _) = time("record_time")?;
    let (begin_time, begin) = time("begin_time")?;
    let (end_time, end) = time("end_time")?;
    let value = match &r["usage_value"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(bad_format("usage_value: a number")),
    };
    if !is_usage_value(&value) {
        return Err(bad_format("usage_value: greater than 0, at most 4 decimals, at most 20 characters"));
    }
    let relate = match r.get("relate_pkg_instance") {
        None => None,
        Some(_) => Some(text("relate_pkg_instance", 64)?),
    };
    Ok(UsageRecord {
        raw: r.clone(),
        instance,
        record_time,
        begin_time,
        end_time,
        begin,
        end,
        value,
        metering_sn: text("metering_sn", 64)?,
        relate_pkg_instance: relate,
    })
}

/// `yyyyMMdd'T'HHmmss'Z'` (16 characters; the table's "17" is its maximum length), exactly, and a real
/// UTC time. API Gateway's `X-Sdk-Date` (`YYYYMMDDTHHMMSSZ`) is the same format.
pub fn utc_time(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let shaped = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b.iter().enumerate().all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit());
    let n = |from: usize, to: usize| s.get(from..to).and_then(|d| d.parse::<u32>().ok());
    let date = NaiveDate::from_ymd_opt(n(0, 4)? as i32, n(4, 6)?, n(6, 8)?)?;
    shaped.then(|| date.and_hms_opt(n(9, 11)?, n(11, 13)?, n(13, 15)?)).flatten().map(|t| t.and_utc())
}

/// A usage value: a plain decimal, greater than 0, at most 4 decimals, at most 20 characters.
pub fn is_usage_value(s: &str) -> bool {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    s.len() <= 20
        && !whole.is_empty()
        && digits(whole)
        && digits(fraction)
        && fraction.len() <= 4
        && (!s.contains('.') || !fraction.is_empty())
        && s.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// Whole-call refusals: [ERR] `500 MKT.9001` "Instance ID not found." for an instance never opened;
/// `500 MKT.9004` "Record beginTime extends Limit." — "计量记录的起始时间超出有效期(当前时间21天以内)".
fn check_call(world: &World, records: &[UsageRecord]) -> Outcome<()> {
    for r in records {
        if !world.koo_instances.contains_key(&r.instance) {
            return Err(answer(StatusCode::INTERNAL_SERVER_ERROR, "MKT.9001", "Instance ID not found."));
        }
        if (world.now(&[r.instance.as_str()]) - r.begin).abs() > Duration::days(21) {
            return Err(answer(StatusCode::INTERNAL_SERVER_ERROR, "MKT.9004", "Record beginTime extends Limit."));
        }
    }
    Ok(())
}

enum Sdr {
    Bill,
    Resend,
    Abnormal(&'static str),
}

/// [SDR] note 1: "接口调用上传时,如果话单数据异常,不会在接口层进行报错;后台定时任务会对上传的数据进行校验和处理" —
/// an accepted push's records are checked after the answer (here at once) and billed or listed as
/// abnormal with the SDR-level code:
/// - 004 "缺少话单唯一标识": an empty `metering_sn`.
/// - 005 "话单唯一标识重复": a `metering_sn` already used by another record (the same record again is a
///   harmless resend: not abnormal, not billed twice).
/// - 010 "话单重复": note 5 "同一个记录的时间,即begin_time 和end_time 时间都一致的情况下,如多次上报记录,会被识别为
///   重复话单,只会处理第一条数据".
/// - 011 "话单时间范围无效": note 3 "话单开始时间(begin_time)≥资源开始时间, 话单开始时间(begin_time)≤ 话单结束时间
///   (end_time)≤ 话单上报时间; 资源关闭后: 话单结束时间(end_time)≤ 资源关闭时间".
/// - 007 "话单时间已过期": note 2 "如果无法实现实时上报,需要在2小时完成上报" read strictly: a record pushed
///   more than 2 hours after its end.
/// - 013 "实例资源状态异常": the instance was frozen during the record's period.
///
/// (002 bad time and 003 bad usage do not arise here: those formats refuse the whole call with
/// `MKT.0100`, the stricter reading.)
fn check_record(world: &World, r: &UsageRecord) -> Sdr {
    let Some(instance) = world.koo_instances.get(&r.instance) else { return Sdr::Abnormal("001") };
    let now = world.now(&[r.instance.as_str()]);
    if r.metering_sn.is_empty() {
        return Sdr::Abnormal("004");
    }
    if let Some(first) = world.koo_serials.get(&r.metering_sn) {
        return if *first == r.content() { Sdr::Resend } else { Sdr::Abnormal("005") };
    }
    if world.koo_periods.contains(&(r.instance.clone(), r.begin_time.clone(), r.end_time.clone())) {
        return Sdr::Abnormal("010");
    }
    let released = instance.released_at.is_some_and(|t| r.end > t);
    if r.begin > r.end || r.end > now || r.begin < instance.opened_at || released {
        return Sdr::Abnormal("011");
    }
    if now - r.end > Duration::hours(2) {
        return Sdr::Abnormal("007");
    }
    if instance.frozen.iter().any(|(from, until)| r.end > *from && until.is_none_or(|u| r.begin < u)) {
        return Sdr::Abnormal("013");
    }
    Sdr::Bill
}

fn take(world: &mut World, records: &[UsageRecord]) {
    for r in records {
        match check_record(world, r) {
            Sdr::Resend => {}
            Sdr::Abnormal(code) => world.koo_abnormal.push(json!({"instance_id": r.instance,
                "metering_sn": r.metering_sn, "code": code, "record": r.raw})),
            Sdr::Bill => {
                world.koo_serials.insert(r.metering_sn.clone(), r.content());
                world.koo_periods.insert((r.instance.clone(), r.begin_time.clone(), r.end_time.clone()));
                world.ledger.push(json!({"platform": "huawei", "customer": format!("hwinstance:{}", r.instance),
                    "begin": r.begin_time, "end": r.end_time, "record_time": r.record_time, "value": r.value,
                    "metering_sn": r.metering_sn, "relate_pkg_instance": r.relate_pkg_instance,
                    "timestamp": r.begin.timestamp(), "quantity": r.value, "id": r.metering_sn}));
            }
        }
    }
}

/// An instance KooGallery opened (newInstance answered); `frozen` toggles a frozen interval from now.
pub fn register_instance(world: &mut World, id: &str, opened_at: Option<DateTime<Utc>>, frozen: Option<bool>) {
    let now = world.now(&[id]);
    let i = world.koo_instances.entry(id.to_string()).or_insert_with(|| KooInstance {
        opened_at: opened_at.unwrap_or(now),
        frozen: vec![],
        released_at: None,
    });
    if let Some(t) = opened_at {
        i.opened_at = t;
    }
    let frozen_now = i.frozen.last().is_some_and(|(_, until)| until.is_none());
    match frozen {
        Some(true) if !frozen_now => i.frozen.push((now, None)),
        Some(false) if frozen_now => {
            if let Some(last) = i.frozen.last_mut() {
                last.1 = Some(now);
            }
        }
        _ => {}
    }
}

/// The instance is released now (its scope's clock): later periods are invalid (011).
pub fn release_now(world: &mut World, id: &str) {
    let now = world.now(&[id]);
    if let Some(i) = world.koo_instances.get_mut(id) {
        i.released_at.get_or_insert(now);
    }
}

// ---------------------------------------------------------------------------------------------
// The order query: GET /api/mkp-openapi-public/global/v1/order/query?orderId=&orderLineId=

fn order_answer(status: StatusCode, code: &str, msg: &str) -> Reply {
    Reply::json(status, &json!({ "resultCode": code, "resultMsg": msg }))
}

/// API Gateway's answer to a request it cannot authenticate.
fn apigw_refusal(msg: &str) -> Reply {
    Reply::json(
        StatusCode::UNAUTHORIZED,
        &json!({ "error_msg": format!("Incorrect IAM authentication information: {msg}"),
                 "error_code": "APIGW.0301", "request_id": request_id() }),
    )
}

/// [ORDER]: "Authentication is the API Gateway AK/SK signature" (`X-Sdk-Date`, `Authorization`), checked
/// with `KOOGALLERY_ACCESS_KEY` / `KOOGALLERY_SECRET_KEY` by the algorithm of crate::apig; any failure →
/// `401 APIGW.0301`.
fn authenticate_apig(
    world: &World,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    scopes: &[&str],
) -> Outcome<()> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(String::from);
    let auth = header("authorization").and_then(|a| apig::parse_authorization(&a));
    let Some(auth) = auth else { return Err(apigw_refusal("Authorization header not found or malformed")) };
    let Some(date) = header("x-sdk-date").filter(|_| auth.signed_headers.iter().any(|h| h == "x-sdk-date")) else {
        return Err(apigw_refusal("X-Sdk-Date must be present and signed"));
    };
    let stamp = utc_time(&date);
    if !stamp.is_some_and(|t| world.is_fresh(t, scopes, Duration::minutes(15))) {
        return Err(apigw_refusal("signature expired"));
    }
    let signed: Vec<(String, String)> =
        auth.signed_headers.iter().map(|h| (h.clone(), header(h).unwrap_or_default())).collect();
    let canonical = apig::canonical_request("GET", path, query, &signed, b"");
    let (ak, sk) = (&world.config.koogallery_ak, &world.config.koogallery_sk);
    if sk.is_empty() || auth.access != *ak || apig::signature(sk, &date, &canonical) != auth.signature {
        return Err(apigw_refusal("verify aksk signature fail"));
    }
    Ok(())
}

/// One order query.
pub fn order_query(world: &mut World, path: &str, query: Option<&str>, headers: &HeaderMap) -> Reply {
    let params = crate::aliyun::rpc_params(query, b"");
    let order_id = params.get("orderId").cloned().unwrap_or_default();
    let scopes = [order_id.as_str()];
    if let Err(r) = authenticate_apig(world, path, query, headers, &scopes) {
        return r;
    }
    if world.fault("OrderQuery", &scopes).is_some() {
        return order_answer(StatusCode::INTERNAL_SERVER_ERROR, "MKT.0999", "System internal error.");
    }
    // [ORDER] request: `orderId` mandatory, ≤64; `orderLineId` optional, ≤64.
    let line = params.get("orderLineId").filter(|l| !l.is_empty());
    if order_id.is_empty() || order_id.len() > 64 || line.is_some_and(|l| l.len() > 64) {
        return order_answer(StatusCode::BAD_REQUEST, "MKT.0101", "Invalid parameter");
    }
    let order = world.koo_orders.get(&order_id).cloned().or_else(|| mock_order(&order_id));
    // No page says what an unknown order answers: the error table's "其它参数错误" (other parameter
    // error) is the nearest, `400 MKT.0199`.
    let Some(o) = order.filter(|o| line.is_none_or(|l| *l == o.order_line_id)) else {
        return order_answer(StatusCode::BAD_REQUEST, "MKT.0199", "Request parameter error");
    };
    let mut info = json!({"orderId": o.order_id, "orderType": o.order_type,
        "createTime": o.create_time.format("%Y%m%d%H%M%S").to_string(),
        "orderLine": [{"orderLineId": o.order_line_id, "chargingMode": o.charging_mode,
                       "productId": o.product_id, "skuCode": o.sku_code}]});
    // [ORDER] OrderInfo: `buyerInfo` is optional; the emulator's mock orders carry none.
    if let Some(customer) = &o.customer_id {
        info["buyerInfo"] = json!({ "customerId": customer });
        if let Some(name) = &o.customer_name {
            info["buyerInfo"]["customerName"] = name.as_str().into();
        }
    }
    Reply::json(StatusCode::OK, &json!({"resultCode": "MKT.0000", "resultMsg": "Success", "orderInfo": info}))
}

/// [ORDER] the debugging orders every seller can query ("Mock orders for debugging"): order type and
/// charging mode from the page's table; product, SKU and time are the emulator's stand-ins (the page's
/// answers were not readable), and no buyer (BuyerInfo is optional).
pub fn mock_order(id: &str) -> Option<KooOrder> {
    let (order_type, charging_mode) = match id {
        "MOCKPERIODYEARNEW" => ("NEW", "PERIOD"),
        "MOCKONETIMENEW" => ("NEW", "ONE_TIME"),
        "MOCKONDEMAND" => ("NEW", "ON_DEMAND"),
        "MOCKONDEMANDPKG" => ("NEW", "ON_DEMAND_PKG"),
        "MOCKPERIODDAYTRIAL" => ("TRIAL", "PERIOD"),
        "MOCKMONTYTRIALTOFORMAL" => ("TRIAL_TO_FORMAL", "PERIOD"),
        "MOCKMONTYUNSUBSCRIBE" => ("UNSUBSCRIBE", "PERIOD"),
        "MOCKMONTYRENEW" => ("RENEW", "PERIOD"),
        "MOCKMONTYCHANGE" => ("CHANGE", "PERIOD"),
        _ => return None,
    };
    Some(KooOrder {
        order_id: id.to_string(),
        order_line_id: format!("{id}-000001"),
        customer_id: None,
        customer_name: None,
        order_type: order_type.into(),
        charging_mode: charging_mode.into(),
        product_id: "OFFI-MOCK-PRODUCT".into(),
        sku_code: "MOCK-SKU".into(),
        create_time: DateTime::from_timestamp(1_714_089_600, 0).unwrap_or_default(),
    })
}

#[cfg(test)]
#[path = "koogallery_tests.rs"]
mod tests;
