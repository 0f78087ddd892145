//! Single sign-on settings and the one rule that turns the organisation's groups into a
//! loggvakt role and units, shared by every way of signing on (`[auth.oidc]`'s groups claim
//! and `[auth.header]`'s groups header).

use super::user::Role;

/// `[auth.oidc]`: an OpenID Connect provider (Entra ID, Keycloak, Dex…).
#[derive(Debug, Clone)]
pub struct OidcAuth {
    /// The issuer exactly as the provider names itself (discovery is `<issuer>/.well-known/…`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Requested besides `openid`.
    pub scopes: Vec<String>,
    /// The claim whose value is the loggvakt username (default `preferred_username`).
    pub username_claim: String,
    /// The claim that lists the user's groups (default `groups`).
    pub groups_claim: String,
    /// Where the provider sends the browser back; default `<[notify] base_url>/login/oidc/callback`.
    pub redirect_url: Option<String>,
}

pub use super::secret::Secret;

/// `[[auth.map]]`: members of `group` get `role`, and (reviewers) see `units`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRule {
    pub group: String,
    pub role: Role,
    pub units: Vec<String>,
}

/// What a signed-on user's groups give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    /// Sorted, without duplicates.
    pub units: Vec<String>,
}

/// The grant of `groups` under `rules`, or `None` when no rule names any of them.
///
/// The first matching rule in configuration order decides the role, so an organisation
/// orders its rules by precedence (administrators first). Units add up over every matching
/// rule of that same role: a chef of two units is in two groups.
pub fn grant_for(rules: &[GroupRule], groups: &[String]) -> Option<Grant> {
    let member = |r: &&GroupRule| groups.iter().any(|g| g == &r.group);
    let role = rules.iter().find(member)?.role;
    let mut units: Vec<String> = rules
        .iter()
        .filter(member)
        .filter(|r| r.role == role)
        .flat_map(|r| r.units.iter().cloned())
        .collect();
    units.sort();
    units.dedup();
    Some(Grant { role, units })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(group: &str, role: Role, units: &[&str]) -> GroupRule {
        GroupRule {
            group: group.into(),
            role,
            units: units.iter().map(|u| u.to_string()).collect(),
        }
    }

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_first_matching_rule_decides_the_role_and_units_add_up() {
        let rules = [
            rule("lv-admins", Role::Admin, &[]),
            rule("chefer-norr", Role::Reviewer, &["norr"]),
            rule("chefer-syd", Role::Reviewer, &["syd", "norr"]),
            rule("ledning", Role::Executive, &[]),
        ];
        let g = grant_for(&rules, &groups(&["ledning", "chefer-syd", "chefer-norr"])).unwrap();
        assert_eq!(g.role, Role::Reviewer);
        assert_eq!(g.units, ["norr", "syd"]);
        let g = grant_for(&rules, &groups(&["ledning", "lv-admins"])).unwrap();
        assert_eq!(g.role, Role::Admin);
        assert!(g.units.is_empty());
        assert_eq!(grant_for(&rules, &groups(&["andra"])), None);
        assert_eq!(grant_for(&rules, &[]), None);
    }

    #[test]
    fn a_secret_is_never_printed() {
        let s = Secret::new("hemligt".into());
        assert!(!format!("{s:?}").contains("hemligt"));
    }
}
