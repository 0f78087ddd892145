//! The HTTP client `openidconnect` talks to the identity provider through: our reqwest (one
//! major version in the build), with timeouts, no redirects followed, and a bounded body, so
//! a slow or hostile provider cannot hold a request worker or fill memory.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The largest answer read from the provider: discovery documents and key sets are a few KB,
/// token responses smaller still.
const MAX_BODY: usize = 256 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("HTTP request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("cannot build the answer: {0}")]
    Response(#[from] openidconnect::http::Error),
}

#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    /// Trusts the OS store and the extra CAs of `--extra-ca`: an organisation's identity
    /// provider often has a certificate from its own CA.
    pub fn new() -> Self {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(TIMEOUT)
        };
        let with_extra = loggvakt_connector::tls::extra_roots().map(|pem| {
            reqwest::Certificate::from_pem_bundle(pem)
                .and_then(|certs| builder().tls_certs_merge(certs).build())
        });
        let inner = match with_extra {
            Some(Ok(client)) => client,
            Some(Err(e)) => {
                tracing::error!(error = %e, "the extra CA bundle cannot be used for the identity provider");
                builder()
                    .build()
                    .expect("a client with rustls and no custom roots builds")
            }
            None => builder()
                .build()
                .expect("a client with rustls and no custom roots builds"),
        };
        Self { inner }
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let mut response = self
            .inner
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(HttpError::TooLarge);
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let mut out = openidconnect::http::Response::builder()
            .status(status)
            .body(body)?;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// One request's answer, as openidconnect awaits it.
type Answer<'c> = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

impl<'c> AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = Answer<'c>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
