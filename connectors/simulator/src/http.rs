//! What the three HTTP systems share: serving, the fault gate in front of every request, the
//! bearer check and the Swedish error bodies.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Shared;
use crate::faults::Verdict;
use crate::world::Kind;

#[derive(Clone)]
pub(crate) struct Sys {
    pub(crate) shared: Arc<Shared>,
    pub(crate) kind: Kind,
}

/// Serves `app` until the simulator stops.
pub(crate) fn serve(listener: TcpListener, app: Router, shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stop = shared.clone();
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.stopped().await })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "simulated HTTP service stopped with an error");
        }
    })
}

/// A router for `kind`: the fault gate in front of every request, then the bearer check in
/// front of every route.
pub(crate) fn router(shared: Arc<Shared>, kind: Kind, routes: Router<Sys>) -> Router<()> {
    let sys = Sys { shared, kind };
    routes
        .route_layer(middleware::from_fn_with_state(sys.clone(), bearer))
        .layer(middleware::from_fn_with_state(sys.clone(), gate))
        .with_state(sys)
}

async fn bearer(State(sys): State<Sys>, req: Request, next: Next) -> Response {
    match sys.check_bearer(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refused) => refused,
    }
}

/// Applies the system's current faults: count, then hang, rate-limit, delay or fail.
async fn gate(State(sys): State<Sys>, req: Request, next: Next) -> Response {
    let shared = &sys.shared;
    shared.count(sys.kind, |s| s.requests += 1);
    let (latency, verdict) = shared.faults(sys.kind).decide();
    match verdict {
        Verdict::Hang => {
            shared.count(sys.kind, |s| s.hung += 1);
            tracing::debug!(system = sys.kind.name(), "hanging a request");
            shared.stopped().await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Verdict::RateLimited { retry_after_secs } => {
            shared.count(sys.kind, |s| s.rate_limited += 1);
            let mut r = fel(
                StatusCode::TOO_MANY_REQUESTS,
                "För många anrop, försök igen senare",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            r
        }
        Verdict::Fail(status) => {
            shared.pause(latency).await;
            shared.count(sys.kind, |s| s.errors_injected += 1);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            // Failures come from the proxy in front, as HTML: a client must not assume JSON.
            let page = format!(
                "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
            );
            (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                page,
            )
                .into_response()
        }
        Verdict::Proceed => {
            shared.pause(latency).await;
            next.run(req).await
        }
    }
}

/// `{"fel": "…"}` with `status`.
pub(crate) fn fel(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "fel": message }))).into_response()
}

/// `422 {"fel": "…", "falt": "…"}`: a form field is invalid.
pub(crate) fn fel_falt(message: &str, falt: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({ "fel": message, "falt": falt })),
    )
        .into_response()
}

impl Sys {
    /// Counts a refusal and hands the response through.
    pub(crate) fn refuse(&self, r: Response) -> Response {
        self.shared.count(self.kind, |s| s.rejected += 1);
        r
    }

    /// `401` unless the request carries `Authorization: Bearer {token}` with the system's
    /// token; a system without one (Treserva's portal, an empty setting) requires nothing.
    fn check_bearer(&self, headers: &HeaderMap) -> Result<(), Response> {
        let token = match self.kind {
            Kind::Sesam2 => self.shared.sesam2_token.as_str(),
            Kind::Lifecare => self.shared.lifecare_token.as_str(),
            Kind::Cosmic | Kind::Treserva => "",
        };
        if token.is_empty() {
            return Ok(());
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        if given == Some(token) {
            Ok(())
        } else {
            let mut r = fel(StatusCode::UNAUTHORIZED, "Ogiltig eller saknad token");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Err(self.refuse(r))
        }
    }
}
