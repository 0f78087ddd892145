//! Extract files as each system writes them (PROTOCOLS.md), with malformed rows mixed in on
//! request, the way a real export sometimes is: a mistyped personnummer, an impossible time, a
//! row cut short.

use loggvakt_connector::AccessEvent;
use serde_json::{Map, Value, json};

use crate::rng::Rng;
use crate::world::Gen;

const TIME: &str = "%Y-%m-%d %H:%M:%S";

pub(crate) const COSMIC_HEADER: [&str; 8] = [
    "Tidpunkt",
    "Användarnamn",
    "Användarens namn",
    "Personnummer",
    "Patientnamn",
    "Vårdenhet",
    "Händelse",
    "Systemdel",
];

pub(crate) const TRESERVA_HEADER: [&str; 8] = [
    "Datum",
    "Tid",
    "Personnummer",
    "Namn",
    "Enhet",
    "H-Typ",
    "Systemdel",
    "Användare",
];

pub(crate) const LIFECARE_HEADER: [&str; 7] = [
    "Tidpunkt",
    "Användare",
    "Namn",
    "Personnummer",
    "Brukare",
    "Enhet",
    "Aktivitet",
];

/// Treserva's words for a row without a link to an organisation.
pub(crate) const NO_UNIT: &str = "Ej tillämplig på enhet";

fn opt(o: &Option<String>) -> String {
    o.clone().unwrap_or_default()
}

/// Cosmic's export, as the journal unit sends it: `;`-separated with a BOM, as a Windows
/// spreadsheet saves it.
pub(crate) fn cosmic_csv(events: &[Gen], malformed: u32, rng: &mut Rng) -> Vec<u8> {
    let rows = events
        .iter()
        .map(|g| {
            let mut row = lifecare_row(&g.event);
            row.push(opt(&g.event.system_part));
            row
        })
        .collect();
    let rows = mix_malformed(rows, malformed, rng, &COSMIC_HEADER, TimeCols::One(0), 3);
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(write_csv(&COSMIC_HEADER, &rows));
    out
}

pub(crate) fn treserva_csv(
    events: &[Gen],
    malformed: u32,
    ip_and_workstation: bool,
    seed: u64,
    rng: &mut Rng,
) -> Vec<u8> {
    let mut header: Vec<&str> = TRESERVA_HEADER.to_vec();
    if ip_and_workstation {
        header.extend(["IP-adress", "Arbetsstation"]);
    }
    let rows = events
        .iter()
        .map(|g| {
            let e = &g.event;
            let mut row = vec![
                e.time.format("%Y-%m-%d").to_string(),
                e.time.format("%H:%M:%S").to_string(),
                e.patient_id.digits().to_owned(),
                opt(&e.patient_name),
                e.care_unit.clone().unwrap_or_else(|| NO_UNIT.to_owned()),
                e.event_text.clone(),
                opt(&e.system_part),
                e.user_id.clone(),
            ];
            if ip_and_workstation {
                // One desk per user, so that the columns look like a real installation's.
                let mut r = Rng::new(seed, &["arbetsstation", &e.user_id]);
                row.push(format!(
                    "10.{}.{}.{}",
                    20 + r.below(40),
                    r.below(256),
                    1 + r.below(250)
                ));
                row.push(format!("SOC-PC{:04}", r.below(10_000)));
            }
            row
        })
        .collect();
    let rows = mix_malformed(rows, malformed, rng, &header, TimeCols::Two(0, 1), 2);
    write_csv(&header, &rows)
}

pub(crate) fn lifecare_csv(events: &[Gen], malformed: u32, rng: &mut Rng) -> Vec<u8> {
    let rows = events.iter().map(|g| lifecare_row(&g.event)).collect();
    let rows = mix_malformed(rows, malformed, rng, &LIFECARE_HEADER, TimeCols::One(0), 3);
    write_csv(&LIFECARE_HEADER, &rows)
}

/// An event in Lifecare's columns, which are also the first seven of Cosmic's.
fn lifecare_row(e: &AccessEvent) -> Vec<String> {
    vec![
        e.time.format(TIME).to_string(),
        e.user_id.clone(),
        opt(&e.user_name),
        e.patient_id.digits().to_owned(),
        opt(&e.patient_name),
        opt(&e.care_unit),
        e.event_text.clone(),
    ]
}

/// Sesam 2's Loggöversikt rows, malformed ones included, in the order they are paged.
pub(crate) fn sesam_rows(events: &[Gen], malformed: u32, rng: &mut Rng) -> Vec<Value> {
    let mut rows: Vec<Value> = events
        .iter()
        .map(|g| {
            let e = &g.event;
            json!({
                "anvandare": e.user_id,
                "datum": e.time.format(TIME).to_string(),
                "handelse": e.event_text,
                "referensnummer": g.reference,
                "mottagare": e.patient_id.digits(),
                "applikation": opt(&e.system_part),
            })
        })
        .collect();
    let good = rows.len();
    for _ in 0..malformed {
        let mut row: Map<String, Value> = if good == 0 {
            placeholder_sesam_row()
        } else {
            match &rows[rng.below(good as u64) as usize] {
                Value::Object(m) => m.clone(),
                _ => placeholder_sesam_row(),
            }
        };
        let mut garble = |field: &str, spoil: fn(&str) -> String| {
            let bad = row.get(field).and_then(Value::as_str).map(spoil);
            row.insert(field.into(), bad.unwrap_or_default().into());
        };
        match rng.below(3) {
            0 => garble("mottagare", break_check_digit),
            1 => garble("datum", break_time),
            _ => {
                row.remove("handelse");
            }
        }
        let at = rng.below(rows.len() as u64 + 1) as usize;
        rows.insert(at, Value::Object(row));
    }
    rows
}

fn placeholder_sesam_row() -> Map<String, Value> {
    match json!({
        "anvandare": "okand",
        "datum": "2000-01-01 08:00:00",
        "handelse": "Hjälper mottagare",
        "referensnummer": "",
        "mottagare": "191212121212",
        "applikation": "Sesam",
    }) {
        Value::Object(m) => m,
        _ => unreachable!("a literal object"),
    }
}

enum TimeCols {
    One(usize),
    /// A date column and a time column.
    Two(usize, usize),
}

fn mix_malformed(
    mut rows: Vec<Vec<String>>,
    n: u32,
    rng: &mut Rng,
    header: &[&str],
    time: TimeCols,
    pnr: usize,
) -> Vec<Vec<String>> {
    let good = rows.len();
    for _ in 0..n {
        // Without a real row to garble, the header's own words make a row no parser accepts.
        let mut row = if good == 0 {
            header.iter().map(|h| (*h).to_owned()).collect()
        } else {
            rows[rng.below(good as u64) as usize].clone()
        };
        match rng.below(3) {
            0 => row[pnr] = break_check_digit(&row[pnr]),
            1 => match time {
                TimeCols::One(c) => row[c] = break_time(&row[c]),
                TimeCols::Two(d, t) => {
                    if rng.chance(0.5) {
                        row[t] = break_time(&row[t]);
                    } else {
                        // 30 February: a date that looks right at a glance.
                        row[d] = format!("{}-02-30", row[d].get(..4).unwrap_or("2000"));
                    }
                }
            },
            _ => {
                let drop = 1 + rng.below(row.len() as u64 - 1) as usize;
                row.remove(drop);
            }
        }
        let at = rng.below(rows.len() as u64 + 1) as usize;
        rows.insert(at, row);
    }
    rows
}

/// The same number with its last digit changed, which the Luhn check always catches.
fn break_check_digit(pnr: &str) -> String {
    let mut s = pnr.to_owned();
    match s.pop() {
        Some(c) if c.is_ascii_digit() => {
            let d = c.to_digit(10).unwrap_or(0);
            s.push(char::from_digit((d + 5) % 10, 10).unwrap_or('0'));
        }
        _ => s.push('X'),
    }
    s
}

/// An hour that does not exist, keeping the rest so the row still looks plausible.
fn break_time(t: &str) -> String {
    match t.find(':') {
        Some(i) if i >= 2 => format!("{}25{}", &t[..i - 2], &t[i..]),
        _ => "25:61:00".to_owned(),
    }
}

fn write_csv(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        // Rows cut short on purpose must still be written.
        .flexible(true)
        .from_writer(Vec::new());
    let written = w
        .write_record(header)
        .and_then(|()| rows.iter().try_for_each(|r| w.write_record(r)));
    debug_assert!(written.is_ok(), "writing to memory cannot fail");
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_values_are_broken() {
        use loggvakt_connector::Personnummer;
        let bad = break_check_digit("191212121212");
        assert!(Personnummer::parse(&bad).is_err());
        assert_eq!(break_time("2027-04-12 08:24:56"), "2027-04-12 25:24:56");
        assert_eq!(break_time("08:24:56"), "25:24:56");
    }
}
