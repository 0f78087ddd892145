//! The upload of a delivered extract (issue 12, hostile 2). The session, role and order are
//! checked from the request head, the CSRF token from the form's first field, all before any
//! of the file is read; the file is then streamed to disk (0600 in a 0700 folder of its own)
//! under the order's system's `max_extract_mb`, imported as `extract import` does, and removed.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, SystemTime};

use axum::extract::{Multipart, Path, State};
use axum::response::Response;
use serde_json::json;

use super::reviewer::waiting_orders;
use super::{Session, Shared, WebError};
use crate::model::user::Role;
use crate::orders::{self, Pipeline};

/// Upload folders are named so; one left by a process that died is removed at the next start.
const FOLDER_PREFIX: &str = "loggvakt-upload-";
/// A folder older than this is a leftover: no upload takes a day.
const LEFTOVER_AGE: Duration = Duration::from_secs(24 * 3600);

/// Stores an uploaded extract as `extract import` does: the whole file checked first.
pub async fn upload(
    State(state): State<Shared>,
    session: Session,
    Path(id): Path<i64>,
    mut form: Multipart,
) -> Result<Response, WebError> {
    session.require(&[Role::Reviewer, Role::Admin])?;
    let Some(order) = waiting_orders(&state, &session.user)
        .await?
        .into_iter()
        .find(|o| o.id == id)
    else {
        return Err(WebError::Forbidden);
    };
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        WebError::BadRequest(format!("Uppladdningen gick inte att läsa: {e}"))
    };
    // The page's form sends the token first: a form without it there is not ours.
    match form.next_field().await.map_err(unreadable)? {
        Some(field) if field.name() == Some("csrf") => {
            let token = field.text().await.map_err(unreadable)?;
            session.check_csrf(&token)?;
        }
        _ => return Err(WebError::Csrf),
    }
    let mut field = loop {
        match form.next_field().await.map_err(unreadable)? {
            Some(field) if field.name() == Some("file") => break field,
            Some(_) => continue,
            None => return Err(WebError::BadRequest("Välj en fil att ladda upp.".into())),
        }
    };
    let name = field.file_name().unwrap_or("utdrag").to_owned();
    let limit = state
        .org
        .system(&order.system)
        .map_or(super::UPLOAD_LIMIT as u64, |s| s.max_extract_bytes);
    let folder = Folder::new()?;
    // The importer reads from a file (its size limit and the connector's format both work
    // on files); the original name's extension tells CSV from XLSX.
    let ext = FsPath::new(&name)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("csv");
    let path = folder.0.join(format!("utdrag.{ext}"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|_| WebError::Internal)?;
    let mut written: u64 = 0;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| WebError::BadRequest(format!("Filen gick inte att ta emot: {e}")))?
    {
        written += chunk.len() as u64;
        if written > limit {
            return Err(WebError::BadRequest(format!(
                "Filen är större än {} MB, som är gränsen för {}; inget sparades.",
                limit >> 20,
                order.system
            )));
        }
        file.write_all(&chunk).map_err(|_| WebError::Internal)?;
    }
    drop(file);
    if written == 0 {
        return Err(WebError::BadRequest("Välj en fil att ladda upp.".into()));
    }
    let actor = session.actor();
    let result = Pipeline::new(state.stage(&actor), &state.connectors)
        .import_file(id, &path)
        .await;
    let message = match result {
        Ok(n) => format!(
            "Utdraget för beställning {id} är inläst: {n} loggrader. Granskningen visar dem efter nästa körning (inom en minut)."
        ),
        Err(orders::ImportError::Refused {
            problems, total, ..
        }) => {
            let text = orders::listed(&name, &problems, total, "och {} till");
            return Err(WebError::BadRequest(format!(
                "Utdraget kunde inte läsas in; inget sparades. {total} rader avvisades:\n{text}"
            )));
        }
        Err(e) => {
            let text = e.to_string().replace(&path.display().to_string(), &name);
            return Err(WebError::BadRequest(format!(
                "Utdraget kunde inte läsas in; inget sparades.\n{text}"
            )));
        }
    };
    Ok(state.page(
        Some(&session),
        "Utdrag inläst",
        "message",
        json!({"message": message, "back": "/utdrag"}),
    ))
}

/// An upload's own folder (0700), removed with everything in it when the upload ends, also
/// on a refusal or an error.
struct Folder(PathBuf);

impl Folder {
    fn new() -> Result<Self, WebError> {
        let path =
            std::env::temp_dir().join(format!("{FOLDER_PREFIX}{}", crate::auth::random_token()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|_| WebError::Internal)?;
        Ok(Self(path))
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes upload folders a process that died left behind (at `serve`'s start); returns how
/// many. A folder younger than [`LEFTOVER_AGE`] may be another instance's upload and stays.
pub fn remove_leftovers() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let now = SystemTime::now();
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(FOLDER_PREFIX))
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > LEFTOVER_AGE)
        })
        .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
        .count()
}
