//! Signing on with the organisation's identity rather than a loggvakt password. Every way
//! ends in an ordinary loggvakt session ([`super::login::start_session`]).
//!
//! - [`header`]: a trusted reverse proxy (a SAML/SITHS service provider) names the user in
//!   a header, believed only from the configured proxy addresses.

pub(super) mod header;
