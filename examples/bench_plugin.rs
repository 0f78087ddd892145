//! What running plugins out of process costs: a call's round trip, and a delivery of N rows
//! (default 100 000), through the C file-drop plugin (`plugins/c-file-drop`) in its own
//! `loggvakt plugin-host` process versus loaded into this process.
//!
//! ```sh
//! cargo build --release --bin loggvakt --example bench_plugin
//! ./target/release/examples/bench_plugin --rows 100000 --calls 2000
//! ```
//! Needs `cc` (the plugin is compiled from its C source into a temporary folder) and finds the
//! host as `target/release/loggvakt` beside the example (or `LOGGVAKT_PLUGIN_HOST`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use loggvakt::plugin_host::{IsolatedPlugin, host_executable};
use loggvakt_connector::plugin::PluginConnector;
use loggvakt_connector::{
    Connector, ImportLimits, OrderReceipt, OrderRequest, Period, PollOutcome, Subject, UserRef,
    csv_form,
};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn build_plugin(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = dir.join("libc_file_drop.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-I"])
        .arg(root.join("connectors/sdk/include"))
        .arg("-o")
        .arg(&lib)
        .arg(root.join("plugins/c-file-drop/file_drop.c"))
        .status()
        .expect("cc runs");
    assert!(status.success(), "the C plugin builds");
    lib
}

fn request() -> OrderRequest {
    let day = NaiveDate::from_ymd_opt(2027, 4, 12).unwrap();
    OrderRequest {
        idempotency_key: "bench-1".into(),
        reference: "LV-BENCH-1".into(),
        subject: Subject::Users(vec![UserRef {
            username: "user01".into(),
            name: None,
            period: None,
        }]),
        period: Period {
            from: day.and_hms_opt(0, 0, 0).unwrap(),
            to: day.and_hms_opt(23, 59, 0).unwrap(),
        },
        orderer: None,
    }
}

/// N rows of the normalised form for one user on one day.
fn extract(rows: usize) -> String {
    let mut csv = csv_form::HEADER.join(",");
    csv.push('\n');
    for i in 0..rows {
        let (h, m, s) = (i / 3600 % 24, i / 60 % 60, i % 60);
        csv.push_str(&format!(
            "2027-04-12T{h:02}:{m:02}:{s:02},arkiv,user01,,191212121212,,,read,Läst journal,\n"
        ));
    }
    csv
}

/// The mean of `calls` health calls.
async fn round_trip(c: &dyn Connector, calls: usize) -> Duration {
    let started = Instant::now();
    for _ in 0..calls {
        c.health().await.expect("healthy");
    }
    started.elapsed() / calls as u32
}

/// Polls the delivery and reads it in the normalised form, as the tick does.
async fn delivery(c: &dyn Connector, rows: usize) -> Duration {
    let started = Instant::now();
    let PollOutcome::Delivered(file) = c
        .poll(&request(), &OrderReceipt::default())
        .await
        .expect("polled")
    else {
        panic!("the delivery is in the inbox");
    };
    let limits = ImportLimits { max_bytes: 1 << 30 };
    let outcome = csv_form::import(&mut file.bytes.as_slice(), &limits).expect("read");
    assert_eq!(outcome.events.len(), rows);
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let rows = arg("--rows", 100_000);
    let calls = arg("--calls", 2_000);
    let dir = tempfile::tempdir().unwrap();
    let lib = build_plugin(dir.path());
    let (outbox, inbox) = (dir.path().join("out"), dir.path().join("in"));
    std::fs::create_dir_all(&outbox).unwrap();
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("LV-BENCH-1.csv"), extract(rows)).unwrap();
    let settings = serde_json::json!({"outbox": outbox, "inbox": inbox});
    let timeout = Duration::from_secs(60);

    let host = host_executable().expect("the loggvakt binary is built");
    let isolated = IsolatedPlugin::start(&host, &lib, "arkiv", &settings, timeout).unwrap();
    let in_process = PluginConnector::load(&lib, "arkiv", &settings, timeout).unwrap();

    // Warm both up, then measure each twice, alternating.
    round_trip(&isolated, 50).await;
    round_trip(&in_process, 50).await;
    for run in 1..=2 {
        let out = round_trip(&isolated, calls).await;
        let inp = round_trip(&in_process, calls).await;
        println!(
            "run {run}: call round trip (health), mean of {calls}: out of process {:.1} µs, in process {:.1} µs",
            out.as_secs_f64() * 1e6,
            inp.as_secs_f64() * 1e6
        );
        let out = delivery(&isolated, rows).await;
        let inp = delivery(&in_process, rows).await;
        println!(
            "run {run}: delivery of {rows} rows (poll + read): out of process {:.0} ms, in process {:.0} ms",
            out.as_secs_f64() * 1e3,
            inp.as_secs_f64() * 1e3
        );
    }
}
