//! Request bodies: UTF-8 on every route, at most 64 KiB unless a route says otherwise; JSON that does not parse, has
//! wrong types or repeats a key in any object is `400`.

use billing_domain::{Error, Result};
use lambda_http::{Body, Request};
use percent_encoding::percent_decode;
use serde::de::DeserializeOwned;

/// The body limit of every route but the few that say otherwise (`route::find_within`).
pub const MAX_BODY: usize = 64 * 1024;

/// The body as text. A base64 body (`isBase64Encoded`) arrives as bytes: it must be UTF-8 like
/// any other, whether or not the route reads it. Its size is checked by the router.
pub fn text(req: &Request) -> Result<&str> {
    match req.body() {
        Body::Empty => Ok(""),
        Body::Text(t) => Ok(t),
        Body::Binary(b) => {
            std::str::from_utf8(b).map_err(|_| Error::MalformedRequest("the request body is not UTF-8".into()))
        }
        _ => Ok(""),
    }
}

/// The body as text, at most `limit` bytes.
pub fn text_within(req: &Request, limit: usize) -> Result<&str> {
    let t = text(req)?;
    if t.len() > limit {
        return Err(Error::PayloadTooLarge);
    }
    Ok(t)
}

pub fn json<T: DeserializeOwned>(req: &Request) -> Result<T> {
    let t = text(req)?;
    if t.trim().is_empty() {
        return Err(Error::MalformedRequest("the request body must be a JSON object".into()));
    }
    let value = serde_json::from_str(t)
        .map_err(|e| Error::MalformedRequest(format!("the request body is not valid JSON for this route: {e}")))?;
    // serde keeps the last of two equal keys (or the first, by type): neither is what was meant.
    if let Some(key) = repeated_key(t) {
        return Err(Error::MalformedRequest(format!("the key {key:?} appears twice in one object")));
    }
    Ok(value)
}

/// The first key that an object of `json` (valid JSON) holds twice, anywhere in it. Keys are
/// compared as JSON strings decode (`"a"` and `"\u0061"` are one key).
fn repeated_key(json: &str) -> Option<String> {
    use std::borrow::Cow;
    use std::collections::HashSet;
    // One frame per open object (its keys so far) or array; `expect_key` after `{` and `,`.
    let mut frames: Vec<Option<HashSet<Cow<str>>>> = Vec::new();
    let mut expect_key = false;
    let bytes = json.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                frames.push(Some(HashSet::new()));
                expect_key = true;
            }
            b'[' => frames.push(None),
            b'}' | b']' => {
                frames.pop();
                expect_key = false;
            }
            b',' => expect_key = matches!(frames.last(), Some(Some(_))),
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if expect_key {
                    let raw = json.get(start..=i.min(bytes.len() - 1))?;
                    let key: Cow<str> = if raw.contains('\\') {
                        Cow::Owned(serde_json::from_str::<String>(raw).ok()?)
                    } else {
                        Cow::Borrowed(&raw[1..raw.len() - 1])
                    };
                    if let Some(Some(keys)) = frames.last_mut() {
                        if keys.contains(&key) {
                            return Some(key.into_owned());
                        }
                        keys.insert(key);
                    }
                    expect_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `application/x-www-form-urlencoded` pairs, decoded strictly: a `%XX` sequence that does not
/// decode to UTF-8 is malformed, never replaced by U+FFFD and passed on.
fn form_pairs(s: &str) -> Result<Vec<(String, String)>> {
    let decode = |part: &str| -> Result<String> {
        let plus_as_space = part.replace('+', " ");
        percent_decode(plus_as_space.as_bytes())
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| Error::MalformedRequest("a form parameter is not UTF-8 once decoded".into()))
    };
    s.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// `k=v` pairs of the query string.
pub fn query_params(req: &Request) -> Result<Vec<(String, String)>> {
    form_pairs(req.uri().query().unwrap_or_default())
}

/// `k=v` pairs from the query string and, for a form body, the body, in order.
pub fn form_params(req: &Request) -> Result<Vec<(String, String)>> {
    let mut params = form_pairs(req.uri().query().unwrap_or_default())?;
    params.extend(form_pairs(text(req)?)?);
    Ok(params)
}

/// Percent-decodes one path segment; a segment that does not decode to UTF-8 stays as sent
/// (it names nothing, so the route answers "not found").
pub fn path_segment(raw: &str) -> String {
    percent_decode(raw.as_bytes()).decode_utf8().map(|c| c.into_owned()).unwrap_or_else(|_| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: Body, uri: &str) -> Request {
        http::Request::builder().uri(uri).body(body).unwrap()
    }

    #[test]
    fn invalid_utf8_is_malformed_whatever_the_route_reads() {
        let r = req(Body::Binary(vec![0x7b, 0xff, 0xfe, 0x7d]), "https://x/v1/sites");
        assert!(matches!(text(&r), Err(Error::MalformedRequest(_))));
        assert!(matches!(json::<serde_json::Value>(&r), Err(Error::MalformedRequest(_))));
        assert!(matches!(form_params(&r), Err(Error::MalformedRequest(_))));
        let ok = req(Body::Binary(br#"{"a":1}"#.to_vec()), "https://x/");
        assert_eq!(json::<serde_json::Value>(&ok).unwrap()["a"], 1);
    }

    #[test]
    fn a_key_repeated_in_any_object_is_malformed() {
        let dup = [
            r#"{"quantity": "1", "quantity": "100"}"#,
            r#"{"records": [{"id": "a", "quantity": 1, "quantity": 2}]}"#,
            r#"{"a": {"b": {"c": 1, "c": 1}}}"#,
            r#"{"amount": "1", "\u0061mount": "2"}"#,
            r#"{"a": 1, "b": [1, {"x": 1}], "a": 2}"#,
        ];
        for body in dup {
            let r = req(Body::Text(body.into()), "https://x/");
            assert!(matches!(json::<serde_json::Value>(&r), Err(Error::MalformedRequest(_))), "{body}");
        }
        let fine = [
            r#"{"a": 1, "b": {"a": 1}, "c": [{"a": 1}, {"a": 2}]}"#,
            r#"{"a": "\"a\": 1, \"a\": 2", "b": "{\"x\":1,\"x\":2}"}"#,
            r#"{"a": ["a", "a"], "k": {"a,b": 1, "a": 2}}"#,
            r#"{"\\": 1, "\\\\": 2}"#,
            r#"[{"a": 1}, {"a": 1}]"#,
        ];
        for body in fine {
            let r = req(Body::Text(body.into()), "https://x/");
            assert!(json::<serde_json::Value>(&r).is_ok(), "{body}");
        }
    }

    #[test]
    fn form_decoding_is_strict_and_keeps_order() {
        let r = req(Body::Text("b=2+3&c=%E4%B8%AD".into()), "https://x/p?a=1&token=x%2By");
        let p = form_params(&r).unwrap();
        let want = [("a", "1"), ("token", "x+y"), ("b", "2 3"), ("c", "中")];
        assert_eq!(p, want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>());
        let bad = req(Body::Text("a=%FF".into()), "https://x/p");
        assert!(matches!(form_params(&bad), Err(Error::MalformedRequest(_))));
        let bad_query = req(Body::Empty, "https://x/p?a=%C3%28");
        assert!(form_params(&bad_query).is_err());
    }

    #[test]
    fn bodies_over_their_limit_are_too_large() {
        let r = req(Body::Text("x".repeat(MAX_BODY + 1)), "https://x/");
        assert_eq!(text_within(&r, MAX_BODY), Err(Error::PayloadTooLarge));
        assert!(text_within(&r, MAX_BODY + 1).is_ok());
    }

    #[test]
    fn path_segments_decode_or_stay_as_sent() {
        assert_eq!(path_segment("a%40b.c"), "a@b.c");
        assert_eq!(path_segment("%FF"), "%FF");
    }
}
