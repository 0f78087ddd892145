//! Shared test harness: the built binary, throw-away databases on every backend, and
//! configuration folders written from snippets.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use loggvakt::store::Store;

pub mod fixture;
pub mod app;
pub mod webdriver;

pub const PG_ENV: &str = "LOGGVAKT_TEST_PG_URL";

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

/// The repository's example configuration folder.
pub fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schedules")
}

/// A database that disappears with the test.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        Self {
            url,
            backend: "sqlite",
            _dir: Some(dir),
            pg_name: None,
        }
    }

    /// A fresh PostgreSQL database, when the environment names a server.
    pub fn postgres() -> Option<Self> {
        let admin = std::env::var(PG_ENV).ok()?;
        let name = format!("lv_test_{:016x}", getrandom::u64().expect("randomness"));
        pg_admin(&admin, &format!("CREATE DATABASE {name}"));
        let (base, _) = admin.rsplit_once('/').expect("PG URL has a database");
        Some(Self {
            url: format!("{base}/{name}"),
            backend: "postgres",
            _dir: None,
            pg_name: Some((admin, name)),
        })
    }

    /// SQLite always; PostgreSQL too when `LOGGVAKT_TEST_PG_URL` is set.
    pub fn all() -> Vec<Self> {
        let mut dbs = vec![Self::sqlite()];
        dbs.extend(Self::postgres());
        dbs
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url).await.expect("store opens")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_name.take() {
            pg_admin(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

/// Runs one statement on the admin database, outside any async runtime of the caller.
fn pg_admin(admin_url: &str, sql: &str) {
    let (url, sql) = (admin_url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .expect("admin connection to the test PostgreSQL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("admin statement");
        });
    })
    .join()
    .expect("admin thread");
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
    let mut csv = String::from("id,name,unit,email,personnummer,cosmic\n");
    let mut i = 0;
    for (unit, n) in units {
        for _ in 0..*n {
            i += 1;
            csv.push_str(&format!("s{i:04},Person {i},{unit},,,C8{i:05}\n"));
        }
    }
    csv
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
