//! Benchmark of `extract import`: a generated extract of N rows (default 1 000 000) for one
//! order, parsed, checked against the order (ordered users, their periods) and stored.
//!
//! ```sh
//! cargo build --release --example bench_import
//! /usr/bin/time -f "%e s, %M KB" ./target/release/examples/bench_import --rows 1000000
//! ```
//! Uses the normalised CSV form (DESIGN.md §6) through an in-process connector, a fresh SQLite
//! database in a temporary folder (or `--db URL`), and prints rows per second for the import.

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
    Capabilities, Connector, ConnectorError, ImportLimits, ImportOutcome, Manifest, OrderReceipt,
    OrderRequest, Subject, async_trait, csv_form,
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
    fn import(
        &self,
        input: &mut dyn std::io::Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        let bytes = limits.read_all(input)?;
        Ok(csv_form::read_all(bytes.as_slice())?)
    }
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

    let t1 = Instant::now();
    let clock = Clock::starting_at(now);
    let n = Pipeline::new(Stage::new(&store, &org, &clock, "bench"), &connectors)
        .import_file(order.id, &file)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = t1.elapsed().as_secs_f64();
    println!(
        "imported {n} rows ({:.1} MB) in {secs:.2} s: {:.0} rows/s ({})",
        size as f64 / 1e6,
        n as f64 / secs,
        loggvakt::store::redact(&db)
    );
    Ok(())
}
