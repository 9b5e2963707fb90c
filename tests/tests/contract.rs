//! The contract as a document: openapi.yaml lists exactly the HTTP routes that template.yaml
//! deploys and the functions' routers answer, with the same function and the same auth, and
//! states the limits, grammars and catalogues the code enforces, and the statuses every route answers.

use billing_domain::rules::fields;
use std::collections::BTreeMap;

type Routes = BTreeMap<(String, String), String>;

fn yaml(file: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// `(METHOD, path) -> "function auth"` as openapi.yaml documents it.
fn documented() -> Routes {
    let doc = yaml("openapi.yaml");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut out = Routes::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for m in METHODS {
            let op = &item[m];
            if op.is_null() {
                continue;
            }
            let function = op["x-function"].as_str().unwrap_or_else(|| panic!("{m} {path:?}: no x-function"));
            let schemes: Vec<&str> = op["security"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{m} {path:?}: security must be stated, [] when open"))
                .iter()
                .flat_map(|s| s.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()))
                .collect();
            assert!(op["responses"].as_mapping().is_some_and(|r| !r.is_empty()), "{m} {path:?}: no responses");
            let auth = if schemes.contains(&"iam") { "iam" } else { "other" };
            out.insert((m.to_uppercase(), path.as_str().unwrap().to_string()), format!("{function} {auth}"));
        }
    }
    out
}

/// The same from template.yaml's HttpApi events.
fn deployed() -> Routes {
    let t = yaml("template.yaml");
    let mut out = Routes::new();
    for r in t["Resources"].as_mapping().unwrap().values() {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let function = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        for e in r["Properties"]["Events"].as_mapping().into_iter().flat_map(|m| m.values()) {
            if e["Type"] != "HttpApi" {
                continue;
            }
            let p = &e["Properties"];
            let auth = if p["Auth"]["Authorizer"] == "AWS_IAM" { "iam" } else { "other" };
            let key = (p["Method"].as_str().unwrap().to_uppercase(), p["Path"].as_str().unwrap().to_string());
            assert!(out.insert(key.clone(), format!("{function} {auth}")).is_none(), "{key:?} deployed twice");
        }
    }
    out
}

/// The same from the functions' own routers (auth aside: the routers do not know it).
fn routed() -> Routes {
    let routers: [(&str, &[billing_http::route::Route]); 8] = [
        ("register", register::ROUTES),
        ("login", login::ROUTES),
        ("upgrade", upgrade::ROUTES),
        ("change-settlement", change_settlement::ROUTES),
        ("admin", admin::ROUTES),
        ("marketplace-webhook", marketplace_webhook::ROUTES),
        ("usage", usage::ROUTES),
        ("bills", bills::ROUTES),
    ];
    routers
        .iter()
        .flat_map(|(f, routes)| routes.iter().map(move |(m, p)| ((m.to_string(), p.to_string()), f.to_string())))
        .collect()
}

fn without_auth(r: &Routes) -> Routes {
    r.iter().map(|(k, v)| (k.clone(), v.split(' ').next().unwrap().to_string())).collect()
}

#[test]
fn openapi_documents_every_deployed_route_with_its_function_and_auth() {
    assert_eq!(documented(), deployed(), "openapi.yaml and template.yaml differ");
}

#[test]
fn openapi_documents_every_route_a_function_answers() {
    assert_eq!(without_auth(&documented()), routed(), "openapi.yaml and the functions' routers differ");
}

#[test]
fn openapi_states_the_identifier_limits_the_code_enforces() {
    let doc = yaml("openapi.yaml");
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    assert_eq!(schema("Id")["maxLength"].as_u64(), Some(fields::ID_MAX as u64));
    assert_eq!(schema("CloudAccountId")["maxLength"].as_u64(), Some(fields::CLOUD_ACCOUNT_ID_MAX as u64));
    assert_eq!(schema("Login")["maxLength"].as_u64(), Some(fields::LOGIN_MAX as u64));
    let billing = schema("BillingUsername");
    assert_eq!((billing["minLength"].as_u64(), billing["maxLength"].as_u64()), (Some(4), Some(64)));
    assert!(fields::billing_username(&"a".repeat(64)).is_ok() && fields::billing_username(&"a".repeat(65)).is_err());
    assert_eq!(doc["components"]["parameters"]["workspace_id"]["schema"]["$ref"], "#/components/schemas/Id");
    let usage_body = &doc["paths"]["/v1/usage"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(
        usage_body["properties"]["records"]["maxItems"].as_u64(),
        Some(billing_domain::rules::usage::MAX_RECORDS as u64)
    );
    assert_eq!(doc["paths"]["/v1/usage"]["post"]["x-max-body-bytes"].as_u64(), Some(usage::MAX_BODY as u64));
}

/// The responses every operation of `kind` must list, whatever its handler does: the router checks
/// every body (UTF-8, size) before any route runs, and any route can meet a fault.
fn operations() -> Vec<(String, serde_yaml::Value)> {
    let doc = yaml("openapi.yaml");
    let mut out = vec![];
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for m in METHODS {
            if !item[m].is_null() {
                out.push((format!("{} {}", m.to_uppercase(), path.as_str().unwrap()), item[m].clone()));
            }
        }
    }
    out
}

fn statuses(op: &serde_yaml::Value) -> Vec<String> {
    op["responses"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_string()).collect()
}

#[test]
fn every_operation_lists_the_statuses_every_route_answers() {
    for (name, op) in operations() {
        let has = statuses(&op);
        let mut want = vec!["400", "413", "500"];
        let schemes = serde_yaml::to_string(&op["security"]).unwrap();
        if schemes.contains("bearer") {
            want.push("401"); // no token, or not ours
        }
        if schemes.contains("iam") {
            want.push("403"); // no IAM caller
        }
        let params = serde_yaml::to_string(&op["parameters"]).unwrap();
        if params.contains("idempotency_key") {
            want.extend(["409", "422"]); // the key's first request still running; a malformed or reused key
        }
        for status in want {
            assert!(has.iter().any(|s| s == status), "{name}: {status} is not listed ({has:?})");
        }
    }
}

#[test]
fn openapi_states_the_catalogues_the_code_holds() {
    let doc = yaml("openapi.yaml");
    let enum_of = |name: &str| -> Vec<String> {
        let values = doc["components"]["schemas"][name]["enum"].as_sequence().unwrap();
        values.iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    let sites: Vec<String> = billing_domain::sites::SITES.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(enum_of("Site"), sites);
    let currencies: Vec<String> = billing_domain::money::Currency::ALL
        .iter()
        .map(|c| serde_json::to_value(c).unwrap().as_str().unwrap().into())
        .collect();
    assert_eq!(enum_of("Currency"), currencies);
}

/// A string schema of openapi.yaml as the code would have to read it: lengths in characters,
/// patterns searched (JSON Schema's reading), every `allOf` member too.
struct StringSchema {
    min: usize,
    max: usize,
    patterns: Vec<regex_lite::Regex>,
}

impl StringSchema {
    fn of(schema: &serde_yaml::Value) -> Self {
        let mut patterns = vec![];
        let mut add = |s: &serde_yaml::Value| {
            if let Some(p) = s["pattern"].as_str() {
                patterns.push(regex_lite::Regex::new(p).unwrap_or_else(|e| panic!("{p}: {e}")));
            }
        };
        add(schema);
        schema["allOf"].as_sequence().into_iter().flatten().for_each(&mut add);
        let n = |k: &str, default: usize| schema[k].as_u64().map_or(default, |v| v as usize);
        StringSchema { min: n("minLength", 0), max: n("maxLength", usize::MAX), patterns }
    }

    fn admits(&self, v: &str) -> bool {
        (self.min..=self.max).contains(&v.chars().count()) && self.patterns.iter().all(|p| p.is_match(v))
    }
}

fn schema_at(pointer: &str) -> serde_yaml::Value {
    let mut v = yaml("openapi.yaml");
    for key in pointer.split('/').filter(|k| !k.is_empty()) {
        v = match key.parse::<usize>() {
            Ok(i) if v.is_sequence() => v[i].clone(),
            _ => v[key.replace("~1", "/").as_str()].clone(),
        };
    }
    assert!(!v.is_null(), "openapi.yaml has nothing at {pointer}");
    v
}

/// Strings near each rule's edges: white space of every kind, control characters, letters that
/// are not ASCII, digits, the characters of ids and usernames, at lengths around every limit.
fn samples() -> Vec<String> {
    const ALPHABET: &[char] = &[
        'a', 'Z', '0', '9', '-', '_', '.', '@', '+', '!', '~', ' ', '\t', '\n', '\u{b}', '\u{85}', '\u{a0}',
        '\u{3000}', '\u{200b}', '\u{1}', '\u{7f}', '\u{9f}', '字', 'é', 'Ⅻ', '١', '😀',
    ];
    let mut rng = fastrand::Rng::with_seed(16);
    let mut out: Vec<String> = ["", " ", "ws_01abc", "2026-11", "2000-01", "1999-12", "2026-13", "2026-00", "9999-12"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for len in [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 257] {
        for _ in 0..40 {
            out.push((0..len).map(|_| ALPHABET[rng.usize(..ALPHABET.len())]).collect());
        }
        out.push("a".repeat(len));
        out.push("9".repeat(len));
        out.push(format!("+{}", "1".repeat(len)));
        out.push(format!("a1{}", "字".repeat(len)));
    }
    out
}

#[test]
fn the_schemas_admit_exactly_what_the_field_rules_take() {
    type Rule = fn(&str) -> bool;
    let schemas = "/components/schemas";
    let company = "/paths/~1v1~1registrations/post/requestBody/content/application~1json/schema/oneOf/1/properties/company/properties/name";
    let cases: [(&str, String, Rule); 10] = [
        ("Id", format!("{schemas}/Id"), fields::is_id),
        ("CloudAccountId", format!("{schemas}/CloudAccountId"), |v| fields::cloud_account_id(v).is_ok()),
        ("BillingUsername", format!("{schemas}/BillingUsername"), |v| fields::billing_username(v).is_ok()),
        ("Phone", format!("{schemas}/Phone"), |v| fields::phone(v).is_ok()),
        ("AliyunAccountId", format!("{schemas}/AliyunAccountId"), |v| fields::aliyun_account_id(v).is_ok()),
        ("HuaweiAccountId", format!("{schemas}/HuaweiAccountId"), |v| fields::huawei_account_id(v).is_ok()),
        ("Name64 (username)", format!("{schemas}/Name64"), |v| fields::username(v).is_ok()),
        ("Name64 (workspace name)", format!("{schemas}/Name64"), |v| fields::workspace_name(v).is_ok()),
        ("company name", company.to_string(), |v| fields::company_name(v).is_ok()),
        ("Month", format!("{schemas}/Month"), |v| billing_domain::rules::usage::parse_month(v).is_some()),
    ];
    for (name, pointer, rule) in cases {
        let schema = StringSchema::of(&schema_at(&pointer));
        for v in samples() {
            assert_eq!(schema.admits(&v), rule(&v), "{name}: openapi.yaml and the code disagree on {v:?}");
        }
    }
}

#[test]
fn the_password_schema_states_the_password_rule() {
    // regex-lite has no Unicode classes: the letter part (`\p{L}`) is checked on samples by hand.
    let schema = schema_at("/components/schemas/Password");
    assert_eq!((schema["minLength"].as_u64(), schema["maxLength"].as_u64()), (Some(8), Some(128)));
    let patterns: Vec<&str> =
        schema["allOf"].as_sequence().unwrap().iter().map(|p| p["pattern"].as_str().unwrap()).collect();
    assert_eq!(patterns, ["\\p{L}", "[0-9]"]);
    for (v, ok) in
        [("abcdefg1", true), ("密码密码密码12", true), ("12345678", false), ("abcdefgh", false), ("a1", false)]
    {
        assert_eq!(fields::password(v).is_ok(), ok, "{v}");
    }
    assert!(fields::password(&format!("a1{}", "x".repeat(126))).is_ok());
    assert!(fields::password(&format!("a1{}", "x".repeat(127))).is_err());
}
