//! The example plugin, loaded from its shared library through `connector = "plugin:…"`:
//! orders go out as files, a dropped extract comes in at the next tick; a broken plugin is a
//! clear error at start.

use std::path::PathBuf;

use crate::support::{ConfigDir, TestDb, plugin_library, run};
use serde_json::Value;

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

#[test]
fn the_file_drop_plugin_orders_and_imports_end_to_end() {
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
    let tick = |now: &str| {
        let r = run(&[
            "--config",
            &cfg.arg(),
            "--db",
            &db.url,
            "--now",
            now,
            "tick",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let out1 = tick("2027-05-07T08:00:00+02:00");
    assert!(out1.contains("1 created, 1 sent"), "{out1}");
    let files: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "one order file");
    let order: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let reference = order["reference"].as_str().unwrap();
    let users = order["subject"]["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "10 % of 20");

    // The administrator drops the extract: one access per ordered user in their period.
    let mut csv = String::from(
        "time,system,user_id,user_name,patient_id,patient_name,care_unit,action,event_text,system_part\n",
    );
    for u in users {
        let from = u["period"]["from"].as_str().unwrap();
        let day = &from[..10];
        csv.push_str(&format!(
            "{day}T09:15:00,arkiv,{},,191212121212,,,read,Läst,\n",
            u["username"].as_str().unwrap()
        ));
    }
    std::fs::write(inbox.path().join(format!("{reference}.csv")), csv).unwrap();
    // Polled no more than every 15 minutes.
    let out2 = tick("2027-05-07T08:20:00+02:00");
    assert!(out2.contains("1 delivered"), "{out2}");
    let list = run(&["--db", &db.url, "order", "list", "--format", "json"]);
    let orders: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(orders[0]["state"], "imported", "{}", list.stdout);
    assert_eq!(run(&["--db", &db.url, "audit", "verify"]).code, 0);
}

#[test]
fn a_missing_or_foreign_library_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // Not a plugin at all: this test binary's own directory holds no such library.
    let toml = org_with_plugin("plugin:/nonexistent/libnothing.so", &d, &d);
    let cfg = ConfigDir::new(&toml, Some(&staff()));
    let db = TestDb::sqlite();
    let r = run(&[
        "--config",
        &cfg.arg(),
        "--db",
        &db.url,
        "--now",
        "2027-05-07T08:00:00+02:00",
        "tick",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("plugin for system 'arkiv'")
            && r.stderr.contains("/nonexistent/libnothing.so"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert_eq!(
        run(&["--db", &db.url, "order", "list"]).stdout.trim(),
        "0 orders"
    );
}

#[test]
fn a_malformed_delivery_through_the_plugin_is_refused_with_its_line() {
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
    let tick = |now: &str| {
        run(&[
            "--config",
            &cfg.arg(),
            "--db",
            &db.url,
            "--now",
            now,
            "tick",
        ])
    };
    assert_eq!(tick("2027-05-07T08:00:00+02:00").code, 0);
    let file = std::fs::read_dir(out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let order: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let reference = order["reference"].as_str().unwrap();
    let user = &order["subject"]["users"][0];
    let day = &user["period"]["from"].as_str().unwrap()[..10];
    // Line 2 is fine, line 3 has a bad timestamp.
    let csv = format!(
        "time,system,user_id,user_name,patient_id,patient_name,care_unit,action,event_text,system_part\n\
         {day}T09:15:00,arkiv,{u},,191212121212,,,read,Läst,\n\
         {day}T25:15:00,arkiv,{u},,191212121212,,,read,Läst,\n",
        u = user["username"].as_str().unwrap()
    );
    std::fs::write(inbox.path().join(format!("{reference}.csv")), csv).unwrap();
    assert_eq!(tick("2027-05-07T08:20:00+02:00").code, 0);
    let list = run(&["--db", &db.url, "order", "list", "--format", "json"]);
    let orders: Value = serde_json::from_str(&list.stdout).unwrap();
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
