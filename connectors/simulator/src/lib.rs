//! `loggvakt-simulator`: stand-ins for the four closed source systems loggvakt orders and
//! fetches access-log extracts from, speaking the protocols of `connectors/PROTOCOLS.md`
//! from the server side:
//!
//! * Cosmic's journal unit: an SMTP listener that receives order mails; the extract it would
//!   send back (encrypted, out of band) is [`Simulator::cosmic_extract`].
//! * Treserva's self-service portal, Sesam 2's Loggöversikt and Lifecare's message service:
//!   one HTTP listener each.
//!
//! The logs are believable and deterministic: every staff member's accesses follow from the
//! seed, the username and the day ([`Simulator::events_for`] is the ground truth), with a few
//! planted anomalies ([`Simulator::anomalies_for`]). The simulator behaves like the real
//! systems rather than a yes-machine: it refuses what they refuse, counts duplicate orders,
//! and misbehaves on request ([`SystemFaults`]).
//!
//! Access logs are personal data even when made up, so nothing here logs a personnummer or a
//! name; tracing carries ids and counts only.

// Handlers return early with a ready `Response`; boxing it would only add noise on a test server.
#![allow(clippy::result_large_err)]

mod extract;
mod faults;
mod http;
mod lifecare;
mod mime;
mod order;
mod rng;
mod sesam2;
mod smtp;
mod treserva;
mod world;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::NaiveDateTime;
use loggvakt_connector::{AccessEvent, Personnummer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use world::{AnomalyKind, PlantedAnomaly, SimPatient, within_working_hours};

use faults::FaultState;
use world::{Kind, World};

/// A staff member whose accesses the simulator generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimStaff {
    /// The configured system id (`cosmic`, `treserva`, `sesam2`, `lifecare`, or a name that
    /// starts with one of them, such as `cosmic-region`; `evolution` is Lifecare). It is also
    /// the `system` of the generated events.
    pub system: String,
    pub username: String,
    pub name: String,
    pub unit: String,
    /// When known, the planted anomalies include the user reading their own record.
    pub personnummer: Option<Personnummer>,
    /// Works nights (21:00–07:00) instead of days (07:00–17:00).
    pub night: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    pub seed: u64,
    pub staff: Vec<SimStaff>,
    /// Patients with protected identity; some planted anomalies are accesses to them.
    pub protected: Vec<Personnummer>,
    pub faults: Faults,
    /// Requesters Treserva accepts as verksamhetschef: usernames (checked when the form gives
    /// `bestallare_anvandarnamn`) or e-mails (otherwise); empty accepts everyone.
    pub treserva_verksamhetschefer: Vec<String>,
    /// The bearer token Sesam 2 requires; empty requires none.
    pub sesam2_token: String,
    /// The bearer token Lifecare requires; empty requires none.
    pub lifecare_token: String,
    /// How long after an order Treserva and Lifecare deliver; zero delivers on the next poll.
    pub delivery_delay: Duration,
    /// The username and password the journal unit's mail server wants (AUTH PLAIN or LOGIN)
    /// before it takes a mail; `None` takes mail from anyone, like a relay on the inside.
    pub smtp_login: Option<(String, String)>,
}

/// Misbehaviour per system.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    pub cosmic: SystemFaults,
    pub treserva: SystemFaults,
    pub sesam2: SystemFaults,
    pub lifecare: SystemFaults,
}

impl Faults {
    fn get(&self, kind: Kind) -> &SystemFaults {
        match kind {
            Kind::Cosmic => &self.cosmic,
            Kind::Treserva => &self.treserva,
            Kind::Sesam2 => &self.sesam2,
            Kind::Lifecare => &self.lifecare,
        }
    }
}

/// How one system misbehaves. The default is an honest, prompt system.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SystemFaults {
    /// Added before every answer.
    pub latency: Duration,
    /// Share (0..1) of requests answered with a 5xx (SMTP: 451), drawn from the seed.
    pub error_rate: f64,
    /// The next N requests fail with 503 (SMTP: 451), then requests succeed again.
    pub fail_next: u32,
    /// Accept the connection or request and never answer, until the simulator stops.
    pub hang: bool,
    /// This many malformed rows mixed into every extract.
    pub malformed_rows: u32,
    /// Orders are accepted but the extract never comes (Treserva stays `behandlas`, Lifecare
    /// never replies, Cosmic's journal unit never sends a file).
    pub never_deliver: bool,
    /// Over this many requests a second, HTTP answers 429 with `Retry-After` (SMTP: 451).
    pub rate_limit_per_sec: Option<u32>,
}

/// Listening ports; 0 takes any free port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub smtp: u16,
    pub treserva: u16,
    pub sesam2: u16,
    pub lifecare: u16,
}

impl Ports {
    /// Any free ports: for tests.
    pub fn any() -> Self {
        Ports {
            smtp: 0,
            treserva: 0,
            sesam2: 0,
            lifecare: 0,
        }
    }

    /// The well-known ports of `loggvakt simulate`.
    pub fn fixed() -> Self {
        Ports {
            smtp: 2525,
            treserva: 8481,
            sesam2: 8482,
            lifecare: 8483,
        }
    }
}

/// What one system saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemStats {
    /// Every HTTP request, or every mail transaction (and hung connection) for Cosmic.
    pub requests: u64,
    /// Orders accepted the first time.
    pub orders_accepted: u64,
    /// Orders with an idempotency key already accepted (and, for Lifecare, a note identical
    /// to one already written). A correct client keeps this at 0.
    pub duplicates: u64,
    /// Requests answered with an injected 5xx / 451.
    pub errors_injected: u64,
    /// Requests refused by the rate limit.
    pub rate_limited: u64,
    /// Requests or connections left hanging.
    pub hung: u64,
    /// Requests refused for their content: 400, 401, 403, 404, 409, 422; for Cosmic, order
    /// mails the journal unit would send back (more than 3 users of one unit, nothing to read).
    pub rejected: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub cosmic: SystemStats,
    pub treserva: SystemStats,
    pub sesam2: SystemStats,
    pub lifecare: SystemStats,
    /// Mails the journal unit's listener accepted (250 after DATA).
    pub mails_received: u64,
}

impl Stats {
    /// The counts of `system` (`cosmic`, `treserva`, `sesam2`, `lifecare` or a system id
    /// starting with one of them).
    pub fn system(&self, system: &str) -> Option<&SystemStats> {
        Kind::of(system).map(|k| self.get(k))
    }

    /// Duplicates over all systems: what an end-to-end test asserts to be 0.
    pub fn total_duplicates(&self) -> u64 {
        Kind::ALL.iter().map(|k| self.get(*k).duplicates).sum()
    }

    fn get(&self, kind: Kind) -> &SystemStats {
        match kind {
            Kind::Cosmic => &self.cosmic,
            Kind::Treserva => &self.treserva,
            Kind::Sesam2 => &self.sesam2,
            Kind::Lifecare => &self.lifecare,
        }
    }

    fn get_mut(&mut self, kind: Kind) -> &mut SystemStats {
        match kind {
            Kind::Cosmic => &mut self.cosmic,
            Kind::Treserva => &mut self.treserva,
            Kind::Sesam2 => &mut self.sesam2,
            Kind::Lifecare => &mut self.lifecare,
        }
    }
}

/// A mail as the journal unit's SMTP listener received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// Decoded from RFC 2047 encoded words.
    pub subject: String,
    /// The `Message-ID` header as written, angle brackets included.
    pub message_id: Option<String>,
    /// The `X-Loggvakt-Order` header (or, without one, the `Message-ID` without brackets):
    /// the key duplicates are counted by.
    pub order_key: Option<String>,
    /// All headers, unfolded and decoded, in order.
    pub headers: Vec<(String, String)>,
    /// The text body, transfer encoding and charset undone, line ends as `\n`.
    pub body: String,
    /// The message exactly as it came after `DATA` (dot-stuffing undone): what the journal
    /// unit's mail client would show, with its own headers, charset and encoding.
    pub raw: Vec<u8>,
}

/// An Evolution note written back through Lifecare's `POST /api/anteckningar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: String,
    pub referens: String,
    pub text: String,
    pub anvandare: Vec<String>,
}

/// An order as Treserva's portal or Lifecare's mailbox accepted it (first time only): who
/// placed it, so that tests can check each order went out in its orderer's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedOrder {
    /// `treserva` or `lifecare`.
    pub system: String,
    /// The ticket (`TS-…`) or message id (`M-…`) given back.
    pub external_ref: String,
    pub reference: String,
    pub idempotency_key: String,
    /// Treserva's `bestallare` (an e-mail), Lifecare's `fran` (a Lifecare user).
    pub orderer: String,
    /// Treserva's `bestallare_anvandarnamn`, when sent.
    pub orderer_username: Option<String>,
    /// Lifecare's message text.
    pub text: Option<String>,
}

/// State shared by the listeners and the handle.
pub(crate) struct Shared {
    pub(crate) world: World,
    pub(crate) verksamhetschefer: Vec<String>,
    pub(crate) sesam2_token: String,
    pub(crate) lifecare_token: String,
    pub(crate) smtp_login: Option<(String, String)>,
    pub(crate) delivery_delay: Duration,
    faults: [Mutex<FaultState>; 4],
    stats: Mutex<Stats>,
    pub(crate) mails: Mutex<Vec<smtp::StoredMail>>,
    pub(crate) treserva: Mutex<treserva::Portal>,
    pub(crate) lifecare: Mutex<lifecare::Mailbox>,
    pub(crate) received: Mutex<Vec<ReceivedOrder>>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// A poisoned lock only means a handler panicked; the data is still the simulator's best
/// knowledge, and a test harness should keep answering.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn index(kind: Kind) -> usize {
    match kind {
        Kind::Cosmic => 0,
        Kind::Treserva => 1,
        Kind::Sesam2 => 2,
        Kind::Lifecare => 3,
    }
}

impl Shared {
    pub(crate) fn faults(&self, kind: Kind) -> MutexGuard<'_, FaultState> {
        lock(&self.faults[index(kind)])
    }

    pub(crate) fn count(&self, kind: Kind, f: impl FnOnce(&mut SystemStats)) {
        f(lock(&self.stats).get_mut(kind));
    }

    /// Records an order the peer took, by its id there (`id`): logged, kept as ground truth
    /// for the tests and counted.
    pub(crate) fn accept_order(&self, kind: Kind, spec: &order::OrderSpec, order: ReceivedOrder) {
        tracing::info!(
            id = order.external_ref,
            users = spec.users.len(),
            patient = spec.patient.is_some(),
            "{}: order accepted",
            order.system
        );
        lock(&self.received).push(order);
        self.count(kind, |s| s.orders_accepted += 1);
    }

    /// The answer to an order the peer already has under the same idempotency key: the
    /// first order's id again, as `{"<field>": id}`; logged and counted.
    pub(crate) fn repeat_order(
        &self,
        kind: Kind,
        field: &str,
        id: String,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        self.count(kind, |s| s.duplicates += 1);
        tracing::info!(id, "{}: duplicate order", kind.name());
        let body = serde_json::json!({ field: id });
        (axum::http::StatusCode::OK, axum::Json(body)).into_response()
    }

    pub(crate) fn count_mail(&self) {
        lock(&self.stats).mails_received += 1;
    }

    /// Resolves when the simulator stops (or its handle is dropped).
    pub(crate) async fn stopped(&self) {
        let mut rx = self.shutdown.clone();
        // An error means the handle is gone, which is a stop as well.
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Sleeps `d`, unless the simulator stops first.
    pub(crate) async fn pause(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.stopped() => {}
        }
    }
}

/// The running simulator. Dropping it, or [`Simulator::shutdown`], stops every listener.
pub struct Simulator {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    smtp: SocketAddr,
    treserva: SocketAddr,
    sesam2: SocketAddr,
    lifecare: SocketAddr,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("smtp", &self.smtp)
            .field("treserva", &self.treserva)
            .field("sesam2", &self.sesam2)
            .field("lifecare", &self.lifecare)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds all four listeners on loopback, then starts serving on the current runtime.
    pub async fn start(config: SimConfig, ports: Ports) -> std::io::Result<Simulator> {
        let bind = |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        let smtp_l = bind(ports.smtp).await?;
        let treserva_l = bind(ports.treserva).await?;
        let sesam2_l = bind(ports.sesam2).await?;
        let lifecare_l = bind(ports.lifecare).await?;

        let (stop, shutdown) = watch::channel(false);
        let seed = config.seed;
        let fault_state =
            |k: Kind| Mutex::new(FaultState::new(seed, k, config.faults.get(k).clone()));
        let shared = Arc::new(Shared {
            faults: [
                fault_state(Kind::Cosmic),
                fault_state(Kind::Treserva),
                fault_state(Kind::Sesam2),
                fault_state(Kind::Lifecare),
            ],
            world: World::new(config.seed, config.staff, config.protected),
            verksamhetschefer: config.treserva_verksamhetschefer,
            sesam2_token: config.sesam2_token,
            smtp_login: config.smtp_login,
            lifecare_token: config.lifecare_token,
            delivery_delay: config.delivery_delay,
            stats: Mutex::new(Stats::default()),
            mails: Mutex::new(Vec::new()),
            treserva: Mutex::new(treserva::Portal::default()),
            lifecare: Mutex::new(lifecare::Mailbox::default()),
            received: Mutex::new(Vec::new()),
            shutdown,
        });

        let addrs = (
            smtp_l.local_addr()?,
            treserva_l.local_addr()?,
            sesam2_l.local_addr()?,
            lifecare_l.local_addr()?,
        );
        let tasks = vec![
            tokio::spawn(smtp::serve(smtp_l, shared.clone())),
            http::serve(treserva_l, treserva::router(shared.clone()), shared.clone()),
            http::serve(sesam2_l, sesam2::router(shared.clone()), shared.clone()),
            http::serve(lifecare_l, lifecare::router(shared.clone()), shared.clone()),
        ];
        tracing::info!(
            smtp = %addrs.0, treserva = %addrs.1, sesam2 = %addrs.2, lifecare = %addrs.3,
            staff = shared.world.staff_count(),
            "simulator listening"
        );
        Ok(Simulator {
            shared,
            stop,
            tasks,
            smtp: addrs.0,
            treserva: addrs.1,
            sesam2: addrs.2,
            lifecare: addrs.3,
        })
    }

    /// Where the journal unit's SMTP listener is (Cosmic's `smtp_host`/`smtp_port`).
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp
    }

    /// Treserva's `portal_url`.
    pub fn treserva_url(&self) -> String {
        format!("http://{}", self.treserva)
    }

    /// Sesam 2's `base_url`.
    pub fn sesam2_url(&self) -> String {
        format!("http://{}", self.sesam2)
    }

    /// Lifecare's `base_url`.
    pub fn lifecare_url(&self) -> String {
        format!("http://{}", self.lifecare)
    }

    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Every mail the journal unit accepted, in order of arrival.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        lock(&self.shared.mails)
            .iter()
            .map(|m| m.mail.clone())
            .collect()
    }

    /// The orders Treserva and Lifecare accepted, in order of arrival (duplicates left out).
    pub fn received_orders(&self) -> Vec<ReceivedOrder> {
        lock(&self.shared.received).clone()
    }

    /// Notes written back to Evolution, in order.
    pub fn notes(&self) -> Vec<Note> {
        lock(&self.shared.lifecare).notes.clone()
    }

    /// Changes how `system` misbehaves from now on (`fail_next` counts afresh). An unknown
    /// system name is ignored.
    pub fn set_faults(&self, system: &str, faults: SystemFaults) {
        match Kind::of(system) {
            Some(kind) => self.shared.faults(kind).set(faults),
            None => tracing::warn!(system, "set_faults: no such simulated system"),
        }
    }

    /// The extract file the journal unit sends back for an order mail, found by its
    /// idempotency key (`X-Loggvakt-Order`), `Message-ID` or order reference (from the
    /// subject): Cosmic's CSV columns, the ordered users' accesses in their own periods (or a
    /// patient's, when the mail names a personnummer), plus Cosmic's malformed rows if asked.
    /// `None` when no such mail arrived, when the journal unit refuses the order (more than 3
    /// users of one unit, nothing it can read), or under Cosmic's `never_deliver`.
    pub fn cosmic_extract(&self, idempotency_key_or_reference: &str) -> Option<Vec<u8>> {
        smtp::extract_for(&self.shared, idempotency_key_or_reference)
    }

    /// The ground truth: every access by `username` of `system` in `[period_from, period_to)`,
    /// as a connector should normalise it from the extract (`raw` is `None`). Empty for an
    /// unknown user.
    pub fn events_for(
        &self,
        system: &str,
        username: &str,
        period_from: NaiveDateTime,
        period_to: NaiveDateTime,
    ) -> Vec<AccessEvent> {
        self.generated(system, username, period_from, period_to)
            .into_iter()
            .map(|g| g.event)
            .collect()
    }

    /// The ground truth for a targeted check: every access to `patient` in `system` by any
    /// of its staff in `[period_from, period_to)`.
    pub fn events_for_patient(
        &self,
        system: &str,
        patient: &Personnummer,
        period_from: NaiveDateTime,
        period_to: NaiveDateTime,
    ) -> Vec<AccessEvent> {
        let Some(kind) = Kind::of(system) else {
            return Vec::new();
        };
        self.shared
            .world
            .patient_events(kind, patient, period_from, period_to)
            .into_iter()
            .filter(|g| g.event.system == system)
            .map(|g| g.event)
            .collect()
    }

    /// The planted anomalies among [`Simulator::events_for`].
    pub fn anomalies_for(
        &self,
        system: &str,
        username: &str,
        period_from: NaiveDateTime,
        period_to: NaiveDateTime,
    ) -> Vec<PlantedAnomaly> {
        self.generated(system, username, period_from, period_to)
            .into_iter()
            .filter_map(|g| {
                g.anomaly.map(|kind| PlantedAnomaly {
                    kind,
                    event: g.event,
                })
            })
            .collect()
    }

    /// What the world generates for `username` of `system`; nothing for an unknown user.
    fn generated(
        &self,
        system: &str,
        username: &str,
        period_from: NaiveDateTime,
        period_to: NaiveDateTime,
    ) -> Vec<world::Gen> {
        let world = &self.shared.world;
        match world.staff(system, username) {
            Some(s) => world.events(s, period_from, period_to),
            None => Vec::new(),
        }
    }

    /// The stable made-up patient list of `unit`.
    pub fn patients(&self, unit: &str) -> Vec<SimPatient> {
        self.shared.world.pool(unit)
    }

    /// Stops every listener; requests left hanging are answered 503 and connections close.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            // A listener that does not stop promptly is abandoned rather than waited for.
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
