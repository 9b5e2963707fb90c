//! API Gateway's payload-2.0 event read without a panic. `lambda_http::run` gives a handler only
//! the events its conversion accepts: an event it cannot read (a header value HTTP cannot carry,
//! such as a control character) fails the invocation (API Gateway answers `500`), and one it
//! reads but cannot turn into a request (a host, path or query string that is no URI, a body
//! marked base64 that is not) panics, and release builds abort on a panic: the next request
//! pays a cold start. Here both are refused as `400 malformed_request`, in the response shape
//! API Gateway expects, and everything else goes through the library's own conversion.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use billing_domain::Error;
use billing_http::HttpResponse;
use lambda_http::request::LambdaRequest;
use serde_json::{json, Value};

/// The event as `lambda_http` reads it, or why it is refused.
pub fn read(payload: Value) -> Result<LambdaRequest, &'static str> {
    let event: LambdaRequest = serde_json::from_value(payload)
        .map_err(|_| "the event is not an HTTP API request (payload 2.0) whose headers HTTP can carry")?;
    let LambdaRequest::ApiGatewayV2(ag) = &event else {
        return Err("the event is not an HTTP API request (payload 2.0)");
    };
    if !uri_builds(ag) {
        return Err("the request's host, path or query string is not a valid URI");
    }
    if ag.is_base64_encoded
        && ag.body.as_deref().is_some_and(|b| base64::engine::general_purpose::STANDARD.decode(b).is_err())
    {
        return Err("the request's body is marked base64 but is not");
    }
    Ok(event)
}

/// The same steps as `lambda_http`'s conversion (`into_api_gateway_v2_request`), each of which
/// `unwrap`s or `expect`s there: the URL from the host (the `host` header, else the request
/// context's domain), the stage and the raw path, then the raw query string appended.
fn uri_builds(ag: &ApiGatewayV2httpRequest) -> bool {
    let host =
        ag.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).or(ag.request_context.domain_name.as_deref());
    let path = with_stage(ag.request_context.stage.as_deref(), ag.raw_path.as_deref().unwrap_or_default());
    let url = match host {
        None => url::Url::parse(&format!("http://localhost{path}")).map(|u| u.path().to_string()),
        Some(host) => {
            let scheme = ag.headers.get("x-forwarded-proto").and_then(|s| s.to_str().ok()).unwrap_or("https");
            url::Url::parse(&format!("{scheme}://{host}{path}")).map(|u| u.to_string())
        }
    };
    let Ok(mut uri) = url else { return false };
    if let Some(query) = ag.raw_query_string.as_deref().filter(|q| !q.is_empty()) {
        uri.push('?');
        uri.push_str(query);
    }
    http::Uri::try_from(uri).is_ok()
}

/// `lambda_http`'s `apigw_path_with_stage`.
fn with_stage(stage: Option<&str>, path: &str) -> String {
    match stage {
        _ if std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some() => path.into(),
        None | Some("$default") => path.into(),
        Some(stage) if path.starts_with(&format!("/{stage}/")) => path.into(),
        Some(stage) => format!("/{stage}{path}"),
    }
}

/// The `400 malformed_request` answer, as API Gateway's payload-2.0 response.
pub fn refusal(why: &str) -> Value {
    response(billing_http::problem::response(&Error::MalformedRequest(why.into())))
}

/// A response in API Gateway's payload-2.0 shape.
pub fn response(resp: HttpResponse) -> Value {
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(resp.status().as_u16());
    out.headers = resp.headers().clone();
    out.body = match resp.into_body() {
        lambda_http::Body::Text(t) => Some(Body::Text(t)),
        lambda_http::Body::Binary(b) => Some(Body::Binary(b)),
        _ => None,
    };
    serde_json::to_value(out).unwrap_or_else(|_| json!({"statusCode": 500}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(patch: impl FnOnce(&mut Value)) -> Value {
        let mut e = json!({
            "version": "2.0", "routeKey": "POST /v1/registrations", "rawPath": "/v1/registrations",
            "rawQueryString": "", "headers": {"host": "api.example.com", "content-type": "application/json"},
            "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
                "domainPrefix": "api", "http": {"method": "POST", "path": "/v1/registrations", "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1", "userAgent": "t"}, "requestId": "r", "routeKey": "POST /v1/registrations",
                "stage": "$default", "time": "03/Dec/2026:21:00:00 +0000", "timeEpoch": 0},
            "body": "{}", "isBase64Encoded": false
        });
        patch(&mut e);
        e
    }

    #[test]
    fn a_well_formed_event_is_read_and_converts() {
        let req: lambda_http::Request = read(event(|_| {})).expect("read").into();
        assert_eq!(req.uri().path(), "/v1/registrations");
    }

    #[test]
    fn an_event_lambda_http_would_fail_or_panic_on_is_refused() {
        let cases: Vec<(&str, Value)> = vec![
            ("control character in a header", event(|e| e["headers"]["idempotency-key"] = json!("a\u{1}b"))),
            ("NUL in a header", event(|e| e["headers"]["idempotency-key"] = json!("\u{0}"))),
            ("a host that is no URI host", event(|e| e["headers"]["host"] = json!("a b"))),
            ("a path read as a port", event(|e| e["rawPath"] = json!(":99999"))),
            ("a query string with a space", event(|e| e["rawQueryString"] = json!("a=b c"))),
            ("a body marked base64 that is not", event(|e| e["isBase64Encoded"] = json!(true))),
            ("no event at all", json!({})),
            ("a scheduled event", json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})),
        ];
        for (what, e) in cases {
            let refused = read(e.clone());
            assert!(refused.is_err(), "{what}: read");
            // Each of these, given to the library, fails or panics: the check is not stricter
            // than the conversion it guards.
            let converted = std::panic::catch_unwind(|| {
                serde_json::from_value::<LambdaRequest>(e).map(lambda_http::Request::from).is_ok()
            });
            assert!(!matches!(converted, Ok(true)), "{what}: lambda_http accepts it");
        }
    }

    #[test]
    fn a_refusal_is_problem_json_in_the_payload_2_0_shape() {
        let r = refusal("why");
        assert_eq!(r["statusCode"], 400);
        assert_eq!(r["headers"]["content-type"], "application/problem+json");
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["code"], "malformed_request");
        assert_eq!(body["detail"], "why");
    }
}
