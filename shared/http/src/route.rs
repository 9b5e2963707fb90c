//! Matching a request to a route: `404` for an unknown path, `405` for a known path with
//! another method.

use billing_domain::Error;
use lambda_http::Request;

/// The path, with `cargo lambda watch`'s `/lambda-url/<function>` prefix removed if present.
pub fn path(req: &Request) -> &str {
    let p = req.uri().path();
    match p.strip_prefix("/lambda-url/") {
        Some(rest) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => p,
    }
}

/// Matches `pattern` (segments like `{id}` capture) against `path`.
pub fn matches(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut ps = pattern.trim_end_matches('/').split('/');
    let mut xs = path.trim_end_matches('/').split('/');
    let mut captured = vec![];
    loop {
        match (ps.next(), xs.next()) {
            (None, None) => return Some(captured),
            (Some(p), Some(x)) if p.starts_with('{') && !x.is_empty() => captured.push(x.to_string()),
            (Some(p), Some(x)) if p == x => {}
            _ => return None,
        }
    }
}

/// The routes of one function: `(method, pattern)`. Returns the index of the matching route
/// and its captures.
pub fn find(req: &Request, routes: &[(&str, &str)]) -> Result<(usize, Vec<String>), Error> {
    let path = path(req);
    let mut path_known = false;
    for (i, (method, pattern)) in routes.iter().enumerate() {
        if let Some(captures) = matches(pattern, path) {
            path_known = true;
            if req.method().as_str() == *method {
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
    fn patterns_capture_segments() {
        assert_eq!(
            matches("/v1/workspaces/{id}/upgrade", "/v1/workspaces/ws_1/upgrade"),
            Some(vec!["ws_1".to_string()])
        );
        assert_eq!(matches("/v1/workspaces/{id}/upgrade", "/v1/workspaces//upgrade"), None);
        assert_eq!(matches("/v1/sites", "/v1/sites/"), Some(vec![]));
        assert_eq!(matches("/v1/sites", "/v1/sites/x"), None);
    }
}
