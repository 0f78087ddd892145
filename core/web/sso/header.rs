//! `[auth.header]`: `GET /login/sso` logs in the user a trusted reverse proxy names in its
//! header. The header is believed only when the TCP peer is one of `trusted_proxies`; from
//! anywhere else it is ignored, and the attempt logged at warn without the header's value.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::super::{Shared, WebError};
use super::sign_on::sign_on;
use crate::model::org::HeaderAuth;
use crate::store::sso::SsoIdentity;

/// The longest username a header may carry.
const MAX_USERNAME: usize = 200;
/// The most groups read from the groups header.
const MAX_GROUPS: usize = 1000;

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

/// The groups the proxy names in `groups_header` (comma or semicolon separated), when that
/// header is configured and present.
fn groups(config: &HeaderAuth, headers: &HeaderMap) -> Option<Vec<String>> {
    let value = headers
        .get(config.groups_header.as_deref()?)?
        .to_str()
        .ok()?;
    Some(
        value
            .split([',', ';'])
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .take(MAX_GROUPS)
            .map(str::to_owned)
            .collect(),
    )
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
    let who = SsoIdentity {
        name: username.clone(),
        email: String::new(),
        username,
    };
    let groups = groups(config, &headers);
    sign_on(&state, who, groups.as_deref(), "header").await
}
