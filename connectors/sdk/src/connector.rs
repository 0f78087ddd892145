//! The `Connector` trait: one source system, seen through the capabilities of DESIGN.md §6.

use std::io::Read;

use serde::de::DeserializeOwned;

use crate::{
    AccessEvent, ConnectorError, FetchQuery, ImportLimits, ImportOutcome, Manifest, OrderReceipt,
    OrderRequest, PollOutcome, WriteBack,
};

/// One configured source system. Built-in connectors and plugins (through
/// [`crate::plugin::PluginConnector`]) implement it alike, so the core holds every connector
/// as `Arc<dyn Connector>` and one conformance suite tests them all.
///
/// Only `manifest` and `health` are required. The other methods default to
/// [`crate::ErrorKind::Unsupported`]; a connector overrides those it declares in
/// [`crate::Capabilities`], and the core calls only what is declared.
///
/// Errors say whether a retry can help ([`ConnectorError::is_retryable`]); the core owns
/// retries, backoff and the record of attempts, so connectors make one attempt per call.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    fn manifest(&self) -> Manifest;

    /// Whether the system can be reached with these settings, without side effects.
    async fn health(&self) -> Result<(), ConnectorError>;

    /// Places an order for an extract that will be answered later.
    async fn order(&self, req: &OrderRequest) -> Result<OrderReceipt, ConnectorError> {
        let _ = req;
        Err(ConnectorError::unsupported("order"))
    }

    /// Looks for the answer to an earlier order.
    async fn poll(
        &self,
        req: &OrderRequest,
        receipt: &OrderReceipt,
    ) -> Result<PollOutcome, ConnectorError> {
        let _ = (req, receipt);
        Err(ConnectorError::unsupported("poll"))
    }

    /// Queries the system's log directly.
    async fn fetch(&self, q: &FetchQuery) -> Result<Vec<AccessEvent>, ConnectorError> {
        let _ = q;
        Err(ConnectorError::unsupported("fetch"))
    }

    /// Parses a delivered file of this system's format. Synchronous because it is pure CPU
    /// work on bytes at hand; the core runs it off the async threads. Implementations should
    /// read through [`ImportLimits::read_all`] or otherwise honour the limits.
    fn import(
        &self,
        input: &mut dyn Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        let _ = (input, limits);
        Err(ConnectorError::unsupported("import"))
    }

    /// [`Connector::import`] handed over in chunks as the file is read, so that memory stays
    /// flat whatever the file's size. Each chunk is an [`ImportOutcome`] of at most about
    /// [`crate::IMPORT_CHUNK_EVENTS`] events and the rows refused among them, in file order;
    /// `sink` returning an error stops the import with that error. Read through
    /// [`ImportLimits::reader`].
    ///
    /// The default reads the whole answer through `import` and hands it over in chunks:
    /// correct for every connector, flat only for those that override it (formats that can
    /// be read row by row).
    fn import_stream(
        &self,
        input: &mut dyn Read,
        limits: &ImportLimits,
        sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
    ) -> Result<(), ConnectorError> {
        let whole = self.import(input, limits)?;
        crate::protocol::hand_over_in_chunks(whole, sink)
    }

    /// Records a closed review's outcome in the source system.
    async fn write_back(&self, wb: &WriteBack) -> Result<(), ConnectorError> {
        let _ = wb;
        Err(ConnectorError::unsupported("write_back"))
    }
}

/// How a connector is built from its configuration: the convention every connector crate
/// follows, and the constructor [`crate::export_plugin!`] calls.
///
/// A connector names the form of its settings (`serde_json::Value` takes them as they come)
/// and implements [`FromSettings::build`]; [`FromSettings::from_settings`] reads the
/// configuration into that form first, so that every connector reports a wrong, missing or
/// unknown setting alike.
///
/// `system_id` is the configured system's id (it goes into [`AccessEvent::system`]). Wrong or
/// missing settings are [`crate::ErrorKind::Config`] errors naming the setting. The
/// constructor must not do I/O that can hang: `health` is the place to reach the peer.
pub trait FromSettings: Sized {
    type Settings: DeserializeOwned;

    /// Builds the connector from settings of the right form, checking what the form alone
    /// cannot say (an empty token, a malformed address, …).
    fn build(system_id: &str, settings: Self::Settings) -> Result<Self, ConnectorError>;

    /// `settings` is the system's connector table from the configuration, as JSON.
    fn from_settings(
        system_id: &str,
        settings: &serde_json::Value,
    ) -> Result<Self, ConnectorError> {
        Self::build(system_id, crate::settings::parse(system_id, settings)?)
    }
}
