//! One way to turn a closed set of states or kinds into text and back: the stored column,
//! the JSON field, the CLI argument and the audit record all use the same snake_case word.

use chrono::NaiveDateTime;
use loggvakt_connector::{Action, Personnummer};

use crate::calendar::Month;
use crate::ident::{RoutineId, StaffId, SystemId, UnitId};

/// A domain value with one text form, read back from a stored column or a form field.
pub trait TextForm: Sized {
    fn from_text(raw: &str) -> Option<Self>;
}

macro_rules! text_form_by {
    ($($ty:ty => $parse:expr),+ $(,)?) => {
        $(impl TextForm for $ty {
            fn from_text(raw: &str) -> Option<Self> {
                ($parse)(raw)
            }
        })+
    };
}

text_form_by! {
    UnitId => |raw| UnitId::new(raw).ok(),
    SystemId => |raw| SystemId::new(raw).ok(),
    StaffId => |raw| StaffId::new(raw).ok(),
    RoutineId => |raw| RoutineId::new(raw).ok(),
    Month => |raw: &str| raw.parse().ok(),
    Personnummer => |raw| Personnummer::parse(raw).ok(),
    // The source's own wording is kept in `event_text`; an unknown action reads as other.
    Action => |raw| Some(Action::parse(raw).unwrap_or(Action::Other)),
    NaiveDateTime => |raw| NaiveDateTime::parse_from_str(raw, LOCAL_TIME).ok(),
}

/// How a local wall-clock time is stored and shown: `2027-05-04T23:30:00`.
pub const LOCAL_TIME: &str = "%Y-%m-%dT%H:%M:%S";

/// Declares an enum whose variants each have one fixed text form, and gives it `ALL`,
/// `as_str`, `parse`, `Display` and serde (as that text).
///
/// ```
/// loggvakt::text_enum! {
///     /// Where a thing stands.
///     pub enum Light { Red = "red", Green = "green" }
/// }
/// assert_eq!(Light::parse("green"), Some(Light::Green));
/// assert_eq!(Light::Red.to_string(), "red");
/// ```
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [Self; [$(stringify!($variant)),+].len()] = [$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl $crate::model::text::TextForm for $name {
            fn from_text(raw: &str) -> Option<Self> {
                Self::parse(raw)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&raw).ok_or_else(|| {
                    ::serde::de::Error::unknown_variant(&raw, &[$($text),+])
                })
            }
        }
    };
}
