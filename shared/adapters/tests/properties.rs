//! Properties of the marketplaces' signature checks: each accepts its own signature and nothing
//! altered, and never panics on arbitrary input.

use billing_adapters::aliyun::spi_token::{sign, verify};
use billing_adapters::koogallery::saas_signature::{request_signature, verify_request};
use proptest::prelude::*;

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[a-zA-Z]{1,12}", "\\PC{0,24}"), 0..8)
        .prop_map(|v| v.into_iter().filter(|(k, _)| k != "token").collect())
}

proptest! {
    #[test]
    fn spi_signature_accepts_its_own_token_and_nothing_altered(p in params(), secret in "\\PC{1,32}", extra in "\\PC{1,8}") {
        let mut signed = p.clone();
        signed.push(("token".into(), sign(&p, &secret)));
        prop_assert!(verify(&signed, &secret));
        let mut altered = signed.clone();
        altered.push(("zzextra".into(), extra));
        prop_assert!(!verify(&altered, &secret));
        prop_assert!(!verify(&p, &secret), "unsigned");
    }

    #[test]
    fn spi_signature_check_never_panics_on_arbitrary_tokens(p in params(), token in "\\PC{0,64}") {
        let mut with = p;
        with.push(("token".into(), token));
        let _ = verify(&with, "secret");
    }

    #[test]
    fn koogallery_signature_accepts_its_own_and_nothing_altered(body in "\\PC{0,64}", nonce in "[A-F0-9]{1,64}", ts in "[0-9]{10,13}", key in "\\PC{1,32}") {
        let sig = request_signature(&key, &nonce, &ts, &body).to_uppercase();
        prop_assert!(verify_request(&key, &nonce, &ts, &body, &sig));
        let altered = format!("{body} ");
        prop_assert!(!verify_request(&key, &nonce, &ts, &altered, &sig));
        let _ = verify_request(&key, &nonce, &ts, &body, &body);
    }
}
