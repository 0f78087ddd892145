//! Logging in and out. The login form is protected against CSRF by a double-submit token
//! (a cookie and a hidden field that must match), since there is no session yet.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::TimeDelta;
use serde::Deserialize;
use serde_json::json;

use super::session::{SESSION_COOKIE, Session, cookie};
use super::{Shared, WebError};
use crate::auth::{
    is_signed, random_token, same_secret, signed_token, token_hash, verify_password,
};
use crate::blocking;
use crate::store::users::Throttle;

const LOGIN_COOKIE: &str = "lv_login";
/// A session lasts a working day.
const SESSION_HOURS: i64 = 10;

fn set_cookie(state: &Shared, name: &str, value: &str, max_age: i64) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

pub async fn form(State(state): State<Shared>) -> Response {
    login_page(&state, None)
}

fn login_page(state: &Shared, error: Option<&str>) -> Response {
    let token = signed_token(&state.login_secret);
    let mut page = state.page(
        None,
        "Logga in",
        "login",
        json!({
            "login_token": token,
            "error": error,
            "local_passwords": state.org.auth.local_passwords,
            "header_login": state.org.auth.header.is_some(),
            "oidc_login": state.org.auth.oidc.is_some(),
        }),
    );
    if let Ok(v) = set_cookie(state, LOGIN_COOKIE, &token, 3600).parse() {
        page.headers_mut().append(header::SET_COOKIE, v);
    }
    page
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    login_token: String,
}

/// Ten failed logins within 15 minutes lock an account for 15 minutes; fifty lock the
/// address they came from (a guesser spread over many accounts). Held in the database, so
/// every instance sharing it enforces the same count.
const ACCOUNT_THROTTLE: Throttle = Throttle {
    limit: 10,
    window: TimeDelta::minutes(15),
    lock: TimeDelta::minutes(15),
};
const ADDRESS_THROTTLE: Throttle = Throttle {
    limit: 50,
    window: TimeDelta::minutes(15),
    lock: TimeDelta::minutes(15),
};

pub async fn submit(
    State(state): State<Shared>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    // `[auth] local_passwords = false`: only the organisation's sign-on logs in.
    if !state.org.auth.local_passwords {
        return Err(WebError::Forbidden);
    }
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    // The cookie and the field must match (double submit), and the token must be ours: a
    // cookie planted by a neighbouring site with a matching field is not enough.
    if expected.is_empty()
        || !same_secret(&expected, &f.login_token)
        || !is_signed(&state.login_secret, &f.login_token)
    {
        return Err(WebError::Csrf);
    }
    let username = f.username.trim().to_lowercase();
    let address = peer.map(|Extension(ConnectInfo(a))| a.ip().to_string());
    let mut keys = vec![(format!("user:{username}"), ACCOUNT_THROTTLE)];
    if let Some(a) = &address {
        keys.push((format!("addr:{a}"), ADDRESS_THROTTLE));
    }
    let now = state.clock.now();
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    // A locked account or address is refused before its password is even checked: no
    // guessing goes on, and no argon2 work is spent on it.
    if let Some(until) = state.store.login_locked_until(&names, now).await? {
        let retry_after = (until - now).num_seconds().max(1) as u64;
        return Err(WebError::TooManyAttempts { retry_after });
    }
    let found = state.store.user_by_name(f.username.trim()).await?;
    // Verify against a hash even for an unknown user, so timing does not tell who exists.
    // argon2 takes tens of milliseconds of CPU: off the request workers.
    let (password, hash, enabled) = match &found {
        Some((user, hash)) => (f.password.clone(), hash.clone(), !user.disabled),
        None => (f.password.clone(), DUMMY_HASH.to_owned(), false),
    };
    let ok = blocking::run(move || verify_password(&password, &hash)).await && enabled;
    let Some((user, _)) = found.filter(|_| ok) else {
        tracing::info!("failed login");
        let details = json!({"username": username, "address": address});
        state
            .store
            .record_login_failure(&keys, now, details)
            .await?;
        return Ok(login_page(&state, Some("Fel användarnamn eller lösenord.")));
    };
    state.store.clear_login_failures(&names[0]).await?;
    tracing::info!(user = user.id, "login");
    start_session(&state, user.id).await
}

/// A new loggvakt session for `user_id`: its cookie set, the login form's cleared, and a
/// redirect to the user's start page. Every way of logging in ends here.
pub(super) async fn start_session(state: &Shared, user_id: i64) -> Result<Response, WebError> {
    let now = state.clock.now();
    let token = random_token();
    state
        .store
        .insert_session(
            &token_hash(&token),
            user_id,
            &random_token(),
            now,
            now + TimeDelta::hours(SESSION_HOURS),
        )
        .await?;
    let mut response = Redirect::to("/").into_response();
    for c in [
        set_cookie(state, SESSION_COOKIE, &token, SESSION_HOURS * 3600),
        set_cookie(state, LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(v) = c.parse() {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(
    State(state): State<Shared>,
    session: Session,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&f.csrf)?;
    state.store.delete_session(&session.token_hash).await?;
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = set_cookie(&state, SESSION_COOKIE, "", 0).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// An argon2id hash of a random password, for the unknown-user branch of the login.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0Ur8d3RA5d6xDiYIH4dXfBfU3Ko4Z6hBfBVn8vNNI0A";
