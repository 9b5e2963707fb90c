//! Field validation rules of api.md ("Validation"). Each check pushes a [`FieldError`]
//! so one response lists every problem of a request.

use crate::error::{Error, FieldError};

/// Collects per-field problems; `finish` turns them into `422 invalid_field`.
#[derive(Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn push(&mut self, field: &str, code: &'static str, message: &str) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// A required field: returns its value when present, records `required` otherwise.
    pub fn required<'a>(&mut self, field: &str, value: &'a Option<String>) -> Option<&'a str> {
        match value.as_deref() {
            Some(v) => Some(v),
            None => {
                self.push(field, "required", "is required");
                None
            }
        }
    }

    pub fn check(&mut self, field: &str, value: Option<&str>, rule: fn(&str) -> Result<(), &'static str>) {
        if let Some(v) = value {
            if let Err(message) = rule(v) {
                self.push(field, "invalid", message);
            }
        }
    }

    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidField(self.0))
        }
    }
}

fn chars_between(v: &str, min: usize, max: usize) -> bool {
    let n = v.chars().count();
    (min..=max).contains(&n)
}

pub fn email(v: &str) -> Result<(), &'static str> {
    if v.len() <= 254
        && email_address::EmailAddress::parse_with_options(v, Default::default()).is_ok()
        && v.contains('.')
    {
        Ok(())
    } else {
        Err("must be an email address")
    }
}

/// E.164: `+` and 8–15 digits.
pub fn phone(v: &str) -> Result<(), &'static str> {
    match v.strip_prefix('+') {
        Some(d) if (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err("must be E.164: '+' and 8 to 15 digits"),
    }
}

pub fn password(v: &str) -> Result<(), &'static str> {
    if !chars_between(v, 8, 128) {
        return Err("must be 8 to 128 characters");
    }
    if !v.chars().any(|c| c.is_alphabetic()) || !v.chars().any(|c| c.is_ascii_digit()) {
        return Err("must contain a letter and a digit");
    }
    Ok(())
}

pub fn username(v: &str) -> Result<(), &'static str> {
    if chars_between(v, 1, 64) && !v.trim().is_empty() {
        Ok(())
    } else {
        Err("must be 1 to 64 characters")
    }
}

pub fn billing_username(v: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-@".contains(c);
    if (4..=64).contains(&v.len()) && v.chars().all(allowed) {
        Ok(())
    } else {
        Err("must be 4 to 64 of A-Z a-z 0-9 _ . - @")
    }
}

pub fn workspace_name(v: &str) -> Result<(), &'static str> {
    if chars_between(v, 1, 64) && !v.trim().is_empty() {
        Ok(())
    } else {
        Err("must be 1 to 64 characters")
    }
}

pub fn company_name(v: &str) -> Result<(), &'static str> {
    if chars_between(v, 1, 128) && !v.trim().is_empty() {
        Ok(())
    } else {
        Err("must be 1 to 128 characters")
    }
}

/// An Alibaba Cloud main-account UID (主账号 ID): 16 digits.
pub fn aliyun_account_id(v: &str) -> Result<(), &'static str> {
    if v.len() == 16 && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("must be 16 digits")
    }
}

/// Longest id the service hands out or takes from a marketplace (workspaces, instances,
/// claims). Anything longer names nothing: DynamoDB refuses keys over 2 KB, so it never
/// reaches the store. The OpenAPI document states the same limits (a test compares them).
pub const ID_MAX: usize = 128;
/// Cloud account ids wrap a marketplace id (`aliyun-<instance id>`), so they may be longer.
pub const CLOUD_ACCOUNT_ID_MAX: usize = 256;
/// A login is an email (at most 254 characters) or an E.164 phone.
pub const LOGIN_MAX: usize = 254;

fn visible_ascii(v: &str, max: usize) -> bool {
    (1..=max).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic())
}

/// A Huawei Cloud account ID (the buyer's customer id: 32 hexadecimal characters on
/// KooGallery's examples; any id of the service's alphabet is taken).
pub fn huawei_account_id(v: &str) -> Result<(), &'static str> {
    if visible_ascii(v, 64) {
        Ok(())
    } else {
        Err("must be 1 to 64 visible ASCII characters")
    }
}

pub fn opaque_id(v: &str) -> Result<(), &'static str> {
    if visible_ascii(v, ID_MAX) {
        Ok(())
    } else {
        Err("must be 1 to 128 visible ASCII characters")
    }
}

pub fn cloud_account_id(v: &str) -> Result<(), &'static str> {
    if visible_ascii(v, CLOUD_ACCOUNT_ID_MAX) {
        Ok(())
    } else {
        Err("must be 1 to 256 visible ASCII characters")
    }
}

/// Whether `v` could be an id this service handed out; if not, it names nothing.
pub fn is_id(v: &str) -> bool {
    visible_ascii(v, ID_MAX)
}

/// The form in which logins are compared and stored: emails are case-insensitive.
pub fn normalise_login(v: &str) -> String {
    v.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_must_be_an_address() {
        assert!(email("a@example.com").is_ok());
        for bad in ["", "a", "a@", "@b.com", "a b@c.com", "a@b"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_is_e164_with_8_to_15_digits() {
        assert!(phone("+12345678").is_ok());
        assert!(phone("+123456789012345").is_ok());
        for bad in ["12345678", "+1234567", "+1234567890123456", "+1234a5678", "+"] {
            assert!(phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_is_8_to_128_with_a_letter_and_a_digit() {
        assert!(password("abcdefg1").is_ok());
        assert!(password(&format!("a1{}", "x".repeat(126))).is_ok());
        for bad in ["abc1", "abcdefgh", "12345678", &format!("a1{}", "x".repeat(127))] {
            assert!(password(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_and_names_are_1_to_64_characters() {
        assert!(username("张三").is_ok());
        assert!(username(&"字".repeat(64)).is_ok());
        assert!(username(&"字".repeat(65)).is_err());
        assert!(username("").is_err());
        assert!(workspace_name("ws").is_ok());
        assert!(workspace_name(&"w".repeat(65)).is_err());
    }

    #[test]
    fn billing_username_is_4_to_64_of_the_allowed_set() {
        assert!(billing_username("a.b-c_d@e").is_ok());
        for bad in ["abc", "has space", "名字名字", &"a".repeat(65)] {
            assert!(billing_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aliyun_account_id_is_16_digits() {
        assert!(aliyun_account_id("1234567890123456").is_ok());
        assert!(aliyun_account_id("123456789012345").is_err());
        assert!(aliyun_account_id("123456789012345x").is_err());
    }

    #[test]
    fn ids_are_1_to_128_visible_ascii_characters() {
        assert!(is_id("ws_01abc") && is_id(&"x".repeat(ID_MAX)));
        for bad in ["", "a b", "名字", &"x".repeat(ID_MAX + 1), "a\u{7f}"] {
            assert!(!is_id(bad), "{bad:?}");
        }
        assert!(cloud_account_id(&format!("aliyun-{}", "i".repeat(ID_MAX))).is_ok());
        assert!(cloud_account_id(&"c".repeat(CLOUD_ACCOUNT_ID_MAX + 1)).is_err());
    }

    #[test]
    fn problems_list_every_field() {
        let mut p = Problems::default();
        let missing: Option<String> = None;
        assert!(p.required("email", &missing).is_none());
        p.check("phone", Some("123"), phone);
        match p.finish() {
            Err(Error::InvalidField(errs)) => {
                assert_eq!(errs.len(), 2);
                assert_eq!((errs[0].field.as_str(), errs[0].code), ("email", "required"));
                assert_eq!((errs[1].field.as_str(), errs[1].code), ("phone", "invalid"));
            }
            other => panic!("{other:?}"),
        }
    }
}
