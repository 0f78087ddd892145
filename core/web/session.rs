//! The logged-in user of a request, from the session cookie, and the checks that go with it.

use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::{ApiError, Shared, WebError};
use crate::auth::{same_secret, token_hash};
use crate::model::user::{Role, User};

pub const SESSION_COOKIE: &str = "lv_session";

/// A request's user. Pages that need one redirect to the login page without it.
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub token_hash: String,
    /// The API token the request came with, instead of a login.
    pub api_token: Option<i64>,
    /// The path asked for, so that the menu marks the page the user is on.
    pub path: String,
}

impl Session {
    /// Who acts, for the audit trail: the user, and the token when a service used one.
    pub fn actor(&self) -> String {
        match self.api_token {
            Some(id) => format!("api:{}:token-{id}", self.user.username),
            None => format!("web:{}", self.user.username),
        }
    }

    /// Refuses the request unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), WebError> {
        if roles.contains(&self.user.role) {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    }

    /// Forms carry the session's CSRF token; a cross-site form cannot know it.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if same_secret(token, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }
}

/// The cookie `name`, when the request carries exactly one value for it. Two different
/// values (a cookie planted for a parent domain or another path beside ours) make it
/// ambiguous, and an ambiguous session or login cookie is no cookie at all.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v);
    let first = values.next()?;
    values.all(|v| v == first).then(|| first.to_owned())
}

pub(super) async fn load(headers: &HeaderMap, state: &Shared) -> Result<Session, WebError> {
    let token = cookie(headers, SESSION_COOKIE).ok_or(WebError::Unauthorized)?;
    let hash = token_hash(&token);
    let (user, csrf) = state
        .store
        .session(&hash, state.clock.now(), state.session_idle)
        .await?
        .ok_or(WebError::Unauthorized)?;
    Ok(Session {
        user,
        csrf,
        token_hash: hash,
        api_token: None,
        path: String::new(),
    })
}

impl FromRequestParts<Shared> for Session {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let mut session = load(&parts.headers, state).await?;
        session.path = parts.uri.path().to_owned();
        Ok(session)
    }
}

/// A form posted by a logged-in user: its CSRF token (the field `csrf`) checked, the rest
/// of its fields as `T`, so that a page's form and the API's JSON body share one type.
pub struct SessionForm<T>(pub Session, pub T);

#[derive(serde::Deserialize)]
struct WithCsrf<T> {
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

impl<T: serde::de::DeserializeOwned + Send> axum::extract::FromRequest<Shared> for SessionForm<T> {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &Shared,
    ) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let request = axum::extract::Request::from_parts(parts, body);
        let axum::Form(form) = axum::Form::<WithCsrf<T>>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        session
            .check_csrf(&form.csrf)
            .map_err(IntoResponse::into_response)?;
        Ok(Self(session, form.fields))
    }
}

/// The same for the API: 401 as JSON rather than a redirect, and every state-changing call
/// must carry the CSRF token in `X-CSRF-Token`. A service account may instead send its API
/// token (`Authorization: Bearer lv_…`, `token create`): it acts with its user's role and
/// units, and needs no CSRF token, since a browser never sends it on its own.
pub struct ApiSession(pub Session);

/// The prefix of every API token, so that a leaked one is recognisable in a scan.
pub const API_TOKEN_PREFIX: &str = "lv_";

impl FromRequestParts<Shared> for ApiSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        if let Some(bearer) = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            let bearer = bearer.trim();
            if !bearer.starts_with(API_TOKEN_PREFIX) || bearer.len() > 200 {
                return Err(WebError::Unauthorized.into());
            }
            let (user, id) = state
                .store
                .api_token_user(&token_hash(bearer), state.clock.now())
                .await?
                .ok_or(WebError::Unauthorized)?;
            return Ok(Self(Session {
                user,
                csrf: String::new(),
                token_hash: String::new(),
                api_token: Some(id),
                path: parts.uri.path().to_owned(),
            }));
        }
        let session = load(&parts.headers, state).await?;
        if parts.method != axum::http::Method::GET && parts.method != axum::http::Method::HEAD {
            let token = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            session.check_csrf(token)?;
        }
        Ok(Self(session))
    }
}

/// `/`: each role's start page.
pub async fn home(State(state): State<Shared>, headers: HeaderMap) -> Response {
    match load(&headers, &state).await {
        Err(_) => Redirect::to("/login").into_response(),
        Ok(s) => Redirect::to(match s.user.role {
            Role::Admin | Role::Reviewer => "/granskningar",
            Role::Executive => "/rapport",
            Role::Auditor => "/revision",
        })
        .into_response(),
    }
}
