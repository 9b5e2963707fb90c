//! The contract as a document: openapi.yaml lists exactly the HTTP routes that template.yaml
//! deploys and the functions' routers answer, with the same function and the same auth, and
//! states the identifier limits the code enforces.

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
