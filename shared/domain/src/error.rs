//! The one error type of the domain. `billing_http::problem` maps each variant to a
//! status and a stable `code`, in one place.

use chrono::{DateTime, Utc};
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    // 400 / 404 / 405 / 413: the request itself
    #[error("{0}")]
    MalformedRequest(String),
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,

    // 422: valid JSON that breaks a rule
    #[error("one or more fields are invalid")]
    InvalidField(Vec<FieldError>),
    #[error("unknown site")]
    UnknownSite,
    #[error("the agreement must be accepted")]
    AgreementRequired,
    #[error("this settlement method is not offered for this workspace")]
    SettlementNotAllowed,
    #[error("no such cloud account")]
    CloudAccountNotFound,
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyKeyReused,

    // 401 / 403 / 429
    #[error("missing or invalid token")]
    Unauthenticated,
    #[error("not allowed")]
    Forbidden,
    #[error("wrong login or password")]
    InvalidCredentials,
    #[error("wrong billing username or password")]
    BillingCredentialsInvalid,
    #[error("too many failed attempts; try again later")]
    TooManyAttempts { retry_after_secs: u64 },

    // 404
    #[error("workspace not found")]
    WorkspaceNotFound,
    #[error("billing account not found")]
    BillingAccountNotFound,

    // 409
    #[error("this email is already registered on this site")]
    EmailTaken,
    #[error("this phone is already registered on this site")]
    PhoneTaken,
    #[error("this billing username is taken")]
    BillingUsernameTaken,
    #[error("the workspace is already commercial")]
    AlreadyCommercial,
    #[error("the workspace is not commercial")]
    WorkspaceNotCommercial,
    #[error("the cloud account's subscription is not active")]
    CloudAccountNotActive,
    #[error("the instance does not belong to this account")]
    CloudAccountMismatch,
    #[error("the workspace is settled by an active cloud account; move it to enterprise first")]
    CloudAccountLocked,
    #[error("the settlement was already changed this month; next change allowed at {next}")]
    SettlementChangeLimit { next: DateTime<Utc> },
    #[error("a concurrent change won; retry")]
    Conflict,
    #[error("this top-up reference was recorded with another amount, currency or account")]
    TopUpReferenceReused,

    // 400 on the marketplace landing
    #[error("invalid or expired marketplace token")]
    InvalidMarketplaceToken,

    // 500: details go to the log, never to the client
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Error::Internal(e.to_string())
    }

    pub fn field(field: &str, code: &'static str, message: &str) -> Self {
        Error::InvalidField(vec![FieldError::new(field, code, message)])
    }
}
