//! Which connector serves each configured system: a built-in one, or a plugin library
//! loaded at run time. Built lazily per command that talks to systems (`plan` needs none),
//! and every failure is kept per system, so one misconfigured system does not stop the rest.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use loggvakt_connector::{
    Capabilities, Capability, Connector, ConnectorError, FromSettings, ImportLimits, ImportOutcome,
    Manifest,
};

use crate::model::org::{ConnectorRef, Organisation, System};
use crate::plugin_host::{IsolatedPlugin, host_executable};

/// The connectors of an organisation's systems.
#[derive(Clone, Default)]
pub struct Connectors {
    by_system: HashMap<String, Result<Arc<dyn Connector>, String>>,
}

impl Connectors {
    /// Builds (or loads) every system's connector; problems are kept, not raised.
    pub fn for_org(org: &Organisation) -> Self {
        let by_system = org
            .systems
            .iter()
            .map(|s| (s.id.to_string(), build(s)))
            .collect();
        Self { by_system }
    }

    /// Replaces one system's connector, for tests and the demo's simulators.
    pub fn with(mut self, system: &str, connector: Arc<dyn Connector>) -> Self {
        self.by_system.insert(system.to_owned(), Ok(connector));
        self
    }

    pub fn get(&self, system: &str) -> Result<Arc<dyn Connector>, String> {
        self.by_system
            .get(system)
            .cloned()
            .unwrap_or_else(|| Err(format!("system '{system}' is not configured")))
    }

    /// Why checks by patient cannot be asked of `system` (see
    /// [`System::patient_search_gap`]), judged by the connector that serves it.
    pub fn patient_search_gap(&self, system: &System) -> Option<String> {
        let name = self.get(system.id.as_str()).map_or_else(
            |_| system.connector_name().to_owned(),
            |c| c.manifest().name,
        );
        system.patient_search_gap(&name)
    }

    /// Every system whose connector could not be built, with the reason; `serve` refuses to
    /// start on these and `config check` lists them.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .by_system
            .iter()
            .filter_map(|(s, c)| c.as_ref().err().map(|e| (s.clone(), e.clone())))
            .collect();
        v.sort();
        v
    }

    /// `Err` naming every system whose connector could not be built (bad settings, a plugin
    /// that failed to load): commands that talk to systems stop at start on these.
    pub fn require_all(&self) -> Result<(), String> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems
                .into_iter()
                .map(|(_, p)| p)
                .collect::<Vec<_>>()
                .join("; "))
        }
    }
}

/// Reads a delivered file with the connector's own reader, or in the normalised CSV form when
/// the connector reads no files of its own (Sesam 2 is queried; a plugin may only move files):
/// what a person exports by hand, or a plugin delivers as it is.
pub fn import_delivery(
    connector: &dyn Connector,
    input: &mut dyn std::io::Read,
    limits: &ImportLimits,
) -> Result<ImportOutcome, ConnectorError> {
    if connector.manifest().capabilities.import {
        connector.import(input, limits)
    } else {
        loggvakt_connector::csv_form::import(input, limits)
    }
}

/// [`import_delivery`] handed over in chunks as the file is read (see
/// [`Connector::import_stream`]).
pub fn import_delivery_stream(
    connector: &dyn Connector,
    input: &mut dyn std::io::Read,
    limits: &ImportLimits,
    sink: &mut dyn FnMut(ImportOutcome) -> Result<(), ConnectorError>,
) -> Result<(), ConnectorError> {
    if connector.manifest().capabilities.import {
        connector.import_stream(input, limits, sink)
    } else {
        loggvakt_connector::csv_form::import_stream(input, limits, sink)
    }
}

fn settings_json(system: &System) -> serde_json::Value {
    serde_json::to_value(&system.settings).unwrap_or(serde_json::Value::Null)
}

fn build(system: &System) -> Result<Arc<dyn Connector>, String> {
    match &system.connector {
        ConnectorRef::BuiltIn(name) => built_in(name, system),
        ConnectorRef::Plugin(lib) => {
            let path = plugin_path(lib);
            host_executable()
                .and_then(|host| {
                    IsolatedPlugin::start(
                        &host,
                        &path,
                        system.id.as_str(),
                        &settings_json(system),
                        system.plugin_timeout,
                    )
                })
                .map(|c| Arc::new(c) as Arc<dyn Connector>)
                .map_err(|e| format!("plugin for system '{}': {e}", system.id))
        }
    }
}

/// A plugin is named by a path, or by a bare name looked up as `lib<name>.so` in
/// `LOGGVAKT_PLUGIN_DIR` (default `plugins/`).
fn plugin_path(lib: &str) -> PathBuf {
    if lib.contains('/') || lib.ends_with(std::env::consts::DLL_SUFFIX) {
        return PathBuf::from(lib);
    }
    let dir = std::env::var_os("LOGGVAKT_PLUGIN_DIR")
        .map_or_else(|| PathBuf::from("plugins"), PathBuf::from);
    dir.join(format!(
        "{}{lib}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn built_in(name: &str, system: &System) -> Result<Arc<dyn Connector>, String> {
    fn make<C: Connector + FromSettings + 'static>(
        system: &System,
    ) -> Result<Arc<dyn Connector>, String> {
        C::from_settings(system.id.as_str(), &settings_json(system))
            .map(|c| Arc::new(c) as Arc<dyn Connector>)
            .map_err(|e| format!("system '{}': {}", system.id, e.message))
    }
    match name {
        "cosmic" => make::<loggvakt_cosmic::CosmicConnector>(system),
        "treserva" => make::<loggvakt_treserva::TreservaConnector>(system),
        "sesam2" => make::<loggvakt_sesam2::Sesam2Connector>(system),
        "lifecare" => make::<loggvakt_lifecare::LifecareConnector>(system),
        crate::model::org::MANUAL_CONNECTOR => Ok(Arc::new(ManualConnector)),
        other => Err(format!(
            "system '{}': no built-in connector '{other}'",
            system.id
        )),
    }
}

/// The connector of a system with no API at all (`connector = "manual"`): nothing to order,
/// poll or fetch; a person exports the log and uploads it in loggvakt's normalised CSV form
/// (DESIGN.md §6), or records the review made outside loggvakt.
pub struct ManualConnector;

#[async_trait::async_trait]
impl Connector for ManualConnector {
    fn manifest(&self) -> Manifest {
        let offered = Capabilities::of(&[Capability::Import]);
        Manifest::new(
            crate::model::org::MANUAL_CONNECTOR,
            env!("CARGO_PKG_VERSION"),
            offered,
        )
    }

    /// There is nothing to reach.
    async fn health(&self) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn import(
        &self,
        input: &mut dyn std::io::Read,
        limits: &ImportLimits,
    ) -> Result<ImportOutcome, ConnectorError> {
        loggvakt_connector::csv_form::import(input, limits)
    }
}
