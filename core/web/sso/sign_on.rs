//! The end every sign-on method shares: the user's groups give a role and units by
//! `[[auth.map]]`, the user is provisioned or brought up to date, the sign-on audited, and an
//! ordinary loggvakt session started.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::login::start_session;
use super::super::{Shared, WebError};
use crate::model::sso::grant_for;
use crate::store::sso::{SsoIdentity, SsoOutcome};

/// Shown when the user's groups give no role in loggvakt.
pub(super) const NO_ROLE: &str = "Ditt konto hos organisationen ger ingen behörighet i loggvakt. \
     Kontakta den som administrerar loggvakt om du behöver tillgång.";

/// A sign-on refused with a page that says why, in the common layout.
pub(super) fn refused(state: &Shared, status: StatusCode, message: &str) -> Response {
    let mut page = state.page(
        None,
        "Inloggningen nekades",
        "message",
        json!({"message": message, "back": "/login"}),
    );
    *page.status_mut() = status;
    page
}

/// Signs `who` on. `groups`: what the identity provider said they are a member of, or
/// `None` when it said nothing (a proxy without a groups header): then only a user who
/// already exists gets in, as before groups were read.
pub(super) async fn sign_on(
    state: &Shared,
    who: SsoIdentity,
    groups: Option<&[String]>,
    via: &str,
) -> Result<Response, WebError> {
    let grant = match groups {
        Some(groups) if !state.org.auth.map.is_empty() => {
            match grant_for(&state.org.auth.map, groups) {
                Some(g) => Some(g),
                None => {
                    // Neither the username nor the groups: they may name a person.
                    tracing::info!(via, "sign-on refused: no [[auth.map]] rule matches");
                    return Ok(refused(state, StatusCode::FORBIDDEN, NO_ROLE));
                }
            }
        }
        _ => None,
    };
    let now = state.clock.now();
    match state
        .store
        .sso_sign_on(&who, grant.as_ref(), via, now)
        .await?
    {
        SsoOutcome::SignedOn(user) => {
            tracing::info!(user = user.id, via, "login by sign-on");
            start_session(state, user.id).await
        }
        SsoOutcome::Unknown | SsoOutcome::Disabled => {
            tracing::info!(via, "sign-on for an unknown or disabled user");
            Ok(WebError::Forbidden.into_response())
        }
    }
}
