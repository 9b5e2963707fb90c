//! Money and quantities: exact decimals (`rust_decimal`), never floating point. Currencies
//! follow the site: cn* sites bill in CNY, the others in USD (domain.md, flow 8).

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

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

/// A decimal sent as a JSON string (`"12.5"`) or number (`12.5`). Exponents, NaN and
/// infinities are refused; a number is read from its shortest decimal form, so `0.1` is 0.1.
pub fn parse_decimal(v: &serde_json::Value) -> Option<Decimal> {
    let text = match v {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if text.is_empty() || text.len() > 40 || text.contains(['e', 'E']) {
        return None;
    }
    Decimal::from_str_exact(&text).or_else(|_| Decimal::from_str(&text)).ok().map(|d| d.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn decimals_parse_exactly_from_strings_and_numbers() {
        assert_eq!(parse_decimal(&json!("12.5")), Some(d("12.5")));
        assert_eq!(parse_decimal(&json!(0.1)), Some(d("0.1")));
        assert_eq!(parse_decimal(&json!(3)), Some(d("3")));
        assert_eq!(parse_decimal(&json!("0.10")), Some(d("0.1")));
        for bad in [json!("1e3"), json!("abc"), json!(""), json!(null), json!(true), json!("1".repeat(50))] {
            assert_eq!(parse_decimal(&bad), None, "{bad}");
        }
        // 0.1 + 0.2 is 0.3, exactly.
        assert_eq!(parse_decimal(&json!(0.1)).unwrap() + parse_decimal(&json!(0.2)).unwrap(), d("0.3"));
    }

    #[test]
    fn currency_follows_the_site() {
        assert_eq!(Currency::of_site("cn4"), Currency::Cny);
        assert_eq!(Currency::of_site("us1"), Currency::Usd);
        assert_eq!(serde_json::to_string(&Currency::Cny).unwrap(), "\"CNY\"");
    }
}
