//! Reading a system's settings table into a connector's own settings type.

use serde::de::DeserializeOwned;

use crate::ConnectorError;

/// Deserialises a system's `settings` table; an error is a `Config` error that names the
/// setting at fault, because the administrator has to find it in the configuration.
pub(crate) fn parse<T: DeserializeOwned>(
    system_id: &str,
    settings: &serde_json::Value,
) -> Result<T, ConnectorError> {
    // A system configured without a settings table gets every default and is told what it lacks.
    let empty = serde_json::Value::Object(serde_json::Map::new());
    let value = if settings.is_null() { &empty } else { settings };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            // serde's own message names the field: "missing field `order_to`".
            ConnectorError::config(format!("system {system_id}: settings: {}", e.inner()))
        } else {
            ConnectorError::config(format!(
                "system {system_id}: setting `{path}`: {}",
                e.inner()
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct S {
        url: String,
        #[serde(default)]
        port: u16,
    }

    #[test]
    fn settings_errors_name_the_setting() {
        let e = parse::<S>("sys", &serde_json::json!({})).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Config);
        assert!(e.message.contains("`url`"), "{e}");
        let e = parse::<S>("sys", &serde_json::json!({"url": "u", "port": "x"})).unwrap_err();
        assert!(e.message.contains("`port`"), "{e}");
        let e = parse::<S>("sys", &serde_json::json!({"url": "u", "prot": 1})).unwrap_err();
        assert!(e.message.contains("`prot`"), "{e}");
        let e = parse::<S>("sys", &serde_json::Value::Null).unwrap_err();
        assert!(e.message.contains("`url`"), "{e}");
    }
}
