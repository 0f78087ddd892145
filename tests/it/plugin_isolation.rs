//! A plugin that aborts, segfaults, hangs or sleeps past its timeout, in `order`, `poll` or
//! `import`, built from the SDK's C header by `cc`: loggvakt goes on (the tick ends, the
//! other system's review task is made, `serve` answers), no order is placed twice, the
//! affected orders end in the right state, and a plugin that keeps failing is quarantined.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{ConfigDir, assert_ran, count, loggvakt};

/// The misbehaving plugin, compiled into `dir`.
fn build(dir: &Path) -> PathBuf {
    crate::support::c_plugin("tests/it/plugins/misbehaving.c", dir)
}

/// Four units, each with a plugin routine (`arkiv`) and a manual one (`papper`); the
/// plugin does what `mode` says.
fn config(lib: &Path, mode: &str, markers: &Path) -> ConfigDir {
    let mut toml =
        String::from("[organisation]\nname = \"Pluginkommunen\"\nstaff_csv = \"staff.csv\"\n");
    for unit in ["a", "b", "c", "d"] {
        toml.push_str(&format!(
            "[[unit]]\nid = \"{unit}\"\nname = \"Enhet {unit}\"\n\
             manager = {{ name = \"Chef {unit}\", email = \"chef-{unit}@example.se\" }}\n\
             escalate_to = {{ name = \"Vc\", email = \"vc@example.se\" }}\n"
        ));
    }
    toml.push_str(&format!(
        "[[system]]\nid = \"arkiv\"\nconnector = \"plugin:{}\"\nplugin_timeout_secs = 1\n\
         settings = {{ mode = \"{mode}\", marker_dir = \"{}\" }}\n\
         [[system]]\nid = \"papper\"\nconnector = \"manual\"\n\
         [[routine]]\nid = \"stickprov-arkiv\"\nkind = \"stickprov\"\nsystem = \"arkiv\"\n\
         [[routine]]\nid = \"stickprov-papper\"\nkind = \"stickprov\"\nsystem = \"papper\"\n\
         [notify]\noutbox = \"outbox\"\n",
        lib.display(),
        markers.display()
    ));
    let mut staff = String::from("id,name,unit,email,personnummer,arkiv,papper\n");
    for (u, unit) in ["a", "b", "c", "d"].iter().enumerate() {
        for i in 1..=5 {
            staff.push_str(&format!("s{u}{i},P {u}{i},{unit},,,ark{u}{i},pap{u}{i}\n"));
        }
    }
    ConfigDir::new(&toml, Some(&staff))
}

/// One trial: the plugin built, its configuration in `mode`, a fresh SQLite database.
struct Trial {
    _lib_dir: tempfile::TempDir,
    markers: tempfile::TempDir,
    cfg: ConfigDir,
    db: String,
}

impl Trial {
    fn new(mode: &str) -> Self {
        let lib_dir = tempfile::tempdir().unwrap();
        let lib = build(lib_dir.path());
        let markers = tempfile::tempdir().unwrap();
        let cfg = config(&lib, mode, markers.path());
        let db = format!("sqlite://{}", cfg.path().join("lv.db").display());
        Self {
            _lib_dir: lib_dir,
            markers,
            cfg,
            db,
        }
    }

    /// `loggvakt tick` at `now`, which must end normally and soon.
    fn tick(&self, now: &str) {
        let started = Instant::now();
        let tick = loggvakt()
            .args([
                "--config",
                &self.cfg.arg(),
                "--db",
                &self.db,
                "--now",
                now,
                "tick",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_ran(&tick, "the tick ends normally");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
    }

    /// The plugin's orders as `order list` gives them: state and last error.
    fn orders(&self) -> Vec<(String, String)> {
        let out = loggvakt()
            .args(["--config", &self.cfg.arg(), "--db", &self.db])
            .args(["order", "list", "--format", "json"])
            .output()
            .unwrap();
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .filter(|o| o["system"] == "arkiv")
            .map(|o| {
                (
                    o["state"].as_str().unwrap().to_owned(),
                    o["last_error"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The errors of the orders in `state`.
    fn in_state(&self, state: &str) -> Vec<String> {
        self.orders()
            .into_iter()
            .filter(|(s, _)| s == state)
            .map(|(_, e)| e)
            .collect()
    }

    /// How many orders the plugin placed (it writes a file for each).
    fn placed(&self) -> usize {
        std::fs::read_dir(self.markers.path()).unwrap().count()
    }

    async fn manual_tasks(&self) -> i64 {
        let store = loggvakt::store::Store::open(&self.db).await.unwrap();
        count(
            &store,
            "SELECT COUNT(*) FROM review_tasks WHERE system_id = 'papper'",
        )
        .await
    }
}

const NOW: &str = "2027-05-07T12:00:00+02:00";
const NEXT_MORNING: &str = "2027-05-08T08:00:00+02:00";

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_that_crashes_or_hangs_in_any_call_does_not_stop_loggvakt() {
    for what in ["abort", "segv", "hang"] {
        for method in ["order", "poll", "import"] {
            let mode = format!("{what}_{method}");
            let trial = Trial::new(&mode);
            // The draw day's tick sends the orders; the next morning's polls them.
            trial.tick(NOW);
            trial.tick(NEXT_MORNING);
            assert_eq!(
                trial.manual_tasks().await,
                4,
                "[{mode}] the manual system's tasks are made all the same"
            );
            let orders = trial.orders();
            assert_eq!(orders.len(), 4, "[{mode}] {orders:?}");
            if method == "order" {
                // Cut off in order: maybe placed, so in doubt, never retried by itself; the
                // third failure in a row quarantines the plugin, and the fourth order is not
                // even tried.
                let (doubt, failed) = (trial.in_state("in_doubt"), trial.in_state("failed"));
                assert_eq!((doubt.len(), failed.len()), (3, 1), "[{mode}] {orders:?}");
                let how = match what {
                    "abort" => "SIGABRT",
                    "segv" => "SIGSEGV",
                    _ => "did not answer within",
                };
                assert!(
                    doubt
                        .iter()
                        .all(|e| e.contains("cut off") && e.contains(how)),
                    "[{mode}] {doubt:?}"
                );
                assert!(failed[0].contains("quarantined"), "[{mode}] {}", failed[0]);
                assert_eq!(trial.placed(), 0, "[{mode}] nothing placed");
            } else {
                // The orders went out once each; the failing poll or import is asked again
                // later.
                let waiting = trial.in_state("awaiting_delivery");
                assert_eq!(waiting.len(), 4, "[{mode}] {orders:?}");
                assert!(
                    waiting.iter().any(|e| e.contains("cut off")),
                    "[{mode}] {orders:?}"
                );
                assert_eq!(trial.placed(), 4, "[{mode}] each order placed once");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_that_overruns_its_timeout_can_never_be_placed_afterwards() {
    let trial = Trial::new("late_order");
    trial.tick(NOW);
    let doubt = trial.in_state("in_doubt");
    assert_eq!(doubt.len(), 3, "three cut off, then quarantined: {doubt:?}");
    // The plugin would have written its order 3 s into the call; its process was ended at
    // the 1 s timeout. Wait past the 3 s to see that nothing comes.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(trial.placed(), 0, "a timed-out order acted later");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_answered_with_garbage_is_in_doubt_not_failed() {
    let trial = Trial::new("garbage_order");
    trial.tick(NOW);
    let orders = trial.orders();
    assert!(
        orders
            .iter()
            .all(|(s, e)| s == "in_doubt" && e.contains("not JSON")),
        "{orders:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_keeps_answering_while_its_plugin_segfaults_at_every_order() {
    let trial = Trial::new("segv_order");
    let mut serve = KillOnDrop(
        loggvakt()
            .args([
                "--config",
                &trial.cfg.arg(),
                "--db",
                &trial.db,
                "--now",
                NOW,
            ])
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--tick-every", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let url = crate::support::app::listen_url_keeping(&mut serve.0, log.clone());
    let store = loggvakt::store::Store::open(&trial.db).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let settled = count(
            &store,
            "SELECT COUNT(*) FROM orders WHERE system_id = 'arkiv' AND state IN ('in_doubt', 'failed')",
        )
        .await;
        if settled == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the plugin's orders never settled: {}",
            log.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let live = reqwest::get(format!("{url}/health/live")).await.unwrap();
    assert_eq!(live.status(), 200);
    assert!(
        serve.0.try_wait().unwrap().is_none(),
        "serve is still running"
    );
    assert_eq!(trial.manual_tasks().await, 4);
}

/// A `serve` that ends with the test, also when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn config_check_health_asks_the_plugin_whether_it_reaches_its_system() {
    let dir = tempfile::tempdir().unwrap();
    let lib = crate::support::c_plugin("plugins/c-file-drop/file_drop.c", dir.path());
    let (outbox, inbox) = (dir.path().join("out"), dir.path().join("in"));
    let toml = format!(
        "[organisation]\nname = \"P\"\nstaff_csv = \"staff.csv\"\n\
         [[unit]]\nid = \"a\"\nname = \"A\"\nmanager = {{ name = \"M\", email = \"m@example.se\" }}\n\
         escalate_to = {{ name = \"E\", email = \"e@example.se\" }}\n\
         [[system]]\nid = \"arkiv\"\nconnector = \"plugin:{}\"\n\
         settings = {{ outbox = \"{}\", inbox = \"{}\" }}\n",
        lib.display(),
        outbox.display(),
        inbox.display()
    );
    let cfg = ConfigDir::new(&toml, Some("id,name,unit,email,personnummer,arkiv\n"));
    let check = || {
        loggvakt()
            .args(["--config", &cfg.arg(), "config", "check", "--health"])
            .output()
            .unwrap()
    };
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("system arkiv: NOT reachable: config: outbox folder does not exist"),
        "{stdout}"
    );
    std::fs::create_dir_all(&outbox).unwrap();
    std::fs::create_dir_all(&inbox).unwrap();
    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("system arkiv: reachable"));
}
