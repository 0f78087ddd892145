//! What every host of a plugin does alike, wherever the plugin runs (in this process or in
//! a child): all of a plugin's capabilities but the imports are one call by method name
//! with JSON in and out.

/// Implements [`Connector`](crate::Connector) for a host of a plugin, forwarding `manifest`
/// and the JSON calls (`health`, `order`, `poll`, `fetch`, `write_back`); the host gives the
/// imports, which cross in a way of its own.
///
/// The host type has a field `manifest: Manifest` (read once at load: it cannot change,
/// and `manifest` has no way to report an error) and a method
/// `async fn call<I: Serialize, O: DeserializeOwned + Send + 'static>(&self, method:
/// &'static str, input: &I) -> Result<O, ConnectorError>`.
///
/// ```ignore
/// loggvakt_connector::forward_plugin_calls! {
///     impl Connector for MyHost {
///         fn import(&self, input: &mut dyn Read, limits: &ImportLimits)
///             -> Result<ImportOutcome, ConnectorError> { … }
///         fn import_stream(…) -> Result<(), ConnectorError> { … }
///     }
/// }
/// ```
#[macro_export]
macro_rules! forward_plugin_calls {
    (impl Connector for $host:ty { $($imports:tt)* }) => {
        #[$crate::async_trait]
        impl $crate::Connector for $host {
            fn manifest(&self) -> $crate::Manifest {
                self.manifest.clone()
            }

            async fn health(&self) -> Result<(), $crate::ConnectorError> {
                self.call("health", &()).await
            }

            async fn order(
                &self,
                req: &$crate::OrderRequest,
            ) -> Result<$crate::OrderReceipt, $crate::ConnectorError> {
                self.call("order", req).await
            }

            async fn poll(
                &self,
                req: &$crate::OrderRequest,
                receipt: &$crate::OrderReceipt,
            ) -> Result<$crate::PollOutcome, $crate::ConnectorError> {
                let input = $crate::plugin::PollInput {
                    request: req.clone(),
                    receipt: receipt.clone(),
                };
                self.call("poll", &input).await
            }

            async fn fetch(
                &self,
                q: &$crate::FetchQuery,
            ) -> Result<Vec<$crate::AccessEvent>, $crate::ConnectorError> {
                self.call("fetch", q).await
            }

            async fn write_back(
                &self,
                wb: &$crate::WriteBack,
            ) -> Result<(), $crate::ConnectorError> {
                self.call("write_back", wb).await
            }

            $($imports)*
        }
    };
}
