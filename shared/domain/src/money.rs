//! Money and quantities: exact decimals (`rust_decimal`), never floating point. Currencies
//! follow the site: cn* sites bill in CNY, the others in USD (domain.md, flow 8).

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

pub use rust_decimal::Decimal as Amount;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "CNY")]
    Cny,
    #[serde(rename = "USD")]
    Usd,
}

impl Currency {
    pub const ALL: [Currency; 2] = [Currency::Cny, Currency::Usd];

    pub fn of_site(site: &str) -> Currency {
        if site.starts_with("cn") {
            Currency::Cny
        } else {
            Currency::Usd
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
            Currency::Usd => "USD",
        }
    }

    pub fn parse(v: &str) -> Option<Currency> {
        Currency::ALL.into_iter().find(|c| c.code() == v)
    }
}

/// Half-up to the cent (0.005 → 0.01), as a bill line is rounded.
pub fn to_cents(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The largest quantity or amount the service takes: far beyond any real figure, well
/// within the 38 digits DynamoDB numbers keep.
pub fn ceiling() -> Decimal {
    Decimal::from(1_000_000_000_000_000i64)
}

/// Most decimals a usage quantity may have (api.md, `POST /v1/usage`).
pub const QUANTITY_SCALE: usize = 12;
/// Most decimals a top-up amount may have (api.md, top-ups).
pub const AMOUNT_SCALE: usize = 2;

/// A quantity or an amount exactly as written, or nothing (domain.md, flow 8): the JSON
/// string's content or the JSON number's own text must be digits, optionally a point and 1 to
/// `max_scale` more digits. No sign, exponent, underscore or space is read around, and no
/// digit past the precision is rounded away. Read from the raw JSON text, so a number never
/// passes through `f64`; the value must also be below [`ceiling`].
pub fn parse_exact(raw: &serde_json::value::RawValue, max_scale: usize) -> Option<Decimal> {
    let text = raw.get();
    let text: std::borrow::Cow<str> = if text.starts_with('"') {
        std::borrow::Cow::Owned(serde_json::from_str::<String>(text).ok()?)
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (&*text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let grammar = digits(whole) && fraction.is_none_or(|f| digits(f) && f.len() <= max_scale);
    // Past 16 significant whole digits the value is above the ceiling whatever follows.
    if !grammar || whole.trim_start_matches('0').len() > 16 {
        return None;
    }
    let v = Decimal::from_str_exact(&text).ok()?;
    (v < ceiling()).then(|| v.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn cents_round_half_up() {
        assert_eq!(to_cents(d("0.005")), d("0.01"));
        assert_eq!(to_cents(d("0.0049")), d("0.00"));
        assert_eq!(to_cents(d("12.345")), d("12.35"));
        assert_eq!(to_cents(d("-0.005")), d("-0.01"));
    }

    fn raw(json: &str) -> Box<serde_json::value::RawValue> {
        serde_json::value::RawValue::from_string(json.to_string()).unwrap()
    }

    #[test]
    fn decimals_are_taken_exactly_as_written_or_refused() {
        let ok = [
            (r#""12.5""#, "12.5"),
            ("12.5", "12.5"),
            ("0.1", "0.1"),
            ("3", "3"),
            (r#""0.10""#, "0.1"),
            (r#""007""#, "7"),
            (r#""1.000000000001""#, "1.000000000001"),
            (r#""\u0031.5""#, "1.5"),
            (r#""999999999999999.999999999999""#, "999999999999999.999999999999"),
        ];
        for (json, want) in ok {
            assert_eq!(parse_exact(&raw(json), QUANTITY_SCALE), Some(d(want)), "{json}");
        }
        let bad = [
            r#""1.00000000000000000000000000004""#, // 29 decimals: never rounded to 1
            "1.0000000000001",                      // 13 decimals as a number
            r#""5_0.00""#,
            r#""1_000""#,
            r#""1e3""#,
            "1e3",
            "1E-2",
            "-1",
            r#""-1""#,
            r#""+1""#,
            r#"" 1""#,
            r#""1 ""#,
            r#""1.""#,
            r#"".5""#,
            r#""""#,
            r#""abc""#,
            r#""NaN""#,
            r#""1,5""#,
            "null",
            "true",
            "[1]",
            r#"{"v": 1}"#,
            r#""1000000000000000""#, // the ceiling itself
            r#""99999999999999999999999999999999""#,
        ];
        for json in bad {
            assert_eq!(parse_exact(&raw(json), QUANTITY_SCALE), None, "{json}");
        }
        assert_eq!(parse_exact(&raw(r#""10.25""#), AMOUNT_SCALE), Some(d("10.25")));
        assert_eq!(parse_exact(&raw(r#""10.255""#), AMOUNT_SCALE), None);
        // 0.1 + 0.2 is 0.3, exactly.
        let (a, b) = (parse_exact(&raw("0.1"), 12).unwrap(), parse_exact(&raw("0.2"), 12).unwrap());
        assert_eq!(a + b, d("0.3"));
    }

    #[test]
    fn currency_follows_the_site() {
        assert_eq!(Currency::of_site("cn4"), Currency::Cny);
        assert_eq!(Currency::of_site("us1"), Currency::Usd);
        assert_eq!(serde_json::to_string(&Currency::Cny).unwrap(), "\"CNY\"");
    }
}
