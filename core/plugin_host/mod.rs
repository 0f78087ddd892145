//! Plugins out of process: each configured plugin runs in a `loggvakt plugin-host` child of
//! its own, so that a plugin that aborts, segfaults or hangs ends only its child. The parent
//! ([`IsolatedPlugin`]) is an ordinary `Connector` to the rest of loggvakt; the child
//! ([`child::run`]) loads the library with the in-process host of the SDK and answers calls
//! over a pipe in [`frame`]s.

pub mod child;
mod frame;
mod supervisor;

pub use supervisor::{IsolatedPlugin, QUARANTINE_AFTER, host_executable};
