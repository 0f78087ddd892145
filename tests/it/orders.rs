//! The order pipeline against an in-test connector: splitting by the connector's limit,
//! retries with backoff, failure, in-doubt orders never re-sent, fetch, poll, and the
//! refusal of malformed or unasked-for extract rows with the order left as it was.

use std::path::Path;
use std::sync::{Arc, Mutex};

use loggvakt::clock::Clock;
use loggvakt::connectors::Connectors;
use loggvakt::model::notice::NoticeKind;
use loggvakt::model::order::{DeliveryVia, OrderState};
use loggvakt::orders::{ImportError, OrderReport, Pipeline};
use loggvakt::review::{OutsideRecord, Review, ReviewError};
use loggvakt::rules::Rules;
use loggvakt::stage::Stage;
use loggvakt::store::Store;
use loggvakt::tick;
use loggvakt_connector::{
    AccessEvent, Capabilities, Connector, ConnectorError, Extract, FetchQuery, IdKind,
    ImportLimits, ImportOutcome, Manifest, OrderReceipt, OrderRequest, Personnummer, PollOutcome,
    ReviewOutcome, Subject, UserRef, async_trait, csv_form,
};

use crate::support::{
    ConfigDir, EXTRACT_HEADER, SMALL_ORG, TestDb, access_event, at, audit_count, count, instant,
    manifest, per_backend, staff_csv, state,
};

/// A connector that records what it is asked and answers as scripted.
#[derive(Default)]
struct Fake {
    caps: Capabilities,
    per_order: Option<u32>,
    received: Mutex<Vec<OrderRequest>>,
    /// Errors to answer the next orders with, first first.
    errors: Mutex<Vec<ConnectorError>>,
    delivery: Mutex<Option<Vec<u8>>>,
    /// Streamed imports so far (a file import reads the file twice: check, then store).
    streams: std::sync::atomic::AtomicUsize,
    /// Where the store pass of the next file import stops after its first chunk.
    pause: Mutex<Option<Pause>>,
}

/// A store pass held after its first chunk: `reached` is told, `resume` is waited for.
struct Pause {
    reached: std::sync::mpsc::Sender<()>,
    resume: std::sync::mpsc::Receiver<()>,
}

#[async_trait]
impl Connector for Fake {
    fn manifest(&self) -> Manifest {
        manifest("fake", self.caps, self.per_order)
    }
    async fn health(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn order(&self, req: &OrderRequest) -> Result<OrderReceipt, ConnectorError> {
        let mut errors = self.errors.lock().unwrap();
        if !errors.is_empty() {
            return Err(errors.remove(0));
        }
        self.received.lock().unwrap().push(req.clone());
        Ok(OrderReceipt {
            external_ref: Some(format!("T-{}", req.reference)),
            note: None,
        })
    }
    async fn poll(
        &self,
        _: &OrderRequest,
        _: &OrderReceipt,
    ) -> Result<PollOutcome, ConnectorError> {
        Ok(match self.delivery.lock().unwrap().take() {
            Some(bytes) => PollOutcome::Delivered(Extract {
                file_name: None,
                content_type: None,
                bytes,
            }),
            None => PollOutcome::Pending,
        })
    }
    async fn fetch(&self, q: &FetchQuery) -> Result<Vec<AccessEvent>, ConnectorError> {
        let mut errors = self.errors.lock().unwrap();
        if !errors.is_empty() {
            return Err(errors.remove(0));
        }
        let Subject::Users(users) = &q.subject else {
            return Ok(vec![]);
        };
        Ok(users
            .iter()
            .map(|u| event(&u.username, q.period.from + chrono::TimeDelta::hours(9)))
            .collect())
    }
    fn import(
        &self,
        input: &mut dyn std::io::Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        Ok(csv_form::read_all(limits.read_all(input)?.as_slice())?)
    }
    fn import_stream(
        &self,
        input: &mut dyn std::io::Read,
        limits: &ImportLimits,
        sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
    ) -> Result<(), ConnectorError> {
        let call = self
            .streams
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let pause = if call % 2 == 1 {
            self.pause.lock().unwrap().take()
        } else {
            None
        };
        let mut chunks = 0;
        csv_form::import_stream(input, limits, &mut |chunk| {
            sink(chunk)?;
            chunks += 1;
            if let (1, Some(p)) = (chunks, &pause) {
                p.reached.send(()).unwrap();
                p.resume.recv().unwrap();
            }
            Ok(())
        })
    }
}

const PATIENT: &str = "19121212-1212";

fn event(user: &str, time: chrono::NaiveDateTime) -> AccessEvent {
    access_event(user, time, Personnummer::parse(PATIENT).unwrap())
}

fn order_caps() -> Capabilities {
    Capabilities {
        order: true,
        poll: true,
        import: true,
        ..Capabilities::default()
    }
}

/// A connector that orders, polls and imports, `per_order` users at the most.
fn ordering(per_order: u32) -> Fake {
    Fake {
        caps: order_caps(),
        per_order: Some(per_order),
        ..Fake::default()
    }
}

struct Setup {
    _cfg: ConfigDir,
    org: loggvakt::model::org::Organisation,
    connectors: Connectors,
    fake: Arc<Fake>,
}

/// 61 staff in hemtjänst (10 % is 7) and 12 in boende (2), one cosmic routine.
fn setup(fake: Fake) -> Setup {
    setup_with(SMALL_ORG, fake)
}

fn setup_with(toml: &str, fake: Fake) -> Setup {
    let cfg = ConfigDir::new(toml, Some(&staff_csv(&[("hemtjanst", 61), ("boende", 12)])));
    let org = loggvakt::config::load(cfg.path()).unwrap();
    let fake = Arc::new(fake);
    let connectors = Connectors::for_org(&org).with("cosmic", fake.clone());
    Setup {
        _cfg: cfg,
        org,
        connectors,
        fake,
    }
}

impl Setup {
    async fn tick(&self, store: &Store, when: &str) {
        tick::tick(store, &self.org, &self.connectors, &at(when), "test")
            .await
            .unwrap();
    }

    /// Ticks at 07:00 on each of the first seven days of May 2027: every draw runs.
    async fn run_first_week(&self, store: &Store) {
        for day in 1..=7 {
            self.tick(store, &format!("2027-05-{day:02}T07:00:00+02:00"))
                .await;
        }
    }

    /// The order pipeline alone (no planning or draws).
    async fn process(&self, store: &Store, when: &str) -> OrderReport {
        let clock = at(when);
        Pipeline::new(
            Stage::new(store, &self.org, &clock, "test"),
            &self.connectors,
        )
        .process()
        .await
        .unwrap()
    }

    async fn import(&self, store: &Store, order: i64, path: &Path) -> Result<usize, ImportError> {
        let clock = at("2027-05-10T09:00:00+02:00");
        Pipeline::new(
            Stage::new(store, &self.org, &clock, "test"),
            &self.connectors,
        )
        .import_file(order, path)
        .await
    }

    fn received(&self) -> Vec<OrderRequest> {
        self.fake.received.lock().unwrap().clone()
    }
}

/// The last order still waiting for its delivery.
async fn awaiting_delivery(store: &Store) -> loggvakt::model::order::Order {
    store
        .orders(Some(OrderState::AwaitingDelivery))
        .await
        .unwrap()
        .pop()
        .unwrap()
}

per_backend!(async fn seven_sampled_users_give_three_orders_with_their_own_periods);
async fn seven_sampled_users_give_three_orders_with_their_own_periods(db: TestDb) {
    let (s, store) = after_first_week(&db, setup(ordering(3))).await;
    let received = s.received();
    let mut sizes: Vec<usize> = received
        .iter()
        .map(|r| match &r.subject {
            Subject::Users(u) => u.len(),
            Subject::Patient(_) => 0,
        })
        .collect();
    sizes.sort_unstable();
    assert_eq!(
        sizes,
        [1, 2, 3, 3],
        "[{}] 7 users as 3+3+1, and boende's 2",
        db.backend
    );
    for r in &received {
        let Subject::Users(users) = &r.subject else {
            unreachable!()
        };
        for u in users {
            let p = u.period.expect("each user has a period of their own");
            assert_eq!((p.to - p.from).num_hours(), 24);
            assert!(
                r.period.from <= p.from && p.to <= r.period.to,
                "the order spans its users"
            );
            assert!(u.name.is_some(), "names go with usernames");
        }
    }
    let keys: std::collections::HashSet<_> =
        received.iter().map(|r| r.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 4, "every order has its own idempotency key");
    assert_eq!(orders_in(&store, "awaiting_delivery").await, 4);
    assert_eq!(audit_count(&store, "order.sent").await, 4);
    // Ticking again sends nothing twice.
    s.tick(&store, "2027-05-08T07:00:00+02:00").await;
    assert_eq!(s.fake.received.lock().unwrap().len(), 4);
}

async fn orders_in(store: &Store, state: &str) -> i64 {
    count(
        store,
        &format!("SELECT COUNT(*) FROM orders WHERE state = '{state}'"),
    )
    .await
}

/// Orders that answer the first two with `errors`, for each of the two units' draws.
fn failing(errors: Vec<ConnectorError>) -> Fake {
    Fake {
        errors: Mutex::new(errors),
        ..ordering(10)
    }
}

per_backend!(async fn retryable_errors_back_off_then_succeed_and_permanent_ones_fail);
async fn retryable_errors_back_off_then_succeed_and_permanent_ones_fail(db: TestDb) {
    let s = setup(failing(vec![
        ConnectorError::retryable("connection refused"),
        ConnectorError::retryable("503 from the portal"),
    ]));
    // Both units run on the same day in this window? Not necessarily: tick every day.
    let (s, store) = after_first_week(&db, s).await;
    // The draws' days are random: give an order that first failed on the 7th its retries.
    for day in ["2027-05-08", "2027-05-09"] {
        s.tick(&store, &format!("{day}T07:00:00+02:00")).await;
    }
    // Two retryable errors, wherever they fell, were retried until both orders went out.
    assert_eq!(
        orders_in(&store, "awaiting_delivery").await,
        2,
        "[{}]",
        db.backend
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM order_attempts WHERE outcome = 'retry'"
        )
        .await,
        2
    );
    assert_eq!(
        count(&store, "SELECT CAST(SUM(attempts) AS BIGINT) FROM orders").await,
        4,
        "2 errors + 2 successes"
    );

    let s2 = setup(failing(vec![
        ConnectorError::permanent(
            "403: not a verksamhetschef"
        );
        2
    ]));
    let db2 = TestDb::sqlite();
    let store2 = db2.open().await;
    s2.run_first_week(&store2).await;
    let failed = store2.orders(Some(OrderState::Failed)).await.unwrap();
    assert_eq!(failed.len(), 2);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("not a verksamhetschef")
    );
    assert_eq!(failed[0].attempts, 1, "no retry for a refusal");
}

/// Twenty days of ticks against a system that always times out: every order has used up
/// its attempts and failed.
async fn orders_failed_by_timeouts() -> (Setup, Store, TestDb) {
    let s = setup(failing(vec![ConnectorError::retryable("timeout"); 100]));
    let db = TestDb::sqlite();
    let store = db.open().await;
    for day in 1..=20 {
        s.tick(&store, &format!("2027-05-{day:02}T07:00:00+02:00"))
            .await;
    }
    (s, store, db)
}

#[tokio::test(flavor = "multi_thread")]
async fn attempts_run_out() {
    let (_s, store, _db) = orders_failed_by_timeouts().await;
    let failed = store.orders(Some(OrderState::Failed)).await.unwrap();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].attempts, 6, "the default max_attempts");
    assert!(failed[0].last_error.as_deref().unwrap().contains("timeout"));
}

per_backend!(async fn an_order_left_sending_by_a_dead_process_is_in_doubt_and_not_sent_again);
async fn an_order_left_sending_by_a_dead_process_is_in_doubt_and_not_sent_again(db: TestDb) {
    let (s, store) = after_first_week(&db, setup(ordering(10))).await;
    let sent_before = s.fake.received.lock().unwrap().len();
    // As if a process died after the peer took the order but before it was recorded.
    state::order_claimed_and_crashed(&store, 1, instant("2027-05-07T05:10:00Z")).await;
    let r = s.process(&store, "2027-05-07T08:00:00+02:00").await;
    assert_eq!(r.in_doubt, 1, "[{}]", db.backend);
    assert_eq!(
        s.fake.received.lock().unwrap().len(),
        sent_before,
        "nothing was sent twice"
    );
    let o = store.order(1).await.unwrap().unwrap();
    assert_eq!(o.state, OrderState::InDoubt);
    assert!(o.last_error.unwrap().contains("order resend"));
}

fn csv_of(events: &[AccessEvent]) -> Vec<u8> {
    csv_form::write_all(Vec::new(), events).unwrap()
}

/// `s` with its first week run on a fresh store of `db`.
async fn after_first_week(db: &TestDb, s: Setup) -> (Setup, Store) {
    let store = db.open().await;
    s.run_first_week(&store).await;
    (s, store)
}

/// The first week of `s` run on a fresh store, and one order waiting for its delivery.
async fn first_week_awaiting(
    db: &TestDb,
    s: Setup,
) -> (Setup, Store, loggvakt::model::order::Order) {
    let (s, store) = after_first_week(db, s).await;
    let order = awaiting_delivery(&store).await;
    (s, store, order)
}

/// The users an order by users asks for.
fn ordered_users(order: &loggvakt::model::order::Order) -> &[UserRef] {
    let Subject::Users(users) = &order.request.subject else {
        panic!("an order by users");
    };
    users
}

/// Two rows of the order's first user, inside their period.
fn two_good_rows(order: &loggvakt::model::order::Order) -> Vec<AccessEvent> {
    let users = ordered_users(order);
    let (u, from) = (&users[0], users[0].period.unwrap().from);
    vec![
        event(&u.username, from + chrono::TimeDelta::hours(8)),
        event(&u.username, from + chrono::TimeDelta::hours(10)),
    ]
}

per_backend!(async fn a_row_with_a_reserve_number_imports_as_a_patient_of_its_own);
/// A patient without a personnummer has an interim number with a letter; the delivery is
/// not refused for it, and the number is stored as written, of its own kind.
async fn a_row_with_a_reserve_number_imports_as_a_patient_of_its_own(db: TestDb) {
    let (s, store, order) = first_week_awaiting(&db, setup(ordering(3))).await;
    let mut rows = two_good_rows(&order);
    rows[1].patient_id = Personnummer::parse("20000101-T220").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reserv.csv");
    std::fs::write(&path, csv_of(&rows)).unwrap();
    assert_eq!(s.import(&store, order.id, &path).await.unwrap(), 2);
    let stored = store.events_of(order.draw_id, None).await.unwrap();
    let kinds: Vec<IdKind> = stored.iter().map(|e| e.event.patient_id.kind()).collect();
    assert!(
        kinds.contains(&IdKind::Interim),
        "[{}] {kinds:?}",
        db.backend
    );
    assert!(
        stored
            .iter()
            .any(|e| e.event.patient_id.digits() == "20000101T220")
    );
}

per_backend!(async fn import_checks_the_whole_file_against_the_order_and_keeps_the_state_on_refusal);
async fn import_checks_the_whole_file_against_the_order_and_keeps_the_state_on_refusal(db: TestDb) {
    let (s, store, order) = first_week_awaiting(&db, setup(ordering(3))).await;
    let u = &ordered_users(&order)[0];
    let p = u.period.unwrap();
    let good = two_good_rows(&order);
    let dir = tempfile::tempdir().unwrap();
    let import = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (s, store, id) = (&s, &store, order.id);
        async move { s.import(store, id, &path).await }
    };

    // A row for a user who was not ordered, on line 3.
    let mut stranger = good.clone();
    stranger.push(event("C8ZZZZZ", p.from + chrono::TimeDelta::hours(9)));
    let err = import("stranger.csv", &csv_of(&stranger))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("stranger.csv:line 4: column `user_id`: user 'C8ZZZZZ' was not in order"),
        "{msg}"
    );

    // Outside the user's period.
    let late = vec![event(&u.username, p.to + chrono::TimeDelta::hours(1))];
    let msg = import("late.csv", &csv_of(&late))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("line 2: column `time`") && msg.contains("outside the ordered period"),
        "{msg}"
    );

    // A bad personnummer and a bad timestamp, with lines, without echoing the number.
    let mut text = String::from_utf8(csv_of(&good)).unwrap();
    text = text.replacen("191212121212", "191212121213", 1);
    text.push_str(&format!(
        "2027-13-45T25:00:00,cosmic,{},,191212121212,,,read,Läst,\n",
        u.username
    ));
    let msg = import("bad.csv", text.as_bytes())
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 2: column `patient_id`"), "{msg}");
    assert!(msg.contains("line 4: column `time`"), "{msg}");
    assert!(
        !msg.contains("191212121213"),
        "no personnummer in messages: {msg}"
    );

    // A missing column, and an empty file.
    let no_col = "time,system,user_id\n2027-04-01T08:00:00,cosmic,x\n";
    let msg = import("nocol.csv", no_col.as_bytes())
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("nocol.csv") && msg.contains("line 1"), "{msg}");
    assert!(matches!(
        import("empty.csv", b"").await,
        Err(ImportError::Unreadable { .. })
    ));

    // Nothing of all that was stored; the order still waits.
    assert_eq!(store.event_count(Some(order.id)).await.unwrap(), 0);
    assert_eq!(
        store.order(order.id).await.unwrap().unwrap().state,
        OrderState::AwaitingDelivery
    );

    // The good file goes in, linked to the sampled person; a second import is refused.
    let n = import("good.csv", &csv_of(&good)).await.unwrap();
    assert_eq!(n, 2, "[{}]", db.backend);
    assert_eq!(
        store.order(order.id).await.unwrap().unwrap().state,
        OrderState::Imported
    );
    assert_eq!(
        count(
            &store,
            &format!(
                "SELECT COUNT(*) FROM access_events WHERE order_id = {} AND staff_id IS NOT NULL",
                order.id
            )
        )
        .await,
        2
    );
    assert!(matches!(
        import("again.csv", &csv_of(&good)).await,
        Err(ImportError::WrongState { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_file_is_refused_unread() {
    let toml = SMALL_ORG.replace(
        "connector = \"cosmic\"",
        "connector = \"cosmic\"\nmax_extract_mb = 1",
    );
    let db = TestDb::sqlite();
    let (s, store, order) = first_week_awaiting(&db, setup_with(&toml, ordering(3))).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.csv");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(3 << 20).unwrap(); // sparse: 3 MiB that were never written
    let err = s.import(&store, order.id, &path).await.unwrap_err();
    assert!(matches!(err, ImportError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("was not read"));
    assert_eq!(
        store.order(order.id).await.unwrap().unwrap().state,
        OrderState::AwaitingDelivery
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fetching_system_stores_events_at_once_and_a_polled_delivery_is_imported() {
    let s = setup(Fake {
        caps: Capabilities {
            fetch: true,
            ..Capabilities::default()
        },
        ..Fake::default()
    });
    let db = TestDb::sqlite();
    let (_s, store) = after_first_week(&db, s).await;
    let imported = store.orders(Some(OrderState::Imported)).await.unwrap();
    assert_eq!(imported.len(), 2, "one fetch order per draw");
    assert_eq!(
        store.event_count(None).await.unwrap(),
        9,
        "one event per sampled user (7 + 2)"
    );

    let db = TestDb::sqlite();
    let (s, store, order) = first_week_awaiting(&db, setup(ordering(10))).await;
    let users = ordered_users(&order);
    let events: Vec<AccessEvent> = users
        .iter()
        .map(|u| {
            event(
                &u.username,
                u.period.unwrap().from + chrono::TimeDelta::hours(8),
            )
        })
        .collect();
    *s.fake.delivery.lock().unwrap() = Some(csv_of(&events));
    let r = s.process(&store, "2027-05-08T09:00:00+02:00").await;
    assert_eq!(r.delivered, 1);
    assert_eq!(
        store.order(order.id).await.unwrap().unwrap().state,
        OrderState::Imported
    );
    assert_eq!(
        store.event_count(Some(order.id)).await.unwrap(),
        users.len() as i64
    );
}

per_backend!(async fn an_undelivered_order_is_told_to_its_orderer_and_the_admins_once);
/// Past its delivery date an order still waiting sends one notice to whoever ordered it
/// (hemtjänst's configured orderer; boende's manager, the default) and one to each
/// administrator; later ticks send no more.
async fn an_undelivered_order_is_told_to_its_orderer_and_the_admins_once(db: TestDb) {
    let unit = "id = \"hemtjanst\"\nname = \"Hemtjänst\"\n";
    let toml = SMALL_ORG.replace(
        unit,
        &format!("{unit}orderer = {{ name = \"Olle Ordrar\", email = \"olle@example.se\" }}\n"),
    );
    let s = setup_with(&toml, ordering(10));
    let store = db.open().await;
    let admin = loggvakt::store::users::NewUser {
        username: "ada",
        name: "Ada Admin",
        email: "ada@example.se",
        role: loggvakt::model::user::Role::Admin,
        units: &[],
        password_hash: "x",
    };
    store
        .upsert_user(&admin, instant("2027-04-01T00:00:00Z"), "test")
        .await
        .unwrap();
    s.run_first_week(&store).await;
    let notices =
        overdue_after_ticks(&s, &store, &["2027-05-20", "2027-05-21", "2027-05-22"]).await;
    let orders = store
        .orders(Some(OrderState::AwaitingDelivery))
        .await
        .unwrap();
    assert_eq!(orders.len(), 2, "[{}]", db.backend);
    for order in &orders {
        let mut to: Vec<&str> = notices
            .iter()
            .filter(|n| n.order_id == Some(order.id))
            .map(|n| n.recipient.as_str())
            .collect();
        to.sort_unstable();
        assert_eq!(to.len(), 2, "[{}] order {}: {to:?}", db.backend, order.id);
        assert!(to.contains(&"ada@example.se"), "{to:?}");
        let draw = store.draw(order.draw_id.unwrap()).await.unwrap().unwrap();
        let orderer = match draw.unit.as_str() {
            "hemtjanst" => "olle@example.se",
            _ => "bo@example.se",
        };
        assert!(to.contains(&orderer), "{}: {to:?}", draw.unit.as_str());
        assert!(
            notices
                .iter()
                .all(|n| n.subject.contains("Försenat loggutdrag"))
        );
    }
    assert_eq!(audit_count(&store, "order.overdue_notified").await, 2);
}

/// The overdue-delivery notices after a tick at 09:00 on each of `days`.
async fn overdue_after_ticks(
    s: &Setup,
    store: &Store,
    days: &[&str],
) -> Vec<loggvakt::model::notice::Notice> {
    for day in days {
        s.tick(store, &format!("{day}T09:00:00+02:00")).await;
    }
    store
        .notices(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == NoticeKind::DeliveryOverdue)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undelivered_order_raises_one_overdue_reminder() {
    let db = TestDb::sqlite();
    let (s, store) = after_first_week(&db, setup(ordering(10))).await;
    for day in ["2027-05-20", "2027-05-21", "2027-05-22"] {
        s.process(&store, &format!("{day}T09:00:00+02:00")).await;
    }
    assert_eq!(
        audit_count(&store, "order.delivery_overdue").await,
        2,
        "one per order, once"
    );
}

per_backend!(async fn two_concurrent_imports_of_one_delivery_store_it_once);
async fn two_concurrent_imports_of_one_delivery_store_it_once(db: TestDb) {
    let (s, store, order) = first_week_awaiting(&db, setup(ordering(3))).await;
    let users = ordered_users(&order);
    let events: Vec<AccessEvent> = users
        .iter()
        .flat_map(|u| {
            let p = u.period.unwrap();
            (8..16).map(move |h| event(&u.username, p.from + chrono::TimeDelta::hours(h)))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.csv");
    std::fs::write(&path, csv_of(&events)).unwrap();

    // Both pass the state check before either stores: the transition decides.
    let (a, b) = tokio::join!(
        s.import(&store, order.id, &path),
        s.import(&store, order.id, &path)
    );
    let results = [a, b];
    let stored: Vec<usize> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(
        stored,
        [events.len()],
        "[{}] exactly one import stored",
        db.backend
    );
    let err = results.into_iter().find_map(Result::err).unwrap();
    assert!(
        matches!(
            err,
            ImportError::AlreadyTaken { .. }
                | ImportError::WrongState { .. }
                | ImportError::InProgress { .. }
        ),
        "[{}] {err}",
        db.backend
    );
    assert_eq!(
        store.event_count(Some(order.id)).await.unwrap(),
        events.len() as i64,
        "[{}]",
        db.backend
    );
    assert_eq!(
        audit_count(&store, "order.imported").await,
        1,
        "[{}]",
        db.backend
    );
}

/// A connector that is queried (as Sesam 2 is), answering the first queries with `errors`.
fn fetching(errors: Vec<ConnectorError>) -> Fake {
    Fake {
        caps: Capabilities {
            fetch: true,
            ..Capabilities::default()
        },
        errors: Mutex::new(errors),
        ..Fake::default()
    }
}

per_backend!(async fn an_interrupted_fetch_is_a_read_and_is_retried_never_in_doubt);
async fn an_interrupted_fetch_is_a_read_and_is_retried_never_in_doubt(db: TestDb) {
    // The first query of each of the two orders fails, so both wait as `pending`.
    let s = setup(fetching(vec![ConnectorError::retryable("timeout"); 2]));
    let store = db.open().await;
    s.tick(&store, "2027-05-07T07:00:00+02:00").await;
    assert_eq!(orders_in(&store, "pending").await, 2, "[{}]", db.backend);
    // A process claimed order 1 for its query and died.
    state::order_claimed_and_crashed(&store, 1, instant("2027-05-07T05:30:00Z")).await;
    let r = s.process(&store, "2027-05-07T08:00:00+02:00").await;
    assert_eq!(r.in_doubt, 0, "[{}] a read is never in doubt", db.backend);
    assert_eq!(r.retried, 1, "[{}]", db.backend);
    assert_eq!(audit_count(&store, "order.in_doubt").await, 0);
    let o = store.order(1).await.unwrap().unwrap();
    assert_eq!(
        o.state,
        OrderState::Imported,
        "[{}] queried again at once",
        db.backend
    );
    assert!(store.event_count(Some(1)).await.unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn order_resend_starts_the_attempt_count_again() {
    let (s, store, db) = orders_failed_by_timeouts().await;
    let failed = store.orders(Some(OrderState::Failed)).await.unwrap();
    let id = failed[0].id;
    assert_eq!(failed[0].attempts, 6, "failed after max_attempts");

    let run = db.run(&["order", "resend", &id.to_string()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let o = store.order(id).await.unwrap().unwrap();
    assert_eq!((o.state, o.attempts), (OrderState::Pending, 0));

    // The peer is still slow once: the resent order is retried, not failed at once.
    s.fake.errors.lock().unwrap().truncate(1);
    s.process(&store, "2027-05-21T07:00:00+02:00").await;
    let o = store.order(id).await.unwrap().unwrap();
    assert_eq!((o.state, o.attempts), (OrderState::Pending, 1));
    s.process(&store, "2027-05-21T08:00:00+02:00").await;
    let o = store.order(id).await.unwrap().unwrap();
    assert_eq!(o.state, OrderState::AwaitingDelivery);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_of_many_bad_rows_is_refused_with_the_first_fifty_and_a_count() {
    let db = TestDb::sqlite();
    let (s, store, order) = first_week_awaiting(&db, setup(ordering(3))).await;
    let p = ordered_users(&order)[0].period.unwrap();
    // 500 rows of a user who was not in the order.
    let bad: Vec<AccessEvent> = (0..500)
        .map(|i| event("C8ZZZZZ", p.from + chrono::TimeDelta::seconds(i)))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.csv");
    std::fs::write(&path, csv_of(&bad)).unwrap();
    let msg = s
        .import(&store, order.id, &path)
        .await
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = msg.lines().collect();
    assert!(
        lines[0].ends_with("500 row(s) refused, nothing was stored:"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + 50 + 1, "a header, 50 problems and a count");
    assert!(
        lines[1].contains("line 2:"),
        "the first problems: {}",
        lines[1]
    );
    assert_eq!(lines[51], "… and 450 more");
}

/// A delivery of `order` in the normalised form: one row per ordered user, inside their
/// period.
fn delivery_of(order: &loggvakt::model::order::Order, dir: &Path) -> std::path::PathBuf {
    let mut csv = format!("{EXTRACT_HEADER}\n");
    for u in ordered_users(order) {
        let time = u.period.as_ref().unwrap().from + chrono::TimeDelta::hours(9);
        csv.push_str(&format!(
            "{},cosmic,{},,{PATIENT},,,read,Läst journal,\n",
            time.format("%Y-%m-%dT%H:%M:%S"),
            u.username
        ));
    }
    let path = dir.join(format!("part-{}.csv", order.id));
    std::fs::write(&path, csv).unwrap();
    path
}

fn review<'a>(s: &'a Setup, store: &'a Store, rules: &'a Rules, clock: &'a Clock) -> Review<'a> {
    Review::new(Stage::new(store, &s.org, clock, "test"), rules)
}

/// The task made for a draw, if any yet.
async fn task_of_draw(store: &Store, draw_id: Option<i64>) -> Option<loggvakt::model::task::Task> {
    store
        .tasks(None)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.draw_id == draw_id)
}

/// Closes a task utan anmärkning as its reviewer `by`.
async fn utan(
    r: &Review<'_>,
    s: &Setup,
    task: i64,
    by: &str,
) -> Result<loggvakt::review::Completion, ReviewError> {
    r.complete(
        task,
        ReviewOutcome::UtanAnmarkning,
        None,
        by,
        true,
        &s.connectors,
    )
    .await
}

per_backend!(async fn a_task_opens_on_its_first_part_and_closes_utan_only_when_all_are_in);
/// Seven sampled users in parts of five and two: the task opens when the first part is in,
/// shows who is missing, refuses utan anmärkning until the second part is in, and counts it.
async fn a_task_opens_on_its_first_part_and_closes_utan_only_when_all_are_in(db: TestDb) {
    let b = db.backend;
    let (s, store) = after_first_week(&db, setup(ordering(5))).await;
    let second = store
        .orders(None)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.part == 2)
        .expect("hemtjänst's second part");
    let parts = store.orders_of_draw(second.draw_id.unwrap()).await.unwrap();
    assert_eq!(parts.len(), 2, "[{b}]");
    let dir = tempfile::tempdir().unwrap();
    s.import(&store, parts[0].id, &delivery_of(&parts[0], dir.path()))
        .await
        .unwrap();
    s.tick(&store, "2027-05-10T10:00:00+02:00").await;

    let task = task_of_draw(&store, second.draw_id)
        .await
        .expect("a task on the first part");
    assert_eq!(task.events, 5, "[{b}] the first part's rows");
    let coverage = loggvakt::review::coverage(&store, &task).await.unwrap();
    let missing: Vec<&str> = coverage
        .iter()
        .filter(|u| !u.coverage.is_reviewable())
        .map(|u| u.username.as_str())
        .collect();
    assert_eq!(missing.len(), 2, "[{b}] {coverage:?}");

    let rules = Rules::for_org(&s.org);
    let clock = at("2027-05-10T11:00:00+02:00");
    let r = review(&s, &store, &rules, &clock);
    let by = "hanna@example.se";
    match utan(&r, &s, task.id, by).await {
        Err(ReviewError::Incomplete(users)) => {
            assert_eq!(
                users.iter().map(String::as_str).collect::<Vec<_>>(),
                missing
            );
        }
        other => panic!("[{b}] utan before the second part: {other:?}"),
    }

    s.import(&store, parts[1].id, &delivery_of(&parts[1], dir.path()))
        .await
        .unwrap();
    s.tick(&store, "2027-05-11T10:00:00+02:00").await;
    let task = store.task(task.id).await.unwrap().unwrap();
    assert_eq!(
        (task.events, task.users),
        (7, 7),
        "[{b}] both parts counted"
    );
    assert_eq!(audit_count(&store, "review.task_updated").await, 1, "[{b}]");
    utan(&r, &s, task.id, by).await.unwrap();
}

per_backend!(async fn a_report_by_post_is_reviewed_outside_loggvakt_and_counts_on_time);
/// Boende's report comes by post: the order is marked delivered, its users' reviews recorded
/// from the paper, and the check closes in time and is reported as made outside loggvakt.
/// Hemtjänst's never comes: one overdue notice goes to the unit's manager.
async fn a_report_by_post_is_reviewed_outside_loggvakt_and_counts_on_time(db: TestDb) {
    let b = db.backend;
    let (s, store) = after_first_week(&db, setup(ordering(10))).await;
    let boende = store
        .draws_for_month(loggvakt::calendar::Month::new(2027, 5).unwrap())
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.unit == "boende")
        .expect("boende's draw");
    let order = store.orders_of_draw(boende.id).await.unwrap().remove(0);
    let clock = at("2027-05-12T09:00:00+02:00");
    let pipeline = Pipeline::new(Stage::new(&store, &s.org, &clock, "test"), &s.connectors);
    pipeline
        .mark_delivered(order.id, DeliveryVia::Paper)
        .await
        .unwrap();
    assert!(
        pipeline
            .mark_delivered(order.id, DeliveryVia::Paper)
            .await
            .is_err()
    );
    s.tick(&store, "2027-05-12T10:00:00+02:00").await;
    let task = task_of_draw(&store, Some(boende.id))
        .await
        .expect("the task opens on the paper delivery");

    let rules = Rules::for_org(&s.org);
    let clock = at("2027-05-13T09:00:00+02:00");
    let r = review(&s, &store, &rules, &clock);
    let by = "bo@example.se";
    for sampled in &boende.selected {
        let record = OutsideRecord {
            username: sampled.username.clone(),
            via: DeliveryVia::Paper,
            rows_seen: 23,
            checklist_done: true,
            remark: false,
            note: String::new(),
        };
        r.record_outside(task.id, record.clone(), by, true)
            .await
            .unwrap();
        assert!(matches!(
            r.record_outside(task.id, record, by, true).await,
            Err(ReviewError::AlreadyRecorded { .. })
        ));
    }
    utan(&r, &s, task.id, by).await.unwrap();

    let overdue = overdue_after_ticks(&s, &store, &["2027-05-20", "2027-05-21"]).await;
    assert_eq!(overdue.len(), 1, "[{b}] {overdue:?}");
    assert_eq!(overdue[0].recipient, "hanna@example.se", "[{b}]");

    let report = loggvakt::report::compliance(&store, &s.org, 2027, &clock)
        .await
        .unwrap();
    let row = report
        .rows
        .iter()
        .find(|r| r.unit == "boende")
        .expect("boende's row");
    assert_eq!(row.counts.done_on_time, 1, "[{b}] {:?}", row.counts);
    assert_eq!(row.counts.reviewed_outside, 1, "[{b}] {:?}", row.counts);
    assert_eq!(row.counts.by_hand, 1, "[{b}] {:?}", row.counts);
}

/// A source whose answer waits for a gate: a mail server that hangs until the other system
/// has been served.
struct Gated {
    caps: Capabilities,
    gate: Arc<tokio::sync::Notify>,
    opens_gate: bool,
}

#[async_trait]
impl Connector for Gated {
    fn manifest(&self) -> Manifest {
        manifest("gated", self.caps, None)
    }
    async fn health(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn order(&self, req: &OrderRequest) -> Result<OrderReceipt, ConnectorError> {
        self.gate.notified().await;
        Ok(OrderReceipt {
            external_ref: Some(req.reference.clone()),
            note: None,
        })
    }
    async fn fetch(&self, _: &FetchQuery) -> Result<Vec<AccessEvent>, ConnectorError> {
        if self.opens_gate {
            self.gate.notify_one();
        }
        Ok(Vec::new())
    }
}

/// Cosmic hangs until Sesam 2 has been queried: sent one system after the other (Cosmic
/// first), the tick would never end; side by side, both go through (issue 12, fault 5).
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_system_does_not_hold_up_the_others() {
    // Both routines draw the first working day, so both orders are due in the same tick.
    let small = SMALL_ORG.replace(
        "window = { first_days = 7, weekdays_only = true, skip_holidays = true }",
        "window = { first_days = 1 }",
    );
    let toml = format!(
        "{small}\n[[system]]\nid = \"sesam2\"\nconnector = \"sesam2\"\n\
         settings = {{ base_url = \"http://127.0.0.1:1\", token = \"t\" }}\n\n\
         [[routine]]\nid = \"stickprov-sesam2\"\nkind = \"stickprov\"\nsystem = \"sesam2\"\n\
         units = [\"*\"]\ncadence = \"monthly\"\nwindow = {{ first_days = 1 }}\n\
         sample = {{ fraction = 0.10, min = 1 }}\nreview_period_hours = 24\ndeadline_days = 14\n"
    );
    let mut staff = String::from("id,name,unit,email,personnummer,cosmic,sesam2\n");
    for i in 1..=12 {
        staff.push_str(&format!(
            "s{i:04},Person {i},hemtjanst,,,C8{i:05},S{i:04}\n"
        ));
    }
    let cfg = ConfigDir::new(&toml, Some(&staff));
    let org = loggvakt::config::load(cfg.path()).unwrap();
    let gate = Arc::new(tokio::sync::Notify::new());
    let gated = |caps: Capabilities, opens_gate: bool| {
        Arc::new(Gated {
            caps,
            gate: gate.clone(),
            opens_gate,
        })
    };
    let connectors = Connectors::for_org(&org)
        .with("cosmic", gated(order_caps(), false))
        .with(
            "sesam2",
            gated(
                Capabilities {
                    fetch: true,
                    ..Capabilities::default()
                },
                true,
            ),
        );
    let db = TestDb::sqlite();
    let store = db.open().await;
    // The 1st and 2nd of May 2027 are a holiday and a Sunday: both draws run on the 3rd.
    let clock = at("2027-05-03T07:00:00+02:00");
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tick::tick(&store, &org, &connectors, &clock, "test"),
    )
    .await
    .expect("the tick ends: the systems are served side by side")
    .unwrap();
    assert_eq!(
        orders_in(&store, "awaiting_delivery").await,
        1,
        "cosmic's order went out"
    );
    assert_eq!(orders_in(&store, "imported").await, 1, "sesam2 was queried");
}

/// `rows` rows spread over the order's users, each inside its user's period: more than two
/// chunks of a streamed import.
fn many_rows(order: &loggvakt::model::order::Order, rows: usize) -> Vec<AccessEvent> {
    let users = ordered_users(order);
    (0..rows)
        .map(|i| {
            let u = &users[i % users.len()];
            let from = u.period.unwrap().from;
            event(
                &u.username,
                from + chrono::TimeDelta::seconds((i / users.len()) as i64 * 3),
            )
        })
        .collect()
}

async fn order_state(store: &Store, id: i64) -> &'static str {
    store.order(id).await.unwrap().unwrap().state.as_str()
}

async fn import_at(
    s: &Setup,
    store: &Store,
    order: i64,
    path: &Path,
    when: &str,
) -> Result<usize, ImportError> {
    let clock = at(when);
    Pipeline::new(Stage::new(store, &s.org, &clock, "test"), &s.connectors)
        .import_file(order, path)
        .await
}

// Issue 14: a large import is stored in short batches, so other writes go on meanwhile,
// and what is stored before the end is seen by no reader until the order is imported.
per_backend!(async fn other_writes_go_on_while_a_large_import_is_stored);
async fn other_writes_go_on_while_a_large_import_is_stored(db: TestDb) {
    let (s, store, order) = first_week_awaiting(&db, setup(ordering(3))).await;
    let events = many_rows(&order, 20_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.csv");
    std::fs::write(&path, csv_of(&events)).unwrap();
    let (reached_tx, reached) = std::sync::mpsc::channel();
    let (resume, resume_rx) = std::sync::mpsc::channel();
    *s.fake.pause.lock().unwrap() = Some(Pause {
        reached: reached_tx,
        resume: resume_rx,
    });
    let importing = {
        let (store, path) = (store.clone(), path.clone());
        let s = Arc::new(s);
        let s2 = s.clone();
        (
            tokio::spawn(async move { s2.import(&store, order.id, &path).await }),
            s,
        )
    };
    let (importing, s) = importing;
    tokio::task::spawn_blocking(move || reached.recv().unwrap())
        .await
        .unwrap();
    // The first chunk reaches the database while the reader is held.
    let first = loggvakt_connector::IMPORT_CHUNK_EVENTS as i64;
    for _ in 0..500 {
        if store.event_count(Some(order.id)).await.unwrap() >= first {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        store.event_count(Some(order.id)).await.unwrap(),
        first,
        "[{}] one batch stored",
        db.backend
    );
    // Another writer (a tick, a web login) gets the write lock now, not after the import.
    let write = async {
        let mut tx = store
            .begin_write(chrono::Utc::now(), "other")
            .await
            .unwrap();
        tx.audit("test.meanwhile", "x", serde_json::json!({}))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), write)
        .await
        .unwrap_or_else(|_| panic!("[{}] a write waited for the import", db.backend));
    // Readers do not see the half-stored delivery.
    assert!(
        store
            .events_of(order.draw_id, None)
            .await
            .unwrap()
            .is_empty(),
        "[{}]",
        db.backend
    );
    assert_eq!(
        order_state(&store, order.id).await,
        "awaiting_delivery",
        "[{}]",
        db.backend
    );
    resume.send(()).unwrap();
    assert_eq!(importing.await.unwrap().unwrap(), events.len());
    assert_eq!(
        store.event_count(Some(order.id)).await.unwrap(),
        events.len() as i64
    );
    assert_eq!(
        store.events_of(order.draw_id, None).await.unwrap().len(),
        events.len()
    );
    assert_eq!(audit_count(&store, "order.imported").await, 1);
    drop(s);
}

// An import that died half-way leaves rows behind and its hold on the order; while the hold
// lives another import is told so, and once it has expired the next import removes the
// leftovers and stores the delivery exactly once.
per_backend!(async fn the_leftovers_of_an_import_that_died_are_replaced_once_its_hold_expires);
async fn the_leftovers_of_an_import_that_died_are_replaced_once_its_hold_expires(db: TestDb) {
    use loggvakt::store::streamed_import::Claim;
    let (s, store, order) = first_week_awaiting(&db, setup(ordering(3))).await;
    let events = many_rows(&order, 10_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.csv");
    std::fs::write(&path, csv_of(&events)).unwrap();
    // The dead import: a claim and one batch of rows, never finished.
    let died_at: chrono::DateTime<chrono::Utc> = "2027-05-10T06:55:00Z".parse().unwrap();
    let Claim::Held(claim) = store
        .claim_import(order.id, order.state, died_at)
        .await
        .unwrap()
    else {
        panic!("the order can be claimed")
    };
    let mut writer = store.event_writer(&claim).await.unwrap();
    let part = &events[..100];
    let staff = vec![None; part.len()];
    let lines: Vec<i64> = (2..102).collect();
    writer
        .write(&order, part, &staff, &lines, died_at)
        .await
        .unwrap();
    drop(writer);
    // 09:00 local is 07:00 UTC: the hold (ten minutes) still lives.
    let err = import_at(&s, &store, order.id, &path, "2027-05-10T09:00:00+02:00")
        .await
        .unwrap_err();
    assert!(matches!(err, ImportError::InProgress { .. }), "{err}");
    assert_eq!(store.event_count(Some(order.id)).await.unwrap(), 100);
    let n = import_at(&s, &store, order.id, &path, "2027-05-10T09:06:00+02:00")
        .await
        .unwrap();
    assert_eq!(n, events.len(), "[{}]", db.backend);
    assert_eq!(
        store.event_count(Some(order.id)).await.unwrap(),
        events.len() as i64,
        "[{}] the leftovers went, the delivery is there once",
        db.backend
    );
    assert_eq!(order_state(&store, order.id).await, "imported");
    // The old holder cannot write into the order any more.
    let mut late = store.event_writer(&claim).await.unwrap();
    let err = late
        .write(&order, part, &staff, &lines, died_at)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("took it over"), "{err}");
}

/// A poll that finds the delivery while a file import of it is under way leaves it to that
/// import: nothing is stored twice and the order keeps waiting for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_poll_leaves_a_delivery_to_the_import_that_holds_it() {
    use loggvakt::store::streamed_import::Claim;
    let db = TestDb::sqlite();
    let (s, store, order) = first_week_awaiting(&db, setup(ordering(3))).await;
    let now: chrono::DateTime<chrono::Utc> = "2027-05-10T07:00:00Z".parse().unwrap();
    let Claim::Held(_claim) = store
        .claim_import(order.id, order.state, now)
        .await
        .unwrap()
    else {
        panic!("the order can be claimed")
    };
    *s.fake.delivery.lock().unwrap() = Some(csv_of(&two_good_rows(&order)));
    s.process(&store, "2027-05-10T09:01:00+02:00").await;
    assert_eq!(order_state(&store, order.id).await, "awaiting_delivery");
    assert_eq!(store.event_count(Some(order.id)).await.unwrap(), 0);
}
