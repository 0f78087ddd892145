//! Reading what was ordered out of free text (Cosmic's order mail, Lifecare's message), the
//! way the human at the other end does: a line with a username and two times is that user's
//! period, a line with two times and no username is the period for everyone, a personnummer
//! makes it an order for a patient's accesses.

use chrono::NaiveDateTime;
use loggvakt_connector::Personnummer;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OrderSpec {
    pub(crate) users: Vec<(String, NaiveDateTime, NaiveDateTime)>,
    pub(crate) patient: Option<(Personnummer, NaiveDateTime, NaiveDateTime)>,
}

impl OrderSpec {
    pub(crate) fn is_empty(&self) -> bool {
        self.users.is_empty() && self.patient.is_none()
    }
}

/// The time forms people and connectors write: `2027-04-12 00:00`, with seconds, with `T`,
/// or a bare date meaning midnight.
pub(crate) fn parse_dt(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// Date-times in `line`, as (start, end, value), in order.
fn find_datetimes(line: &str) -> Vec<(usize, usize, NaiveDateTime)> {
    let b = line.as_bytes();
    let digits = |from: usize, n: usize| {
        b.get(from..from + n)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // `LV-2027-05-17-1` is a reference, not a date.
        let reference_part = i >= 2 && b[i - 1] == b'-' && b[i - 2].is_ascii_alphabetic();
        let starts = (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && !reference_part
            && digits(i, 4)
            && at(i + 4, b'-')
            && digits(i + 5, 2)
            && at(i + 7, b'-')
            && digits(i + 8, 2)
            && !b.get(i + 10).is_some_and(u8::is_ascii_digit);
        if !starts {
            i += 1;
            continue;
        }
        let mut end = i + 10;
        if (at(end, b' ') || at(end, b'T'))
            && digits(end + 1, 2)
            && at(end + 3, b':')
            && digits(end + 4, 2)
        {
            end += 6;
            if at(end, b':') && digits(end + 1, 2) {
                end += 3;
            }
        }
        if let Some(t) = parse_dt(&line[i..end]) {
            out.push((i, end, t));
        }
        i = end;
    }
    out
}

/// Personnummer written as `YYYYMMDD-NNNN` or 12 digits, outside the given date ranges.
fn find_personnummer(line: &str) -> Vec<Personnummer> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && b[i - 1].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let run = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let end = if run == 8
            && b.get(i + 8) == Some(&b'-')
            && b[i + 9..].iter().take_while(|c| c.is_ascii_digit()).count() == 4
        {
            i + 13
        } else if run == 12 {
            i + 12
        } else {
            i += run.max(1);
            continue;
        };
        if let Ok(p) = Personnummer::parse(&line[i..end]) {
            out.push(p);
        }
        i = end;
    }
    out
}

fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c.is_whitespace() || ",;:()[]<>\"'–*•".contains(c))
        .filter(|t| !t.is_empty())
}

fn looks_like_username(t: &str) -> bool {
    (2..=32).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && t.chars().any(|c| c.is_ascii_digit())
        && t.chars().any(|c| c.is_ascii_alphanumeric())
        && !t.starts_with('-')
}

/// Reads an order out of `text`; `known` says whether a token is a username of the system.
pub(crate) fn parse_order_text(text: &str, known: &dyn Fn(&str) -> bool) -> OrderSpec {
    let mut global: Option<(NaiveDateTime, NaiveDateTime)> = None;
    let mut users: Vec<(String, Option<(NaiveDateTime, NaiveDateTime)>)> = Vec::new();
    let mut patient: Option<(Personnummer, Option<(NaiveDateTime, NaiveDateTime)>)> = None;

    for line in text.lines() {
        let dts = find_datetimes(line);
        let period = (dts.len() >= 2 && dts[0].2 < dts[1].2).then(|| (dts[0].2, dts[1].2));
        let pnrs = find_personnummer(line);
        let prefix = match dts.first() {
            Some((start, _, _)) if period.is_some() => &line[..*start],
            _ => line,
        };
        let user = tokens(prefix)
            .find(|t| known(t))
            .map(str::to_owned)
            .or_else(|| {
                period.and_then(|_| {
                    tokens(prefix)
                        .last()
                        .filter(|t| looks_like_username(t) && Personnummer::parse(t).is_err())
                        .map(str::to_owned)
                })
            });
        if let Some(p) = pnrs.into_iter().next() {
            if patient.is_none() {
                patient = Some((p, period));
            }
        } else if let Some(u) = user {
            if !users.iter().any(|(v, _)| v.eq_ignore_ascii_case(&u)) {
                users.push((u, period));
            }
        } else if let Some(p) = period {
            global.get_or_insert(p);
        }
    }

    OrderSpec {
        users: users
            .into_iter()
            .filter_map(|(u, p)| p.or(global).map(|(f, t)| (u, f, t)))
            .collect(),
        patient: patient.and_then(|(p, per)| per.or(global).map(|(f, t)| (p, f, t))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        parse_dt(s).unwrap()
    }

    #[test]
    fn per_user_periods_and_a_global_period() {
        let text = "Beställning av loggutdrag LV-2027-04-1\n\
                    \n\
                    Användare och perioder:\n\
                    - C821234: 2027-04-12 00:00 – 2027-04-13 00:00\n\
                    - C821999: 2027-04-14 00:00 – 2027-04-15 00:00\n\
                    Anna Andersson (L4711)\n\
                    Period: 2027-04-01 00:00 – 2027-05-01 00:00\n\
                    Mottagare: Eva Chef, telefon 070-123 45 67, eva.chef@kommun.example\n";
        let known = |t: &str| t == "L4711";
        let spec = parse_order_text(text, &known);
        assert_eq!(
            spec.users,
            vec![
                (
                    "C821234".into(),
                    dt("2027-04-12 00:00"),
                    dt("2027-04-13 00:00")
                ),
                (
                    "C821999".into(),
                    dt("2027-04-14 00:00"),
                    dt("2027-04-15 00:00")
                ),
                (
                    "L4711".into(),
                    dt("2027-04-01 00:00"),
                    dt("2027-05-01 00:00")
                ),
            ]
        );
        assert!(spec.patient.is_none());
        assert!(!spec.is_empty());
    }

    #[test]
    fn the_cosmic_order_template_as_rendered() {
        let text = "Hej!\n\nVi beställer loggutdrag ur Cosmic för loggkontroll av användarna nedan.\n\
            Varje användare granskas över sin egen period (svensk tid, från och med\n\
            starttiden till sluttiden).\n\n\
            Beställningsreferens: LV-2027-05-17-1\n\n\
            C821234: 2027-05-03 00:00 – 2027-05-04 00:00\n\
            C821235: 2027-05-05 00:00 – 2027-05-06 00:00\n\n\
            Rapporten skickas till:\nEva Chef\n\
            Telefon (för lösenordet till filen): 070-123 45 67\n\
            Postadress: Storgatan 1, 123 45 Staden\n\n\
            Ange beställningsreferensen LV-2027-05-17-1 när rapporten skickas.\n";
        let spec = parse_order_text(text, &|_| false);
        assert_eq!(
            spec.users,
            vec![
                (
                    "C821234".into(),
                    dt("2027-05-03 00:00"),
                    dt("2027-05-04 00:00")
                ),
                (
                    "C821235".into(),
                    dt("2027-05-05 00:00"),
                    dt("2027-05-06 00:00")
                ),
            ]
        );
        assert!(spec.patient.is_none());
    }

    #[test]
    fn a_patient_order() {
        let text = "Patient: 19121212-1212\nPeriod 2027-01-01 – 2027-02-01T12:30:00\n";
        let spec = parse_order_text(text, &|_| false);
        let (p, from, to) = spec.patient.unwrap();
        assert_eq!(p.digits(), "191212121212");
        assert_eq!(from, dt("2027-01-01"));
        assert_eq!(to, dt("2027-02-01 12:30:00"));
        assert!(spec.users.is_empty());
    }

    #[test]
    fn nothing_to_read() {
        let spec = parse_order_text("Hej, kan ni skicka loggen?", &|_| false);
        assert!(spec.is_empty());
        // A user without any period is not an order either.
        let spec = parse_order_text("C821234", &|t| t == "C821234");
        assert!(spec.is_empty());
    }
}
