//! Balances (flow 11), as pure decisions: what a balance shows, and when it is in arrears.
//!
//! Charges accrue exactly, hour by hour; a balance is shown to the cent by one rule, half away
//! from zero ([`crate::money::to_cents`]), applied once to the charges: the shown balance is the
//! top-ups (whole cents) less the shown charges, so the three shown figures add up. "In arrears"
//! is decided on that shown balance and nothing else: what the customer reads, the arrears
//! email and the arrears flag are one figure.

use crate::money::{to_cents, Amount, Currency};
use serde::Serialize;

/// A balance per currency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Balance {
    pub top_ups: Amount,
    pub charges: Amount,
    /// Whether the arrears email of the current episode has been written.
    pub notified: bool,
    /// How many times the balance has gone into arrears (names each arrears email).
    pub episode: u64,
}

/// A balance as shown, to the cent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    pub top_ups: Amount,
    pub charges: Amount,
    pub balance: Amount,
}

/// Zero shows as `0.00`, never `-0.00`.
fn unsigned_zero(mut v: Amount) -> Amount {
    if v.is_zero() {
        v.set_sign_positive(true);
    }
    v
}

impl Balance {
    pub fn shown(&self) -> Shown {
        let top_ups = to_cents(self.top_ups);
        let charges = unsigned_zero(to_cents(self.charges));
        Shown { top_ups, charges, balance: unsigned_zero(top_ups - charges) }
    }

    /// Exactly when the shown balance is below zero.
    pub fn in_arrears(&self) -> bool {
        self.shown().balance < Amount::ZERO
    }
}

/// What the arrears rule asks of a balance as it now stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrears {
    /// Fell below zero for the first time since it was last at zero or above: one email.
    Notify {
        episode: u64,
    },
    /// Back at zero or above after an email: the next fall gets a new one.
    Rearm,
    Nothing,
}

pub fn arrears(b: &Balance) -> Arrears {
    match (b.in_arrears(), b.notified) {
        (true, false) => Arrears::Notify { episode: b.episode + 1 },
        (false, true) => Arrears::Rearm,
        _ => Arrears::Nothing,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BalanceView {
    pub currency: Currency,
    pub top_ups: String,
    pub charges: String,
    pub balance: String,
}

impl BalanceView {
    pub fn of(currency: Currency, b: &Balance) -> Self {
        let s = b.shown();
        BalanceView {
            currency,
            top_ups: format!("{:.2}", s.top_ups),
            charges: format!("{:.2}", s.charges),
            balance: format!("{:.2}", s.balance),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Amount {
        Amount::from_str(s).unwrap()
    }

    fn bal(top_ups: &str, charges: &str) -> Balance {
        Balance { top_ups: d(top_ups), charges: d(charges), ..Balance::default() }
    }

    #[test]
    fn arrears_notify_once_per_fall_below_zero() {
        let mut b = bal("10", "9.99");
        assert_eq!(arrears(&b), Arrears::Nothing);
        b.charges = d("10.01");
        assert_eq!(arrears(&b), Arrears::Notify { episode: 1 });
        b.notified = true;
        b.episode = 1;
        b.charges = d("50");
        assert_eq!(arrears(&b), Arrears::Nothing, "further charges: no second email");
        b.top_ups = d("50");
        assert_eq!(arrears(&b), Arrears::Rearm, "back at zero");
        b.notified = false;
        b.charges = d("50.5");
        assert_eq!(arrears(&b), Arrears::Notify { episode: 2 });
    }

    #[test]
    fn in_arrears_is_exactly_a_shown_balance_below_zero() {
        // (top-ups, exact charges) → (shown balance, in arrears)
        let cases = [
            ("0", "0.004", "0.00", false), // −0.004 shows 0.00: not in arrears
            ("0", "0.005", "-0.01", true), // half away from zero
            ("1", "0.3333", "0.67", false),
            ("1", "1.004999", "0.00", false),
            ("1", "1.005", "-0.01", true),
            ("0", "0", "0.00", false),
            ("10.00", "9.995", "0.00", false), // charges show 10.00: the balance 0.00, not 0.01
        ];
        for (t, c, shown, arrears_) in cases {
            let b = bal(t, c);
            let v = BalanceView::of(Currency::Cny, &b);
            assert_eq!((v.balance.as_str(), b.in_arrears()), (shown, arrears_), "{t} − {c}");
            let (top, ch, bl) = (d(&v.top_ups), d(&v.charges), d(&v.balance));
            assert_eq!(top - ch, bl, "the shown figures add up");
            assert_eq!(arrears(&b) == Arrears::Notify { episode: 1 }, arrears_);
        }
    }
}
