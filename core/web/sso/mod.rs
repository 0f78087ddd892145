//! Signing on with the organisation's identity rather than a loggvakt password. Every way
//! ends in [`sign_on::sign_on`]: groups mapped to a role and units by `[[auth.map]]`, the user
//! provisioned or updated, and an ordinary loggvakt session ([`super::login::start_session`]).
//!
//! - [`header`]: a trusted reverse proxy (a SAML/SITHS service provider) names the user in
//!   a header, believed only from the configured proxy addresses.
//! - [`oidc`]: an OpenID Connect provider, authorization code flow with PKCE.

pub(super) mod header;
mod http;
pub(super) mod oidc;
mod sign_on;
