//! Rules the connectors apply alike: how settings errors read, which HTTP answers a retry can
//! help, and how a peer's text is made safe to log.

use chrono::NaiveDateTime;
use loggvakt_connector::{ConnectorError, OrdererSetting, Period};

/// A setting that must stay out of logs, such as an API token: its `Debug` is `<hidden>`,
/// so a settings struct can derive `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret to send, without the white space a pasted token often carries.
    pub fn expose(&self) -> &str {
        self.0.trim()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A `Config` error about one setting.
pub fn bad_setting(system_id: &str, setting: &str, problem: &str) -> ConnectorError {
    ConnectorError::config(format!("system {system_id}: setting `{setting}` {problem}"))
}

/// Checks that `orderer = "shared"` comes with `setting`, which names the shared orderer
/// (`who`): without it no order could be sent.
pub fn require_for_shared(
    system_id: &str,
    orderer: OrdererSetting,
    setting: &str,
    value: Option<&str>,
    who: &str,
) -> Result<(), ConnectorError> {
    if orderer == OrdererSetting::Shared && value.is_none() {
        let problem = format!("is required with orderer = \"shared\": {who}");
        return Err(bad_setting(system_id, setting, &problem));
    }
    Ok(())
}

/// Checks a request timeout in seconds (fractions allowed) and turns it into a duration.
pub fn timeout(system_id: &str, secs: f64) -> Result<std::time::Duration, ConnectorError> {
    if secs.is_finite() && secs > 0.0 && secs <= 3600.0 {
        Ok(std::time::Duration::from_secs_f64(secs))
    } else {
        Err(bad_setting(
            system_id,
            "timeout_secs",
            "must be a number of seconds above 0 and at most 3600",
        ))
    }
}

/// The error for an HTTP answer that is not a success. `what` says what was asked
/// (`"the order"`); `detail` is the peer's own explanation, which is redacted first.
///
/// 429 and 5xx are retryable (with the peer's `Retry-After`, when it gives one, in the
/// message for the host's backoff to read); every other status is permanent.
pub fn status_error(
    status: u16,
    retry_after: Option<&str>,
    detail: Option<&str>,
    what: &str,
) -> ConnectorError {
    let detail = detail
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| format!(": {}", redact(&truncate(d, 200))))
        .unwrap_or_default();
    let wait = retry_after
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| match r.parse::<u64>() {
            Ok(secs) => format!("; retry after {secs} seconds"),
            Err(_) => format!("; retry after {r}"),
        })
        .unwrap_or_default();
    let hint = if status == 401 {
        "; the credentials were refused (check the setting `token`)"
    } else {
        ""
    };
    let message = format!("{what} was answered with HTTP {status}{detail}{hint}{wait}");
    if status == 429 || (500..600).contains(&status) {
        ConnectorError::retryable(message)
    } else {
        ConnectorError::permanent(message)
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Replaces every run that looks like a personnummer (10 or 12 digits, with or without a
/// dash or plus) with `<personnummer>`. Peers' error texts quote the form they refused, and
/// such text goes to logs and the audit trail.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let run = |from: usize| {
        chars[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let n = run(i);
        let sep = i + n;
        let dashed = matches!(n, 6 | 8)
            && matches!(chars.get(sep), Some('-' | '+'))
            && sep + 1 < chars.len()
            && run(sep + 1) == 4;
        if dashed {
            out.push_str("<personnummer>");
            i = sep + 5;
        } else if matches!(n, 10 | 12) {
            out.push_str("<personnummer>");
            i = sep;
        } else {
            out.extend(&chars[i..sep]);
            i = sep;
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM`, the form of the order forms and mails.
pub fn minutes(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// A period as people read it in a mail or note: `2027-04-12 00:00 – 2027-04-13 00:00`.
pub fn period_text(p: &Period) -> String {
    format!("{} – {}", minutes(p.from), minutes(p.to))
}

#[cfg(feature = "http")]
pub mod http {
    //! The HTTP client side the portal, Loggöversikt and Lifecare connectors share.

    use std::time::Duration;

    use loggvakt_connector::ConnectorError;
    use reqwest::{Client, RequestBuilder, Response, Url};
    use serde::de::DeserializeOwned;

    /// A client whose every request times out after `timeout`, trusting the OS store and
    /// the extra CAs of [`loggvakt_connector::tls`].
    pub fn client(timeout: Duration) -> Result<Client, ConnectorError> {
        let mut builder = Client::builder().timeout(timeout).connect_timeout(timeout);
        if let Some(pem) = loggvakt_connector::tls::extra_roots() {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                ConnectorError::config(format!("the extra CA bundle cannot be read: {e}"))
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        builder
            .build()
            .map_err(|e| ConnectorError::config(format!("cannot set up the HTTP client: {e}")))
    }

    /// What an HTTP connector keeps of its peer: the system id for its errors, the checked
    /// base URL, and a client with the configured timeout.
    #[derive(Debug)]
    pub struct Peer {
        pub system_id: String,
        pub base: Url,
        pub client: Client,
    }

    impl Peer {
        /// Checks the base URL in `setting` and the timeout, and sets up the client.
        pub fn new(
            system_id: &str,
            setting: &str,
            url: &str,
            timeout_secs: f64,
        ) -> Result<Self, ConnectorError> {
            let base = base_url(system_id, setting, url)?;
            let timeout = super::timeout(system_id, timeout_secs)?;
            Ok(Self {
                system_id: system_id.to_owned(),
                base,
                client: client(timeout)?,
            })
        }

        /// Checks that the peer answers at its base URL (see [`reachable`]).
        pub async fn reachable(&self, what: &str) -> Result<(), ConnectorError> {
            reachable(&self.client, self.base.clone(), what).await
        }
    }

    /// Checks a base URL setting: absolute, http or https.
    pub fn base_url(system_id: &str, setting: &str, text: &str) -> Result<Url, ConnectorError> {
        let url = Url::parse(text.trim())
            .map_err(|_| super::bad_setting(system_id, setting, "is not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(super::bad_setting(
                system_id,
                setting,
                "must be an http or https URL",
            ));
        }
        Ok(url)
    }

    /// `base` with `segments` appended as path segments, each escaped, so a ticket number
    /// from a peer cannot change the path.
    pub fn endpoint(base: &Url, segments: &[&str]) -> Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends one request. Transport failures and 429/5xx are retryable, other statuses
    /// permanent; `what` names the request in the message. Messages never carry the URL,
    /// whose query may hold a personnummer.
    pub async fn send(request: RequestBuilder, what: &str) -> Result<Response, ConnectorError> {
        let response = request.send().await.map_err(|e| transport_error(e, what))?;
        check(response, what).await
    }

    /// Passes a success through; any other status becomes the error [`send`] describes.
    pub async fn check(response: Response, what: &str) -> Result<Response, ConnectorError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.unwrap_or_default();
        let detail = peer_explanation(&body);
        Err(super::status_error(
            status.as_u16(),
            retry_after.as_deref(),
            detail.as_deref(),
            what,
        ))
    }

    /// Reads a JSON answer; one that does not parse is `Malformed`.
    pub async fn json<T: DeserializeOwned>(
        response: Response,
        what: &str,
    ) -> Result<T, ConnectorError> {
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(e, what))?;
        serde_json::from_slice(&body).map_err(|e| {
            // serde_json's message names a position and an expectation, not the input.
            ConnectorError::malformed(format!(
                "the answer to {what} is not the expected JSON: {e}"
            ))
        })
    }

    /// The health check of an HTTP system: any answer below 500 shows that it is up. The
    /// systems have no side-effect-free call that checks more (a log query would itself be
    /// logged as a look at the log).
    pub async fn reachable(client: &Client, url: Url, what: &str) -> Result<(), ConnectorError> {
        let response = client
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error(e, what))?;
        if response.status().is_server_error() {
            return Err(super::status_error(
                response.status().as_u16(),
                None,
                None,
                what,
            ));
        }
        Ok(())
    }

    pub fn transport_error(e: reqwest::Error, what: &str) -> ConnectorError {
        let e = e.without_url();
        if e.is_builder() {
            ConnectorError::config(format!("{what} cannot be built: {e}"))
        } else if e.is_decode() {
            ConnectorError::malformed(format!("the answer to {what} cannot be read: {e}"))
        } else if e.is_timeout() {
            ConnectorError::retryable(format!("{what} timed out"))
        } else if e.is_connect() {
            let cause = root_cause(&e);
            let hint = if cause.to_lowercase().contains("certificate") {
                " (is the system's CA in the --extra-ca bundle?)"
            } else {
                ""
            };
            ConnectorError::retryable(format!("{what}: cannot connect: {cause}{hint}"))
        } else {
            ConnectorError::retryable(format!("{what} failed: {e}"))
        }
    }

    /// The innermost cause of a transport error: reqwest's own text ("error sending
    /// request") says nothing of the refused certificate or the refused connection below it.
    fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
        let mut cause = e;
        while let Some(source) = cause.source() {
            cause = source;
        }
        cause.to_string()
    }

    /// The portals explain a refusal as `{"fel": "…", "falt": "…"}`.
    fn peer_explanation(body: &[u8]) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let fel = v.get("fel")?.as_str()?;
        Some(match v.get("falt").and_then(|f| f.as_str()) {
            Some(falt) => format!("{fel} (fält {falt})"),
            None => fel.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_personnummer_but_keeps_other_numbers() {
        assert_eq!(
            redact("personnummer 19121212-1212 saknas, 191212121212 också, 121212-1212 med"),
            "personnummer <personnummer> saknas, <personnummer> också, <personnummer> med"
        );
        assert_eq!(redact("fält 3 av 2027-04-12"), "fält 3 av 2027-04-12");
        assert_eq!(redact("ärende TS-2027-000123"), "ärende TS-2027-000123");
    }

    #[test]
    fn status_codes_map_to_kinds() {
        let e = status_error(429, Some("30"), None, "the order");
        assert!(e.is_retryable());
        assert!(e.message.contains("retry after 30 seconds"), "{e}");
        assert!(status_error(503, None, None, "x").is_retryable());
        for s in [400, 401, 403, 404, 422] {
            assert!(!status_error(s, None, None, "x").is_retryable(), "{s}");
        }
        let e = status_error(
            422,
            None,
            Some("fel personnummer 191212121212"),
            "the order",
        );
        assert!(!e.message.contains("1912"), "{e}");
    }

    #[test]
    fn secrets_are_hidden_in_debug_and_sent_trimmed() {
        let s: Secret = serde_json::from_value(serde_json::json!(" hemligt\n")).unwrap();
        assert_eq!(s.expose(), "hemligt");
        assert_eq!(format!("{s:?}"), "<hidden>");
    }
}
