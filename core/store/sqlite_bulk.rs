//! SQLite's insert path for a streamed import's events: one prepared statement, bound and
//! stepped row by row through SQLite's C API on the connection's own handle.
//!
//! Through sqlx every batch is a multi-row statement whose arguments are boxed, copied and
//! handed to the connection's worker thread; that costs several times what SQLite itself
//! spends storing the row, and was what held a 1 M-row import to about 90 k rows/s. sqlx
//! offers the handle for exactly this (`SqliteConnection::lock_handle`); the statement lives
//! only for one batch, and every string is bound without copying because the batch outlives
//! the statement.

use std::ffi::{CStr, c_char, c_int};
use std::ptr::NonNull;

use libsqlite3_sys as ffi;
use loggvakt_connector::AccessEvent;

use super::{Result, StoreError};
use crate::model::order::Order;

const INSERT_EVENT: &CStr = c"INSERT INTO access_events (order_id, draw_id, staff_id, \
    system_id, time, user_id, user_name, patient_id, patient_name, care_unit, action, \
    event_text, system_part, raw, protected_identity, source_line, reference_number) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// A prepared statement finalised however the batch ends.
struct Statement {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: `stmt` came from `sqlite3_prepare_v2` on `db` and is finalised once.
        unsafe { ffi::sqlite3_finalize(self.stmt) };
    }
}

impl Statement {
    fn check(&self, rc: c_int) -> Result<()> {
        if rc == ffi::SQLITE_OK || rc == ffi::SQLITE_DONE {
            return Ok(());
        }
        // SAFETY: the handle is open and locked for us; the message is copied at once.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db)) }
            .to_string_lossy()
            .into_owned();
        Err(StoreError::Native(format!(
            "{message} (SQLite code {rc}) while storing an event"
        )))
    }

    fn text(&self, index: c_int, value: Option<&str>) -> Result<()> {
        let rc = match value {
            // SAFETY: the text outlives the step it is bound for (`SQLITE_STATIC`): every
            // bound string belongs to the batch, which outlives this statement.
            Some(text) => unsafe {
                ffi::sqlite3_bind_text(
                    self.stmt,
                    index,
                    text.as_ptr().cast::<c_char>(),
                    c_int::try_from(text.len()).map_err(|_| {
                        StoreError::Native("a field of an event is larger than 2 GiB".into())
                    })?,
                    ffi::SQLITE_STATIC(),
                )
            },
            // SAFETY: as above, a valid statement and index.
            None => unsafe { ffi::sqlite3_bind_null(self.stmt, index) },
        };
        self.check(rc)
    }

    fn int(&self, index: c_int, value: Option<i64>) -> Result<()> {
        // SAFETY: a valid statement and index.
        let rc = unsafe {
            match value {
                Some(v) => ffi::sqlite3_bind_int64(self.stmt, index, v),
                None => ffi::sqlite3_bind_null(self.stmt, index),
            }
        };
        self.check(rc)
    }
}

/// Inserts the events on `db`, inside the caller's transaction.
///
/// # Safety
/// `db` must be an open connection locked for the caller for the whole call (the guard of
/// `lock_handle`), and no other statement of it may be stepping.
pub(super) unsafe fn insert_events(
    db: NonNull<ffi::sqlite3>,
    order: &Order,
    events: &[AccessEvent],
    staff_ids: &[Option<String>],
    lines: &[i64],
) -> Result<()> {
    let db = db.as_ptr();
    // Before the statement, so that it outlives the last binding of it.
    let mut time = String::with_capacity(19);
    let mut stmt = std::ptr::null_mut();
    // SAFETY: per this function's contract; the SQL is a constant C string.
    let rc = unsafe {
        ffi::sqlite3_prepare_v2(
            db,
            INSERT_EVENT.as_ptr(),
            -1,
            &mut stmt,
            std::ptr::null_mut(),
        )
    };
    let stmt = Statement { db, stmt };
    stmt.check(rc)?;
    for ((e, staff), line) in events.iter().zip(staff_ids).zip(lines) {
        super::event_time(&mut time, e.time);
        stmt.int(1, Some(order.id))?;
        stmt.int(2, order.draw_id)?;
        stmt.text(3, staff.as_deref())?;
        stmt.text(4, Some(&e.system))?;
        stmt.text(5, Some(&time))?;
        stmt.text(6, Some(&e.user_id))?;
        stmt.text(7, e.user_name.as_deref())?;
        stmt.text(8, Some(e.patient_id.digits()))?;
        stmt.text(9, e.patient_name.as_deref())?;
        stmt.text(10, e.care_unit.as_deref())?;
        stmt.text(11, Some(e.action.as_str()))?;
        stmt.text(12, Some(&e.event_text))?;
        stmt.text(13, e.system_part.as_deref())?;
        stmt.text(14, e.raw.as_deref())?;
        stmt.int(15, Some(i64::from(e.protected_identity)))?;
        stmt.int(16, Some(*line))?;
        stmt.text(17, e.reference_number.as_deref())?;
        // SAFETY: a prepared statement with all parameters bound to live values.
        let rc = unsafe { ffi::sqlite3_step(stmt.stmt) };
        stmt.check(rc)?;
        // SAFETY: as above; resetting lets the statement run again with new bindings (the
        // time buffer is rebound before the next step).
        let rc = unsafe { ffi::sqlite3_reset(stmt.stmt) };
        stmt.check(rc)?;
    }
    Ok(())
}
