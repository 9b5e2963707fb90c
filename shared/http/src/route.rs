//! Matching a request to a route: `404` for an unknown path, `405` for a known path with
//! another method. Every request's body is checked here (64 KiB, UTF-8), whether or not its
//! route reads it, so no route can skip the check.

use crate::body;
use billing_domain::{Error, Result};
use lambda_http::Request;

/// One route of a function: method and path pattern (`{name}` segments capture).
pub type Route = (&'static str, &'static str);

/// The path, with `cargo lambda watch`'s `/lambda-url/<function>` prefix removed if present.
pub fn path(req: &Request) -> &str {
    let p = req.uri().path();
    match p.strip_prefix("/lambda-url/") {
        Some(rest) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => p,
    }
}

/// Matches `pattern` against `path`; captures come back percent-decoded.
pub fn matches(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut ps = pattern.trim_end_matches('/').split('/');
    let mut xs = path.trim_end_matches('/').split('/');
    let mut captured = vec![];
    loop {
        match (ps.next(), xs.next()) {
            (None, None) => return Some(captured),
            (Some(p), Some(x)) if p.starts_with('{') && !x.is_empty() => captured.push(body::path_segment(x)),
            (Some(p), Some(x)) if p == x => {}
            _ => return None,
        }
    }
}

/// Returns the index of the matching route and its captures.
pub fn find(req: &Request, routes: &[Route]) -> Result<(usize, Vec<String>)> {
    find_within(req, routes, body::MAX_BODY)
}

/// [`find`] for routes whose bodies may be larger than the default 64 KiB.
pub fn find_within(req: &Request, routes: &[Route], body_limit: usize) -> Result<(usize, Vec<String>)> {
    let path = path(req);
    let mut path_known = false;
    for (i, (method, pattern)) in routes.iter().enumerate() {
        if let Some(captures) = matches(pattern, path) {
            path_known = true;
            if req.method().as_str() == *method {
                body::text_within(req, body_limit)?;
                return Ok((i, captures));
            }
        }
    }
    Err(if path_known { Error::MethodNotAllowed } else { Error::RouteNotFound })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_capture_decoded_segments() {
        assert_eq!(
            matches("/v1/workspaces/{id}/upgrade", "/v1/workspaces/ws_1/upgrade"),
            Some(vec!["ws_1".to_string()])
        );
        assert_eq!(matches("/v1/workspaces/{id}/upgrade", "/v1/workspaces//upgrade"), None);
        assert_eq!(matches("/v1/sites", "/v1/sites/"), Some(vec![]));
        assert_eq!(matches("/v1/sites", "/v1/sites/x"), None);
        assert_eq!(matches("/v1/admin/{u}", "/v1/admin/a%40b"), Some(vec!["a@b".to_string()]));
    }

    #[test]
    fn a_matched_route_with_a_body_that_is_not_utf8_is_malformed() {
        let req: Request = http::Request::builder()
            .method("GET")
            .uri("https://x/v1/sites")
            .body(lambda_http::Body::Binary(vec![0xc3, 0x28]))
            .unwrap();
        assert!(matches!(find(&req, &[("GET", "/v1/sites")]), Err(Error::MalformedRequest(_))));
    }
}
