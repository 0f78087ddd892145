//! `[auth.oidc]`: OpenID Connect sign-on, the authorization code flow with PKCE (S256), a
//! nonce and a state. `GET /login/oidc` sends the browser to the provider; the provider sends
//! it back to `GET /login/oidc/callback`, where the code is exchanged and the ID token checked
//! (signature by the provider's published keys, issuer, audience, expiry by loggvakt's clock,
//! nonce) before the shared [`sign_on`](super::sign_on::sign_on).
//!
//! What a sign-on under way needs (nonce, PKCE verifier) is in the database under the
//! state's hash, so any instance can finish it; the callback deletes it, so a state works
//! once, and it expires after [`LOGIN_TTL`]. A cookie ties it to the browser that started it.

use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::TimeDelta;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse,
    TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::super::session::cookie;
use super::super::{Shared, WebError};
use super::http::HttpClient;
use super::sign_on::{refused, sign_on};
use crate::auth::{random_token, same_secret, token_hash};
use crate::model::sso::OidcAuth;
use crate::store::sso::{PendingOidcLogin, SsoIdentity};

/// How long a sign-on may take between leaving for the provider and coming back.
const LOGIN_TTL: TimeDelta = TimeDelta::minutes(10);
/// How long the provider's discovery document and keys are used before they are fetched
/// again (sooner after a refused ID token: its key may be newer than ours).
const METADATA_TTL: Duration = Duration::from_secs(10 * 60);
/// Ties a sign-on to the browser that started it (SameSite=Lax: it must come along on the
/// provider's cross-site redirect back).
const BROWSER_COOKIE: &str = "lv_oidc";
const CALLBACK: &str = "/login/oidc/callback";
/// The longest code, state, username, and number of groups taken from the provider.
const MAX_PARAM: usize = 4096;
const MAX_USERNAME: usize = 200;
const MAX_GROUPS: usize = 1000;

const UNAVAILABLE: &str =
    "Organisationens inloggningstjänst svarar inte just nu. Försök igen om en stund.";
const NOT_ACCEPTED: &str = "Inloggningen kunde inte godkännas. Börja om från inloggningssidan.";
const STALE: &str = "Inloggningen har gått ut eller redan använts. Börja om från inloggningssidan.";

/// Every claim of the ID token beyond the standard ones, so that the configured username
/// and groups claims can be read whatever they are called.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type IdTokenFields = openidconnect::IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

type OidcClient = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<IdTokenFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider's metadata, cached per process, and the client that fetches it.
pub(in crate::web) struct OidcState {
    http: HttpClient,
    metadata: tokio::sync::Mutex<Option<(Instant, String, CoreProviderMetadata)>>,
}

impl Default for OidcState {
    fn default() -> Self {
        Self {
            http: HttpClient::new(),
            metadata: tokio::sync::Mutex::new(None),
        }
    }
}

impl OidcState {
    /// The provider's discovery document and keys, fetched when missing or old.
    async fn metadata(&self, issuer: &str) -> Result<CoreProviderMetadata, String> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, i, m)) = cached.as_ref()
            && i == issuer
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let url = IssuerUrl::new(issuer.to_owned()).map_err(|e| format!("issuer: {e}"))?;
        let metadata = CoreProviderMetadata::discover_async(url, &self.http)
            .await
            .map_err(|e| format!("discovery: {}", error_chain(&e)))?;
        *cached = Some((Instant::now(), issuer.to_owned(), metadata.clone()));
        Ok(metadata)
    }

    /// Drops the cached metadata, so that the next sign-on fetches it again.
    async fn forget(&self) {
        *self.metadata.lock().await = None;
    }

    async fn client(&self, config: &OidcAuth, redirect: &str) -> Result<OidcClient, String> {
        let metadata = self.metadata(&config.issuer).await?;
        let redirect =
            RedirectUrl::new(redirect.to_owned()).map_err(|e| format!("redirect URL: {e}"))?;
        Ok(OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.clone()),
            Some(ClientSecret::new(config.client_secret.expose().to_owned())),
        )
        .set_redirect_uri(redirect))
    }
}

/// An error and its sources on one line (openidconnect's errors keep the cause in `source`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Where the provider sends the browser back: `redirect_url` when configured; else the
/// `[notify] base_url`'s callback, except for a request to a loopback address (a trial on
/// this machine), which gets its own address back.
fn redirect_url(config: &OidcAuth, base_url: &str, headers: &HeaderMap) -> String {
    if let Some(r) = &config.redirect_url {
        return r.clone();
    }
    let base = base_url.trim_end_matches('/');
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match host {
        Some(h) if is_loopback(h) && !base.ends_with(&format!("//{h}")) => {
            format!("http://{h}{CALLBACK}")
        }
        _ => format!("{base}{CALLBACK}"),
    }
}

fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host,
    };
    matches!(name, "localhost" | "[::1]") || name.starts_with("127.")
}

fn browser_cookie(state: &Shared, value: &str, max_age: i64) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    format!(
        "{BROWSER_COOKIE}={value}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

/// The provider's client for this request's callback address, or the page saying the
/// provider cannot be reached.
async fn provider_client(
    state: &Shared,
    config: &OidcAuth,
    headers: &HeaderMap,
) -> Result<OidcClient, Response> {
    let redirect = redirect_url(config, &state.org.notify.base_url, headers);
    state.oidc.client(config, &redirect).await.map_err(|e| {
        tracing::warn!("OpenID provider unavailable: {e}");
        refused(state, StatusCode::BAD_GATEWAY, UNAVAILABLE)
    })
}

/// `GET /login/oidc`: off to the provider, with a fresh state, nonce and PKCE challenge.
pub async fn start(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, WebError> {
    let Some(config) = &state.org.auth.oidc else {
        return Err(WebError::NotFound);
    };
    let client = match provider_client(&state, config, &headers).await {
        Ok(c) => c,
        Err(page) => return Ok(page),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &config.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.url();
    let browser = random_token();
    let now = state.clock.now();
    state
        .store
        .begin_oidc_login(
            &PendingOidcLogin {
                state_hash: token_hash(csrf.secret()),
                browser_hash: token_hash(&browser),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                expires_at: now + LOGIN_TTL,
            },
            now,
        )
        .await?;
    let mut response = Redirect::to(url.as_str()).into_response();
    if let Ok(v) = browser_cookie(&state, &browser, LOGIN_TTL.num_seconds()).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /login/oidc/callback`: the provider's answer.
pub async fn callback(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, WebError> {
    let Some(config) = &state.org.auth.oidc else {
        return Err(WebError::NotFound);
    };
    if let Some(error) = &q.error {
        // The error code is from a short list (access_denied, login_required…); anything
        // else is not logged as given.
        let code =
            if error.len() <= 40 && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                error.as_str()
            } else {
                "(unreadable)"
            };
        tracing::info!(error = code, "OpenID provider answered with an error");
        return Ok(refused(&state, StatusCode::FORBIDDEN, NOT_ACCEPTED));
    }
    let (Some(code), Some(st)) = (&q.code, &q.state) else {
        return Err(WebError::BadRequest(NOT_ACCEPTED.into()));
    };
    if code.len() > MAX_PARAM || st.len() > MAX_PARAM {
        return Err(WebError::BadRequest(NOT_ACCEPTED.into()));
    }
    let now = state.clock.now();
    // Taken first: whatever happens next, this state is spent.
    let Some(pending) = state.store.take_oidc_login(&token_hash(st), now).await? else {
        tracing::info!("OpenID callback with an unknown, used or expired state refused");
        return Ok(refused(&state, StatusCode::FORBIDDEN, STALE));
    };
    let browser = cookie(&headers, BROWSER_COOKIE).unwrap_or_default();
    if browser.is_empty() || !same_secret(&token_hash(&browser), &pending.browser_hash) {
        tracing::info!("OpenID callback from another browser than the one that started it");
        return Ok(refused(&state, StatusCode::FORBIDDEN, STALE));
    }
    let client = match provider_client(&state, config, &headers).await {
        Ok(c) => c,
        Err(page) => return Ok(page),
    };
    let who = match verified_identity(&state, config, &client, code, pending).await {
        Ok(who) => who,
        Err(reason) => {
            tracing::warn!("OpenID sign-on refused: {reason}");
            // Perhaps signed with a key the provider rotated in since: the next sign-on
            // fetches the metadata and keys again.
            state.oidc.forget().await;
            return Ok(refused(&state, StatusCode::FORBIDDEN, NOT_ACCEPTED));
        }
    };
    let (identity, groups) = who;
    let mut response = sign_on(&state, identity, Some(&groups), "oidc").await?;
    if response.status().is_redirection() {
        response = same_site_hop(response);
    }
    if let Ok(v) = browser_cookie(&state, "", 0).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// The code exchanged and the ID token checked; the user it names and their groups. The
/// error is an English reason for the log, without the token or the user's name.
async fn verified_identity(
    state: &Shared,
    config: &OidcAuth,
    client: &OidcClient,
    code: &str,
    pending: PendingOidcLogin,
) -> Result<(SsoIdentity, Vec<String>), String> {
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| format!("no token endpoint: {e}"))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
        .request_async(&state.oidc.http)
        .await
        .map_err(|e| format!("code exchange: {}", error_chain(&e)))?;
    let id_token = token
        .id_token()
        .ok_or("the token response has no ID token")?;
    let clock = state.clock;
    let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
    let claims = id_token
        .claims(&verifier, &Nonce::new(pending.nonce))
        .map_err(|e| format!("ID token: {}", error_chain(&e)))?;
    let other = &claims.additional_claims().claims;
    let username = match config.username_claim.as_str() {
        "preferred_username" => claims.preferred_username().map(|u| u.to_string()),
        "email" => claims.email().map(|e| e.to_string()),
        "sub" => Some(claims.subject().to_string()),
        name => other.get(name).and_then(|v| v.as_str()).map(str::to_owned),
    }
    .map(|u| u.trim().to_lowercase())
    .filter(|u| !u.is_empty() && u.len() <= MAX_USERNAME)
    .ok_or_else(|| format!("the ID token has no usable {} claim", config.username_claim))?;
    let groups = match other.get(&config.groups_claim) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .take(MAX_GROUPS)
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let name = claims
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.to_string())
        .unwrap_or_else(|| username.clone());
    let email = claims.email().map(|e| e.to_string()).unwrap_or_default();
    Ok((
        SsoIdentity {
            username,
            name,
            email,
        },
        groups,
    ))
}

/// The session's redirect as a page that moves on by itself. The session cookie is
/// SameSite=Strict, and a redirect chain that a provider on another site started counts as
/// cross-site, so the first page would arrive without it; a hop from our own page does not.
fn same_site_hop(redirect: Response) -> Response {
    let target = redirect
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .filter(|l| l.starts_with('/'))
        .unwrap_or("/")
        .to_owned();
    let target = super::super::html_escape(&target);
    let mut page = Html(format!(
        "<!doctype html><html lang=\"sv\"><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={target}\"><title>Inloggad</title>\
         <body><p><a id=\"continue\" href=\"{target}\">Fortsätt till loggvakt</a></p></body></html>"
    ))
    .into_response();
    for c in redirect.headers().get_all(header::SET_COOKIE) {
        page.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sso::Secret;

    fn config(redirect_url: Option<&str>) -> OidcAuth {
        OidcAuth {
            issuer: "https://idp.example.se".into(),
            client_id: "loggvakt".into(),
            client_secret: Secret::new("s".into()),
            scopes: vec![],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            redirect_url: redirect_url.map(str::to_owned),
        }
    }

    fn host(h: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, h.parse().unwrap());
        m
    }

    #[test]
    fn the_callback_is_configured_else_the_base_url_else_a_loopback_request_s_own() {
        let base = "https://loggvakt.example.se/";
        let at = |c: &OidcAuth, h: &str| redirect_url(c, base, &host(h));
        assert_eq!(
            at(
                &config(Some("https://lv.example.se/login/oidc/callback")),
                "x"
            ),
            "https://lv.example.se/login/oidc/callback"
        );
        let c = config(None);
        assert_eq!(
            at(&c, "loggvakt.example.se"),
            "https://loggvakt.example.se/login/oidc/callback"
        );
        assert_eq!(
            at(&c, "evil.example.com"),
            "https://loggvakt.example.se/login/oidc/callback",
            "a foreign Host changes nothing"
        );
        assert_eq!(
            at(&c, "127.0.0.1:8480"),
            "http://127.0.0.1:8480/login/oidc/callback"
        );
        assert_eq!(at(&c, "localhost"), "http://localhost/login/oidc/callback");
    }
}
