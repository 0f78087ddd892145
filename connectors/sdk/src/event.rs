//! The normalised access event every connector produces, whatever the source system calls it.

use std::fmt;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::Personnummer;

/// What the user did with the record, mapped from the source's own wording (which is kept in
/// [`AccessEvent::event_text`], so the mapping never loses information).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Write,
    Create,
    Sign,
    Print,
    Delete,
    /// Nödöppning / spärrad information opened in an emergency; always worth a look.
    EmergencyOpen,
    /// The source's wording maps to none of the above.
    Other,
}

impl Action {
    /// Every action, in a stable order, for help texts and exhaustive tests.
    pub const ALL: [Action; 8] = [
        Action::Read,
        Action::Write,
        Action::Create,
        Action::Sign,
        Action::Print,
        Action::Delete,
        Action::EmergencyOpen,
        Action::Other,
    ];

    /// The snake_case name used in the CSV form, JSON and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Create => "create",
            Action::Sign => "sign",
            Action::Print => "print",
            Action::Delete => "delete",
            Action::EmergencyOpen => "emergency_open",
            Action::Other => "other",
        }
    }

    /// The inverse of [`Action::as_str`]; exact match only, because a lenient parser here
    /// would hide a connector that maps wrongly.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One access to one patient's record by one user, close to Inera's ehr:log `LogType`.
///
/// `Debug` hides the patient's identity and the raw row, because events end up in `{:?}`
/// of test failures and tracing fields, and personal data must not reach logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AccessEvent {
    /// Local wall time in Europe/Stockholm, as the source systems and reviewers read it.
    pub time: NaiveDateTime,
    /// The configured system id the event came from.
    pub system: String,
    /// The user's login name in that system (e.g. `C821234`).
    pub user_id: String,
    pub user_name: Option<String>,
    pub patient_id: Personnummer,
    pub patient_name: Option<String>,
    pub care_unit: Option<String>,
    pub action: Action,
    /// The source's own wording (e.g. `Hjälper mottagare`), shown to the reviewer as is.
    pub event_text: String,
    /// The part of the source system used (Treserva's module, Sesam's application, …).
    pub system_part: Option<String>,
    /// The source row as text, kept in the store as evidence; not part of the CSV form.
    pub raw: Option<String>,
    /// The source system marks the patient as having a protected identity (skyddad
    /// identitet); the `protected_identity` rule flags such events whatever the local list says.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected_identity: bool,
    /// The source's own reference of what was looked at, shown to the reviewer as is
    /// (Sesam 2's *Referensnummer*: the matter or order the user had open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
}

impl AccessEvent {
    /// An event with what every source gives: who did what to whose record, and when. What
    /// only some sources give (names, unit, system part, raw row, markings) is left empty,
    /// for the caller to set.
    pub fn new(
        system: &str,
        user_id: &str,
        time: NaiveDateTime,
        patient_id: Personnummer,
        action: Action,
        event_text: &str,
    ) -> Self {
        Self {
            time,
            system: system.into(),
            user_id: user_id.into(),
            user_name: None,
            patient_id,
            patient_name: None,
            care_unit: None,
            action,
            event_text: event_text.into(),
            system_part: None,
            raw: None,
            protected_identity: false,
            reference_number: None,
        }
    }
}

impl fmt::Debug for AccessEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| Hidden);
        f.debug_struct("AccessEvent")
            .field("time", &self.time)
            .field("system", &self.system)
            .field("user_id", &self.user_id)
            .field("user_name", &self.user_name)
            .field("patient_id", &Hidden)
            .field("patient_name", &hidden(&self.patient_name))
            .field("care_unit", &self.care_unit)
            .field("action", &self.action)
            .field("event_text", &self.event_text)
            .field("system_part", &self.system_part)
            .field("raw", &hidden(&self.raw))
            .field("protected_identity", &self.protected_identity)
            .field("reference_number", &self.reference_number)
            .finish()
    }
}

struct Hidden;

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AccessEvent {
        AccessEvent {
            time: "2023-10-13T08:24:56".parse().unwrap(),
            system: "sesam2".into(),
            user_id: "189986".into(),
            user_name: Some("Berit Bengtsson".into()),
            patient_id: Personnummer::parse("19121212-1212").unwrap(),
            patient_name: Some("Tolvan Tolvansson".into()),
            care_unit: Some("Hjälpmedel Syd".into()),
            action: Action::Read,
            event_text: "Hjälper mottagare".into(),
            system_part: Some("Sesam".into()),
            raw: Some("189986 | 2023-10-13 08:24:56 | Hjälper mottagare | 191212121212".into()),
            protected_identity: false,
            reference_number: None,
        }
    }

    #[test]
    fn action_names_round_trip_and_match_serde() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
        }
        assert_eq!(Action::parse("Read"), None);
        assert_eq!(Action::parse("emergency-open"), None);
    }

    #[test]
    fn debug_hides_patient_identity_and_raw_row() {
        let shown = format!("{:?}", event());
        for secret in ["19121212", "1212", "Tolvan", "Tolvansson", "191212121212"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(shown.contains("189986"), "{shown}");
        assert!(shown.contains("Hjälper mottagare"), "{shown}");
        let pretty = format!("{:#?}", event());
        assert!(!pretty.contains("Tolvan"), "{pretty}");
    }

    #[test]
    fn serde_json_round_trip() {
        let e = event();
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""action":"read""#), "{json}");
        assert!(json.contains(r#""time":"2023-10-13T08:24:56""#), "{json}");
        let back: AccessEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        // The reference number is an addition: absent, it is left out of the JSON.
        assert!(!json.contains("reference_number"), "{json}");
        let with = AccessEvent {
            reference_number: Some("HM-2023-00417".into()),
            ..e
        };
        let json = serde_json::to_string(&with).unwrap();
        assert!(
            json.contains(r#""reference_number":"HM-2023-00417""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<AccessEvent>(&json).unwrap(), with);
    }
}
