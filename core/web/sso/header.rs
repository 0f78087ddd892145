//! `[auth.header]`: `GET /login/sso` logs in the user a trusted reverse proxy names in its
//! header. The header is believed only when the TCP peer is one of `trusted_proxies`; from
//! anywhere else it is ignored, and the attempt logged at warn without the header's value.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::super::login::start_session;
use super::super::{Shared, WebError};
use crate::model::org::HeaderAuth;

/// The longest username a header may carry.
const MAX_USERNAME: usize = 200;

/// The username the proxy set, when the peer is trusted; `None` otherwise.
pub(in crate::web) fn trusted_user(
    config: &HeaderAuth,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<String> {
    let value = headers.get(config.user_header.as_str())?;
    let trusted = peer.is_some_and(|p| config.trusted_proxies.iter().any(|n| n.contains(p.ip())));
    if !trusted {
        // Never the value: it may be a personnummer (SITHS serial numbers often are).
        tracing::warn!(
            peer = ?peer.map(|p| p.ip()),
            header = config.user_header.as_str(),
            "sign-on header from an untrusted address ignored"
        );
        return None;
    }
    let name = value.to_str().ok()?.trim();
    (!name.is_empty() && name.len() <= MAX_USERNAME).then(|| name.to_lowercase())
}

pub async fn login(
    State(state): State<Shared>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Response, WebError> {
    let Some(config) = &state.org.auth.header else {
        return Err(WebError::NotFound);
    };
    let peer = peer.map(|Extension(ConnectInfo(a))| a);
    let username = trusted_user(config, &headers, peer).ok_or(WebError::Unauthorized)?;
    let user = match state.store.user_by_name(&username).await? {
        Some((user, _)) if !user.disabled => user,
        _ => {
            tracing::info!("sign-on by header for an unknown or disabled user");
            return Err(WebError::Forbidden);
        }
    };
    let now = state.clock.now();
    state
        .store
        .begin_write(now, &format!("user:{}", user.id))
        .await?
        .commit_audited(
            "user.sso_login",
            &format!("user:{}", user.id),
            json!({"username": user.username, "via": "header"}),
        )
        .await?;
    tracing::info!(user = user.id, "login by trusted header");
    start_session(&state, user.id).await
}
