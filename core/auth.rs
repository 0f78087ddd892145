//! Secrets of the web login: argon2id passwords, session and form tokens. Users and their
//! roles are in `crate::model::user`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

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

/// A made-up password that is easy to type from a printout.
pub fn generated_password() -> String {
    let token = random_token();
    format!("{}-{}-{}", &token[..5], &token[5..10], &token[10..15])
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
