//! `config check` and the refusal of bad configuration by every command that loads it.

use crate::support::{self, ConfigDir, Run, SMALL_ORG, TestDb, run, run_on, staff_csv};

/// `config check` on a configuration folder.
fn check(cfg: &str) -> Run {
    run(&["--config", cfg, "config", "check"])
}

#[test]
fn example_configuration_is_valid_and_summarised() {
    let cfg = support::example_config();
    let r = check(cfg.to_str().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.prints("Exempelkommunen");
    r.prints("4 systems, 4 routines: OK");
}

/// Applies `edit` to the small organisation and expects exactly one error line containing
/// every one of `expected`, exit 1, and no database written by `plan`.
fn refused(toml: &str, csv: &str, expected: &[&str]) {
    let cfg = ConfigDir::new(toml, Some(csv));
    let r = check(&cfg.arg());
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let problems: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| !l.starts_with("error: the configuration has"))
        .collect();
    assert_eq!(problems.len(), 1, "one line per problem: {}", r.stderr);
    for e in expected {
        assert!(
            problems[0].contains(e),
            "'{e}' missing from: {}",
            problems[0]
        );
    }
    assert!(
        r.stderr
            .contains("error: the configuration has 1 problem(s)")
    );

    // Any command that loads configuration refuses the same way and writes nothing.
    let db = TestDb::sqlite();
    let db_file = db.sqlite_file();
    let r2 = run_on(
        &cfg.arg(),
        &db.url,
        Some("2027-05-03T08:00:00+02:00"),
        &["plan"],
    );
    assert_eq!(r2.code, 1);
    assert_eq!(r2.stderr, r.stderr, "plan reports the same problems");
    assert!(!db_file.exists(), "no database was created");
    let r3 = run_on(&cfg.arg(), &db.url, None, &["tick"]);
    assert_eq!(r3.code, 1);
    assert!(!db_file.exists());
}

fn good_csv() -> String {
    staff_csv(&[("hemtjanst", 30), ("boende", 12)])
}

#[test]
fn small_org_is_valid() {
    let cfg = ConfigDir::new(SMALL_ORG, Some(&good_csv()));
    let r = check(&cfg.arg());
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.prints("3 units, 42 staff, 1 systems, 1 routines");
}

#[test]
fn toml_syntax_error_names_the_line() {
    let broken = SMALL_ORG.replace("name = \"Hemtjänst\"", "name = \"Hemtjänst");
    let line = broken
        .lines()
        .position(|l| l.starts_with("name = \"Hemtjänst"))
        .unwrap()
        + 1;
    refused(&broken, &good_csv(), &[&format!("org.toml:{line}:")]);
}

#[test]
fn unknown_system_in_routine() {
    let toml = SMALL_ORG.replace("system = \"cosmic\"", "system = \"cosmik\"");
    refused(
        &toml,
        &good_csv(),
        &[
            "org.toml:",
            "[[routine]] 'stickprov-cosmic'",
            "field `system`",
            "unknown system 'cosmik'",
        ],
    );
}

#[test]
fn unknown_unit_in_routine() {
    let toml = SMALL_ORG.replace("units = [\"*\"]", "units = [\"hemtjanst\", \"nowhere\"]");
    refused(
        &toml,
        &good_csv(),
        &["field `units`", "unknown unit 'nowhere'"],
    );
}

#[test]
fn unknown_parent() {
    let toml = SMALL_ORG.replace(
        "parent = \"vard\"\nmanager = { name = \"Bo",
        "parent = \"vaard\"\nmanager = { name = \"Bo",
    );
    refused(
        &toml,
        &good_csv(),
        &[
            "[[unit]] 'boende'",
            "field `parent`",
            "unknown unit 'vaard'",
        ],
    );
}

#[test]
fn parent_cycle() {
    let toml = SMALL_ORG.replace(
        "id = \"vard\"\nname = \"Vård och omsorg\"",
        "id = \"vard\"\nname = \"Vård och omsorg\"\nparent = \"vard\"",
    );
    refused(
        &toml,
        &good_csv(),
        &["[[unit]] 'vard'", "field `parent`", "loops back"],
    );
}

#[test]
fn duplicate_unit_id() {
    let toml = SMALL_ORG.replace("id = \"boende\"", "id = \"hemtjanst\"");
    let csv = staff_csv(&[("hemtjanst", 5)]);
    refused(
        &toml,
        &csv,
        &["[[unit]] 'hemtjanst'", "field `id`", "duplicate unit id"],
    );
}

#[test]
fn duplicate_staff_id() {
    let mut csv = good_csv();
    csv.push_str("s0001,Dubbel Person,boende,,,C899999\n");
    refused(
        SMALL_ORG,
        &csv,
        &["staff.csv:44:", "staff 's0001'", "duplicate staff id"],
    );
}

#[test]
fn duplicate_routine_and_system_ids() {
    let dup_system = SMALL_ORG.replace(
        "[[routine]]",
        "[[system]]\nid = \"cosmic\"\nconnector = \"cosmic\"\n\n[[routine]]",
    );
    refused(
        &dup_system,
        &good_csv(),
        &["[[system]] 'cosmic'", "duplicate system id"],
    );
    let routine = &SMALL_ORG[SMALL_ORG.find("[[routine]]").unwrap()..];
    let dup_routine = format!("{SMALL_ORG}\n{routine}");
    refused(
        &dup_routine,
        &good_csv(),
        &["[[routine]] 'stickprov-cosmic'", "duplicate routine id"],
    );
}

#[test]
fn fraction_outside_zero_one() {
    for bad in ["0.0", "1.5", "-0.1"] {
        let toml = SMALL_ORG.replace("fraction = 0.10", &format!("fraction = {bad}"));
        refused(
            &toml,
            &good_csv(),
            &["field `sample.fraction`", "outside (0, 1]"],
        );
    }
}

#[test]
fn negative_min() {
    let toml = SMALL_ORG.replace("min = 1", "min = -1");
    refused(
        &toml,
        &good_csv(),
        &["field `sample.min`", "-1 is negative"],
    );
}

#[test]
fn staff_in_unknown_unit() {
    let mut csv = good_csv();
    csv.push_str("s0100,Vilse Person,nowhere,,,C800100\n");
    refused(
        SMALL_ORG,
        &csv,
        &[
            "staff.csv:44:",
            "staff 's0100'",
            "field `unit`",
            "unknown unit 'nowhere'",
        ],
    );
}

#[test]
fn same_username_twice_in_one_system() {
    let mut csv = good_csv();
    csv.push_str("s0100,Kopia Person,boende,,,C800001\n");
    refused(
        SMALL_ORG,
        &csv,
        &[
            "staff.csv:44:",
            "staff 's0100'",
            "field `cosmic`",
            "'C800001' is also used by staff 's0001'",
        ],
    );
}

#[test]
fn invalid_personnummer_is_refused_without_echoing_it() {
    let mut csv = good_csv();
    csv.push_str("s0100,Fel Nummer,boende,,19121212-1213,C800100\n");
    let cfg = ConfigDir::new(SMALL_ORG, Some(&csv));
    let r = check(&cfg.arg());
    assert_eq!(r.code, 1);
    r.says("staff.csv:44: staff 's0100': field `personnummer`: is not a valid personnummer");
    assert!(
        !r.stderr.contains("1213"),
        "the number itself is not printed"
    );
    refused(SMALL_ORG, &csv, &["field `personnummer`"]);
}

#[test]
fn unknown_time_zone() {
    let toml = SMALL_ORG.replace("Europe/Stockholm", "Europe/Stokholm");
    refused(
        &toml,
        &good_csv(),
        &[
            "[organisation]",
            "field `timezone`",
            "unknown time zone 'Europe/Stokholm'",
        ],
    );
}

#[test]
fn unknown_system_in_inline_staff_usernames() {
    let toml = format!(
        "{SMALL_ORG}\n[[staff]]\nid = \"s9001\"\nname = \"Inline Person\"\nunit = \"boende\"\nusernames = {{ treserva = \"ip\" }}\n"
    );
    refused(
        &toml,
        &good_csv(),
        &[
            "staff 's9001'",
            "field `usernames.treserva`",
            "unknown system 'treserva'",
        ],
    );
}

#[test]
fn misspelt_field_is_named_with_its_line() {
    let toml = SMALL_ORG.replace("deadline_days = 14", "deadline_dayz = 14");
    refused(&toml, &good_csv(), &["org.toml:", "deadline_dayz"]);
}

#[test]
fn unknown_csv_column_is_refused() {
    let csv = good_csv().replacen("cosmic\n", "cosmik\n", 1);
    refused(
        SMALL_ORG,
        &csv,
        &["staff.csv:1:", "field `cosmik`", "unknown column"],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let toml = SMALL_ORG
        .replace("min = 1", "min = -2")
        .replace("system = \"cosmic\"", "system = \"nope\"");
    let mut csv = good_csv();
    csv.push_str("s0100,Vilse,nowhere,,,C800100\n");
    let cfg = ConfigDir::new(&toml, Some(&csv));
    let r = check(&cfg.arg());
    assert_eq!(r.code, 1);
    r.says("the configuration has 3 problem(s)");
}

#[test]
fn missing_config_path_is_a_clear_error() {
    let r = check("/nonexistent/schedules");
    assert_eq!(r.code, 1);
    r.says("/nonexistent/schedules: cannot read");
}

#[test]
fn connector_settings_are_checked_by_their_connector() {
    let toml = SMALL_ORG.replace("from = \"lk@example.se\", ", "");
    let cfg = ConfigDir::new(&toml, Some(&good_csv()));
    let r = check(&cfg.arg());
    assert_eq!(r.code, 1, "{}", r.stdout);
    r.says("system 'cosmic'");
    r.says("cannot be used as configured");
    // tick refuses at start and writes nothing.
    let db = TestDb::sqlite();
    let r = run_on(&cfg.arg(), &db.url, None, &["tick"]);
    assert_eq!(r.code, 1);
    r.says("system 'cosmic'");
    assert!(!db.sqlite_file().exists());
}

#[test]
fn bad_notify_settings_name_the_field() {
    let csv = good_csv();
    refused(
        &format!("{SMALL_ORG}\n[notify]\nbase_url = \"loggvakt.example\"\n"),
        &csv,
        &["[notify]", "base_url", "not an http(s) address"],
    );
    refused(
        &format!("{SMALL_ORG}\n[notify]\nsmtp = {{ host = \"smtp.example\", port = 70000 }}\n"),
        &csv,
        &["[notify]", "smtp.port", "70000"],
    );
    refused(
        &format!("{SMALL_ORG}\n[notify]\noutbox = \"ut\"\nsmtp = {{ host = \"smtp.example\" }}\n"),
        &csv,
        &["[notify]", "either outbox or smtp"],
    );
    refused(
        &format!("{SMALL_ORG}\n[notify]\nremind_days_before = -1\n"),
        &csv,
        &["remind_days_before", "-1"],
    );
}

#[test]
fn staff_personnummer_in_every_form_are_taken_or_refused_as_the_personnummer_project_says() {
    let forms = support::personnummer_meta();
    let row = |i: usize, pnr: &str| format!("s{i:04},Person {i},hemtjanst,,{pnr},C8{i:05}\n");
    let header = "id,name,unit,email,personnummer,cosmic\n";
    let valid: String = forms
        .iter()
        .filter(|f| f.1)
        .enumerate()
        .map(|(i, f)| row(i + 1, &f.0))
        .collect();
    let cfg = ConfigDir::new(SMALL_ORG, Some(&format!("{header}{valid}")));
    let r = check(&cfg.arg());
    assert_eq!(r.code, 0, "{}", r.stderr);

    let invalid: Vec<&String> = forms.iter().filter(|f| !f.1).map(|f| &f.0).collect();
    let rows: String = invalid
        .iter()
        .enumerate()
        .map(|(i, p)| row(i + 1, p))
        .collect();
    let cfg = ConfigDir::new(SMALL_ORG, Some(&format!("{header}{rows}")));
    let r = check(&cfg.arg());
    assert_eq!(r.code, 1);
    for (i, p) in invalid.iter().enumerate() {
        r.says(&format!("staff.csv:{}:", i + 2));
        // The refused number is personal data and is never echoed.
        assert!(p.trim().is_empty() || !r.stderr.contains(p.as_str()), "{p}");
    }
    r.says(&format!(
        "the configuration has {} problem(s)",
        invalid.len()
    ));
}

#[test]
fn completions_and_the_manual_page_come_from_the_command_line_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        r.prints("loggvakt");
        r.prints("audit");
    }
    let man = run(&["man"]);
    assert_eq!(man.code, 0, "{}", man.stderr);
    // roff: a title line and the sections, with every command group named.
    man.prints(".TH loggvakt 1");
    man.prints(".SH SYNOPSIS");
    for command in ["plan", "tick", "serve", "review", "audit", "analyze"] {
        man.prints(command);
    }
}

/// A protected-identity routine on Cosmic (whose order mail names users only): the check
/// passes with a warning that says what to do instead; a protected list naming an unknown
/// responsible unit is refused with the file and field.
#[test]
fn patient_checks_from_a_system_that_cannot_search_by_patient_are_warned_about() {
    let toml = format!(
        "{}\n[[routine]]\nid = \"skyddade\"\nkind = \"riktad\"\nsystem = \"cosmic\"\nunits = [\"vard\"]\ncadence = \"monthly\"\n",
        SMALL_ORG.replace(
            "staff_csv = \"staff.csv\"",
            "staff_csv = \"staff.csv\"\nprotected_csv = \"skyddade.csv\""
        )
    );
    let cfg = ConfigDir::new(&toml, Some(&good_csv()));
    let pnr = support::personnummer("121212", 21);
    let with_unit = |unit: &str| {
        let list = format!("personnummer,unit\n{pnr},{unit}\n");
        std::fs::write(cfg.path().join("skyddade.csv"), list).unwrap();
        check(&cfg.arg())
    };
    let r = with_unit("boende");
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.says("warning: routine 'skyddade' checks patients with protected identity, but system 'cosmic' (cosmic) can only be asked for users' logs");
    r.says("Sesam 2's Mottagare");

    let r = with_unit("nowhere");
    assert_eq!(r.code, 1, "{}", r.stderr);
    r.says("skyddade.csv");
    r.says("field `unit`: unknown unit 'nowhere'");
    assert!(!r.stderr.contains(&pnr), "no personnummer in the message");
}

/// An orderer is a person with an address, for systems that exist; each problem names the
/// file, the unit and the field.
#[test]
fn a_malformed_orderer_is_refused_naming_file_and_field() {
    let unit = "id = \"boende\"\nname = \"Boende\"\n";
    let with = |orderer: &str| SMALL_ORG.replace(unit, &format!("{unit}{orderer}\n"));
    refused(
        &with("orderer = { name = \"Olle Ordrar\", email = \"olle.example.se\" }"),
        &good_csv(),
        &[
            "org.toml:",
            "[[unit]] 'boende'",
            "field `orderer.email`",
            "'olle.example.se' is not an e-mail address",
        ],
    );
    refused(
        &with(
            "orderer_by_system.treserva = { name = \"Olle Ordrar\", email = \"olle@example.se\" }",
        ),
        &good_csv(),
        &[
            "[[unit]] 'boende'",
            "field `orderer_by_system.treserva`",
            "unknown system 'treserva'",
        ],
    );
    refused(
        &with(
            "orderer = { name = \"Olle Ordrar\", email = \"olle@example.se\", usernames = { cosmic = \"\" } }",
        ),
        &good_csv(),
        &["field `orderer.usernames.cosmic`", "is not a username"],
    );
    refused(
        &with("orderer = { name = \"Olle Ordrar\" }"),
        &good_csv(),
        &["org.toml:", "missing field `email`"],
    );
}

#[test]
fn a_well_formed_orderer_is_accepted() {
    let unit = "id = \"boende\"\nname = \"Boende\"\n";
    let toml = SMALL_ORG.replace(
        unit,
        &format!(
            "{unit}orderer = {{ name = \"Olle Ordrar\", email = \"olle@example.se\", phone = \"070-111 22 33\" }}\n\
             orderer_by_system = {{ cosmic = {{ name = \"Cosmic-beställare\", email = \"cb@example.se\", usernames = {{ cosmic = \"C800001\" }} }} }}\n"
        ),
    );
    let cfg = ConfigDir::new(&toml, Some(&good_csv()));
    let r = check(&cfg.arg());
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// Treserva's user support checks the orderer's username: `config check` names the units
/// whose orderer has none.
#[test]
fn units_ordering_treserva_without_a_username_are_noted() {
    let r = check(support::example_config().to_str().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let note = r
        .stdout
        .lines()
        .find(|l| l.contains("note: treserva: the orderer of"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert!(note.contains("hemtjanst-norr"), "{note}");
    // Its per-system orderer gives a username.
    assert!(!note.contains("myndighetsenheten"), "{note}");
}

/// A targeted check by patient in Cosmic cannot be ordered (its order mail names users): the
/// command refuses at once, says what to do instead, and orders nothing.
#[test]
fn a_check_by_patient_in_a_system_without_patient_search_is_refused() {
    let cfg = ConfigDir::new(SMALL_ORG, Some(&good_csv()));
    let db = TestDb::sqlite();
    let pnr = support::personnummer("121212", 21);
    let r = run_on(
        &cfg.arg(),
        &db.url,
        Some("2027-05-10T09:00:00+02:00"),
        &[
            "check",
            "patient",
            &pnr,
            "--system",
            "cosmic",
            "--from",
            "2027-04-01",
            "--to",
            "2027-04-30",
            "--reason",
            "misstanke",
            "--unit",
            "boende",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    r.says("a check by patient cannot be ordered here: system 'cosmic' (cosmic) can only be asked for users' logs");
    r.says("region's procedure for patient requests");
    assert!(!r.stderr.contains(&pnr), "no personnummer in the message");
}
