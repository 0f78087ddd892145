//! Working hours: when a user is expected to open records, in a compact text form that fits
//! a TOML string and a CSV cell.
//!
//! ```text
//! mon-fri 07:00-18:00                       the default: weekdays, not on holidays
//! mon-sun 21:00-07:30 holidays              a night team; a shift belongs to the day it starts
//! mon-thu 07:00-16:00; fri 07:00-13:00      several parts, separated by ';'
//! mån-fre 07:00-18:00 inkl. helgdagar       Swedish day names, and holidays as working days
//! ```
//!
//! Days are `mon tue wed thu fri sat sun` (or `mån tis ons tor fre lör sön`), single, as a
//! range (`mon-fri`, also wrapping: `fri-mon`) or a comma list (`mon,wed,fri`). Times are
//! `HH:MM`; the start is inside, the end is not (07:00 is working time, 18:00 is not). An end
//! at or before the start means the shift runs past midnight into the next day; `24:00` ends
//! at midnight. Public holidays and the de facto ones (midsommarafton, julafton, nyårsafton)
//! are days off unless the text ends with `holidays` (or `helgdagar`, `inkl. helgdagar`).

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

const DAY_NAMES: [[&str; 2]; 7] = [
    ["mon", "mån"],
    ["tue", "tis"],
    ["wed", "ons"],
    ["thu", "tor"],
    ["fri", "fre"],
    ["sat", "lör"],
    ["sun", "sön"],
];

/// Swedish weekday names as a reviewer reads them, Monday first.
pub const WEEKDAYS_SV: [&str; 7] = [
    "måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag",
];

const HOLIDAY_TOKENS: [&str; 4] = ["inkl. helgdagar", "inkl helgdagar", "helgdagar", "holidays"];

/// One part of a schedule: on these weekdays, from `start` to `end` (minutes after midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Part {
    /// Bit 0 is Monday.
    days: u8,
    start: u16,
    /// `end <= start` means the part ends on the next day.
    end: u16,
}

/// What matters about a calendar day for working hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayKind {
    /// 0 is Monday.
    pub weekday: u8,
    /// Public or de facto holiday.
    pub holiday: bool,
    /// Clocks change this day: a logged time in 02:00–02:59 is missing or repeated.
    pub clock_change: Option<crate::calendar::ClockChange>,
}

impl DayKind {
    pub fn of(date: NaiveDate) -> Self {
        Self {
            weekday: date.weekday().num_days_from_monday() as u8,
            holiday: crate::calendar::is_holiday(date),
            clock_change: crate::calendar::clock_change(date),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    parts: Vec<Part>,
    holidays_are_working_days: bool,
}

impl Default for WorkingHours {
    /// Monday to Friday 07:00–18:00, holidays off.
    fn default() -> Self {
        Self {
            parts: vec![Part {
                days: 0b001_1111,
                start: 7 * 60,
                end: 18 * 60,
            }],
            holidays_are_working_days: false,
        }
    }
}

/// Why a working-hours text was refused; the message quotes only the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} (expected e.g. \"mon-fri 07:00-18:00\" or \"mon-sun 21:00-07:30 holidays\")")]
pub struct WorkingHoursError(String);

impl WorkingHours {
    pub fn parse(text: &str) -> Result<Self, WorkingHoursError> {
        let err = |m: String| Err(WorkingHoursError(m));
        let mut rest = text.trim().replace('–', "-");
        let mut holidays = false;
        let lower = rest.to_lowercase();
        if let Some(token) = HOLIDAY_TOKENS.iter().find(|t| lower.ends_with(*t)) {
            holidays = true;
            let keep = lower.len() - token.len();
            rest = lower[..keep]
                .trim_end()
                .trim_end_matches([';', ','])
                .to_owned();
        } else {
            rest = lower;
        }
        if rest.trim().is_empty() {
            return err("no days and times given".into());
        }
        let mut parts = Vec::new();
        for part in rest.split(';') {
            let part = part.trim();
            let Some((days, times)) = part.rsplit_once(' ') else {
                return err(format!(
                    "'{part}' needs days and times, e.g. mon-fri 07:00-18:00"
                ));
            };
            let days = parse_days(days.trim()).map_err(WorkingHoursError)?;
            let Some((start, end)) = times.split_once('-') else {
                return err(format!("'{times}' is not a time span like 07:00-18:00"));
            };
            let start = parse_time(start, false).map_err(WorkingHoursError)?;
            let end = parse_time(end, true).map_err(WorkingHoursError)?;
            if start == end {
                return err(format!(
                    "'{times}' starts and ends at the same time; use 00:00-24:00 for the whole day"
                ));
            }
            parts.push(Part { days, start, end });
        }
        Ok(Self {
            parts,
            holidays_are_working_days: holidays,
        })
    }

    /// Whether minute `minute` (0..1440) of a day of kind `today`, the day after `yesterday`,
    /// is working time.
    pub fn covers(&self, minute: u16, today: DayKind, yesterday: DayKind) -> bool {
        let works = |p: &Part, day: DayKind| {
            p.days & (1 << day.weekday) != 0 && (self.holidays_are_working_days || !day.holiday)
        };
        self.parts.iter().any(|p| {
            if p.end > p.start {
                works(p, today) && minute >= p.start && minute < p.end
            } else {
                (works(p, today) && minute >= p.start) || (works(p, yesterday) && minute < p.end)
            }
        })
    }

    /// [`WorkingHours::covers`] for a wall-clock time, looking the days up in the calendar.
    pub fn covers_time(&self, time: NaiveDateTime) -> bool {
        let date = time.date();
        let yesterday = date.pred_opt().unwrap_or(date);
        self.covers(
            minute_of_day(time),
            DayKind::of(date),
            DayKind::of(yesterday),
        )
    }
}

pub fn minute_of_day(time: NaiveDateTime) -> u16 {
    (time.hour() * 60 + time.minute()) as u16
}

fn parse_days(text: &str) -> Result<u8, String> {
    let mut mask = 0u8;
    for item in text.split(',') {
        let item = item.trim();
        let day = |name: &str| {
            DAY_NAMES
                .iter()
                .position(|names| names.contains(&name.trim()))
                .ok_or_else(|| format!("'{name}' is not a day (mon … sun or mån … sön)"))
        };
        match item.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                let mut d = from;
                loop {
                    mask |= 1 << d;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => mask |= 1 << day(item)?,
        }
    }
    Ok(mask)
}

fn parse_time(text: &str, is_end: bool) -> Result<u16, String> {
    let text = text.trim();
    let bad = || format!("'{text}' is not a time HH:MM");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    match (h, m) {
        (24, 0) if is_end => Ok(24 * 60),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

/// Swedish, as a reviewer reads it: `mån–fre 07:00–18:00`.
impl fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write_days(f, p.days)?;
            let end = if p.end == 0 { 24 * 60 } else { p.end };
            write!(
                f,
                " {:02}:{:02}–{:02}:{:02}",
                p.start / 60,
                p.start % 60,
                end / 60,
                end % 60
            )?;
        }
        if self.holidays_are_working_days {
            f.write_str(" inkl. helgdagar")?;
        }
        Ok(())
    }
}

/// Runs of consecutive days as ranges, Monday first: `mån–fre`, `mån, ons, fre`, `lör–sön`.
fn write_days(f: &mut fmt::Formatter<'_>, mask: u8) -> fmt::Result {
    let mut first = true;
    let mut d = 0;
    while d < 7 {
        if mask & (1 << d) == 0 {
            d += 1;
            continue;
        }
        let start = d;
        while d + 1 < 7 && mask & (1 << (d + 1)) != 0 {
            d += 1;
        }
        if !first {
            f.write_str(", ")?;
        }
        first = false;
        match d - start {
            0 => f.write_str(DAY_NAMES[start][1])?,
            1 => write!(f, "{}, {}", DAY_NAMES[start][1], DAY_NAMES[d][1])?,
            _ => write!(f, "{}–{}", DAY_NAMES[start][1], DAY_NAMES[d][1])?,
        }
        d += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    #[test]
    fn default_is_weekdays_seven_to_six() {
        let wh = WorkingHours::default();
        assert_eq!(WorkingHours::parse("mon-fri 07:00-18:00").unwrap(), wh);
        assert_eq!(wh.to_string(), "mån–fre 07:00–18:00");
        // 2027-05-04 is a Tuesday.
        assert!(!wh.covers_time(t("2027-05-04T06:59:59")));
        assert!(wh.covers_time(t("2027-05-04T07:00:00")), "07:00 is inside");
        assert!(wh.covers_time(t("2027-05-04T17:59:59")));
        assert!(
            !wh.covers_time(t("2027-05-04T18:00:00")),
            "18:00 is outside"
        );
        assert!(!wh.covers_time(t("2027-05-08T10:00:00")), "Saturday");
        assert!(!wh.covers_time(t("2027-05-09T10:00:00")), "Sunday");
    }

    #[test]
    fn holidays_are_off_unless_said_otherwise() {
        let wh = WorkingHours::default();
        // Midsommarafton 2027 is Friday 25 June; juldagen 2026 is a Friday.
        assert!(!wh.covers_time(t("2027-06-25T10:00:00")));
        assert!(!wh.covers_time(t("2026-12-25T10:00:00")));
        assert!(wh.covers_time(t("2027-06-24T10:00:00")));
        let all = WorkingHours::parse("mon-fri 07:00-18:00 holidays").unwrap();
        assert!(all.covers_time(t("2026-12-25T10:00:00")));
        assert_eq!(all.to_string(), "mån–fre 07:00–18:00 inkl. helgdagar");
        let sv = WorkingHours::parse("Mån–Fre 07:00–18:00 inkl. helgdagar").unwrap();
        assert_eq!(sv, all);
    }

    #[test]
    fn a_night_shift_belongs_to_the_day_it_starts() {
        let night = WorkingHours::parse("mon-fri 21:00-07:30").unwrap();
        // Tuesday 03:00 is in Monday's shift.
        assert!(night.covers_time(t("2027-05-04T03:00:00")));
        assert!(night.covers_time(t("2027-05-03T21:00:00")));
        assert!(night.covers_time(t("2027-05-04T00:00:00")), "midnight");
        assert!(!night.covers_time(t("2027-05-04T07:30:00")));
        assert!(!night.covers_time(t("2027-05-04T12:00:00")));
        // Monday 03:00 would belong to Sunday's shift, which this team does not have.
        assert!(!night.covers_time(t("2027-05-03T03:00:00")));
        // Saturday 03:00 belongs to Friday's shift.
        assert!(night.covers_time(t("2027-05-08T03:00:00")));
        assert!(!night.covers_time(t("2027-05-08T21:00:00")));
    }

    #[test]
    fn dst_days_need_no_conversion() {
        let night = WorkingHours::parse("mon-sun 21:00-07:30 holidays").unwrap();
        // 2027-03-28 02:00 → 03:00 and 2027-10-31 03:00 → 02:00, both Sundays.
        for s in [
            "2027-03-28T01:59:00",
            "2027-03-28T03:00:00",
            "2027-10-31T02:30:00",
        ] {
            assert!(night.covers_time(t(s)), "{s}");
        }
        let day = WorkingHours::default();
        assert!(!day.covers_time(t("2027-03-28T10:00:00")), "a Sunday");
        assert!(!day.covers_time(t("2027-03-29T07:00:00")), "Easter Monday");
        assert!(day.covers_time(t("2027-03-30T07:00:00")));
        assert!(day.covers_time(t("2027-11-01T17:59:00")));
    }

    #[test]
    fn several_parts_lists_and_whole_days() {
        let wh = WorkingHours::parse("mon-thu 07:00-16:00; fri 07:00-13:00").unwrap();
        assert_eq!(wh.to_string(), "mån–tor 07:00–16:00; fre 07:00–13:00");
        assert!(!wh.covers_time(t("2027-05-14T14:00:00")));
        assert!(wh.covers_time(t("2027-05-13T14:00:00")));
        let list = WorkingHours::parse("mon,wed,fri 08:00-12:00").unwrap();
        assert_eq!(list.to_string(), "mån, ons, fre 08:00–12:00");
        let always = WorkingHours::parse("mon-sun 00:00-24:00 holidays").unwrap();
        assert!(always.covers_time(t("2026-12-25T23:59:59")));
        assert!(always.covers_time(t("2026-12-26T00:00:00")));
        let weekend = WorkingHours::parse("fri-mon 10:00-14:00").unwrap();
        assert_eq!(weekend.to_string(), "mån, fre–sön 10:00–14:00");
    }

    #[test]
    fn bad_texts_are_refused_with_the_token() {
        for (text, needle) in [
            ("", "no days"),
            ("mon-fri", "needs days and times"),
            ("mon-fry 07:00-18:00", "'fry'"),
            ("mon-fri 7-18", "'7' is not a time"),
            ("mon-fri 07:00-25:00", "'25:00'"),
            ("mon-fri 07:00-07:00", "same time"),
            ("mon-fri 24:00-07:00", "'24:00'"),
        ] {
            let e = WorkingHours::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
