//! The same scenarios against each of the four built-in connectors, through the real order
//! pipeline and the simulated systems: a sample is ordered (or fetched), delivered, normalised
//! and stored, matching the simulator's ground truth; transient failures are retried; a
//! delivery with malformed rows is refused with its line and the order keeps its state; a
//! peer that never answers times out as retryable. (The example plugin is exercised from its
//! shared library in `plugin.rs`.)

use chrono::TimeDelta;
use loggvakt::clock::Clock;
use loggvakt::connectors::Connectors;
use loggvakt::model::order::{Order, OrderState};
use loggvakt::model::org::Organisation;
use loggvakt::orders::{self, Pipeline};
use loggvakt::stage::Stage;
use loggvakt::store::Store;
use loggvakt_connector::Subject;
use loggvakt_simulator::{Ports, Simulator, SystemFaults};

use crate::support::{
    self, ConfigDir, EXTRACT_HEADER, SMALL_ORG, TestDb, at, audit_count, run_tick, staff_csv,
    tick_crashing_at,
};

const SYSTEMS: [&str; 4] = ["cosmic", "treserva", "sesam2", "lifecare"];

pub(crate) struct World {
    pub(crate) org: Organisation,
    pub(crate) sim: Simulator,
    connectors: Connectors,
    pub(crate) store: Store,
    _db: TestDb,
}

/// The example organisation against a fresh simulator, with short timeouts.
async fn world() -> World {
    world_at(&support::example_config()).await
}

/// The organisation configured at `config` against a fresh simulator, with short timeouts.
pub(crate) async fn world_at(config: &std::path::Path) -> World {
    let mut org = loggvakt::config::load(config).unwrap();
    let sim = loggvakt::simulation::start(&org, 7, Ports::any())
        .await
        .unwrap();
    loggvakt::simulation::point_at(&mut org, &sim);
    for s in &mut org.systems {
        s.settings.insert("timeout_secs".into(), 0.3.into());
        // The example reads Sesam 2 by hand; these scenarios are about every connector's API.
        s.delivery = loggvakt::model::org::Delivery::Connector;
    }
    let connectors = Connectors::for_org(&org);
    connectors.require_all().unwrap();
    let db = TestDb::sqlite();
    let store = db.open().await;
    World {
        org,
        sim,
        connectors,
        store,
        _db: db,
    }
}

/// A fresh world where `system` has the faults `set` sets, ticked at 07:00 on the first
/// week's last day.
async fn world_with_faults(system: &str, set: impl FnOnce(&mut SystemFaults)) -> World {
    let w = world().await;
    let mut faults = SystemFaults::default();
    set(&mut faults);
    w.sim.set_faults(system, faults);
    w.tick("2027-05-07T07:00:00+02:00").await;
    w
}

impl World {
    fn pipeline<'a>(&'a self, clock: &'a Clock) -> Pipeline<'a> {
        Pipeline::new(
            Stage::new(&self.store, &self.org, clock, "test"),
            &self.connectors,
        )
    }

    async fn tick(&self, when: &str) {
        loggvakt::tick::tick(&self.store, &self.org, &self.connectors, &at(when), "test")
            .await
            .unwrap();
    }

    pub(crate) async fn orders_of(&self, system: &str) -> Vec<Order> {
        let mut v: Vec<Order> = self
            .store
            .orders(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.system == system)
            .collect();
        v.sort_by_key(|o| o.id);
        v
    }

    /// Imports what the journal unit sent back for each Cosmic order awaiting delivery.
    async fn import_cosmic(&self, when: &str) -> Vec<Result<usize, orders::ImportError>> {
        let dir = tempfile::tempdir().unwrap();
        let clock = at(when);
        let mut results = Vec::new();
        for o in self.orders_of("cosmic").await {
            if o.state != OrderState::AwaitingDelivery {
                continue;
            }
            let Some(bytes) = self.sim.cosmic_extract(&o.idempotency_key) else {
                continue;
            };
            let file = dir.path().join(format!("{}.csv", o.reference));
            std::fs::write(&file, bytes).unwrap();
            results.push(self.pipeline(&clock).import_file(o.id, &file).await);
        }
        results
    }

    /// The accesses the simulator says the ordered users made in their periods.
    pub(crate) fn ground_truth(&self, system: &str, order: &Order) -> usize {
        let Subject::Users(users) = &order.request.subject else {
            return 0;
        };
        users
            .iter()
            .map(|u| {
                let p = u.period.unwrap_or(order.request.period);
                self.sim.events_for(system, &u.username, p.from, p.to).len()
            })
            .sum()
    }
}

/// First week of May 2027, then deliveries collected.
pub(crate) async fn run_until_delivered(w: &World) {
    for day in 3..=7 {
        w.tick(&format!("2027-05-{day:02}T07:00:00+02:00")).await;
    }
    w.import_cosmic("2027-05-07T09:00:00+02:00").await;
    w.tick("2027-05-07T09:30:00+02:00").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_connector_orders_receives_and_normalises_what_the_system_holds() {
    let w = world().await;
    run_until_delivered(&w).await;
    for system in SYSTEMS {
        let orders = w.orders_of(system).await;
        assert!(!orders.is_empty(), "{system}: orders were made");
        for o in &orders {
            assert_eq!(o.state, OrderState::Imported, "{system}: {o:?}");
            let stored = w.store.event_count(Some(o.id)).await.unwrap() as usize;
            assert_eq!(
                stored,
                w.ground_truth(system, o),
                "{system} order {}: every access, no more",
                o.reference
            );
        }
    }
    let stats = w.sim.stats();
    assert_eq!(stats.total_duplicates(), 0);
    assert!(
        stats.mails_received > 0
            && stats.lifecare.orders_accepted > 0
            && stats.treserva.orders_accepted > 0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_until_the_order_goes_through() {
    for system in SYSTEMS {
        let w = world_with_faults(system, |f| f.fail_next = 2).await;
        let first = w.orders_of(system).await;
        assert!(
            first
                .iter()
                .any(|o| o.state == OrderState::Pending && o.attempts == 1),
            "{system}: retried later: {first:?}"
        );
        // Backoff: one minute, then two.
        for minutes in [2, 5, 9, 14] {
            let when = at("2027-05-07T07:00:00+02:00").now() + TimeDelta::minutes(minutes);
            w.tick(&when.to_rfc3339()).await;
        }
        w.import_cosmic("2027-05-07T08:00:00+02:00").await;
        w.tick("2027-05-07T08:30:00+02:00").await;
        for o in w.orders_of(system).await {
            assert_eq!(o.state, OrderState::Imported, "{system}: {o:?}");
        }
        assert_eq!(w.sim.stats().total_duplicates(), 0, "{system}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_rows_refuse_the_delivery_with_their_line() {
    for system in SYSTEMS {
        let w = world_with_faults(system, |f| f.malformed_rows = 1).await;
        let imports = w.import_cosmic("2027-05-07T08:00:00+02:00").await;
        w.tick("2027-05-07T08:30:00+02:00").await;
        let orders = w.orders_of(system).await;
        match system {
            "cosmic" => {
                let refused: Vec<String> = imports
                    .into_iter()
                    .filter_map(Result::err)
                    .map(|e| e.to_string())
                    .collect();
                assert!(!refused.is_empty(), "cosmic: a refused file");
                assert!(refused.iter().all(|e| e.contains("line ")), "{refused:?}");
                assert!(
                    orders
                        .iter()
                        .all(|o| o.state == OrderState::AwaitingDelivery),
                    "cosmic keeps waiting"
                );
            }
            "sesam2" => {
                // A synchronous answer that cannot be read is not retried blindly.
                assert!(
                    orders.iter().all(|o| o.state == OrderState::Failed),
                    "{orders:?}"
                );
            }
            _ => {
                assert!(
                    orders
                        .iter()
                        .all(|o| o.state == OrderState::AwaitingDelivery),
                    "{system}: {orders:?}"
                );
                let errors: Vec<&str> = orders
                    .iter()
                    .filter_map(|o| o.last_error.as_deref())
                    .collect();
                assert!(
                    !errors.is_empty()
                        && errors
                            .iter()
                            .all(|e| e.contains("refused") && e.contains("line")),
                    "{system}: {errors:?}"
                );
            }
        }
        assert_eq!(
            w.store.event_count(None).await.unwrap() as usize,
            stored_elsewhere(&w, system).await,
            "{system}: nothing of a refused delivery is stored"
        );
    }
}

/// Events stored for systems other than `system` (which had the faults).
async fn stored_elsewhere(w: &World, system: &str) -> usize {
    let mut n = 0;
    for o in w.store.orders(None).await.unwrap() {
        if o.system != system {
            n += w.store.event_count(Some(o.id)).await.unwrap() as usize;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_never_answers_times_out_as_retryable() {
    for system in SYSTEMS {
        let w = world_with_faults(system, |f| f.hang = true).await;
        let orders = w.orders_of(system).await;
        assert!(!orders.is_empty());
        for o in &orders {
            assert_eq!(o.state, OrderState::Pending, "{system}: {o:?}");
            assert_eq!(o.attempts, 1);
            assert!(o.last_error.is_some(), "{system}: the timeout is recorded");
        }
    }
}

/// A mail server that takes the order mail but answers only after the connector's timeout:
/// the mail may have arrived, so the order is in doubt and not sent again, and the journal
/// unit has it once (issue 12, fault 2).
#[tokio::test(flavor = "multi_thread")]
async fn a_mail_server_slow_to_accept_leaves_the_order_in_doubt_and_the_mail_sent_once() {
    let w = world_with_faults("cosmic", |f| f.latency = std::time::Duration::from_secs(1)).await;
    let orders = w.orders_of("cosmic").await;
    assert!(!orders.is_empty());
    for o in &orders {
        assert_eq!(o.state, OrderState::InDoubt, "{o:?}");
        assert!(
            o.last_error
                .as_deref()
                .is_some_and(|e| e.contains("may have taken it")),
            "{o:?}"
        );
    }
    // The simulator records each mail once its (late) answer is due.
    let mut mails = Vec::new();
    for _ in 0..100 {
        mails = w.sim.mails();
        if mails.len() >= orders.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(mails.len(), orders.len(), "each order mail arrived once");
    // Later ticks send nothing again.
    w.tick("2027-05-08T07:00:00+02:00").await;
    w.tick("2027-05-09T07:00:00+02:00").await;
    assert_eq!(w.sim.mails().len(), orders.len(), "no mail twice");
    assert!(
        w.orders_of("cosmic")
            .await
            .iter()
            .all(|o| o.state == OrderState::InDoubt)
    );
}

/// A small org with one unit of 61 Cosmic users (10 % is 7) for the mail tests, and the
/// simulator its orders are mailed to. (The simulator needs the staff, the configuration
/// needs the simulator's port.)
async fn cosmic_mail_org() -> (Simulator, ConfigDir) {
    let staff = staff_csv(&[("hemtjanst", 61)]);
    let probe = ConfigDir::new(SMALL_ORG, Some(&staff));
    let org = loggvakt::config::load(probe.path()).unwrap();
    let sim = loggvakt::simulation::start(&org, 1, Ports::any())
        .await
        .unwrap();
    let toml = SMALL_ORG.replace(
        "smtp_port = 1",
        &format!("smtp_port = {}", sim.smtp_addr().port()),
    );
    (sim, ConfigDir::new(&toml, Some(&staff)))
}

#[tokio::test(flavor = "multi_thread")]
async fn cosmic_seven_sampled_users_make_three_mails_with_period_phone_and_reply_address() {
    let (sim, cfg) = cosmic_mail_org().await;
    let db = TestDb::sqlite();
    let r = run_tick(&cfg.arg(), &db, "2027-05-07T08:00:00+02:00");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mails = sim.mails();
    assert_eq!(mails.len(), 3, "{}", r.stdout);
    let mut sizes: Vec<usize> = mails
        .iter()
        .map(|m| m.body.matches(": 2027-04-").count())
        .collect();
    sizes.sort_unstable();
    assert_eq!(
        sizes,
        [1, 3, 3],
        "3 + 3 + 1 usernames, each with its own period"
    );
    for m in &mails {
        // The bytes as received, with the sender's own headers (issue 12, finding 11).
        let raw = String::from_utf8_lossy(&m.raw);
        assert!(
            raw.contains("\r\nDate: ") && raw.contains("charset=utf-8"),
            "{raw}"
        );
        assert!(
            m.subject
                .starts_with("Beställning av loggutdrag LV-2027-05-"),
            "{}",
            m.subject
        );
        assert!(
            m.body.contains("070-000 00 00"),
            "the phone for the password"
        );
        assert!(m.body.contains("lk@example.se"), "the reply address");
        assert!(m.order_key.is_some());
    }
    assert_eq!(sim.stats().cosmic.duplicates, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_killed_between_sending_and_recording_never_sends_twice() {
    let (sim, cfg) = cosmic_mail_org().await;
    let db = TestDb::sqlite();
    let killed = tick_crashing_at(
        &cfg.arg(),
        &db.url,
        "2027-05-07T08:00:00+02:00",
        "order.after_send:1",
    );
    // The three orders go out as one group (claimed together, sent side by side), and the
    // process dies after the group's calls and before their answers are recorded.
    assert!(
        !killed.status.success(),
        "aborted after the group's mails went out"
    );
    assert_eq!(sim.mails().len(), 3);
    // Restarted at once, and again after the dead process's claim ran out.
    for now in ["2027-05-07T08:01:00+02:00", "2027-05-07T08:30:00+02:00"] {
        let r = run_tick(&cfg.arg(), &db, now);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert_eq!(sim.mails().len(), 3, "each order mailed once");
    assert_eq!(sim.stats().cosmic.duplicates, 0);
    let list = db.run(&["order", "list", "--state", "in_doubt", "--format", "json"]);
    let in_doubt: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(
        in_doubt.as_array().unwrap().len(),
        3,
        "the interrupted orders wait for a person, none is mailed again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_that_never_comes_keeps_the_order_waiting_and_raises_one_reminder() {
    // Sesam 2 answers at once: there is no delivery to wait for.
    for system in ["cosmic", "treserva", "lifecare"] {
        let w = world_with_faults(system, |f| f.never_deliver = true).await;
        w.import_cosmic("2027-05-07T08:00:00+02:00").await;
        // Past the example's delivery_sla_days (10), twice.
        w.tick("2027-05-20T07:00:00+02:00").await;
        w.tick("2027-05-21T07:00:00+02:00").await;
        let orders = w.orders_of(system).await;
        assert!(!orders.is_empty());
        for o in &orders {
            assert_eq!(o.state, OrderState::AwaitingDelivery, "{system}: {o:?}");
            assert!(o.reminded_at.is_some(), "{system}: overdue reminder raised");
        }
        let reminders = audit_count(&w.store, "order.delivery_overdue").await;
        assert_eq!(
            reminders as usize,
            orders.len(),
            "{system}: one reminder per order"
        );
    }
}

/// The example plugin, loaded from its shared library, through the same scenarios: it is
/// ordered, delivers, and is normalised and stored; a transient failure (its outbox not
/// there) is retried; a malformed delivery is refused with its line. (It has no peer that
/// can hang: its calls are file operations, bounded by the host's plugin timeout.)
#[tokio::test(flavor = "multi_thread")]
async fn the_example_plugin_passes_the_same_scenarios() {
    plugin_scenarios(support::plugin_library()).await;
}

/// The same scenarios for the file drop written in plain C from the SDK's header, built here
/// with `cc` and run out of process like every plugin. It reads no files itself: loggvakt
/// reads its deliveries in the normalised form.
#[tokio::test(flavor = "multi_thread")]
async fn the_c_example_plugin_passes_the_same_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let lib = support::c_plugin("plugins/c-file-drop/file_drop.c", dir.path());
    plugin_scenarios(&lib).await;
}

async fn plugin_scenarios(lib: &std::path::Path) {
    let root = tempfile::tempdir().unwrap();
    let (outbox, inbox) = (root.path().join("out"), root.path().join("in"));
    std::fs::create_dir_all(&inbox).unwrap();
    let toml = format!(
        "[organisation]\nname = \"P\"\nstaff_csv = \"staff.csv\"\n\
         [[unit]]\nid = \"a\"\nname = \"A\"\nmanager = {{ name = \"M\", email = \"m@example.se\" }}\n\
         escalate_to = {{ name = \"E\", email = \"e@example.se\" }}\n\
         [[system]]\nid = \"arkiv\"\nconnector = \"plugin:{}\"\n\
         settings = {{ outbox = \"{}\", inbox = \"{}\" }}\n\
         [[routine]]\nid = \"r\"\nkind = \"stickprov\"\nsystem = \"arkiv\"\n",
        lib.display(),
        outbox.display(),
        inbox.display()
    );
    let mut staff = String::from("id,name,unit,email,personnummer,arkiv\n");
    for i in 1..=30 {
        staff.push_str(&format!("s{i:02},P {i},a,,,fd{i:02}\n"));
    }
    let cfg = ConfigDir::new(&toml, Some(&staff));
    let org = loggvakt::config::load(cfg.path()).unwrap();
    let connectors = Connectors::for_org(&org);
    connectors.require_all().unwrap();
    let db = TestDb::sqlite();
    let store = db.open().await;
    let tick = |when: &'static str| {
        let (store, org, connectors) = (store.clone(), org.clone(), connectors.clone());
        async move {
            loggvakt::tick::tick(&store, &org, &connectors, &at(when), "test")
                .await
                .unwrap()
        }
    };

    // Transient failure: the outbox is not there yet, then it is.
    let r = tick("2027-05-07T07:00:00+02:00").await;
    assert_eq!(r.orders.retried, 1, "{r:?}");
    std::fs::create_dir_all(&outbox).unwrap();
    let r = tick("2027-05-07T07:05:00+02:00").await;
    assert_eq!(r.orders.sent, 1, "{r:?}");
    let order = store.orders(None).await.unwrap().pop().unwrap();
    assert_eq!(order.attempts, 2);
    let Subject::Users(users) = &order.request.subject else {
        unreachable!()
    };
    assert_eq!(users.len(), 3, "10 % of 30");

    // Malformed delivery: refused with its line, the order keeps waiting.
    let header = format!("{EXTRACT_HEADER}\n");
    let row = |u: &loggvakt_connector::UserRef, hour: u32| {
        let day = u.period.unwrap().from.date();
        format!(
            "{day}T{hour:02}:10:00,arkiv,{},,191212121212,,,read,Läst,\n",
            u.username
        )
    };
    let bad = format!(
        "{header}{}{}",
        row(&users[0], 9),
        row(&users[1], 9).replace("191212121212", "191212121213")
    );
    let file = inbox.join(format!("{}.csv", order.reference));
    std::fs::write(&file, bad).unwrap();
    tick("2027-05-07T07:30:00+02:00").await;
    let waiting = store.order(order.id).await.unwrap().unwrap();
    assert_eq!(waiting.state, OrderState::AwaitingDelivery);
    assert!(
        waiting.last_error.as_deref().unwrap().contains("line 3"),
        "{:?}",
        waiting.last_error
    );
    assert_eq!(store.event_count(None).await.unwrap(), 0);

    // A good delivery: every row stored, normalised, linked to the sampled people.
    let good: String = std::iter::once(header.clone())
        .chain(users.iter().flat_map(|u| [row(u, 9), row(u, 14)]))
        .collect();
    std::fs::write(&file, good).unwrap();
    tick("2027-05-07T08:00:00+02:00").await;
    assert_eq!(
        store.order(order.id).await.unwrap().unwrap().state,
        OrderState::Imported
    );
    assert_eq!(store.event_count(Some(order.id)).await.unwrap(), 6);
    assert_eq!(
        support::count(
            &store,
            "SELECT COUNT(*) FROM access_events WHERE staff_id IS NULL"
        )
        .await,
        0
    );
}
