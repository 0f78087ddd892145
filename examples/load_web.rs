//! Load generator for the web pages: `clients` logged-in clients request the given paths
//! in a loop for `seconds`, and latency percentiles per path are printed.
//!
//! ```text
//! cargo run --release --example load_web -- --url http://127.0.0.1:8480 \
//!     --user bench --password '…' --path '/granskningar/{task}' --path /rapport \
//!     --clients 50 --seconds 20
//! ```
//! `{task}` is replaced by the visible task with the most stored rows (from `/api/tasks`), or
//! with `--task-rows N` by the one whose row count is nearest N (a 500-row task of the
//! region's database that `examples/bench_tick.rs` leaves). See BENCHMARKS.md for the setups.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The login form as the web tests post it.
#[path = "../tests/it/support/login.rs"]
mod web_login;

struct Args {
    url: String,
    user: String,
    password: String,
    paths: Vec<String>,
    clients: usize,
    seconds: u64,
    task_rows: Option<i64>,
}

fn args() -> Args {
    let mut a = Args {
        url: "http://127.0.0.1:8480".into(),
        user: String::new(),
        password: std::env::var("LOGGVAKT_PASSWORD").unwrap_or_default(),
        paths: Vec::new(),
        clients: 50,
        seconds: 20,
        task_rows: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value(),
            "--user" => a.user = value(),
            "--password" => a.password = value(),
            "--path" => a.paths.push(value()),
            "--clients" => a.clients = value().parse().expect("--clients N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds N"),
            "--task-rows" => a.task_rows = Some(value().parse().expect("--task-rows N")),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(!a.user.is_empty(), "--user is needed");
    if a.paths.is_empty() {
        a.paths = vec!["/granskningar/{task}".into(), "/rapport".into()];
    }
    a
}

async fn login(url: &str, user: &str, password: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = web_login::post_login(&client, url, user, password).await;
    let body = res.text().await.unwrap();
    assert!(!body.contains("Fel användarnamn"), "login as {user} failed");
    client
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let a = args();
    let probe = login(&a.url, &a.user, &a.password).await;
    let mut paths = a.paths.clone();
    if paths.iter().any(|p| p.contains("{task}")) {
        let tasks: serde_json::Value = probe
            .get(format!("{}/api/tasks", a.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = |t: &serde_json::Value| t["events"].as_i64().unwrap_or(0);
        let stored = tasks
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["rows_purged_at"].is_null());
        let task = match a.task_rows {
            Some(n) => stored.min_by_key(|t| ((rows(t) - n).abs(), t["id"].as_i64())),
            None => stored.max_by_key(|t| rows(t)),
        }
        .expect("a task with stored rows");
        eprintln!("task {} with {} rows", task["id"], task["events"]);
        for p in &mut paths {
            *p = p.replace("{task}", &task["id"].to_string());
        }
    }
    let mut clients = Vec::new();
    for _ in 0..a.clients {
        clients.push(login(&a.url, &a.user, &a.password).await);
    }
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let mut handles = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let paths = paths.clone();
        let url = a.url.clone();
        handles.push(tokio::spawn(async move {
            let mut seen: Vec<(usize, Duration, bool)> = Vec::new();
            let mut n = i;
            while Instant::now() < deadline {
                let which = n % paths.len();
                n += 1;
                let start = Instant::now();
                let ok = match client.get(format!("{url}{}", paths[which])).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                seen.push((which, start.elapsed(), ok));
            }
            seen
        }));
    }
    let mut by_path: BTreeMap<usize, (Vec<Duration>, usize)> = BTreeMap::new();
    for h in handles {
        for (which, d, ok) in h.await.unwrap() {
            let e = by_path.entry(which).or_default();
            e.0.push(d);
            if !ok {
                e.1 += 1;
            }
        }
    }
    println!("{} clients, {} s, {}", a.clients, a.seconds, a.url);
    println!(
        "{:<28} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "path", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
    );
    for (which, (mut ds, errors)) in by_path {
        ds.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:<28} {:>8} {:>8.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            paths[which],
            ds.len(),
            ds.len() as f64 / a.seconds as f64,
            ms(percentile(&ds, 50.0)),
            ms(percentile(&ds, 90.0)),
            ms(percentile(&ds, 99.0)),
            ms(*ds.last().unwrap_or(&Duration::ZERO)),
            errors
        );
    }
}
