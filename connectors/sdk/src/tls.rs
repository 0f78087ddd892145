//! The certificate authorities trusted beyond the operating system's store, for every TLS
//! connection a connector makes: care systems often sit behind an organisation's own CA.
//!
//! The application sets the bundle once at start ([`trust_extra_roots`], from `--extra-ca`).
//! A plugin is a separate library with its own copy of this crate, so where nothing was set
//! the bundle is read from the file named by `LOGGVAKT_EXTRA_CA`, the variable the
//! application's flag also reads: both see the same file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable naming a PEM bundle of extra trusted CAs.
pub const EXTRA_CA_ENV: &str = "LOGGVAKT_EXTRA_CA";

/// The largest bundle read: a few hundred certificates.
const MAX_BUNDLE: u64 = 4 << 20;

static EXTRA_ROOTS: OnceLock<Option<Vec<u8>>> = OnceLock::new();
static EXTRA_ROOTS_PATH: OnceLock<PathBuf> = OnceLock::new();

/// Trusts the CAs in `pem` (one or more `CERTIFICATE` blocks) in addition to the OS store.
/// `Err` when the bundle holds no certificate, or when a different bundle is already set.
pub fn trust_extra_roots(pem: Vec<u8>) -> Result<usize, String> {
    let count = certificate_count(&pem);
    if count == 0 {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    let set = EXTRA_ROOTS.get_or_init(|| Some(pem.clone()));
    if set.as_deref() != Some(pem.as_slice()) {
        return Err("a different CA bundle is already in use; restart to change it".into());
    }
    Ok(count)
}

/// Reads the bundle at `path` and trusts it ([`trust_extra_roots`]); the path is kept for
/// clients that take a file rather than bytes (PostgreSQL's `sslrootcert`).
pub fn trust_extra_roots_file(path: &Path) -> Result<usize, String> {
    let pem = read_bundle(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let count = trust_extra_roots(pem).map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = EXTRA_ROOTS_PATH.set(path.to_path_buf());
    Ok(count)
}

/// The extra CA bundle in PEM, if one is set (or named by [`EXTRA_CA_ENV`]).
pub fn extra_roots() -> Option<&'static [u8]> {
    EXTRA_ROOTS.get_or_init(from_env).as_deref()
}

/// The file the extra CA bundle was read from, when it came from one.
pub fn extra_roots_path() -> Option<&'static Path> {
    extra_roots()?;
    EXTRA_ROOTS_PATH.get().map(PathBuf::as_path)
}

fn from_env() -> Option<Vec<u8>> {
    let path = PathBuf::from(std::env::var_os(EXTRA_CA_ENV)?);
    let bytes = read_bundle(&path).ok()?;
    (certificate_count(&bytes) > 0).then(|| {
        let _ = EXTRA_ROOTS_PATH.set(path);
        bytes
    })
}

fn read_bundle(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_BUNDLE)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn certificate_count(pem: &[u8]) -> usize {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    pem.windows(BEGIN.len()).filter(|w| *w == BEGIN).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        assert!(trust_extra_roots(b"not a certificate".to_vec()).is_err());
        assert_eq!(certificate_count(b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----"), 2);
    }
}
