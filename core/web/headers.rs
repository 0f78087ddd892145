//! Headers on every response of the pages and the API, and JSON for the API's framework
//! errors.
//!
//! Pages carry patient data, so no cache (browser or proxy) may keep them; they are never
//! framed (clickjacking of the outcome form); they load nothing from elsewhere and run no
//! script at all. The templates use inline `<style>` blocks and `style` attributes (no
//! scripts), so styles may be inline and nothing else is allowed.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;

/// Nothing from elsewhere, no scripts, styles inline only, forms only to ourselves, never in
/// a frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A year; without `includeSubDomains`, which is the organisation's decision, not ours.
const HSTS: &str = "max-age=31536000";

/// The most of a framework error's text that is wrapped into JSON.
const ERROR_TEXT_LIMIT: usize = 16 * 1024;

pub async fn apply(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    let mut res = next.run(req).await;
    if api {
        res = json_error(res).await;
    }
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if state.secure_cookies {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    res
}

/// An API error answered by axum itself (a path or query that does not parse, a JSON body
/// that does not fit, an unknown route or method) comes as plain text; API clients get the
/// same `{"error": …}` as from our own errors, with the status kept.
async fn json_error(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, ERROR_TEXT_LIMIT).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut json = (status, axum::Json(json!({"error": message}))).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().append(name.clone(), value.clone());
        }
    }
    json
}
