//! What is asked of a connector and what it answers. Everything here is serde because it
//! crosses the plugin ABI as JSON; the JSON shapes are part of the ABI (see `plugin`).

use std::fmt;
use std::io::Read;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::csv_form::RowError;
use crate::{AccessEvent, ConnectorError, Personnummer};

/// Which of the capabilities of DESIGN.md §6 a connector offers. The core only calls the
/// methods that are declared; the others answer [`crate::ErrorKind::Unsupported`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Capabilities {
    /// Sends a request that is answered later (mail, portal form, Lifecare message).
    pub order: bool,
    /// Collects an answer to an earlier order.
    pub poll: bool,
    /// Answers a query at once (Sesam 2).
    pub fetch: bool,
    /// Parses a delivered file of its format.
    pub import: bool,
    /// Records the review's outcome in the source system (an Evolution note).
    pub write_back: bool,
}

/// One of the [`Capabilities`], to name it in [`Capabilities::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Order,
    Poll,
    Fetch,
    Import,
    WriteBack,
}

impl Capabilities {
    /// Exactly the capabilities in `offered`.
    pub fn of(offered: &[Capability]) -> Capabilities {
        let mut c = Capabilities::default();
        for capability in offered {
            let flag = match capability {
                Capability::Order => &mut c.order,
                Capability::Poll => &mut c.poll,
                Capability::Fetch => &mut c.fetch,
                Capability::Import => &mut c.import,
                Capability::WriteBack => &mut c.write_back,
            };
            *flag = true;
        }
        c
    }
}

/// Who a connector is, for the operator's eyes and for the capability check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub capabilities: Capabilities,
    /// How many users one order may name (Cosmic's journal unit takes at most 3 per unit and
    /// order); the host splits larger samples into several orders. `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_users_per_order: Option<u32>,
}

impl Manifest {
    /// A manifest with no limit on the users of one order.
    pub fn new(name: impl Into<String>, version: &str, capabilities: Capabilities) -> Manifest {
        Manifest {
            name: name.into(),
            version: version.into(),
            capabilities,
            max_users_per_order: None,
        }
    }
}

/// A half-open period `[from, to)` of local (Europe/Stockholm) wall time, which is what the
/// source systems' own forms and log views ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Period {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

impl Period {
    pub fn contains(&self, t: NaiveDateTime) -> bool {
        self.from <= t && t < self.to
    }
}

/// A user as the source system knows them; Lifecare's administrators want the name as well.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UserRef {
    pub username: String,
    pub name: Option<String>,
    /// This user's own review period, when it differs from the order's: every sampled user
    /// of a stickprov has a day of their own, while one order names several users. The
    /// order's `period` then spans them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// Whose accesses are asked for: the sampled staff (a routine check) or every access to one
/// patient's record (a targeted check or a patient's request).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Users(Vec<UserRef>),
    Patient(Personnummer),
}

/// An order for an extract. The same `idempotency_key` on a retry must not produce a second
/// order at the peer where the peer lets the connector tell (a message id, a ticket search).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OrderRequest {
    pub idempotency_key: String,
    /// The human order reference quoted in mails and tickets, e.g. `LV-2027-05-17-1`.
    pub reference: String,
    pub subject: Subject,
    pub period: Period,
    /// Whose name the order goes out in: the ordering unit's orderer (by default its
    /// manager). The source systems check who orders (CESÅ, Treserva's user support) and
    /// answer that person. `None` from hosts that predate it; a connector then uses its
    /// system-wide settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orderer: Option<Orderer>,
}

/// The person an order is placed by, and the unit (verksamhet) it is placed for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Orderer {
    pub name: String,
    pub email: String,
    /// The orderer's own username in the system ordered from, where that system checks it
    /// (Treserva: a verksamhetschef's; Lifecare: the message's sender).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Where the orderer can be phoned (Cosmic's journal unit phones the file's password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The ordering unit's name, as the order names it.
    pub unit: String,
}

/// Whose identity a connector's orders carry (the `orderer` setting of a system).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrdererSetting {
    /// The orderer of the ordering unit, carried on each [`OrderRequest`]: the default,
    /// because the source systems check and answer the person who orders.
    #[default]
    Unit,
    /// The system's own settings (a shared functional mailbox or user) for every order,
    /// an explicit choice of the administrator.
    Shared,
}

impl OrdererSetting {
    /// The orderer `req` goes out in the name of under this setting; `None`: the system's
    /// shared identity.
    pub fn of(self, req: &OrderRequest) -> Option<&Orderer> {
        match self {
            OrdererSetting::Unit => req.orderer.as_ref(),
            OrdererSetting::Shared => None,
        }
    }
}

/// What the peer said when the order was placed; handed back to [`crate::Connector::poll`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OrderReceipt {
    /// The peer's ticket number or message id, when it gives one.
    pub external_ref: Option<String>,
    pub note: Option<String>,
}

/// The answer to a poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PollOutcome {
    /// Nothing yet; poll again later.
    Pending,
    /// The extract arrived; the core passes it to [`crate::Connector::import`].
    Delivered(Extract),
    /// The peer said no, or the order expired; ordering again is a human decision.
    NeverComing { reason: String },
}

/// A delivered file, as delivered. Its bytes are base64 in JSON.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Extract {
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    #[serde(with = "crate::base64_serde")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub bytes: Vec<u8>,
}

/// The bytes are personal data; `Debug` shows their size only.
impl fmt::Debug for Extract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extract")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// A synchronous query (Sesam 2's Loggöversikt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FetchQuery {
    pub subject: Subject,
    pub period: Period,
}

/// The outcome of a review as the source system records it (Evolution's note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ReviewOutcome {
    /// Utan anmärkning: nothing to remark on.
    #[serde(rename = "utan_anmarkning")]
    UtanAnmarkning,
    /// Med anmärkning: something was found and is followed up.
    #[serde(rename = "med_anmarkning")]
    MedAnmarkning,
}

/// What to write back into the source system once a review is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WriteBack {
    /// The same key on a retry must not write a second note where the peer lets the
    /// connector tell; empty from hosts that predate it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idempotency_key: String,
    pub reference: String,
    pub subject: Subject,
    pub period: Period,
    pub outcome: ReviewOutcome,
    pub comment: Option<String>,
}

/// Bounds on an import, so that a wrong or hostile file cannot exhaust the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportLimits {
    pub max_bytes: u64,
}

impl ImportLimits {
    /// Reads all of `input`, refusing it as soon as it exceeds `max_bytes` rather than after
    /// reading it all.
    pub fn read_all(&self, input: &mut dyn Read) -> Result<Vec<u8>, ConnectorError> {
        let mut bytes = Vec::new();
        input
            .take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| ConnectorError::permanent(format!("cannot read the file: {e}")))?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(ConnectorError::permanent(format!(
                "the file is larger than the import limit of {} bytes",
                self.max_bytes
            )));
        }
        Ok(bytes)
    }

    /// `input` as a reader that fails once more than `max_bytes` have come through it: what a
    /// streamed import reads through, since it never holds the whole file.
    pub fn reader<'r>(&self, input: &'r mut dyn Read) -> LimitedReader<'r> {
        LimitedReader {
            inner: input,
            left: self.max_bytes,
            max_bytes: self.max_bytes,
        }
    }
}

/// See [`ImportLimits::reader`].
pub struct LimitedReader<'r> {
    inner: &'r mut dyn Read,
    left: u64,
    max_bytes: u64,
}

impl Read for LimitedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One byte past the limit is asked for, so that a file of exactly the limit passes
        // and one byte more is told apart from the end.
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "the file is larger than the import limit of {} bytes",
                self.max_bytes
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// How many events a streamed import hands over at a time: large enough that the per-chunk
/// work (a channel hand-over, a database batch) is noise, small enough that a chunk is a few
/// megabytes.
pub const IMPORT_CHUNK_EVENTS: usize = 8192;

/// The events of an import and the rows that could not be read. Rejected rows do not fail
/// the import: the reviewer sees them, and a whole extract is not lost for one bad line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportOutcome {
    pub events: Vec<AccessEvent>,
    pub rejected: Vec<RowError>,
    /// The file line each event came from, parallel to `events` (empty when the source has
    /// no lines), so that the host's own checks (ordered user, period) can name the line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<u64>,
}

impl ImportOutcome {
    /// The source line of event `i`, when known.
    pub fn line_of(&self, i: usize) -> Option<u64> {
        self.lines.get(i).copied()
    }
}

/// Hands a whole import to `sink` in chunks of [`IMPORT_CHUNK_EVENTS`] events, each with the
/// refused rows that come before its last event's line (all of them with the first chunk when
/// the source has no lines), so that a sink sees rows in file order either way.
pub(crate) fn hand_over_in_chunks(
    whole: ImportOutcome,
    sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
) -> Result<(), ConnectorError> {
    let ImportOutcome {
        events,
        mut rejected,
        lines,
    } = whole;
    rejected.sort_by_key(|r| r.line);
    let mut rejected = rejected.into_iter().peekable();
    let mut events = events.into_iter();
    let mut lines = lines.into_iter();
    let has_lines = lines.len() > 0;
    loop {
        let chunk_events: Vec<AccessEvent> = events.by_ref().take(IMPORT_CHUNK_EVENTS).collect();
        let chunk_lines: Vec<u64> = lines.by_ref().take(chunk_events.len()).collect();
        let last = events.len() == 0;
        let upto = if last || !has_lines {
            u64::MAX
        } else {
            chunk_lines.last().copied().unwrap_or(u64::MAX)
        };
        let mut chunk_rejected = Vec::new();
        while let Some(r) = rejected.next_if(|r| r.line <= upto) {
            chunk_rejected.push(r);
        }
        sink(ImportOutcome {
            events: chunk_events,
            rejected: chunk_rejected,
            lines: chunk_lines,
        })?;
        if last {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    #[test]
    fn a_whole_import_is_handed_over_in_chunks_in_file_order() {
        let event = |n: u32| {
            crate::AccessEvent::new(
                "s",
                &format!("u{n}"),
                at("2027-01-01T00:00:00"),
                crate::Personnummer::parse("19121212-1212").unwrap(),
                crate::Action::Read,
                "x",
            )
        };
        let n = IMPORT_CHUNK_EVENTS as u64 + 10;
        let whole = ImportOutcome {
            events: (0..n).map(|i| event(i as u32)).collect(),
            // The header is line 1; every 1000th row is refused.
            lines: (0..n).map(|i| i + 2 + i / 1000).collect(),
            rejected: (0..=n / 1000)
                .rev()
                .map(|k| crate::RowError {
                    line: 2 + k * 1001 + 1000,
                    field: None,
                    reason: "bad".into(),
                })
                .collect(),
        };
        let mut chunks = Vec::new();
        hand_over_in_chunks(whole.clone(), &mut |c| {
            chunks.push(c);
            Ok(())
        })
        .unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].events.len(), IMPORT_CHUNK_EVENTS);
        let mut seen_lines: Vec<u64> = chunks
            .iter()
            .flat_map(|c| {
                c.lines
                    .iter()
                    .copied()
                    .chain(c.rejected.iter().map(|r| r.line))
            })
            .collect();
        let in_order = seen_lines.clone();
        seen_lines.sort_unstable();
        assert_eq!(in_order.len(), whole.events.len() + whole.rejected.len());
        // Each chunk's refused rows come before the next chunk's events.
        let first_max = chunks[0].lines.last().copied().unwrap();
        assert!(chunks[0].rejected.iter().all(|r| r.line < first_max));
        assert!(chunks[1].rejected.iter().all(|r| r.line > first_max));
        let mut stopped = 0;
        let err = hand_over_in_chunks(whole, &mut |_| {
            stopped += 1;
            Err(ConnectorError::permanent("enough"))
        })
        .unwrap_err();
        assert_eq!((stopped, err.message.as_str()), (1, "enough"));
    }

    #[test]
    fn the_limited_reader_passes_the_limit_and_fails_one_byte_past_it() {
        let limits = ImportLimits { max_bytes: 4 };
        let mut exact = &b"abcd"[..];
        let mut out = Vec::new();
        limits.reader(&mut exact).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcd");
        let mut over = &b"abcde"[..];
        let err = limits
            .reader(&mut over)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("4 bytes"), "{err}");
    }

    #[test]
    fn extract_bytes_are_base64_in_json_and_hidden_in_debug() {
        let x = Extract {
            file_name: Some("logg.csv".into()),
            content_type: None,
            bytes: b"191212121212".to_vec(),
        };
        let json = serde_json::to_string(&PollOutcome::Delivered(x.clone())).unwrap();
        assert_eq!(
            json,
            r#"{"delivered":{"file_name":"logg.csv","content_type":null,"bytes":"MTkxMjEyMTIxMjEy"}}"#
        );
        assert_eq!(
            serde_json::from_str::<PollOutcome>(&json).unwrap(),
            PollOutcome::Delivered(x.clone())
        );
        assert!(!format!("{x:?}").contains("1912"), "{x:?}");
        assert!(
            serde_json::from_str::<Extract>(
                r#"{"file_name":null,"content_type":null,"bytes":"!!"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn json_shapes_of_the_enums() {
        assert_eq!(
            serde_json::to_string(&PollOutcome::Pending).unwrap(),
            r#""pending""#
        );
        assert_eq!(
            serde_json::to_string(&PollOutcome::NeverComing {
                reason: "nej".into()
            })
            .unwrap(),
            r#"{"never_coming":{"reason":"nej"}}"#
        );
        assert_eq!(
            serde_json::to_string(&ReviewOutcome::UtanAnmarkning).unwrap(),
            r#""utan_anmarkning""#
        );
        assert_eq!(
            serde_json::to_string(&ReviewOutcome::MedAnmarkning).unwrap(),
            r#""med_anmarkning""#
        );
        let s = Subject::Patient(Personnummer::parse("19121212-1212").unwrap());
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"patient":"191212121212"}"#
        );
        let s = Subject::Users(vec![UserRef {
            username: "C821234".into(),
            name: None,
            period: None,
        }]);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"users":[{"username":"C821234","name":null}]}"#
        );
    }

    /// The orderer is an addition to the plugin ABI's JSON: absent, it is left out, and a
    /// request without it (from an older host) reads as before.
    #[test]
    fn the_orderer_is_optional_in_json() {
        let period = Period {
            from: at("2027-05-01T00:00:00"),
            to: at("2027-06-01T00:00:00"),
        };
        let mut req = OrderRequest {
            idempotency_key: "k".into(),
            reference: "LV-1".into(),
            subject: Subject::Users(vec![]),
            period,
            orderer: None,
        };
        let json = serde_json::to_string(&req).unwrap();
        assert!(!json.contains("orderer"), "{json}");
        assert_eq!(serde_json::from_str::<OrderRequest>(&json).unwrap(), req);
        req.orderer = Some(Orderer {
            name: "Britt".into(),
            email: "britt@kommun.example".into(),
            username: None,
            phone: None,
            unit: "Björken".into(),
        });
        let json = serde_json::to_string(&req).unwrap();
        assert!(
            json.contains(
                r#""orderer":{"name":"Britt","email":"britt@kommun.example","unit":"Björken"}"#
            ),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<OrderRequest>(&json).unwrap(), req);
        assert_eq!(OrdererSetting::Unit.of(&req), req.orderer.as_ref());
        assert_eq!(OrdererSetting::Shared.of(&req), None);
        assert_eq!(OrdererSetting::default(), OrdererSetting::Unit);
    }

    #[test]
    fn period_is_half_open() {
        let p = Period {
            from: at("2027-05-01T00:00:00"),
            to: at("2027-06-01T00:00:00"),
        };
        assert!(p.contains(at("2027-05-01T00:00:00")));
        assert!(p.contains(at("2027-05-31T23:59:59")));
        assert!(!p.contains(at("2027-06-01T00:00:00")));
    }

    #[test]
    fn read_all_stops_at_the_limit() {
        let limits = ImportLimits { max_bytes: 4 };
        assert_eq!(limits.read_all(&mut &b"abcd"[..]).unwrap(), b"abcd");
        let err = limits.read_all(&mut &b"abcde"[..]).unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.message.contains("4 bytes"), "{err}");
    }
}
