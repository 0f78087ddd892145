//! Throw-away databases: SQLite in a temporary folder, and PostgreSQL when
//! `LOGGVAKT_TEST_PG_URL` names a server; `per_backend!` makes a test case of each.

use loggvakt::store::Store;

use super::{Run, run};

const PG_ENV: &str = "LOGGVAKT_TEST_PG_URL";

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

    /// A fresh PostgreSQL database, or `None` after saying why the test is skipped.
    pub fn postgres_or_skip(test: &str) -> Option<Self> {
        let db = Self::postgres();
        if db.is_none() {
            eprintln!("{test}: skipped on PostgreSQL, {PG_ENV} is not set");
        }
        db
    }

    /// The file of a SQLite database (which a refused command must not have created).
    pub fn sqlite_file(&self) -> &std::path::Path {
        std::path::Path::new(self.url.trim_start_matches("sqlite://"))
    }

    /// `loggvakt --db <this> <args…>`.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--db", self.url.as_str()];
        all.extend_from_slice(args);
        run(&all)
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

/// One test case per backend, named by it, for a function that takes the database:
/// `name::sqlite` and `name::postgres` (which returns at once, saying so, when
/// `LOGGVAKT_TEST_PG_URL` is not set).
///
/// ```ignore
/// per_backend!(async fn name);
/// async fn name(db: TestDb) { … }
/// ```
/// An `async fn` is a multi-threaded `#[tokio::test]`, a `fn` a `#[test]`, unless test
/// attributes are given: `per_backend!(#[tokio::test] async fn name);`.
macro_rules! per_backend {
    (async fn $name:ident) => {
        $crate::support::per_backend!(#[tokio::test(flavor = "multi_thread")] async fn $name);
    };
    (fn $name:ident) => {
        $crate::support::per_backend!(#[test] fn $name);
    };
    ($(#[$attr:meta])+ async fn $name:ident) => {
        mod $name {
            $(#[$attr])+
            async fn sqlite() {
                super::$name($crate::support::TestDb::sqlite()).await
            }

            $(#[$attr])+
            async fn postgres() {
                if let Some(db) = $crate::support::TestDb::postgres_or_skip(module_path!()) {
                    super::$name(db).await
                }
            }
        }
    };
    ($(#[$attr:meta])+ fn $name:ident) => {
        mod $name {
            $(#[$attr])+
            fn sqlite() {
                super::$name($crate::support::TestDb::sqlite())
            }

            $(#[$attr])+
            fn postgres() {
                if let Some(db) = $crate::support::TestDb::postgres_or_skip(module_path!()) {
                    super::$name(db)
                }
            }
        }
    };
}
pub(crate) use per_backend;
