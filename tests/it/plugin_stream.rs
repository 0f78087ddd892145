//! The plugin ABI's streaming import (version 2), in-process (`PluginConnector`) and out of
//! process (`IsolatedPlugin`): the file goes over a piece at a time and the events come back
//! in chunks, equal to the whole-file import; a version 1 plugin still imports; a plugin that
//! crashes, hangs or garbles mid-stream, and a consumer that stops, end the import clearly.

use std::cell::Cell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use loggvakt::plugin_host::IsolatedPlugin;
use loggvakt_connector::plugin::{PluginConnector, READ_MAX};
use loggvakt_connector::{
    Connector, ConnectorError, ErrorKind, IMPORT_CHUNK_EVENTS, ImportLimits, ImportOutcome,
    csv_form,
};

use crate::support::{EXTRACT_HEADER, c_plugin, c_plugin_as, plugin_library};

const LIMITS: ImportLimits = ImportLimits {
    max_bytes: 100 << 20,
};

/// An extract of `rows` rows in the normalised CSV form; every 5000th row has an hour that
/// does not exist, so some rows are refused along the way.
fn extract(rows: usize) -> Vec<u8> {
    let mut csv = format!("{EXTRACT_HEADER}\n");
    for i in 0..rows {
        let hour = if i % 5000 == 4999 { 25 } else { 10 };
        csv.push_str(&format!(
            "2027-05-17T{hour}:{:02}:{:02},arkiv,u{i},,191212121212,,,read,Läst,\n",
            i / 60 % 60,
            i % 60
        ));
    }
    csv.into_bytes()
}

/// The file as the host reads it, counting how much and in what pieces.
struct Watched<'a> {
    bytes: &'a [u8],
    read: Rc<Cell<usize>>,
    largest_ask: Rc<Cell<usize>>,
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.largest_ask.set(self.largest_ask.get().max(buf.len()));
        let n = self.bytes.read(buf)?;
        self.read.set(self.read.get() + n);
        Ok(n)
    }
}

/// What one streamed import did.
struct Streamed {
    result: Result<(), ConnectorError>,
    chunks: Vec<ImportOutcome>,
    /// How much of the file the host had read when the first chunk reached the sink.
    read_at_first_chunk: usize,
    read_in_all: usize,
    largest_ask: usize,
}

/// Streams `file` through `c`; `stop_after` chunks, the sink refuses the next.
fn stream(c: &dyn Connector, file: &[u8], limits: ImportLimits, stop_after: usize) -> Streamed {
    let read = Rc::new(Cell::new(0));
    let largest_ask = Rc::new(Cell::new(0));
    let mut input = Watched {
        bytes: file,
        read: Rc::clone(&read),
        largest_ask: Rc::clone(&largest_ask),
    };
    let mut chunks = Vec::new();
    let mut read_at_first_chunk = None;
    let result = c.import_stream(&mut input, &limits, &mut |chunk| {
        read_at_first_chunk.get_or_insert(read.get());
        if chunks.len() == stop_after {
            return Err(ConnectorError::permanent("the store is full"));
        }
        chunks.push(chunk);
        Ok(())
    });
    Streamed {
        result,
        chunks,
        read_at_first_chunk: read_at_first_chunk.unwrap_or(usize::MAX),
        read_in_all: read.get(),
        largest_ask: largest_ask.get(),
    }
}

fn merged(chunks: &[ImportOutcome]) -> ImportOutcome {
    let mut all = ImportOutcome::default();
    for c in chunks {
        all.events.extend(c.events.iter().cloned());
        all.rejected.extend(c.rejected.iter().cloned());
        all.lines.extend(c.lines.iter().copied());
    }
    all
}

fn host() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_loggvakt"))
}

/// The example plugin (Rust, `csv_form::import_stream`) in both hosts.
fn rust_plugin(timeout: Duration) -> (tempfile::TempDir, PluginConnector, IsolatedPlugin) {
    let dir = tempfile::tempdir().unwrap();
    let settings = serde_json::json!({"outbox": dir.path(), "inbox": dir.path()});
    let lib = plugin_library();
    let in_process = PluginConnector::load(lib, "arkiv", &settings, timeout).unwrap();
    let isolated = IsolatedPlugin::start(host(), lib, "arkiv", &settings, timeout).unwrap();
    (dir, in_process, isolated)
}

/// The C plugin `lib` with `mode`, out of process when `isolated`, else in-process.
fn c_connector(lib: &Path, mode: &str, isolated: bool, timeout: Duration) -> Box<dyn Connector> {
    let settings = serde_json::json!({"mode": mode, "marker_dir": "/nonexistent"});
    if isolated {
        Box::new(IsolatedPlugin::start(host(), lib, "arkiv", &settings, timeout).unwrap())
    } else {
        Box::new(PluginConnector::load(lib, "arkiv", &settings, timeout).unwrap())
    }
}

/// `misbehaving.c` built into `dir`, as a version 1 plugin when `v1`.
fn c_library(dir: &Path, v1: bool) -> PathBuf {
    if !v1 {
        return c_plugin("tests/it/plugins/misbehaving.c", dir);
    }
    c_plugin_as(
        "tests/it/plugins/misbehaving.c",
        &["-DMISBEHAVING_ABI_V1"],
        dir.join("libmisbehaving_v1.so"),
    )
}

fn health(c: &dyn Connector) -> Result<(), ConnectorError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(c.health())
}

#[test]
fn a_rust_plugin_streams_a_large_import_in_chunks_through_both_hosts() {
    let file = extract(30_000);
    let whole = csv_form::import(&mut file.as_slice(), &LIMITS).unwrap();
    assert_eq!(whole.rejected.len(), 6);
    let (_dir, in_process, isolated) = rust_plugin(Duration::from_secs(60));
    for (name, c) in [
        ("in-process", &in_process as &dyn Connector),
        ("isolated", &isolated),
    ] {
        let s = stream(c, &file, LIMITS, usize::MAX);
        s.result.unwrap();
        assert_eq!(
            s.chunks.len(),
            4,
            "[{name}] 29 994 events in chunks of 8192"
        );
        assert!(
            s.chunks
                .iter()
                .all(|c| c.events.len() <= IMPORT_CHUNK_EVENTS),
            "[{name}]"
        );
        assert_eq!(
            merged(&s.chunks),
            whole,
            "[{name}] equal to the whole import"
        );
        // The host passed the file on a piece at a time, and the first chunk came back
        // before the whole file had been read: neither side held it whole.
        assert!(s.largest_ask <= READ_MAX, "[{name}] {}", s.largest_ask);
        assert!(
            s.read_at_first_chunk < file.len() / 2,
            "[{name}] {} of {} bytes read before the first chunk",
            s.read_at_first_chunk,
            file.len()
        );
        assert_eq!(s.read_in_all, file.len(), "[{name}]");
        // The whole-file call of version 1 answers the same.
        assert_eq!(
            c.import(&mut file.as_slice(), &LIMITS).unwrap(),
            whole,
            "[{name}]"
        );
    }
}

#[test]
fn a_consumer_that_stops_stops_the_plugin_and_the_next_import_runs() {
    let file = extract(30_000);
    let timeout = Duration::from_secs(30);
    let (_dir, in_process, isolated) = rust_plugin(timeout);
    for (name, c) in [
        ("in-process", &in_process as &dyn Connector),
        ("isolated", &isolated),
    ] {
        let started = Instant::now();
        let s = stream(c, &file, LIMITS, 1);
        let err = s.result.unwrap_err();
        assert_eq!(
            err.message, "the store is full",
            "[{name}] the sink's own error"
        );
        assert_eq!(s.chunks.len(), 1, "[{name}]");
        // The plugin returned at once rather than be cut off by the timeout, and did not
        // read the file on.
        assert!(
            started.elapsed() < timeout / 3,
            "[{name}] {:?}",
            started.elapsed()
        );
        assert!(s.read_in_all < file.len(), "[{name}] {}", s.read_in_all);
        let again = stream(c, &file, LIMITS, usize::MAX);
        again.result.unwrap();
        assert_eq!(merged(&again.chunks).events.len(), 30_000 - 6, "[{name}]");
    }
}

#[test]
fn a_file_over_the_limit_is_refused_as_it_is_read_in_both_hosts() {
    let file = extract(20_000);
    let (_dir, in_process, isolated) = rust_plugin(Duration::from_secs(60));
    let limits = ImportLimits {
        max_bytes: file.len() as u64 - 1,
    };
    for (name, c) in [
        ("in-process", &in_process as &dyn Connector),
        ("isolated", &isolated),
    ] {
        let s = stream(c, &file, limits, usize::MAX);
        let err = s.result.unwrap_err();
        assert!(
            err.message.contains("larger than the import limit"),
            "[{name}] {err}"
        );
        assert!(!err.is_retryable(), "[{name}]");
        assert!(!s.chunks.is_empty(), "[{name}] chunks came before the end");
    }
}

#[test]
fn a_c_plugin_streams_and_a_version_1_c_plugin_still_imports_in_both_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let (v2, v1) = (c_library(dir.path(), false), c_library(dir.path(), true));
    let file = extract(3_500);
    let timeout = Duration::from_secs(30);
    for isolated in [false, true] {
        let c = c_connector(&v2, "", isolated, timeout);
        let s = stream(c.as_ref(), &file, LIMITS, usize::MAX);
        s.result.unwrap();
        assert_eq!(s.chunks.len(), 4, "[isolated {isolated}] chunks of 1000");
        let all = merged(&s.chunks);
        assert_eq!(all.events.len(), 3_500);
        assert_eq!(all.lines, (2..3_502).collect::<Vec<u64>>());
        assert_eq!(all.events[0].user_id, "u2");
        assert!(s.largest_ask <= 4096, "the C plugin reads 4 KiB at a time");

        // Version 1: the whole file through `import` (which answers no events), one chunk.
        let c = c_connector(&v1, "", isolated, timeout);
        let s = stream(c.as_ref(), &file, LIMITS, usize::MAX);
        s.result.unwrap();
        assert_eq!(
            s.chunks,
            vec![ImportOutcome::default()],
            "[isolated {isolated}]"
        );
        assert_eq!(s.read_in_all, file.len());
    }
}

#[test]
fn a_plugin_that_crashes_hangs_or_garbles_mid_stream_ends_the_import_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let lib = c_library(dir.path(), false);
    let file = extract(4_500);
    let second = Duration::from_secs(1);

    // Out of process: the child is ended or answers, and is started again for the next call.
    let c = c_connector(&lib, "abort_stream", true, second);
    let s = stream(c.as_ref(), &file, LIMITS, usize::MAX);
    let err = s.result.unwrap_err();
    assert!(
        err.is_retryable() && err.message.contains("cut off") && err.message.contains("SIGABRT"),
        "{err}"
    );
    assert_eq!(s.chunks.len(), 1, "the chunk before the crash came through");
    health(c.as_ref()).unwrap();

    for isolated in [true, false] {
        let started = Instant::now();
        let c = c_connector(&lib, "hang_stream", isolated, second);
        let err = stream(c.as_ref(), &file, LIMITS, usize::MAX)
            .result
            .unwrap_err();
        assert!(err.is_retryable(), "[isolated {isolated}] {err}");
        let how = if isolated {
            "neither read nor handed over anything for 1s"
        } else {
            "timed out after 1s"
        };
        assert!(err.message.contains(how), "[isolated {isolated}] {err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        if isolated {
            health(c.as_ref()).unwrap();
        }

        let c = c_connector(&lib, "garbage_stream", isolated, second);
        let s = stream(c.as_ref(), &file, LIMITS, usize::MAX);
        let err = s.result.unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::Malformed,
            "[isolated {isolated}] {err}"
        );
        assert!(
            err.message.contains("not JSON"),
            "[isolated {isolated}] {err}"
        );
        assert_eq!(s.chunks.len(), 1, "[isolated {isolated}]");
        health(c.as_ref()).unwrap();

        // Four chunks 600 ms apart: longer than the timeout in all, never between two.
        let timeout = Duration::from_secs(2);
        let c = c_connector(&lib, "slow_stream", isolated, timeout);
        let started = Instant::now();
        let s = stream(c.as_ref(), &file, LIMITS, usize::MAX);
        s.result.unwrap();
        assert!(started.elapsed() > timeout, "{:?}", started.elapsed());
        assert_eq!(merged(&s.chunks).events.len(), 4_500);
    }
}
