//! The example plugin, loaded from its shared library through `connector = "plugin:…"`:
//! orders go out as files, a dropped extract comes in at the next tick; a broken plugin is a
//! clear error at start.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{self, ConfigDir, EXTRACT_HEADER, TestDb, plugin_library, run_tick};

fn org_with_plugin(connector: &str, outbox: &str, inbox: &str) -> String {
    format!(
        r#"
[organisation]
name = "Pluginkommunen"
staff_csv = "staff.csv"

[[unit]]
id = "arkivet"
name = "Arkivet"
manager = {{ name = "Ada Arkiv", email = "ada@example.se" }}
escalate_to = {{ name = "Fc", email = "fc@example.se" }}

[[system]]
id = "arkiv"
connector = "{connector}"
settings = {{ outbox = "{outbox}", inbox = "{inbox}" }}

[[routine]]
id = "stickprov-arkiv"
kind = "stickprov"
system = "arkiv"
"#
    )
}

fn staff() -> String {
    let mut csv = String::from("id,name,unit,email,personnummer,arkiv\n");
    for i in 1..=20 {
        csv.push_str(&format!("s{i:03},Person {i},arkivet,,,fd{i:03}\n"));
    }
    csv
}

/// The plugin's organisation with its outbox and inbox folders, over a SQLite database.
struct PluginOrg {
    out: tempfile::TempDir,
    inbox: tempfile::TempDir,
    cfg: ConfigDir,
    db: TestDb,
}

impl PluginOrg {
    fn new() -> Self {
        let lib = plugin_library();
        let out = tempfile::tempdir().unwrap();
        let inbox = tempfile::tempdir().unwrap();
        let toml = org_with_plugin(
            &format!("plugin:{}", lib.display()),
            &out.path().display().to_string(),
            &inbox.path().display().to_string(),
        );
        let cfg = ConfigDir::new(&toml, Some(&staff()));
        let db = TestDb::sqlite();
        Self {
            out,
            inbox,
            cfg,
            db,
        }
    }

    fn tick(&self, now: &str) -> support::Run {
        run_tick(&self.cfg.arg(), &self.db, now)
    }

    /// The order files the plugin wrote.
    fn order_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.out.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    /// Drops the delivery of the order with `reference` into the inbox.
    fn deliver(&self, reference: &str, csv: String) {
        std::fs::write(self.inbox.path().join(format!("{reference}.csv")), csv).unwrap();
    }

    /// `order list --format json`, with its text.
    fn orders(&self) -> (Value, String) {
        let list = self.db.run(&["order", "list", "--format", "json"]);
        (serde_json::from_str(&list.stdout).unwrap(), list.stdout)
    }
}

#[test]
fn the_file_drop_plugin_orders_and_imports_end_to_end() {
    let p = PluginOrg::new();
    let tick = |now: &str| {
        let r = p.tick(now);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let out1 = tick("2027-05-07T08:00:00+02:00");
    assert!(out1.contains("1 created, 1 sent"), "{out1}");
    let files = p.order_files();
    assert_eq!(files.len(), 1, "one order file");
    let order: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let reference = order["reference"].as_str().unwrap();
    let users = order["subject"]["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "10 % of 20");

    // The administrator drops the extract: one access per ordered user in their period.
    let mut csv = format!("{EXTRACT_HEADER}\n");
    for u in users {
        let from = u["period"]["from"].as_str().unwrap();
        let day = &from[..10];
        csv.push_str(&format!(
            "{day}T09:15:00,arkiv,{},,191212121212,,,read,Läst,\n",
            u["username"].as_str().unwrap()
        ));
    }
    p.deliver(reference, csv);
    // Polled no more than every 15 minutes.
    let out2 = tick("2027-05-07T08:20:00+02:00");
    assert!(out2.contains("1 delivered"), "{out2}");
    let (orders, list) = p.orders();
    assert_eq!(orders[0]["state"], "imported", "{}", list);
    assert_eq!(p.db.run(&["audit", "verify"]).code, 0);
}

#[test]
fn a_missing_or_foreign_library_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // Not a plugin at all: this test binary's own directory holds no such library.
    let toml = org_with_plugin("plugin:/nonexistent/libnothing.so", &d, &d);
    let cfg = ConfigDir::new(&toml, Some(&staff()));
    let db = TestDb::sqlite();
    let r = run_tick(&cfg.arg(), &db, "2027-05-07T08:00:00+02:00");
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("plugin for system 'arkiv'")
            && r.stderr.contains("/nonexistent/libnothing.so"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert_eq!(db.run(&["order", "list"]).stdout.trim(), "0 orders");
}

#[test]
fn a_malformed_delivery_through_the_plugin_is_refused_with_its_line() {
    let p = PluginOrg::new();
    assert_eq!(p.tick("2027-05-07T08:00:00+02:00").code, 0);
    let file = p.order_files().remove(0);
    let order: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let reference = order["reference"].as_str().unwrap();
    let user = &order["subject"]["users"][0];
    let day = &user["period"]["from"].as_str().unwrap()[..10];
    // Line 2 is fine, line 3 has a bad timestamp.
    let csv = format!(
        "{EXTRACT_HEADER}\n\
         {day}T09:15:00,arkiv,{u},,191212121212,,,read,Läst,\n\
         {day}T25:15:00,arkiv,{u},,191212121212,,,read,Läst,\n",
        u = user["username"].as_str().unwrap()
    );
    p.deliver(reference, csv);
    assert_eq!(p.tick("2027-05-07T08:20:00+02:00").code, 0);
    let (orders, _) = p.orders();
    assert_eq!(
        orders[0]["state"], "awaiting_delivery",
        "the order keeps its state"
    );
    let error = orders[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains("refused") && error.contains("line 3"),
        "{error}"
    );
}
