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

/// The shortest password `user add` accepts. Length is what makes a password hard to guess;
/// the throttle on the login form bounds the rest.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Words that make up the most guessed passwords (in Swedish workplaces too), compared after
/// lowercasing and dropping digits and punctuation, so `Sommar2024!` is caught as `sommar`.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "losenord",
    "lösenord",
    "qwerty",
    "qwertyuiop",
    "asdfgh",
    "azerty",
    "abc",
    "abcdef",
    "letmein",
    "welcome",
    "välkommen",
    "valkommen",
    "admin",
    "administrator",
    "sommar",
    "vinter",
    "höst",
    "vår",
    "hosten",
    "varen",
    "sverige",
    "stockholm",
    "göteborg",
    "malmö",
    "kommunen",
    "region",
    "loggvakt",
    "hemtjanst",
    "hemtjänst",
    "iloveyou",
    "monkey",
    "dragon",
    "football",
    "sunshine",
    "princess",
    "master",
    "hello",
    "secret",
    "changeme",
    "test",
];

/// Why a password may not be set, or `None` when it may.
pub fn password_problem(password: &str, username: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    let letters: String = password
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphabetic())
        .collect();
    let user = username.trim().to_lowercase();
    let common = COMMON.contains(&letters.as_str())
        || crate::calendar::MONTH_NAMES_SV.contains(&letters.as_str());
    if letters.is_empty() || common {
        return Some("the password is one of the most guessed ones; choose another".into());
    }
    if !user.is_empty() && password.to_lowercase().contains(&user) {
        return Some("the password must not contain the username".into());
    }
    None
}

/// Sessions are stored by the token's hash, so a leaked database holds no live cookies.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// HMAC-SHA-256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// A login form's token: a fresh nonce and its HMAC under the installation's secret, so
/// that only this installation can have made it (a cookie planted with a matching field is
/// not enough).
pub fn signed_token(secret: &str) -> String {
    let nonce = random_token();
    let mac = hex::encode(hmac_sha256(secret.as_bytes(), nonce.as_bytes()));
    format!("{nonce}.{mac}")
}

/// Whether `token` was made by [`signed_token`] under `secret`.
pub fn is_signed(secret: &str, token: &str) -> bool {
    token.split_once('.').is_some_and(|(nonce, mac)| {
        same_secret(
            &hex::encode(hmac_sha256(secret.as_bytes(), nonce.as_bytes())),
            mac,
        )
    })
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
    fn hmac_matches_rfc_4231_and_tokens_verify_only_under_their_secret() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let token = signed_token("s1");
        assert!(is_signed("s1", &token));
        assert!(!is_signed("s2", &token));
        assert!(!is_signed("s1", "abc"));
        assert!(!is_signed("s1", &format!("{}x", token)));
    }

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

    #[test]
    fn short_common_and_username_passwords_are_refused() {
        for (bad, why) in [
            ("kort-123", "at least 12"),
            ("Sommar2024!!!", "most guessed"),
            ("123456789012", "most guessed"),
            ("Januari2025!!!", "most guessed"),
            ("hanna-har-ett-losen", "username"),
        ] {
            let problem = password_problem(bad, "Hanna").unwrap_or_default();
            assert!(problem.contains(why), "{bad}: {problem}");
        }
        assert_eq!(password_problem("ett långt lösenord", "hanna"), None);
        assert_eq!(password_problem(&generated_password(), "hanna"), None);
    }
}
