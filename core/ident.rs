//! Identifiers that must never be confused with free text: ids of configured things, and
//! personal identity numbers, which are personal data and must not leak into logs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("is empty")]
    Empty,
    #[error("'{0}' may only contain ASCII letters, digits, '-', '_' and '.'")]
    BadCharacters(String),
    #[error("is not a valid personnummer (expected YYYYMMDD-NNNN with a correct check digit)")]
    InvalidPersonnummer,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(raw: &str) -> Result<Self, IdentError> {
                validate_id(raw).map(|()| Self(raw.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdentError;
            fn try_from(raw: String) -> Result<Self, IdentError> {
                validate_id(&raw).map(|()| Self(raw))
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
        // Ids are compared with the text of forms, rows and configuration.
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A unit (enhet) of the organisation, stable across configuration changes.
    UnitId
);
id_type!(
    /// A member of staff; stable so that draws stay verifiable after renames.
    StaffId
);
id_type!(
    /// A care system (Cosmic, Treserva, …) as configured.
    SystemId
);
id_type!(
    /// A routine: what is checked, where and how often.
    RoutineId
);

/// Ids end up in URLs, file names and audit records, so keep them to a safe alphabet.
fn validate_id(raw: &str) -> Result<(), IdentError> {
    if raw.is_empty() {
        return Err(IdentError::Empty);
    }
    let ok = raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(IdentError::BadCharacters(raw.to_owned()))
    }
}

/// The personnummer type lives in the connector SDK, because connectors produce it too.
pub use loggvakt_connector::{InvalidPersonnummer, Personnummer};

impl From<InvalidPersonnummer> for IdentError {
    fn from(_: InvalidPersonnummer) -> Self {
        IdentError::InvalidPersonnummer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_to_a_safe_alphabet() {
        assert!(UnitId::new("hemtjanst-norr").is_ok());
        assert!(UnitId::new("Hemtjänst").is_err());
        assert!(UnitId::new("hem tjanst").is_err());
        assert!(UnitId::new("").is_err());
        assert!(StaffId::new("s0001").is_ok());
    }
}
