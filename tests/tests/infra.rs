//! The table the local stack creates (infra/table.json) is the one template.yaml declares.

use serde_json::Value;

fn template_table() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let props = yaml["Resources"]["Table"]["Properties"].clone();
    serde_json::to_value(props).unwrap()
}

#[test]
fn local_table_definition_matches_template() {
    let local: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/table.json")).unwrap(),
    )
    .unwrap();
    let t = template_table();
    for key in ["AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"] {
        assert_eq!(local[key], t[key], "{key} differs between infra/table.json and template.yaml");
    }
    assert_eq!(local["TimeToLiveAttribute"], t["TimeToLiveSpecification"]["AttributeName"]);
    assert_eq!(t["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(t["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
}

#[test]
fn every_function_crate_is_deployed_with_the_arm64_cargolambda_build() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(yaml["Globals"]["Function"]["Runtime"], "provided.al2023");
    assert_eq!(yaml["Globals"]["Function"]["Architectures"][0], "arm64");
    let binaries: Vec<String> = yaml["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .map(|r| {
            assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda");
            r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string()
        })
        .collect();
    let mut crates: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    let mut deployed = binaries.clone();
    deployed.sort();
    assert_eq!(deployed, crates);
}

#[test]
fn every_function_knows_its_own_timeout_for_when_the_deadline_cannot_be_read() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let globals = &yaml["Globals"]["Function"];
    for (name, r) in yaml["Resources"].as_mapping().unwrap() {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let p = &r["Properties"];
        let timeout = p["Timeout"].as_u64().or(globals["Timeout"].as_u64()).unwrap();
        let told = p["Environment"]["Variables"]["FUNCTION_TIMEOUT_SECONDS"]
            .as_u64()
            .or(globals["Environment"]["Variables"]["FUNCTION_TIMEOUT_SECONDS"].as_u64());
        assert_eq!(told, Some(timeout), "{name:?}: FUNCTION_TIMEOUT_SECONDS must equal Timeout");
    }
}
