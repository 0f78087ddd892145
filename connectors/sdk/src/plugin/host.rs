//! The host side of the ABI: a loaded plugin seen as an ordinary `Connector`.

use std::ffi::c_void;
use std::fmt;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ABI_VERSION, ABI_VERSION_SYMBOL, Buffer, CreateInput, ImportInput, PluginVTable};
use super::{ImportStreamFn, MAX_CHUNK_BYTES, MIN_ABI_VERSION, PluginVTableV1, READ_MAX};
use super::{STATUS_ERROR, STATUS_OK, VTABLE_SYMBOL};
use crate::{ConnectorError, ImportLimits, ImportOutcome, Manifest};

/// Why a plugin could not be loaded. Each names the library, so an operator with several
/// plugins configured knows which one to look at.
#[derive(Debug, thiserror::Error)]
pub enum PluginLoadError {
    #[error("cannot load plugin {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: libloading::Error,
    },
    #[error("{path} is not a loggvakt plugin: it does not export the symbol {symbol} ({source})")]
    MissingSymbol {
        path: PathBuf,
        symbol: &'static str,
        #[source]
        source: libloading::Error,
    },
    #[error(
        "plugin {path} was built for plugin ABI version {plugin}, but this loggvakt speaks \
         versions {MIN_ABI_VERSION} to {host}; rebuild the plugin against loggvakt-connector \
         of this release"
    )]
    AbiMismatch {
        path: PathBuf,
        plugin: u32,
        host: u32,
    },
    #[error("plugin {path} returned no function table from {VTABLE_SYMBOL}")]
    NullVTable { path: PathBuf },
    #[error("plugin {path} did not finish {step} within {timeout:?}")]
    Timeout {
        path: PathBuf,
        step: &'static str,
        timeout: Duration,
    },
    #[error("plugin {path} could not create the connector: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: ConnectorError,
    },
    #[error("plugin {path} gave no usable manifest: {source}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: ConnectorError,
    },
}

/// A plugin instance pointer.
struct InstancePtr(*mut c_void);

// SAFETY: the ABI requires an instance to be usable from any thread, one call at a time
// (a Rust plugin's instance is a `Box` of a `Send + Sync` connector plus a tokio runtime,
// which is `Send + Sync`). `Inner` only touches the pointer while holding the `Mutex`, which
// gives the one-call-at-a-time part, so moving the pointer between threads is sound.
unsafe impl Send for InstancePtr {}

struct Inner {
    path: PathBuf,
    vtable: PluginVTable,
    instance: Mutex<InstancePtr>,
    timeout: Duration,
}

impl Inner {
    /// One synchronous call through the table; blocks for as long as the plugin takes.
    fn invoke(&self, method: &str, input: &[u8]) -> Result<Vec<u8>, ConnectorError> {
        // A poisoned lock only means another call panicked in host code after the plugin
        // returned; the instance itself is as good as the plugin left it.
        let instance = self.instance.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Buffer::EMPTY;
        // SAFETY: the instance came from this table's `create` and is destroyed only when
        // `Inner` drops; the lock gives one call at a time; `method`, `input` and `out` are
        // valid for the duration of the call.
        let status = unsafe {
            (self.vtable.invoke)(
                instance.0,
                method.as_ptr(),
                method.len(),
                input.as_ptr(),
                input.len(),
                &mut out,
            )
        };
        drop(instance);
        // SAFETY: `out` was written by this plugin (or is still EMPTY) and is taken once.
        let bytes = unsafe { take(&self.vtable, out) };
        match status {
            STATUS_OK => Ok(bytes),
            STATUS_ERROR => Err(plugin_error(method, &bytes)),
            other => Err(ConnectorError::permanent(format!(
                "plugin call {method} broke the ABI: status {other}"
            ))),
        }
    }

    fn call<O: DeserializeOwned>(&self, method: &str, input: &[u8]) -> Result<O, ConnectorError> {
        let bytes = self.invoke(method, input)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            // Names the place only: answers carry personnummer, and serde quotes values.
            ConnectorError::malformed(format!(
                "the plugin's answer to {method} is not JSON of the expected shape \
                 ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let instance = self
            .instance
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the instance came from this table's `create`; `Inner` is dropped once, and
        // only when no call holds it (every call holds an `Arc<Inner>`).
        unsafe { (self.vtable.destroy)(instance.0) };
    }
}

/// Copies a plugin's buffer into host memory and gives it back to the plugin to free.
///
/// # Safety
/// `buffer` is `Buffer::EMPTY` or was written by `vtable`'s plugin and not yet freed.
unsafe fn take(vtable: &PluginVTable, buffer: Buffer) -> Vec<u8> {
    if buffer.ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: a non-null buffer from the plugin holds `len` initialised bytes until freed.
    let bytes = unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec();
    // SAFETY: freed once, by the library that allocated it.
    unsafe { (vtable.free)(buffer) };
    bytes
}

fn plugin_error(method: &str, bytes: &[u8]) -> ConnectorError {
    serde_json::from_slice(bytes).unwrap_or_else(|_| {
        ConnectorError::malformed(format!(
            "plugin call {method} failed with an error that is not ConnectorError JSON"
        ))
    })
}

/// Runs `f` on a thread of its own and waits at most `timeout` for it; for the calls that
/// are not async (loading, import), where `spawn_blocking` + `tokio::time::timeout` is not
/// available. A call that overruns keeps its thread until the plugin returns.
fn on_thread_with_timeout<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ThreadCallError> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("loggvakt-plugin-call".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| ThreadCallError::Spawn(e.to_string()))?;
    rx.recv_timeout(timeout).map_err(|e| match e {
        RecvTimeoutError::Timeout => ThreadCallError::TimedOut,
        RecvTimeoutError::Disconnected => ThreadCallError::Panicked,
    })
}

enum ThreadCallError {
    Spawn(String),
    TimedOut,
    Panicked,
}

impl ThreadCallError {
    /// As the error of loading step `step`; `wrap` makes the step's own variant.
    fn load_error(
        self,
        path: PathBuf,
        step: &'static str,
        timeout: Duration,
        wrap: impl FnOnce(PathBuf, ConnectorError) -> PluginLoadError,
    ) -> PluginLoadError {
        match self {
            ThreadCallError::TimedOut => PluginLoadError::Timeout {
                path,
                step,
                timeout,
            },
            ThreadCallError::Spawn(e) => wrap(
                path,
                ConnectorError::retryable(format!("cannot start a thread: {e}")),
            ),
            ThreadCallError::Panicked => wrap(
                path,
                ConnectorError::permanent(format!("the call to {step} panicked in the host")),
            ),
        }
    }
}

/// A connector loaded from a plugin library, usable as any other `Connector`.
///
/// Every call runs the plugin synchronously on a blocking thread, bounded by the timeout
/// given at load, because a plugin's own async runtime cannot share the host's reactor and
/// a hung plugin must not hang the scheduler. Calls to one instance are serialised. A call
/// that times out is reported as retryable; its thread goes on until the plugin returns, and
/// calls after it wait for it (and likely time out as well) rather than run concurrently.
#[derive(Clone)]
pub struct PluginConnector {
    inner: Arc<Inner>,
    manifest: Manifest,
}

impl fmt::Debug for PluginConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConnector")
            .field("path", &self.inner.path)
            .field("manifest", &self.manifest)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

impl PluginConnector {
    /// Loads the library at `path`, checks its ABI version, creates the connector for
    /// `system_id` from `settings` and reads its manifest. The library is never unloaded,
    /// not even when loading fails after it was opened. Blocks for up to about twice
    /// `timeout`; call it at start-up or from a blocking thread.
    pub fn load(
        path: &Path,
        system_id: &str,
        settings: &serde_json::Value,
        timeout: Duration,
    ) -> Result<PluginConnector, PluginLoadError> {
        let owned_path = || path.to_path_buf();
        // SAFETY: opening a library runs its initialisers. A plugin is code the operator
        // installed and configured, trusted as much as loggvakt's own binary; nothing here
        // can make an untrusted library safe to load.
        let library =
            unsafe { libloading::Library::new(path) }.map_err(|source| PluginLoadError::Open {
                path: owned_path(),
                source,
            })?;
        // Never unloaded (see the module docs), so its symbols live for the process.
        let library: &'static libloading::Library = Box::leak(Box::new(library));

        let missing = |symbol: &'static str| {
            move |source| PluginLoadError::MissingSymbol {
                path: owned_path(),
                symbol,
                source,
            }
        };
        // SAFETY: the symbol's type is the one the ABI defines for this name.
        let abi_version =
            unsafe { library.get::<unsafe extern "C" fn() -> u32>(ABI_VERSION_SYMBOL.as_bytes()) }
                .map_err(missing(ABI_VERSION_SYMBOL))?;
        // SAFETY: a plugin's version function takes nothing and only returns a constant.
        let plugin_version = unsafe { abi_version() };
        if !(MIN_ABI_VERSION..=ABI_VERSION).contains(&plugin_version) {
            return Err(PluginLoadError::AbiMismatch {
                path: owned_path(),
                plugin: plugin_version,
                host: ABI_VERSION,
            });
        }
        // SAFETY: as above; only read once the version says this table has our layout.
        let vtable_fn = unsafe {
            library.get::<unsafe extern "C" fn() -> *const PluginVTable>(VTABLE_SYMBOL.as_bytes())
        }
        .map_err(missing(VTABLE_SYMBOL))?;
        // SAFETY: a plugin of a version we speak returns null or a table valid for the
        // process, as long as that version's table: a version 1 table is read as one.
        let table = unsafe { vtable_fn() };
        if table.is_null() {
            return Err(PluginLoadError::NullVTable { path: owned_path() });
        }
        let vtable = if plugin_version == 1 {
            // SAFETY: as above; non-null, and at least a version 1 table long.
            PluginVTable::from(unsafe { table.cast::<PluginVTableV1>().read() })
        } else {
            // SAFETY: as above; version 2 tables have every field of `PluginVTable`.
            unsafe { table.read() }
        };
        // SAFETY: the version handshake passed and the library is never unloaded, so the
        // table's functions follow this ABI and stay valid for the process.
        unsafe { Self::from_vtable(vtable, path, system_id, settings, timeout) }
    }

    /// Adapts a function table that is already at hand: what `load` does after the
    /// handshake. Tests use it with [`super::vtable`] to run a connector through the real
    /// ABI code in-process; `label` stands in for the library's path in errors.
    ///
    /// # Safety
    /// The table's functions must follow the ABI described in [`crate::plugin`] and remain
    /// callable for the rest of the process. Tables from [`super::vtable`] do.
    pub unsafe fn from_vtable(
        vtable: PluginVTable,
        label: &Path,
        system_id: &str,
        settings: &serde_json::Value,
        timeout: Duration,
    ) -> Result<PluginConnector, PluginLoadError> {
        let path = label.to_path_buf();
        if !(MIN_ABI_VERSION..=ABI_VERSION).contains(&vtable.abi_version) {
            return Err(PluginLoadError::AbiMismatch {
                path,
                plugin: vtable.abi_version,
                host: ABI_VERSION,
            });
        }
        let mut vtable = vtable;
        if vtable.abi_version < 2 {
            // Not part of a version 1 table, whatever the caller's copy holds there.
            vtable.import_stream = None;
        }
        let input = serde_json::to_vec(&CreateInput {
            system_id: system_id.to_owned(),
            settings: settings.clone(),
        })
        .expect("a String and a serde_json::Value always encode");
        let created = on_thread_with_timeout(timeout, move || {
            let mut out = Buffer::EMPTY;
            // SAFETY: `input` and `out` are valid for the call (the caller vouches for the
            // table); the returned pointer is ours to invoke and destroy.
            let instance = unsafe { (vtable.create)(input.as_ptr(), input.len(), &mut out) };
            // SAFETY: `out` is EMPTY or written by the plugin, and taken once.
            let bytes = unsafe { take(&vtable, out) };
            (InstancePtr(instance), bytes)
        });
        // If `create` does return after a timeout, its instance is never destroyed: a small
        // leak once, in exchange for never destroying something that may be half made.
        let (instance, bytes) = created.map_err(|e| {
            e.load_error(path.clone(), "create", timeout, |path, source| {
                PluginLoadError::Create { path, source }
            })
        })?;
        if instance.0.is_null() {
            return Err(PluginLoadError::Create {
                source: plugin_error("create", &bytes),
                path,
            });
        }
        let inner = Arc::new(Inner {
            path: path.clone(),
            vtable,
            instance: Mutex::new(instance),
            timeout,
        });
        let manifest = {
            let inner = Arc::clone(&inner);
            on_thread_with_timeout(timeout, move || inner.call::<Manifest>("manifest", b"null"))
        };
        let manifest_error = |path, source| PluginLoadError::Manifest { path, source };
        let manifest = manifest
            .map_err(|e| e.load_error(path.clone(), "manifest", timeout, manifest_error))?
            .map_err(|source| manifest_error(path, source))?;
        Ok(PluginConnector { inner, manifest })
    }

    /// The library this connector was loaded from (or the label given to `from_vtable`).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// One call by method name with its JSON input, answered with the plugin's JSON, on this
    /// thread and without a timeout: for a host process of its own (`loggvakt plugin-host`),
    /// whose parent bounds the call by ending the process.
    pub fn invoke_raw(&self, method: &str, input: &[u8]) -> Result<Vec<u8>, ConnectorError> {
        self.inner.invoke(method, input)
    }

    async fn call<I: Serialize, O: DeserializeOwned + Send + 'static>(
        &self,
        method: &'static str,
        input: &I,
    ) -> Result<O, ConnectorError> {
        let input = encode(method, input)?;
        let inner = Arc::clone(&self.inner);
        let timeout = self.inner.timeout;
        let task = tokio::task::spawn_blocking(move || inner.call::<O>(method, &input));
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(join)) => Err(ConnectorError::permanent(format!(
                "plugin call {method} failed in the host: {join}"
            ))),
            Err(_) => Err(timed_out(method, timeout)),
        }
    }
}

fn encode<I: Serialize>(method: &str, input: &I) -> Result<Vec<u8>, ConnectorError> {
    serde_json::to_vec(input)
        .map_err(|e| ConnectorError::permanent(format!("cannot encode the input to {method}: {e}")))
}

fn timed_out(method: &str, timeout: Duration) -> ConnectorError {
    ConnectorError::retryable(format!("plugin call {method} timed out after {timeout:?}"))
}

crate::forward_plugin_calls! {
    impl Connector for PluginConnector {
        /// Reads the input within the limits here, so an oversized file is refused before it
        /// is copied across; then runs the plugin on a thread of its own with the timeout.
        fn import(
            &self,
            input: &mut dyn Read,
            limits: &ImportLimits,
        ) -> Result<ImportOutcome, ConnectorError> {
            let bytes = limits.read_all(input)?;
            let input = encode(
                "import",
                &ImportInput {
                    bytes,
                    limits: *limits,
                },
            )?;
            let inner = Arc::clone(&self.inner);
            let timeout = self.inner.timeout;
            match on_thread_with_timeout(timeout, move || {
                inner.call::<ImportOutcome>("import", &input)
            }) {
                Ok(answer) => answer,
                Err(ThreadCallError::TimedOut) => Err(timed_out("import", timeout)),
                Err(ThreadCallError::Spawn(e)) => Err(ConnectorError::retryable(format!(
                    "cannot start a thread for plugin call import: {e}"
                ))),
                Err(ThreadCallError::Panicked) => Err(ConnectorError::permanent(
                    "plugin call import panicked in the host",
                )),
            }
        }

        /// Through the plugin's `import_stream` when it has one (version 2), else through
        /// `import` handed over in chunks. The plugin runs on a thread of its own; this thread
        /// serves its reads and chunks, so `input` and `sink` stay here. The timeout bounds the
        /// wait for the plugin's next read, chunk or end (not the whole call, so a large file is
        /// not cut off), and time spent reading `input` or in `sink` does not count.
        fn import_stream(
            &self,
            input: &mut dyn Read,
            limits: &ImportLimits,
            sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
        ) -> Result<(), ConnectorError> {
            let Some(stream) = self.inner.vtable.import_stream else {
                let whole = self.import(input, limits)?;
                return crate::protocol::hand_over_in_chunks(whole, sink);
            };
            let limits_json = encode("import_stream", limits)?;
            let (to_host, from_plugin) = mpsc::sync_channel::<FromPlugin>(1);
            let (to_plugin, from_host) = mpsc::sync_channel::<ToPlugin>(1);
            let inner = Arc::clone(&self.inner);
            std::thread::Builder::new()
                .name("loggvakt-plugin-call".into())
                .spawn(move || run_import_stream(&inner, stream, &limits_json, to_host, from_host))
                .map_err(|e| {
                    ConnectorError::retryable(format!(
                        "cannot start a thread for plugin call import_stream: {e}"
                    ))
                })?;
            serve_import_stream(
                &from_plugin,
                &to_plugin,
                &mut limits.reader(input),
                sink,
                self.inner.timeout,
            )
        }
    }
}

/// What the plugin's thread asks of the calling thread during `import_stream`.
enum FromPlugin {
    /// Up to this many bytes of the file.
    Read(usize),
    Chunk(Vec<u8>),
    /// A chunk over [`MAX_CHUNK_BYTES`], not copied.
    Oversized(usize),
    /// The call returned: its status and `*out`.
    Done(i32, Vec<u8>),
}

enum ToPlugin {
    /// The next bytes; empty at the end of the file.
    Data(Vec<u8>),
    /// The file cannot be read on.
    Fail,
    Go,
    Stop,
}

/// The callbacks' `ctx`: the plugin's thread's ends of the two channels.
struct Bridge {
    to_host: mpsc::SyncSender<FromPlugin>,
    from_host: mpsc::Receiver<ToPlugin>,
}

impl Bridge {
    fn ask(&self, what: FromPlugin) -> Option<ToPlugin> {
        self.to_host.send(what).ok()?;
        self.from_host.recv().ok()
    }
}

/// The plugin's side of `import_stream`, on its own thread. Holds the instance for as long
/// as the plugin runs, even past a timeout, so that no other call overlaps it.
fn run_import_stream(
    inner: &Inner,
    stream: ImportStreamFn,
    limits: &[u8],
    to_host: mpsc::SyncSender<FromPlugin>,
    from_host: mpsc::Receiver<ToPlugin>,
) {
    let bridge = Bridge {
        to_host: to_host.clone(),
        from_host,
    };
    let instance = inner
        .instance
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let mut out = Buffer::EMPTY;
    // SAFETY: as in `Inner::invoke`; `bridge` outlives the call, and the callbacks only use
    // it through a shared reference.
    let status = unsafe {
        stream(
            instance.0,
            limits.as_ptr(),
            limits.len(),
            bridge_read,
            bridge_chunk,
            std::ptr::from_ref(&bridge).cast_mut().cast::<c_void>(),
            &mut out,
        )
    };
    drop(instance);
    // SAFETY: `out` was written by this plugin (or is still EMPTY) and is taken once.
    let bytes = unsafe { take(&inner.vtable, out) };
    // The caller may have given up (a timeout); nobody is left to tell then.
    let _ = to_host.send(FromPlugin::Done(status, bytes));
}

/// The `read` callback given to plugins: asks the calling thread for the next bytes.
unsafe extern "C" fn bridge_read(ctx: *mut c_void, buf: *mut u8, cap: usize) -> isize {
    catch_unwind(AssertUnwindSafe(|| {
        if ctx.is_null() || buf.is_null() || cap == 0 {
            return -1;
        }
        // SAFETY: `ctx` is the `Bridge` of the running `import_stream` call (ABI contract:
        // callbacks are called only during it).
        let bridge = unsafe { &*ctx.cast::<Bridge>() };
        match bridge.ask(FromPlugin::Read(cap.min(READ_MAX))) {
            Some(ToPlugin::Data(bytes)) => {
                let n = bytes.len().min(cap);
                // SAFETY: the plugin passes `buf` valid for `cap` bytes; `n <= cap`.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, n) };
                isize::try_from(n).unwrap_or(-1)
            }
            _ => -1,
        }
    }))
    .unwrap_or(-1)
}

/// The `chunk` callback given to plugins: copies the chunk to the calling thread.
unsafe extern "C" fn bridge_chunk(ctx: *mut c_void, json: *const u8, len: usize) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        if ctx.is_null() || (json.is_null() && len > 0) {
            return 1;
        }
        // SAFETY: as in `bridge_read`.
        let bridge = unsafe { &*ctx.cast::<Bridge>() };
        let what = if len > MAX_CHUNK_BYTES {
            FromPlugin::Oversized(len)
        } else if len == 0 {
            FromPlugin::Chunk(Vec::new())
        } else {
            // SAFETY: the plugin passes `json` valid for `len` bytes for this call.
            FromPlugin::Chunk(unsafe { std::slice::from_raw_parts(json, len) }.to_vec())
        };
        match bridge.ask(what) {
            Some(ToPlugin::Go) => 0,
            _ => 1,
        }
    }))
    .unwrap_or(1)
}

/// The calling thread's side of `import_stream`: answers the plugin's reads from `input` and
/// hands its chunks to `sink` until the plugin returns or goes quiet for `timeout`.
fn serve_import_stream(
    from_plugin: &mpsc::Receiver<FromPlugin>,
    to_plugin: &mpsc::SyncSender<ToPlugin>,
    input: &mut dyn Read,
    sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
    timeout: Duration,
) -> Result<(), ConnectorError> {
    let mut stream = StreamHost::default();
    let mut deadline = Instant::now() + timeout;
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let message = match from_plugin.recv_timeout(wait) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => return Err(stream.timed_out(timeout)),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(ConnectorError::permanent(
                    "plugin call import_stream panicked in the host",
                ));
            }
        };
        let reply = match message {
            FromPlugin::Read(cap) => stream
                .read(input, cap)
                .map_or(ToPlugin::Fail, ToPlugin::Data),
            FromPlugin::Chunk(bytes) => match stream.chunk(&bytes, sink) {
                true => ToPlugin::Go,
                false => ToPlugin::Stop,
            },
            FromPlugin::Oversized(len) => {
                stream.oversized(len as u64);
                ToPlugin::Stop
            }
            FromPlugin::Done(status, bytes) => {
                let plugin = match status {
                    STATUS_OK => Ok(()),
                    STATUS_ERROR => Err(plugin_error("import_stream", &bytes)),
                    other => Err(ConnectorError::permanent(format!(
                        "plugin call import_stream broke the ABI: status {other}"
                    ))),
                };
                return stream.end(plugin);
            }
        };
        // A plugin that was stopped gets one timeout to return, however much it still sends.
        if !stream.is_stopped() {
            deadline = Instant::now() + timeout;
        }
        let _ = to_plugin.send(reply);
    }
}

/// How a streaming import is going on the host's side: the bookkeeping shared by the
/// in-process host and the parent of a plugin host process, so that both answer a plugin's
/// reads and chunks, stop it and report why alike.
#[derive(Debug, Default)]
pub struct StreamHost {
    /// Why the host stopped the import: the sink's error, or a malformed chunk.
    stopped: Option<ConnectorError>,
    /// Why the file could not be read on.
    read_failed: Option<ConnectorError>,
}

impl StreamHost {
    /// Whether the host stopped the import; the plugin then gets one timeout to return.
    pub fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// The answer to a read of up to `cap` bytes (at most [`READ_MAX`]): the next bytes of
    /// `input`, empty at its end; `None` when it cannot be read on (the plugin is told so).
    pub fn read(&mut self, input: &mut dyn Read, cap: usize) -> Option<Vec<u8>> {
        if self.stopped.is_some() || self.read_failed.is_some() {
            return None;
        }
        let mut buf = vec![0; cap.clamp(1, READ_MAX)];
        loop {
            match input.read(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Some(buf);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.read_failed = Some(ConnectorError::permanent(format!(
                        "cannot read the file: {e}"
                    )));
                    return None;
                }
            }
        }
    }

    /// Hands a chunk's JSON to `sink`; `false`: the plugin is to stop.
    pub fn chunk(
        &mut self,
        bytes: &[u8],
        sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
    ) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        match decode_chunk(bytes).and_then(&mut *sink) {
            Ok(()) => true,
            Err(e) => {
                self.stop(e);
                false
            }
        }
    }

    /// A chunk too large to take: the plugin is to stop.
    pub fn oversized(&mut self, len: u64) {
        self.stop(ConnectorError::malformed(format!(
            "the plugin handed over a chunk of {len} bytes in import_stream, over the limit of \
             {MAX_CHUNK_BYTES}; a chunk holds at most {} events",
            crate::IMPORT_CHUNK_EVENTS
        )));
    }

    fn stop(&mut self, why: ConnectorError) {
        self.stopped.get_or_insert(why);
    }

    /// The import's result once the plugin returned `plugin`: the host's own reason first,
    /// since the plugin's error then only echoes it.
    pub fn end(self, plugin: Result<(), ConnectorError>) -> Result<(), ConnectorError> {
        match self.stopped.or(self.read_failed) {
            Some(e) => Err(e),
            None => plugin,
        }
    }

    /// The import's result when the plugin went quiet for `timeout`: a stopped import keeps
    /// the reason it was stopped for.
    pub fn timed_out(self, timeout: Duration) -> ConnectorError {
        self.stopped
            .unwrap_or_else(|| timed_out("import_stream", timeout))
    }
}

/// One chunk of a streaming import, from its JSON.
pub fn decode_chunk(bytes: &[u8]) -> Result<ImportOutcome, ConnectorError> {
    serde_json::from_slice(bytes).map_err(|e| {
        // The place only: chunks carry personnummer, and serde quotes values.
        ConnectorError::malformed(format!(
            "a chunk the plugin handed over in import_stream is not JSON of the expected \
             shape ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}
