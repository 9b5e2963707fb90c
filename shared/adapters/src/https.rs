//! A small HTTPS client for the marketplaces that are not AWS services (Alibaba Cloud,
//! Huawei Cloud KooGallery), on the HTTP/TLS stack the AWS SDK already links (hyper 1, rustls
//! with aws-lc-rs), so a function carries one.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

type Inner = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Built on the first call: reading and parsing the CA bundle costs milliseconds every cold
/// start, and most functions never call a marketplace.
#[derive(Clone, Default)]
pub struct Https {
    client: Arc<OnceLock<Inner>>,
    /// The marketplace and operation its calls are counted under (`MarketplaceCalls`).
    call: (&'static str, &'static str),
}

/// An answer: status and body.
pub type Answer = (u16, String);

impl Https {
    pub fn new() -> Self {
        Self::default()
    }

    /// The same client (one CA bundle parsed, one pool), its calls counted as `operation` of
    /// `marketplace`.
    pub fn for_call(&self, marketplace: &'static str, operation: &'static str) -> Self {
        Self { client: self.client.clone(), call: (marketplace, operation) }
    }

    fn client(&self) -> &Inner {
        self.client.get_or_init(Self::build)
    }

    fn build() -> Inner {
        // The provider is named: a process may link more than one (tests do).
        let provider = || std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match builder.with_provider_and_native_roots(provider()) {
            Ok(b) => b,
            Err(e) => {
                // No readable CA bundle: HTTPS calls fail (and are retried later); http:// works.
                tracing::error!(error = %e, "no CA certificates: HTTPS calls to marketplaces will fail");
                let config =
                    rustls::ClientConfig::builder_with_provider(rustls::crypto::aws_lc_rs::default_provider().into())
                        .with_safe_default_protocol_versions()
                        .map(|c| c.with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth());
                match config {
                    Ok(c) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(c),
                    Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                        rustls::ClientConfig::builder()
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth(),
                    ),
                }
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector)
    }

    /// POSTs `body`; a transport fault or a timeout is `Err` (the caller retries later).
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: String,
        timeout: Duration,
    ) -> Result<Answer, String> {
        self.call("POST", url, headers, body, timeout).await
    }

    /// GETs `url`, as [`Https::post`].
    pub async fn get(&self, url: &str, headers: &[(&str, String)], timeout: Duration) -> Result<Answer, String> {
        self.call("GET", url, headers, String::new(), timeout).await
    }

    async fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: String,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let mut req = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let call = async {
            let resp = self.client().request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(timeout, call).await.map_err(|_| "timed out".to_string())?;
        let answered = matches!(answer, Ok((status, _)) if status < 500 && status != 429);
        billing_domain::telemetry::marketplace_call(self.call.0, self.call.1, started.elapsed(), answered);
        answer
    }
}
