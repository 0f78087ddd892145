//! The plugin side of the ABI: a generic function table for any `Connector + FromSettings`.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ABI_VERSION, Buffer, ChunkFn, CreateInput, ImportInput, PluginVTable, PollInput};
use super::{ReadFn, STATUS_ERROR, STATUS_OK};
use crate::{
    Connector, ConnectorError, FetchQuery, FromSettings, ImportLimits, ImportOutcome, OrderRequest,
    WriteBack,
};

/// Returned when even reporting an error failed; the host treats any status other than
/// `STATUS_OK` and `STATUS_ERROR` as a broken plugin.
const STATUS_BROKEN: i32 = 2;

/// What an instance pointer points to.
struct Instance<C> {
    connector: C,
    /// Owned by the instance because a cdylib has its own copy of tokio's statics: it cannot
    /// use the host's reactor, timers or runtime context, so it drives its futures itself.
    runtime: tokio::runtime::Runtime,
}

/// The function table for `C`. [`crate::export_plugin!`] puts it in a static; tests can call
/// it directly to exercise the ABI in-process, without building and loading a library.
pub const fn vtable<C: Connector + FromSettings + 'static>() -> PluginVTable {
    PluginVTable {
        abi_version: ABI_VERSION,
        create: create::<C>,
        invoke: invoke::<C>,
        free: free_buffer,
        destroy: destroy::<C>,
        import_stream: Some(import_stream::<C>),
    }
}

/// Exports a connector as a plugin: the `loggvakt_plugin_abi_version` and
/// `loggvakt_plugin_vtable` symbols, for a type implementing [`crate::Connector`] and
/// [`crate::FromSettings`]. Use it once, at the root of a `cdylib` crate.
///
/// ```
/// use loggvakt_connector::{async_trait, Connector, ConnectorError, FromSettings, Manifest};
///
/// struct MyConnector;
///
/// impl FromSettings for MyConnector {
///     type Settings = serde_json::Value;
///
///     fn build(_: &str, _: serde_json::Value) -> Result<Self, ConnectorError> {
///         Ok(MyConnector)
///     }
/// }
///
/// #[async_trait]
/// impl Connector for MyConnector {
///     fn manifest(&self) -> Manifest {
///         Manifest { name: "mine".into(), version: "1".into(), capabilities: Default::default(), max_users_per_order: None }
///     }
///     async fn health(&self) -> Result<(), ConnectorError> {
///         Ok(())
///     }
/// }
///
/// loggvakt_connector::export_plugin!(MyConnector);
/// # assert_eq!(loggvakt_plugin_abi_version(), loggvakt_connector::plugin::ABI_VERSION);
/// # assert!(!loggvakt_plugin_vtable().is_null());
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($connector:ty) => {
        /// The plugin ABI version this library speaks; the host checks it first.
        #[unsafe(no_mangle)]
        pub extern "C" fn loggvakt_plugin_abi_version() -> u32 {
            // A constant: nothing here can panic, so no catch_unwind is needed.
            $crate::plugin::ABI_VERSION
        }

        /// The function table; every function in it catches panics.
        #[unsafe(no_mangle)]
        pub extern "C" fn loggvakt_plugin_vtable() -> *const $crate::plugin::PluginVTable {
            static VTABLE: $crate::plugin::PluginVTable = $crate::plugin::vtable::<$connector>();
            &VTABLE
        }
    };
}

/// Runs `f`, turning a panic into an error so that it never unwinds across `extern "C"`.
fn guarded<T>(f: impl FnOnce() -> Result<T, ConnectorError>) -> Result<T, ConnectorError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(panic_error(payload)),
    }
}

fn panic_error(payload: Box<dyn Any + Send>) -> ConnectorError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    // A payload's destructor can itself panic; that must not escape either.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    ConnectorError::permanent(format!("plugin panicked: {message}"))
}

fn buffer_from(bytes: Vec<u8>) -> Buffer {
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    Buffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        cap: bytes.capacity(),
    }
}

/// Writes the answer or the error to `*out` and returns the status for it.
///
/// # Safety
/// `out` is null or valid for a write of a `Buffer`.
unsafe fn answer(out: *mut Buffer, result: Result<Vec<u8>, ConnectorError>) -> i32 {
    if out.is_null() {
        return STATUS_BROKEN;
    }
    let (status, bytes) = match result {
        Ok(bytes) => (STATUS_OK, bytes),
        Err(e) => match serde_json::to_vec(&e) {
            Ok(bytes) => (STATUS_ERROR, bytes),
            Err(_) => return STATUS_BROKEN,
        },
    };
    // SAFETY: `out` is non-null and, by this function's contract, valid for a write.
    unsafe { out.write(buffer_from(bytes)) };
    status
}

/// # Safety
/// `ptr` is valid for reads of `len` bytes, or `len` is 0.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: non-null and, by this function's contract, valid for `len` bytes.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Parse errors name the place, not the content: inputs carry personnummer.
fn from_json<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ConnectorError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ConnectorError::malformed(format!(
            "the input to {what} is not JSON of the expected shape ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

fn to_json<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, ConnectorError> {
    serde_json::to_vec(value)
        .map_err(|e| ConnectorError::permanent(format!("cannot encode the answer to {what}: {e}")))
}

unsafe extern "C" fn create<C: Connector + FromSettings + 'static>(
    input_ptr: *const u8,
    input_len: usize,
    out: *mut Buffer,
) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(|| {
        let made = guarded(|| {
            // SAFETY: the host passes a buffer it owns for the duration of the call.
            let bytes = unsafe { input(input_ptr, input_len) };
            let CreateInput {
                system_id,
                settings,
            } = from_json("create", bytes)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    ConnectorError::permanent(format!("cannot start the plugin's runtime: {e}"))
                })?;
            // Entered so that constructors that make clients or timers find a runtime.
            let connector = {
                let _entered = runtime.enter();
                C::from_settings(&system_id, &settings)?
            };
            Ok(Box::new(Instance { connector, runtime }))
        });
        match made {
            Ok(instance) => {
                if !out.is_null() {
                    // SAFETY: non-null; the host passes a valid `*mut Buffer`.
                    unsafe { out.write(Buffer::EMPTY) };
                }
                Box::into_raw(instance).cast::<c_void>()
            }
            Err(e) => {
                // SAFETY: `out` is null (checked inside) or valid, as the host promises.
                unsafe { answer(out, Err(e)) };
                std::ptr::null_mut()
            }
        }
    }))
    .unwrap_or(std::ptr::null_mut())
}

unsafe extern "C" fn invoke<C: Connector + FromSettings + 'static>(
    instance: *mut c_void,
    method_ptr: *const u8,
    method_len: usize,
    input_ptr: *const u8,
    input_len: usize,
    out: *mut Buffer,
) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        let result = guarded(|| {
            if instance.is_null() {
                return Err(ConnectorError::permanent("invoke on a null instance"));
            }
            // SAFETY: a non-null instance came from `create::<C>` and has not been destroyed
            // (host contract); the host serialises calls, and C is Sync anyway.
            let instance = unsafe { &*instance.cast::<Instance<C>>() };
            // SAFETY: the host passes buffers it owns for the duration of the call.
            let (method, bytes) =
                unsafe { (input(method_ptr, method_len), input(input_ptr, input_len)) };
            dispatch(instance, method, bytes)
        });
        // SAFETY: `out` is null (checked inside) or valid, as the host promises.
        unsafe { answer(out, result) }
    }))
    .unwrap_or(STATUS_BROKEN)
}

fn dispatch<C: Connector>(
    instance: &Instance<C>,
    method: &[u8],
    bytes: &[u8],
) -> Result<Vec<u8>, ConnectorError> {
    let c = &instance.connector;
    let rt = &instance.runtime;
    match method {
        b"manifest" => to_json("manifest", &c.manifest()),
        b"health" => {
            rt.block_on(c.health())?;
            to_json("health", &())
        }
        b"order" => {
            let req: OrderRequest = from_json("order", bytes)?;
            to_json("order", &rt.block_on(c.order(&req))?)
        }
        b"poll" => {
            let PollInput { request, receipt } = from_json("poll", bytes)?;
            to_json("poll", &rt.block_on(c.poll(&request, &receipt))?)
        }
        b"fetch" => {
            let q: FetchQuery = from_json("fetch", bytes)?;
            to_json("fetch", &rt.block_on(c.fetch(&q))?)
        }
        b"import" => {
            let ImportInput { bytes, limits } = from_json("import", bytes)?;
            let _entered = rt.enter();
            to_json("import", &c.import(&mut bytes.as_slice(), &limits)?)
        }
        b"write_back" => {
            let wb: WriteBack = from_json("write_back", bytes)?;
            rt.block_on(c.write_back(&wb))?;
            to_json("write_back", &())
        }
        other => {
            let name = String::from_utf8_lossy(&other[..other.len().min(64)]).into_owned();
            Err(ConnectorError::new(
                crate::ErrorKind::Unsupported,
                format!("this plugin has no method {name:?}"),
            ))
        }
    }
}

/// The host's `read` callback as a `Read`.
struct HostReader {
    read: ReadFn,
    ctx: *mut c_void,
}

impl std::io::Read for HostReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: `ctx` and `read` are the host's, valid during the `import_stream` call that
        // made this reader; `buf` is valid for `buf.len()` bytes.
        let n = unsafe { (self.read)(self.ctx, buf.as_mut_ptr(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) if n <= buf.len() => Ok(n),
            Ok(_) => Err(std::io::Error::other(
                "the host's read callback broke the ABI (more bytes than asked for)",
            )),
            // The host knows and reports why; this only ends the plugin's reading.
            Err(_) => Err(std::io::Error::other("the host could not read the file on")),
        }
    }
}

unsafe extern "C" fn import_stream<C: Connector + FromSettings + 'static>(
    instance: *mut c_void,
    limits_ptr: *const u8,
    limits_len: usize,
    read: ReadFn,
    chunk: ChunkFn,
    ctx: *mut c_void,
    out: *mut Buffer,
) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        let result = guarded(|| {
            if instance.is_null() {
                return Err(ConnectorError::permanent(
                    "import_stream on a null instance",
                ));
            }
            // SAFETY: as in `invoke`.
            let instance = unsafe { &*instance.cast::<Instance<C>>() };
            // SAFETY: the host passes a buffer it owns for the duration of the call.
            let limits: ImportLimits =
                from_json("import_stream", unsafe { input(limits_ptr, limits_len) })?;
            let mut reader = HostReader { read, ctx };
            let mut sink = |outcome: ImportOutcome| -> Result<(), ConnectorError> {
                let json = to_json("import_stream", &outcome)?;
                // SAFETY: as for `read`; the host copies the bytes before it returns.
                match unsafe { chunk(ctx, json.as_ptr(), json.len()) } {
                    0 => Ok(()),
                    // The host has its own reason and reports it; this only ends the import.
                    _ => Err(ConnectorError::permanent("the host stopped the import")),
                }
            };
            let _entered = instance.runtime.enter();
            instance
                .connector
                .import_stream(&mut reader, &limits, &mut sink)?;
            Ok(b"null".to_vec())
        });
        // SAFETY: `out` is null (checked inside) or valid, as the host promises.
        unsafe { answer(out, result) }
    }))
    .unwrap_or(STATUS_BROKEN)
}

unsafe extern "C" fn free_buffer(buffer: Buffer) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if buffer.ptr.is_null() {
            return;
        }
        // SAFETY: a non-null buffer was made by `buffer_from` from a `Vec<u8>` of this very
        // library (same allocator) and the host frees each buffer once.
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }));
}

unsafe extern "C" fn destroy<C: Connector + FromSettings + 'static>(instance: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if instance.is_null() {
            return;
        }
        // SAFETY: came from `Box::into_raw` in `create::<C>`; the host destroys it once,
        // after its last call.
        let Instance { connector, runtime } =
            *unsafe { Box::from_raw(instance.cast::<Instance<C>>()) };
        {
            let _entered = runtime.enter();
            drop(connector);
        }
        // Not a plain drop: that blocks on the runtime's blocking pool, and panics when the
        // caller happens to be inside an async context (as an in-process host can be).
        runtime.shutdown_background();
    }));
}
