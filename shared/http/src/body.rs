//! Request bodies: at most 64 KiB; JSON that does not parse or has wrong types is `400`.

use billing_domain::{Error, Result};
use lambda_http::{Body, Request};
use serde::de::DeserializeOwned;

pub const MAX_BODY: usize = 64 * 1024;

pub fn bytes(req: &Request) -> Result<&[u8]> {
    let b: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if b.len() > MAX_BODY {
        return Err(Error::PayloadTooLarge);
    }
    Ok(b)
}

pub fn json<T: DeserializeOwned>(req: &Request) -> Result<T> {
    let b = bytes(req)?;
    if b.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::MalformedRequest("the request body must be a JSON object".into()));
    }
    serde_json::from_slice(b)
        .map_err(|e| Error::MalformedRequest(format!("the request body is not valid JSON for this route: {e}")))
}

/// `k=v` pairs from the query string and, for a form body, the body, in order.
pub fn form_params(req: &Request) -> Result<Vec<(String, String)>> {
    let mut params: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| serde_urlencoded::from_str(q).map_err(|_| Error::MalformedRequest("bad query string".into())))
        .transpose()?
        .unwrap_or_default();
    let b = bytes(req)?;
    if !b.is_empty() {
        let body: Vec<(String, String)> = serde_urlencoded::from_bytes(b)
            .map_err(|_| Error::MalformedRequest("the body must be application/x-www-form-urlencoded".into()))?;
        params.extend(body);
    }
    Ok(params)
}
