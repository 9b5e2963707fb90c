//! Function binaries run as Lambda runs them (the harness's Runtime API), for the tests that
//! read what a function writes: its metrics (embedded metric format) and its logs.

use crate::bench::runtime_api::Hosted;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn newest_change(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        let t = if p.is_dir() {
            newest_change(&p)
        } else {
            entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH)
        };
        newest = newest.max(t);
    }
    newest
}

/// The debug build of a function, refused when its sources changed after it was built (a test
/// of an old binary proves nothing). `make test` builds them before the tests run.
pub fn function_binary(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    let binary = target.join("debug").join(name);
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: `cargo build -p {name}` (make test does)", binary.display()));
    let shared = std::fs::read_dir(root.join("shared")).into_iter().flatten().flatten().map(|e| e.path().join("src"));
    for src in shared.chain([root.join("functions").join(name).join("src")]) {
        assert!(
            newest_change(&src) <= built,
            "{} is older than {}: `cargo build -p {name}` (make test does)",
            binary.display(),
            src.display()
        );
    }
    binary.to_string_lossy().into_owned()
}

/// Starts the function `name` on `table` with the local stack's settings, its output kept.
pub async fn host(name: &str, table: &str) -> Hosted {
    let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k != "TABLE_NAME").collect();
    env.push(("TABLE_NAME".into(), table.to_string()));
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    let hosted = Hosted::start_capturing(&function_binary(name), name, &env).await;
    hosted.cold_start().await;
    hosted
}

/// A metric as one record of the embedded metric format states it.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub namespace: String,
    pub name: String,
    pub unit: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    pub values: Vec<f64>,
    pub request_id: Option<String>,
}

/// Every metric in a function's output (lines that are embedded-metric records).
pub fn metrics(lines: &[String]) -> Vec<Datum> {
    let mut out = Vec::new();
    for v in lines.iter().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v.get("_aws").is_some()) {
        for directive in v["_aws"]["CloudWatchMetrics"].as_array().into_iter().flatten() {
            let dims: Vec<&str> =
                directive["Dimensions"][0].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            for m in directive["Metrics"].as_array().into_iter().flatten() {
                let name = m["Name"].as_str().unwrap_or_default().to_string();
                let values = match &v[&name] {
                    Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
                    x => x.as_f64().into_iter().collect(),
                };
                out.push(Datum {
                    namespace: directive["Namespace"].as_str().unwrap_or_default().to_string(),
                    unit: m["Unit"].as_str().map(str::to_string),
                    dimensions: dims
                        .iter()
                        .map(|d| (d.to_string(), v[*d].as_str().unwrap_or_default().to_string()))
                        .collect(),
                    values,
                    request_id: v["RequestId"].as_str().map(str::to_string),
                    name,
                });
            }
        }
    }
    out
}

/// The sum of a metric's values with exactly these dimensions.
pub fn total(data: &[Datum], name: &str, dims: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    data.iter().filter(|d| d.name == name && d.dimensions == want).flat_map(|d| d.values.iter()).sum()
}

/// Every value of a metric with exactly these dimensions.
pub fn values(data: &[Datum], name: &str, dims: &[(&str, &str)]) -> Vec<f64> {
    let want: BTreeMap<String, String> = dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    data.iter().filter(|d| d.name == name && d.dimensions == want).flat_map(|d| d.values.clone()).collect()
}
