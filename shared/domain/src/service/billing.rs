//! Flow 11 (and the history of flow 9): a month's bill (as issued, once it is), balances,
//! top-ups, the arrears email, and a workspace's settlement history.

use super::{outbox, Deps};
use crate::crypto::token::Principal;
use crate::email::{self, EmailIntent};
use crate::error::{Error, Result};
use crate::model::{Language, SettlementChange};
use crate::money::{parse_exact, Amount, Currency, AMOUNT_SCALE};
use crate::ports::{TopUp, TopUpOutcome};
use crate::rules::balance::{arrears, Arrears, Balance, BalanceView};
use crate::rules::bill::{self, Bill};
use crate::rules::fields;
use crate::rules::issuing::IssuedBill;
use crate::rules::usage;
use crate::views::SettlementView;
use serde::{Deserialize, Serialize};

fn billing_username(caller: &Principal) -> Result<&str> {
    match caller {
        Principal::Billing { username } => Ok(username),
        Principal::Console { .. } => Err(Error::Forbidden),
    }
}

/// A bill as answered: issued (its stored text, byte for byte), or as its lines stand now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillDocument {
    Issued(IssuedBill),
    Live(Bill),
}

impl BillDocument {
    pub fn json(&self) -> String {
        match self {
            BillDocument::Issued(b) => b.json.clone(),
            BillDocument::Live(b) => serde_json::to_string(b).expect("a bill serialises"),
        }
    }

    pub fn csv(&self) -> String {
        match self {
            BillDocument::Issued(b) => b.csv.clone(),
            BillDocument::Live(b) => bill::csv(b),
        }
    }
}

/// `GET /v1/billing/bills/{month}`: an open month is one query of its lines; a closed month is
/// first looked up as issued (one read), and read from its lines only until it is.
pub async fn bill(deps: &Deps, caller: &Principal, month: &str) -> Result<BillDocument> {
    let username = billing_username(caller)?;
    let start = usage::parse_month(month).ok_or_else(|| Error::field("month", "invalid", "must be YYYY-MM"))?;
    let closed = bill::bill_closed(start, deps.clock.now());
    if closed {
        if let Some(issued) = deps.bills.issued_bill(username, month).await? {
            return Ok(BillDocument::Issued(issued));
        }
    }
    let lines = deps.usage.bill_lines(username, month).await?;
    Ok(BillDocument::Live(bill::bill(month, &username.to_lowercase(), lines, closed)))
}

#[derive(Debug, Serialize)]
pub struct Balances {
    pub balances: Vec<BalanceView>,
    pub in_arrears: bool,
}

pub async fn balances(deps: &Deps, caller: &Principal) -> Result<Balances> {
    let username = billing_username(caller)?;
    let mut found = deps.usage.balances(username).await?;
    found.sort_by_key(|(c, _)| *c);
    Ok(Balances {
        in_arrears: found.iter().any(|(_, b)| b.in_arrears()),
        balances: found.iter().map(|(c, b)| BalanceView::of(*c, b)).collect(),
    })
}

#[derive(Debug, Serialize)]
pub struct HistoryEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub from: Option<SettlementView>,
    pub to: SettlementView,
    pub cause: crate::model::ChangeCause,
    pub actor: String,
}

impl From<SettlementChange> for HistoryEntry {
    fn from(c: SettlementChange) -> Self {
        HistoryEntry {
            at: c.at,
            from: c.from.map(|s| SettlementView { settlement: s, since: None }),
            to: SettlementView { settlement: c.to, since: Some(c.at) },
            cause: c.cause,
            actor: c.actor,
        }
    }
}

/// `GET /v1/workspaces/{id}/settlement-history`: for the owner (console token) or the billing
/// account that settles the workspace; anyone else gets "not found".
pub async fn history(deps: &Deps, caller: &Principal, workspace_id: &str) -> Result<Vec<HistoryEntry>> {
    let ws = super::workspace_if(deps, workspace_id).await?.ok_or(Error::WorkspaceNotFound)?;
    let allowed = match caller {
        Principal::Console { user_id, .. } => &ws.owner_id == user_id,
        Principal::Billing { username } => {
            ws.billing_account.as_deref().is_some_and(|b| b.eq_ignore_ascii_case(username))
        }
    };
    if !allowed {
        return Err(Error::WorkspaceNotFound);
    }
    Ok(deps.accounts.settlement_history(&ws.id).await?.into_iter().map(HistoryEntry::from).collect())
}

#[derive(Debug, Deserialize)]
pub struct TopUpRequest {
    /// Read from its own JSON text: exactly as written, or refused.
    pub amount: Option<Box<serde_json::value::RawValue>>,
    pub currency: Option<String>,
    pub reference: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TopUpView {
    pub reference: String,
    pub amount: String,
    pub currency: Currency,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize)]
pub struct ToppedUp {
    pub top_up: TopUpView,
    pub balance: BalanceView,
}

/// `POST /v1/admin/billing-accounts/{username}/top-ups`: `(created, answer)`. The same
/// reference again answers the first top-up; another amount under it is refused.
pub async fn top_up(deps: &Deps, username: &str, req: TopUpRequest) -> Result<(bool, ToppedUp)> {
    let mut p = fields::Problems::default();
    let amount = req.amount.as_deref().and_then(|a| parse_exact(a, AMOUNT_SCALE)).filter(|a| *a > Amount::ZERO);
    if amount.is_none() {
        p.push(
            "amount",
            if req.amount.is_none() { "required" } else { "invalid" },
            "must be a positive amount with at most 2 decimals",
        );
    }
    let currency = req.currency.as_deref().and_then(Currency::parse);
    if currency.is_none() {
        p.push("currency", if req.currency.is_none() { "required" } else { "invalid" }, "must be CNY or USD");
    }
    let reference = p.required("reference", &req.reference).map(str::trim);
    if reference.is_some_and(|r| r.is_empty() || r.chars().count() > 128 || r.chars().any(char::is_control)) {
        p.push("reference", "invalid", "must be 1 to 128 printable characters");
    }
    p.finish()?;
    if fields::billing_username(username).is_err() {
        return Err(Error::BillingAccountNotFound);
    }
    let (Some(amount), Some(currency), Some(reference)) = (amount, currency, reference) else {
        return Err(Error::internal("validated top-up incomplete"));
    };
    let t = TopUp {
        reference: reference.to_string(),
        username: username.to_lowercase(),
        amount,
        currency,
        at: deps.clock.now(),
    };
    let (created, stored) = match deps.usage.top_up(&t).await? {
        TopUpOutcome::Created => (true, t),
        TopUpOutcome::Existing(old)
            if old.username == t.username && old.amount == t.amount && old.currency == t.currency =>
        {
            (false, old)
        }
        TopUpOutcome::Existing(_) => return Err(Error::TopUpReferenceReused),
    };
    settle_arrears(deps, username, stored.currency, None).await?;
    let balance = deps
        .usage
        .balances(username)
        .await?
        .into_iter()
        .find(|(c, _)| *c == stored.currency)
        .map(|(_, b)| b)
        .unwrap_or_default();
    let view = TopUpView {
        reference: stored.reference,
        amount: format!("{:.2}", stored.amount),
        currency: stored.currency,
        at: stored.at,
    };
    Ok((created, ToppedUp { top_up: view, balance: BalanceView::of(stored.currency, &balance) }))
}

/// The arrears rule (flow 11) on a balance as it now stands: the first fall below zero writes
/// one arrears email (durable, in the same transaction as the flag); a return to zero or above
/// re-arms it. Conditioned on the balance read, so a concurrent charge or top-up makes it
/// decide again. `language`: of the workspace whose usage was charged (the email's language).
pub async fn settle_arrears(deps: &Deps, username: &str, currency: Currency, language: Option<Language>) -> Result<()> {
    for _ in 0..10 {
        let seen = deps
            .usage
            .balances(username)
            .await?
            .into_iter()
            .find(|(c, _)| *c == currency)
            .map(|(_, b)| b)
            .unwrap_or_default();
        let (next, email) = match arrears(&seen) {
            Arrears::Nothing => return Ok(()),
            Arrears::Rearm => (Balance { notified: false, ..seen.clone() }, None),
            Arrears::Notify { episode } => {
                let account = deps.accounts.billing_account(username).await?.ok_or(Error::BillingAccountNotFound)?;
                let intent = EmailIntent {
                    id: format!("arrears-{}-{}-{episode}", username.to_lowercase(), currency.code()),
                    email: email::arrears(
                        &account.email,
                        language.unwrap_or(Language::Zh),
                        &account.username,
                        currency.code(),
                        &BalanceView::of(currency, &seen).balance,
                    ),
                };
                (Balance { notified: true, episode, ..seen.clone() }, Some(intent))
            }
        };
        if deps.usage.mark_arrears(username, currency, &seen, &next, email.as_ref(), deps.clock.now()).await? {
            if let Some(e) = email {
                crate::telemetry::into_arrears(currency);
                outbox::deliver_committed(deps, &[e]).await;
            }
            return Ok(());
        }
    }
    Err(Error::Conflict)
}
