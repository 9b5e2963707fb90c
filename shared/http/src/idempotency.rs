//! `Idempotency-Key` on POST routes: the same key with the same request within 24 h gets
//! the first response; with another request, `422 idempotency_key_reused`.

use crate::{body, problem, HttpResponse};
use billing_domain::ports::{IdempotencyBegin, IdempotencyStore, StoredResponse};
use billing_domain::{Error, Result};
use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};
use std::future::Future;

/// Runs `run` at most once per key. `scope` separates functions' keys; `subject` (who an
/// authenticated route acts for) separates callers', so no caller can use up another's key.
/// Unauthenticated routes have no subject and keep the key alone.
pub async fn once<F>(
    store: &dyn IdempotencyStore,
    scope: &str,
    subject: Option<&str>,
    req: &Request,
    now: DateTime<Utc>,
    run: F,
) -> Result<HttpResponse>
where
    F: Future<Output = HttpResponse>,
{
    let Some(key) = req.headers().get("idempotency-key") else {
        return Ok(run.await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| well_formed(k))
        .ok_or_else(|| Error::field("Idempotency-Key", "invalid", "must be 1 to 255 visible ASCII characters"))?;
    let request_hash = digest(&[req.method().as_str(), crate::route::path(req), body::text(req)?]);
    // Hashed: a subject (an IAM ARN, say) may be long, and the record's key must stay short.
    let scoped = match subject {
        Some(who) => format!("{scope}#{}#{key}", &digest(&[who])[..32]),
        None => format!("{scope}#{key}"),
    };
    match store.begin(&scoped, &request_hash, now).await? {
        IdempotencyBegin::Started => {}
        IdempotencyBegin::Replay(r) => return Ok(replay(r)),
        IdempotencyBegin::InProgress => return Err(Error::Conflict),
        IdempotencyBegin::Mismatch => return Err(Error::IdempotencyKeyReused),
    }
    let response = run.await;
    if response.status().is_server_error() {
        store.abandon(&scoped).await?; // a fault is not an answer: let the retry run
    } else {
        let stored = StoredResponse {
            status: response.status().as_u16(),
            content_type: response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_string(),
            body: match response.body() {
                Body::Text(t) => t.clone(),
                Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            },
        };
        if let Err(e) = store.complete(&scoped, &stored, now).await {
            tracing::warn!(error = %e, "idempotency record not completed; the key will free itself");
        }
    }
    Ok(response)
}

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// openapi.yaml's pattern, `^[!-~]([ -~]*[!-~])?$`, at most 255 long: visible ASCII, spaces
/// inside only (a tab passes `HeaderValue::to_str` but not the pattern).
fn well_formed(key: &str) -> bool {
    let b = key.as_bytes();
    let visible = |c: &u8| (b'!'..=b'~').contains(c);
    (1..=255).contains(&b.len())
        && b.first().is_some_and(visible)
        && b.last().is_some_and(visible)
        && b.iter().all(|c| (b' '..=b'~').contains(c))
}

fn replay(r: StoredResponse) -> HttpResponse {
    Response::builder()
        .status(r.status)
        .header("content-type", r.content_type)
        .header("idempotent-replayed", "true")
        .body(Body::Text(r.body))
        .unwrap_or_else(|e| problem::response(&Error::internal(e)))
}

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn a_key_is_well_formed_as_openapi_yaml_draws_it() {
        for ok in ["0", "a b", "~!", &"k".repeat(255)] {
            assert!(well_formed(ok), "{ok:?}");
        }
        for bad in ["", " ", " a", "a ", "a\tb", "\t", "é", "a\u{7f}", &"k".repeat(256)] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
