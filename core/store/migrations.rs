//! The schema migrations of both backends, from one set of files.
//!
//! Layout:
//! - `migrations/NNNN_name.sql`: written once, in SQLite's dialect. PostgreSQL gets the same
//!   text with the id column's declaration swapped ([`SQLITE_ID`] → [`POSTGRES_ID`]), the one
//!   difference the two dialects have in our schema.
//! - `migrations/sqlite/NNNN_name.sql` and `migrations/postgres/NNNN_name.sql`: a migration
//!   whose steps really differ (0007: SQLite cannot drop `NOT NULL` in place and rebuilds the
//!   table). Such a version has one file in each backend's folder and none in the shared one.
//!
//! A new migration goes in the shared folder unless the backends need different steps. A
//! version with a file in each backend's folder also works (each backend runs its own), so a
//! pair of files can be moved into the shared folder later, once the swap of the id column
//! turns the SQLite text into the PostgreSQL text byte for byte. Either way, add its two
//! checksums to `migration_checksums.txt`.
//!
//! Deployed databases keep the SHA-384 of every applied migration in `_sqlx_migrations` and
//! refuse to start when a file's checksum changes, so the text each backend gets must stay
//! byte for byte what it was when the migration shipped: never edit an applied migration,
//! and keep the swap to the id column. The tests pin every checksum.

use std::sync::LazyLock;

use sqlx::migrate::{Migration, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

/// `migrate!` embeds the files at compile time (subfolders are not read), so a binary needs
/// no migration files beside it; `build.rs` makes cargo rebuild when one is added.
static SHARED: Migrator = sqlx::migrate!("./migrations");
static SQLITE_ONLY: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_ONLY: Migrator = sqlx::migrate!("migrations/postgres");

/// How the shared files declare an id column, and what PostgreSQL gets instead.
const SQLITE_ID: &str = "INTEGER PRIMARY KEY AUTOINCREMENT";
const POSTGRES_ID: &str = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";

pub(super) static SQLITE: LazyLock<Migrator> =
    LazyLock::new(|| with_own(SHARED.iter().cloned(), &SQLITE_ONLY));

pub(super) static POSTGRES: LazyLock<Migrator> =
    LazyLock::new(|| with_own(SHARED.iter().map(for_postgres), &POSTGRES_ONLY));

/// A shared migration in PostgreSQL's dialect, with the checksum of that text.
fn for_postgres(shared: &Migration) -> Migration {
    let sql = shared.sql.as_str().replace(SQLITE_ID, POSTGRES_ID);
    Migration::new(
        shared.version,
        shared.description.clone(),
        shared.migration_type,
        AssertSqlSafe(sql).into_sql_str(),
        shared.no_tx,
    )
}

/// The shared migrations and one backend's own, in version order.
fn with_own(shared: impl Iterator<Item = Migration>, own: &Migrator) -> Migrator {
    Migrator::with_migrations(shared.chain(own.iter().cloned()).collect())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha384};

    use super::*;

    /// What deployed databases hold, one `version backend hex` a line; kept as data beside
    /// this file so that it can be compared with `sha384sum` output by eye.
    const DEPLOYED: &str = include_str!("migration_checksums.txt");

    fn pinned(backend: &str) -> Vec<(i64, String)> {
        DEPLOYED
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| match line.split(' ').collect::<Vec<_>>()[..] {
                [version, b, hex] if b == backend => Some((version.parse().unwrap(), hex.into())),
                _ => None,
            })
            .collect()
    }

    fn checksums(migrator: &Migrator) -> Vec<(i64, String)> {
        migrator
            .iter()
            .map(|m| (m.version, hex::encode(&m.checksum)))
            .collect()
    }

    #[test]
    fn every_migration_keeps_its_deployed_checksum() {
        assert_eq!(checksums(&SQLITE), pinned("sqlite"));
        assert_eq!(checksums(&POSTGRES), pinned("postgres"));
    }

    /// `migrate!` stores the checksum it computed at compile time, [`for_postgres`] the one
    /// of its replaced text: both must be the SHA-384 of the text that actually runs.
    #[test]
    fn checksums_describe_the_text_that_runs() {
        for m in SQLITE.iter().chain(POSTGRES.iter()) {
            let actual = Sha384::digest(m.sql.as_str());
            assert_eq!(actual[..], m.checksum[..], "migration {}", m.version);
        }
    }

    #[test]
    fn postgres_gets_no_sqlite_id_columns() {
        for m in POSTGRES.iter() {
            assert!(
                !m.sql.as_str().contains(SQLITE_ID),
                "migration {}",
                m.version
            );
        }
    }
}
