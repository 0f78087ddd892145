//! `[auth]`: whether local passwords work, `[auth.header]`, the trusted-header sign-on
//! (a SAML/SITHS service provider in front names the user in a header), `[auth.oidc]`, an
//! OpenID Connect provider, and `[[auth.map]]`, the role and units each group gives.

use std::collections::HashSet;
use std::path::Path;

use super::Problems;
use crate::config::ConfigError;
use crate::config::collect::Located;
use crate::config::raw::{RawAuth, RawGroupRule, RawOidcAuth};
use crate::model::org::{AuthSettings, HeaderAuth, Network};
use crate::model::sso::{GroupRule, OidcAuth, Secret};
use crate::model::user::Role;

pub(super) fn validate(
    a: &Located<RawAuth>,
    unit_ids: &HashSet<&str>,
    errors: &mut Vec<ConfigError>,
) -> AuthSettings {
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
    if let Some(o) = &a.raw.oidc {
        s.oidc = oidc(o, a.file.parent().unwrap_or(Path::new(".")), &mut p);
    }
    for (i, r) in a.raw.map.iter().enumerate() {
        if let Some(rule) = group_rule(r, i, unit_ids, &mut p) {
            s.map.push(rule);
        }
    }
    if !s.local_passwords && s.header.is_none() && a.raw.oidc.is_none() {
        p.fail(
            "local_passwords",
            "is false but no other way to log in ([auth.header] or [auth.oidc]) is configured"
                .into(),
        );
    }
    if a.raw.oidc.is_some() && a.raw.map.is_empty() {
        p.fail(
            "map",
            "is empty: [auth.oidc] needs [[auth.map]] entries that give groups a role".into(),
        );
    }
    s
}

fn oidc(o: &RawOidcAuth, dir: &Path, p: &mut Problems) -> Option<OidcAuth> {
    let issuer = o.issuer.trim().trim_end_matches('/').to_owned();
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
    if !(issuer.starts_with("https://") || local.iter().any(|l| issuer.starts_with(l)))
        || issuer.contains(['?', '#', ' '])
    {
        p.fail(
            "oidc.issuer",
            format!("'{issuer}' is not an https:// URL (plain http only on this machine)"),
        );
    }
    if o.client_id.trim().is_empty() {
        p.fail("oidc.client_id", "is empty".into());
    }
    let secret = match (&o.client_secret_file, &o.client_secret_env) {
        (Some(_), Some(_)) => {
            p.fail(
                "oidc.client_secret_file",
                "and client_secret_env are both set; name one".into(),
            );
            None
        }
        (None, None) => {
            p.fail(
                "oidc.client_secret_file",
                "is missing: name a file (or client_secret_env a variable) holding the client secret; it is never written in the configuration itself"
                    .into(),
            );
            None
        }
        (Some(file), None) => match crate::config::read_secret_file(&dir.join(file)) {
            Ok(secret) => Some(Secret::new(secret.trim().to_owned())),
            Err(e) => {
                p.fail("oidc.client_secret_file", e);
                None
            }
        },
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_owned())),
            _ => {
                p.fail(
                    "oidc.client_secret_env",
                    format!("the environment variable {var} is not set or empty"),
                );
                None
            }
        },
    };
    // By default profile and email, and a scope named like the groups claim when one is
    // configured (Dex and Keycloak send `groups` only when asked for it by that scope).
    let scopes = o.scopes.clone().unwrap_or_else(|| {
        let mut s = vec!["profile".to_owned(), "email".to_owned()];
        s.extend(o.groups_claim.as_ref().map(|g| g.trim().to_owned()));
        s
    });
    for scope in &scopes {
        if scope.is_empty() || !scope.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
            p.fail("oidc.scopes", format!("'{scope}' is not a scope name"));
        }
    }
    let redirect_url = o.redirect_url.as_ref().map(|r| r.trim().to_owned());
    if let Some(r) = &redirect_url
        && !(r.starts_with("https://") || r.starts_with("http://"))
    {
        p.fail("oidc.redirect_url", format!("'{r}' is not an http(s) URL"));
    }
    let claim = |c: &Option<String>, default: &str, field: &str, p: &mut Problems| {
        let c = c.as_deref().unwrap_or(default).trim().to_owned();
        if c.is_empty() {
            p.fail(field, "is empty".into());
        }
        c
    };
    let username_claim = claim(
        &o.username_claim,
        "preferred_username",
        "oidc.username_claim",
        p,
    );
    let groups_claim = claim(&o.groups_claim, "groups", "oidc.groups_claim", p);
    Some(OidcAuth {
        issuer,
        client_id: o.client_id.trim().to_owned(),
        client_secret: secret?,
        scopes,
        username_claim,
        groups_claim,
        redirect_url,
    })
}

fn group_rule(
    r: &RawGroupRule,
    index: usize,
    unit_ids: &HashSet<&str>,
    p: &mut Problems,
) -> Option<GroupRule> {
    let at = |field: &str| format!("map[{index}].{field}");
    let group = r.group.trim().to_owned();
    if group.is_empty() {
        p.fail(&at("group"), "is empty".into());
    }
    let role = Role::parse(r.role.trim());
    if role.is_none() {
        p.fail(
            &at("role"),
            format!(
                "unknown role '{}'; expected admin, reviewer, executive or auditor",
                r.role
            ),
        );
    }
    for u in &r.units {
        if !unit_ids.contains(u.as_str()) {
            p.fail(&at("units"), format!("unknown unit '{u}'"));
        }
    }
    if role.is_some_and(|r| r != Role::Reviewer) && !r.units.is_empty() {
        p.fail(
            &at("units"),
            "only a reviewer's rule gives units (the other roles see every unit)".into(),
        );
    }
    Some(GroupRule {
        group,
        role: role?,
        units: r.units.clone(),
    })
}

fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
