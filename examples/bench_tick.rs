//! The first-week tick at a region's scale (issue 14): the organisation `gen_org` writes,
//! against the four simulated care systems in this process (every answer delayed by
//! `--latency-ms`), through `--months` months from `--start`.
//!
//! ```text
//! cargo build --release --example gen_org --example bench_tick
//! ./target/release/examples/gen_org --staff 40000 --units 2000 --out /tmp/bigorg
//! ./target/release/examples/bench_tick --org /tmp/bigorg [--db postgres://…/lv_tick_bench] \
//!     [--latency-ms 50] [--start 2027-03] [--months 12]
//! ```
//!
//! Each month's first draw day (its first working day) is ticked by a real `serve` running in
//! this process, with its timer on: while that tick runs, `/health/ready` and a web page
//! (`/admin`, signed in) are polled and their slowest answers reported, and a timer tick that
//! came while it ran shows as skipped. Reported per month: draws run, orders created by that
//! tick and their state after it by system, mails the simulated journal unit received, the
//! tick's time (serve's own `loggvakt_last_tick_duration_seconds`), peak RSS of the process
//! during the tick (`VmHWM`, reset before it; it includes the simulators), and the database's
//! size. The rest of each month is ticked directly (each day of the first two weeks at 06:00,
//! then the 20th and the last day), Cosmic's extracts imported as an administrator would, so a
//! year of months leaves a year's data behind. A fresh database every run (`--db` must be
//! empty or absent; the default is a temporary SQLite file).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use loggvakt::calendar::{Month, is_working_day, start_of_day};
use loggvakt::clock::Clock;
use loggvakt::connectors::Connectors;
use loggvakt::draw::Seeds;
use loggvakt::model::order::OrderState;
use loggvakt::model::org::{NotifyTransport, Organisation};
use loggvakt::model::user::Role;
use loggvakt::server::{self, ServeOptions};
use loggvakt::stage::Stage;
use loggvakt::store::{Backend, Store};
use loggvakt::tick::Tick;
use loggvakt_simulator::{Ports, Simulator, SystemFaults};
use sqlx::Row;

#[path = "../tests/it/support/login.rs"]
mod web_login;

const PASSWORD: &str = "benchmark-lösenord-tick";

struct Args {
    org: PathBuf,
    db: Option<String>,
    latency: Duration,
    start: Month,
    months: u32,
    seed: u64,
    /// Tick with this `loggvakt` binary's `tick` command instead (one month's first draw day;
    /// for comparing builds).
    bin: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        org: PathBuf::new(),
        db: None,
        latency: Duration::from_millis(50),
        start: Month::new(2027, 3).expect("a month"),
        months: 1,
        seed: 1,
        bin: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--org" => a.org = value().into(),
            "--db" => a.db = Some(value()),
            "--latency-ms" => a.latency = Duration::from_millis(value().parse().expect("ms")),
            "--start" => {
                let v = value();
                let (y, m) = v.split_once('-').expect("--start YYYY-MM");
                a.start = Month::new(y.parse().expect("year"), m.parse().expect("month"))
                    .expect("--start YYYY-MM");
            }
            "--months" => a.months = value().parse().expect("--months N"),
            "--seed" => a.seed = value().parse().expect("--seed N"),
            "--bin" => a.bin = Some(value().into()),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        !a.org.as_os_str().is_empty(),
        "--org DIR (gen_org's output) is needed"
    );
    a
}

/// Peak RSS so far, in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Starts the peak RSS over (Linux: writing 5 to clear_refs resets VmHWM).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn db_size_mb(store: &Store, sqlite_file: Option<&PathBuf>) -> f64 {
    let bytes = match (store.backend(), sqlite_file) {
        (Backend::Sqlite, Some(file)) => ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", file.display())).ok())
            .map(|m| m.len() as i64)
            .sum(),
        _ => sqlx::query("SELECT pg_database_size(current_database())")
            .fetch_one(store.pool())
            .await
            .map(|r| r.get::<i64, _>(0))
            .unwrap_or(0),
    };
    bytes as f64 / 1e6
}

async fn scalar(store: &Store, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(store.pool())
        .await
        .expect(sql)
        .get::<i64, _>(0)
}

/// Orders above `after` by system and state.
async fn orders_since(store: &Store, after: i64) -> BTreeMap<String, BTreeMap<String, i64>> {
    let rows = sqlx::query(
        "SELECT system_id, state, COUNT(*) FROM orders WHERE id > $1 GROUP BY system_id, state",
    )
    .bind(after)
    .fetch_all(store.pool())
    .await
    .expect("orders by system");
    let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for r in rows {
        out.entry(r.get::<String, _>(0))
            .or_default()
            .insert(r.get::<String, _>(1), r.get::<i64, _>(2));
    }
    out
}

/// Latencies of one path polled in a loop until `done`.
async fn poll(
    client: reqwest::Client,
    url: String,
    done: tokio::sync::watch::Receiver<bool>,
) -> Polled {
    let mut p = Polled::default();
    while !*done.borrow() {
        let start = Instant::now();
        let ok = match client.get(&url).send().await {
            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        p.times.push(start.elapsed());
        p.errors += usize::from(!ok);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p
}

#[derive(Default)]
struct Polled {
    times: Vec<Duration>,
    errors: usize,
}

impl Polled {
    fn summary(mut self) -> String {
        self.times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p99 = self
            .times
            .get(((self.times.len() as f64 - 1.0) * 0.99).round().max(0.0) as usize)
            .copied()
            .unwrap_or_default();
        format!(
            "{} requests, p99 {:.1} ms, max {:.1} ms, {} errors",
            self.times.len(),
            ms(p99),
            ms(self.times.last().copied().unwrap_or_default()),
            self.errors
        )
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The organisation's configuration with its systems pointed at the simulators, for a
/// `loggvakt` binary run as a command.
fn pointed_config(org_dir: &std::path::Path, sim: &Simulator, into: &std::path::Path) {
    std::fs::create_dir_all(into).expect("config folder");
    let toml = std::fs::read_to_string(org_dir.join("org.toml"))
        .expect("gen_org's org.toml")
        .replace(
            "max_users_per_order = 3,",
            &format!(
                "max_users_per_order = 3, from = \"loggkontroll@storkommunen.example\", \
                 recipient_name = \"Loggkontroll\", smtp_host = \"127.0.0.1\", smtp_port = {}, smtp_tls = \"none\",",
                sim.smtp_addr().port()
            ),
        )
        .replace("http://127.0.0.1:8481", &sim.treserva_url())
        .replace(
            "\"http://127.0.0.1:8482\"",
            &format!("\"{}\", token = \"bench-token\"", sim.sesam2_url()),
        )
        .replace(
            "\"http://127.0.0.1:8483\"",
            &format!("\"{}\", token = \"bench-token\"", sim.lifecare_url()),
        );
    std::fs::write(into.join("org.toml"), toml).expect("org.toml");
    std::fs::copy(org_dir.join("staff.csv"), into.join("staff.csv")).expect("staff.csv");
}

/// One `tick` of `bin` at `at`, timed by GNU time: (wall s, peak RSS MB).
fn external_tick(
    bin: &std::path::Path,
    config: &std::path::Path,
    db: &str,
    at: DateTime<Utc>,
) -> (f64, f64) {
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "TIME %e %M"])
        .arg(bin)
        .arg("--config")
        .arg(config)
        .args(["--db", db, "--now", &at.to_rfc3339(), "tick"])
        .env("RUST_LOG", "error")
        .output()
        .expect("/usr/bin/time runs the tick");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the tick failed: {err}");
    let line = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("TIME "))
        .expect("GNU time's line");
    let mut parts = line.split_whitespace();
    let wall: f64 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let kb: f64 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    (wall, kb / 1024.0)
}

struct Bench {
    org: Organisation,
    store: Store,
    sim: Simulator,
    connectors: Connectors,
    seeds: Seeds,
    inbox: PathBuf,
    sqlite_file: Option<PathBuf>,
}

impl Bench {
    async fn tick(&self, at: DateTime<Utc>) -> loggvakt::tick::TickReport {
        let report = Tick {
            store: &self.store,
            org: &self.org,
            connectors: &self.connectors,
            clock: &Clock::starting_at(at),
            instance: "bench",
            seeds: &self.seeds,
        }
        .run()
        .await
        .expect("tick");
        self.import_cosmic(at + TimeDelta::hours(2)).await;
        report
    }

    /// The journal unit's extracts, saved and imported as the administrator does.
    async fn import_cosmic(&self, at: DateTime<Utc>) -> usize {
        let clock = Clock::starting_at(at);
        let mut n = 0;
        for order in self
            .store
            .orders(Some(OrderState::AwaitingDelivery))
            .await
            .expect("orders")
        {
            let Some(bytes) = self.sim.cosmic_extract(&order.idempotency_key) else {
                continue;
            };
            let file = self.inbox.join(format!("{}.csv", order.id));
            std::fs::write(&file, bytes).expect("inbox");
            let cx = Stage::new(&self.store, &self.org, &clock, "bench:administrator");
            let pipeline = loggvakt::orders::Pipeline::new(cx, &self.connectors);
            pipeline
                .import_file(order.id, &file)
                .await
                .expect("import a Cosmic extract");
            let _ = std::fs::remove_file(&file);
            n += 1;
        }
        n
    }

    /// The month's first draw day, ticked by `serve` in this process while its health and a
    /// page are polled.
    async fn serve_tick(&self, at: DateTime<Utc>, month: Month) {
        let draws_before = scalar(
            &self.store,
            "SELECT COUNT(*) FROM draws WHERE executed_at IS NOT NULL",
        )
        .await;
        let last_order = scalar(&self.store, "SELECT COALESCE(MAX(id), 0) FROM orders").await;
        let mails_before = self.sim.stats().mails_received;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("addr").port()
        };
        let url = format!("http://127.0.0.1:{port}");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let options = ServeOptions {
            listen: format!("127.0.0.1:{port}").parse().expect("addr"),
            config_path: None,
            tick_every: Duration::from_secs(60),
            anchor: None,
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            session_idle: TimeDelta::minutes(30),
            metrics_token: None,
            stop: Some(stop_rx),
        };
        reset_peak_rss();
        let started = Instant::now();
        // `serve` and the measurement side by side on this task: serve ends when told.
        let serving = server::serve(
            self.store.clone(),
            self.org.clone(),
            Clock::starting_at(at),
            options,
        );
        let measure = async {
            let plain = reqwest::Client::new();
            // The listener is up once `/health/live` answers (a server that ticks before it
            // serves answers only after that tick).
            while plain
                .get(format!("{url}/health/live"))
                .send()
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let first_answer = started.elapsed();
            let signed_in = reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .expect("client");
            web_login::post_login(&signed_in, &url, "benchadmin", PASSWORD).await;
            let (done_tx, done_rx) = tokio::sync::watch::channel(false);
            let ready = tokio::spawn(poll(
                plain.clone(),
                format!("{url}/health/ready"),
                done_rx.clone(),
            ));
            let page = tokio::spawn(poll(signed_in, format!("{url}/admin"), done_rx));
            // The first tick has ended once `/health` reports its time.
            loop {
                let health: serde_json::Value = plain
                    .get(format!("{url}/health"))
                    .send()
                    .await
                    .expect("health")
                    .json()
                    .await
                    .expect("health json");
                if health["last_tick"]["at"].is_string() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let wall = started.elapsed();
            let rss = peak_rss_mb();
            let _ = done_tx.send(true);
            let (ready, page) = (ready.await.expect("poll"), page.await.expect("poll"));
            let metrics = plain
                .get(format!("{url}/metrics"))
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("metrics");
            let _ = stop_tx.send(());
            (first_answer, wall, rss, ready, page, metrics)
        };
        let (served, (first_answer, wall, rss, ready, page, metrics)) =
            tokio::join!(serving, measure);
        served.expect("serve ends");
        let draws_run = scalar(
            &self.store,
            "SELECT COUNT(*) FROM draws WHERE executed_at IS NOT NULL",
        )
        .await
            - draws_before;
        println!(
            "\n{month}: first draw day, tick by serve at {at}: {draws_run} draws run, tick {:.1} s \
             (serve started to tick ended {:.1} s), timer ticks skipped meanwhile {}, peak RSS {rss:.0} MB",
            metric(&metrics, "loggvakt_last_tick_duration_seconds"),
            wall.as_secs_f64(),
            metric(&metrics, "loggvakt_ticks_skipped_total"),
        );
        let orders = orders_since(&self.store, last_order).await;
        let total: i64 = orders.values().flat_map(|s| s.values()).sum();
        println!(
            "  orders created {total}; Cosmic mails received {}",
            self.sim.stats().mails_received - mails_before
        );
        for (system, states) in &orders {
            let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
            println!("  {system:<10} {}", states.join(", "));
        }
        println!(
            "  first answer of /health/live {:.2} s after serve started",
            first_answer.as_secs_f64()
        );
        println!("  /health/ready during the tick: {}", ready.summary());
        println!("  /admin during the tick:        {}", page.summary());
        println!(
            "  database {:.0} MB",
            db_size_mb(&self.store, self.sqlite_file.as_ref()).await
        );
    }
}

#[tokio::main]
async fn main() {
    // The tick's slow stages (logged by the tick itself) and any error, on stderr.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error,loggvakt::tick=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = args();
    let mut org = loggvakt::config::load(&a.org).unwrap_or_else(|e| panic!("{e}"));
    let work = tempfile::tempdir().expect("a temporary folder");
    let mut config = loggvakt::simulation::sim_config(&org, a.seed);
    let faults = SystemFaults {
        latency: a.latency,
        ..SystemFaults::default()
    };
    config.faults.cosmic = faults.clone();
    config.faults.treserva = faults.clone();
    config.faults.sesam2 = faults.clone();
    config.faults.lifecare = faults;
    // The simulators want the token a system is configured with, and none without one.
    for system in &org.systems {
        let token = system.settings.get("token").and_then(toml::Value::as_str);
        match system.connector_name() {
            "sesam2" => config.sesam2_token = token.unwrap_or_default().to_owned(),
            "lifecare" => config.lifecare_token = token.unwrap_or_default().to_owned(),
            _ => {}
        }
    }
    let sim = Simulator::start(config, Ports::any())
        .await
        .expect("the simulators start");
    loggvakt::simulation::point_at(&mut org, &sim);
    // gen_org's systems are written for `plan`; sending needs a sender and a recipient name
    // (Cosmic) and a token (Sesam 2, Lifecare).
    for system in &mut org.systems {
        let wanted: &[(&str, &str)] = match system.connector_name() {
            "cosmic" => &[
                ("from", "loggkontroll@storkommunen.example"),
                ("recipient_name", "Loggkontroll"),
            ],
            "sesam2" | "lifecare" => &[("token", "bench-token")],
            _ => &[],
        };
        {
            for &(k, v) in wanted {
                if !system.settings.contains_key(k) {
                    system.settings.insert(k.to_owned(), v.into());
                }
            }
        }
    }
    org.notify.transport = NotifyTransport::Outbox(work.path().join("notices"));
    let (url, sqlite_file) = match &a.db {
        // A SQLite URL names the file whose size is reported.
        Some(url) => (
            url.clone(),
            url.strip_prefix("sqlite://")
                .map(|f| PathBuf::from(f.split('?').next().unwrap_or(f))),
        ),
        None => {
            let file = work.path().join("tick.db");
            (format!("sqlite://{}", file.display()), Some(file))
        }
    };
    let store = Store::open(&url).await.expect("the database opens");
    let hash = loggvakt::auth::hash_password(PASSWORD).expect("hash");
    store
        .upsert_user(
            &loggvakt::store::users::NewUser {
                username: "benchadmin",
                name: "Bench",
                email: "bench@example.se",
                role: Role::Admin,
                units: &[],
                password_hash: &hash,
            },
            Utc::now(),
            "bench",
        )
        .await
        .expect("the bench user");
    let connectors = Connectors::for_org(&org);
    connectors.require_all().expect("connectors");
    let inbox = work.path().join("inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    println!(
        "{}: {} staff, {} units, {} systems; simulators answer after {} ms; {}",
        org.name,
        org.staff.len(),
        org.units.len(),
        org.systems.len(),
        a.latency.as_millis(),
        if sqlite_file.is_some() {
            "SQLite".to_owned()
        } else {
            "PostgreSQL".to_owned()
        }
    );
    let bench = Bench {
        org,
        store,
        sim,
        connectors,
        seeds: Seeds::fixed(a.seed),
        inbox,
        sqlite_file,
    };
    if let Some(bin) = &a.bin {
        let config = work.path().join("config");
        pointed_config(&a.org, &bench.sim, &config);
        let draw_day = a
            .start
            .days()
            .find(|d| is_working_day(*d))
            .expect("a working day");
        if draw_day != a.start.first_day() {
            bench
                .tick(
                    start_of_day(a.start.first_day()).with_timezone(&Utc) + TimeDelta::seconds(30),
                )
                .await;
        }
        let draws_before = scalar(
            &bench.store,
            "SELECT COUNT(*) FROM draws WHERE executed_at IS NOT NULL",
        )
        .await;
        let mails_before = bench.sim.stats().mails_received;
        let at = start_of_day(draw_day).with_timezone(&Utc) + TimeDelta::seconds(30);
        let (wall, rss) = external_tick(bin, &config, &url, at);
        let draws_run = scalar(
            &bench.store,
            "SELECT COUNT(*) FROM draws WHERE executed_at IS NOT NULL",
        )
        .await
            - draws_before;
        println!(
            "\n{}: first draw day {draw_day}, `{} tick`: {draws_run} draws run in {wall:.1} s, peak RSS {rss:.0} MB",
            a.start,
            bin.display()
        );
        let orders = orders_since(&bench.store, 0).await;
        let total: i64 = orders.values().flat_map(|s| s.values()).sum();
        println!(
            "  orders created {total}; Cosmic mails received {}",
            bench.sim.stats().mails_received - mails_before
        );
        for (system, states) in &orders {
            let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
            println!("  {system:<10} {}", states.join(", "));
        }
        println!(
            "  database {:.0} MB",
            db_size_mb(&bench.store, bench.sqlite_file.as_ref()).await
        );
        return;
    }
    let year = Instant::now();
    let mut month = a.start;
    for i in 0..a.months {
        let first = month.first_day();
        let draw_day = month
            .days()
            .find(|d| is_working_day(*d))
            .expect("a working day");
        let at = |d: chrono::NaiveDate, h: i64| {
            start_of_day(d).with_timezone(&Utc) + TimeDelta::hours(h)
        };
        if draw_day != first {
            // The month's draws are planned by its first tick, at midnight on the 1st.
            let t = Instant::now();
            let r = bench
                .tick(start_of_day(first).with_timezone(&Utc) + TimeDelta::seconds(30))
                .await;
            println!(
                "{month}: planning tick on {first}: {} draws made in {:.1} s",
                r.created,
                t.elapsed().as_secs_f64()
            );
        }
        bench
            .serve_tick(
                start_of_day(draw_day).with_timezone(&Utc) + TimeDelta::seconds(30),
                month,
            )
            .await;
        let last_month = i + 1 == a.months;
        // The rest of the month, so the next one (and the year's database) has what a real
        // month leaves: the first week's draws, deliveries polled and imported.
        let t = Instant::now();
        let mut ticks = 0;
        for d in month.days().filter(|d| *d > draw_day) {
            let day = d.day0() + 1;
            if last_month && day > 14 {
                break;
            }
            if day <= 14 || day == 20 || d == month.last_day() {
                bench.tick(at(d, 6)).await;
                ticks += 1;
            }
        }
        println!(
            "  rest of {month}: {ticks} daily ticks in {:.1} s; database {:.0} MB; peak RSS so far {:.0} MB",
            t.elapsed().as_secs_f64(),
            db_size_mb(&bench.store, bench.sqlite_file.as_ref()).await,
            peak_rss_mb()
        );
        month = month.next();
    }
    let events = scalar(&bench.store, "SELECT COUNT(*) FROM access_events").await;
    let audit = scalar(&bench.store, "SELECT COUNT(*) FROM audit_log").await;
    println!(
        "\nafter {} month(s) ({:.0} s): database {:.0} MB, {events} access events, {audit} audit records, duplicate orders at the simulators {}",
        a.months,
        year.elapsed().as_secs_f64(),
        db_size_mb(&bench.store, bench.sqlite_file.as_ref()).await,
        bench.sim.stats().total_duplicates()
    );
}
