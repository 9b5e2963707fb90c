//! Properties of the pure parsers and checks: arbitrary input never panics, and the checks
//! accept exactly what they should.

use billing_domain::crypto::token::{Principal, TokenKey, TokenKeys, Verdict};
use billing_domain::rules::fields;
use billing_domain::service::register::RegisterRequest;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

proptest! {
    #[test]
    fn token_verification_never_panics_and_refuses_garbage(t in "\\PC{0,200}") {
        let keys = TokenKeys::new(("k1", TokenKey::new(&[9u8; 32]).unwrap()), None).unwrap();
        prop_assert!(!matches!(keys.verify(&t, Utc::now()), Verdict::Valid(_)));
    }

    #[test]
    fn tokens_round_trip_for_any_principal(user in "\\PC{1,40}", site in "[a-z0-9]{3}") {
        let keys = TokenKeys::new(("k1", TokenKey::new(&[9u8; 32]).unwrap()), None).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let p = Principal::Console { user_id: user, site };
        let (t, _) = keys.issue(p.clone(), now);
        prop_assert_eq!(keys.verify(&t, now), Verdict::Valid(p));
    }

    #[test]
    fn field_rules_never_panic(v in "\\PC{0,300}") {
        let _ = (fields::email(&v), fields::phone(&v), fields::password(&v), fields::username(&v),
                 fields::billing_username(&v), fields::workspace_name(&v), fields::aliyun_account_id(&v));
    }

    #[test]
    fn phones_that_pass_are_e164(v in "\\+?[0-9a-z]{0,20}") {
        if fields::phone(&v).is_ok() {
            prop_assert!(v.starts_with('+'));
            prop_assert!((9..=16).contains(&v.len()));
        }
    }

    #[test]
    fn registration_parsing_and_validation_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(req) = serde_json::from_slice::<RegisterRequest>(&body) {
            let _ = req.validate();
        }
    }
}
