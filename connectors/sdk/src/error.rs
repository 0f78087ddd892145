//! The one error type of connectors. It crosses the plugin ABI as JSON, so it is plain data:
//! a kind the caller acts on (retry or not) and a message for people.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the caller should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Timeouts, 5xx, connection refused: the same call later may well succeed.
    Retryable,
    /// 4xx, refused by the peer: repeating the same call will fail the same way.
    Permanent,
    /// The peer's answer or a delivered file cannot be parsed.
    Malformed,
    /// The connector does not offer this capability.
    Unsupported,
    /// The connector's settings are wrong; an administrator has to act.
    Config,
    /// The call was cut off after the peer may already have taken it (a mail server that did
    /// not answer after the message was sent): another try may duplicate it, so a person
    /// must check with the peer first.
    InDoubt,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "config",
            ErrorKind::InDoubt => "in_doubt",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connector's failure. The message ends up in logs and the audit trail, so connectors must
/// never put a personnummer or a patient's name into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[error("{kind}: {message}")]
pub struct ConnectorError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ConnectorError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Retryable, message)
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub fn in_doubt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InDoubt, message)
    }

    /// For the default bodies of [`crate::Connector`]; `capability` is the method's name.
    pub fn unsupported(capability: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            format!("this connector does not offer {capability}"),
        )
    }

    /// Whether trying the same call again later can help; drives the order backoff.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Retryable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retryable_errors_are_retryable() {
        assert!(ConnectorError::retryable("timeout").is_retryable());
        for e in [
            ConnectorError::permanent("403"),
            ConnectorError::malformed("bad xml"),
            ConnectorError::unsupported("order"),
            ConnectorError::config("no url"),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
    }

    #[test]
    fn display_and_json_form() {
        let e = ConnectorError::unsupported("write_back");
        assert_eq!(
            e.to_string(),
            "unsupported: this connector does not offer write_back"
        );
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"unsupported","message":"this connector does not offer write_back"}"#
        );
        assert_eq!(serde_json::from_str::<ConnectorError>(&json).unwrap(), e);
    }
}
