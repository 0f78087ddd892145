//! `loggvakt-connector`: the connector SDK of loggvakt.
//!
//! A *connector* turns "these users (or this patient), this period" into normalised access
//! events for one source system (Cosmic, Treserva, Sesam 2, Lifecare, …). This crate is what
//! connectors and the core share, and nothing else: it never depends on the core, so a
//! connector crate or a plugin builds without the application.
//!
//! * [`Connector`]: the capabilities of a source system (order, poll, fetch, import,
//!   write back) plus a health check, as one object-safe async trait, built through
//!   [`FromSettings`].
//! * [`AccessEvent`] and [`Action`]: the normalised event, and [`csv_form`], its CSV form.
//! * [`ConnectorError`]: every failure, with an [`ErrorKind`] that says whether a retry helps.
//! * [`tls`]: the extra CAs every connector's TLS connections trust.
//! * [`plugin`]: the C ABI for connectors loaded at run time, [`export_plugin!`] to build
//!   one, and [`plugin::PluginConnector`] to load one as an ordinary `Connector`.
//!
//! Access logs are personal data. The types here keep patient identities out of `Debug`
//! output and error messages; connectors must do the same with their own messages.

mod connector;
pub mod csv_form;
mod error;
mod event;
mod ident;
pub mod plugin;
mod protocol;
mod settings;
pub mod tls;

pub use connector::{Connector, FromSettings};
pub use csv_form::RowError;
pub use error::{ConnectorError, ErrorKind};
pub use event::{AccessEvent, Action};
pub use ident::{IdKind, InvalidPersonnummer, Personnummer};
pub use protocol::{
    Capabilities, Capability, Extract, FetchQuery, IMPORT_CHUNK_EVENTS, ImportLimits,
    ImportOutcome, LimitedReader, Manifest, OrderReceipt, OrderRequest, Orderer, OrdererSetting,
    Period, PollOutcome, ReviewOutcome, Subject, UserRef, WriteBack,
};

/// Re-exported so that connector crates name the same `async_trait` the trait was made with.
pub use async_trait::async_trait;

/// Bytes as a base64 string in JSON, where an array of numbers would be four times larger.
mod base64_serde {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("is not valid base64"))
    }
}
