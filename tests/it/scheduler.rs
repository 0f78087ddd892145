//! The tick: draws made when a month begins, run on their day, late or missed after
//! downtime; no duplicates under concurrency, crashes or two server processes.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use loggvakt::store::Store;
use serde_json::Value;

use crate::support::{
    self, ConfigDir, SMALL_ORG, TestDb, at, audit_count, count, loggvakt, per_backend, run_on,
    staff_csv, tick_crashing_at,
};

fn small_org() -> ConfigDir {
    ConfigDir::new(
        SMALL_ORG,
        Some(&staff_csv(&[("hemtjanst", 30), ("boende", 12)])),
    )
}

fn tick(cfg: &str, db: &TestDb, now: &str) -> support::Run {
    let r = run_on(cfg, &db.url, Some(now), &["tick"]);
    assert_eq!(r.code, 0, "[{}] tick at {now}: {}", db.backend, r.stderr);
    r
}

/// The month's draws as `unit -> (status, execution_date, executed_at)`.
fn states(
    cfg: &str,
    db: &TestDb,
    now: &str,
    month: &str,
) -> BTreeMap<String, (String, String, Option<String>)> {
    let r = run_on(
        cfg,
        &db.url,
        Some(now),
        &["plan", "--month", month, "--format", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let draws: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
    draws
        .iter()
        .map(|d| {
            (
                d["unit"].as_str().unwrap().to_owned(),
                (
                    d["status"].as_str().unwrap().to_owned(),
                    d["execution_date"].as_str().unwrap().to_owned(),
                    d["executed_at"].as_str().map(str::to_owned),
                ),
            )
        })
        .collect()
}

async fn draws(store: &Store) -> i64 {
    count(store, "SELECT COUNT(*) FROM draws").await
}

/// How many draws ran, counted once each and in all (the same when none ran twice).
async fn executed(store: &Store) -> (i64, i64) {
    let distinct = count(
        store,
        "SELECT COUNT(DISTINCT object) FROM audit_log WHERE action = 'draw.executed'",
    )
    .await;
    (distinct, audit_count(store, "draw.executed").await)
}

per_backend!(fn each_draw_runs_on_its_own_execution_day);
fn each_draw_runs_on_its_own_execution_day(db: TestDb) {
    let cfg = small_org();
    let r = tick(&cfg.arg(), &db, "2027-05-01T00:01:00+02:00");
    r.prints("2 draws made");
    let planned = states(&cfg.arg(), &db, "2027-05-01T00:02:00+02:00", "2027-05");
    assert_eq!(
        planned.len(),
        2,
        "hemtjanst and boende; the parent holds no staff"
    );
    assert!(planned.values().all(|(s, _, _)| s == "planned"));
    for day in 1..=31 {
        tick(&cfg.arg(), &db, &format!("2027-05-{day:02}T07:00:00+02:00"));
    }
    let after = states(&cfg.arg(), &db, "2027-05-31T12:00:00+02:00", "2027-05");
    for (unit, (status, day, executed)) in &after {
        assert_eq!(status, "done", "[{}] {unit}", db.backend);
        let executed = executed.as_deref().unwrap();
        // 07:00 local is 05:00 UTC in May.
        assert!(
            executed.starts_with(&format!("{day}T05:00")),
            "{unit} ran on {executed}, planned {day}"
        );
    }
}

per_backend!(fn downtime_makes_work_late_within_the_window_and_missed_after_it);
fn downtime_makes_work_late_within_the_window_and_missed_after_it(db: TestDb) {
    let cfg = small_org();
    tick(&cfg.arg(), &db, "2027-05-01T00:01:00+02:00");
    // Down until the window's last day: everything runs, late unless planned for the 7th.
    tick(&cfg.arg(), &db, "2027-05-07T09:00:00+02:00");
    for (unit, (status, day, _)) in states(&cfg.arg(), &db, "2027-05-07T10:00:00+02:00", "2027-05")
    {
        let expected = if day == "2027-05-07" { "done" } else { "late" };
        assert_eq!(status, expected, "[{}] {unit} planned {day}", db.backend);
    }
    // Down from before June began until mid-July: June was never drawn by a tick on
    // time; it is drawn now and shown as missed, and so is July's lapsed window.
    let r = tick(&cfg.arg(), &db, "2027-07-15T09:00:00+02:00");
    assert!(
        r.stdout.contains("4 draws made") && r.stdout.contains("4 missed"),
        "{}",
        r.stdout
    );
    for month in ["2027-06", "2027-07"] {
        let s = states(&cfg.arg(), &db, "2027-07-15T10:00:00+02:00", month);
        assert_eq!(s.len(), 2);
        for (unit, (status, day, _)) in s {
            assert_eq!(status, "missed", "[{}] {month} {unit}", db.backend);
            assert!(day.starts_with(month), "its planned day is kept: {day}");
        }
    }
    let store_audit = db.run(&["audit", "verify"]);
    assert_eq!(store_audit.code, 0, "{}", store_audit.stdout);
}

per_backend!(fn after_a_two_year_outage_every_month_is_drawn_and_shown_missed);
fn after_a_two_year_outage_every_month_is_drawn_and_shown_missed(db: TestDb) {
    let cfg = small_org();
    tick(&cfg.arg(), &db, "2025-07-01T00:01:00+02:00");
    // Down for 26 months: every month since July 2025 is drawn, none dropped.
    let now = "2027-09-20T09:00:00+02:00";
    tick(&cfg.arg(), &db, now);
    let mut month: loggvakt::calendar::Month = "2025-07".parse().unwrap();
    while month <= "2027-09".parse().unwrap() {
        let s = states(&cfg.arg(), &db, now, &month.to_string());
        assert_eq!(s.len(), 2, "[{}] {month} is drawn", db.backend);
        if month > "2025-07".parse().unwrap() {
            for (unit, (status, _, _)) in s {
                assert_eq!(status, "missed", "[{}] {month} {unit}", db.backend);
            }
        }
        month = month.next();
    }
    let report = db.run(&["report", "compliance", "--year", "2026", "--format", "json"]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    report.prints("\"missed\": 24");
}

per_backend!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_ticks_make_each_draw_once
);
async fn concurrent_ticks_make_each_draw_once(db: TestDb) {
    let cfg = support::example_config();
    let org = loggvakt::config::load(&cfg).unwrap();
    let connectors = loggvakt::connectors::Connectors::for_org(&org);
    let store = db.open().await;
    let clock = at("2027-05-05T08:00:00+02:00");
    let ticks = (0..4).map(|i| {
        let (store, org, connectors) = (store.clone(), org.clone(), connectors.clone());
        tokio::spawn(async move {
            loggvakt::tick::tick(&store, &org, &connectors, &clock, &format!("t{i}")).await
        })
    });
    for t in ticks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(draws(&store).await, 52, "[{}]", db.backend);
    assert_eq!(audit_count(&store, "draw.created").await, 52);
    // Every due draw ran exactly once.
    let due = count(
        &store,
        "SELECT COUNT(*) FROM draws WHERE execution_date <= '2027-05-05'",
    )
    .await;
    let (distinct, all) = executed(&store).await;
    assert_eq!(all, due);
    assert_eq!(distinct, due);
}

per_backend!(async fn a_process_killed_mid_tick_loses_and_duplicates_nothing);
async fn a_process_killed_mid_tick_loses_and_duplicates_nothing(db: TestDb) {
    let cfg = support::example_config();
    let cfg = cfg.to_str().unwrap();
    // Killed while storing draws: the transaction in flight is rolled back.
    let r = tick_crashing_at(
        cfg,
        &db.url,
        "2027-05-03T08:00:00+02:00",
        "plan.before_commit:1",
    );
    assert!(!r.status.success(), "the process was aborted");
    let store = db.open().await;
    let stored = draws(&store).await;
    assert_eq!(
        stored, 0,
        "[{}] half a chunk is never committed",
        db.backend
    );

    // Killed after claiming due draws, before running them.
    let r = tick_crashing_at(
        cfg,
        &db.url,
        "2027-05-07T08:00:00+02:00",
        "tick.after_claim:5",
    );
    assert!(!r.status.success());
    assert_eq!(draws(&store).await, 52, "[{}]", db.backend);
    let running = count(
        &store,
        "SELECT COUNT(*) FROM draws WHERE status = 'running'",
    )
    .await;
    assert!(running > 0, "the claim survived the crash");

    // Restarted: the next tick holds the tick lease, so the dead tick's claims are taken over
    // at once rather than after their 10 minutes (issue 12, fault 5).
    tick(cfg, &db, "2027-05-07T08:01:00+02:00");
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM draws WHERE status IN ('planned', 'running') \
             AND execution_date <= '2027-05-07'"
        )
        .await,
        0,
        "[{}] the dead tick's draws ran at the next tick",
        db.backend
    );
    tick(cfg, &db, "2027-05-07T08:30:00+02:00");
    assert_eq!(draws(&store).await, 52);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM draws WHERE status IN ('planned', 'running')"
        )
        .await,
        0
    );
    let (distinct, all) = executed(&store).await;
    assert_eq!(distinct, all, "no draw ran twice");
    assert_eq!(all, 52);
    assert_eq!(db.run(&["audit", "verify"]).code, 0);
    // PostgreSQL spends identity values in rolled-back transactions: ask for the ids.
    for id in store.draw_ids().await.unwrap() {
        assert_eq!(db.run(&["draw", "verify", &id.to_string()]).code, 0);
    }
}

per_backend!(async fn two_serve_processes_on_one_database_make_each_draw_once);
async fn two_serve_processes_on_one_database_make_each_draw_once(db: TestDb) {
    let cfg = support::example_config();
    let cfg = cfg.to_str().unwrap();
    // Migrated first, as `init` does before servers start.
    let store = db.open().await;
    let logs = tempfile::tempdir().unwrap();
    let spawn = |name: &str| {
        let log = std::fs::File::create(logs.path().join(name)).unwrap();
        loggvakt()
            .args(["--config", cfg, "--db", &db.url])
            .args(["--now", "2027-05-04T08:00:00+02:00", "serve"])
            .args(["--listen", "127.0.0.1:0", "--tick-every", "1"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let mut a = spawn("a.log");
    let mut b = spawn("b.log");
    let server_logs = || {
        ["a.log", "b.log"]
            .map(|n| std::fs::read_to_string(logs.path().join(n)).unwrap_or_default())
            .join("\n---\n")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait for several ticks of both to have passed over a complete plan.
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let drawn = draws(&store).await;
        let pending = count(
            &store,
            "SELECT COUNT(*) FROM draws WHERE status IN ('planned', 'running') AND execution_date <= '2027-05-04'",
        )
        .await;
        if drawn == 52 && pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] serve did not finish: {drawn} draws, {pending} pending\n{}",
            db.backend,
            server_logs()
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = a.kill();
    let _ = b.kill();
    let _ = a.wait();
    let _ = b.wait();
    assert_eq!(draws(&store).await, 52, "[{}]", db.backend);
    assert_eq!(audit_count(&store, "draw.created").await, 52);
    let (distinct, all) = executed(&store).await;
    assert_eq!(distinct, all, "[{}] no draw ran twice", db.backend);
    assert_eq!(db.run(&["audit", "verify"]).code, 0);
}

per_backend!(fn a_renamed_unit_with_open_work_is_named_and_not_drawn_again);
fn a_renamed_unit_with_open_work_is_named_and_not_drawn_again(db: TestDb) {
    let cfg = small_org();
    tick(&cfg.arg(), &db, "2027-05-01T00:01:00+02:00");
    let renamed = ConfigDir::new(
        &SMALL_ORG.replace("id = \"boende\"", "id = \"boendet\""),
        Some(&staff_csv(&[("hemtjanst", 30), ("boendet", 12)])),
    );
    let now = "2027-05-02T09:00:00+02:00";
    let check = run_on(&renamed.arg(), &db.url, Some(now), &["config", "check"]);
    assert_eq!(check.code, 1, "[{}] {}", db.backend, check.stdout);
    check.says("unit 'boende' is not in the configuration but has open work");
    check.says("draw(s) not yet run");
    // The tick goes on with everything else, but draws nobody again under the new id.
    tick(&renamed.arg(), &db, now);
    let draws = states(&cfg.arg(), &db, now, "2027-05");
    assert!(!draws.contains_key("boendet"), "[{}] {draws:?}", db.backend);
    let plan = run_on(
        &renamed.arg(),
        &db.url,
        Some(now),
        &["plan", "--month", "2027-05"],
    );
    assert_eq!(plan.code, 1);
    plan.says("no draws are made while the configuration leaves open work behind");
    // With its id back, all is well again.
    let back = run_on(&cfg.arg(), &db.url, Some(now), &["config", "check"]);
    assert_eq!(back.code, 0, "{}", back.stderr);
}

per_backend!(async fn a_removed_units_open_task_is_escalated_and_shown);
/// Fault 3: a unit taken out of the configuration (here renamed) with a task still open: the
/// overdue task is escalated to the organisation's top, and the report and the admin's list
/// of open work still show the unit.
async fn a_removed_units_open_task_is_escalated_and_shown(db: TestDb) {
    use crate::support::fixture::{NOTIFY, first_week, setup, staff};
    let s = setup();
    let store = db.open().await;
    first_week(&s, &store).await;
    let renamed = ConfigDir::new(
        &format!(
            "{}{NOTIFY}",
            SMALL_ORG.replace("id = \"boende\"", "id = \"boendet\"")
        ),
        Some(&staff().replace(",boende,", ",boendet,")),
    );
    let org = loggvakt::config::load(renamed.path()).unwrap();
    let connectors =
        loggvakt::connectors::Connectors::for_org(&org).with("cosmic", s.source.clone());
    let orphans = loggvakt::draw::orphans(&store, &org).await.unwrap();
    assert_eq!(orphans.len(), 1, "[{}] {orphans:?}", db.backend);
    assert_eq!((orphans[0].id.as_str(), orphans[0].tasks), ("boende", 1));
    // Past the deadline (14 days after the first week's tasks).
    let late = at("2027-05-25T09:00:00+02:00");
    loggvakt::tick::tick(&store, &org, &connectors, &late, "test")
        .await
        .unwrap();
    let escalated = count(
        &store,
        "SELECT COUNT(*) FROM notifications n JOIN review_tasks t ON t.id = n.task_id \
         WHERE n.kind = 'escalation' AND t.unit_id = 'boende' AND n.recipient LIKE '%fc@example.se%'",
    )
    .await;
    assert_eq!(
        escalated, 1,
        "[{}] the removed unit's task escalated",
        db.backend
    );
    let report = loggvakt::report::compliance(&store, &org, 2027, &late)
        .await
        .unwrap();
    let csv = loggvakt::report::to_csv(&report);
    assert!(
        csv.contains("boende (saknas i konfigurationen)"),
        "[{}] {csv}",
        db.backend
    );
}

per_backend!(async fn two_serve_processes_send_and_import_everything_once);
/// Two `serve` on one database (the SQLite file of a small installation started twice, or
/// two instances on PostgreSQL) against the simulated systems: each order goes out once,
/// each notice is sent once, and the trail stays intact (issue 12, fault 1).
async fn two_serve_processes_send_and_import_everything_once(db: TestDb) {
    let example = support::example_config();
    let org = loggvakt::config::load(&example).unwrap();
    let sim = loggvakt::simulation::start(&org, 3, loggvakt_simulator::Ports::any())
        .await
        .unwrap();
    let cfg = config_against(&example, &sim);
    let cfg_arg = cfg.path().to_str().unwrap();
    let store = db.open().await;
    let spawn = || {
        loggvakt()
            .args(["--config", cfg_arg, "--db", &db.url])
            .args(["--now", "2027-05-07T12:00:00+02:00", "serve"])
            .args(["--listen", "127.0.0.1:0", "--tick-every", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    let deadline = Instant::now() + Duration::from_secs(90);
    let settled = "SELECT COUNT(*) FROM orders WHERE state IN ('pending', 'sending') \
                   UNION ALL SELECT COUNT(*) FROM notifications WHERE state = 'pending' \
                   UNION ALL SELECT COUNT(*) FROM orders \
                   UNION ALL SELECT COUNT(*) FROM review_tasks";
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let counts: Vec<(i64,)> = sqlx::query_as(settled)
            .fetch_all(store.pool())
            .await
            .unwrap();
        if counts[0].0 == 0 && counts[1].0 == 0 && counts[2].0 > 0 && counts[3].0 > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] not settled: {counts:?}",
            db.backend
        );
    }
    // A few more ticks of both, over what is done.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for p in [&mut a, &mut b] {
        let _ = p.kill();
        let _ = p.wait();
    }
    let stats = sim.stats();
    assert_eq!(stats.total_duplicates(), 0, "[{}] {stats:?}", db.backend);
    let cosmic_sent = count(
        &store,
        "SELECT COUNT(*) FROM orders WHERE system_id = 'cosmic' AND sent_at IS NOT NULL",
    )
    .await;
    assert!(cosmic_sent > 0);
    assert_eq!(
        stats.mails_received as i64, cosmic_sent,
        "[{}] each order mail once",
        db.backend
    );
    let sent = count(
        &store,
        "SELECT COUNT(*) FROM notifications WHERE state = 'sent'",
    )
    .await;
    let files = std::fs::read_dir(cfg.path().join("outbox"))
        .unwrap()
        .count() as i64;
    assert!(sent > 0);
    assert_eq!(files, sent, "[{}] each notice written once", db.backend);
    assert_eq!(db.run(&["audit", "verify"]).code, 0);
}

/// A tick longer than the timer's interval (one system answers only after 3 s) is not joined
/// by the next timer's tick: that one is skipped, logged and counted on `/metrics`, while
/// `/health/ready` and the login page answer at once (issue 14).
#[tokio::test]
async fn a_slow_tick_is_not_overlapped_and_the_service_answers_meanwhile() {
    let db = TestDb::sqlite();
    let example = support::example_config();
    let org = loggvakt::config::load(&example).unwrap();
    let sim = loggvakt::simulation::start(&org, 3, loggvakt_simulator::Ports::any())
        .await
        .unwrap();
    sim.set_faults(
        "lifecare",
        loggvakt_simulator::SystemFaults {
            latency: Duration::from_secs(3),
            ..Default::default()
        },
    );
    let cfg = config_against(&example, &sim);
    let log = cfg.path().join("serve.log");
    let mut serve = loggvakt()
        .args(["--config", cfg.path().to_str().unwrap(), "--db", &db.url])
        .args(["--now", "2027-05-07T12:00:00+02:00", "serve"])
        .args(["--listen", "127.0.0.1:0", "--tick-every", "1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("serving on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "serve did not start: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{url}{path}")).send();
    // While the first tick waits for Lifecare, the timer's ticks are skipped and counted.
    let mut answered_while_ticking = false;
    let skipped = loop {
        let health: Value = get("/health").await.unwrap().json().await.unwrap();
        if health["last_tick"] == "running" {
            let started = Instant::now();
            let ready = get("/health/ready").await.unwrap();
            let login = get("/login").await.unwrap();
            assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
            assert_eq!(login.status(), 200);
            assert!(started.elapsed() < Duration::from_secs(2));
            answered_while_ticking = true;
        }
        let metrics = get("/metrics").await.unwrap().text().await.unwrap();
        let skipped: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("loggvakt_ticks_skipped_total "))
            .unwrap()
            .parse()
            .unwrap();
        if skipped > 0 && answered_while_ticking {
            break skipped;
        }
        assert!(Instant::now() < deadline, "no tick was skipped: {metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(skipped >= 1);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("previous tick still running; skipping this one"),
        "{text}"
    );
    // Skipped, not queued behind: every order went out once.
    assert_eq!(sim.stats().total_duplicates(), 0);
}

/// The example configuration in a folder of its own, its systems pointed at `sim` and its
/// notices written to an outbox there.
fn config_against(
    example: &std::path::Path,
    sim: &loggvakt_simulator::Simulator,
) -> tempfile::TempDir {
    let toml = std::fs::read_to_string(example.join("example.toml"))
        .unwrap()
        .replace(
            "smtp_port = 2525",
            &format!("smtp_port = {}", sim.smtp_addr().port()),
        )
        .replace("http://127.0.0.1:8481", &sim.treserva_url())
        .replace("http://127.0.0.1:8482", &sim.sesam2_url())
        .replace("http://127.0.0.1:8483", &sim.lifecare_url())
        .replace("# outbox = \"outbox\"", "outbox = \"outbox\"");
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(cfg.path().join("example.toml"), toml).unwrap();
    std::fs::copy(example.join("staff.csv"), cfg.path().join("staff.csv")).unwrap();
    cfg
}
