//! Running the organisation against the simulated care systems: the simulator is fed the
//! configured staff, and each system's settings are pointed at the simulator's addresses.
//! Used by `loggvakt simulate` (fixed ports, for a manual trial) and `loggvakt demo`.

use std::time::Duration;

use loggvakt_simulator::{Ports, SimConfig, SimStaff, Simulator};

use crate::model::org::Organisation;

/// The simulator's tokens; the example configuration uses the same.
const SESAM2_TOKEN: &str = "exempel-token-sesam2";
const LIFECARE_TOKEN: &str = "exempel-token-lifecare";

/// Everyone with an account, as the simulator's log generator sees them. Units whose id
/// says they work nights get night shifts.
pub fn sim_config(org: &Organisation, seed: u64) -> SimConfig {
    let staff = org
        .staff
        .iter()
        .filter(|s| s.active)
        .flat_map(|s| {
            s.usernames.iter().map(move |(system, username)| SimStaff {
                system: system.to_string(),
                username: username.clone(),
                name: s.name.clone(),
                unit: s.unit.to_string(),
                personnummer: s.personnummer.clone(),
                night: s.unit.as_str().contains("natt"),
            })
        })
        .collect();
    SimConfig {
        seed,
        staff,
        sesam2_token: SESAM2_TOKEN.to_owned(),
        lifecare_token: LIFECARE_TOKEN.to_owned(),
        delivery_delay: Duration::ZERO,
        ..SimConfig::default()
    }
}

/// Starts the simulator for `org` on `ports`.
pub async fn start(org: &Organisation, seed: u64, ports: Ports) -> std::io::Result<Simulator> {
    let mut config = sim_config(org, seed);
    // Each system keeps its own token setting; the simulator is told the configured ones.
    for system in &org.systems {
        let token = system.settings.get("token").and_then(toml::Value::as_str);
        match (system.connector_name(), token) {
            ("sesam2", Some(t)) => config.sesam2_token = t.to_owned(),
            ("lifecare", Some(t)) => config.lifecare_token = t.to_owned(),
            _ => {}
        }
    }
    Simulator::start(config, ports).await
}

/// Points every built-in system of `org` at the running simulator.
pub fn point_at(org: &mut Organisation, sim: &Simulator) {
    for system in &mut org.systems {
        let connector = system.connector_name().to_owned();
        let settings = &mut system.settings;
        match connector.as_str() {
            "cosmic" => {
                settings.insert("smtp_host".into(), "127.0.0.1".into());
                settings.insert("smtp_port".into(), i64::from(sim.smtp_addr().port()).into());
                settings.insert("smtp_tls".into(), "none".into());
            }
            "treserva" => {
                settings.insert("portal_url".into(), sim.treserva_url().into());
            }
            "sesam2" => {
                settings.insert("base_url".into(), sim.sesam2_url().into());
            }
            "lifecare" => {
                settings.insert("base_url".into(), sim.lifecare_url().into());
            }
            _ => {}
        }
    }
}
