//! The personnummer project's shared test data (`personnummer-meta/`, see its README), read
//! by the connector SDK's tests and by the application's (through `#[path]`), so that both
//! take the same cases in the same written forms.

use std::path::Path;

use serde_json::Value;

/// The written forms every case gives, by the data's own keys.
pub const FORMS: [&str; 4] = [
    "long_format",
    "separated_long",
    "separated_format",
    "short_format",
];

/// Every case of both files; `data` is the folder this file is in.
pub fn cases(data: &Path) -> Vec<Value> {
    ["list.json", "interim.json"]
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(data.join("personnummer-meta").join(f)).unwrap();
            serde_json::from_str::<Vec<Value>>(&text).unwrap()
        })
        .collect()
}
