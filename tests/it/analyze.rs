//! `loggvakt analyze` end to end: planted anomalies found on their lines, the JSON and CSV
//! outputs, malformed rows and missing files.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{self, EXTRACT_HEADER, Run, personnummer, run};

const STAFF: &str = "\
id,name,unit,email,personnummer,cosmic,working_hours
s1,Eva Lind,hemtjanst-norr,,19800414-9988,C1,
s2,Nils Natt,nattpatrullen,,19960911-9822,C2,mon-sun 21:00-07:30 holidays
s3,Per Berg,hemtjanst-norr,,20011112-9888,C3,
";

/// Each row with the codes it must get; the header is line 1, so row `i` is line `i + 2`.
const ROWS: &[(&str, &[&str])] = &[
    (
        "2027-05-04T10:00:00,cosmic,C1,Eva Lind,191212121212,Tolvan Tolvansson,Hemtjänst Norr,read,Läst,Journal",
        &[],
    ),
    (
        "2027-05-08T23:14:00,cosmic,C1,Eva Lind,191212121212,Tolvan Tolvansson,Hemtjänst Norr,read,Läst,Journal",
        &["off_hours"],
    ),
    (
        "2027-05-04T10:01:00,cosmic,C1,Eva Lind,198004149988,Eva Lind,Hemtjänst Norr,read,Läst,Journal",
        &["self_access"],
    ),
    (
        "2027-05-04T10:02:00,cosmic,C1,Eva Lind,191212121212,Olle Lind,Hemtjänst Norr,read,Läst,Journal",
        &["same_surname"],
    ),
    (
        "2027-05-04T10:03:00,cosmic,C1,Eva Lind,19960911-9822,Nils Natt,Hemtjänst Norr,read,Läst,Journal",
        &["coworker"],
    ),
    (
        "2027-05-04T10:04:00,cosmic,C3,Per Berg,197605079826,,hemtjanst-norr,print,Utskrift,Journal",
        &["protected_identity"],
    ),
    (
        "2027-05-04T10:05:00,cosmic,C3,Per Berg,197802099908,,HEMTJÄNST NORR,read,Läst,Journal",
        &["watchlist"],
    ),
    (
        "2027-05-04T10:06:00,cosmic,C1,Eva Lind,191212121212,Tolvan Tolvansson,Hemtjänst Syd,read,Läst,Journal",
        &["no_care_relation"],
    ),
    (
        "2027-05-04T03:00:00,cosmic,C2,Nils Natt,191212121212,Tolvan Tolvansson,Nattpatrullen,read,Läst,Journal",
        &[],
    ),
    (
        "2027-05-04T10:07:00,cosmic,C3,Per Berg,191212121212,\"Tolvansson, Tolvan\",Ej tillämplig på enhet,read,\"Läst, \"\"översikt\"\"\",",
        &[],
    ),
    (
        "2027-05-04T11:00:00,cosmic,EXT1,Extern,191212121212,Tolvan Tolvansson,Hemtjänst Syd,emergency_open,Nödöppning,Journal",
        &[],
    ),
    (
        "2026-12-25T02:00:00,cosmic,C2,Nils Natt,191212121212,Tolvan Tolvansson,Nattpatrullen,read,Läst,Journal",
        &[],
    ),
    (
        "2026-12-25T10:00:00,cosmic,C1,Eva Lind,191212121212,Olle Lind,Hemtjänst Syd,read,Läst,Journal",
        &["off_hours", "same_surname", "no_care_relation"],
    ),
];

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(rows: &[&str]) -> Self {
        Self::with_staff(rows, STAFF)
    }

    fn with_staff(rows: &[&str], staff: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut extract = format!("{EXTRACT_HEADER}\n");
        for r in rows {
            extract.push_str(r);
            extract.push('\n');
        }
        std::fs::write(dir.path().join("extract.csv"), extract).unwrap();
        std::fs::write(dir.path().join("staff.csv"), staff).unwrap();
        std::fs::write(
            dir.path().join("protected.csv"),
            "personnummer\n19760507-9826\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("watchlist.csv"),
            "namn,personnummer\nKänd person,197802099908\n",
        )
        .unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn analyze(&self, extra: &[&str]) -> Run {
        let p = |n: &str| self.path(n).display().to_string();
        let mut args = vec![
            "analyze".to_owned(),
            p("extract.csv"),
            "--staff".into(),
            p("staff.csv"),
            "--protected".into(),
            p("protected.csv"),
            "--watchlist".into(),
            p("watchlist.csv"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    }
}

fn planted() -> Fixture {
    Fixture::new(&ROWS.iter().map(|(r, _)| *r).collect::<Vec<_>>())
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn planted_anomalies_are_found_on_their_lines() {
    let r = planted().analyze(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "", "quiet on success");
    let out = json(&r);
    let flags = out["flags"].as_array().unwrap();
    let mut expected: Vec<(u64, Vec<&str>)> = ROWS
        .iter()
        .enumerate()
        .filter(|(_, (_, codes))| !codes.is_empty())
        .map(|(i, (_, codes))| (i as u64 + 2, codes.to_vec()))
        .collect();
    expected.sort();
    let got: Vec<(u64, Vec<&str>)> = flags
        .iter()
        .map(|f| {
            let codes = f["codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            (f["line"].as_u64().unwrap(), codes)
        })
        .collect();
    assert_eq!(got, expected);
    for f in flags {
        let reasons = f["reasons"].as_array().unwrap();
        assert_eq!(reasons.len(), f["codes"].as_array().unwrap().len());
        for key in ["time", "system", "user_id", "patient_id"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
        for reason in reasons {
            let reason = reason.as_str().unwrap();
            for secret in ["Tolvan", "Olle", "1912121212", "19960911", "Nils Natt"] {
                assert!(!reason.contains(secret), "{secret} in {reason}");
            }
        }
    }
    let line = |n: u64| flags.iter().find(|f| f["line"] == n).unwrap();
    assert_eq!(
        line(3)["reasons"][0],
        "Öppnad lördag 23:14, utanför arbetstiden mån–fre 07:00–18:00"
    );
    assert_eq!(line(3)["time"], "2027-05-08T23:14:00");
    assert_eq!(line(3)["user_id"], "C1");
    assert_eq!(line(3)["patient_id"], "191212121212");
    assert_eq!(line(6)["patient_id"], "199609119822", "normalised digits");
    assert_eq!(
        line(5)["reasons"][0],
        "Samma efternamn som användaren (Lind)"
    );
    assert_eq!(
        line(6)["reasons"][0],
        "Patienten är anställd (nattpatrullen)"
    );

    let summary = &out["summary"];
    assert_eq!(summary["rows"], ROWS.len());
    assert_eq!(summary["malformed_rows"], 0);
    assert_eq!(summary["flagged_rows"], expected.len());
    assert_eq!(summary["by_code"]["off_hours"], 2);
    assert_eq!(summary["by_code"]["same_surname"], 2);
    assert_eq!(summary["by_code"]["volume_spike"], 0);
    let users = summary["per_user"].as_array().unwrap();
    assert_eq!(users.len(), 4, "C1, C2, C3 and EXT1");
    let eva = users.iter().find(|u| u["user_id"] == "C1").unwrap();
    assert_eq!(eva["staff_id"], "s1");
    assert_eq!(eva["unit"], "hemtjanst-norr");
    assert_eq!(eva["rows"], 7);
    assert_eq!(eva["flagged_rows"], 6);
    assert_eq!(eva["codes"]["off_hours"], 2);
    assert_eq!(eva["distinct_patients"], 3);
    let ext = users.iter().find(|u| u["user_id"] == "EXT1").unwrap();
    assert!(ext["staff_id"].is_null());
    assert!(out["user_flags"].as_array().unwrap().is_empty());
}

#[test]
fn without_staff_only_person_free_rules_apply() {
    let f = planted();
    let r = run(&["analyze", f.path("extract.csv").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = json(&r);
    for flag in out["flags"].as_array().unwrap() {
        let codes = flag["codes"].as_array().unwrap();
        assert!(
            codes.iter().all(|c| c == "off_hours"),
            "without staff and lists only the default hours apply: {flag}"
        );
    }
    // The night nurse is unknown now, so her 03:00 access is outside the default hours.
    let lines: Vec<u64> = out["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 10, 13, 14]);
}

#[test]
fn csv_format_has_one_row_per_flagged_line() {
    let r = planted().analyze(&["--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut reader = csv::Reader::from_reader(r.stdout.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["line", "time", "user_id", "patient_id", "codes", "reasons"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 8);
    let last = rows.last().unwrap();
    assert_eq!(&last[0], "14");
    assert_eq!(&last[4], "off_hours;same_surname;no_care_relation");
    assert!(
        last[5].starts_with("Öppnad fredag 10:00 (juldagen), utanför"),
        "{}",
        &last[5]
    );
    assert!(last[5].contains("; Samma efternamn som användaren (Lind); "));
    r.says("13 rows, 8 flagged");
}

/// A valid made-up personnummer: born 1950-01-01, birth number `n`.
/// The `n`-th made-up patient (birth numbers from 001: 000 is not a valid one).
fn pnr(n: u32) -> String {
    personnummer("500101", n + 1)
}

#[test]
fn a_user_reading_many_more_patients_is_a_volume_spike() {
    let mut rows = Vec::new();
    for user in 0..10 {
        for p in 0..6 {
            rows.push(format!(
                "2027-05-04T10:00:00,cosmic,U{user},,{},,,read,Läst,",
                pnr(user * 10 + p)
            ));
        }
    }
    for p in 0..40 {
        rows.push(format!(
            "2027-05-04T11:00:00,cosmic,BUSY,,{},,,read,Läst,",
            pnr(500 + p)
        ));
    }
    let f = Fixture::new(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    let r = run(&["analyze", f.path("extract.csv").to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = json(&r);
    let user_flags = out["user_flags"].as_array().unwrap();
    assert_eq!(user_flags.len(), 1, "{user_flags:?}");
    assert_eq!(user_flags[0]["user_id"], "BUSY");
    assert_eq!(user_flags[0]["code"], "volume_spike");
    assert_eq!(
        user_flags[0]["reason"],
        "40 olika patienter under perioden, mer än 3 gånger jämförelsens median (6)"
    );
    assert_eq!(out["summary"]["by_code"]["volume_spike"], 1);
    assert!(out["flags"].as_array().unwrap().is_empty());
}

#[test]
fn malformed_rows_are_reported_by_line_and_the_rest_analysed() {
    let mut rows: Vec<&str> = ROWS.iter().map(|(r, _)| *r).collect();
    rows.insert(
        1,
        "2027-05-04T10:00:00,cosmic,C1,Eva Lind,191212121213,Tolvan Tolvansson,,read,Läst,Journal",
    );
    rows.insert(2, "2027-05-04 10:00,cosmic,C1,,191212121212,,,read,Läst,");
    rows.insert(
        3,
        "2027-05-04T10:00:00,cosmic,C1,,191212121212,,,peek,Läst,",
    );
    rows.insert(4, "2027-05-04T10:00:00,cosmic,C1,,191212121212,,read,Läst,");
    rows.insert(
        5,
        "2027-05-04T10:00:00,cosmic,C1,,191212121212,\"open,,read,Läst,",
    );
    rows.insert(
        6,
        "2027-02-30T10:00:00,cosmic,C1,,191212121212,,,read,Läst,",
    );
    let r = Fixture::new(&rows).analyze(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    let expected = [
        "line 3, column patient_id: is not a valid personnummer",
        "line 4, column time: is not a time YYYY-MM-DDTHH:MM:SS",
        "line 5, column action: is not one of read,",
        "line 6: has 9 fields; the header has 10",
        "line 7: a quoted field is not closed on its line",
        "line 8, column time: is not a real date",
    ];
    assert_eq!(lines.len(), expected.len() + 1, "{}", r.stderr);
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.contains(want), "{want} missing from {line}");
        assert!(line.contains("extract.csv: "), "{line}");
    }
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("error: 6 malformed row(s)")
    );
    assert!(!r.stderr.contains("191212121213"), "never the value");
    let out = json(&r);
    assert_eq!(out["summary"]["rows"], ROWS.len());
    assert_eq!(out["summary"]["malformed_rows"], 6);
    // The planted off-hours row moved from line 3 to line 9.
    assert!(
        out["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["line"] == 9 && f["codes"][0] == "off_hours")
    );
}

#[test]
fn many_malformed_rows_are_capped_in_messages() {
    let bad = "2027-05-04T10:00:00,cosmic,C1,,191212121213,,,read,Läst,";
    let rows = vec![bad; 30];
    let r = Fixture::new(&rows).analyze(&["--format", "csv"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.matches("column patient_id").count(), 20);
    r.says("… and 10 more malformed row(s)");
}

#[test]
fn missing_file_and_bad_header_are_one_line_errors() {
    let r = run(&["analyze", "/nonexistent/extract.csv"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: cannot open /nonexistent/extract.csv:"),
        "{}",
        r.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.csv");
    std::fs::write(&file, "time,system,user\n").unwrap();
    let r = run(&["analyze", file.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    r.says("x.csv:1: missing column(s) user_id");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn a_bad_staff_list_names_file_line_and_field() {
    let f = planted();
    std::fs::write(
        f.path("staff.csv"),
        "id,name,unit,personnummer,cosmic,working_hours\ns1,Eva,u,19800414-9989,C1,\ns2,Nils,u,,C2,mon-fry 21:00-07:00\n",
    )
    .unwrap();
    let r = f.analyze(&[]);
    assert_eq!(r.code, 1);
    r.says("staff.csv:2: staff 's1': field `personnummer`: is not a valid personnummer");
    r.says("staff.csv:3: staff 's2': field `working_hours`: 'fry' is not a day");
    assert!(!r.stderr.contains("19800414"), "{}", r.stderr);
}

#[test]
fn chunks_keep_line_order_and_numbers() {
    // Enough rows for several chunks: every 1000th row is off hours.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    let mut text = format!("{EXTRACT_HEADER}\n");
    let rows = 120_000;
    for i in 0..rows {
        let hour = if i % 1000 == 999 { 20 } else { 10 };
        text.push_str(&format!(
            "2027-05-04T{hour}:00:00,cosmic,U{},Namn Namnsson,191212121212,\"Tolvansson, Tolvan\",,read,Läst journal,Journal\n",
            i % 97
        ));
    }
    std::fs::write(&file, text).unwrap();
    assert!(
        std::fs::metadata(&file).unwrap().len() > 8 << 20,
        "several chunks"
    );
    let r = run(&["analyze", file.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<u64> = r
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let expected: Vec<u64> = (0..rows)
        .filter(|i| i % 1000 == 999)
        .map(|i| i + 2)
        .collect();
    assert_eq!(lines, expected);
}

/// A row by Eva (C1, day hours, her own unit) about `patient`: no flag unless it is hers.
fn row_about(patient: &str) -> String {
    format!("2027-05-04T10:00:00,cosmic,C1,Eva Lind,{patient},,Hemtjänst Norr,read,Läst,Journal")
}

#[test]
fn every_form_of_the_personnummer_project_is_read_as_it_says() {
    let forms = support::personnummer_meta();
    let valid: Vec<String> = forms
        .iter()
        .filter(|f| f.1)
        .map(|f| row_about(&f.0))
        .collect();
    let r = Fixture::new(&valid.iter().map(String::as_str).collect::<Vec<_>>()).analyze(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        json(&r)["flags"].as_array().unwrap().len(),
        0,
        "{}",
        r.stdout
    );

    let invalid: Vec<String> = forms
        .iter()
        .filter(|f| !f.1)
        .map(|f| row_about(&f.0))
        .collect();
    let r = Fixture::new(&invalid.iter().map(String::as_str).collect::<Vec<_>>()).analyze(&[]);
    assert_eq!(r.code, 1);
    let shown = r.stderr.matches("column patient_id").count();
    let more: usize = r
        .stderr
        .split("… and ")
        .nth(1)
        .map_or(0, |t| t.split(' ').next().unwrap().parse().unwrap());
    assert_eq!(shown + more, invalid.len(), "{}", r.stderr);
}

#[test]
fn short_forms_in_the_staff_file_are_the_same_person_as_long_ones_in_the_extract() {
    let staff = STAFF.replace("19800414-9988", "800414-9988");
    let rows = [row_about("198004149988")];
    let r = Fixture::with_staff(&rows.each_ref().map(String::as_str), &staff).analyze(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let flags = json(&r)["flags"].to_string();
    assert!(flags.contains("self_access"), "{flags}");
}

#[test]
fn an_interim_number_is_a_patient_of_its_own() {
    // Two reads of one interim-numbered patient and one of another: no rule that compares
    // personnummer matches them, and they count as two distinct patients.
    let rows = [
        row_about("20000101-T220"),
        row_about("20000101T220"),
        row_about("20000101-R220"),
    ];
    let r = Fixture::new(&rows.each_ref().map(String::as_str)).analyze(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        json(&r)["flags"].as_array().unwrap().len(),
        0,
        "{}",
        r.stdout
    );
}

/// A month of round-the-clock work by 30 staff in three units (one a night team) and two
/// unknown users, with reads of other units, of coworkers, of the user's own record, of
/// patients sharing the user's surname and of listed patients, and a care unit with a comma
/// and quotes in its name: most rules fire, on many users. Two chunks' worth of rows; the
/// same every run.
fn busy_month() -> Fixture {
    const UNITS: [(&str, &str); 3] = [
        ("hemtjanst-a", "Hemtjänst A"),
        ("hemtjanst-b", "Hemtjänst B"),
        ("nattpatrull", "Nattpatrull"),
    ];
    const SURNAMES: [&str; 6] = ["Lind", "Berg", "Ek", "Holm", "Sjö", "Ström"];
    let mut staff = String::from("id,name,unit,email,personnummer,cosmic,working_hours\n");
    let staff_pnr = |i: u32| personnummer("700101", i + 1);
    for i in 0..30u32 {
        let unit = (i % 3) as usize;
        let hours = if unit == 2 {
            "mon-sun 21:00-07:30 holidays"
        } else {
            ""
        };
        staff.push_str(&format!(
            "s{i:02},Anna {},{},,{},C{i:02},{hours}\n",
            SURNAMES[i as usize % SURNAMES.len()],
            UNITS[unit].0,
            staff_pnr(i),
        ));
    }
    let mut seed = 2027u64;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut rows = Vec::new();
    for _ in 0..60_000 {
        let u = next(32) as u32;
        let (user, own_unit) = if u < 30 {
            (format!("C{u:02}"), (u % 3) as usize)
        } else {
            (format!("EXT{}", u - 29), 0)
        };
        let mut patient = pnr(next(400) as u32);
        let mut name = format!("Olle {}son", SURNAMES[next(6) as usize]);
        match next(100) {
            0 => patient = staff_pnr(u % 30),
            1 => patient = staff_pnr(next(30) as u32),
            2 => name = format!("Olle {}", SURNAMES[u as usize % SURNAMES.len()]),
            _ => {}
        }
        let care_unit = match next(20) {
            0..14 => UNITS[own_unit].1.to_owned(),
            14..17 => UNITS[next(3) as usize].1.to_owned(),
            17 => String::new(),
            18 => "Ej tillämplig på enhet".to_owned(),
            _ => "\"Avd 3, \"\"Solsidan\"\"\"".to_owned(),
        };
        rows.push(format!(
            "2027-03-{:02}T{:02}:{:02}:{:02},cosmic,{user},Anna,{patient},{name},{care_unit},read,Läst,",
            1 + next(31),
            next(24),
            next(60),
            next(60),
        ));
    }
    let f = Fixture::with_staff(&rows.iter().map(String::as_str).collect::<Vec<_>>(), &staff);
    let listed = |every: usize, offset: usize| {
        let mut list = String::from("personnummer\n");
        for k in (offset..400).step_by(every) {
            list.push_str(&pnr(k as u32));
            list.push('\n');
        }
        list
    };
    std::fs::write(f.path("protected.csv"), listed(50, 3)).unwrap();
    std::fs::write(f.path("watchlist.csv"), listed(40, 11)).unwrap();
    assert!(
        std::fs::metadata(f.path("extract.csv")).unwrap().len() > 4 << 20,
        "more than one chunk"
    );
    f
}

/// The CSV output's rows as string records (header excluded).
fn csv_rows(r: &Run) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(r.stdout.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn codes_only_has_the_same_lines_and_codes_without_reasons() {
    let f = busy_month();
    let full = f.analyze(&[]);
    assert_eq!(full.code, 0, "{}", full.stderr);
    let full = json(&full);
    let flags = full["flags"].as_array().unwrap();
    assert!(flags.len() > 10_000, "a busy month: {}", flags.len());
    let reasons: usize = flags
        .iter()
        .map(|f| f["reasons"].as_array().unwrap().len())
        .sum();
    assert!(reasons > flags.len(), "rows with several codes");

    let codes = f.analyze(&["--codes-only"]);
    assert_eq!(codes.code, 0, "{}", codes.stderr);
    let codes = json(&codes);
    let without_reasons: Vec<Value> = flags
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.as_object_mut().unwrap().remove("reasons");
            f
        })
        .collect();
    assert_eq!(codes["flags"].as_array().unwrap(), &without_reasons);
    assert_eq!(codes["summary"], full["summary"]);
    assert_eq!(codes["user_flags"], full["user_flags"]);

    let full_csv = f.analyze(&["--format", "csv"]);
    let codes_csv = f.analyze(&["--format", "csv", "--codes-only"]);
    assert_eq!(codes_csv.code, 0, "{}", codes_csv.stderr);
    assert_eq!(
        codes_csv.stdout.lines().next(),
        Some("line,time,user_id,patient_id,codes")
    );
    let (full_csv, codes_csv) = (csv_rows(&full_csv), csv_rows(&codes_csv));
    assert_eq!(full_csv.len(), flags.len());
    assert_eq!(codes_csv.len(), flags.len());
    for ((a, b), flag) in full_csv.iter().zip(&codes_csv).zip(flags) {
        assert_eq!(b.len(), 5, "{b:?}");
        assert_eq!(
            a.iter().take(5).collect::<Vec<_>>(),
            b.iter().collect::<Vec<_>>()
        );
        assert_eq!(b[0], flag["line"].to_string());
        let joined: Vec<&str> = flag["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(&b[4], joined.join(";"));
    }
}

#[test]
fn summary_counts_are_those_of_the_flagged_lines() {
    let f = busy_month();
    let full = json(&f.analyze(&[]));
    let flags = full["flags"].as_array().unwrap();
    // Counted from the flagged lines, as a reviewer would count them.
    let mut per_user: std::collections::BTreeMap<(String, String), (u64, Vec<String>)> =
        Default::default();
    let mut by_code: std::collections::BTreeMap<String, u64> = Default::default();
    for flag in flags {
        let key = (
            flag["system"].as_str().unwrap().to_owned(),
            flag["user_id"].as_str().unwrap().to_owned(),
        );
        let entry = per_user.entry(key).or_default();
        entry.0 += 1;
        for code in flag["codes"].as_array().unwrap() {
            let code = code.as_str().unwrap().to_owned();
            *by_code.entry(code.clone()).or_default() += 1;
            entry.1.push(code);
        }
    }
    assert!(per_user.len() > 20, "more flagged users than the top list");

    let r = f.analyze(&["--summary"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let out = json(&r);
    assert!(out.get("flags").is_none(), "no rows: {}", r.stdout);
    let summary = &out["summary"];
    assert_eq!(
        summary, &full["summary"],
        "the same summary as with every row"
    );
    assert_eq!(summary["flagged_rows"], flags.len());
    for (code, n) in &by_code {
        assert_eq!(summary["by_code"][code], *n, "{code}");
    }
    for u in summary["per_user"].as_array().unwrap() {
        let key = (
            u["system"].as_str().unwrap().to_owned(),
            u["user_id"].as_str().unwrap().to_owned(),
        );
        let (n, codes) = per_user.get(&key).cloned().unwrap_or_default();
        assert_eq!(u["flagged_rows"], n, "{key:?}");
        for (code, count) in u["codes"].as_object().unwrap() {
            let counted = codes.iter().filter(|c| *c == code).count();
            assert_eq!(count, counted, "{key:?} {code}");
        }
    }
    // The top list: most flagged rows first, ties in user order, as many as it holds.
    let mut ranked: Vec<(&(String, String), u64)> =
        per_user.iter().map(|(k, (n, _))| (k, *n)).collect();
    ranked.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let top: Vec<(String, u64)> = out["top_users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["user_id"].as_str().unwrap().to_owned(),
                u["flagged_rows"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = ranked
        .iter()
        .take(20)
        .map(|((_, user), n)| (user.clone(), *n))
        .collect();
    assert_eq!(top, expected);
    assert_eq!(out["user_flags"], full["user_flags"]);

    let r = f.analyze(&["--summary", "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.says(&format!("{} flagged", flags.len()));
    let mut reader = csv::Reader::from_reader(r.stdout.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[1], "user_id");
    assert_eq!(&header[5], "flagged_rows");
    assert_eq!(header.iter().next_back(), Some("volume_spike"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), summary["users"].as_u64().unwrap() as usize);
    let mut previous = u64::MAX;
    for row in &rows {
        let key = (row[0].to_owned(), row[1].to_owned());
        let (n, codes) = per_user.get(&key).cloned().unwrap_or_default();
        let flagged: u64 = row[5].parse().unwrap();
        assert_eq!(flagged, n, "{key:?}");
        assert!(flagged <= previous, "most flagged rows first");
        previous = flagged;
        for (i, name) in header.iter().enumerate().skip(7) {
            if name == "volume_spike" {
                continue;
            }
            let counted = codes.iter().filter(|c| *c == name).count();
            assert_eq!(row[i], counted.to_string(), "{key:?} {name}");
        }
    }
}
