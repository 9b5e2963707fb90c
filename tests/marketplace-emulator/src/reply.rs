//! An answer as a marketplace writes it: status, content type, extra headers, body. The rules
//! return these as plain values so the unit tests read them without a server.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: StatusCode, body: &Value) -> Self {
        Self { status, content_type: "application/json", headers: vec![], body: body.to_string() }
    }

    /// The body as JSON (`Null` when it is not JSON), for tests and for the XML-free paths.
    #[cfg(test)]
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = (self.status, [("content-type", self.content_type)], self.body).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = value.parse() {
                r.headers_mut().insert(name, v);
            }
        }
        r
    }
}

/// A fresh request id, as every marketplace answers one.
pub fn request_id() -> String {
    ulid::Ulid::new().to_string()
}
