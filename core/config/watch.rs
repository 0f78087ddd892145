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
    fingerprint_of(path, &files_of(path, sources))
}

/// The configuration's files: its TOML files as listed now, and the lists they name.
fn files_of(path: &Path, sources: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = super::collect::config_files(path).unwrap_or_default();
    files.extend(sources.iter().cloned());
    files.sort();
    files.dedup();
    files
}

/// Each file's size and modification time (None: missing): what a change of content shows
/// in, without reading a region's staff list of megabytes on every admin page.
type Stamps = Vec<(PathBuf, Option<(u64, std::time::SystemTime)>)>;

fn stamps_of(files: &[PathBuf]) -> Stamps {
    files
        .iter()
        .map(|f| {
            let stamp = std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.len(), m.modified().ok()?)));
            (f.clone(), stamp)
        })
        .collect()
}

fn fingerprint_of(path: &Path, files: &[PathBuf]) -> String {
    let mut hash = Sha256::new();
    hash.update(path.as_os_str().as_encoded_bytes());
    for file in files {
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
    /// The files' fingerprint at the stamps it was last computed for.
    hashed: Mutex<Option<(Stamps, String)>>,
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
            hashed: Mutex::new(None),
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
        let now = self.fingerprint_now(&loaded.sources);
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

    /// The files' fingerprint now, hashed again only when a file's stamp changed.
    fn fingerprint_now(&self, sources: &[PathBuf]) -> String {
        let files = files_of(&self.path, sources);
        let stamps = stamps_of(&files);
        if let Some((seen, fingerprint)) = &*self.hashed.lock().expect("watch lock")
            && *seen == stamps
        {
            return fingerprint.clone();
        }
        let fingerprint = fingerprint_of(&self.path, &files);
        // A file written within the clock's coarse tick of another write keeps its stamp
        // ("racy git"): stamps that young are not trusted for the next page.
        let settled = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
        if stamps
            .iter()
            .all(|(_, s)| s.is_none_or(|(_, at)| at < settled))
        {
            *self.hashed.lock().expect("watch lock") = Some((stamps, fingerprint.clone()));
        }
        fingerprint
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

    /// The admin page asks on every view; the files are read again only when a file's size
    /// or time changed, and an edit is seen whatever its size.
    #[test]
    fn a_watch_rehashes_only_files_whose_stamp_changed() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("a.toml");
        let staff = dir.path().join("staff.csv");
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let write_at = |path: &Path, text: &str, at: std::time::SystemTime| {
            std::fs::write(path, text).unwrap();
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(at)
                .unwrap();
        };
        write_at(&toml, "x = 1\n", hour_ago);
        write_at(&staff, "id\ns1\n", hour_ago);
        let watch = ConfigWatch::new(dir.path(), std::slice::from_ref(&staff), Utc::now());
        assert_eq!(watch.state().disk, DiskState::Same);
        assert!(
            watch.hashed.lock().unwrap().is_some(),
            "settled stamps are kept"
        );

        // Same size, a later time: read again, and the change is seen.
        write_at(
            &staff,
            "id\ns2\n",
            hour_ago + std::time::Duration::from_secs(60),
        );
        assert_ne!(watch.state().disk, DiskState::Same);

        // Back as loaded, written just now: a stamp this young is not trusted for next time.
        std::fs::write(&staff, "id\ns1\n").unwrap();
        assert_eq!(watch.state().disk, DiskState::Same);
        let now = stamps_of(&files_of(dir.path(), std::slice::from_ref(&staff)));
        let cached = watch
            .hashed
            .lock()
            .unwrap()
            .clone()
            .map(|(stamps, _)| stamps);
        assert_ne!(cached, Some(now), "a fresh stamp is not cached");
    }
}
