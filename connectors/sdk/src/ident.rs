//! Personal identity numbers, which are personal data and must not leak into logs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a personnummer was refused. Deliberately carries no copy of the input, so that the
/// error can be logged or shown without leaking the number that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a valid personnummer (expected YYYYMMDD-NNNN with a correct check digit)")]
pub struct InvalidPersonnummer;

/// A Swedish personnummer or samordningsnummer, 12 digits, check digit verified.
///
/// `Debug` masks the last four digits so that a stray `{:?}` in a log line does not leak it;
/// the full number is only available through [`Personnummer::digits`]. There is no `Display`
/// on purpose: printing the number has to be a visible decision at the call site.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Personnummer(String);

impl Personnummer {
    /// Accepts `YYYYMMDDNNNN` or `YYYYMMDD-NNNN`; the 10-digit forms are refused because
    /// their century is ambiguous.
    pub fn parse(raw: &str) -> Result<Self, InvalidPersonnummer> {
        let raw = raw.trim();
        let digits: String = match raw.as_bytes() {
            [head @ .., b'-', _, _, _, _] if head.len() == 8 => raw.replace('-', ""),
            _ => raw.to_owned(),
        };
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidPersonnummer);
        }
        // The crate checks the date (with the samordningsnummer day offset); the check digit
        // is ours, because the crate computes it over the real day of birth, which is wrong
        // for samordningsnummer (the Luhn sum covers the digits as written).
        let date_ok = personnummer::Personnummer::parse(&digits).is_ok();
        if date_ok && luhn_ok(&digits.as_bytes()[2..]) {
            Ok(Self(digits))
        } else {
            Err(InvalidPersonnummer)
        }
    }

    /// Completes `YYYYMMDDNNN` with its check digit. For made-up numbers (tests, the
    /// simulator), which have to pass the same checks as real ones.
    pub fn with_check_digit(first_eleven: &str) -> Result<Self, InvalidPersonnummer> {
        let digits = first_eleven.as_bytes();
        if digits.len() != 11 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(InvalidPersonnummer);
        }
        Self::parse(&format!(
            "{first_eleven}{}",
            Self::check_digit(&digits[2..])
        ))
    }

    /// The check digit of `YYMMDDNNN` (nine ASCII digits): weights 2,1,2,… on the digits,
    /// each product's digits summed; the check digit makes the total a multiple of ten. For
    /// made-up numbers in bulk, where [`Personnummer::with_check_digit`]'s date check costs
    /// too much.
    pub fn check_digit(nine: &[u8]) -> u32 {
        let sum: u32 = nine
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
                d / 10 + d % 10
            })
            .sum();
        (10 - sum % 10) % 10
    }

    /// The 12 digits, for storage and for the people entitled to see them.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// Samordningsnummer have 60 added to the day of birth.
    pub fn is_coordination_number(&self) -> bool {
        self.0[6..8].parse::<u32>().is_ok_and(|day| day > 60)
    }
}

/// Luhn over YYMMDDNNNC: the tenth digit is the check digit of the first nine.
fn luhn_ok(ten: &[u8]) -> bool {
    Personnummer::check_digit(&ten[..9]) == u32::from(ten[9] - b'0')
}

impl TryFrom<String> for Personnummer {
    type Error = InvalidPersonnummer;
    fn try_from(raw: String) -> Result<Self, InvalidPersonnummer> {
        Self::parse(&raw)
    }
}

impl From<Personnummer> for String {
    fn from(p: Personnummer) -> String {
        p.0
    }
}

impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Personnummer({}-****)", &self.0[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_test_numbers_with_and_without_dash() {
        let a = Personnummer::parse("19121212-1212").unwrap();
        let b = Personnummer::parse("191212121212").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digits(), "191212121212");
        assert!(!a.is_coordination_number());
    }

    #[test]
    fn refuses_bad_check_digit_date_and_short_forms() {
        for bad in [
            "19121212-1213",
            "19121312-1212",
            "121212-1212",
            "1212121212",
            "19121212+1212",
            "abc",
            "",
        ] {
            assert_eq!(Personnummer::parse(bad), Err(InvalidPersonnummer), "{bad}");
        }
    }

    #[test]
    fn coordination_numbers_are_accepted() {
        // Day 72 = 12 + 60; the check digit is computed over the digits as written.
        let p = Personnummer::parse("19121272-1219");
        assert!(p.is_ok(), "{p:?}");
        assert!(p.unwrap().is_coordination_number());
        assert!(Personnummer::parse("19121272-1212").is_err());
    }

    #[test]
    fn the_check_digit_is_computed_for_made_up_numbers() {
        assert_eq!(
            Personnummer::with_check_digit("19121212121"),
            Personnummer::parse("19121212-1212")
        );
        assert_eq!(
            Personnummer::with_check_digit("19121272121")
                .unwrap()
                .digits(),
            "191212721219"
        );
        for bad in ["19121312121", "1912121212", "191212121212", "19121212-12"] {
            assert_eq!(
                Personnummer::with_check_digit(bad),
                Err(InvalidPersonnummer),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_last_four_digits() {
        let p = Personnummer::parse("19121212-1212").unwrap();
        assert_eq!(format!("{p:?}"), "Personnummer(19121212-****)");
    }

    #[test]
    fn serde_is_the_twelve_digit_string_and_refuses_bad_numbers_without_echoing_them() {
        let p = Personnummer::parse("19121212-1212").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""191212121212""#);
        let back: Personnummer = serde_json::from_str(r#""19121212-1212""#).unwrap();
        assert_eq!(back, p);
        let err = serde_json::from_str::<Personnummer>(r#""191212121213""#).unwrap_err();
        assert!(!err.to_string().contains("1212"), "{err}");
    }
}
