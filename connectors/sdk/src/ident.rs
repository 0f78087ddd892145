//! Personal identity numbers, which are personal data and must not leak into logs.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Why a personnummer was refused. Deliberately carries no copy of the input, so that the
/// error can be logged or shown without leaking the number that was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "is not a valid personnummer (expected YYYYMMDD-NNNN, YYMMDD-NNNN, YYMMDD+NNNN or an interim number like YYYYMMDD-TNNN, with a correct check digit)"
)]
pub struct InvalidPersonnummer;

/// Which kind of identity number a [`Personnummer`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Personnummer,
    /// Samordningsnummer: 60 added to the day of birth.
    Samordningsnummer,
    /// An interim (reserve) number for a patient without a personnummer: a letter in the
    /// first position of the birth number, e.g. `20000101-T220`. Nothing else in the
    /// population has it, so rules that compare personnummer never match it.
    Interim,
}

/// The letters an interim number may carry (Skatteverket's and the regions' series).
const INTERIM_LETTERS: &[u8] = b"TRSUWXJKLMN";

/// A Swedish personnummer, samordningsnummer or interim number, stored in its 12-character
/// long form (`YYYYMMDDNNNC`; an interim number keeps its letter), check digit verified.
///
/// `Debug` masks the last four characters so that a stray `{:?}` in a log line does not leak
/// it; the full number is only available through [`Personnummer::digits`]. There is no
/// `Display` on purpose: printing the number has to be a visible decision at the call site.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Personnummer(String);

/// In JSON a personnummer (or samordningsnummer) is a string in any of the forms
/// [`Personnummer::parse`] accepts; its check digit is checked on arrival.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Personnummer {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Personnummer".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]{2})?[0-9]{6}[-+]?[0-9]{4}$",
            "description": "YYYYMMDDNNNN, YYYYMMDD-NNNN, YYMMDD-NNNN or YYMMDD+NNNN; the check digit must be right"
        })
    }
}

impl Personnummer {
    /// Accepts every form people and systems write: `YYYYMMDDNNNN`, `YYYYMMDD-NNNN`,
    /// `YYYYMMDD+NNNN`, and the ten-digit `YYMMDD-NNNN`, `YYMMDDNNNN` and `YYMMDD+NNNN`
    /// (`+`: a hundred years or older), whose century is the one that puts the birth day in
    /// the last hundred years (before that with `+`) as of today.
    pub fn parse(raw: &str) -> Result<Self, InvalidPersonnummer> {
        // Through `SystemTime`: chrono's `clock` feature would add a dependency to every plugin.
        let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
        Self::parse_on(raw, now.date_naive())
    }

    /// [`Personnummer::parse`] with the day that the ten-digit forms' century is read on.
    pub fn parse_on(raw: &str, today: NaiveDate) -> Result<Self, InvalidPersonnummer> {
        let b = raw.trim().as_bytes();
        let sep = |c: u8| c == b'-' || c == b'+';
        // (century digits if written, YYMMDD, separator, the four-character serial)
        let (century, date, plus, serial) = match b.len() {
            12 => (Some(&b[..2]), &b[2..8], false, &b[8..]),
            13 if sep(b[8]) => (Some(&b[..2]), &b[2..8], b[8] == b'+', &b[9..]),
            10 => (None, &b[..6], false, &b[6..]),
            11 if sep(b[6]) => (None, &b[..6], b[6] == b'+', &b[7..]),
            _ => return Err(InvalidPersonnummer),
        };
        let digits = |x: &[u8]| x.iter().all(u8::is_ascii_digit);
        let interim = INTERIM_LETTERS.contains(&serial[0]);
        if !digits(date)
            || !digits(&serial[1..])
            || !(interim || digits(&serial[..1]))
            || (!interim && &serial[..3] == b"000")
        {
            return Err(InvalidPersonnummer);
        }
        let number = |x: &[u8]| x.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
        let (yy, month, day) = (number(&date[..2]), number(&date[2..4]), number(&date[4..]));
        let birth_day = if day > 60 && !interim { day - 60 } else { day };
        let year = match century {
            Some(c) if digits(c) => number(c) * 100 + yy,
            Some(_) => return Err(InvalidPersonnummer),
            None => century_of(yy, month, birth_day, plus, today).ok_or(InvalidPersonnummer)?,
        };
        NaiveDate::from_ymd_opt(year as i32, month, birth_day).ok_or(InvalidPersonnummer)?;
        // The check digit covers YYMMDD and the serial as written, a letter counting as 1.
        let mut ten = [0u8; 10];
        ten[..6].copy_from_slice(date);
        ten[6..].copy_from_slice(serial);
        if interim {
            ten[6] = b'1';
        }
        if !luhn_ok(&ten) {
            return Err(InvalidPersonnummer);
        }
        // Every byte was checked to be an ASCII digit or letter above.
        let text = |x: &[u8]| String::from_utf8_lossy(x).into_owned();
        Ok(Self(format!(
            "{year:04}{}{}",
            text(&date[2..]),
            text(serial)
        )))
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

    /// The 12-character long form, for storage and for the people entitled to see it.
    pub fn digits(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> IdKind {
        let b = self.0.as_bytes();
        if b[8].is_ascii_alphabetic() {
            IdKind::Interim
        } else if b[6] >= b'6' {
            IdKind::Samordningsnummer
        } else {
            IdKind::Personnummer
        }
    }

    /// Samordningsnummer have 60 added to the day of birth.
    pub fn is_coordination_number(&self) -> bool {
        self.kind() == IdKind::Samordningsnummer
    }
}

/// The year of a ten-digit number's birth day: the latest one not after `today`, or, with
/// `+`, the one a hundred years before that.
fn century_of(yy: u32, month: u32, day: u32, plus: bool, today: NaiveDate) -> Option<u32> {
    let this_year = u32::try_from(today.year()).ok()?;
    let mut year = this_year - this_year % 100 + yy;
    if (year, month, day) > (this_year, today.month(), today.day()) {
        year = year.checked_sub(100)?;
    }
    if plus {
        year = year.checked_sub(100)?;
    }
    Some(year)
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
    fn refuses_bad_check_digit_date_birth_number_and_shapes() {
        for bad in [
            "19121212-1213",
            "19121312-1212",
            "19121212 1212",
            "201509160006",
            "20000101-E221",
            "abc",
            "",
        ] {
            assert_eq!(Personnummer::parse(bad), Err(InvalidPersonnummer), "{bad}");
        }
    }

    #[test]
    fn ten_digit_forms_take_the_century_that_fits_their_separator() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        for (written, long) in [
            ("121212-1212", "201212121212"),
            ("1212121212", "201212121212"),
            ("121212+1212", "191212121212"),
            ("19121212+1212", "191212121212"),
            // Born later in the year than today: last century.
            ("261231-1239", "192612311239"),
        ] {
            let p = Personnummer::parse_on(written, today);
            assert_eq!(
                p.map(|p| p.digits().to_owned()),
                Ok(long.into()),
                "{written}"
            );
        }
    }

    #[test]
    fn interim_numbers_are_their_own_kind() {
        let p = Personnummer::parse("20000101-T220").unwrap();
        assert_eq!(p.digits(), "20000101T220");
        assert_eq!(p.kind(), IdKind::Interim);
        assert_eq!(format!("{p:?}"), "Personnummer(20000101-****)");
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
