//! Benchmark of `extract import`: a generated extract of N rows (default 1 000 000) for one
//! order, parsed, checked against the order (ordered users, their periods) and stored.
//!
//! ```sh
//! cargo build --release --bin loggvakt --example bench_import
//! ./target/release/examples/bench_import --rows 1000000 [--db URL] [--web]
//! ```
//! Uses the normalised CSV form (DESIGN.md §6) through an in-process connector that streams
//! (as every connector of a line-based format does), a fresh SQLite database in a temporary
//! folder (or `--db URL`, an empty database), and prints rows per second and the process's
//! peak RSS. With `--web`, a `loggvakt serve` on the same database (the binary beside this
//! example) is asked for a page and a login every 50 ms during the import, and the latencies
//! are printed: the import must not hold up the rest of the installation.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use loggvakt::clock::Clock;
use loggvakt::connectors::Connectors;
use loggvakt::model::order::OrderState;
use loggvakt::orders::Pipeline;
use loggvakt::stage::Stage;
use loggvakt_connector::{
    Capabilities, Connector, ConnectorError, Manifest, OrderReceipt, OrderRequest, Subject,
    async_trait, csv_form,
};

struct NormalisedCsv;

#[async_trait]
impl Connector for NormalisedCsv {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: "normalised-csv".into(),
            version: "1".into(),
            capabilities: Capabilities {
                order: true,
                import: true,
                ..Capabilities::default()
            },
            max_users_per_order: None,
        }
    }
    async fn health(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
    async fn order(&self, _: &OrderRequest) -> Result<OrderReceipt, ConnectorError> {
        Ok(OrderReceipt::default())
    }
    loggvakt_connector::csv_form_imports!();
}

/// The login form as the web tests post it.
#[path = "../tests/it/support/login.rs"]
mod web_login;

/// Peak resident memory of this process so far, in MB (Linux).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A `loggvakt serve` on the bench's database, with a user to log in as; killed on drop.
struct Server {
    child: std::process::Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const WEB_PASSWORD: &str = "lösenord-för-mätning-9";

async fn start_server(db: &str, config: &std::path::Path, now: &str) -> anyhow::Result<Server> {
    let bin = std::env::current_exe()?
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("loggvakt"))
        .ok_or_else(|| anyhow::anyhow!("no loggvakt binary beside the example"))?;
    let cli = |args: &[&str]| {
        let mut c = std::process::Command::new(&bin);
        c.args(["--db", db, "--config"]).arg(config);
        c.args(["--now", now]).args(args);
        c
    };
    let added = cli(&[
        "user",
        "add",
        "bench",
        "--role",
        "admin",
        "--name",
        "Bench",
        "--email",
        "bench@example.se",
    ])
    .env("LOGGVAKT_PASSWORD", WEB_PASSWORD)
    .output()?;
    anyhow::ensure!(
        added.status.success(),
        "user add: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    // Its log goes to a file in the bench's folder, named when it does not start.
    let log = std::fs::File::create(config.join("serve.log"))?;
    let child = cli(&["serve", "--listen", &listen])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()?;
    let server = Server {
        child,
        url: format!("http://{listen}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("{}/health/ready", server.url))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(server);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(config.join("serve.log")).unwrap_or_default();
    anyhow::bail!("loggvakt serve did not become ready:\n{log}")
}

/// Every 50 ms until told to stop: a page that reads the database (the orders list), and a login (which
/// writes a session and an audit record). Returns the latencies of each, in ms.
async fn probe(url: String, stop: Arc<std::sync::atomic::AtomicBool>) -> (Vec<f64>, Vec<f64>) {
    let (mut pages, mut logins) = (Vec::new(), Vec::new());
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let t = Instant::now();
        let res = web_login::post_login(&client, &url, "bench", WEB_PASSWORD).await;
        let ok = res.status().is_success();
        let _ = res.text().await;
        logins.push(t.elapsed().as_secs_f64() * 1e3);
        if ok {
            let t = Instant::now();
            let res = client
                .get(format!("{url}/admin/bestallningar"))
                .send()
                .await
                .unwrap();
            assert!(
                res.status().is_success(),
                "the orders page: {}",
                res.status()
            );
            let _ = res.text().await;
            pages.push(t.elapsed().as_secs_f64() * 1e3);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (pages, logins)
}

fn summary(name: &str, mut ms: Vec<f64>) {
    if ms.is_empty() {
        println!("{name}: no requests");
        return;
    }
    ms.sort_by(f64::total_cmp);
    let p = |q: f64| ms[((ms.len() - 1) as f64 * q) as usize];
    println!(
        "{name}: {} requests during the import, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms.len(),
        p(0.5),
        p(0.99),
        ms[ms.len() - 1]
    );
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let rows: usize = arg("--rows").map_or(Ok(1_000_000), |r| r.parse())?;
    let dir = tempfile::tempdir()?;
    let db = arg("--db")
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    std::fs::write(
        dir.path().join("org.toml"),
        r#"
[organisation]
name = "Bench"
staff_csv = "staff.csv"
[[unit]]
id = "u"
name = "U"
manager = { name = "M", email = "m@example.se" }
escalate_to = { name = "E", email = "e@example.se" }
[[system]]
id = "bench"
connector = "cosmic"
max_extract_mb = 4096
settings = { smtp_port = 1, from = "lk@example.se", order_to = "journal@region.example", recipient_name = "Loggkontroll", recipient_phone = "070-000 00 00", recipient_email = "lk@example.se" }
[[routine]]
id = "r"
kind = "stickprov"
system = "bench"
sample = { fraction = 1.0, min = 1 }
"#,
    )?;
    let mut staff = String::from("id,name,unit,email,personnummer,bench\n");
    for i in 0..20 {
        staff.push_str(&format!("s{i:02},Person {i},u,,,user{i:02}\n"));
    }
    std::fs::write(dir.path().join("staff.csv"), staff)?;
    let org = loggvakt::config::load(dir.path()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = loggvakt::store::Store::open(&db).await?;
    let connectors = Connectors::for_org(&org).with("bench", Arc::new(NormalisedCsv));
    let now: DateTime<Utc> = "2027-05-07T06:00:00Z".parse()?;
    loggvakt::tick::tick(&store, &org, &connectors, &Clock::starting_at(now), "bench").await?;
    let order = store
        .orders(Some(OrderState::AwaitingDelivery))
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no order awaiting delivery"))?;
    let Subject::Users(users) = &order.request.subject else {
        anyhow::bail!("not a user order")
    };

    // Rows spread over the ordered users, inside each one's own 24 hours.
    let file = dir.path().join("extract.csv");
    let t0 = Instant::now();
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file)?);
    writeln!(w, "{}", csv_form::HEADER.join(","))?;
    let patients = [
        "191212121212",
        "198112189876",
        "194910120023",
        "200001022383",
    ];
    for i in 0..rows {
        let u = &users[i % users.len()];
        let p = u.period.expect("per-user period");
        let t = p.from + TimeDelta::seconds((i as i64 * 7919) % 86_000);
        writeln!(
            w,
            "{},bench,{},,{},,Avdelning {},read,Läst journal,Journal",
            t.format("%Y-%m-%dT%H:%M:%S"),
            u.username,
            patients[i % patients.len()],
            i % 7
        )?;
    }
    w.flush()?;
    drop(w);
    let size = std::fs::metadata(&file)?.len();
    eprintln!(
        "generated {rows} rows ({:.1} MB) in {:.2} s",
        size as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );

    let web = if std::env::args().any(|a| a == "--web") {
        let server = start_server(&db, dir.path(), "2027-05-07T08:00:00+02:00").await?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let probing = tokio::spawn(probe(server.url.clone(), stop.clone()));
        Some((server, stop, probing))
    } else {
        None
    };
    let before = peak_rss_mb();
    let t1 = Instant::now();
    let clock = Clock::starting_at(now);
    let n = Pipeline::new(Stage::new(&store, &org, &clock, "bench"), &connectors)
        .import_file(order.id, &file)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = t1.elapsed().as_secs_f64();
    println!(
        "imported {n} rows ({:.1} MB) in {secs:.2} s: {:.0} rows/s ({}); peak RSS {:.0} MB \
         ({:.0} MB before the import)",
        size as f64 / 1e6,
        n as f64 / secs,
        loggvakt::store::redact(&db),
        peak_rss_mb(),
        before
    );
    if let Some((server, stop, probing)) = web {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (pages, logins) = probing.await?;
        summary("web page /admin/bestallningar", pages);
        summary("web login (writes)", logins);
        drop(server);
    }
    Ok(())
}
