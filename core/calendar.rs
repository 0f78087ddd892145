//! Swedish calendar rules: Europe/Stockholm time, public and de facto holidays,
//! and the month / day-window arithmetic used by the monthly draw planner.
//!
//! Holidays are recomputed from the year on every query instead of being cached:
//! the rules are a handful of integer operations, so a cache would cost more in
//! locking and invalidation than it saves.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, MappedLocalTime, NaiveDate, NaiveDateTime, NaiveTime};
use chrono::{Offset, TimeDelta, TimeZone, Utc, Weekday};

/// The months' Swedish names, January first.
pub const MONTH_NAMES_SV: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// The planner's time zone. Review deadlines are local business days, so every
/// "which day is it" question is answered in Swedish local time.
pub const TZ: chrono_tz::Tz = chrono_tz::Europe::Stockholm;

/// Years accepted by [`Month::new`] and by parsing. The textual form is exactly
/// four digits, and nothing the planner handles predates 1900.
const PARSE_YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// Sveriges nationaldag replaced Annandag pingst as a public holiday in 2005;
/// earlier years keep Whit Monday so that plans for past months still line up.
const NATIONAL_DAY_FROM: i32 = 2005;

const NYARSDAGEN: &str = "Nyårsdagen";
const TRETTONDEDAG_JUL: &str = "Trettondedag jul";
const LANGFREDAGEN: &str = "Långfredagen";
const PASKDAGEN: &str = "Påskdagen";
const ANNANDAG_PASK: &str = "Annandag påsk";
const FORSTA_MAJ: &str = "Första maj";
const KRISTI_HIMMELSFARDSDAG: &str = "Kristi himmelsfärdsdag";
const PINGSTDAGEN: &str = "Pingstdagen";
const ANNANDAG_PINGST: &str = "Annandag pingst";
const NATIONALDAGEN: &str = "Sveriges nationaldag";
const MIDSOMMARDAGEN: &str = "Midsommardagen";
const ALLA_HELGONS_DAG: &str = "Alla helgons dag";
const JULDAGEN: &str = "Juldagen";
const ANNANDAG_JUL: &str = "Annandag jul";
const MIDSOMMARAFTON: &str = "Midsommarafton";
const JULAFTON: &str = "Julafton";
const NYARSAFTON: &str = "Nyårsafton";

/// A calendar month, e.g. 2027-05.
///
/// Every value lies within chrono's calendar, so its first and last days always
/// exist. [`Month::new`] and parsing are stricter (years 1900–9999) because the
/// text form must round-trip; [`Month::of`] accepts any date chrono can represent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    // Field order matters: the derived `Ord` must compare the year first.
    year: i32,
    month: u32,
}

impl Month {
    /// `None` unless `month` is 1..=12 and `year` is 1900..=9999.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        ((1..=12).contains(&month) && PARSE_YEARS.contains(&year)).then_some(Month { year, month })
    }

    /// The month containing `date`.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .expect("every Month lies within chrono's calendar")
    }

    pub fn last_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, self.num_days())
            .expect("every Month lies within chrono's calendar")
    }

    /// Every day of the month, in order.
    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        // Not `iter_days()`: it stops one day short of `NaiveDate::MAX`.
        let first = self.first_day();
        (1..=self.num_days()).filter_map(move |day| first.with_day(day))
    }

    /// The previous month. Saturates at the first month chrono can represent,
    /// so that every `Month` keeps real first and last days.
    pub fn prev(self) -> Month {
        match self.month {
            1 if self.year <= NaiveDate::MIN.year() => self,
            1 => Month {
                year: self.year - 1,
                month: 12,
            },
            m => Month {
                year: self.year,
                month: m - 1,
            },
        }
    }

    /// The next month. Saturates at the last month chrono can represent
    /// (December 262143), for the same reason as [`Month::prev`].
    pub fn next(self) -> Month {
        match self.month {
            12 if self.year >= NaiveDate::MAX.year() => self,
            12 => Month {
                year: self.year + 1,
                month: 1,
            },
            m => Month {
                year: self.year,
                month: m + 1,
            },
        }
    }

    /// `later - self` in months; negative when `later` is earlier.
    pub fn months_until(self, later: Month) -> i64 {
        (i64::from(later.year) - i64::from(self.year)) * 12 + i64::from(later.month)
            - i64::from(self.month)
    }

    // Pure arithmetic rather than a chrono round trip: it is used to build dates,
    // so it must not depend on the dates it is about to build.
    fn num_days(self) -> u32 {
        match self.month {
            2 if is_leap_year(self.year) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
}

fn is_leap_year(year: i32) -> bool {
    // rem_euclid keeps the proleptic rule right for negative years too.
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Why a string is not a valid [`Month`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid month {input:?} ({reason}); expected YYYY-MM, e.g. 2027-05")]
pub struct MonthParseError {
    input: String,
    reason: &'static str,
}

impl FromStr for Month {
    type Err = MonthParseError;

    /// Accepts exactly `YYYY-MM`. Anything looser ("2027-5", surrounding spaces,
    /// a trailing day) is rejected so that a month has one spelling in stored
    /// data and file names.
    fn from_str(s: &str) -> Result<Month, MonthParseError> {
        let err = |reason| MonthParseError {
            input: s.to_owned(),
            reason,
        };
        let b = s.as_bytes();
        let well_formed =
            b.len() == 7 && b[4] == b'-' && b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit);
        if !well_formed {
            return Err(err("not of the form YYYY-MM"));
        }
        // Byte-wise rather than `str::parse`, which would also accept signs.
        let number = |digits: &[u8]| {
            digits
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
        };
        let month = number(&b[5..]);
        if !(1..=12).contains(&month) {
            return Err(err("month must be 01-12"));
        }
        let year = i32::try_from(number(&b[..4])).map_err(|_| err("year out of range"))?;
        Month::new(year, month).ok_or_else(|| err("year must be 1900-9999"))
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Refuse to write what `deserialize` could not read back; failing here
        // is better than discovering unreadable data later.
        if !PARSE_YEARS.contains(&self.year) {
            return Err(serde::ser::Error::custom(format_args!(
                "month {self} is outside the years 1900-9999 that can be stored"
            )));
        }
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Month {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Month, D::Error> {
        struct MonthVisitor;

        impl serde::de::Visitor<'_> for MonthVisitor {
            type Value = Month;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a month as \"YYYY-MM\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Month, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(MonthVisitor)
    }
}

/// Easter Sunday of `year` in the Gregorian calendar (anonymous / Meeus
/// algorithm), extended proleptically to every year.
///
/// # Panics
/// If `year` is outside chrono's calendar (beyond ±262 000 years); any year
/// taken from a `NaiveDate` or [`Month`] is fine.
pub fn easter_sunday(year: i32) -> NaiveDate {
    easter(year).expect("year outside chrono's calendar")
}

fn easter(year: i32) -> Option<NaiveDate> {
    // Euclidean division keeps every intermediate in the ranges the algorithm
    // assumes, so it cannot produce an invalid month or day for negative years.
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let (d, e) = (b.div_euclid(4), b.rem_euclid(4));
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    // n / 31 is 3 or 4 and n % 31 + 1 is a valid day of it, so the casts are lossless.
    NaiveDate::from_ymd_opt(year, (n / 31) as u32, (n % 31 + 1) as u32)
}

/// Swedish public holidays (allmänna helgdagar, lag 1989:253) of a year, sorted
/// by date, with their Swedish names.
///
/// From 2005: Nyårsdagen, Trettondedag jul, Långfredagen, Påskdagen, Annandag påsk,
/// Första maj, Kristi himmelsfärdsdag, Pingstdagen, Sveriges nationaldag,
/// Midsommardagen, Alla helgons dag, Juldagen, Annandag jul. Before 2005 the law
/// had Annandag pingst (Whit Monday) where it now has the national day.
///
/// When two holidays share a date (Kristi himmelsfärdsdag on Första maj in 2008,
/// Pingstdagen on the national day in 2049) both are listed, in the order above.
/// Empty for years chrono cannot represent.
pub fn public_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let Some(easter) = easter(year) else {
        return Vec::new();
    };
    let fixed = |month, day, name| NaiveDate::from_ymd_opt(year, month, day).map(|d| (d, name));
    let after_easter = |days, name| easter.checked_add_days(Days::new(days)).map(|d| (d, name));
    let whitsun_or_national_day = if year >= NATIONAL_DAY_FROM {
        fixed(6, 6, NATIONALDAGEN)
    } else {
        after_easter(50, ANNANDAG_PINGST)
    };
    let mut holidays: Vec<_> = [
        fixed(1, 1, NYARSDAGEN),
        fixed(1, 6, TRETTONDEDAG_JUL),
        easter
            .checked_sub_days(Days::new(2))
            .map(|d| (d, LANGFREDAGEN)),
        Some((easter, PASKDAGEN)),
        after_easter(1, ANNANDAG_PASK),
        fixed(5, 1, FORSTA_MAJ),
        after_easter(39, KRISTI_HIMMELSFARDSDAG),
        after_easter(49, PINGSTDAGEN),
        whitsun_or_national_day,
        first_saturday_from(year, 6, 20).map(|d| (d, MIDSOMMARDAGEN)),
        first_saturday_from(year, 10, 31).map(|d| (d, ALLA_HELGONS_DAG)),
        fixed(12, 25, JULDAGEN),
        fixed(12, 26, ANNANDAG_JUL),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Stable sort: same-date holidays keep the documented order, which is also
    // the order `holiday_name` prefers.
    holidays.sort_by_key(|&(date, _)| date);
    holidays
}

/// Days that are not public holidays but on which Swedish workplaces are closed
/// by custom and collective agreement: Midsommarafton (Friday 19–25 June),
/// Julafton (24 Dec) and Nyårsafton (31 Dec). Sorted by date.
pub fn de_facto_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let midsommarafton = first_saturday_from(year, 6, 20)
        .and_then(|d| d.pred_opt())
        .map(|d| (d, MIDSOMMARAFTON));
    let fixed = |month, day, name| NaiveDate::from_ymd_opt(year, month, day).map(|d| (d, name));
    [
        midsommarafton,
        fixed(12, 24, JULAFTON),
        fixed(12, 31, NYARSAFTON),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn first_saturday_from(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    let start = NaiveDate::from_ymd_opt(year, month, day)?;
    start.checked_add_days(Days::new(Weekday::Sat.days_since(start.weekday()).into()))
}

/// Name of the holiday (public or de facto) on `date`, if any. Where two
/// holidays coincide, the one [`public_holidays`] lists first.
pub fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    // Matches the date against each rule directly instead of building the year's
    // list: this runs once per day in planning loops and must not allocate.
    public_holiday_name(date).or_else(|| de_facto_holiday_name(date))
}

fn public_holiday_name(date: NaiveDate) -> Option<&'static str> {
    let (month, day) = (date.month(), date.day());
    let fixed = match (month, day) {
        (1, 1) => Some(NYARSDAGEN),
        (1, 6) => Some(TRETTONDEDAG_JUL),
        // Checked before the Easter rules, which in turn come before the national
        // day, to match `public_holidays` when dates coincide.
        (5, 1) => Some(FORSTA_MAJ),
        (12, 25) => Some(JULDAGEN),
        (12, 26) => Some(ANNANDAG_JUL),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    // Easter-based holidays run from Långfredagen (20 March at the earliest) to
    // Annandag pingst (14 June at the latest); skip the computus outside that span.
    if (3..=6).contains(&month)
        && let Some(name) = easter_holiday_name(date)
    {
        return Some(name);
    }
    if (month, day) == (6, 6) && date.year() >= NATIONAL_DAY_FROM {
        return Some(NATIONALDAGEN);
    }
    if date.weekday() == Weekday::Sat {
        if month == 6 && (20..=26).contains(&day) {
            return Some(MIDSOMMARDAGEN);
        }
        if (month == 10 && day == 31) || (month == 11 && day <= 6) {
            return Some(ALLA_HELGONS_DAG);
        }
    }
    None
}

fn easter_holiday_name(date: NaiveDate) -> Option<&'static str> {
    let easter = easter(date.year())?;
    // Same year, so the ordinal difference is the distance in days.
    let offset = i64::from(date.ordinal()) - i64::from(easter.ordinal());
    match offset {
        -2 => Some(LANGFREDAGEN),
        0 => Some(PASKDAGEN),
        1 => Some(ANNANDAG_PASK),
        39 => Some(KRISTI_HIMMELSFARDSDAG),
        49 => Some(PINGSTDAGEN),
        50 if date.year() < NATIONAL_DAY_FROM => Some(ANNANDAG_PINGST),
        _ => None,
    }
}

fn de_facto_holiday_name(date: NaiveDate) -> Option<&'static str> {
    match (date.month(), date.day()) {
        (6, 19..=25) if date.weekday() == Weekday::Fri => Some(MIDSOMMARAFTON),
        (12, 24) => Some(JULAFTON),
        (12, 31) => Some(NYARSAFTON),
        _ => None,
    }
}

/// Public or de facto holiday.
pub fn is_holiday(date: NaiveDate) -> bool {
    holiday_name(date).is_some()
}

/// Saturday or Sunday.
pub fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Neither a weekend nor a (public or de facto) holiday.
pub fn is_working_day(date: NaiveDate) -> bool {
    !is_weekend(date) && !is_holiday(date)
}

/// Which days of a month may be chosen as the execution day of a draw window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowRule {
    /// The window is day 1..=first_days of the month.
    pub first_days: u32,
    pub weekdays_only: bool,
    /// Skips public and de facto holidays alike: on either, nobody is at work to
    /// carry out the review.
    pub skip_holidays: bool,
}

/// Safety net for the fallback search. Every rule allows ordinary working days,
/// and Sweden never has more than a few non-working days in a row, so the search
/// ends within a week; the bound only guarantees termination.
const FALLBACK_SEARCH_DAYS: usize = 366;

impl WindowRule {
    /// Whether `date` passes the weekday and holiday filters (the `first_days`
    /// bound is not considered).
    pub fn allows(&self, date: NaiveDate) -> bool {
        let excluded =
            (self.weekdays_only && is_weekend(date)) || (self.skip_holidays && is_holiday(date));
        !excluded
    }

    /// Eligible days: day 1..=first_days of `month` (capped at the month's
    /// length) that [`allows`](Self::allows).
    ///
    /// If that is empty (e.g. a two-day window over a weekend), the result is the
    /// single first allowed day after the window, possibly in the next month, so
    /// that a month's review is postponed rather than silently dropped.
    /// `first_days == 0` is an empty window. The result is empty only if the
    /// search runs off the end of chrono's calendar.
    pub fn eligible_days(&self, month: Month) -> Vec<NaiveDate> {
        let window = self.first_days.min(month.num_days());
        let eligible: Vec<NaiveDate> = month
            .days()
            .take(window as usize)
            .filter(|&d| self.allows(d))
            .collect();
        if !eligible.is_empty() {
            return eligible;
        }
        month
            .first_day()
            .checked_add_days(Days::new(window.into()))
            .and_then(|after| {
                std::iter::successors(Some(after), |d| d.succ_opt())
                    .take(FALLBACK_SEARCH_DAYS)
                    .find(|&d| self.allows(d))
            })
            .into_iter()
            .collect()
    }
}

/// Which way Swedish clocks change on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockChange {
    /// Last Sunday of March: 02:00 becomes 03:00, so 02:00–02:59 does not exist.
    Forward,
    /// Last Sunday of October: 03:00 becomes 02:00 again, so 02:00–02:59 happens twice.
    Back,
}

/// Whether clocks change on `date` in Europe/Stockholm. Since 1996 (EU rules) the change is at
/// 01:00 UTC, so the local hour it concerns is always 02:00–02:59 ([`CLOCK_CHANGE_HOUR`]).
pub fn clock_change(date: NaiveDate) -> Option<ClockChange> {
    match TZ.from_local_datetime(&date.and_hms_opt(2, 30, 0)?) {
        MappedLocalTime::Single(_) => None,
        MappedLocalTime::None => Some(ClockChange::Forward),
        MappedLocalTime::Ambiguous(..) => Some(ClockChange::Back),
    }
}

/// The local hour a [`ClockChange`] removes or repeats, as minutes of the day.
pub const CLOCK_CHANGE_HOUR: std::ops::Range<u16> = 120..180;

/// The first instant of `date` in Europe/Stockholm: local midnight.
///
/// Swedish clocks change at 02:00/03:00, so midnight always exists and is never
/// repeated today; the fallbacks exist so that a future rule change or an
/// out-of-range date cannot make this panic.
pub fn start_of_day(date: NaiveDate) -> DateTime<chrono_tz::Tz> {
    start_of_day_in(&TZ, date)
}

fn start_of_day_in<Z: TimeZone>(tz: &Z, date: NaiveDate) -> DateTime<Z> {
    let midnight = date.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&midnight) {
        MappedLocalTime::Single(t) => t,
        // Clocks turned back over midnight: the day began at the first midnight.
        MappedLocalTime::Ambiguous(earliest, _) => earliest,
        // Clocks jumped over midnight (or midnight is outside chrono's range):
        // the day begins at the jump, i.e. the instant the offset in force before
        // it would have called midnight.
        MappedLocalTime::None => {
            let before = midnight
                .checked_sub_signed(TimeDelta::days(1))
                .unwrap_or(midnight);
            let old_offset = tz.offset_from_utc_datetime(&before).fix();
            let utc = midnight
                .checked_sub_offset(old_offset)
                .unwrap_or(NaiveDateTime::MIN);
            tz.from_utc_datetime(&utc)
        }
    }
}

/// The calendar date in Europe/Stockholm at `instant`.
/// An instant as Swedish wall time to the minute, as pages and command output show it.
pub fn local_minute(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&TZ)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn local_date(instant: DateTime<Utc>) -> NaiveDate {
    let offset = TZ.offset_from_utc_datetime(&instant.naive_utc()).fix();
    // `DateTime::date_naive` panics when the local time passes chrono's last
    // representable instant; saturate there instead.
    instant
        .naive_utc()
        .checked_add_offset(offset)
        .map_or(NaiveDate::MAX, |local| local.date())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("valid test date")
    }

    fn month(year: i32, month: u32) -> Month {
        Month::new(year, month).expect("valid test month")
    }

    /// "MM-DD" in `year`.
    fn md(year: i32, s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(&format!("{year}-{s}"), "%Y-%m-%d").expect("valid test date")
    }

    // Published Swedish calendar (almanackan) 2020–2030. Fixed-date holidays are
    // the same every year and are listed in `expected_public` / `expected_de_facto`.
    #[rustfmt::skip]
    const MOVABLE: [(i32, [&str; 8]); 11] = [
        //     Långfredagen Påskdagen Annandag påsk Kristi himmelsfärd Pingstdagen Midsommarafton Midsommardagen Alla helgons dag
        (2020, ["04-10",    "04-12",  "04-13",      "05-21",           "05-31",    "06-19",       "06-20",       "10-31"]),
        (2021, ["04-02",    "04-04",  "04-05",      "05-13",           "05-23",    "06-25",       "06-26",       "11-06"]),
        (2022, ["04-15",    "04-17",  "04-18",      "05-26",           "06-05",    "06-24",       "06-25",       "11-05"]),
        (2023, ["04-07",    "04-09",  "04-10",      "05-18",           "05-28",    "06-23",       "06-24",       "11-04"]),
        (2024, ["03-29",    "03-31",  "04-01",      "05-09",           "05-19",    "06-21",       "06-22",       "11-02"]),
        (2025, ["04-18",    "04-20",  "04-21",      "05-29",           "06-08",    "06-20",       "06-21",       "11-01"]),
        (2026, ["04-03",    "04-05",  "04-06",      "05-14",           "05-24",    "06-19",       "06-20",       "10-31"]),
        (2027, ["03-26",    "03-28",  "03-29",      "05-06",           "05-16",    "06-25",       "06-26",       "11-06"]),
        (2028, ["04-14",    "04-16",  "04-17",      "05-25",           "06-04",    "06-23",       "06-24",       "11-04"]),
        (2029, ["03-30",    "04-01",  "04-02",      "05-10",           "05-20",    "06-22",       "06-23",       "11-03"]),
        (2030, ["04-19",    "04-21",  "04-22",      "05-30",           "06-09",    "06-21",       "06-22",       "11-02"]),
    ];

    fn expected_public(year: i32, m: &[&str; 8]) -> Vec<(NaiveDate, &'static str)> {
        let mut v = vec![
            (md(year, "01-01"), "Nyårsdagen"),
            (md(year, "01-06"), "Trettondedag jul"),
            (md(year, m[0]), "Långfredagen"),
            (md(year, m[1]), "Påskdagen"),
            (md(year, m[2]), "Annandag påsk"),
            (md(year, "05-01"), "Första maj"),
            (md(year, m[3]), "Kristi himmelsfärdsdag"),
            (md(year, m[4]), "Pingstdagen"),
            (md(year, "06-06"), "Sveriges nationaldag"),
            (md(year, m[6]), "Midsommardagen"),
            (md(year, m[7]), "Alla helgons dag"),
            (md(year, "12-25"), "Juldagen"),
            (md(year, "12-26"), "Annandag jul"),
        ];
        v.sort_by_key(|&(d, _)| d);
        v
    }

    fn expected_de_facto(year: i32, m: &[&str; 8]) -> Vec<(NaiveDate, &'static str)> {
        vec![
            (md(year, m[5]), "Midsommarafton"),
            (md(year, "12-24"), "Julafton"),
            (md(year, "12-31"), "Nyårsafton"),
        ]
    }

    #[test]
    fn table_weekdays_are_plausible() {
        // Guards the literal table itself against typos.
        use Weekday::*;
        let want = [Fri, Sun, Mon, Thu, Sun, Fri, Sat, Sat];
        for (year, m) in MOVABLE {
            for (s, wd) in m.iter().zip(want) {
                assert_eq!(md(year, s).weekday(), wd, "{year}-{s}");
            }
            assert!(("06-19"..="06-25").contains(&m[5]), "{year}");
            assert!(
                m[7] == "10-31" || ("11-01"..="11-06").contains(&m[7]),
                "{year}"
            );
        }
    }

    #[test]
    fn holidays_2020_to_2030_match_published_calendar() {
        for (year, m) in MOVABLE {
            let public = expected_public(year, &m);
            let de_facto = expected_de_facto(year, &m);
            assert_eq!(public_holidays(year), public, "public {year}");
            assert_eq!(de_facto_holidays(year), de_facto, "de facto {year}");
            assert_eq!(easter_sunday(year), md(year, m[1]), "easter {year}");
            for &(date, name) in public.iter().chain(&de_facto) {
                assert_eq!(holiday_name(date), Some(name), "{date}");
                assert!(is_holiday(date) && !is_working_day(date), "{date}");
            }
            // No other day of the year is a holiday.
            let first = ymd(year, 1, 1);
            let count = first
                .iter_days()
                .take_while(|d| d.year() == year)
                .filter(|&d| is_holiday(d))
                .count();
            assert_eq!(count, 16, "{year}");
        }
    }

    #[test]
    fn spec_anchors() {
        let easter = [
            (2020, 4, 12),
            (2021, 4, 4),
            (2022, 4, 17),
            (2023, 4, 9),
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2028, 4, 16),
            (2029, 4, 1),
            (2030, 4, 21),
        ];
        for (y, m, d) in easter {
            assert_eq!(easter_sunday(y), ymd(y, m, d));
        }
        assert_eq!(
            holiday_name(ymd(2027, 5, 6)),
            Some("Kristi himmelsfärdsdag")
        );
        assert_eq!(holiday_name(ymd(2027, 6, 25)), Some("Midsommarafton"));
        assert_eq!(holiday_name(ymd(2027, 11, 6)), Some("Alla helgons dag"));
    }

    #[test]
    fn easter_extremes_and_centuries() {
        // Earliest (22 Mar) and latest (25 Apr) possible dates, and century years
        // where the Gregorian corrections kick in.
        for (y, m, d) in [
            (1818, 3, 22),
            (2285, 3, 22),
            (1943, 4, 25),
            (2038, 4, 25),
            (1900, 4, 15),
            (2000, 4, 23),
            (2008, 3, 23),
            (2100, 3, 28),
        ] {
            assert_eq!(easter_sunday(y), ymd(y, m, d), "{y}");
        }
    }

    /// Gauss's Easter formula with Lichtenberg's corrections: an independent
    /// derivation to cross-check the Meeus algorithm against.
    fn easter_gauss(year: i32) -> NaiveDate {
        let k = year / 100;
        let m = 15 + (3 * k + 3) / 4 - (8 * k + 13) / 25;
        let s = 2 - (3 * k + 3) / 4;
        let a = year % 19;
        let d = (19 * a + m) % 30;
        let r = (d + a / 11) / 29;
        let og = 21 + d - r;
        let sz = 7 - (year + year / 4 + s) % 7;
        let oe = 7 - (og - sz) % 7;
        let os = og + oe; // day of March, may exceed 31
        let first_march = ymd(year, 3, 1);
        first_march + Days::new((os - 1) as u64)
    }

    #[test]
    fn easter_agrees_with_gauss_1583_to_4099() {
        for year in 1583..=4099 {
            assert_eq!(easter_sunday(year), easter_gauss(year), "{year}");
            let e = easter_sunday(year);
            assert_eq!(e.weekday(), Weekday::Sun);
            assert!(ymd(year, 3, 22) <= e && e <= ymd(year, 4, 25));
        }
    }

    #[test]
    fn holiday_name_agrees_with_lists_every_day() {
        // Two independent implementations (per-date rules vs per-year lists)
        // must agree on every day, including the pre-2005 rules.
        for year in (1900..=2300).chain([-5000, -1, 0, 9999, 100_000]) {
            let mut lists: Vec<_> = public_holidays(year);
            lists.extend(de_facto_holidays(year));
            lists.sort_by_key(|&(d, _)| d);
            assert!(lists.len() >= 16, "{year}");
            let first = ymd(year, 1, 1);
            for date in first.iter_days().take_while(|d| d.year() == year) {
                let want = lists.iter().find(|&&(d, _)| d == date).map(|&(_, n)| n);
                assert_eq!(holiday_name(date), want, "{date}");
            }
        }
    }

    #[test]
    fn coinciding_holidays() {
        // 2008: Kristi himmelsfärdsdag fell on Första maj.
        let h = public_holidays(2008);
        let may1 = ymd(2008, 5, 1);
        let on_may1: Vec<_> = h.iter().filter(|&&(d, _)| d == may1).collect();
        assert_eq!(
            on_may1,
            [&(may1, "Första maj"), &(may1, "Kristi himmelsfärdsdag")]
        );
        assert_eq!(holiday_name(may1), Some("Första maj"));
        assert_eq!(h.len(), 13);
        assert!(h.is_sorted_by_key(|&(d, _)| d));

        // 2049: Pingstdagen on the national day.
        let jun6 = ymd(2049, 6, 6);
        let on_jun6: Vec<_> = public_holidays(2049)
            .into_iter()
            .filter(|&(d, _)| d == jun6)
            .collect();
        assert_eq!(
            on_jun6,
            [(jun6, "Pingstdagen"), (jun6, "Sveriges nationaldag")]
        );
        assert_eq!(holiday_name(jun6), Some("Pingstdagen"));
    }

    #[test]
    fn national_day_replaced_whit_monday_in_2005() {
        let h2004 = public_holidays(2004);
        assert!(h2004.contains(&(ymd(2004, 5, 31), "Annandag pingst")));
        assert!(!h2004.iter().any(|&(_, n)| n == "Sveriges nationaldag"));
        assert_eq!(holiday_name(ymd(2004, 6, 6)), None);
        assert_eq!(holiday_name(ymd(2004, 5, 31)), Some("Annandag pingst"));

        let h2005 = public_holidays(2005);
        assert!(h2005.contains(&(ymd(2005, 6, 6), "Sveriges nationaldag")));
        assert!(!h2005.iter().any(|&(_, n)| n == "Annandag pingst"));
        // Whit Monday 2005 (16 May) is an ordinary working day.
        assert!(is_working_day(ymd(2005, 5, 16)));
    }

    #[test]
    fn holidays_outside_chrono_range_are_empty() {
        assert!(public_holidays(i32::MAX).is_empty());
        assert!(de_facto_holidays(i32::MIN).is_empty());
        // The extreme dates themselves work.
        assert_eq!(holiday_name(NaiveDate::MAX), Some("Nyårsafton"));
        assert_eq!(holiday_name(NaiveDate::MIN), Some("Nyårsdagen"));
    }

    #[test]
    fn weekend_and_working_day() {
        assert!(is_weekend(ymd(2027, 5, 1)) && is_weekend(ymd(2027, 5, 2)));
        assert!(!is_weekend(ymd(2027, 5, 3)));
        assert!(is_working_day(ymd(2027, 5, 3)));
        assert!(!is_working_day(ymd(2027, 5, 6))); // Kristi himmelsfärdsdag
        assert!(!is_working_day(ymd(2027, 12, 24))); // Julafton, a Friday
        assert!(!is_working_day(ymd(2027, 6, 25))); // Midsommarafton
        assert_eq!(holiday_name(ymd(2027, 5, 3)), None);
    }

    const STRICT: WindowRule = WindowRule {
        first_days: 7,
        weekdays_only: true,
        skip_holidays: true,
    };

    fn rule(first_days: u32) -> WindowRule {
        WindowRule {
            first_days,
            ..STRICT
        }
    }

    fn days(year: i32, month: u32, days: &[u32]) -> Vec<NaiveDate> {
        days.iter().map(|&d| ymd(year, month, d)).collect()
    }

    #[test]
    fn window_may_2027() {
        // 1–2 May weekend (1 May also Första maj), 6 May Kristi himmelsfärdsdag.
        let cases: [(&str, WindowRule, &[u32]); 4] = [
            ("strict", STRICT, &[3, 4, 5, 7]),
            (
                "holidays allowed",
                WindowRule {
                    skip_holidays: false,
                    ..STRICT
                },
                &[3, 4, 5, 6, 7],
            ),
            (
                "weekends allowed",
                WindowRule {
                    weekdays_only: false,
                    ..STRICT
                },
                &[2, 3, 4, 5, 7],
            ),
            (
                "anything, two days",
                WindowRule {
                    first_days: 2,
                    weekdays_only: false,
                    skip_holidays: false,
                },
                &[1, 2],
            ),
        ];
        for (name, rule, expected) in cases {
            let got = rule.eligible_days(month(2027, 5));
            assert_eq!(got, days(2027, 5, expected), "{name}");
        }
    }

    #[test]
    fn window_january_2027() {
        // 1 Jan Nyårsdagen (Fri), 2–3 weekend, 6 Jan Trettondedag jul (Wed).
        assert_eq!(
            STRICT.eligible_days(month(2027, 1)),
            days(2027, 1, &[4, 5, 7])
        );
    }

    #[test]
    fn window_around_easter() {
        // 3 Apr 2026 Långfredagen, 4–5 weekend, 6 Apr Annandag påsk.
        assert_eq!(
            STRICT.eligible_days(month(2026, 4)),
            days(2026, 4, &[1, 2, 7])
        );
        // 1 Apr 2024 Annandag påsk: a one-day window falls back to 2 Apr.
        assert_eq!(rule(1).eligible_days(month(2024, 4)), days(2024, 4, &[2]));
    }

    #[test]
    fn empty_window_falls_back_to_next_allowed_day() {
        assert_eq!(rule(2).eligible_days(month(2027, 5)), days(2027, 5, &[3]));
        // 1 Jan 2028 is a Saturday.
        assert_eq!(rule(1).eligible_days(month(2028, 1)), days(2028, 1, &[3]));
        assert_eq!(rule(2).eligible_days(month(2028, 1)), days(2028, 1, &[3]));
        // Nyårsdagen on a Friday, then a weekend.
        assert_eq!(rule(1).eligible_days(month(2027, 1)), days(2027, 1, &[4]));
        // first_days == 0 is an empty window: the month's first allowed day.
        assert_eq!(rule(0).eligible_days(month(2027, 5)), days(2027, 5, &[3]));
        assert_eq!(rule(0).eligible_days(month(2027, 6)), days(2027, 6, &[1]));
    }

    #[test]
    fn window_is_capped_at_month_length() {
        let feb = month(2027, 2);
        let all_weekdays: Vec<_> = feb.days().filter(|&d| !is_weekend(d)).collect();
        assert_eq!(all_weekdays.len(), 20);
        assert_eq!(rule(40).eligible_days(feb), all_weekdays);
        assert_eq!(rule(u32::MAX).eligible_days(feb), all_weekdays);
        // Julafton and Nyårsafton 2027 are Fridays; 25–26 Dec fall on the weekend.
        let december: Vec<u32> = (1..=31)
            .filter(|d| ![4, 5, 11, 12, 18, 19, 24, 25, 26, 31].contains(d))
            .collect();
        assert_eq!(
            rule(31).eligible_days(month(2027, 12)),
            days(2027, 12, &december)
        );
    }

    #[test]
    fn fallback_at_end_of_chrono_calendar_does_not_panic() {
        let last = Month::of(NaiveDate::MAX);
        assert!(rule(u32::MAX).eligible_days(last).len() > 1);
        assert_eq!(rule(0).eligible_days(last).len(), 1);
    }

    #[test]
    fn window_rule_serde() {
        let json = serde_json::to_string(&STRICT).expect("serialize");
        assert_eq!(
            json,
            r#"{"first_days":7,"weekdays_only":true,"skip_holidays":true}"#
        );
        let back: WindowRule = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, STRICT);
    }

    #[test]
    fn month_new_and_accessors() {
        let m = month(2027, 5);
        assert_eq!((m.year(), m.month()), (2027, 5));
        assert_eq!(Month::new(2027, 0), None);
        assert_eq!(Month::new(2027, 13), None);
        assert_eq!(Month::new(1899, 12), None);
        assert_eq!(Month::new(10000, 1), None);
        assert!(Month::new(1900, 1).is_some() && Month::new(9999, 12).is_some());
        assert_eq!(Month::of(ymd(2027, 5, 19)), m);
        assert_eq!(m.first_day(), ymd(2027, 5, 1));
        assert_eq!(m.last_day(), ymd(2027, 5, 31));
        assert_eq!(m.days().count(), 31);
        assert_eq!(m.days().last(), Some(m.last_day()));
        assert_eq!(month(2024, 2).last_day(), ymd(2024, 2, 29));
        assert_eq!(month(2027, 2).last_day(), ymd(2027, 2, 28));
        assert_eq!(month(1900, 2).last_day(), ymd(1900, 2, 28));
        assert_eq!(month(2000, 2).last_day(), ymd(2000, 2, 29));
        assert_eq!(month(2027, 4).days().count(), 30);
    }

    #[test]
    fn month_days_in_every_month_match_chrono() {
        for year in [1900, 2000, 2023, 2024, 2100, 9999] {
            let mut m = month(year, 1);
            for _ in 0..12 {
                let days: Vec<_> = m.days().collect();
                assert_eq!(days.first(), Some(&m.first_day()));
                assert_eq!(
                    days.last().and_then(|d| d.succ_opt()),
                    Some(m.next().first_day())
                );
                assert!(days.iter().all(|&d| Month::of(d) == m));
                m = m.next();
            }
        }
    }

    #[test]
    fn month_prev_next_and_distance() {
        assert_eq!(month(2027, 1).prev(), month(2026, 12));
        assert_eq!(month(2026, 12).next(), month(2027, 1));
        assert_eq!(month(2027, 5).next(), month(2027, 6));
        assert_eq!(month(2027, 5).prev(), month(2027, 4));
        assert_eq!(month(2027, 5).months_until(month(2027, 5)), 0);
        assert_eq!(month(2026, 11).months_until(month(2027, 2)), 3);
        assert_eq!(month(2027, 2).months_until(month(2026, 11)), -3);
        assert_eq!(month(1900, 1).months_until(month(9999, 12)), 8100 * 12 - 1);
        assert!(month(2026, 12) < month(2027, 1));
        assert!(month(2027, 1) < month(2027, 2));
    }

    #[test]
    fn month_saturates_at_chrono_limits() {
        let last = Month::of(NaiveDate::MAX);
        assert_eq!(last.next(), last);
        assert_eq!(last.last_day(), NaiveDate::MAX);
        assert_eq!(last.days().count(), 31);
        let first = Month::of(NaiveDate::MIN);
        assert_eq!(first.prev(), first);
        assert_eq!(first.first_day(), NaiveDate::MIN);
    }

    #[test]
    fn month_parse_and_display() {
        assert_eq!("2027-05".parse(), Ok(month(2027, 5)));
        assert_eq!("1900-01".parse(), Ok(month(1900, 1)));
        assert_eq!("9999-12".parse(), Ok(month(9999, 12)));
        assert_eq!(month(2027, 5).to_string(), "2027-05");
        assert_eq!(month(1900, 12).to_string(), "1900-12");
        for bad in [
            "2027-5",
            "2027-13",
            "2027-00",
            "abc",
            "2027-05-01",
            "",
            "27-05",
            "1899-12",
            " 2027-05",
            "2027-05 ",
            "2027/05",
            "+202-05",
            "2027-+5",
            "２０２７-05",
            "20270-5",
        ] {
            let err = bad.parse::<Month>().expect_err(bad);
            let msg = err.to_string();
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
            assert!(msg.contains("YYYY-MM"), "{msg}");
        }
        assert_eq!(
            "2027-13".parse::<Month>().map_err(|e| e.to_string()),
            Err(
                r#"invalid month "2027-13" (month must be 01-12); expected YYYY-MM, e.g. 2027-05"#
                    .to_owned()
            )
        );
    }

    #[test]
    fn month_serde_as_string() {
        let m = month(2027, 5);
        assert_eq!(
            serde_json::to_string(&m).ok().as_deref(),
            Some(r#""2027-05""#)
        );
        assert_eq!(serde_json::from_str::<Month>(r#""2027-05""#).ok(), Some(m));
        let err = serde_json::from_str::<Month>(r#""2027-13""#).expect_err("bad month");
        assert!(err.to_string().contains("2027-13"), "{err}");
        assert!(serde_json::from_str::<Month>("202705").is_err());
        // Unreadable months are refused on the way out, not discovered on the way in.
        assert!(serde_json::to_string(&Month::of(ymd(1800, 1, 1))).is_err());
    }

    fn offset_hours(t: &DateTime<chrono_tz::Tz>) -> i32 {
        t.offset().fix().local_minus_utc() / 3600
    }

    #[test]
    fn start_of_day_on_dst_change_days() {
        // DST starts at 02:00 on 28 Mar 2027 and ends at 03:00 on 31 Oct 2027: midnight
        // still has the old offset, and the day is 23 or 25 hours long.
        let cases = [
            (ymd(2027, 3, 28), "2027-03-28T00:00:00+01:00", (1, 2), 23),
            (ymd(2027, 10, 31), "2027-10-31T00:00:00+02:00", (2, 1), 25),
        ];
        for (day, midnight, (before, after), hours) in cases {
            let start = start_of_day(day);
            assert_eq!(offset_hours(&start), before, "{day}");
            assert_eq!(start.to_rfc3339(), midnight);
            let next = start_of_day(day.succ_opt().unwrap());
            assert_eq!(offset_hours(&next), after, "{day}");
            assert_eq!(next - start, TimeDelta::hours(hours), "{day}");
        }
    }

    #[test]
    fn local_date_round_trips_start_of_day() {
        for date in ymd(2019, 12, 25).iter_days().take(366 * 12) {
            let start = start_of_day(date).with_timezone(&Utc);
            assert_eq!(local_date(start), date, "{date}");
            let just_before = start - TimeDelta::nanoseconds(1);
            assert_eq!(local_date(just_before), date.pred_opt().expect("in range"));
        }
    }

    #[test]
    fn local_date_uses_stockholm_time() {
        let utc = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("valid test instant")
                .with_timezone(&Utc)
        };
        assert_eq!(local_date(utc("2027-06-30T22:30:00Z")), ymd(2027, 7, 1));
        assert_eq!(local_date(utc("2027-06-30T21:59:59Z")), ymd(2027, 6, 30));
        assert_eq!(local_date(utc("2027-12-31T23:00:00Z")), ymd(2028, 1, 1));
        assert_eq!(local_date(utc("2027-12-31T22:59:59Z")), ymd(2027, 12, 31));
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        assert_eq!(local_date(DateTime::<Utc>::MAX_UTC), NaiveDate::MAX);
        assert_eq!(local_date(DateTime::<Utc>::MIN_UTC), NaiveDate::MIN);
        assert_eq!(
            local_date(start_of_day(NaiveDate::MAX).to_utc()),
            NaiveDate::MAX
        );
        assert_eq!(
            local_date(start_of_day(NaiveDate::MIN).to_utc()),
            NaiveDate::MIN
        );
    }

    #[test]
    fn start_of_day_when_midnight_is_skipped_or_repeated() {
        // Stockholm never hits these cases; Havana does, so the fallbacks are
        // exercised there. 13 Mar 2022: clocks jumped 00:00 -> 01:00.
        let havana = chrono_tz::America::Havana;
        let gap = start_of_day_in(&havana, ymd(2022, 3, 13));
        assert_eq!(gap.to_rfc3339(), "2022-03-13T01:00:00-04:00");
        let minute_before = gap - TimeDelta::minutes(1);
        assert_eq!(minute_before.date_naive(), ymd(2022, 3, 12));
        // 6 Nov 2022: clocks went 01:00 -> 00:00, so midnight happened twice.
        let overlap = start_of_day_in(&havana, ymd(2022, 11, 6));
        assert_eq!(overlap.to_rfc3339(), "2022-11-06T00:00:00-04:00");
        assert_eq!(
            overlap.offset().fix(),
            FixedOffset::west_opt(4 * 3600).expect("valid offset")
        );
    }
}
