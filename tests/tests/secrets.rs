//! Secrets at run time: read from Secrets Manager (moto's, locally) when first needed, never
//! from a function's environment; each function may read only its own; the token keys rotate
//! without logging anyone out.

use billing_adapters::secrets::{shape, Secret, Timing};
use billing_domain::crypto::token::{Principal, TokenKey, TokenKeys};
use billing_domain::ports::Clock;
use billing_tests::template::{environment, functions, load as template, untag};
use billing_tests::*;
use chrono::Duration;
use std::collections::BTreeSet;
use std::sync::Arc;

fn needs_of(binary: &str) -> billing_wiring::Needs {
    match binary {
        "register" => register::NEEDS,
        "login" => login::NEEDS,
        "upgrade" => upgrade::NEEDS,
        "change-settlement" => change_settlement::NEEDS,
        "marketplace-webhook" => marketplace_webhook::NEEDS,
        "admin" => admin::NEEDS,
        "sweeper" => sweeper::NEEDS,
        "usage" => usage::NEEDS,
        "bills" => bills::NEEDS,
        "metering" => metering::NEEDS,
        "issue-bills" => issue_bills::NEEDS,
        other => panic!("a function this test does not know: {other}"),
    }
}

#[test]
fn no_function_environment_in_the_template_holds_a_secret() {
    let t = template();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    assert!(!text.contains("resolve:secretsmanager"), "a secret resolved into the template");
    for (name, f) in functions(&t) {
        for (k, v) in environment(&t, &f) {
            assert!(!SECRET_VALUE_VARS.contains(&k.as_str()), "{name}: {k} holds a secret's value");
            let secret_like = ["KEY", "SECRET", "PASSWORD", "TOKEN"].iter().any(|w| k.contains(w));
            assert!(!secret_like || k.ends_with("_SECRET"), "{name}: {k} looks like a secret value");
            if k.ends_with("_SECRET") {
                assert!(v.starts_with("billing-center/"), "{name}: {k} names a secret, got {v}");
            }
        }
    }
}

#[test]
fn each_function_is_given_and_may_read_exactly_the_secrets_it_needs() {
    let t = template();
    for (name, f) in functions(&t) {
        let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_string();
        let env = environment(&t, &f);
        let settings = billing_wiring::Settings::from_lookup(needs_of(&binary), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|e| panic!("{name} would not start: {e}"));
        let ids = settings.secrets;
        let needed: BTreeSet<String> = [
            ids.token_keys,
            ids.aliyun_spi_key,
            ids.aliyun_market_key,
            ids.huawei_koogallery_key,
            ids.koogallery_ak_sk,
        ]
        .into_iter()
        .flatten()
        .collect();
        let given: BTreeSet<String> =
            env.iter().filter(|(k, _)| k.ends_with("_SECRET")).map(|(_, v)| v.clone()).collect();
        assert_eq!(given, needed, "{name}: the secrets named in its environment are the ones it reads");

        let mut readable = BTreeSet::new();
        for st in f["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|p| p["Statement"].as_sequence().unwrap())
        {
            let actions: Vec<String> =
                st["Action"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            if !actions.iter().any(|a| a.starts_with("secretsmanager:")) {
                continue;
            }
            assert_eq!(actions, ["secretsmanager:GetSecretValue"], "{name}: only GetSecretValue");
            for r in st["Resource"].as_sequence().unwrap() {
                let (_, arn) = untag(r);
                let param = arn
                    .strip_prefix("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${")
                    .and_then(|rest| rest.strip_suffix("}-??????"))
                    .unwrap_or_else(|| panic!("{name}: {arn} is not one named secret"));
                readable.insert(t["Parameters"][param]["Default"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(readable, needed, "{name}: may read exactly the secrets it needs");
    }
}

async fn sm() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&billing_adapters::config::sdk_config().await)
}

async fn put(sm: &aws_sdk_secretsmanager::Client, name: &str, value: &str) {
    if sm.put_secret_value().secret_id(name).secret_string(value).send().await.is_err() {
        sm.create_secret().name(name).secret_string(value).send().await.unwrap();
    }
}

#[tokio::test]
async fn the_functions_secrets_are_the_ones_make_up_put_in_secrets_manager() {
    let h = Harness::new().await;
    let keys = h.marketplace_keys.as_ref().unwrap();
    assert_eq!(*keys.aliyun_spi_key.get().await.unwrap(), std::env::var("ALIYUN_SPI_KEY").unwrap());
    assert_eq!(*keys.huawei_koogallery_key.get().await.unwrap(), std::env::var("HUAWEI_KOOGALLERY_KEY").unwrap());
    // A token the harness issues is signed with the key in Secrets Manager, under its id.
    let local = TokenKeys::from_secret(&format!(
        r#"{{"current": {{"id": "local-1", "key": "{}"}}}}"#,
        std::env::var("TOKEN_SIGNING_KEY").unwrap()
    ))
    .unwrap();
    let session = h.deps().session(Principal::Billing { username: "someone".into() }).await.unwrap();
    assert!(session.token.starts_with("local-1."));
    assert!(matches!(local.verify(&session.token, h.clock.now()), billing_domain::crypto::token::Verdict::Valid(_)));
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_or_has_the_wrong_shape_fails_without_quoting_it() {
    let sm = sm().await;
    let missing = Secret::new(sm.clone(), format!("test/absent-{}", unique()), shape::plain);
    let e = missing.get().await.unwrap_err().to_string();
    assert!(e.contains("could not be read"), "{e}");
    let name = format!("test/wrong-{}", unique());
    put(&sm, &name, r#"{"ak": "AK-VALUE", "secret": "sk-value-hunter2"}"#).await;
    let wrong = Secret::new(sm, name, shape::ak_sk);
    let e = wrong.get().await.unwrap_err().to_string();
    assert!(e.contains("expected shape") && !e.contains("hunter2") && !e.contains("AK-VALUE"), "{e}");
}

#[tokio::test]
async fn a_read_value_is_kept_until_its_ttl_and_reloads_are_spaced() {
    let sm = sm().await;
    let name = format!("test/ttl-{}", unique());
    put(&sm, &name, "first").await;
    let long = Timing { ttl: std::time::Duration::from_secs(600), ..Timing::default() };
    let s = Secret::new(sm.clone(), name.clone(), shape::plain).with_timing(long);
    assert_eq!(*s.get().await.unwrap(), "first");
    put(&sm, &name, "second").await;
    assert_eq!(*s.get().await.unwrap(), "first", "within the TTL the value in hand is used");
    assert_eq!(*s.reload().await.unwrap(), "first", "a reload moments after a read does not read");
    let eager = Timing { ttl: std::time::Duration::ZERO, min_reload: std::time::Duration::ZERO, ..Timing::default() };
    let s = Secret::new(sm.clone(), name.clone(), shape::plain).with_timing(eager);
    assert_eq!(*s.get().await.unwrap(), "second", "past the TTL it is read again");
    // A read that fails keeps the value in hand in use.
    sm.delete_secret().secret_id(&name).force_delete_without_recovery(true).send().await.unwrap();
    assert_eq!(*s.reload().await.unwrap(), "second");
}

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-key-a";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-key-b";

fn keyring(current: (&str, &str), previous: Option<(&str, &str)>) -> String {
    let key = |(id, k): (&str, &str)| serde_json::json!({"id": id, "key": k});
    let mut v = serde_json::json!({"current": key(current)});
    if let Some(p) = previous {
        v["previous"] = key(p);
    }
    v.to_string()
}

/// A fresh execution environment whose token keys are the secret `name`, reloaded at once
/// when a token names a key it does not hold (the default spaces reloads by seconds).
async fn environment_on(name: &str) -> Harness {
    let mut h = Harness::new().await;
    let timing = Timing { min_reload: std::time::Duration::ZERO, ..Timing::default() };
    h.app.deps.tokens = Arc::new(Secret::new(sm().await, name, shape::token_keys).with_timing(timing));
    h
}

async fn balance(h: &Harness, token: &str) -> u16 {
    parts(bills::handle(&h.app, request("GET", "/v1/billing/balance", None, Some(token))).await).0
}

#[tokio::test]
async fn a_rotation_keeps_tokens_of_the_previous_key_valid_until_they_expire() {
    let sm = sm().await;
    let name = format!("test/token-keys-{}", unique());
    put(&sm, &name, &keyring(("k1", KEY_A), None)).await;
    let before = environment_on(&name).await;
    let owner = commercial_registration("cn1");
    let reg = registered(&before.app, &owner).await;
    let old = token(&reg, "billing_session");
    assert!(old.starts_with("k1."), "{old}");
    assert_eq!(balance(&before, &old).await, 200);

    // Rotation: a new current key; the old one stays as the previous.
    put(&sm, &name, &keyring(("k2", KEY_B), Some(("k1", KEY_A)))).await;
    let after = environment_on(&name).await;
    after.clock.set(before.clock.now() + Duration::minutes(10));
    assert_eq!(balance(&after, &old).await, 200, "a token of the previous key is still valid");
    let new = billing_token(&after.app, owner["username"].as_str().unwrap()).await;
    assert!(new.starts_with("k2."), "{new}");
    // An environment that read the keys before the rotation reads them again for the new id.
    assert_eq!(balance(&before, &new).await, 200);

    // A token of a key id nobody holds, however well made, is refused.
    let stranger = TokenKeys::new(("k9", TokenKey::new(KEY_A.as_bytes()).unwrap()), None).unwrap();
    let (forged, _) =
        stranger.issue(Principal::Billing { username: owner["username"].as_str().unwrap().into() }, after.clock.now());
    assert_eq!(balance(&after, &forged).await, 401);
    assert_eq!(balance(&before, &forged).await, 401);

    // The old token lives out its hour, and no longer.
    after.clock.set(before.clock.now() + Duration::minutes(59));
    assert_eq!(balance(&after, &old).await, 200);
    after.clock.set(before.clock.now() + Duration::minutes(61));
    assert_eq!(balance(&after, &old).await, 401);

    // Once the rotation is over (the previous key dropped), its tokens name an unknown key.
    put(&sm, &name, &keyring(("k2", KEY_B), None)).await;
    let later = environment_on(&name).await;
    later.clock.set(before.clock.now() + Duration::minutes(30));
    assert_eq!(balance(&later, &old).await, 401);
    assert_eq!(balance(&later, &new).await, 200);
}
