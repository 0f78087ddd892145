//! The plugin ABI's JSON Schemas: made from the SDK's types, checked in under
//! `connectors/sdk/schema/`, and every JSON example of the plugin guide valid against them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use loggvakt_connector::plugin::{CreateInput, ImportInput, PollInput};
use loggvakt_connector::{
    AccessEvent, ConnectorError, FetchQuery, ImportLimits, ImportOutcome, Manifest, OrderReceipt,
    OrderRequest, PollOutcome, WriteBack,
};
use serde_json::Value;

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/sdk/schema")
}

/// Every message's schema, by the name the guide uses.
fn generated() -> Vec<(&'static str, Value)> {
    fn of<T: schemars::JsonSchema>() -> Value {
        serde_json::to_value(schemars::schema_for!(T)).unwrap()
    }
    vec![
        ("CreateInput", of::<CreateInput>()),
        ("Manifest", of::<Manifest>()),
        ("OrderRequest", of::<OrderRequest>()),
        ("OrderReceipt", of::<OrderReceipt>()),
        ("PollInput", of::<PollInput>()),
        ("PollOutcome", of::<PollOutcome>()),
        ("FetchQuery", of::<FetchQuery>()),
        ("AccessEvents", of::<Vec<AccessEvent>>()),
        ("ImportInput", of::<ImportInput>()),
        ("ImportLimits", of::<ImportLimits>()),
        ("ImportOutcome", of::<ImportOutcome>()),
        ("WriteBack", of::<WriteBack>()),
        ("ConnectorError", of::<ConnectorError>()),
    ]
}

#[test]
fn the_checked_in_schemas_are_the_ones_the_types_make() {
    let update = std::env::var_os("LOGGVAKT_UPDATE_SCHEMAS").is_some();
    for (name, schema) in generated() {
        let path = folder().join(format!("{name}.json"));
        let text = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
        if update {
            std::fs::create_dir_all(folder()).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with LOGGVAKT_UPDATE_SCHEMAS=1)",
                path.display()
            )
        });
        assert_eq!(
            checked_in, text,
            "{name}.json differs from the SDK's types; run this test with LOGGVAKT_UPDATE_SCHEMAS=1"
        );
    }
}

/// The guide's ```json schema=NAME blocks: (name, JSON, line).
fn examples() -> Vec<(String, String, usize)> {
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/sdk/README.md"),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut open: Option<(String, String, usize)> = None;
    for (n, line) in guide.lines().enumerate() {
        match (&mut open, line.strip_prefix("```json schema=")) {
            (None, Some(name)) => open = Some((name.trim().to_owned(), String::new(), n + 1)),
            (Some(_), _) if line.trim() == "```" => out.push(open.take().unwrap()),
            (Some((_, text, _)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

#[test]
fn every_message_in_the_plugin_guide_is_valid_against_its_schema() {
    let examples = examples();
    let mut shown = BTreeSet::new();
    for (name, text, line) in &examples {
        let path = folder().join(format!("{name}.json"));
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap();
        let example: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("README.md line {line}: not JSON: {e}"));
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&example)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "README.md line {line}: the {name} example is not valid: {errors:?}"
        );
        shown.insert(name.clone());
    }
    let every: BTreeSet<String> = generated().iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(shown, every, "every message has an example in the guide");
}

#[test]
fn a_message_that_breaks_a_rule_is_caught_by_its_schema() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(folder().join("PollOutcome.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(!validator.is_valid(&serde_json::json!("delivered")));
    assert!(!validator.is_valid(&serde_json::json!({"delivered": {"file_name": null}})));
}
