//! PostgreSQL's `COPY … FROM STDIN` for a streamed import's events: one message stream per
//! batch instead of statements of a few hundred rows, which is what makes PostgreSQL keep up
//! with the reader.

use loggvakt_connector::AccessEvent;

use super::{Result, StoreError};
use crate::model::order::Order;

const COPY_EVENTS: &str = "COPY access_events (order_id, draw_id, staff_id, system_id, time, \
     user_id, user_name, patient_id, patient_name, care_unit, action, event_text, system_part, \
     raw, protected_identity, source_line, reference_number) FROM STDIN";

/// How much COPY data is gathered before it is sent: a few of the protocol's messages.
const SEND_AT: usize = 1 << 20;

/// Writes the events through COPY on `conn` (inside the caller's transaction).
pub(super) async fn copy_events(
    conn: &mut sqlx::PgConnection,
    order: &Order,
    events: &[AccessEvent],
    staff_ids: &[Option<String>],
    lines: &[i64],
) -> Result<()> {
    let mut copy = conn.copy_in_raw(COPY_EVENTS).await?;
    let mut buf: Vec<u8> = Vec::with_capacity(SEND_AT + 4096);
    let draw = order.draw_id.map(|d| d.to_string());
    let order_id = order.id.to_string();
    let (mut time, mut line_text) = (String::with_capacity(19), String::with_capacity(12));
    for ((e, staff), line) in events.iter().zip(staff_ids).zip(lines) {
        super::event_time(&mut time, e.time);
        line_text.clear();
        {
            use std::fmt::Write;
            let _ = write!(line_text, "{line}");
        }
        let fields: [Option<&str>; 17] = [
            Some(&order_id),
            draw.as_deref(),
            staff.as_deref(),
            Some(&e.system),
            Some(&time),
            Some(&e.user_id),
            e.user_name.as_deref(),
            Some(e.patient_id.digits()),
            e.patient_name.as_deref(),
            e.care_unit.as_deref(),
            Some(e.action.as_str()),
            Some(&e.event_text),
            e.system_part.as_deref(),
            e.raw.as_deref(),
            Some(if e.protected_identity { "1" } else { "0" }),
            Some(&line_text),
            e.reference_number.as_deref(),
        ];
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                buf.push(b'\t');
            }
            match field {
                None => buf.extend_from_slice(b"\\N"),
                Some(text) => escape_into(&mut buf, text),
            }
        }
        buf.push(b'\n');
        if buf.len() >= SEND_AT {
            if let Err(e) = copy.send(buf.as_slice()).await {
                // The connection is in COPY state until told otherwise.
                let _ = copy.abort("the import stopped").await;
                return Err(StoreError::from(e));
            }
            buf.clear();
        }
    }
    if !buf.is_empty()
        && let Err(e) = copy.send(buf.as_slice()).await
    {
        let _ = copy.abort("the import stopped").await;
        return Err(StoreError::from(e));
    }
    copy.finish().await?;
    Ok(())
}

/// COPY's text format: backslash, tab, newline and carriage return are escaped; everything
/// else (UTF-8 included) is taken as it is.
fn escape_into(buf: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_row() {
        let mut buf = Vec::new();
        escape_into(&mut buf, "a\tb\nc\\d\re – å");
        assert_eq!(buf, "a\\tb\\nc\\\\d\\re – å".as_bytes());
    }
}
