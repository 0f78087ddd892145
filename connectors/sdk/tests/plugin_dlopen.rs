//! The host's real dlopen path, against small dependency-free libraries in `tests/fixtures/`
//! compiled with `rustc` at test time (a second cargo build of the SDK as a cdylib would
//! cost minutes; an SDK-built plugin is covered in-process by `plugin_in_process.rs` and
//! as a real library by the project's example plugin).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use loggvakt_connector::plugin::{
    ABI_VERSION_SYMBOL, PluginConnector, PluginLoadError, VTABLE_SYMBOL,
};
use loggvakt_connector::{Connector, ErrorKind, FetchQuery, Personnummer, Subject};

const FIXTURES: [&str; 4] = ["handmade", "abi_mismatch", "no_vtable", "not_a_plugin"];

/// Builds every fixture once per test run and returns where the libraries are.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-fixtures");
        std::fs::create_dir_all(&out).unwrap();
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for name in FIXTURES {
            let status = Command::new(&rustc)
                .args([
                    "--edition",
                    "2024",
                    "--crate-type",
                    "cdylib",
                    "--crate-name",
                    name,
                ])
                .arg("--out-dir")
                .arg(&out)
                .arg(src.join(format!("{name}.rs")))
                .status()
                .expect("rustc runs");
            assert!(status.success(), "fixture {name} did not compile");
        }
        out
    })
}

fn library(name: &str) -> PathBuf {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    fixtures().join(format!("{DLL_PREFIX}{name}{DLL_SUFFIX}"))
}

fn load(name: &str, settings: serde_json::Value) -> Result<PluginConnector, PluginLoadError> {
    PluginConnector::load(&library(name), "sys-1", &settings, Duration::from_secs(5))
}

#[tokio::test]
async fn a_plugin_written_against_the_documented_abi_loads_and_answers() {
    let c = load(
        "handmade",
        serde_json::json!({"url": "https://example.invalid"}),
    )
    .unwrap();
    assert_eq!(c.path(), library("handmade"));
    let m = c.manifest();
    assert_eq!(m.name, "handmade for sys-1");
    assert!(m.capabilities.order && !m.capabilities.fetch);
    c.health().await.unwrap();

    let err = c
        .order(&loggvakt_connector::OrderRequest {
            idempotency_key: "k".into(),
            reference: "LV-1".into(),
            subject: Subject::Users(vec![]),
            period: loggvakt_connector::Period {
                from: "2027-05-01T00:00:00".parse().unwrap(),
                to: "2027-06-01T00:00:00".parse().unwrap(),
            },
            orderer: None,
        })
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.message, "peer answered 503");

    // The fixture answers fetch with JSON of the wrong shape.
    let q = FetchQuery {
        subject: Subject::Patient(Personnummer::parse("19121212-1212").unwrap()),
        period: loggvakt_connector::Period {
            from: "2027-05-01T00:00:00".parse().unwrap(),
            to: "2027-06-01T00:00:00".parse().unwrap(),
        },
    };
    let err = c.fetch(&q).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Malformed, "{err}");
    assert!(err.message.contains("answer to fetch"), "{err}");

    let err = c
        .write_back(&loggvakt_connector::WriteBack {
            idempotency_key: String::new(),
            reference: "LV-1".into(),
            subject: q.subject.clone(),
            period: q.period,
            outcome: loggvakt_connector::ReviewOutcome::UtanAnmarkning,
            comment: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported);
}

#[test]
fn the_same_library_can_serve_two_systems() {
    let a = load("handmade", serde_json::json!({})).unwrap();
    let b = PluginConnector::load(
        &library("handmade"),
        "sys-2",
        &serde_json::json!({}),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(a.manifest().name, "handmade for sys-1");
    assert_eq!(b.manifest().name, "handmade for sys-2");
}

#[test]
fn a_refusal_to_create_names_the_library_and_keeps_the_plugins_error() {
    let err = load("handmade", serde_json::json!({"refuse": true})).unwrap_err();
    let shown = err.to_string();
    match err {
        PluginLoadError::Create { path, source } => {
            assert_eq!(path, library("handmade"));
            assert_eq!(source.kind, ErrorKind::Config);
            assert!(shown.contains("refused by the handmade plugin"), "{shown}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_version_mismatch_names_both_versions_and_the_path() {
    let err = load("abi_mismatch", serde_json::json!({})).unwrap_err();
    assert!(
        matches!(
            err,
            PluginLoadError::AbiMismatch {
                plugin: 999,
                host: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.contains("version 999"), "{shown}");
    assert!(shown.contains("versions 1 to 2"), "{shown}");
    assert!(
        shown.contains(&library("abi_mismatch").display().to_string()),
        "{shown}"
    );
}

#[test]
fn missing_symbols_are_named() {
    let err = load("no_vtable", serde_json::json!({})).unwrap_err();
    assert!(
        matches!(err, PluginLoadError::MissingSymbol { symbol, .. } if symbol == VTABLE_SYMBOL),
        "{err:?}"
    );
    assert!(err.to_string().contains(VTABLE_SYMBOL), "{err}");

    let err = load("not_a_plugin", serde_json::json!({})).unwrap_err();
    assert!(
        matches!(err, PluginLoadError::MissingSymbol { symbol, .. } if symbol == ABI_VERSION_SYMBOL),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.contains("is not a loggvakt plugin"), "{shown}");
    assert!(shown.contains(ABI_VERSION_SYMBOL), "{shown}");
}

#[test]
fn a_missing_file_is_an_open_error_naming_it() {
    let path = fixtures().join("no-such-plugin.so");
    let err = PluginConnector::load(&path, "s", &serde_json::json!({}), Duration::from_secs(1))
        .unwrap_err();
    assert!(matches!(err, PluginLoadError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-plugin.so"), "{err}");
}
