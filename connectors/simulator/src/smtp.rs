//! Cosmic's journal unit: a small SMTP listener that takes order mails, and the extract the
//! unit would send back for each.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::faults::Verdict;
use crate::mime::parse_message;
use crate::order::{OrderSpec, parse_order_text};
use crate::rng::Rng;
use crate::world::Kind;
use crate::{ReceivedMail, Shared, extract, lock};

/// The journal unit takes at most this many usernames of one unit in one order (seed 000).
const MAX_USERS_PER_UNIT: usize = 3;
const MAX_LINE: u64 = 64 * 1024;
const MAX_MESSAGE: usize = 10 * 1024 * 1024;
const MAX_RECIPIENTS: usize = 100;
const IDLE: Duration = Duration::from_secs(300);
const SUBJECT_PREFIX: &str = "Beställning av loggutdrag";

pub(crate) struct StoredMail {
    pub(crate) mail: ReceivedMail,
    reference: Option<String>,
    spec: OrderSpec,
    /// Why the journal unit would send the order back instead of an extract.
    refused: Option<&'static str>,
}

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shared.stopped() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let stop = shared.clone();
                    tokio::select! {
                        r = session(stream, &shared) => {
                            if let Err(e) = r {
                                tracing::debug!(error = %e, "smtp session ended with an error");
                            }
                        }
                        () = stop.stopped() => {}
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "smtp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
}

async fn session(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    if shared.faults(Kind::Cosmic).faults.hang {
        shared.count(Kind::Cosmic, |s| {
            s.requests += 1;
            s.hung += 1;
        });
        // Hold the connection open without a greeting; the stop ends the session.
        let _keep = &stream;
        std::future::pending::<()>().await;
        return Ok(());
    }
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(b"220 journalenheten.sim ESMTP loggvakt-simulator\r\n")
        .await?;
    let mut greeted = false;
    let mut authenticated = shared.smtp_login.is_none();
    let mut tx = Transaction::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(
            IDLE,
            (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            write.write_all(b"500 5.5.6 Line too long\r\n").await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
            None => (text.to_ascii_uppercase(), ""),
        };
        let reply: String = match verb.as_str() {
            "EHLO" => {
                greeted = true;
                tx = Transaction::default();
                let auth = if shared.smtp_login.is_some() {
                    "250-AUTH PLAIN LOGIN\r\n"
                } else {
                    ""
                };
                format!(
                    "250-journalenheten.sim hello {arg}\r\n{auth}250-SIZE {MAX_MESSAGE}\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
                )
            }
            "HELO" => {
                greeted = true;
                tx = Transaction::default();
                "250 journalenheten.sim\r\n".into()
            }
            "AUTH" => match &shared.smtp_login {
                None => "502 5.5.1 Not implemented\r\n".into(),
                Some(_) if authenticated => "503 5.5.1 Already authenticated\r\n".into(),
                Some(login) => {
                    let given = auth::exchange(arg, &mut reader, &mut write).await?;
                    if given.as_ref() == Some(login) {
                        authenticated = true;
                        "235 2.7.0 Authentication successful\r\n".into()
                    } else {
                        "535 5.7.8 Authentication credentials invalid\r\n".into()
                    }
                }
            },
            "MAIL" => match address(arg, "FROM:") {
                _ if !greeted => "503 5.5.1 Send HELO/EHLO first\r\n".into(),
                _ if !authenticated => "530 5.7.0 Authentication required\r\n".into(),
                _ if tx.from.is_some() => "503 5.5.1 Nested MAIL command\r\n".into(),
                Some(a) => {
                    tx.from = Some(a);
                    "250 2.1.0 Ok\r\n".into()
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".into(),
            },
            "RCPT" => match address(arg, "TO:") {
                _ if tx.from.is_none() => "503 5.5.1 Need MAIL command\r\n".into(),
                _ if tx.to.len() >= MAX_RECIPIENTS => "452 4.5.3 Too many recipients\r\n".into(),
                Some(a) if !a.is_empty() => {
                    tx.to.push(a);
                    "250 2.1.5 Ok\r\n".into()
                }
                _ => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".into(),
            },
            "DATA" => {
                if tx.to.is_empty() {
                    "503 5.5.1 Need RCPT command\r\n".into()
                } else {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let data = read_data(&mut reader).await?;
                    let tx = std::mem::take(&mut tx);
                    match data {
                        Some(data) => deliver(shared, tx, &data).await,
                        None => "552 5.3.4 Message too big\r\n".into(),
                    }
                }
            }
            "RSET" => {
                tx = Transaction::default();
                "250 2.0.0 Ok\r\n".into()
            }
            "NOOP" => "250 2.0.0 Ok\r\n".into(),
            "VRFY" => "252 2.0.0 Cannot VRFY user\r\n".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            "STARTTLS" => "502 5.5.1 Not implemented\r\n".into(),
            _ => "500 5.5.2 Command not recognized\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// `FROM:<a@b> BODY=8BITMIME` → `a@b` (the null sender `<>` is the empty string).
fn address(arg: &str, keyword: &str) -> Option<String> {
    let rest = arg.get(..keyword.len())?;
    if !rest.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].trim().to_owned())
}

/// The message up to the lone dot, dot-unstuffed; `None` when it is over the size limit (the
/// rest is still read, so the session stays in step).
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut too_big = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut *reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during DATA",
            ));
        }
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + content.len() > MAX_MESSAGE {
            too_big = true;
        }
        if !too_big {
            data.extend_from_slice(content);
        }
    }
    Ok((!too_big).then_some(data))
}

/// The end of DATA: where the journal unit's mail server accepts, defers or misbehaves.
async fn deliver(shared: &Shared, tx: Transaction, data: &[u8]) -> String {
    shared.count(Kind::Cosmic, |s| s.requests += 1);
    let (latency, verdict) = shared.faults(Kind::Cosmic).decide();
    match verdict {
        Verdict::Hang => {
            shared.count(Kind::Cosmic, |s| s.hung += 1);
            shared.stopped().await;
            return "421 4.3.2 Shutting down\r\n".into();
        }
        Verdict::RateLimited { .. } => {
            shared.count(Kind::Cosmic, |s| s.rate_limited += 1);
            return "451 4.7.1 Too many messages, slow down\r\n".into();
        }
        Verdict::Fail(_) => {
            shared.pause(latency).await;
            shared.count(Kind::Cosmic, |s| s.errors_injected += 1);
            return "451 4.3.0 Temporary local problem, try again later\r\n".into();
        }
        Verdict::Proceed => shared.pause(latency).await,
    }

    let parsed = parse_message(data);
    let subject = parsed.header("Subject").unwrap_or("").to_owned();
    let message_id = parsed.header("Message-ID").map(str::to_owned);
    let order_key = parsed
        .header("X-Loggvakt-Order")
        .map(|k| k.trim().to_owned())
        .or_else(|| {
            message_id.as_deref().map(|m| {
                m.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        })
        .filter(|k| !k.is_empty());
    let reference = subject
        .trim()
        .strip_prefix(SUBJECT_PREFIX)
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let known = |t: &str| shared.world.staff_of_kind(Kind::Cosmic, t).is_some();
    let spec = parse_order_text(&parsed.body, &known);

    let mut per_unit: HashMap<&str, usize> = HashMap::new();
    for (u, _, _) in &spec.users {
        let unit = shared
            .world
            .staff_of_kind(Kind::Cosmic, u)
            .map_or("", |s| s.unit.as_str());
        *per_unit.entry(unit).or_default() += 1;
    }
    let refused = if spec.is_empty() {
        Some("no usernames with periods, nor a patient, could be read from the order")
    } else if per_unit.values().any(|n| *n > MAX_USERS_PER_UNIT) {
        Some("more than 3 usernames of one unit in one order")
    } else {
        None
    };

    let mut mails = lock(&shared.mails);
    let duplicate = order_key
        .as_ref()
        .is_some_and(|k| mails.iter().any(|m| m.mail.order_key.as_ref() == Some(k)));
    let queue_id = mails.len() + 1;
    tracing::info!(
        order = order_key.as_deref().unwrap_or("-"),
        users = spec.users.len(),
        duplicate,
        refused = refused.is_some(),
        "cosmic: order mail received"
    );
    mails.push(StoredMail {
        mail: ReceivedMail {
            from: tx.from.unwrap_or_default(),
            to: tx.to,
            subject,
            message_id,
            order_key,
            headers: parsed.headers,
            body: parsed.body,
            raw: data.to_vec(),
        },
        reference,
        spec,
        refused,
    });
    drop(mails);
    shared.count_mail();
    shared.count(Kind::Cosmic, |s| {
        if duplicate {
            s.duplicates += 1;
        } else {
            s.orders_accepted += 1;
        }
        if refused.is_some() {
            s.rejected += 1;
        }
    });
    format!("250 2.0.0 Ok: queued as JE{queue_id:06}\r\n")
}

pub(crate) fn extract_for(shared: &Shared, key: &str) -> Option<Vec<u8>> {
    let key = key.trim();
    let (spec, order_key) = {
        let mails = lock(&shared.mails);
        let m = mails.iter().rev().find(|m| {
            m.mail.order_key.as_deref() == Some(key)
                || m.reference.as_deref() == Some(key)
                || m.mail.message_id.as_deref().is_some_and(|id| {
                    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
                    id == key || id.split('@').next() == Some(key)
                })
        })?;
        if m.refused.is_some() {
            return None;
        }
        (m.spec.clone(), m.mail.order_key.clone().unwrap_or_default())
    };
    let faults = shared.faults(Kind::Cosmic).faults.clone();
    if faults.never_deliver {
        return None;
    }
    let events = shared.world.order_events(Kind::Cosmic, &spec);
    let mut rng = Rng::new(shared.world.seed(), &["felrader", &order_key]);
    Some(extract::cosmic_csv(
        &events,
        faults.malformed_rows,
        &mut rng,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_addresses() {
        assert_eq!(
            address("FROM:<chef@kommun.example> BODY=8BITMIME", "FROM:"),
            Some("chef@kommun.example".into())
        );
        assert_eq!(address("from: <a@b>", "FROM:"), Some("a@b".into()));
        assert_eq!(address("FROM:<>", "FROM:"), Some(String::new()));
        assert_eq!(address("TO:a@b", "TO:"), None);
        assert_eq!(address("X", "FROM:"), None);
    }
}

/// AUTH PLAIN (RFC 4616, with or without the initial response) and AUTH LOGIN.
mod auth {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// The username and password the client gave, or `None` for a malformed exchange.
    pub(super) async fn exchange<R, W>(
        arg: &str,
        reader: &mut R,
        write: &mut W,
    ) -> std::io::Result<Option<(String, String)>>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim().to_owned())),
            None => (arg.trim().to_ascii_uppercase(), None),
        };
        Ok(match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(i) => i,
                    None => ask(reader, write, "").await?,
                };
                plain(&response)
            }
            "LOGIN" => {
                let user = match initial {
                    Some(i) => i,
                    None => ask(reader, write, "VXNlcm5hbWU6").await?,
                };
                let pass = ask(reader, write, "UGFzc3dvcmQ6").await?;
                decode(&user).zip(decode(&pass))
            }
            _ => None,
        })
    }

    /// `authzid NUL authcid NUL password`, base64.
    fn plain(response: &str) -> Option<(String, String)> {
        let decoded = decode(response)?;
        let mut parts = decoded.split('\0');
        let (_authzid, user, pass) = (parts.next(), parts.next()?, parts.next()?);
        Some((user.to_owned(), pass.to_owned()))
    }

    async fn ask<R, W>(reader: &mut R, write: &mut W, challenge: &str) -> std::io::Result<String>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        write
            .write_all(format!("334 {challenge}\r\n").as_bytes())
            .await?;
        let mut line = Vec::new();
        reader
            .take(super::MAX_LINE)
            .read_until(b'\n', &mut line)
            .await?;
        Ok(String::from_utf8_lossy(&line).trim().to_owned())
    }

    fn decode(text: &str) -> Option<String> {
        String::from_utf8(STANDARD.decode(text.trim()).ok()?).ok()
    }
}
