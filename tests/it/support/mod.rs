//! The shared harness: the built binary, throw-away databases on every backend, configuration
//! folders written from snippets, a running `serve` with logged-in users, and named changes
//! of stored state.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use loggvakt::clock::Clock;
use loggvakt::store::Store;
use loggvakt_connector::{AccessEvent, Action, Capabilities, Manifest, Personnummer};

pub mod app;
mod db;
pub mod fixture;
pub mod login;
#[path = "../../../connectors/sdk/tests/data/personnummer_meta.rs"]
mod meta;
pub mod proxy;
pub mod slapd;
pub mod state;
pub mod tls;
pub mod webdriver;

pub use db::TestDb;
pub(crate) use db::per_backend;

/// The `loggvakt` binary under test.
pub fn loggvakt() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loggvakt"));
    cmd.env_remove("LOGGVAKT_DB")
        .env_remove("LOGGVAKT_CONFIG")
        .env_remove("LOGGVAKT_CRASH_AT")
        .env("RUST_LOG", "warn");
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts that the command said `needle` on stderr, showing all it said when not.
    #[track_caller]
    pub fn says(&self, needle: &str) {
        has("stderr", &self.stderr, needle);
    }

    /// Asserts that the command printed `needle` on stdout, showing all it printed when not.
    #[track_caller]
    pub fn prints(&self, needle: &str) {
        has("stdout", &self.stdout, needle);
    }
}

#[track_caller]
fn has(stream: &str, text: &str, needle: &str) {
    assert!(text.contains(needle), "{stream} lacks {needle:?}:\n{text}");
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn run(args: &[&str]) -> Run {
    loggvakt().args(args).output().expect("binary runs").into()
}

/// `loggvakt --config <cfg> --db <db> [--now <now>] <args…>`.
pub fn run_on(cfg: &str, db: &str, now: Option<&str>, args: &[&str]) -> Run {
    let mut all = vec!["--config", cfg, "--db", db];
    if let Some(now) = now {
        all.extend(["--now", now]);
    }
    all.extend_from_slice(args);
    run(&all)
}

/// `loggvakt --config <cfg> --db <db> --now <now> tick`.
pub fn run_tick(cfg: &str, db: &TestDb, now: &str) -> Run {
    run_on(cfg, &db.url, Some(now), &["tick"])
}

/// A `tick` that the process aborts itself at the crash point `crash_at` (`name:n`).
pub fn tick_crashing_at(cfg: &str, db: &str, now: &str, crash_at: &str) -> Output {
    loggvakt()
        .args(["--config", cfg, "--db", db, "--now", now, "tick"])
        .env("LOGGVAKT_CRASH_AT", crash_at)
        .output()
        .unwrap()
}

/// The repository's example configuration folder.
pub fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules")
}

/// A clock that starts at an RFC 3339 instant.
pub fn at(s: &str) -> Clock {
    Clock::starting_at(instant(s))
}

pub fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Executes raw SQL on a store, for tests that tamper with stored data.
pub async fn exec(store: &Store, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

pub async fn count(store: &Store, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    n
}

/// How many audit records of `action` there are.
pub async fn audit_count(store: &Store, action: &str) -> i64 {
    count(
        store,
        &format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"),
    )
    .await
}

/// A configuration folder holding `org.toml` (and optionally `staff.csv`).
pub struct ConfigDir {
    pub dir: tempfile::TempDir,
}

impl ConfigDir {
    pub fn new(toml: &str, staff_csv: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("org.toml"), toml).expect("write toml");
        if let Some(csv) = staff_csv {
            std::fs::write(dir.path().join("staff.csv"), csv).expect("write csv");
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn arg(&self) -> String {
        self.dir.path().display().to_string()
    }
}

/// A small valid organisation: one parent, two units, one system, one routine.
pub const SMALL_ORG: &str = r#"
[organisation]
name = "Testkommunen"
timezone = "Europe/Stockholm"
staff_csv = "staff.csv"

[[unit]]
id = "vard"
name = "Vård och omsorg"
manager = { name = "Vera Chef", email = "vera@example.se" }
escalate_to = { name = "Förvaltningschef", email = "fc@example.se" }

[[unit]]
id = "hemtjanst"
name = "Hemtjänst"
parent = "vard"
manager = { name = "Hanna Chef", email = "hanna@example.se" }

[[unit]]
id = "boende"
name = "Boende"
parent = "vard"
manager = { name = "Bo Chef", email = "bo@example.se" }

[[system]]
id = "cosmic"
connector = "cosmic"
settings = { smtp_port = 1, from = "lk@example.se", order_to = "journal@region.example", recipient_name = "Loggkontroll", recipient_phone = "070-000 00 00", recipient_email = "lk@example.se" }

[[routine]]
id = "stickprov-cosmic"
kind = "stickprov"
system = "cosmic"
units = ["*"]
cadence = "monthly"
window = { first_days = 7, weekdays_only = true, skip_holidays = true }
sample = { fraction = 0.10, min = 1 }
review_period_hours = 24
deadline_days = 14
"#;

/// `n` staff in `unit`, each with a cosmic account.
pub fn staff_csv(units: &[(&str, usize)]) -> String {
    let units = units
        .iter()
        .flat_map(|(unit, n)| std::iter::repeat_n(*unit, *n));
    let rows = (1..)
        .zip(units)
        .map(|(i, unit)| format!("s{i:04},Person {i},{unit},,,C8{i:05}\n"));
    std::iter::once("id,name,unit,email,personnummer,cosmic\n".to_owned())
        .chain(rows)
        .collect()
}

/// A valid made-up personnummer (12 digits): born on `yymmdd` in the 1900s, birth number
/// `serial`, and the one check digit that makes it valid.
pub fn personnummer(yymmdd: &str, serial: u32) -> String {
    (0..10)
        .map(|check| format!("19{yymmdd}{serial:03}{check}"))
        .find(|p| Personnummer::parse(p).is_ok())
        .expect("one check digit fits")
}

/// The header of an extract in the normalised CSV form.
pub const EXTRACT_HEADER: &str =
    "time,system,user_id,user_name,patient_id,patient_name,care_unit,action,event_text,system_part";

/// What a fake connector says it is.
pub fn manifest(name: &str, capabilities: Capabilities, per_order: Option<u32>) -> Manifest {
    Manifest {
        name: name.into(),
        version: "1".into(),
        capabilities,
        max_users_per_order: per_order,
    }
}

/// One read of Tolvan Tolvansson's journal in hemtjänst's Cosmic.
pub fn access_event(user: &str, time: chrono::NaiveDateTime, patient: Personnummer) -> AccessEvent {
    AccessEvent {
        patient_name: Some("Tolvan Tolvansson".into()),
        care_unit: Some("Hemtjänst".into()),
        ..AccessEvent::new("cosmic", user, time, patient, Action::Read, "Läst")
    }
}

/// Builds the plugin's cdylib once per test binary and returns its path.
pub fn plugin_library() -> &'static PathBuf {
    static LIB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--quiet", "-p", "loggvakt-file-drop", "--lib"])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the example plugin builds");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let lib = target.join("debug").join(format!(
            "{}loggvakt_file_drop{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ));
        assert!(lib.exists(), "{} exists", lib.display());
        lib
    })
}

/// A plugin in C compiled from `source` (relative to the repository) with `cc` into `dir`,
/// against the SDK's header only.
pub fn c_plugin(source: &str, dir: &Path) -> PathBuf {
    let stem = Path::new(source).file_stem().unwrap().to_string_lossy();
    let lib = dir.join(format!("lib{stem}.so"));
    c_plugin_as(source, &[], lib)
}

/// [`c_plugin`] with preprocessor definitions (`-DNAME`), into the library `lib`.
pub fn c_plugin_as(source: &str, defines: &[&str], lib: PathBuf) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"])
        .args(defines)
        .arg("-I")
        .arg(root.join("connectors/sdk/include"))
        .arg("-o")
        .arg(&lib)
        .arg(root.join(source))
        .output()
        .expect("a C compiler (cc) is installed");
    assert_ran(&out, &format!("cc {source}"));
    lib
}

/// Asserts that a finished command succeeded, showing what it said on stderr when not.
#[track_caller]
pub fn assert_ran(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback port free a moment ago: bound and let go, for a server started next.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Asserts that `r` refuses a sign-on whose groups give no role in loggvakt, with the page
/// that says so.
pub async fn assert_no_role(r: reqwest::Response) {
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(page.contains("ger ingen behörighet i loggvakt"), "{page}");
}

/// Every written form of every case in the personnummer project's shared test data
/// (`connectors/sdk/tests/data/personnummer-meta/`), with whether that project calls it valid.
pub fn personnummer_meta() -> Vec<(String, bool)> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/sdk/tests/data");
    let mut forms = Vec::new();
    for case in meta::cases(&data) {
        let valid = case["valid"].as_bool().unwrap();
        for form in meta::FORMS {
            forms.push((case[form].as_str().unwrap().to_owned(), valid));
        }
    }
    forms
}

/// Whom the store has notices of `kind` for (about `task`, or any), in the order queued.
pub async fn told(store: &loggvakt::store::Store, task: Option<i64>, kind: &str) -> Vec<String> {
    store
        .notices(task)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind.as_str() == kind)
        .map(|n| n.recipient)
        .collect()
}

/// Installs a test folder's npm packages (pinned by its package-lock.json) unless `marker`
/// (a path in the folder) is there already, once at a time per test process, so that
/// `cargo test` alone works where npm is; `.ci/run` installs them beforehand.
pub fn npm_packages(dir: &Path, marker: &str) {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join(marker).exists() {
        return;
    }
    let out = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("npm in {}: {e}", dir.display()));
    assert!(
        out.status.success(),
        "`(cd {} && npm ci --no-audit --no-fund)` failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
