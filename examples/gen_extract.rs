//! Writes a large synthetic access-log extract in the normalised CSV form (DESIGN.md §6)
//! with planted anomalies, and the staff and lists that go with it: the input for the
//! `analyze` benchmark in BENCHMARKS.md.
//!
//! ```text
//! cargo run --release --example gen_extract -- --rows 10000000 --out /tmp/extract
//! loggvakt analyze /tmp/extract/extract.csv --staff /tmp/extract/staff.csv \
//!     --protected /tmp/extract/protected.csv --watchlist /tmp/extract/watchlist.csv
//! ```
//!
//! Into `--out DIR` (default `.`, created if missing) it writes:
//! - `extract.csv`: `--rows` rows (about 115 bytes each) from one system, `cosmic`, over March
//!   2027 (with Easter and the change to summer time), day by day. Day staff work Monday to
//!   Friday 07:00–18:00 and read records of their unit's patients, naming their unit in
//!   `care_unit`; night staff (every twelfth unit) work 21:00–07:30 every day. About 2 % of
//!   `event_text` cells are quoted and hold a comma.
//! - `staff.csv`: `id,name,unit,email,personnummer,cosmic,working_hours`, `--staff` people
//!   (default 20000) in units of 20.
//! - `protected.csv` and `watchlist.csv`: `personnummer` lists of patients.
//!
//! Planted, per row: own record (0.03 %), a patient with the user's surname (0.03 %), a
//! coworker's record (0.03 %), another unit's patient (0.2 %), day staff outside their hours
//! (0.3 %), a few users not in the staff list (0.1 %), and two users who read far more
//! patients than their peers (volume_spike); protected and watched patients turn up among
//! ordinary reads. Counts are printed on stderr. `analyze` flags about 0.7 % of the rows.
//!
//! `--profile region` makes a region's 24-hour care instead, where about 45 % of the rows
//! get a flag: every day is as busy as a weekday but a little quieter at weekends, the day
//! staff (registered with the default hours) also work evening and night shifts and
//! weekends, and about one read in ten is of another unit's patient (staff helping out
//! elsewhere). The planted anomalies above come on top. The default profile's file is the
//! same as before the option existed.
//!
//! Personnummer are made up (patients: birth numbers 001–979, as 000 is not a valid one;
//! staff: 980–999, so the two never meet), with valid check digits. The same flags give
//! byte-identical files. Only the standard library is used.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[path = "support/synth.rs"]
mod synth;
use synth::{Rng, civil_from_days, days_from_civil, luhn_check_digit, number, parse_flags};

const USAGE: &str =
    "usage: gen_extract --rows N [--staff N] [--seed N] [--out DIR] [--profile default|region]";

const FIRST_NAMES: &[&str] = &[
    "Anna", "Eva", "Maria", "Karin", "Sara", "Lena", "Kerstin", "Emma", "Ingrid", "Malin", "Sofia",
    "Hanna", "Elin", "Åsa", "Frida", "Petra", "Märta", "Agnes", "Fatima", "Lars", "Anders",
    "Johan", "Per", "Erik", "Karl", "Mikael", "Björn", "Göran", "Håkan", "Ahmed", "Omar", "Oskar",
];
/// Staff surnames; patients' are compounds of the lists below, so they never share one by
/// chance and every same_surname flag is a planted one.
const STAFF_SURNAMES: [&str; 18] = synth::surnames([
    "Hassan",
    "Nguyen",
    "Virtanen",
    "Yilmaz",
    "Kovacevic",
    "Mårtensson",
]);
const PATIENT_PREFIX: &[&str] = &[
    "Alm", "Ek", "Gran", "Asp", "Hag", "Ljung", "Rosen", "Sand", "Wik", "Ström", "Björk", "Dahl",
    "Fors", "Holm", "Lund", "Nord", "Sjö", "Öst",
];
const PATIENT_SUFFIX: &[&str] = &[
    "kvist", "gren", "dahl", "blad", "mark", "qvist", "vall", "by", "ling", "stedt",
];
const UNIT_KINDS: &[(&str, &str)] = &[
    ("hemtjanst", "Hemtjänst"),
    ("hemsjukvard", "Hemsjukvård"),
    ("sarskilt-boende", "Särskilt boende"),
    ("lss-gruppbostad", "LSS gruppbostad"),
];
const NIGHT_HOURS: &str = "mon-sun 21:00-07:30 holidays";
const STAFF_PER_UNIT: u64 = 20;
/// March 2027: Långfredagen is the 26th, Annandag påsk the 29th; weekends are added below.
const YEAR: i64 = 2027;
const MONTH: i64 = 3;
const DAYS: i64 = 31;
const HOLIDAYS: &[i64] = &[26, 29];

/// Whose work the extract shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// A municipality's day care with night patrols: few flags.
    Default,
    /// A region's 24-hour care: night and weekend shifts, reads across units.
    Region,
}

struct Args {
    rows: u64,
    staff: u64,
    seed: u64,
    out: PathBuf,
    profile: Profile,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let Some(pairs) = parse_flags(args, &["--rows", "--staff", "--seed", "--out", "--profile"])?
    else {
        return Ok(None);
    };
    let (mut rows, mut staff, mut seed, mut out) = (None, 20_000, 1, PathBuf::from("."));
    let mut profile = Profile::Default;
    for (flag, value) in pairs {
        match flag.as_str() {
            "--rows" => rows = Some(number(&flag, &value)?),
            "--staff" => staff = number(&flag, &value)?,
            "--seed" => seed = number(&flag, &value)?,
            "--profile" => {
                profile = match value.as_str() {
                    "default" => Profile::Default,
                    "region" => Profile::Region,
                    _ => {
                        return Err(format!(
                            "--profile must be default or region, not '{value}'"
                        ));
                    }
                }
            }
            _ => out = PathBuf::from(value),
        }
    }
    let rows = rows.ok_or("--rows N is required")?;
    if staff < 2 * STAFF_PER_UNIT {
        return Err(format!("--staff must be at least {}", 2 * STAFF_PER_UNIT));
    }
    Ok(Some(Args {
        rows,
        staff,
        seed,
        out,
        profile,
    }))
}

const FIRST_BIRTH_DAY: i64 = days_from_civil(1930, 1, 1);
const BIRTH_DAYS: u64 = (days_from_civil(2020, 12, 31) - FIRST_BIRTH_DAY + 1) as u64;

/// The `index`-th personnummer with birth numbers from `first_birth_number`, as 12 digits.
fn personnummer(index: u64, first_birth_number: u64) -> String {
    let day = FIRST_BIRTH_DAY + ((index * 7_919) % BIRTH_DAYS) as i64;
    let birth_number = first_birth_number + index / BIRTH_DAYS;
    let (y, m, d) = civil_from_days(day);
    let nine = format!("{:02}{m:02}{d:02}{birth_number:03}", y % 100);
    let check = luhn_check_digit(nine.as_bytes());
    format!("{y:04}{m:02}{d:02}{birth_number:03}{check}")
}

struct Person {
    first: &'static str,
    surname: String,
    pnr: String,
}

struct Staff {
    person: Person,
    unit: u64,
    username: String,
    night: bool,
}

fn patient(k: u64) -> Person {
    let n = FIRST_NAMES.len() as u64;
    let p = PATIENT_PREFIX.len() as u64;
    Person {
        first: FIRST_NAMES[(k % n) as usize],
        surname: format!(
            "{}{}",
            PATIENT_PREFIX[((k / n) % p) as usize],
            PATIENT_SUFFIX[((k / n / p) % PATIENT_SUFFIX.len() as u64) as usize]
        ),
        pnr: personnummer(k, 1),
    }
}

/// A unit's (id stem, name stem): every twelfth unit is a night patrol.
fn unit_kind(u: u64, night: bool) -> (&'static str, &'static str) {
    if night {
        ("nattpatrull", "Nattpatrull")
    } else {
        UNIT_KINDS[(u % UNIT_KINDS.len() as u64) as usize]
    }
}

fn unit_id(u: u64, night: bool) -> String {
    format!("{}-{u:04}", unit_kind(u, night).0)
}

fn unit_name(u: u64, night: bool) -> String {
    format!("{} {u:04}", unit_kind(u, night).1)
}

#[derive(Default)]
struct Planted {
    self_access: u64,
    same_surname: u64,
    coworker: u64,
    other_unit: u64,
    off_hours: u64,
    /// Region profile: evening, night and weekend work of day staff, reads in other units.
    shifts: u64,
    across_units: u64,
    unknown_user: u64,
    spike_rows: u64,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gen_extract: {e}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match generate(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_extract: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(args: &Args) -> io::Result<()> {
    fs::create_dir_all(&args.out)?;
    let mut rng = Rng(args.seed);
    let units = args.staff.div_ceil(STAFF_PER_UNIT);
    // Every twelfth unit, and the last, so that there is always a night team.
    let is_night = |u: u64| u % 12 == 11 || u == units - 1;
    let patients = (args.rows / 5).clamp(1_000, 200_000);
    let panel = (patients / units).max(20);

    let staff: Vec<Staff> = (0..args.staff)
        .map(|k| {
            let unit = k / STAFF_PER_UNIT;
            Staff {
                person: Person {
                    first: FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize],
                    surname: STAFF_SURNAMES[rng.below(STAFF_SURNAMES.len() as u64) as usize]
                        .to_owned(),
                    pnr: personnummer(k, 980),
                },
                unit,
                username: format!("C{:06}", 100_000 + k),
                night: is_night(unit),
            }
        })
        .collect();
    let day_staff: Vec<usize> = (0..staff.len()).filter(|&i| !staff[i].night).collect();
    let night_staff: Vec<usize> = (0..staff.len()).filter(|&i| staff[i].night).collect();
    // Two day workers who read far more patients than their peers.
    let spikers = [day_staff[1], day_staff[day_staff.len() / 2]];

    let mut w = BufWriter::with_capacity(1 << 20, File::create(args.out.join("staff.csv"))?);
    writeln!(w, "id,name,unit,email,personnummer,cosmic,working_hours")?;
    for (k, s) in staff.iter().enumerate() {
        writeln!(
            w,
            "s{k:05},{} {},{},,{},{},{}",
            s.person.first,
            s.person.surname,
            unit_id(s.unit, s.night),
            s.person.pnr,
            s.username,
            if s.night { NIGHT_HOURS } else { "" }
        )?;
    }
    w.flush()?;
    for (file, every, offset) in [("protected.csv", 1_000, 0), ("watchlist.csv", 2_000, 7)] {
        let mut w = BufWriter::new(File::create(args.out.join(file))?);
        writeln!(w, "personnummer,note")?;
        for k in (offset..patients).step_by(every) {
            writeln!(w, "{},syntetisk", patient(k).pnr)?;
        }
        w.flush()?;
    }

    // Rows per day: non-working days (weekends, holidays) have only the night staff's share,
    // except in 24-hour care.
    let region = args.profile == Profile::Region;
    let first_day = days_from_civil(YEAR, MONTH, 1);
    let working = |d: i64| {
        let weekday = (first_day + d - 1 + 3).rem_euclid(7); // 0 = Monday
        weekday < 5 && !HOLIDAYS.contains(&d)
    };
    let quiet_day = if region { 8 } else { 3 };
    let weights: Vec<u64> = (1..=DAYS)
        .map(|d| if working(d) { 10 } else { quiet_day })
        .collect();
    let total: u64 = weights.iter().sum();
    let mut per_day: Vec<u64> = weights.iter().map(|w| args.rows * w / total).collect();
    per_day[0] += args.rows - per_day.iter().sum::<u64>();

    let mut planted = Planted::default();
    let mut w = BufWriter::with_capacity(1 << 20, File::create(args.out.join("extract.csv"))?);
    writeln!(
        w,
        "time,system,user_id,user_name,patient_id,patient_name,care_unit,action,event_text,system_part"
    )?;
    let spike_share = 6_000_000 / args.staff; // per million rows, per spiker: six times a user's share
    for (d, &n) in (1..=DAYS).zip(&per_day) {
        let workday = working(d);
        for _ in 0..n {
            let r = rng.below(1_000_000);
            // In 24-hour care the day staff work every day; the night teams keep their share.
            let night = (!region && !workday) || rng.below(100) < 8;
            let pool = if night { &night_staff } else { &day_staff };
            let mut user = pool[rng.below(pool.len() as u64) as usize];
            let spike = workday && (10_000..10_000 + 2 * spike_share.min(200_000)).contains(&r);
            if spike {
                user = spikers[(r % 2) as usize];
                planted.spike_rows += 1;
            }
            let s = &staff[user];
            let mut minute = if s.night {
                let m = rng.below(630); // 21:00–07:29
                (21 * 60 + m) % 1440
            } else if region {
                // Day, evening and night shifts: 07–15, 15–22, 22–07.
                let shift = match rng.below(100) {
                    0..70 => 7 * 60 + rng.below(8 * 60),
                    70..90 => 15 * 60 + rng.below(7 * 60),
                    _ => (22 * 60 + rng.below(9 * 60)) % 1440,
                };
                if !workday || !(7 * 60..18 * 60).contains(&shift) {
                    planted.shifts += 1;
                }
                shift
            } else {
                7 * 60 + rng.below(660)
            };
            let mut k = if spike {
                rng.below(patients)
            } else {
                (s.unit * panel + rng.below(panel)) % patients
            };
            let p = patient(k);
            let (mut pnr, mut first, mut surname) = (p.pnr, p.first, p.surname);
            let mut unit = unit_name(s.unit, s.night);
            if region && rng.below(10) == 0 {
                planted.across_units += 1;
                let other = (s.unit + 1 + rng.below(units - 1)) % units;
                unit = unit_name(other, is_night(other));
            }
            let mut username = s.username.clone();
            let mut user_name = format!("{} {}", s.person.first, s.person.surname);
            match r {
                0..300 => {
                    planted.self_access += 1;
                    pnr = s.person.pnr.clone();
                    (first, surname) = (s.person.first, s.person.surname.clone());
                }
                300..600 => {
                    planted.same_surname += 1;
                    surname = s.person.surname.clone();
                }
                600..900 => {
                    planted.coworker += 1;
                    let mut other = rng.below(staff.len() as u64) as usize;
                    if other == user {
                        other = (other + 1) % staff.len();
                    }
                    let o = &staff[other].person;
                    (pnr, first, surname) = (o.pnr.clone(), o.first, o.surname.clone());
                }
                900..2_900 => {
                    planted.other_unit += 1;
                    let other = (s.unit + 1 + rng.below(units - 1)) % units;
                    unit = unit_name(other, is_night(other));
                }
                2_900..5_900 if !s.night => {
                    planted.off_hours += 1;
                    minute = if r.is_multiple_of(2) {
                        18 * 60 + rng.below(360)
                    } else {
                        rng.below(7 * 60)
                    };
                }
                5_900..6_900 => {
                    planted.unknown_user += 1;
                    username = format!("EXT{:02}", r % 20);
                    user_name = "Extern konsult".into();
                    k = rng.below(patients);
                    let p = patient(k);
                    (pnr, first, surname) = (p.pnr, p.first, p.surname);
                }
                _ => {}
            }
            let (action, text) = match rng.below(100) {
                0..85 => ("read", "Läst"),
                85..95 => ("write", "Dokumentation"),
                95..97 => ("sign", "Signerat"),
                97..98 => ("print", "Utskrift"),
                _ => ("emergency_open", "Nödöppning"),
            };
            let quoted = rng.below(50) == 0;
            let part = if rng.below(10) == 0 { "Journal" } else { "" };
            let (y, m, dd) = civil_from_days(first_day + d - 1);
            writeln!(
                w,
                "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02},cosmic,{username},{user_name},{pnr},{first} {surname},{unit},{action},{},{part}",
                minute / 60,
                minute % 60,
                rng.below(60),
                if quoted { "\"Läst, översikt\"" } else { text },
            )?;
        }
    }
    w.flush()?;
    eprintln!(
        "gen_extract: {} rows, {} staff in {units} units, {patients} patients into {}; planted: \
         self_access {}, same_surname {}, coworker {}, other unit {}, off hours {}, unknown users {}, \
         volume spike rows {} (users {} and {}){}",
        args.rows,
        args.staff,
        args.out.display(),
        planted.self_access,
        planted.same_surname,
        planted.coworker,
        planted.other_unit,
        planted.off_hours,
        planted.unknown_user,
        planted.spike_rows,
        staff[spikers[0]].username,
        staff[spikers[1]].username,
        if region {
            format!(
                "; region: outside the day hours {}, in other units {}",
                planted.shifts, planted.across_units
            )
        } else {
            String::new()
        },
    );
    Ok(())
}
