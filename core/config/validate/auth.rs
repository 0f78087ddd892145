//! `[auth]`: whether local passwords work, and `[auth.header]`, the trusted-header sign-on
//! (a SAML/SITHS service provider in front names the user in a header).

use super::Problems;
use crate::config::ConfigError;
use crate::config::collect::Located;
use crate::config::raw::RawAuth;
use crate::model::org::{AuthSettings, HeaderAuth, Network};

pub(super) fn validate(a: &Located<RawAuth>, errors: &mut Vec<ConfigError>) -> AuthSettings {
    let mut p = Problems::of(errors, a.file.as_path(), a.line, "[auth]");
    let mut s = AuthSettings::default();
    if let Some(local) = a.raw.local_passwords {
        s.local_passwords = local;
    }
    if let Some(h) = &a.raw.header {
        let user_header = h.user_header.trim().to_ascii_lowercase();
        if !valid_header_name(&user_header) {
            p.fail(
                "header.user_header",
                format!("'{user_header}' is not a header name"),
            );
        }
        let groups_header = h
            .groups_header
            .as_ref()
            .map(|g| g.trim().to_ascii_lowercase());
        if let Some(g) = &groups_header
            && !valid_header_name(g)
        {
            p.fail(
                "header.groups_header",
                format!("'{g}' is not a header name"),
            );
        }
        let mut trusted_proxies = Vec::new();
        for t in &h.trusted_proxies {
            match Network::parse(t) {
                Some(n) => trusted_proxies.push(n),
                None => p.fail(
                    "header.trusted_proxies",
                    format!("'{t}' is not an address or network (e.g. 127.0.0.1/32)"),
                ),
            }
        }
        if h.trusted_proxies.is_empty() {
            p.fail(
                "header.trusted_proxies",
                "is empty: the header would be trusted from nowhere".into(),
            );
        }
        s.header = Some(HeaderAuth {
            user_header,
            groups_header,
            trusted_proxies,
        });
    }
    if !s.local_passwords && s.header.is_none() {
        p.fail(
            "local_passwords",
            "is false but no other way to log in ([auth.header]) is configured".into(),
        );
    }
    s
}

fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
