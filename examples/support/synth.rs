//! What the data generators (`gen_extract`, `gen_org`) share: a seeded random source, calendar
//! arithmetic, the personnummer check digit and the flag parser. Only the standard library, so
//! the generators stay independent of the `loggvakt` library they produce input for.

// Each generator uses a part of this file; what one leaves unused is not dead.
#![allow(dead_code)]

/// Sweden's twelve most common surnames: both generators' staff lists begin with them.
pub const COMMON_SURNAMES: [&str; 12] = [
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jönsson",
];

/// [`COMMON_SURNAMES`] followed by `more`, as one list (`N` must be 12 + `M`).
pub const fn surnames<const M: usize, const N: usize>(
    more: [&'static str; M],
) -> [&'static str; N] {
    let common = COMMON_SURNAMES.len();
    assert!(N == common + M, "surnames: N must be 12 + M");
    let mut all = [""; N];
    let mut i = 0;
    while i < N {
        all[i] = if i < common {
            COMMON_SURNAMES[i]
        } else {
            more[i - common]
        };
        i += 1;
    }
    all
}

/// SplitMix64: tiny, fast and good enough for synthetic data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn unit_f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = (if z >= 0 { z } else { z - 146_096 }) / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Swedish check digit over the nine digits YYMMDDNNN (weights 2,1,2,1,…, digit sums).
pub fn luhn_check_digit(nine: &[u8]) -> u8 {
    let sum: u32 = nine
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let p = u32::from(c - b'0') * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// The `--flag value` / `--flag=value` pairs of a command line, each flag one of `known`.
/// `Ok(None)` asks for the usage text (`--help`, `-h`).
pub fn parse_flags(
    mut args: impl Iterator<Item = String>,
    known: &[&str],
) -> Result<Option<Vec<(String, String)>>, String> {
    let mut pairs = Vec::new();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if !known.contains(&flag.as_str()) {
            return Err(format!("unknown argument '{flag}'"));
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        pairs.push((flag, value));
    }
    Ok(Some(pairs))
}

/// A flag's value as a non-negative integer.
pub fn number(flag: &str, value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .map_err(|_| format!("{flag} expects a non-negative integer, got '{value}'"))
}
