//! Just enough of RFC 5322 / MIME to read an order mail: unfolded headers, RFC 2047 encoded
//! words, quoted-printable and base64 bodies, UTF-8 or Latin-1, and the text part of a
//! multipart message.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedMail {
    /// Names as written, values unfolded and decoded.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl ParsedMail {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub(crate) fn parse_message(raw: &[u8]) -> ParsedMail {
    let (headers, body) = split_headers(raw);
    let text = part_text(&headers, body, 0);
    ParsedMail {
        headers,
        body: text,
    }
}

fn split_headers(raw: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = match find(raw, b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => match find(raw, b"\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None => (raw, &raw[raw.len()..]),
        },
    };
    let head = String::from_utf8_lossy(head);
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    for (_, v) in &mut headers {
        *v = decode_encoded_words(v.trim());
    }
    (headers, body)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `text/plain; charset="utf-8"` → (`text/plain`, [("charset", "utf-8")]).
fn content_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = value.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect();
    (mime, params)
}

fn part_text(headers: &[(String, String)], body: &[u8], depth: u32) -> String {
    let (mime, params) = content_type(header(headers, "Content-Type").unwrap_or("text/plain"));
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if mime.starts_with("multipart/")
        && depth < 5
        && let Some(boundary) = param("boundary")
    {
        let parts = split_multipart(body, boundary);
        let parsed: Vec<_> = parts.iter().map(|p| split_headers(p)).collect();
        let is_plain = |h: &[(String, String)]| {
            content_type(header(h, "Content-Type").unwrap_or("text/plain")).0 == "text/plain"
        };
        let chosen = parsed
            .iter()
            .find(|(h, _)| is_plain(h))
            .or_else(|| parsed.first());
        return chosen
            .map(|(h, b)| part_text(h, b, depth + 1))
            .unwrap_or_default();
    }
    let encoding = header(headers, "Content-Transfer-Encoding")
        .unwrap_or("7bit")
        .trim()
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => decode_qp(body, false),
        "base64" => decode_base64(body),
        _ => body.to_vec(),
    };
    decode_charset(&bytes, param("charset").unwrap_or("utf-8")).replace("\r\n", "\n")
}

fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut current: Option<usize> = None;
    let mut pos = 0;
    for line in body.split_inclusive(|b| *b == b'\n') {
        let trimmed = line.trim_ascii_end();
        if trimmed.starts_with(delimiter.as_bytes()) {
            if let Some(start) = current {
                // The line break before the delimiter belongs to the delimiter.
                let mut end = pos;
                if body[..end].ends_with(b"\r\n") {
                    end -= 2;
                } else if body[..end].ends_with(b"\n") {
                    end -= 1;
                }
                parts.push(&body[start..end.max(start)]);
            }
            if trimmed.ends_with(b"--") && trimmed.len() == delimiter.len() + 2 {
                break;
            }
            current = Some(pos + line.len());
        }
        pos += line.len();
    }
    parts
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Quoted-printable; `q_encoding` is RFC 2047's variant where `_` is a space.
fn decode_qp(input: &[u8], q_encoding: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'=' => {
                if input[i + 1..].starts_with(b"\r\n") {
                    i += 3;
                } else if input[i + 1..].starts_with(b"\n") {
                    i += 2;
                } else if let (Some(h), Some(l)) = (
                    input.get(i + 1).copied().and_then(hex),
                    input.get(i + 2).copied().and_then(hex),
                ) {
                    out.push(h * 16 + l);
                    i += 3;
                } else {
                    out.push(b'=');
                    i += 1;
                }
            }
            b'_' if q_encoding => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn decode_base64(input: &[u8]) -> Vec<u8> {
    let clean: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    STANDARD.decode(&clean).unwrap_or_default()
}

fn decode_charset(bytes: &[u8], charset: &str) -> String {
    let cs = charset.trim().to_ascii_lowercase();
    if matches!(
        cs.as_str(),
        "iso-8859-1" | "iso-8859-15" | "latin1" | "windows-1252"
    ) {
        // Close enough for Swedish text: å, ä, ö sit at the same code points.
        bytes.iter().map(|&b| b as char).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?UTF-8?Q?…?=`); whitespace between two
/// adjacent encoded words is dropped, as the RFC says.
pub(crate) fn decode_encoded_words(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    let mut pending_ws = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        if let Some((decoded, len)) = encoded_word(rest) {
            if !last_was_word {
                out.push_str(&pending_ws);
            }
            pending_ws.clear();
            out.push_str(&decoded);
            rest = &rest[len..];
            last_was_word = true;
            continue;
        }
        let c = rest.chars().next().expect("not empty");
        if c.is_whitespace() {
            pending_ws.push(c);
        } else {
            out.push_str(&pending_ws);
            pending_ws.clear();
            out.push(c);
            last_was_word = false;
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&pending_ws);
    out
}

/// One encoded word at the start of `s`: its text and its length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let body = s.strip_prefix("=?")?;
    let (charset, after) = body.split_once('?')?;
    let (enc, after) = after.split_once('?')?;
    let end = after.find("?=")?;
    let text = &after[..end];
    if text.contains(char::is_whitespace) || charset.is_empty() {
        return None;
    }
    // RFC 2231 allows `charset*language`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = match enc {
        "b" | "B" => STANDARD.decode(text).ok()?,
        "q" | "Q" => decode_qp(text.as_bytes(), true),
        _ => return None,
    };
    // `after` is a suffix of `s`; the word ends two bytes past `end` in it.
    let consumed = s.len() - after.len() + end + 2;
    Some((decode_charset(&bytes, charset), consumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words() {
        for (header, decoded) in [
            (
                "=?utf-8?b?QmVzdMOkbGxuaW5n?= av loggutdrag",
                "Beställning av loggutdrag",
            ),
            (
                "=?UTF-8?Q?Best=C3=A4llning_av?=\r\n =?UTF-8?Q?_loggutdrag?= X",
                "Beställning av loggutdrag X",
            ),
            ("plain =? text", "plain =? text"),
            ("=?iso-8859-1?q?G=F6ran?=", "Göran"),
        ] {
            assert_eq!(decode_encoded_words(header), decoded);
        }
    }

    #[test]
    fn quoted_printable_body_with_soft_breaks() {
        let raw = b"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\r\n\
            Anv=C3=A4ndare: C821234: 2027-04-12 00:00 =E2=80=93 2027-04-13 =\r\n00:00\r\n";
        let m = parse_message(raw);
        assert_eq!(m.header("subject"), Some("x"));
        assert_eq!(
            m.body,
            "Användare: C821234: 2027-04-12 00:00 – 2027-04-13 00:00\n"
        );
    }

    #[test]
    fn base64_inside_multipart() {
        let text = STANDARD.encode("Hej på dig".as_bytes());
        let raw = format!(
            "Content-Type: multipart/alternative; boundary=\"XYZ\"\r\n\r\n\
             preamble\r\n--XYZ\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n\
             --XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{text}\r\n--XYZ--\r\n"
        );
        assert_eq!(parse_message(raw.as_bytes()).body, "Hej på dig");
    }

    #[test]
    fn folded_headers_unfold() {
        let m = parse_message(b"X-Loggvakt-Order:\r\n abc-123\r\nSubject: a\r\n b\r\n\r\nbody");
        assert_eq!(m.header("x-loggvakt-order"), Some("abc-123"));
        assert_eq!(m.header("Subject"), Some("a b"));
        assert_eq!(m.body, "body");
    }
}
