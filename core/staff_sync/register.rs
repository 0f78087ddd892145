//! The staff register: the configuration's `staff_csv` file, read as a table so that a sync
//! rewrites only what it changes (columns it does not know, like `working_hours`, and rows'
//! order stay), and written atomically so that a running `serve` never reads half a file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::SyncError;
use super::diff::{Change, Listed, Plan, Provided};
use super::person::Person;
use crate::ident::{Personnummer, StaffId, SystemId, UnitId};

/// Columns a new register starts with, before the systems' and the dates.
const FIRST: [&str; 5] = ["id", "name", "unit", "email", "personnummer"];

/// A staff CSV file as a table of text.
#[derive(Debug, Clone)]
pub struct Register {
    pub path: PathBuf,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The file as it was, to put back if the rewritten one does not validate.
    original: Option<Vec<u8>>,
}

impl Register {
    /// The file at `path`; a missing file is an empty register (a first sync makes it).
    pub fn read(path: &Path) -> Result<Self, SyncError> {
        let fail = |e: String| SyncError::Register(format!("{}: {e}", path.display()));
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    path: path.to_path_buf(),
                    headers: FIRST.iter().map(|c| (*c).to_owned()).collect(),
                    rows: Vec::new(),
                    original: None,
                });
            }
            Err(e) => return Err(fail(format!("cannot read: {e}"))),
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(bytes.as_slice());
        let headers = reader
            .headers()
            .map_err(|e| fail(format!("bad header: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| {
                r.map(|r| r.iter().map(str::to_owned).collect())
                    .map_err(|e| fail(format!("unreadable row: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            path: path.to_path_buf(),
            headers,
            rows,
            original: Some(bytes),
        })
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == column)
    }

    /// The column's index, adding it (empty in every row) when the file has none.
    fn column(&mut self, name: &str) -> usize {
        if let Some(i) = self.index(name) {
            return i;
        }
        self.headers.push(name.to_owned());
        for row in &mut self.rows {
            row.push(String::new());
        }
        self.headers.len() - 1
    }

    fn cell<'a>(&self, row: &'a [String], column: &str) -> Option<&'a str> {
        self.index(column)
            .and_then(|i| row.get(i))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every row as the diff sees it. The configuration that names this file has been
    /// validated, so a row that does not read is a file changed since.
    pub fn listed(&self) -> Result<Vec<Listed>, SyncError> {
        let fixed = crate::config::STAFF_CSV_FIXED_COLUMNS;
        self.rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let line = i + 2;
                let fail = |field: &str| {
                    SyncError::Register(format!(
                        "{}:{line}: field `{field}` does not read; run `config check`",
                        self.path.display()
                    ))
                };
                let date = |field: &str| {
                    self.cell(row, field)
                        .map(|d| d.parse::<NaiveDate>().map_err(|_| fail(field)))
                        .transpose()
                };
                let usernames = self
                    .headers
                    .iter()
                    .zip(row)
                    .filter(|(h, v)| !fixed.contains(&h.as_str()) && !v.is_empty())
                    .filter_map(|(h, v)| SystemId::new(h).ok().map(|s| (s, v.clone())))
                    .collect::<BTreeMap<_, _>>();
                Ok(Listed {
                    person: Person {
                        id: StaffId::new(self.cell(row, "id").unwrap_or_default())
                            .map_err(|_| fail("id"))?,
                        name: self.cell(row, "name").unwrap_or_default().to_owned(),
                        unit: UnitId::new(self.cell(row, "unit").unwrap_or_default())
                            .map_err(|_| fail("unit"))?,
                        email: self.cell(row, "email").map(str::to_owned),
                        personnummer: self
                            .cell(row, "personnummer")
                            .map(|p| Personnummer::parse(p).map_err(|_| fail("personnummer")))
                            .transpose()?,
                        usernames,
                    },
                    active: !matches!(self.cell(row, "active"), Some("false" | "no" | "nej" | "0")),
                    active_from: date("active_from")?,
                    active_to: date("active_to")?,
                })
            })
            .collect()
    }

    /// Makes the plan's changes in the table.
    pub fn apply(&mut self, plan: &Plan, provided: &Provided, today: NaiveDate) {
        let id_col = self.column("id");
        let rows_by_id = |rows: &[Vec<String>], id: &StaffId| {
            rows.iter()
                .position(|r| r.get(id_col).map(String::as_str) == Some(id.as_str()))
        };
        for change in &plan.changes {
            match change {
                Change::Added(person) => {
                    self.rows.push(vec![String::new(); self.headers.len()]);
                    let at = self.rows.len() - 1;
                    self.set_person(at, person, provided);
                    self.set(at, "active_from", today.to_string());
                }
                Change::Changed {
                    person,
                    reactivated,
                    ..
                } => {
                    let Some(at) = rows_by_id(&self.rows, &person.id) else {
                        continue;
                    };
                    self.set_person(at, person, provided);
                    if *reactivated {
                        self.set(at, "active_to", String::new());
                        self.set(at, "active_from", today.to_string());
                    }
                }
                Change::Deactivated { id, active_to } => {
                    if let Some(at) = rows_by_id(&self.rows, id) {
                        self.set(at, "active_to", active_to.to_string());
                    }
                }
            }
        }
    }

    fn set_person(&mut self, at: usize, person: &Person, provided: &Provided) {
        self.set(at, "id", person.id.to_string());
        self.set(at, "name", person.name.clone());
        self.set(at, "unit", person.unit.to_string());
        if provided.email {
            self.set(at, "email", person.email.clone().unwrap_or_default());
        }
        if provided.personnummer {
            let digits = person.personnummer.as_ref().map(|p| p.digits().to_owned());
            self.set(at, "personnummer", digits.unwrap_or_default());
        }
        for system in &provided.systems {
            let username = person.usernames.get(system).cloned().unwrap_or_default();
            self.set(at, system.as_str(), username);
        }
    }

    fn set(&mut self, at: usize, column: &str, value: String) {
        let i = self.column(column);
        self.rows[at][i] = value;
    }

    /// The table as CSV.
    pub fn render(&self) -> Result<Vec<u8>, SyncError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| SyncError::Register(format!("cannot write CSV: {e}"));
        w.write_record(&self.headers).map_err(fail)?;
        for row in &self.rows {
            w.write_record(row).map_err(fail)?;
        }
        w.into_inner()
            .map_err(|e| SyncError::Register(format!("cannot write CSV: {e}")))
    }

    /// Replaces the file with `bytes`: a temporary file beside it, flushed to disk with the
    /// old file's permissions, renamed over it. A reader sees the old file or the new one.
    pub fn write(&self, bytes: &[u8]) -> Result<(), SyncError> {
        write_atomically(&self.path, bytes)
            .map_err(|e| SyncError::Register(format!("{}: cannot write: {e}", self.path.display())))
    }

    /// Puts the file back as it was before [`Register::write`]: a first sync's new file is
    /// removed.
    pub fn restore(&self) -> Result<(), SyncError> {
        let done = match &self.original {
            Some(bytes) => write_atomically(&self.path, bytes),
            None => std::fs::remove_file(&self.path),
        };
        done.map_err(|e| {
            SyncError::Register(format!("{}: cannot restore: {e}", self.path.display()))
        })
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the folder is.
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staff_sync::diff::diff;

    #[test]
    fn a_sync_rewrites_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staff.csv");
        std::fs::write(
            &path,
            "id,name,unit,email,personnummer,treserva,cosmic,working_hours\n\
             s1,Eva Lind,norr,,,elind,C1,07:00-16:00\n\
             s2,Per Ek,norr,,,pek,C2,\n",
        )
        .unwrap();
        let mut register = Register::read(&path).unwrap();
        let listed = register.listed().unwrap();
        let treserva = SystemId::new("treserva").unwrap();
        let provided = Provided {
            email: false,
            personnummer: false,
            systems: vec![treserva.clone()],
        };
        let eva = Person {
            id: listed[0].person.id.clone(),
            name: "Eva Lind".into(),
            unit: listed[0].person.unit.clone(),
            email: None,
            personnummer: None,
            usernames: [(treserva, "evalind".to_owned())].into(),
        };
        let today: NaiveDate = "2027-05-20".parse().unwrap();
        let plan = diff(&listed, &[eva], &Default::default(), &provided, today);
        register.apply(&plan, &provided, today);
        register.write(&register.render().unwrap()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "id,name,unit,email,personnummer,treserva,cosmic,working_hours,active_to\n\
             s1,Eva Lind,norr,,,evalind,C1,07:00-16:00,\n\
             s2,Per Ek,norr,,,pek,C2,,2027-05-19\n"
        );
        register.restore().unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("elind"));
    }
}
