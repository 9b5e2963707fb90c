//! The one place that maps domain errors to HTTP: status, stable `code`, problem+json.

use crate::HttpResponse;
use billing_domain::Error;
use lambda_http::{Body, Response};
use serde_json::json;

/// Status and `code` of each error (api.md, Conventions and Routes).
pub fn status_and_code(e: &Error) -> (u16, &'static str) {
    use Error::*;
    match e {
        MalformedRequest(_) => (400, "malformed_request"),
        InvalidMarketplaceToken => (400, "invalid_marketplace_token"),
        Unauthenticated => (401, "unauthenticated"),
        InvalidCredentials => (401, "invalid_credentials"),
        BillingCredentialsInvalid => (401, "billing_credentials_invalid"),
        Forbidden => (403, "forbidden"),
        RouteNotFound => (404, "not_found"),
        WorkspaceNotFound => (404, "workspace_not_found"),
        BillingAccountNotFound => (404, "billing_account_not_found"),
        MethodNotAllowed => (405, "method_not_allowed"),
        EmailTaken => (409, "email_taken"),
        PhoneTaken => (409, "phone_taken"),
        BillingUsernameTaken => (409, "billing_username_taken"),
        AlreadyCommercial => (409, "already_commercial"),
        WorkspaceNotCommercial => (409, "workspace_not_commercial"),
        CloudAccountNotActive => (409, "cloud_account_not_active"),
        CloudAccountMismatch => (409, "cloud_account_mismatch"),
        CloudAccountLocked => (409, "cloud_account_locked"),
        SettlementChangeLimit { .. } => (409, "settlement_change_limit"),
        Conflict => (409, "conflict"),
        TopUpReferenceReused => (409, "top_up_reference_reused"),
        PayloadTooLarge => (413, "payload_too_large"),
        InvalidField(_) => (422, "invalid_field"),
        UnknownSite => (422, "unknown_site"),
        AgreementRequired => (422, "agreement_required"),
        SettlementNotAllowed => (422, "settlement_not_allowed"),
        CloudAccountNotFound => (422, "cloud_account_not_found"),
        IdempotencyKeyReused => (422, "idempotency_key_reused"),
        TooManyAttempts { .. } => (429, "too_many_attempts"),
        Internal(_) => (500, "internal"),
    }
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        _ => "Internal Server Error",
    }
}

pub fn response(e: &Error) -> HttpResponse {
    let (status, code) = status_and_code(e);
    let detail = match e {
        // Internals go to the log, never to the client.
        Error::Internal(inner) => {
            tracing::error!(error = %inner, "internal error");
            "an unexpected error occurred".to_string()
        }
        other => other.to_string(),
    };
    let mut body =
        json!({"type": "about:blank", "title": title(status), "status": status, "code": code, "detail": detail});
    if let Error::InvalidField(errors) = e {
        body["errors"] = json!(errors);
    }
    if let Error::SettlementChangeLimit { next } = e {
        body["next_change_at"] = json!(next);
    }
    let mut b = Response::builder().status(status).header("content-type", "application/problem+json");
    if let Error::TooManyAttempts { retry_after_secs } = e {
        b = b.header("retry-after", retry_after_secs.to_string());
    }
    b.body(Body::Text(body.to_string())).expect("static parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_detail() {
        let r = response(&Error::internal("dynamodb said: secret table arn"));
        assert_eq!(r.status(), 500);
        let Body::Text(t) = r.body() else { panic!() };
        assert!(!t.contains("secret"), "{t}");
        assert!(t.contains(r#""code":"internal""#));
    }

    #[test]
    fn field_errors_are_listed_and_too_many_attempts_says_when() {
        let r = response(&Error::field("email", "invalid", "must be an email address"));
        assert_eq!(r.status(), 422);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let Body::Text(t) = r.body() else { panic!() };
        let v: serde_json::Value = serde_json::from_str(t).unwrap();
        assert_eq!(v["errors"][0]["field"], "email");
        let r = response(&Error::TooManyAttempts { retry_after_secs: 90 });
        assert_eq!((r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()), (429, "90"));
    }
}
