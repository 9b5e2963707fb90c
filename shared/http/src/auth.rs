//! `Authorization: Bearer <token>`: who is asking.

use billing_domain::crypto::token::{Principal, TokenKey};
use billing_domain::{Error, Result};
use chrono::{DateTime, Utc};
use lambda_http::Request;

pub fn principal(req: &Request, key: &TokenKey, now: DateTime<Utc>) -> Result<Principal> {
    let header = req.headers().get("authorization").and_then(|h| h.to_str().ok()).ok_or(Error::Unauthenticated)?;
    let token =
        header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).ok_or(Error::Unauthenticated)?;
    key.verify(token.trim(), now).ok_or(Error::Unauthenticated)
}
