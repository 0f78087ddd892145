//! Who may do what: web users, their roles, argon2id passwords and session tokens.
//!
//! Roles follow DOMAIN.md: the administrator configures and sees everything; a reviewer
//! (enhetschef) sees the tasks of their own units only; the executive sees counts, never
//! patient data; the auditor sees the audit trail and verifies draws.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::org::Organisation;
use crate::review::Task;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Reviewer,
    Executive,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Self::Admin, Self::Reviewer, Self::Executive, Self::Auditor];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Reviewer => "reviewer",
            Self::Executive => "executive",
            Self::Auditor => "auditor",
        }
    }
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
    pub fn label_sv(self) -> &'static str {
        match self {
            Self::Admin => "Administratör",
            Self::Reviewer => "Granskare",
            Self::Executive => "Ledning",
            Self::Auditor => "Revisor",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// Units a reviewer sees besides those they manage (e.g. a deputy's).
    pub units: Vec<String>,
    pub disabled: bool,
}

impl User {
    /// The units whose tasks this reviewer sees: those they manage by e-mail in the
    /// configuration, and those given to them explicitly.
    pub fn reviewer_units(&self, org: &Organisation) -> Vec<String> {
        let mut units: Vec<String> = org
            .units
            .iter()
            .filter(|u| u.manager.email.eq_ignore_ascii_case(&self.email))
            .map(|u| u.id.to_string())
            .collect();
        units.extend(self.units.iter().cloned());
        units.sort();
        units.dedup();
        units
    }

    /// Whether this user may read a task's rows and act on it.
    pub fn may_review(&self, task: &Task, org: &Organisation) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Reviewer => {
                task.is_reviewer(&self.email) || self.reviewer_units(org).contains(&task.unit)
            }
            Role::Executive | Role::Auditor => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the password must have at least {MIN_PASSWORD} characters")]
    ShortPassword,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

pub const MIN_PASSWORD: usize = 10;

/// An argon2id hash in PHC form, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(AuthError::ShortPassword);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A random token for a cookie or a form, as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system gives randomness");
    hex::encode(bytes)
}

/// Sessions are stored by the token's hash, so a leaked database holds no live cookies.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("korrekt häst batteri").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("korrekt häst batteri", &h));
        assert!(!verify_password("fel lösenord!", &h));
        assert!(matches!(
            hash_password("kort"),
            Err(AuthError::ShortPassword)
        ));
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
