//! The anomaly rules' vocabulary and settings: rule codes, flags, and what `[rules]` and the
//! organisation's lists configure. The rules themselves are in `crate::rules`.

use std::collections::BTreeSet;

use rustc_hash::FxHashSet;

use super::working_hours::WorkingHours;
use crate::ident::Personnummer;

crate::text_enum! {
    /// A rule's stable code: in the store, the JSON and `--disable` lists.
    pub enum Code {
        OffHours = "off_hours", SelfAccess = "self_access", SameSurname = "same_surname",
        Coworker = "coworker", ProtectedIdentity = "protected_identity",
        Watchlist = "watchlist", NoCareRelation = "no_care_relation",
        VolumeSpike = "volume_spike", ClockChange = "clock_change",
    }
}

impl Code {
    /// A short Swedish title, for lists and headings.
    pub fn label_sv(self) -> &'static str {
        match self {
            Code::OffHours => "Utanför arbetstid",
            Code::SelfAccess => "Egen journal",
            Code::SameSurname => "Samma efternamn",
            Code::Coworker => "Kollega",
            Code::ProtectedIdentity => "Skyddad identitet",
            Code::Watchlist => "Bevakningslista",
            // loggvakt cannot know a care relation, only that the care unit is not the user's.
            Code::NoCareRelation => "Annan enhet än användarens",
            Code::VolumeSpike => "Ovanligt många patienter",
            // Not a suspicion of the user: a time the extract cannot be taken at its word on.
            Code::ClockChange => "Tid vid klockomställning",
        }
    }

    /// The code's bit in a [`CodeSet`].
    pub fn bit(self) -> CodeSet {
        1 << (self as u16)
    }
}

/// Codes as bits (see [`Code::bit`]): what a row check returns before any reason is written.
pub type CodeSet = u16;

/// The codes of a set, in [`Code::ALL`] order.
pub fn codes_of(set: CodeSet) -> impl Iterator<Item = Code> {
    Code::ALL.into_iter().filter(move |c| set & c.bit() != 0)
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Flag {
    pub code: Code,
    /// Swedish; never a patient's personnummer or name.
    pub reason: String,
}

/// `volume_spike`: a user's distinct patients above `factor` × the median of the comparison
/// group, and at least `min_patients`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolumeSpikeSettings {
    pub factor: f64,
    pub min_patients: u32,
}

impl Default for VolumeSpikeSettings {
    fn default() -> Self {
        Self {
            factor: 3.0,
            min_patients: 15,
        }
    }
}

/// The rules' configuration (`[rules]`, the protected-identity and watch lists); working
/// hours of units and staff are on [`super::org::Unit`] and [`super::org::Staff`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RulesSettings {
    pub disabled: BTreeSet<Code>,
    /// For units and staff that have none of their own.
    pub working_hours: WorkingHours,
    pub volume_spike: VolumeSpikeSettings,
    /// Patients with protected identity (skyddad identitet), as [`pnr_key`]s.
    pub protected: FxHashSet<u64>,
    /// The units responsible for a protected patient, from the list's `unit` column: whose
    /// managers review that patient's scheduled check.
    pub protected_units: rustc_hash::FxHashMap<u64, Vec<String>>,
    /// People of media interest and others known locally, as [`pnr_key`]s.
    pub watchlist: FxHashSet<u64>,
}

/// A personnummer as an integer: twelve digits fit in 40 bits, and integer sets are what
/// a row-by-row check can afford.
pub fn pnr_key(p: &Personnummer) -> u64 {
    // An interim number's letter counts as 1 (as in its check digit) and is kept above the
    // twelve digits (10^12 < 2^40), so it never equals a real personnummer's key.
    let (mut number, mut letter) = (0u64, 0u64);
    for b in p.digits().bytes() {
        let digit = if b.is_ascii_digit() {
            b - b'0'
        } else {
            letter = u64::from(b);
            1
        };
        number = number * 10 + u64::from(digit);
    }
    number | (letter << 48)
}
