//! `plan`, `draw verify` and `audit verify` on the example organisation, on every backend.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::support::{self, TestDb, count, exec, per_backend, run, run_on};

const MAY_FIRST: &str = "2027-05-01T00:00:00+02:00";

/// `plan --month <month>` on the example organisation, with `extra` arguments.
fn plan(db: &TestDb, now: &str, month: &str, extra: &[&str]) -> support::Run {
    let cfg = support::example_config();
    let mut args = vec!["plan", "--month", month];
    args.extend_from_slice(extra);
    run_on(cfg.to_str().unwrap(), &db.url, Some(now), &args)
}

fn plan_json(db: &TestDb, now: &str, month: &str) -> Vec<Value> {
    let r = plan(db, now, month, &["--format", "json"]);
    assert_eq!(r.code, 0, "[{}] {}", db.backend, r.stderr);
    serde_json::from_str::<Value>(&r.stdout)
        .expect("plan prints JSON")
        .as_array()
        .expect("a list of draws")
        .clone()
}

/// Staff with an account per (unit, system), counted straight from the example files.
fn accounts_per_unit_and_system() -> BTreeMap<(String, String), usize> {
    let dir = support::example_config();
    let mut counts = BTreeMap::new();
    let mut reader = csv::Reader::from_path(dir.join("staff.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    for row in reader.records() {
        let row = row.unwrap();
        let unit = row.get(2).unwrap().to_owned();
        for system in ["cosmic", "treserva", "sesam2", "lifecare"] {
            let i = headers.iter().position(|h| h == system).unwrap();
            if !row.get(i).unwrap().is_empty() {
                *counts.entry((unit.clone(), system.to_owned())).or_default() += 1;
            }
        }
    }
    let toml: toml::Table = std::fs::read_to_string(dir.join("example.toml"))
        .unwrap()
        .parse()
        .unwrap();
    for staff in toml["staff"].as_array().unwrap() {
        let unit = staff["unit"].as_str().unwrap().to_owned();
        for system in staff["usernames"].as_table().unwrap().keys() {
            *counts.entry((unit.clone(), system.clone())).or_default() += 1;
        }
    }
    counts
}

per_backend!(fn may_2027_is_drawn_in_its_first_week_with_exact_sample_sizes_and_idempotently);
fn may_2027_is_drawn_in_its_first_week_with_exact_sample_sizes_and_idempotently(db: TestDb) {
    let accounts = accounts_per_unit_and_system();
    let draws = plan_json(&db, MAY_FIRST, "2027-05");
    assert_eq!(draws.len(), 52, "4 routines × 13 units");
    let mut keys = HashSet::new();
    for d in &draws {
        for field in [
            "id",
            "routine",
            "unit",
            "system",
            "month",
            "execution_date",
            "population_size",
            "sample_size",
            "selected",
            "seed",
        ] {
            assert!(d.get(field).is_some(), "field {field} in {d}");
        }
        assert!(keys.insert((d["routine"].clone(), d["unit"].clone())));
        let day = d["execution_date"].as_str().unwrap();
        assert!(
            ["2027-05-03", "2027-05-04", "2027-05-05", "2027-05-07"].contains(&day),
            "{day}: not 3–7 May, or Kristi himmelsfärdsdag"
        );
        let unit = d["unit"].as_str().unwrap().to_owned();
        let system = d["system"].as_str().unwrap().to_owned();
        let n = accounts.get(&(unit, system)).copied().unwrap_or(0);
        assert_eq!(d["population_size"], n, "{d}");
        let expected = if n == 0 { 0 } else { n.div_ceil(10).max(1) };
        assert_eq!(d["sample_size"], expected, "max(1, ceil(0.1 × {n}))");
        let selected = d["selected"].as_array().unwrap();
        assert_eq!(selected.len(), expected);
        for s in selected {
            let from = s["review_from"].as_str().unwrap();
            assert!(
                from.starts_with("2027-04-"),
                "review period in April: {from}"
            );
            assert!(
                from.contains("T00:00:00+02:00"),
                "a whole calendar day: {from}"
            );
        }
        assert_eq!(d["seed"].as_str().unwrap().len(), 64, "256-bit seed");
    }
    let again = plan_json(&db, "2027-05-02T12:00:00+02:00", "2027-05");
    assert_eq!(
        draws, again,
        "[{}] the same draws when run again",
        db.backend
    );
}

#[test]
fn a_month_not_yet_begun_is_refused_and_nothing_is_written() {
    let db = TestDb::sqlite();
    for (now, month) in [
        (MAY_FIRST, "2027-06"),
        // 23:59 on 30 April local time is still April.
        ("2027-04-30T23:59:00+02:00", "2027-05"),
    ] {
        let r = plan(&db, now, month, &[]);
        assert_eq!(r.code, 1);
        r.says(&format!("{month} has not begun"));
        assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    }
    assert!(!db.sqlite_file().exists());
}

#[test]
fn bad_month_and_bad_now_are_clear_errors() {
    let r = run(&["plan", "--month", "2027-13"]);
    assert_eq!(r.code, 2, "clap usage error");
    r.says("2027-13");
    let r = run(&["--now", "yesterday", "plan"]);
    assert_ne!(r.code, 0);
    r.says("RFC 3339");
}

fn verify(db: &TestDb, id: i64) -> support::Run {
    run(&["--db", &db.url, "draw", "verify", &id.to_string()])
}

per_backend!(async fn draw_verify_passes_and_catches_every_kind_of_edit);
async fn draw_verify_passes_and_catches_every_kind_of_edit(db: TestDb) {
    let draws = plan_json(&db, MAY_FIRST, "2027-05");
    for d in &draws {
        let id = d["id"].as_i64().unwrap();
        let r = verify(&db, id);
        assert_eq!(r.code, 0, "[{}] draw {id}: {}", db.backend, r.stdout);
        assert!(r.stdout.contains("verified"));
    }
    // Three draws with people in them, one per kind of edit.
    let with_people: Vec<i64> = draws
        .iter()
        .filter(|d| {
            d["sample_size"].as_u64().unwrap() >= 1 && d["population_size"].as_u64().unwrap() >= 3
        })
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    let (pop, seed, sel) = (with_people[0], with_people[1], with_people[2]);
    let store = db.open().await;

    // One edit per kind: the SQL, the draw it touches, and what verify must say.
    let draw = &draws.iter().find(|d| d["id"] == pop).unwrap();
    let victim = draw["selected"][0]["staff_id"].as_str().unwrap();
    let edits = [
        (
            // Population: one person swapped for someone who was never there.
            format!(
                "UPDATE draws SET population = replace(population, '\"{victim}\"', '\"s7777\"') WHERE id = {pop}"
            ),
            pop,
            &["population snapshot differs"][..],
        ),
        (
            format!(
                "UPDATE draws SET seed = '{}' WHERE id = {seed}",
                "ab".repeat(32)
            ),
            seed,
            &["seed differs"][..],
        ),
        (
            // Selection: the review period moved to another day.
            format!(
                "UPDATE draw_members SET review_from = '2027-03-15T00:00:00+01:00', \
                 review_to = '2027-03-16T00:00:00+01:00' WHERE draw_id = {sel} AND position = 0"
            ),
            sel,
            &[
                "selection #1: stored",
                "selection (day, people or periods) differs",
            ][..],
        ),
    ];
    for (sql, id, says) in edits {
        exec(&store, &sql).await;
        let r = verify(&db, id);
        assert_eq!(r.code, 1, "[{}] {sql}: {}", db.backend, r.stdout);
        for s in says {
            r.prints(s);
        }
    }

    // An untouched draw still verifies.
    let untouched = with_people[3];
    assert_eq!(verify(&db, untouched).code, 0);
    let r = verify(&db, 99_999);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("there is no draw 99999"));
}

per_backend!(async fn audit_verify_names_the_first_broken_record);
async fn audit_verify_names_the_first_broken_record(db: TestDb) {
    plan_json(&db, MAY_FIRST, "2027-05");
    let r = run(&["--db", &db.url, "audit", "verify"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    r.prints("audit trail intact: 52 records");
    let store = db.open().await;
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'draw.created'"
        )
        .await,
        52
    );

    exec(
        &store,
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 17",
    )
    .await;
    let r = run(&["--db", &db.url, "audit", "verify"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("BROKEN at record #17"),
        "[{}] {}",
        db.backend,
        r.stdout
    );

    // Restore the field, then remove a record instead: the gap is named.
    exec(
        &store,
        "UPDATE audit_log SET actor = (SELECT actor FROM audit_log WHERE seq = 16) WHERE seq = 17",
    )
    .await;
    assert_eq!(run(&["--db", &db.url, "audit", "verify"]).code, 0);
    exec(&store, "DELETE FROM audit_log WHERE seq = 30").await;
    let r = run(&["--db", &db.url, "audit", "verify"]);
    assert_eq!(r.code, 1);
    r.prints("#31: records 30 to 30 are missing");
}

/// 60 units of 7, 12, 30 and 95 staff under one parent, with SMALL_ORG's system and routine.
fn sixty_units() -> support::ConfigDir {
    let sizes = [7, 12, 30, 95];
    let units: Vec<(String, usize)> = (0..60)
        .map(|i| (format!("enhet-{i:02}"), sizes[i % 4]))
        .collect();
    let head = &support::SMALL_ORG[..support::SMALL_ORG.find("[[unit]]").unwrap()];
    let tail = &support::SMALL_ORG[support::SMALL_ORG.find("[[system]]").unwrap()..];
    let mut toml = format!(
        "{head}[[unit]]\nid = \"vard\"\nname = \"Vård\"\n\
         manager = {{ name = \"V\", email = \"v@example.se\" }}\n\
         escalate_to = {{ name = \"F\", email = \"f@example.se\" }}\n\n"
    );
    for (id, _) in &units {
        toml.push_str(&format!(
            "[[unit]]\nid = \"{id}\"\nname = \"{id}\"\nparent = \"vard\"\n\
             manager = {{ name = \"M\", email = \"{id}@example.se\" }}\n\n"
        ));
    }
    toml.push_str(tail);
    let staff: Vec<(&str, usize)> = units.iter().map(|(u, n)| (u.as_str(), *n)).collect();
    support::ConfigDir::new(&toml, Some(&support::staff_csv(&staff)))
}

per_backend!(fn twelve_monthly_draws_check_nearly_everyone_once);
fn twelve_monthly_draws_check_nearly_everyone_once(db: TestDb) {
    let cfg = sixty_units();
    let mut checked: HashSet<String> = HashSet::new();
    let mut december = None;
    for m in 1..=12 {
        // No tick in between: each month's draws count the earlier months' selections.
        let month = format!("2027-{m:02}");
        let r = run_on(
            &cfg.arg(),
            &db.url,
            Some("2027-12-20T12:00:00+01:00"),
            &["plan", "--month", &month, "--format", "json"],
        );
        assert_eq!(r.code, 0, "[{}] {month}: {}", db.backend, r.stderr);
        let draws: Vec<Value> = serde_json::from_str(&r.stdout).unwrap();
        for d in &draws {
            let n = d["population_size"].as_u64().unwrap();
            let expected = if n == 0 { 0 } else { n.div_ceil(10).max(1) };
            assert_eq!(d["sample_size"].as_u64().unwrap(), expected, "{d}");
            for s in d["selected"].as_array().unwrap() {
                checked.insert(s["staff_id"].as_str().unwrap().to_owned());
            }
            if m == 12 && n == 95 {
                december = d["id"].as_i64();
            }
        }
    }
    let staff = 15 * (7 + 12 + 30 + 95);
    assert!(
        checked.len() * 100 >= staff * 97,
        "[{}] {} of {staff} staff checked in twelve months",
        db.backend,
        checked.len()
    );
    let id = december.unwrap().to_string();
    let r = run_on(&cfg.arg(), &db.url, None, &["draw", "verify", &id]);
    assert_eq!(r.code, 0, "[{}] {}{}", db.backend, r.stdout, r.stderr);
    r.prints("verified");
}
