//! `report compliance`: the figures match the database. The demo's two months are counted
//! again here, straight from the tables and with this file's own reading of the definitions
//! in `core/report/mod.rs`, and compared with the JSON, the CSV and the HTML; a hand-made data
//! set pins every category on each backend.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use loggvakt::calendar::local_date;
use loggvakt::clock::Clock;
use loggvakt::ident::{SystemId, UnitId};
use loggvakt::model::draw::DrawStatus;
use loggvakt::model::org::Organisation;
use loggvakt::model::report::Counts;
use loggvakt::report;
use loggvakt::store::Store;
use loggvakt_connector::ReviewOutcome;
use serde_json::Value;
use sqlx::Row;

use crate::support::{
    self, ConfigDir, SMALL_ORG, TestDb, count, instant, per_backend, run, staff_csv, state,
};

/// The demo starts here: a fixed year, so that both months fall in it.
const DEMO_START: &str = "2026-05-01T00:00:00+02:00";
const DEMO_YEAR: i32 = 2026;
/// The demo's seed: its draws (and so its flags, tasks and case) are the same every run.
const DEMO_SEED: &str = "1";
/// Just after the demo's last day of work.
const REPORT_NOW: &str = "2026-06-30T23:30:00+02:00";

/// What the database says about one unit × system × month, counted per draw.
type Expected = BTreeMap<(String, String, String), Counts>;

/// One draw as the tables hold it, with its task and case.
struct DrawFacts {
    unit: String,
    system: String,
    month: String,
    sample_size: i64,
    status: String,
    task: Option<(String, String, Option<String>, Option<String>)>,
    case_state: Option<String>,
    /// A sampled user's log was reviewed outside loggvakt.
    outside: bool,
    /// A part was taken out by hand or delivered outside loggvakt.
    by_hand: bool,
}

async fn draw_facts(store: &Store, year: i32) -> Vec<DrawFacts> {
    let rows = sqlx::query(
        "SELECT d.unit_id, d.system_id, d.month, d.sample_size, d.status, \
                t.state, t.deadline, t.closed_at, t.outcome, c.state, \
                (SELECT COUNT(*) FROM outside_reviews o WHERE o.task_id = t.id), \
                (SELECT COUNT(*) FROM orders p WHERE p.draw_id = d.id AND p.delivered_via IS NOT NULL) \
         FROM draws d \
         LEFT JOIN review_tasks t ON t.draw_id = d.id \
         LEFT JOIN cases c ON c.task_id = t.id \
         WHERE d.month LIKE $1",
    )
    .bind(format!("{year}-%"))
    .fetch_all(store.pool())
    .await
    .expect("draws");
    rows.iter()
        .map(|row| {
            let text = |i: usize| -> Option<String> { row.try_get(i).expect("a column") };
            DrawFacts {
                unit: text(0).expect("unit"),
                system: text(1).expect("system"),
                month: text(2).expect("month"),
                sample_size: row.try_get(3).expect("sample_size"),
                status: text(4).expect("status"),
                task: text(5).map(|state| (state, text(6).expect("deadline"), text(7), text(8))),
                case_state: text(9),
                outside: row.try_get::<i64, _>(10).expect("outside reviews") > 0,
                by_hand: row.try_get::<i64, _>(11).expect("parts by hand") > 0,
            }
        })
        .collect()
}

/// The definitions, read independently of the report's SQL.
fn expected(facts: &[DrawFacts], now: DateTime<Utc>) -> Expected {
    let now = loggvakt::store::ts(now);
    let mut out = Expected::new();
    for d in facts {
        let c = out
            .entry((d.unit.clone(), d.system.clone(), d.month.clone()))
            .or_default();
        if d.sample_size == 0 {
            c.empty += 1;
            continue;
        }
        c.planned += 1;
        let ran = d.status == "done" || d.status == "late";
        match (&d.task, d.status.as_str()) {
            (_, "missed") => c.missed += 1,
            (None, _) => c.waiting += 1,
            _ if !ran => c.waiting += 1,
            (Some((state, deadline, closed, _)), status) => {
                if state == "closed" {
                    let closed = closed.as_deref().expect("closed_at");
                    if status == "done" && closed <= deadline.as_str() {
                        c.done_on_time += 1;
                    } else {
                        c.late += 1;
                    }
                } else if deadline.as_str() < now.as_str() {
                    c.overdue += 1;
                } else {
                    c.in_progress += 1;
                }
            }
        }
        if let Some((state, _, _, outcome)) = &d.task {
            match (state.as_str(), outcome.as_deref()) {
                ("closed", Some("utan_anmarkning")) => c.utan_anmarkning += 1,
                ("closed", Some("med_anmarkning")) => c.med_anmarkning += 1,
                _ => {}
            }
        }
        if d.case_state.as_deref().is_some_and(|s| s != "decided") {
            c.open_cases += 1;
        }
        if d.task.as_ref().is_some_and(|t| t.0 == "closed") {
            c.reviewed_outside += i64::from(d.outside);
            c.by_hand += i64::from(d.outside || d.by_hand);
        }
    }
    out
}

fn counts_of(v: &Value) -> Counts {
    serde_json::from_value(v.clone()).expect("counts")
}

fn rows_of(report: &Value) -> Expected {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let key = |k: &str| r[k].as_str().expect(k).to_owned();
            ((key("unit"), key("system"), key("month")), counts_of(r))
        })
        .collect()
}

/// Who is covered, from the tables: `(unit, system) -> (active, covered)`.
async fn expected_coverage(
    store: &Store,
    org: &Organisation,
    today: NaiveDate,
    pairs: &[(String, String)],
) -> BTreeMap<(String, String), (i64, i64)> {
    let from = today.checked_sub_months(Months::new(12)).unwrap() + TimeDelta::days(1);
    let sampled: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.system_id, m.staff_id FROM draw_members m, draws d \
         WHERE d.id = m.draw_id AND d.status IN ('done', 'late') \
           AND d.execution_date BETWEEN $1 AND $2",
    )
    .bind(from.to_string())
    .bind(today.to_string())
    .fetch_all(store.pool())
    .await
    .expect("members");
    let sampled: HashSet<(String, String)> = sampled.into_iter().collect();
    pairs
        .iter()
        .map(|(unit, system)| {
            let population =
                org.population(&UnitId::new(unit).unwrap(), &SystemId::new(system).unwrap());
            let covered = population
                .iter()
                .filter(|m| sampled.contains(&(system.clone(), m.staff_id.to_string())))
                .count();
            (
                (unit.clone(), system.clone()),
                (population.len() as i64, covered as i64),
            )
        })
        .collect()
}

fn assert_partition(c: &Counts, what: &str) {
    assert_eq!(
        c.done_on_time + c.late + c.missed + c.in_progress + c.overdue + c.waiting,
        c.planned,
        "{what}: every planned check is in exactly one state: {c:?}"
    );
}

/// Every total is the sum of the rows it covers.
fn assert_totals(report: &Value) {
    let rows = report["rows"].as_array().unwrap();
    let sum = |f: &dyn Fn(&Value) -> bool| {
        let mut c = Counts::default();
        for r in rows.iter().filter(|r| f(r)) {
            c += counts_of(r);
        }
        c
    };
    let t = &report["totals"];
    for (list, key) in [
        ("by_unit", "unit"),
        ("by_system", "system"),
        ("by_month", "month"),
    ] {
        let totals = t[list].as_array().unwrap();
        let distinct: BTreeSet<&str> = rows.iter().map(|r| r[key].as_str().unwrap()).collect();
        assert_eq!(totals.len(), distinct.len(), "{list}");
        for total in totals {
            let id = total[key].as_str().unwrap();
            assert_eq!(counts_of(total), sum(&|r| r[key] == id), "{list} {id}");
            assert_partition(&counts_of(total), id);
        }
    }
    assert_eq!(counts_of(&t["overall"]), sum(&|_| true), "overall");
    for r in rows {
        assert_partition(&counts_of(r), &r.to_string());
    }
}

async fn assert_report_matches(dir: &Path, store: &Store, org: &Organisation) -> Value {
    let r = report_run(dir, &["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(json["year"], DEMO_YEAR);
    assert_eq!(json["organisation"], "Exempelkommunen");
    let now = instant(REPORT_NOW);

    let want = expected(&draw_facts(store, DEMO_YEAR).await, now);
    assert!(!want.is_empty(), "the demo made draws");
    assert_eq!(rows_of(&json), want, "per unit × system × month");
    assert_totals(&json);

    // The plain counts straight from the tables, overall.
    let overall = counts_of(&json["totals"]["overall"]);
    let like = format!("'{DEMO_YEAR}-%'");
    let n = |sql: String| async move { count(store, &sql).await };
    // Issue 11: the yearly staff information, straight from its table.
    let informed = &json["staff_information"];
    assert_eq!(
        informed["units"],
        n(format!(
            "SELECT COUNT(*) FROM staff_information WHERE year = {DEMO_YEAR}"
        ))
        .await
    );
    assert_eq!(
        informed["confirmed"],
        n(format!(
            "SELECT COUNT(*) FROM staff_information WHERE year = {DEMO_YEAR} AND confirmed_at IS NOT NULL"
        ))
        .await
    );
    assert_eq!(
        informed["units"].as_i64().unwrap(),
        org.staffed_units().count() as i64,
        "every staffed unit has its record"
    );
    assert_eq!(
        overall.planned,
        n(format!(
            "SELECT COUNT(*) FROM draws WHERE sample_size > 0 AND month LIKE {like}"
        ))
        .await
    );
    assert_eq!(
        overall.empty,
        n(format!(
            "SELECT COUNT(*) FROM draws WHERE sample_size = 0 AND month LIKE {like}"
        ))
        .await
    );
    assert_eq!(
        overall.missed,
        n(format!(
            "SELECT COUNT(*) FROM draws WHERE sample_size > 0 AND status = 'missed' AND month LIKE {like}"
        ))
        .await
    );
    assert_eq!(
        overall.done_on_time,
        n(format!(
            "SELECT COUNT(*) FROM draws d JOIN review_tasks t ON t.draw_id = d.id \
             WHERE d.sample_size > 0 AND d.status = 'done' AND t.state = 'closed' \
               AND t.closed_at <= t.deadline AND d.month LIKE {like}"
        ))
        .await
    );
    for outcome in ["utan_anmarkning", "med_anmarkning"] {
        let got = if outcome == "utan_anmarkning" {
            overall.utan_anmarkning
        } else {
            overall.med_anmarkning
        };
        assert_eq!(
            got,
            n(format!(
                "SELECT COUNT(*) FROM draws d JOIN review_tasks t ON t.draw_id = d.id \
                 WHERE t.state = 'closed' AND t.outcome = '{outcome}' AND d.month LIKE {like}"
            ))
            .await,
            "{outcome}"
        );
    }
    assert_eq!(
        overall.open_cases,
        n(format!(
            "SELECT COUNT(*) FROM cases c JOIN review_tasks t ON t.id = c.task_id \
             JOIN draws d ON d.id = t.draw_id WHERE c.state <> 'decided' AND d.month LIKE {like}"
        ))
        .await
    );

    // Coverage, per unit and system.
    let cov = &json["coverage"];
    let today = local_date(now);
    assert_eq!(cov["to"], today.to_string());
    let pairs: Vec<(String, String)> = cov["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unit"].as_str().unwrap().to_owned(),
                r["system"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want_cov = expected_coverage(store, org, today, &pairs).await;
    let mut covered_total = 0;
    for r in cov["rows"].as_array().unwrap() {
        let key = (
            r["unit"].as_str().unwrap().to_owned(),
            r["system"].as_str().unwrap().to_owned(),
        );
        let (active, covered) = want_cov[&key];
        assert_eq!(r["active_staff"], active, "{key:?}");
        assert_eq!(r["staff_covered_12m"], covered, "{key:?}");
        if active > 0 {
            let ratio = r["coverage"].as_f64().unwrap();
            assert!(
                (ratio - covered as f64 / active as f64).abs() <= 0.00005 + 1e-12,
                "{key:?}"
            );
        } else {
            assert!(r["coverage"].is_null(), "{key:?}");
        }
        covered_total += covered;
    }
    assert!(covered_total > 0, "the demo's draws covered somebody");
    assert_eq!(cov["overall"]["staff_covered_12m"], covered_total);
    // Every unit × system with draws in the year has a coverage row.
    let with_draws: BTreeSet<(String, String)> = want
        .keys()
        .map(|(u, s, _)| (u.clone(), s.clone()))
        .collect();
    assert!(with_draws.iter().all(|k| want_cov.contains_key(k)));

    // The CSV holds the same rows.
    let r = report_run(dir, &["--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut csv = csv::Reader::from_reader(r.stdout.as_bytes());
    assert_eq!(
        csv.headers().unwrap().iter().collect::<Vec<_>>(),
        report::CSV_COLUMNS
    );
    let mut from_csv = Expected::new();
    for record in csv.records() {
        let record = record.expect("CSV record");
        let n = |i: usize| record[i].parse::<i64>().expect("a count");
        from_csv.insert(
            (record[0].into(), record[2].into(), record[3].into()),
            Counts {
                planned: n(4),
                empty: n(5),
                done_on_time: n(6),
                late: n(7),
                missed: n(8),
                in_progress: n(9),
                overdue: n(10),
                waiting: n(11),
                utan_anmarkning: n(12),
                med_anmarkning: n(13),
                open_cases: n(14),
                reviewed_outside: n(15),
                by_hand: n(16),
            },
        );
    }
    assert_eq!(from_csv, want, "CSV rows");
    json
}

fn report_run(dir: &Path, extra: &[&str]) -> support::Run {
    let db = format!("sqlite://{}", dir.join("loggvakt.db").display());
    let config = dir.join("schedules");
    let mut args = vec![
        "--db",
        &db,
        "--config",
        config.to_str().unwrap(),
        "--now",
        REPORT_NOW,
        "report",
        "compliance",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Runs of 12 digits (a personnummer without its dash) or 8 + dash + 4.
fn personnummer_like(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    for i in 0..b.len() {
        if i + 12 <= b.len() && digits(&b[i..i + 12]) {
            return Some(text[i..i + 12].to_owned());
        }
        if i + 13 <= b.len()
            && digits(&b[i..i + 8])
            && b[i + 8] == b'-'
            && digits(&b[i + 9..i + 13])
        {
            return Some(text[i..i + 13].to_owned());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_match_the_database_on_the_demo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A pinned seed: the same draws, flags and remark case every run.
    let r = run(&[
        "--now",
        DEMO_START,
        "demo",
        "--seed",
        DEMO_SEED,
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "demo: {}\n{}", r.stdout, r.stderr);
    let months: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.len() == 7 && l.as_bytes()[4] == b'-')
        .collect();
    assert_eq!(months, ["2026-05", "2026-06"], "{}", r.stdout);

    let url = format!("sqlite://{}", dir.join("loggvakt.db").display());
    let store = Store::open(&url).await.expect("demo database");
    let org = loggvakt::config::load(&dir.join("schedules")).expect("demo configuration");

    let json = assert_report_matches(dir, &store, &org).await;
    let overall = counts_of(&json["totals"]["overall"]);
    assert!(
        overall.planned > 0 && overall.done_on_time > 0,
        "{overall:?}"
    );
    assert!(
        overall.empty > 0,
        "the demo has units without staff in a system"
    );
    assert_eq!(
        json["rows"].as_array().unwrap().len(),
        count(
            &store,
            "SELECT COUNT(*) FROM (SELECT DISTINCT unit_id, system_id, month FROM draws) x"
        )
        .await as usize
    );

    // No names, no personnummer, no usernames or patient ids, in any format.
    let html = report_run(dir, &[]);
    assert_eq!(html.code, 0, "{}", html.stderr);
    let csv = report_run(dir, &["--format", "csv"]);
    let staff_csv = std::fs::read_to_string(dir.join("schedules/staff.csv")).unwrap();
    let mut secrets: Vec<String> = Vec::new();
    let mut reader = csv::Reader::from_reader(staff_csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    for record in reader.records() {
        let record = record.unwrap();
        for (h, v) in headers.iter().zip(record.iter()) {
            let is_username = !["id", "name", "unit", "email", "personnummer"].contains(&h)
                && v.chars().any(|c| c.is_ascii_alphabetic());
            if (h == "name" || h == "email" || is_username) && !v.is_empty() {
                secrets.push(v.to_owned());
            }
        }
    }
    secrets.extend(org.staff.iter().map(|s| s.name.clone()));
    let patients: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT patient_id, patient_name FROM access_events")
            .fetch_all(store.pool())
            .await
            .unwrap();
    for (id, name) in patients {
        secrets.push(id);
        secrets.extend(name);
    }
    assert!(
        secrets.len() > 300,
        "the demo's staff are known: {}",
        secrets.len()
    );
    let json_text = serde_json::to_string(&json).unwrap();
    for (format, text) in [
        ("html", &html.stdout),
        ("csv", &csv.stdout),
        ("json", &json_text),
    ] {
        assert_eq!(personnummer_like(text), None, "{format}");
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{format} names {s}");
        }
    }

    // The page: Swedish, printable, charts inline, nothing fetched or run.
    let page = &html.stdout;
    for text in [
        "<!DOCTYPE html>",
        "Loggkontroller 2026",
        "Planerade",
        "I tid",
        "Sena",
        "Missade",
        "Pågår",
        "Försenade",
        "Utan anmärkning",
        "Med anmärkning",
        "Öppna ärenden",
        "Täckning 12 mån",
        "@media print",
        "<svg",
        "Så räknas siffrorna",
        "Hemtjänst Norr",
        "maj 2026",
        "juni 2026",
    ] {
        assert!(page.contains(text), "the page has {text}");
    }
    for banned in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!page.contains(banned), "no {banned}");
    }
    assert!(page.contains("<rect"), "the charts have bars");

    // Every state, by changing the stored facts; the report follows the tables.
    let closed_on_time: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT d.id, t.id FROM draws d JOIN review_tasks t ON t.draw_id = d.id \
         WHERE d.status = 'done' AND t.state = 'closed' AND t.closed_at <= t.deadline \
         ORDER BY d.id LIMIT 5",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(closed_on_time.len(), 5);
    let [
        (_, in_progress),
        (_, overdue),
        (unrun, _),
        (missed, _),
        (no_task, orphan),
    ] = closed_on_time[..]
    else {
        unreachable!()
    };
    state::task_reopened(&store, in_progress, instant("2026-07-15T00:00:00Z")).await;
    state::task_reopened(&store, overdue, instant("2026-06-15T00:00:00Z")).await;
    state::draw_running(&store, unrun).await;
    let now = instant(REPORT_NOW);
    state::draw_finished(&store, missed, DrawStatus::Missed, now).await;
    state::draw_finished(&store, no_task, DrawStatus::Late, now).await;
    state::task_detached_from_draw(&store, orphan).await;
    state::cases_reopened(&store).await;
    let json = assert_report_matches(dir, &store, &org).await;
    let overall = counts_of(&json["totals"]["overall"]);
    for (state, n) in [
        ("in_progress", overall.in_progress),
        ("overdue", overall.overdue),
        ("waiting", overall.waiting),
        ("missed", overall.missed),
        ("late", overall.late),
        ("open_cases", overall.open_cases),
    ] {
        assert!(n >= 1, "{state}: {overall:?}");
    }

    // A year without draws is an empty report, not an error.
    let r = report_run(dir, &["--year", "2025", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let empty: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(empty["rows"].as_array().unwrap().len(), 0);
    assert_eq!(counts_of(&empty["totals"]["overall"]), Counts::default());
    let r = report_run(dir, &["--year", "2025"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Inga stickprov är planerade för 2025"));
}

#[test]
fn a_bad_year_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("r.db").display());
    let config = support::example_config();
    for year in ["1800", "abc", "2027", "", "20266"] {
        let r = run(&[
            "--db",
            &db,
            "--config",
            config.to_str().unwrap(),
            "--now",
            "2026-06-30T12:00:00+02:00",
            "report",
            "compliance",
            "--year",
            year,
        ]);
        assert_eq!(r.code, 1, "--year {year:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
        r.says("--year");
        assert!(r.stdout.is_empty());
    }
    assert!(
        !tmp.path().join("r.db").exists(),
        "a bad year is refused before the database is touched"
    );
}

per_backend!(#[tokio::test] async fn every_category_is_counted_on_each_backend);
async fn every_category_is_counted_on_each_backend(db: TestDb) {
    let cfg = ConfigDir::new(
        SMALL_ORG,
        Some(&staff_csv(&[("hemtjanst", 10), ("boende", 3)])),
    );
    let org = loggvakt::config::load(cfg.path()).expect("config");
    let now = instant("2027-05-20T12:00:00Z");
    let clock = Clock::starting_at(now);
    let deadline = "2027-05-15T00:00:00Z";
    let (before, after) = ("2027-05-10T00:00:00Z", "2027-05-16T00:00:00Z");
    let (utan, med) = (ReviewOutcome::UtanAnmarkning, ReviewOutcome::MedAnmarkning);
    use DrawStatus::{Done, Late, Missed, Planned};
    let store = db.open().await;
    let s = &store;
    let draw =
        |routine: &'static str,
         unit: &'static str,
         day: &'static str,
         members: &'static [&'static str],
         status: DrawStatus| { state::draw(s, &org, routine, unit, day, members, status) };
    let on_time = draw("r1", "hemtjanst", "2027-05-03", &["s0001", "s0002"], Done).await;
    state::draw_task(s, on_time, deadline, Some((before, utan))).await;
    let ran_late = draw("r2", "hemtjanst", "2027-05-03", &["s0003"], Late).await;
    let t = state::draw_task(s, ran_late, deadline, Some((before, med))).await;
    state::case(s, t, false).await;
    let closed_late = draw("r3", "hemtjanst", "2027-05-04", &["s0002"], Done).await;
    let t = state::draw_task(s, closed_late, deadline, Some((after, utan))).await;
    state::case(s, t, true).await;
    draw("r4", "hemtjanst", "2027-05-04", &["s0004"], Missed).await;
    draw("r5", "hemtjanst", "2027-05-25", &["s0010"], Planned).await;
    draw("r6", "hemtjanst", "2027-05-05", &["s0009"], Done).await;
    let open = draw("r7", "hemtjanst", "2027-05-05", &["s0005"], Done).await;
    state::draw_task(s, open, "2027-05-30T00:00:00Z", None).await;
    // s9999 is no longer on the staff list.
    let overdue = draw("r8", "hemtjanst", "2027-05-05", &["s0008", "s9999"], Late).await;
    state::draw_task(s, overdue, "2027-05-19T00:00:00Z", None).await;
    draw("r9", "hemtjanst", "2027-05-05", &[], Done).await;
    let boende = draw("r1", "boende", "2027-04-06", &["s0011"], Done).await;
    let closed = Some(("2027-04-19T00:00:00Z", utan));
    state::draw_task(s, boende, "2027-04-20T00:00:00Z", closed).await;
    // Last year: outside the rows, inside the 12 months (2026-05-21 to 2027-05-20) ...
    draw("r1", "hemtjanst", "2026-12-02", &["s0006"], Done).await;
    // ... and outside both.
    draw("r1", "hemtjanst", "2026-05-20", &["s0007"], Done).await;

    let got = report::compliance(s, &org, 2027, &clock)
        .await
        .expect("report");
    let hem = Counts {
        planned: 8,
        empty: 1,
        done_on_time: 1,
        late: 2,
        missed: 1,
        in_progress: 1,
        overdue: 1,
        waiting: 2,
        utan_anmarkning: 2,
        med_anmarkning: 1,
        open_cases: 1,
        reviewed_outside: 0,
        by_hand: 0,
    };
    let bo = Counts {
        planned: 1,
        done_on_time: 1,
        utan_anmarkning: 1,
        ..Counts::default()
    };
    let rows: Vec<(&str, &str, &str, Counts)> = got
        .rows
        .iter()
        .map(|r| {
            (
                r.unit.as_str(),
                r.system.as_str(),
                r.month.as_str(),
                r.counts,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("hemtjanst", "cosmic", "2027-05", hem),
            ("boende", "cosmic", "2027-04", bo)
        ],
        "[{}] rows in configuration order",
        db.backend
    );
    assert_eq!(got.rows[0].unit_name, "Hemtjänst");
    let mut all = hem;
    all += bo;
    assert_eq!(got.totals.overall, all, "[{}]", db.backend);
    let months: Vec<&str> = got
        .totals
        .by_month
        .iter()
        .map(|m| m.month.as_str())
        .collect();
    assert_eq!(months, ["2027-04", "2027-05"]);

    let cov = &got.coverage;
    assert_eq!(
        (cov.from.to_string(), cov.to.to_string()),
        ("2026-05-21".into(), "2027-05-20".into())
    );
    let reach: Vec<(&str, i64, i64)> = cov
        .rows
        .iter()
        .map(|r| {
            (
                r.unit.as_str(),
                r.reach.active_staff,
                r.reach.staff_covered_12m,
            )
        })
        .collect();
    // hemtjanst: s0001-3, s0005, s0006, s0008 and s0009 (ran, no task yet); not the
    // missed draw's s0004, last May's s0007, nor s9999, who left. boende: s0011.
    assert_eq!(
        reach,
        [("hemtjanst", 10, 7), ("boende", 3, 1)],
        "[{}]",
        db.backend
    );
    assert_eq!(cov.rows[1].reach.coverage, Some(0.3333));
    assert_eq!(cov.overall.active_staff, 13);
    assert_eq!(cov.overall.staff_covered_12m, 8);

    let html = report::to_html(&got);
    assert!(html.contains("Loggkontroller 2027"));
    assert!(html.contains("maj 2027"));
    let csv = report::to_csv(&got);
    assert_eq!(csv.lines().count(), 3, "{csv}");
}

#[test]
fn the_year_defaults_to_the_clocks() {
    let clock = Clock::starting_at(instant("2026-12-31T23:30:00Z"));
    assert_eq!(
        report::current_year(&clock),
        2027,
        "already 2027 in Stockholm"
    );
}

#[test]
fn a_unit_name_that_is_a_formula_is_neutralised_in_the_csv() {
    let evil = r#"=HYPERLINK("http://evil.example/?x","Klicka")"#;
    let toml = SMALL_ORG.replace("name = \"Hemtjänst\"", &format!("name = '{evil}'"));
    assert!(toml.contains(evil));
    let cfg = ConfigDir::new(&toml, Some(&staff_csv(&[("hemtjanst", 10), ("boende", 3)])));
    let db = TestDb::sqlite();
    let now = "2027-05-10T12:00:00+02:00";
    let plan = support::run_on(
        &cfg.arg(),
        &db.url,
        Some(now),
        &["plan", "--month", "2027-05"],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let r = support::run_on(
        &cfg.arg(),
        &db.url,
        Some(now),
        &["report", "compliance", "--format", "csv"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut reader = csv::Reader::from_reader(r.stdout.as_bytes());
    let names: Vec<String> = reader
        .records()
        .map(|rec| rec.unwrap()[1].to_owned())
        .collect();
    assert!(names.contains(&format!("'{evil}")), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with('=')), "{names:?}");
}

per_backend!(#[tokio::test] async fn the_yearly_staff_information_is_made_confirmed_and_counted);
async fn the_yearly_staff_information_is_made_confirmed_and_counted(db: TestDb) {
    use loggvakt::model::user::{Role, User};
    use loggvakt::staff_information::{self, StaffInformationError};
    let (_cfg, org, store) = small_org(&db).await;
    let b = db.backend;
    let clock = Clock::starting_at(instant("2027-01-04T08:00:00Z"));
    let cx = loggvakt::stage::Stage::new(&store, &org, &clock, "scheduler:test");
    // One record per staffed unit (vård only groups the others), made once.
    assert_eq!(
        staff_information::create_yearly(&cx).await.unwrap(),
        2,
        "[{b}]"
    );
    assert_eq!(
        staff_information::create_yearly(&cx).await.unwrap(),
        0,
        "[{b}]"
    );
    let records = store.staff_information(2027).await.unwrap();
    let hem = records.iter().find(|r| r.unit == "hemtjanst").unwrap().id;
    let user = |name: &str| User {
        id: 0,
        username: name.into(),
        name: name.into(),
        email: format!("{name}@example.se"),
        role: Role::Reviewer,
        units: Vec::new(),
        disabled: false,
    };
    let on = "2027-01-03".parse().unwrap();
    assert!(matches!(
        staff_information::confirm(&cx, &user("bo"), hem, on, "APT").await,
        Err(StaffInformationError::NotAllowed)
    ));
    assert!(matches!(
        staff_information::confirm(
            &cx,
            &user("hanna"),
            hem,
            "2026-12-30".parse().unwrap(),
            "APT"
        )
        .await,
        Err(StaffInformationError::BadDay { year: 2027 })
    ));
    staff_information::confirm(&cx, &user("hanna"), hem, on, "Arbetsplatsträff")
        .await
        .unwrap();
    assert!(matches!(
        staff_information::confirm(&cx, &user("hanna"), hem, on, "igen").await,
        Err(StaffInformationError::Confirmed)
    ));

    let got = report::compliance(&store, &org, 2027, &clock)
        .await
        .unwrap();
    let confirmed = count(
        &store,
        "SELECT COUNT(*) FROM staff_information WHERE year = 2027 AND confirmed_at IS NOT NULL",
    )
    .await;
    assert_eq!(
        (got.staff_information.units, got.staff_information.confirmed),
        (2, confirmed),
        "[{b}]"
    );
    assert_eq!(confirmed, 1);
    let days: Vec<(&str, Option<chrono::NaiveDate>)> = got
        .staff_information
        .by_unit
        .iter()
        .map(|u| (u.unit.as_str(), u.informed_on))
        .collect();
    assert_eq!(
        days,
        [("hemtjanst", Some(on)), ("boende", None)],
        "[{b}] configuration order"
    );
    let html = report::to_html(&got);
    assert!(html.contains("1 av 2 enheter har bekräftat"), "[{b}]");
}

per_backend!(#[tokio::test] async fn the_follow_up_figures_match_the_tables);
async fn the_follow_up_figures_match_the_tables(db: TestDb) {
    use loggvakt::checks;
    use loggvakt::model::check::{CheckKind, NewCheck};
    let (_cfg, org, store) = small_org(&db).await;
    let b = db.backend;
    let s = &store;
    let clock = Clock::starting_at(instant("2027-05-20T12:00:00Z"));
    let new = |kind, subject: String, unit: Option<&str>, request| NewCheck {
        kind,
        system: "cosmic".into(),
        unit: unit.map(Into::into),
        subject,
        from: "2027-04-01".parse().unwrap(),
        to: "2027-04-30".parse().unwrap(),
        reason: "misstanke".into(),
        request,
    };
    let patient = crate::support::personnummer("121212", 3);
    let mut orders = Vec::new();
    for check in [
        new(CheckKind::User, "C800001".into(), None, None),
        new(CheckKind::Patient, patient.clone(), Some("vard"), None),
        new(
            CheckKind::PatientRequest,
            patient.clone(),
            Some("vard"),
            Some(("2027-05-11".parse().unwrap(), "pass".into(), "Vera".into())),
        ),
        new(
            CheckKind::PatientRequest,
            patient,
            Some("vard"),
            Some((
                "2027-05-18".parse().unwrap(),
                "körkort".into(),
                "Vera".into(),
            )),
        ),
    ] {
        let (id, order) = checks::create(s, &org, &clock, "test", check)
            .await
            .unwrap();
        orders.push((id, order));
    }
    // The first request was handed over on the 15th: 4 days.
    let handed = Clock::starting_at(instant("2027-05-15T09:00:00Z"));
    checks::record_dispatch(s, &handed, "test", orders[2].0, "RR1")
        .await
        .unwrap();
    // One order failed for good, one is past its delivery day.
    let exec = |sql: String| async move {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(s.pool())
            .await
            .unwrap()
    };
    exec(format!(
        "UPDATE orders SET state = 'failed' WHERE id = {}",
        orders[0].1
    ))
    .await;
    exec(format!(
        "UPDATE orders SET state = 'awaiting_delivery', deliver_by = '2027-05-19T00:00:00.000000Z' WHERE id = {}",
        orders[1].1
    ))
    .await;
    // Two cases: one decided (no breach), one open.
    for (routine, member, decided) in [("r1", "s0001", true), ("r2", "s0002", false)] {
        let d = state::draw(
            s,
            &org,
            routine,
            "hemtjanst",
            "2027-05-03",
            &[member],
            DrawStatus::Done,
        )
        .await;
        let closed = Some(("2027-05-10T00:00:00Z", ReviewOutcome::MedAnmarkning));
        let t = state::draw_task(s, d, "2027-05-15T00:00:00Z", closed).await;
        state::case(s, t, decided).await;
    }

    let got = report::compliance(s, &org, 2027, &clock)
        .await
        .unwrap()
        .follow_up;
    let n = |sql: &'static str| async move { count(s, sql).await };
    assert_eq!(
        got.targeted_by_user,
        n("SELECT COUNT(*) FROM checks WHERE kind = 'user'").await,
        "[{b}]"
    );
    assert_eq!(
        got.targeted_by_patient,
        n("SELECT COUNT(*) FROM checks WHERE kind = 'patient'").await
    );
    assert_eq!(
        got.targeted_checks,
        n("SELECT COUNT(*) FROM checks WHERE kind <> 'patient_request'").await
    );
    assert_eq!(
        got.patient_requests,
        n("SELECT COUNT(*) FROM patient_requests").await
    );
    assert_eq!(
        got.requests_handed_over,
        n("SELECT COUNT(*) FROM patient_requests WHERE dispatched_at IS NOT NULL").await
    );
    assert_eq!(
        (got.handover_days_mean, got.handover_days_max),
        (Some(4.0), Some(4)),
        "[{b}]"
    );
    assert_eq!(got.cases_opened, n("SELECT COUNT(*) FROM cases").await);
    assert_eq!(
        got.cases_open,
        n("SELECT COUNT(*) FROM cases WHERE decision IS NULL").await
    );
    assert_eq!(
        got.cases_no_breach,
        n("SELECT COUNT(*) FROM cases WHERE decision = 'no_breach'").await
    );
    assert_eq!(
        (got.cases_breach_labour_law, got.cases_police_report),
        (0, 0)
    );
    assert_eq!(
        got.deliveries_failed,
        n("SELECT COUNT(*) FROM orders WHERE state = 'failed'").await
    );
    assert_eq!(
        got.deliveries_overdue,
        n("SELECT COUNT(*) FROM orders WHERE state = 'awaiting_delivery' AND deliver_by < '2027-05-20T12:00:00.000000Z'").await
    );
    assert_eq!(
        (
            got.targeted_checks,
            got.patient_requests,
            got.cases_opened,
            got.deliveries_failed,
            got.deliveries_overdue
        ),
        (2, 2, 2, 1, 1),
        "[{b}] the figures are not all zero"
    );
}

/// The small organisation (hemtjänst of 10, boende of 3 under vård och omsorg) and a store on
/// `db`; the folder lives as long as the first value.
async fn small_org(db: &TestDb) -> (ConfigDir, Organisation, Store) {
    let cfg = ConfigDir::new(
        SMALL_ORG,
        Some(&staff_csv(&[("hemtjanst", 10), ("boende", 3)])),
    );
    let org = loggvakt::config::load(cfg.path()).expect("config");
    (cfg, org, db.open().await)
}
