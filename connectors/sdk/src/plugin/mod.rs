//! The plugin C ABI: connectors built as a `cdylib` and loaded at run time.
//!
//! The design follows Polars' expression plugins and DataFusion's `datafusion/ffi`: a version
//! handshake first, then only bytes cross the boundary. Rust has no stable ABI, so no Rust
//! type (no `String`, no trait object, no allocator) is shared; every call is JSON in, JSON
//! out, through a table of `extern "C"` functions.
//!
//! # The contract, for plugins in any language
//!
//! A plugin exports two C functions:
//!
//! * `uint32_t loggvakt_plugin_abi_version(void)` returns [`ABI_VERSION`] (or an older
//!   version down to [`MIN_ABI_VERSION`]). The host calls it before anything else and refuses
//!   a plugin of a version it does not speak.
//! * `const PluginVTable *loggvakt_plugin_vtable(void)` returns a table that lives as long as
//!   the process.
//!
//! Through the table:
//!
//! * `create(input, len, out)` gets [`CreateInput`] as JSON and returns an opaque instance
//!   pointer, or null with a [`crate::ConnectorError`] as JSON in `*out`.
//! * `invoke(instance, method, method_len, input, input_len, out)` calls one method by name
//!   with its JSON input (see [`METHODS`]) and returns [`STATUS_OK`] with the answer as JSON
//!   in `*out`, or [`STATUS_ERROR`] with a `ConnectorError` as JSON in `*out`.
//! * `free(buffer)` releases a [`Buffer`] the plugin wrote into `*out`. Buffers are allocated
//!   by the plugin and released only by the plugin, because host and plugin may not share an
//!   allocator. The host calls `free` exactly once for every buffer with a non-null `ptr`.
//! * `destroy(instance)` drops an instance; the host calls it once, after the last `invoke`.
//! * `import_stream(instance, limits, limits_len, read, chunk, ctx, out)` (version 2, may be
//!   null): the `import` method as a stream, see [`ImportStreamFn`]. A version 1 table ends
//!   before this field, so the host reads it only from plugins of version 2 or later, and
//!   falls back to the `import` method when it is absent or null.
//!
//! An instance is used by one call at a time (the host serialises calls), but not always
//! from the same thread, so instances must not depend on thread-local state between calls.
//! No function may unwind into the host; a plugin written in Rust gets that, and all of the
//! above, from [`crate::export_plugin!`]. The host never unloads a plugin: code and statics
//! of a library (thread-local destructors, runtimes, leaked threads) are not safe to remove
//! from a running process.
//!
//! | method | input JSON | answer JSON |
//! |---|---|---|
//! | `manifest` | ignored | [`crate::Manifest`] |
//! | `health` | ignored | `null` |
//! | `order` | [`crate::OrderRequest`] | [`crate::OrderReceipt`] |
//! | `poll` | [`PollInput`] | [`crate::PollOutcome`] |
//! | `fetch` | [`crate::FetchQuery`] | array of [`crate::AccessEvent`] |
//! | `import` | [`ImportInput`] | [`crate::ImportOutcome`] |
//! | `write_back` | [`crate::WriteBack`] | `null` |
//!
//! An unknown method answers a `ConnectorError` of kind `unsupported`, so a newer host can
//! talk to an older plugin about what both know.

use std::ffi::c_void;

use serde::{Deserialize, Serialize};

use crate::{ImportLimits, OrderReceipt, OrderRequest};

mod export;
mod forward;
mod host;

pub use export::vtable;
pub use host::{PluginConnector, PluginLoadError, StreamHost, decode_chunk};

/// Raised whenever a change to this module changes what crosses the boundary.
///
/// * 1: `create`, `invoke`, `free`, `destroy`.
/// * 2: `import_stream` added at the end of the table.
pub const ABI_VERSION: u32 = 2;

/// The oldest version the host still loads: version 2 only added to the end of the table,
/// so a version 1 plugin is used through the part it has.
pub const MIN_ABI_VERSION: u32 = 1;

/// The most the host hands over in one `read` callback, and so the most of the file a host
/// holds at a time on behalf of a streaming import.
pub const READ_MAX: usize = 64 * 1024;

/// The largest chunk of a streaming import, as JSON. [`crate::IMPORT_CHUNK_EVENTS`] events
/// with their raw rows stay far below it; a bigger chunk means a plugin that does not chunk.
pub const MAX_CHUNK_BYTES: usize = 64 << 20;

/// The host's `read` callback of [`ImportStreamFn`]: fills up to `cap` bytes of `buf` with
/// the next bytes of the file and returns how many (> 0), 0 at the end of the file (and on
/// every call after it), or a negative number when the file cannot be read on (an I/O error,
/// or the file is over the import limit): the plugin then returns promptly, with any status;
/// the host reports its own error.
pub type ReadFn = unsafe extern "C" fn(ctx: *mut c_void, buf: *mut u8, cap: usize) -> isize;

/// The host's `chunk` callback of [`ImportStreamFn`]: hands over one chunk, an
/// [`crate::ImportOutcome`] as JSON that the host copies before it returns (the plugin keeps
/// and frees its bytes). Returns 0 to go on; anything else means the host stops the import
/// (its consumer failed, or the chunk is malformed): the plugin reads no more, hands over no
/// more and returns promptly, with any status.
pub type ChunkFn = unsafe extern "C" fn(ctx: *mut c_void, json: *const u8, len: usize) -> i32;

/// `import_stream(instance, limits, limits_len, read, chunk, ctx, out)`: the `import` method
/// with the file read through `read` as the plugin goes and the outcome handed to `chunk` in
/// pieces, so that neither side holds the whole file or the whole list of events.
///
/// * `limits` is [`crate::ImportLimits`] as JSON. The host's `read` fails once the file
///   passes `max_bytes`, so a plugin need not count.
/// * Chunks come in file order (each chunk's events and refused rows after those of the chunk
///   before), each at most [`crate::IMPORT_CHUNK_EVENTS`] events and the rows refused among
///   them, and at most [`MAX_CHUNK_BYTES`] of JSON. A chunk may be empty.
/// * `read` and `chunk` are called with `ctx`, on the thread that called `import_stream` and
///   only until it returns.
/// * Returns [`STATUS_OK`] once the last chunk is handed over (`*out` left empty or `null`),
///   or [`STATUS_ERROR`] with a `ConnectorError` as JSON in `*out`. `*out` is freed by the
///   plugin's `free`, as for `invoke`. What was handed over before an error is not a whole
///   import; the host treats the import as failed.
pub type ImportStreamFn = unsafe extern "C" fn(
    instance: *mut c_void,
    limits: *const u8,
    limits_len: usize,
    read: ReadFn,
    chunk: ChunkFn,
    ctx: *mut c_void,
    out: *mut Buffer,
) -> i32;

/// `extern "C" fn() -> u32`
pub const ABI_VERSION_SYMBOL: &str = "loggvakt_plugin_abi_version";

/// `extern "C" fn() -> *const PluginVTable`
pub const VTABLE_SYMBOL: &str = "loggvakt_plugin_vtable";

/// `invoke` succeeded; `*out` holds the answer.
pub const STATUS_OK: i32 = 0;
/// `invoke` failed; `*out` holds a `ConnectorError`.
pub const STATUS_ERROR: i32 = 1;

/// The method names `invoke` understands.
pub const METHODS: [&str; 7] = [
    "manifest",
    "health",
    "order",
    "poll",
    "fetch",
    "import",
    "write_back",
];

/// Bytes owned by the plugin. `ptr`, `len` and `cap` are those of the plugin's own vector
/// (for a Rust plugin, a `Vec<u8>`), so that `free` can rebuild and drop it. A null `ptr`
/// means empty and needs no `free`.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl Buffer {
    pub const EMPTY: Buffer = Buffer {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };
}

/// `create(input, input_len, out)`: a new instance, or null with an error in `*out`.
pub type CreateFn =
    unsafe extern "C" fn(input: *const u8, input_len: usize, out: *mut Buffer) -> *mut c_void;

/// `invoke(instance, method, method_len, input, input_len, out)`: one call by method name,
/// its answer in `*out`; returns [`STATUS_OK`] or [`STATUS_ERROR`].
pub type InvokeFn = unsafe extern "C" fn(
    instance: *mut c_void,
    method: *const u8,
    method_len: usize,
    input: *const u8,
    input_len: usize,
    out: *mut Buffer,
) -> i32;

/// `free(buffer)`: gives back a buffer the plugin allocated.
pub type FreeFn = unsafe extern "C" fn(buffer: Buffer);

/// `destroy(instance)`: drops an instance.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);

/// The function table a plugin exports. The functions are `unsafe` to call because they take
/// raw pointers whose validity only the caller can promise.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginVTable {
    /// Must equal the version from `loggvakt_plugin_abi_version`; checked again so that a
    /// table from a mismatched build is not trusted on the strength of one symbol.
    pub abi_version: u32,
    pub create: CreateFn,
    pub invoke: InvokeFn,
    pub free: FreeFn,
    pub destroy: DestroyFn,
    /// Version 2; `None` (null) when the plugin imports whole files only.
    pub import_stream: Option<ImportStreamFn>,
}

/// The table of version 1: what the host may read of a plugin that says it is version 1
/// (its table ends there; reading a [`PluginVTable`] would read past it).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginVTableV1 {
    pub abi_version: u32,
    pub create: CreateFn,
    pub invoke: InvokeFn,
    pub free: FreeFn,
    pub destroy: DestroyFn,
}

impl From<PluginVTableV1> for PluginVTable {
    fn from(v1: PluginVTableV1) -> PluginVTable {
        PluginVTable {
            abi_version: v1.abi_version,
            create: v1.create,
            invoke: v1.invoke,
            free: v1.free,
            destroy: v1.destroy,
            import_stream: None,
        }
    }
}

/// The JSON input of `create`: the arguments of [`crate::FromSettings::from_settings`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateInput {
    pub system_id: String,
    pub settings: serde_json::Value,
}

/// The JSON input of the `poll` method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PollInput {
    pub request: OrderRequest,
    pub receipt: OrderReceipt,
}

/// The JSON input of the `import` method: the whole file, base64, and the limits. The host
/// has already refused files over the limit before sending them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImportInput {
    #[serde(with = "crate::base64_serde")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub bytes: Vec<u8>,
    pub limits: ImportLimits,
}

impl std::fmt::Debug for ImportInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportInput")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("limits", &self.limits)
            .finish()
    }
}
