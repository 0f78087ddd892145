//! Gathers the raw items of every configuration file, each with the file and line it stands
//! at, so that validation can name them.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::ConfigError;
use super::raw::{
    RawAuth, RawFile, RawNotify, RawOrganisation, RawRoutine, RawStaff, RawStaffSync, RawSystem,
    RawUnit,
};
use super::rules::RawRules;

/// An item with where it came from.
pub(super) struct Located<T> {
    pub(super) raw: T,
    pub(super) file: PathBuf,
    pub(super) line: usize,
}

/// A staff entry from either TOML or CSV, with where it came from.
pub(super) struct StaffSource {
    pub(super) raw: RawStaff,
    pub(super) file: PathBuf,
    pub(super) line: usize,
    /// How a username field is named in messages: `usernames.cosmic` or the CSV column.
    pub(super) from_csv: bool,
}

#[derive(Default)]
pub(super) struct Collected {
    pub(super) organisation: Option<Located<RawOrganisation>>,
    pub(super) units: Vec<Located<RawUnit>>,
    pub(super) systems: Vec<Located<RawSystem>>,
    pub(super) staff: Vec<StaffSource>,
    pub(super) routines: Vec<Located<RawRoutine>>,
    pub(super) rules: Option<Located<RawRules>>,
    pub(super) notify: Option<Located<RawNotify>>,
    pub(super) auth: Option<Located<RawAuth>>,
    pub(super) staff_sync: Option<Located<RawStaffSync>>,
}

/// The file itself, or every `*.toml` in the folder in name order.
pub(super) fn config_files(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let fail = |message: String| ConfigError::in_file(path, None, message);
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| fail(format!("cannot list folder: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(fail("no *.toml files in this folder".into()));
    }
    Ok(files)
}

/// Byte offsets where lines start, so each item's line is a binary search rather than a
/// scan from the top (a 2 000-unit file has 2 000 items).
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self(starts)
    }

    /// The 1-based line holding byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

/// Adds one file's items to `into`; a file that cannot be read or parsed is one problem.
pub(super) fn read_toml(file: &Path, into: &mut Collected, errors: &mut Vec<ConfigError>) {
    let Some((raw, lines)) = parse(file, errors) else {
        return;
    };
    let (organisation, notify, rules) = (raw.organisation, raw.notify, raw.rules);
    single(
        "[staff_sync]",
        &mut into.staff_sync,
        raw.staff_sync.map(|t| (file, &lines, t)),
        errors,
    );
    single(
        "[auth]",
        &mut into.auth,
        raw.auth.map(|t| (file, &lines, t)),
        errors,
    );
    let organisation = organisation.map(|t| (file, &lines, t));
    single(
        "[organisation]",
        &mut into.organisation,
        organisation,
        errors,
    );
    single(
        "[notify]",
        &mut into.notify,
        notify.map(|t| (file, &lines, t)),
        errors,
    );
    single(
        "[rules]",
        &mut into.rules,
        rules.map(|t| (file, &lines, t)),
        errors,
    );
    into.units
        .extend(raw.unit.into_iter().map(|u| located(u, file, &lines)));
    into.systems
        .extend(raw.system.into_iter().map(|s| located(s, file, &lines)));
    into.routines
        .extend(raw.routine.into_iter().map(|r| located(r, file, &lines)));
    into.staff.extend(raw.staff.into_iter().map(|item| {
        let Located { raw, file, line } = located(item, file, &lines);
        StaffSource {
            raw,
            file,
            line,
            from_csv: false,
        }
    }));
}

fn parse(file: &Path, errors: &mut Vec<ConfigError>) -> Option<(RawFile, LineIndex)> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::in_file(
                file,
                None,
                format!("cannot read: {e}"),
            ));
            return None;
        }
    };
    let lines = LineIndex::new(&text);
    match toml::from_str(&text) {
        Ok(raw) => Some((raw, lines)),
        Err(e) => {
            let line = e.span().map(|s| lines.line(s.start));
            let message = e.message().trim().replace('\n', " ");
            errors.push(ConfigError::in_file(file, line, message));
            None
        }
    }
}

fn located<T>(item: Spanned<T>, file: &Path, lines: &LineIndex) -> Located<T> {
    let span: Range<usize> = item.span();
    Located {
        raw: item.into_inner(),
        file: file.to_path_buf(),
        line: lines.line(span.start),
    }
}

/// Keeps the first of a table that may stand only once across all files; a second one is a
/// problem that points at the first.
/// Takes a table that may appear once in the whole configuration; a second is a problem.
fn single<T>(
    table: &str,
    slot: &mut Option<Located<T>>,
    found: Option<(&Path, &LineIndex, Spanned<T>)>,
    errors: &mut Vec<ConfigError>,
) {
    let Some((file, lines, item)) = found else {
        return;
    };
    let item = located(item, file, lines);
    match slot {
        Some(first) => errors.push(ConfigError::in_file(
            &item.file,
            Some(item.line),
            format!(
                "a second {table} table; the first is in {}:{}",
                first.file.display(),
                first.line
            ),
        )),
        None => *slot = Some(item),
    }
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn line_index_finds_lines() {
        let idx = LineIndex::new("a\nbb\n\nc");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(1), 1, "the newline belongs to its line");
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(5), 3);
        assert_eq!(idx.line(6), 4);
    }
}
