//! template.yaml as tests read it: its `!Ref` / `!Sub` / `!GetAtt` tags and its functions.

use serde_yaml::Value as Yaml;

pub fn load() -> Yaml {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// `!Ref X` / `!Sub "..."` as (tag, text); a plain scalar as ("", text).
pub fn untag(v: &Yaml) -> (String, String) {
    match v {
        Yaml::Tagged(t) => (t.tag.to_string(), untag(&t.value).1),
        Yaml::String(s) => (String::new(), s.clone()),
        Yaml::Number(n) => (String::new(), n.to_string()),
        other => (String::new(), format!("{other:?}")),
    }
}

/// Every `AWS::Serverless::Function`: (logical id, resource).
pub fn functions(t: &Yaml) -> Vec<(String, Yaml)> {
    resources(t, "AWS::Serverless::Function")
}

/// Every resource of `kind`: (logical id, resource).
pub fn resources(t: &Yaml, kind: &str) -> Vec<(String, Yaml)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(k, r)| (k.as_str().unwrap().to_string(), r.clone()))
        .collect()
}

/// A function's environment as deployed: Globals, then its own, `!Ref`s to parameters read
/// as their defaults.
pub fn environment(t: &Yaml, f: &Yaml) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for vars in [&t["Globals"]["Function"]["Environment"]["Variables"], &f["Properties"]["Environment"]["Variables"]] {
        for (k, v) in vars.as_mapping().into_iter().flatten() {
            let (tag, text) = untag(v);
            let value = match t["Parameters"][text.as_str()]["Default"].as_str() {
                Some(default) if tag == "!Ref" => default.to_string(),
                _ => text,
            };
            env.retain(|(name, _)| name != k.as_str().unwrap());
            env.push((k.as_str().unwrap().to_string(), value));
        }
    }
    env
}

/// A `Schedule` event's period in seconds (`rate(N minute|minutes|hour|hours|day|days)`).
pub fn schedule_seconds(f: &Yaml) -> Option<u64> {
    let events = f["Properties"]["Events"].as_mapping()?;
    let rate = events.values().find(|e| e["Type"] == "Schedule")?["Properties"]["Schedule"].as_str()?.to_string();
    let inner = rate.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let unit = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86400,
        _ => return None,
    };
    Some(n * unit)
}
