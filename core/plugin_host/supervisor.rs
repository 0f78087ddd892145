//! The parent side: a plugin seen as an ordinary `Connector`, running in a `loggvakt
//! plugin-host` child process that this side starts, bounds and replaces.
//!
//! - A call that overruns the system's `plugin_timeout_secs` ends the child (SIGKILL), so a
//!   timed-out call can never act later.
//! - A crash or a hang during `order` (or an answer that is not a receipt) makes the order
//!   `in_doubt`: the plugin may have placed it. In any other call it is retryable.
//! - A crashed child is started again on the next call, after a back-off that doubles from
//!   a tenth of a second; after [`QUARANTINE_AFTER`] crashes or hangs in a row the plugin is
//!   quarantined: every call fails at once with a message saying so, until the configuration
//!   is reloaded, while every other system goes on.
//! - Calls to one plugin run one at a time; each system has its own child, so different
//!   systems run side by side.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use loggvakt_connector::plugin::{CreateInput, ImportInput, MAX_CHUNK_BYTES, StreamHost};
use loggvakt_connector::{ConnectorError, ImportLimits, ImportOutcome, Manifest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::frame;

/// Crashes or hangs in a row after which a plugin is not started again.
pub const QUARANTINE_AFTER: u32 = 3;
/// The wait before a crashed plugin is started again, doubled for each crash in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A plugin in a process of its own.
#[derive(Clone)]
pub struct IsolatedPlugin {
    inner: Arc<Inner>,
    manifest: Manifest,
}

struct Inner {
    library: PathBuf,
    host: PathBuf,
    /// The `create` input (the system's settings, secrets included): sent to each new child
    /// over its pipe, never on a command line.
    create: Vec<u8>,
    timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    child: Option<Running>,
    /// Crashes and hangs since the last call that ended normally.
    failures: u32,
    restart_at: Option<Instant>,
    quarantined: Option<String>,
}

struct Running {
    process: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

/// How a call went wrong on the way, as opposed to the plugin's own error answer.
enum Broken {
    /// The child ended (a crash), or the pipe broke: the description says how.
    Crashed(String),
    TimedOut,
    /// No child could be asked: quarantined, or waiting to be started again.
    NotRunning(ConnectorError),
}

impl IsolatedPlugin {
    /// Starts the child for `library` with `settings`, and reads its manifest. `host` is the
    /// `loggvakt` executable ([`host_executable`]).
    pub fn start(
        host: &Path,
        library: &Path,
        system_id: &str,
        settings: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Self, String> {
        let create = serde_json::to_vec(&CreateInput {
            system_id: system_id.to_owned(),
            settings: settings.clone(),
        })
        .expect("a String and a JSON value always encode");
        let inner = Arc::new(Inner {
            library: library.to_path_buf(),
            host: host.to_path_buf(),
            create,
            timeout,
            state: Mutex::new(State::default()),
        });
        let manifest = {
            let mut state = inner.lock();
            let (running, manifest) = inner.spawn().map_err(|b| match b {
                Broken::Crashed(how) => how,
                Broken::TimedOut => format!("the plugin did not start within {timeout:?}"),
                Broken::NotRunning(e) => e.message,
            })?;
            state.child = Some(running);
            manifest
        };
        let manifest = serde_json::from_slice::<Manifest>(&manifest)
            .map_err(|e| format!("the plugin's manifest is not valid: {e}"))?;
        Ok(Self { inner, manifest })
    }

    /// One call, on this thread: blocks up to the timeout.
    fn call_blocking(&self, method: &str, input: &[u8]) -> Result<Vec<u8>, ConnectorError> {
        match self.inner.call(method, input) {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(answer)) => Err(answer),
            Err(Broken::NotRunning(e)) => Err(e),
            Err(Broken::TimedOut) => Err(lost(
                method,
                &format!(
                    "the plugin did not answer within {:?} and was stopped",
                    self.inner.timeout
                ),
            )),
            Err(Broken::Crashed(how)) => Err(lost(method, &how)),
        }
    }

    async fn call<I: Serialize, O: DeserializeOwned + Send + 'static>(
        &self,
        method: &'static str,
        input: &I,
    ) -> Result<O, ConnectorError> {
        let input = serde_json::to_vec(input).map_err(|e| {
            ConnectorError::permanent(format!("cannot encode the input to {method}: {e}"))
        })?;
        let this = self.clone();
        let bytes = tokio::task::spawn_blocking(move || this.call_blocking(method, &input))
            .await
            .map_err(|e| ConnectorError::retryable(format!("plugin call {method}: {e}")))??;
        decode(method, &bytes)
    }
}

/// A call that was cut off: an order may have been placed, anything else can be asked again.
fn lost(method: &str, how: &str) -> ConnectorError {
    let message = format!("plugin call {method} was cut off: {how}");
    if method == "order" {
        ConnectorError::in_doubt(format!(
            "{message}; the plugin may have placed the order, check with the system before it is sent again"
        ))
    } else {
        ConnectorError::retryable(message)
    }
}

/// The answer as `O`. An order answer that is not a receipt may still mean a placed order.
fn decode<O: DeserializeOwned>(method: &str, bytes: &[u8]) -> Result<O, ConnectorError> {
    serde_json::from_slice(bytes).map_err(|e| {
        // The place only: answers carry personnummer, and serde quotes values.
        let what = format!(
            "the plugin's answer to {method} is not JSON of the expected shape ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        );
        if method == "order" {
            ConnectorError::in_doubt(format!("{what}; it may have placed the order"))
        } else {
            ConnectorError::malformed(what)
        }
    })
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn call(&self, method: &str, input: &[u8]) -> Result<Result<Vec<u8>, ConnectorError>, Broken> {
        self.with_child(method, |running| {
            exchange(running, self.timeout, &frame::call(method, input))
        })
    }

    /// Runs `f` with the child, started first when there is none; a `Broken` from `f` ends
    /// the child and counts towards the quarantine.
    fn with_child<T>(
        &self,
        method: &str,
        f: impl FnOnce(&mut Running) -> Result<T, Broken>,
    ) -> Result<T, Broken> {
        let mut state = self.lock();
        if let Some(why) = &state.quarantined {
            return Err(Broken::NotRunning(ConnectorError::config(why.clone())));
        }
        if state.child.is_none() {
            // A crash loop is slowed down, and the quarantine ends it.
            if let Some(at) = state.restart_at {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
            }
            match self.spawn() {
                Ok((running, _manifest)) => state.child = Some(running),
                Err(broken) => return Err(self.failed(&mut state, "start", broken)),
            }
        }
        let running = state.child.as_mut().expect("started above");
        match f(running) {
            Ok(answer) => {
                state.failures = 0;
                Ok(answer)
            }
            Err(broken) => Err(self.failed(&mut state, method, broken)),
        }
    }

    /// Records a crash or hang: the child goes, the back-off grows, and the plugin is
    /// quarantined after too many in a row.
    fn failed(&self, state: &mut State, method: &str, broken: Broken) -> Broken {
        if let Some(mut running) = state.child.take() {
            let _ = running.process.kill();
            let _ = running.process.wait();
        }
        state.failures += 1;
        let backoff = FIRST_BACKOFF * (1 << (state.failures - 1).min(10));
        state.restart_at = Some(Instant::now() + backoff.min(MAX_BACKOFF));
        let how = match &broken {
            Broken::Crashed(how) => how.clone(),
            Broken::TimedOut => format!("no answer within {:?}", self.timeout),
            Broken::NotRunning(e) => e.message.clone(),
        };
        tracing::warn!(
            library = %self.library.display(),
            method,
            failures = state.failures,
            "plugin process failed: {how}"
        );
        if state.failures >= QUARANTINE_AFTER {
            let why = format!(
                "plugin {} is quarantined after {} crashes or hangs in a row (the last in {method}: {how}); \
                 the other systems go on. Fix or replace the plugin, then reload the configuration (SIGHUP) or restart",
                self.library.display(),
                state.failures
            );
            tracing::error!(library = %self.library.display(), "plugin quarantined");
            state.quarantined = Some(why);
        }
        broken
    }

    /// A new child with the plugin loaded; its manifest's JSON.
    fn spawn(&self) -> Result<(Running, Vec<u8>), Broken> {
        let mut process = Command::new(&self.host)
            .arg("plugin-host")
            .arg(&self.library)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                Broken::Crashed(format!(
                    "cannot start the plugin host {}: {e}",
                    self.host.display()
                ))
            })?;
        let mut running = Running {
            stdin: process.stdin.take().expect("piped"),
            stdout: process.stdout.take().expect("piped"),
            process,
        };
        let answer = exchange(
            &mut running,
            self.timeout,
            std::slice::from_ref(&self.create),
        );
        match answer {
            Ok(Ok(manifest)) => Ok((running, manifest)),
            Ok(Err(e)) => {
                let _ = running.process.kill();
                let _ = running.process.wait();
                Err(Broken::NotRunning(e))
            }
            Err(broken) => {
                let _ = running.process.kill();
                let _ = running.process.wait();
                Err(broken)
            }
        }
    }
}

/// Sends one frame and reads the answer, ending the child if it takes longer than `timeout`.
fn exchange(
    running: &mut Running,
    timeout: Duration,
    parts: &[Vec<u8>],
) -> Result<Result<Vec<u8>, ConnectorError>, Broken> {
    let pid = running.process.id() as libc::pid_t;
    let fired = Arc::new(AtomicBool::new(false));
    let (cancel, cancelled) = mpsc::channel::<()>();
    let watchdog = {
        let fired = Arc::clone(&fired);
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = cancelled.recv_timeout(timeout) {
                fired.store(true, Ordering::SeqCst);
                // SAFETY: the child is not reaped before this thread is joined, so `pid` is
                // still ours (a zombie at worst).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        })
    };
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let result =
        frame::write(&mut running.stdin, &refs).and_then(|()| frame::read(&mut running.stdout));
    drop(cancel);
    let _ = watchdog.join();
    let timed_out = fired.load(Ordering::SeqCst);
    match result {
        Ok(Some(answer)) if !timed_out => Ok(parse_answer(&answer)),
        _ if timed_out => Err(Broken::TimedOut),
        Ok(_) | Err(_) => Err(Broken::Crashed(ended(&mut running.process))),
    }
}

/// Ends the child when its deadline passes without a word from it. Unlike [`exchange`]'s,
/// the deadline moves: a streaming import makes progress with every read and chunk, and the
/// host's own work in between (reading the file, storing a chunk) is not the plugin's time.
struct Watchdog {
    deadlines: mpsc::Sender<Option<Instant>>,
    fired: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Watchdog {
    fn start(pid: libc::pid_t, first: Instant) -> Watchdog {
        let (deadlines, moved) = mpsc::channel::<Option<Instant>>();
        let fired = Arc::new(AtomicBool::new(false));
        let thread = {
            let fired = Arc::clone(&fired);
            std::thread::spawn(move || {
                let mut deadline = Some(first);
                loop {
                    let next = match deadline {
                        Some(at) => {
                            moved.recv_timeout(at.saturating_duration_since(Instant::now()))
                        }
                        None => moved.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    };
                    match next {
                        Ok(next) => deadline = next,
                        Err(RecvTimeoutError::Disconnected) => return,
                        Err(RecvTimeoutError::Timeout) => {
                            fired.store(true, Ordering::SeqCst);
                            // SAFETY: the child is not reaped before this thread is joined, so
                            // `pid` is still ours (a zombie at worst).
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                            return;
                        }
                    }
                }
            })
        };
        Watchdog {
            deadlines,
            fired,
            thread,
        }
    }

    /// The child may take until `at`; `None`: the host is busy, no deadline.
    fn until(&self, at: Option<Instant>) {
        let _ = self.deadlines.send(at);
    }

    /// Whether it ended the child.
    fn finish(self) -> bool {
        drop(self.deadlines);
        let _ = self.thread.join();
        self.fired.load(Ordering::SeqCst)
    }
}

/// The host's side of one streaming import: the limits sent with the call, the file the
/// child's reads are answered from, where its chunks go, and what happened between them.
struct StreamImport<'a> {
    limits: &'a [u8],
    input: &'a mut dyn Read,
    sink: &'a mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
    stream: &'a mut StreamHost,
}

/// A streaming import with the child: the call frame, then the child's reads answered from
/// `import.input` and its chunks handed to `import.sink` through `import.stream`, until its
/// answer. The watchdog allows `timeout` of silence from the child between frames; once the
/// import is stopped, one `timeout` in all to return.
fn stream_exchange(
    running: &mut Running,
    timeout: Duration,
    import: &mut StreamImport<'_>,
) -> Result<Result<(), ConnectorError>, Broken> {
    let watchdog = Watchdog::start(
        running.process.id() as libc::pid_t,
        Instant::now() + timeout,
    );
    let result = converse(running, timeout, import, &watchdog);
    match (result, watchdog.finish()) {
        (_, true) => Err(Broken::TimedOut),
        (Ok(answer), false) => Ok(answer),
        // A child that speaks out of protocol is alive: it is ended before it is waited for.
        (Err(e), false) if e.kind() == std::io::ErrorKind::InvalidData => {
            let _ = running.process.kill();
            let _ = running.process.wait();
            Err(Broken::Crashed(format!(
                "the plugin host broke the streaming protocol ({e})"
            )))
        }
        (Err(_), false) => Err(Broken::Crashed(ended(&mut running.process))),
    }
}

/// The frames of [`stream_exchange`], up to the child's answer.
fn converse(
    running: &mut Running,
    timeout: Duration,
    import: &mut StreamImport<'_>,
    watchdog: &Watchdog,
) -> std::io::Result<Result<(), ConnectorError>> {
    let StreamImport {
        limits,
        input,
        sink,
        stream,
    } = import;
    let call = frame::call(frame::IMPORT_STREAM, limits);
    let refs: Vec<&[u8]> = call.iter().map(Vec::as_slice).collect();
    frame::write(&mut running.stdin, &refs)?;
    let mut stopped_at = None;
    loop {
        // A chunk's JSON and its status byte; anything longer is not a chunk.
        let max = MAX_CHUNK_BYTES as u64 + 1;
        let asked =
            frame::read_max(&mut running.stdout, max)?.ok_or(std::io::ErrorKind::UnexpectedEof)?;
        watchdog.until(None);
        let (status, body) = asked.split_first().ok_or(std::io::ErrorKind::InvalidData)?;
        let (reply, bytes): (u8, Vec<u8>) = match *status {
            frame::READ => {
                let want =
                    <[u8; 8]>::try_from(body).map_err(|_| std::io::ErrorKind::InvalidData)?;
                let want = usize::try_from(u64::from_le_bytes(want)).unwrap_or(usize::MAX);
                match stream.read(input, want) {
                    Some(bytes) => (frame::DATA, bytes),
                    None => (frame::FAIL, Vec::new()),
                }
            }
            frame::CHUNK => match stream.chunk(body, sink) {
                true => (frame::GO, Vec::new()),
                false => (frame::STOP, Vec::new()),
            },
            frame::OK | frame::ERROR => return Ok(parse_answer(&asked).map(drop)),
            _ => return Err(std::io::ErrorKind::InvalidData.into()),
        };
        // Once stopped, the plugin has one timeout in all to return, however much it sends.
        let deadline = match stream.is_stopped() {
            true => *stopped_at.get_or_insert_with(|| Instant::now() + timeout),
            false => Instant::now() + timeout,
        };
        watchdog.until(Some(deadline));
        frame::write(&mut running.stdin, &[&[reply], &bytes])?;
    }
}

fn parse_answer(answer: &[u8]) -> Result<Vec<u8>, ConnectorError> {
    match answer.split_first() {
        Some((&frame::OK, bytes)) => Ok(bytes.to_vec()),
        Some((&frame::ERROR, bytes)) => Err(serde_json::from_slice(bytes).unwrap_or_else(|_| {
            ConnectorError::malformed(
                "the plugin failed with an error that is not ConnectorError JSON",
            )
        })),
        _ => Err(ConnectorError::malformed(
            "the plugin host answered out of protocol",
        )),
    }
}

/// How the child ended, in words: its signal or exit code.
fn ended(process: &mut Child) -> String {
    let status = process.wait();
    match status {
        Ok(s) => match (s.signal(), s.code()) {
            (Some(signal), _) => {
                format!("the plugin process was killed by {}", signal_name(signal))
            }
            (None, Some(code)) => format!("the plugin process exited with status {code}"),
            (None, None) => "the plugin process ended".into(),
        },
        Err(e) => format!("the plugin process is gone: {e}"),
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGABRT => "SIGABRT (abort)".into(),
        libc::SIGSEGV => "SIGSEGV (segmentation fault)".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGFPE => "SIGFPE".into(),
        libc::SIGKILL => "SIGKILL".into(),
        other => format!("signal {other}"),
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the pipe ends a healthy child; a stuck one is ended.
        if let Some(mut running) = self.lock().child.take() {
            drop(running.stdin);
            let _ = running.process.kill();
            let _ = running.process.wait();
        }
    }
}

loggvakt_connector::forward_plugin_calls! {
    impl Connector for IsolatedPlugin {
        /// Called on a blocking thread by the core: the file is read within the limits here,
        /// so an oversized one is refused before it is sent across.
        fn import(
            &self,
            input: &mut dyn Read,
            limits: &ImportLimits,
        ) -> Result<ImportOutcome, ConnectorError> {
            let bytes = limits.read_all(input)?;
            let input = serde_json::to_vec(&ImportInput {
                bytes,
                limits: *limits,
            })
            .map_err(|e| ConnectorError::permanent(format!("cannot encode the import: {e}")))?;
            decode("import", &self.call_blocking("import", &input)?)
        }

        /// The file goes to the child a piece at a time as the plugin reads it (at most
        /// `READ_MAX` bytes a frame), and each chunk comes back to `sink` as the plugin hands it
        /// over: memory stays flat on both sides. A plugin of ABI version 1 gets the file whole
        /// in its process, through `import`. The timeout is the longest the plugin may go without
        /// reading or handing over, so a large file is not cut off.
        fn import_stream(
            &self,
            input: &mut dyn Read,
            limits: &ImportLimits,
            sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
        ) -> Result<(), ConnectorError> {
            let limits_json = serde_json::to_vec(limits)
                .map_err(|e| ConnectorError::permanent(format!("cannot encode the limits: {e}")))?;
            let timeout = self.inner.timeout;
            let mut stream = StreamHost::default();
            let mut input = limits.reader(input);
            let result = self.inner.with_child(frame::IMPORT_STREAM, |running| {
                let mut import = StreamImport {
                    limits: &limits_json,
                    input: &mut input,
                    sink,
                    stream: &mut stream,
                };
                stream_exchange(running, timeout, &mut import)
            });
            // The host's own reason (the sink's error, a malformed chunk, the file) comes first.
            stream.end(match result {
                Ok(answer) => answer,
                Err(Broken::NotRunning(e)) => Err(e),
                Err(Broken::TimedOut) => Err(lost(
                    frame::IMPORT_STREAM,
                    &format!(
                        "the plugin neither read nor handed over anything for {timeout:?} and was stopped"
                    ),
                )),
                Err(Broken::Crashed(how)) => Err(lost(frame::IMPORT_STREAM, &how)),
            })
        }
    }
}

/// The `loggvakt` executable that hosts plugins: `LOGGVAKT_PLUGIN_HOST` when set, else this
/// process's own executable when it is `loggvakt`, else a `loggvakt` beside it or one folder
/// up (a test binary in `target/debug/deps` next to `target/debug/loggvakt`).
pub fn host_executable() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("LOGGVAKT_PLUGIN_HOST") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let name = format!("loggvakt{}", std::env::consts::EXE_SUFFIX);
    if exe.file_name().is_some_and(|n| n == name.as_str()) {
        return Ok(exe);
    }
    let dir = exe.parent().unwrap_or(Path::new("."));
    [dir.join(&name), dir.join("..").join(&name)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "cannot find the loggvakt executable to host plugins; set LOGGVAKT_PLUGIN_HOST".into()
        })
}
