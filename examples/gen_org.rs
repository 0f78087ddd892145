//! Writes a large synthetic organisation in the configuration format of `schedules/`
//! (DESIGN.md §4): the input for the `plan` benchmark in BENCHMARKS.md.
//!
//! ```text
//! cargo run --release --example gen_org -- --staff 40000 --units 2000 --out /tmp/bigorg
//! cargo run --release -- --config /tmp/bigorg plan --month 2025-03
//! ```
//!
//! Into `--out DIR` (created if missing) it writes:
//! - `org.toml`: the organisation (with `staff_csv = "staff.csv"`), a unit tree of one root,
//!   about one parent unit (verksamhet) per 20 units and leaf units (enheter) with their
//!   managers; the four systems `cosmic`, `treserva`, `sesam2`, `lifecare`; one monthly
//!   stickprov routine per system over all units.
//! - `staff.csv`: `id,name,unit,email,personnummer,cosmic,treserva,sesam2,lifecare`. Staff are
//!   spread unevenly over the leaf units (about 3 to 60 each, summing exactly to `--staff`);
//!   about 70 % of staff have an account in each system. Usernames are unique per system
//!   (`C8…`, `t…`, six or more digits, `lc…`). Personnummer are made-up test numbers (birth
//!   numbers 980–999, birth dates 1960–2003, valid check digit), a bijection of the staff index,
//!   so all are distinct; the scheme has room for 321 420 of them, staff beyond that get none.
//!
//! Flags: `--staff N` (default 40000), `--units N` (default 2000, at least 2), `--out DIR`
//! (required), `--seed N` (default 1). The same flags give byte-identical output. Only the
//! standard library is used: the example does not depend on the `loggvakt` library.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[path = "support/synth.rs"]
mod synth;
use synth::{Rng, civil_from_days, days_from_civil, luhn_check_digit, number, parse_flags};

const USAGE: &str = "usage: gen_org [--staff N] [--units N] [--seed N] --out DIR";
const DOMAIN: &str = "storkommunen.example";
const SYSTEMS: [&str; 4] = ["cosmic", "treserva", "sesam2", "lifecare"];
/// Share of staff with an account in each system, in percent.
const ACCOUNT_PERCENT: u64 = 70;

const FIRST_NAMES: &[&str] = &[
    "Anna", "Eva", "Maria", "Karin", "Sara", "Lena", "Kerstin", "Emma", "Ingrid", "Malin", "Jenny",
    "Sofia", "Linda", "Annika", "Hanna", "Elin", "Johanna", "Åsa", "Ulrika", "Camilla", "Ida",
    "Frida", "Petra", "Lisa", "Cecilia", "Märta", "Agnes", "Tove", "Fatima", "Amina", "Leila",
    "Renée", "Lars", "Anders", "Johan", "Per", "Erik", "Karl", "Mikael", "Thomas", "Daniel",
    "Fredrik", "Stefan", "Magnus", "Jonas", "Niklas", "Björn", "Göran", "Håkan", "Mohammed",
    "Ahmed", "Ali", "Yusuf", "Omar", "Emil", "Oskar",
];
const LAST_NAMES: [&str; 48] = synth::surnames([
    "Lindberg",
    "Magnusson",
    "Lindström",
    "Lindqvist",
    "Lindgren",
    "Berg",
    "Bergström",
    "Lundberg",
    "Lind",
    "Sjöberg",
    "Wallin",
    "Engström",
    "Eklund",
    "Håkansson",
    "Björk",
    "Holm",
    "Nyström",
    "Söderberg",
    "Löfgren",
    "Mårtensson",
    "Öberg",
    "Åberg",
    "Ström",
    "Ekström",
    "Källström",
    "Ali",
    "Hassan",
    "Mohammed",
    "Yilmaz",
    "Nguyen",
    "Kovacevic",
    "Virtanen",
    "Hedlund",
    "Sundberg",
    "Falk",
    "Nordin",
]);
const LEAF_KINDS: &[&str] = &[
    "Hemtjänst",
    "Särskilt boende",
    "Hemsjukvård",
    "LSS gruppbostad",
    "Daglig verksamhet",
    "Personlig assistans",
    "Korttidsboende",
    "Nattpatrull",
];

/// First and last day of the birth dates used, as days since 1970-01-01.
const FIRST_BIRTH_DAY: i64 = days_from_civil(1960, 1, 1);
const LAST_BIRTH_DAY: i64 = days_from_civil(2003, 12, 31);
const BIRTH_NUMBERS: u64 = 20; // 980..=999
const PERSONNUMMER_CAPACITY: u64 = (LAST_BIRTH_DAY - FIRST_BIRTH_DAY + 1) as u64 * BIRTH_NUMBERS;

struct Args {
    staff: u64,
    units: u64,
    seed: u64,
    out: PathBuf,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let Some(pairs) = parse_flags(args, &["--staff", "--units", "--seed", "--out"])? else {
        return Ok(None);
    };
    let (mut staff, mut units, mut seed, mut out) = (40_000, 2_000, 1, None);
    for (flag, value) in pairs {
        match flag.as_str() {
            "--staff" => staff = number(&flag, &value)?,
            "--units" => units = number(&flag, &value)?,
            "--seed" => seed = number(&flag, &value)?,
            _ if value.is_empty() => return Err("--out needs a directory".into()),
            _ => out = Some(PathBuf::from(value)),
        }
    }
    let out = out.ok_or("--out DIR is required")?;
    if units < 2 {
        return Err(format!(
            "--units must be at least 2 (a root and one leaf), got {units}"
        ));
    }
    let leaves = shape(units).1;
    if staff < leaves {
        return Err(format!(
            "--staff must be at least the number of leaf units ({leaves} for --units {units}), got {staff}"
        ));
    }
    Ok(Some(Args {
        staff,
        units,
        seed,
        out,
    }))
}

/// (parents, leaves) for a tree of `units` units: one root, about one parent per 20 units.
fn shape(units: u64) -> (u64, u64) {
    let parents = (units - 1) / 20;
    (parents, units - 1 - parents)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The `index`-th test personnummer: `(index * stride + offset) mod capacity` is a bijection on
/// `0..capacity` (stride coprime with it), so distinct indices give distinct numbers while
/// neighbouring staff get unrelated birth dates. None once the capacity is used up.
fn personnummer(index: u64, (stride, offset): (u64, u64)) -> Option<String> {
    if index >= PERSONNUMMER_CAPACITY {
        return None;
    }
    let slot =
        ((index as u128 * stride as u128 + offset as u128) % PERSONNUMMER_CAPACITY as u128) as u64;
    let day = FIRST_BIRTH_DAY + (slot / BIRTH_NUMBERS) as i64;
    let birth_number = 980 + slot % BIRTH_NUMBERS;
    let (y, m, d) = civil_from_days(day);
    let nine = format!("{:02}{m:02}{d:02}{birth_number:03}", y % 100);
    let check = luhn_check_digit(nine.as_bytes());
    Some(format!("{y:04}{m:02}{d:02}-{birth_number:03}{check}"))
}

/// A stride coprime with the capacity and an offset, chosen from the seed.
fn personnummer_scheme(rng: &mut Rng) -> (u64, u64) {
    let mut stride = PERSONNUMMER_CAPACITY / 3 + rng.below(PERSONNUMMER_CAPACITY / 3);
    while gcd(stride, PERSONNUMMER_CAPACITY) != 1 {
        stride += 1;
    }
    (stride, rng.below(PERSONNUMMER_CAPACITY))
}

/// Lowercase ASCII for e-mail local parts: å/ä → a, ö → o, é → e; other non-letters dropped.
fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c.to_lowercase().next().unwrap_or(c) {
            'å' | 'ä' => Some('a'),
            'ö' => Some('o'),
            'é' => Some('e'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// Staff per leaf: uneven (many small units, a few large ones), at least 3 where `staff`
/// allows it (never less than 1), summing exactly to `staff`.
fn leaf_sizes(rng: &mut Rng, leaves: u64, staff: u64) -> Vec<u64> {
    let base = (staff / leaves).min(3);
    // Weights 0..57 skewed towards small units; the mean weight is 19.
    let weights: Vec<f64> = (0..leaves)
        .map(|_| {
            let u = rng.unit_f64();
            57.0 * u * u
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let spread = (staff - base * leaves) as f64;
    let mut sizes: Vec<u64> = weights
        .iter()
        .map(|w| base + (spread * w / total.max(f64::MIN_POSITIVE)).floor() as u64)
        .collect();
    let mut assigned: u64 = sizes.iter().sum();
    // Floors leave a remainder smaller than the number of leaves (rounding can, in theory,
    // overshoot by a little, so take back from the largest units).
    while assigned < staff {
        let i = rng.below(leaves) as usize;
        sizes[i] += 1;
        assigned += 1;
    }
    while assigned > staff {
        let i = (0..sizes.len()).max_by_key(|&i| sizes[i]).unwrap_or(0);
        sizes[i] -= 1;
        assigned -= 1;
    }
    sizes
}

struct Unit {
    id: String,
    name: String,
    parent: Option<String>,
    manager: (String, String),
    escalate_to: Option<(String, String)>,
}

fn person(rng: &mut Rng, tag: &str) -> (String, String) {
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(&LAST_NAMES);
    let email = format!("{}.{}.{tag}@{DOMAIN}", ascii_fold(first), ascii_fold(last));
    (format!("{first} {last}"), email)
}

fn contact(c: &(String, String)) -> String {
    format!("{{ name = \"{}\", email = \"{}\" }}", c.0, c.1)
}

fn write_toml(path: &Path, units: &[Unit]) -> io::Result<()> {
    let mut t = String::with_capacity(units.len() * 200 + 4096);
    t.push_str(
        "# Synthetic organisation written by `cargo run --release --example gen_org`.\n\
         # Made-up data for benchmarks; the staff are in staff.csv.\n\n\
         [organisation]\n\
         name = \"Storkommunen (syntetisk)\"\n\
         timezone = \"Europe/Stockholm\"\n\
         staff_csv = \"staff.csv\"\n",
    );
    for u in units {
        let _ = write!(t, "\n[[unit]]\nid = \"{}\"\nname = \"{}\"\n", u.id, u.name);
        if let Some(p) = &u.parent {
            let _ = writeln!(t, "parent = \"{p}\"");
        }
        let _ = writeln!(t, "manager = {}", contact(&u.manager));
        if let Some(e) = &u.escalate_to {
            let _ = writeln!(t, "escalate_to = {}", contact(e));
        }
    }
    let _ = write!(
        t,
        "\n[[system]]\nid = \"cosmic\"\nconnector = \"cosmic\"\n\
         settings = {{ order_to = \"journalenheten@region.example\", max_users_per_order = 3, \
         recipient_phone = \"070-174 06 50\", recipient_email = \"loggkontroll@{DOMAIN}\" }}\n\
         \n[[system]]\nid = \"treserva\"\nconnector = \"treserva\"\n\
         settings = {{ portal_url = \"http://127.0.0.1:8481\", requester_email = \"verksamhetschef@{DOMAIN}\" }}\n\
         \n[[system]]\nid = \"sesam2\"\nconnector = \"sesam2\"\n\
         settings = {{ base_url = \"http://127.0.0.1:8482\" }}\n\
         \n[[system]]\nid = \"lifecare\"\nconnector = \"lifecare\"\n\
         settings = {{ base_url = \"http://127.0.0.1:8483\", admin_mailbox = \"systemforvaltare\", \
         sender = \"enhetschef\" }}\n"
    );
    for system in SYSTEMS {
        let _ = write!(
            t,
            "\n[[routine]]\nid = \"stickprov-{system}\"\nkind = \"stickprov\"\nsystem = \"{system}\"\n\
             units = [\"*\"]\ncadence = \"monthly\"\n\
             window = {{ first_days = 7, weekdays_only = true, skip_holidays = true }}\n\
             sample = {{ fraction = 0.10, min = 1 }}\nreview_period_hours = 24\ndeadline_days = 14\n"
        );
    }
    fs::write(path, t)
}

struct Counts {
    accounts: [u64; 4],
    personnummer: u64,
}

fn write_staff(
    path: &Path,
    rng: &mut Rng,
    leaves: &[&Unit],
    sizes: &[u64],
    staff: u64,
) -> io::Result<Counts> {
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    writeln!(out, "id,name,unit,email,personnummer,{}", SYSTEMS.join(","))?;
    let width = staff.to_string().len().max(4);
    let scheme = personnummer_scheme(rng);
    let mut counts = Counts {
        accounts: [0; 4],
        personnummer: 0,
    };
    let mut index = 0u64;
    for (unit, &size) in leaves.iter().zip(sizes) {
        for _ in 0..size {
            let n = index + 1;
            let first = rng.pick(FIRST_NAMES);
            let last = rng.pick(&LAST_NAMES);
            let email = if rng.below(10) < 9 {
                format!("{}.{}.{n}@{DOMAIN}", ascii_fold(first), ascii_fold(last))
            } else {
                String::new()
            };
            let pnr = if rng.below(100) < 95 {
                personnummer(index, scheme).unwrap_or_default()
            } else {
                String::new()
            };
            counts.personnummer += u64::from(!pnr.is_empty());
            write!(out, "s{n:0width$},{first} {last},{},{email},{pnr}", unit.id)?;
            for (s, count) in counts.accounts.iter_mut().enumerate() {
                let has = rng.below(100) < ACCOUNT_PERCENT;
                *count += u64::from(has);
                match (has, s) {
                    (false, _) => write!(out, ",")?,
                    (true, 0) => write!(out, ",C8{n:0w$}", w = width.max(5))?,
                    (true, 1) => write!(out, ",t{n}")?,
                    (true, 2) => write!(out, ",{}", 100_000 + index)?,
                    (true, _) => write!(out, ",lc{n}")?,
                }
            }
            writeln!(out)?;
            index += 1;
        }
    }
    out.flush()?;
    Ok(counts)
}

fn run(args: &Args) -> io::Result<String> {
    let mut rng = Rng(args.seed ^ 0x6C6F_6767_7661_6B74); // "loggvakt"
    let (parents, leaves) = shape(args.units);
    let root_id = "forvaltningen".to_owned();
    let mut units = vec![Unit {
        id: root_id.clone(),
        name: "Omsorgsförvaltningen".into(),
        parent: None,
        manager: person(&mut rng, "kvalitet"),
        escalate_to: Some(person(&mut rng, "forvaltningschef")),
    }];
    let parent_width = parents.to_string().len().max(3);
    let leaf_width = leaves.to_string().len().max(4);
    let mut leaf_index = Vec::with_capacity(leaves as usize);
    let mut next_leaf = 0;
    for p in 0..parents.max(1) {
        let parent_id = if parents == 0 {
            root_id.clone()
        } else {
            let id = format!("verksamhet-{:0parent_width$}", p + 1);
            let chef = person(&mut rng, &id);
            units.push(Unit {
                id: id.clone(),
                name: format!("Verksamhet {}", p + 1),
                parent: Some(root_id.clone()),
                manager: chef.clone(),
                escalate_to: Some(chef),
            });
            id
        };
        // Leaves are split evenly over the parents, in order.
        let end = (p + 1) * leaves / parents.max(1);
        while next_leaf < end {
            let id = format!("enhet-{:0leaf_width$}", next_leaf + 1);
            let kind = LEAF_KINDS[rng.below(LEAF_KINDS.len() as u64) as usize];
            leaf_index.push(units.len());
            units.push(Unit {
                name: format!("{kind} {}", next_leaf + 1),
                parent: Some(parent_id.clone()),
                manager: person(&mut rng, &id),
                escalate_to: None,
                id,
            });
            next_leaf += 1;
        }
    }
    fs::create_dir_all(&args.out)?;
    let toml_path = args.out.join("org.toml");
    let csv_path = args.out.join("staff.csv");
    write_toml(&toml_path, &units)?;
    let sizes = leaf_sizes(&mut rng, leaves, args.staff);
    let leaf_units: Vec<&Unit> = leaf_index.iter().map(|&i| &units[i]).collect();
    let counts = write_staff(&csv_path, &mut rng, &leaf_units, &sizes, args.staff)?;
    let (min, max) = (sizes.iter().min(), sizes.iter().max());
    let accounts: Vec<String> = SYSTEMS
        .iter()
        .zip(counts.accounts)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    Ok(format!(
        "wrote {} and {}: {} units (1 root, {parents} parent and {leaves} leaf units of {}–{} staff), \
         {} staff, accounts {}, {} personnummer, 4 systems, 4 routines",
        toml_path.display(),
        csv_path.display(),
        units.len(),
        min.unwrap_or(&0),
        max.unwrap_or(&0),
        args.staff,
        accounts.join(" / "),
        counts.personnummer,
    ))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(reason) => {
            eprintln!("gen_org: {reason} ({USAGE})");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_org: cannot write {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}
