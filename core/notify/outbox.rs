//! Notices as `.eml` files in a folder: the default, and what a trial without a mail server
//! uses. A file is written under a temporary name and renamed, so a reader never sees half a
//! mail, and the same notice sent twice is the same file.

use std::path::PathBuf;

use super::{Mail, MailError, Mailer};

pub struct FileOutbox {
    dir: PathBuf,
}

impl FileOutbox {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

/// RFC 2047 encoded-word for a header with non-ASCII text (Swedish subjects).
fn header_text(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    use std::fmt::Write;
    let mut out = String::from("=?UTF-8?Q?");
    for b in text.bytes() {
        match b {
            b' ' => out.push('_'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' => out.push(b as char),
            _ => {
                let _ = write!(out, "={b:02X}");
            }
        }
    }
    out.push_str("?=");
    out
}

#[async_trait::async_trait]
impl Mailer for FileOutbox {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let io =
            |e: std::io::Error| MailError::Transient(format!("outbox {}: {e}", self.dir.display()));
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let text = format!(
            "Date: {}\r\nFrom: {}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{}@loggvakt>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
            super::date_header(mail.date),
            mail.from,
            mail.to,
            header_text(&mail.subject),
            mail.key,
            mail.body.replace('\n', "\r\n")
        );
        let name = format!("{}.eml", mail.key);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        tokio::fs::write(&tmp, text).await.map_err(io)?;
        tokio::fs::rename(&tmp, self.dir.join(name))
            .await
            .map_err(io)?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("{}/", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swedish_subjects_are_encoded() {
        assert_eq!(header_text("Loggkontroll"), "Loggkontroll");
        assert_eq!(header_text("Påminnelse x"), "=?UTF-8?Q?P=C3=A5minnelse_x?=");
    }
}
