//! Whether the configuration a running `serve` has loaded is still what is on disk.
//!
//! An administrator edits the files, then reloads with SIGHUP. Until then the admin page must
//! not call the configuration valid while the file on disk is broken, so it compares a hash of
//! the files the loaded configuration was read from with the same files now, and checks the
//! changed ones (once per change, not per page view).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// At most this many problems of a broken file on disk are kept for the admin page.
const SHOWN_PROBLEMS: usize = 10;

/// A hash over the configuration's files (its TOML files, as they are listed now, and the
/// lists they name), with their names, so an added, removed or edited file changes it.
pub fn fingerprint(path: &Path, sources: &[PathBuf]) -> String {
    let mut files = super::collect::config_files(path).unwrap_or_default();
    files.extend(sources.iter().cloned());
    files.sort();
    files.dedup();
    let mut hash = Sha256::new();
    hash.update(path.as_os_str().as_encoded_bytes());
    for file in &files {
        hash.update(b"\0");
        hash.update(file.as_os_str().as_encoded_bytes());
        match std::fs::read(file) {
            Ok(bytes) => {
                hash.update(bytes.len().to_le_bytes());
                hash.update(&bytes);
            }
            Err(_) => hash.update(b"\0missing"),
        }
    }
    hex::encode(hash.finalize())
}

/// The files on disk compared with the loaded configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskState {
    Same,
    /// Changed and valid: a reload would take it.
    ChangedValid,
    /// Changed and invalid: a reload would be refused. The first problems and how many.
    ChangedInvalid {
        problems: Vec<String>,
        count: usize,
    },
}

/// A reload that was refused, kept for the admin page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedReload {
    pub at: DateTime<Utc>,
    pub problems: Vec<String>,
    pub count: usize,
}

/// What `serve` has loaded, from where and when, and how its last reload went.
#[derive(Debug)]
pub struct ConfigWatch {
    pub path: PathBuf,
    loaded: Mutex<Loaded>,
    /// The last check of a changed disk state, by its fingerprint.
    checked: Mutex<Option<(String, DiskState)>>,
}

#[derive(Debug, Clone)]
struct Loaded {
    fingerprint: String,
    sources: Vec<PathBuf>,
    at: DateTime<Utc>,
    refused: Option<RefusedReload>,
}

/// The loaded configuration's side of the admin page.
#[derive(Debug, Clone)]
pub struct LoadedState {
    pub at: DateTime<Utc>,
    pub fingerprint: String,
    pub disk: DiskState,
    pub refused: Option<RefusedReload>,
}

impl ConfigWatch {
    /// `sources`: the organisation's [`Organisation::sources`](crate::model::org::Organisation).
    pub fn new(path: &Path, sources: &[PathBuf], at: DateTime<Utc>) -> Self {
        Self {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded {
                fingerprint: fingerprint(path, sources),
                sources: sources.to_vec(),
                at,
                refused: None,
            }),
            checked: Mutex::new(None),
        }
    }

    /// A reload took the files as they are now.
    pub fn reloaded(&self, sources: &[PathBuf], at: DateTime<Utc>) {
        *self.loaded.lock().expect("watch lock") = Loaded {
            fingerprint: fingerprint(&self.path, sources),
            sources: sources.to_vec(),
            at,
            refused: None,
        };
    }

    /// A reload was refused; the loaded configuration stays in use.
    pub fn refused(&self, errors: &super::ConfigErrors, at: DateTime<Utc>) {
        let (problems, count) = first_problems(errors);
        self.loaded.lock().expect("watch lock").refused = Some(RefusedReload {
            at,
            problems,
            count,
        });
    }

    /// The loaded configuration against the disk. Reads and hashes the files, and validates
    /// them when they changed (blocking work: call it off the async workers).
    pub fn state(&self) -> LoadedState {
        let loaded = self.loaded.lock().expect("watch lock").clone();
        let now = fingerprint(&self.path, &loaded.sources);
        let disk = if now == loaded.fingerprint {
            DiskState::Same
        } else {
            self.check_changed(now)
        };
        LoadedState {
            at: loaded.at,
            fingerprint: loaded.fingerprint,
            disk,
            refused: loaded.refused,
        }
    }

    fn check_changed(&self, fingerprint: String) -> DiskState {
        if let Some((seen, state)) = &*self.checked.lock().expect("watch lock")
            && *seen == fingerprint
        {
            return state.clone();
        }
        let state = match super::load(&self.path) {
            Ok(_) => DiskState::ChangedValid,
            Err(errors) => {
                let (problems, count) = first_problems(&errors);
                DiskState::ChangedInvalid { problems, count }
            }
        };
        *self.checked.lock().expect("watch lock") = Some((fingerprint, state.clone()));
        state
    }
}

fn first_problems(errors: &super::ConfigErrors) -> (Vec<String>, usize) {
    let problems = errors
        .0
        .iter()
        .take(SHOWN_PROBLEMS)
        .map(ToString::to_string)
        .collect();
    (problems, errors.0.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_edits_new_files_and_the_named_lists() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("a.toml");
        let staff = dir.path().join("staff.csv");
        std::fs::write(&toml, "x = 1\n").unwrap();
        std::fs::write(&staff, "id\n").unwrap();
        let sources = [staff.clone()];
        let first = fingerprint(dir.path(), &sources);
        assert_eq!(first, fingerprint(dir.path(), &sources));
        std::fs::write(&staff, "id\ns1\n").unwrap();
        let second = fingerprint(dir.path(), &sources);
        assert_ne!(first, second, "a named list changed");
        std::fs::write(dir.path().join("b.toml"), "").unwrap();
        assert_ne!(second, fingerprint(dir.path(), &sources), "a new TOML file");
    }
}
