//! `staff sync` against a real OpenLDAP server and from an HR export, and `staff reconcile`
//! of a system's user list, on the CLI and the admin page.

use loggvakt::calendar::Month;
use loggvakt::model::draw::Draw;

use crate::support::app::TestApp;
use crate::support::slapd::{PASSWORD, Slapd};
use crate::support::{
    ConfigDir, SMALL_ORG, TestDb, audit_count, per_backend, personnummer, run_on, staff_csv,
};

const EMPTY_REGISTER: &str = "id,name,unit,email,personnummer,cosmic\n";

/// SMALL_ORG synced from the directory at `url`: ids, units through a map (or as unit ids),
/// Cosmic usernames from `uid`.
fn directory_org(url: &str) -> String {
    format!(
        r#"{SMALL_ORG}
[staff_sync]
max_deactivate_share = 0.10

[staff_sync.ldap]
url = "{url}"
bind_dn = "cn=admin,dc=example,dc=se"
password_file = "ldap-password"
base_dn = "ou=people,dc=example,dc=se"
filter = "(objectClass=inetOrgPerson)"
timeout_secs = 10

[staff_sync.attributes]
id = "s{{employeeNumber}}"
name = "cn"
unit = "departmentNumber"
email = "mail"
personnummer = "employeeType"
usernames = {{ cosmic = "uid" }}

[staff_sync.unit_map]
HT = "hemtjanst"
"#
    )
}

/// A directory entry: staff `s<n>` in department `dept` with the Cosmic login `uid`.
fn entry(n: u32, dept: &str, uid: &str) -> String {
    format!(
        "dn: employeeNumber={n},ou=people,dc=example,dc=se\nobjectClass: inetOrgPerson\n\
         employeeNumber: {n}\ncn: Person {n}\nsn: Person\nuid: {uid}\n\
         departmentNumber: {dept}\nmail: p{n}@example.se\nemployeeType: {}\n\n",
        personnummer("800101", n - 1000)
    )
}

/// Ten staff: s1001–s1007 in hemtjänst (mapped from `HT`), s1008–s1010 in boende (the
/// directory holds the unit id itself).
fn ten_people() -> String {
    (1001..=1010)
        .map(|n| entry(n, if n <= 1007 { "HT" } else { "boende" }, &format!("c{n}")))
        .collect()
}

fn delete(n: u32) -> String {
    format!("dn: employeeNumber={n},ou=people,dc=example,dc=se\nchangetype: delete\n\n")
}

async fn draw_of(db: &TestDb, month: &str, unit: &str) -> Draw {
    let store = db.open().await;
    let month: Month = month.parse().unwrap();
    store
        .draws_for_month(month)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.unit.as_str() == unit)
        .unwrap_or_else(|| panic!("a draw of {unit} in {month}"))
}

fn members(draw: &Draw) -> Vec<(String, String)> {
    draw.population
        .iter()
        .map(|m| (m.staff_id.to_string(), m.username.clone()))
        .collect()
}

per_backend!(async fn directory_sync_adds_joiners_deactivates_leavers_and_refuses_a_purge);
async fn directory_sync_adds_joiners_deactivates_leavers_and_refuses_a_purge(db: TestDb) {
    let ldap = Slapd::start(&ten_people());
    let cfg = ConfigDir::new(&directory_org(&ldap.url), Some(EMPTY_REGISTER));
    std::fs::write(cfg.path().join("ldap-password"), format!("{PASSWORD}\n")).unwrap();
    let register = cfg.path().join("staff.csv");
    let sync = |now: &str, extra: &[&str]| {
        let mut args = vec!["staff", "sync"];
        args.extend_from_slice(extra);
        run_on(&cfg.arg(), &db.url, Some(now), &args)
    };
    let be = db.backend;
    let plan_month = |now: &str, month: &str| {
        let plan = run_on(&cfg.arg(), &db.url, Some(now), &["plan", "--month", month]);
        assert_eq!(plan.code, 0, "[{be}] {}", plan.stderr);
    };

    let first = sync("2027-04-20T09:00:00+02:00", &[]);
    assert_eq!(first.code, 0, "[{be}] {}", first.stderr);
    first.prints("10 entries read: 10 added, 0 changed, 0 deactivated");
    first.prints("+ s1008 joins boende");
    assert!(
        !first.stdout.contains("Person 10"),
        "names stay out of the output"
    );

    plan_month("2027-05-03T08:00:00+02:00", "2027-05");
    let may_draw = draw_of(&db, "2027-05", "hemtjanst").await;
    assert!(members(&may_draw).contains(&("s1003".into(), "c1003".into())));

    // A leaver, a joiner and a changed login, as the directory's administrators make them.
    ldap.modify(&format!(
        "{}{}dn: employeeNumber=1002,ou=people,dc=example,dc=se\nchangetype: modify\n\
         replace: uid\nuid: c1002-ny\n\n",
        delete(1003),
        entry(1011, "HT", "c1011").replacen("objectClass", "changetype: add\nobjectClass", 1),
    ));
    let second = sync("2027-05-20T09:00:00+02:00", &[]);
    assert_eq!(second.code, 0, "[{be}] {}", second.stderr);
    second.prints("+ s1011 joins hemtjanst");
    second.prints("~ s1002: usernames.cosmic");
    second.prints("- s1003 leaves (last day 2027-05-19)");
    second.prints("1 added, 1 changed, 1 deactivated, 8 unchanged");
    let text = std::fs::read_to_string(&register).unwrap();
    let leaver = text.lines().find(|l| l.starts_with("s1003,")).unwrap();
    assert!(
        leaver.ends_with(",2027-05-19"),
        "kept with its last day: {leaver}"
    );

    // June: the leaver is not drawn, the joiner is, under the new login.
    plan_month("2027-06-02T08:00:00+02:00", "2027-06");
    let june_members = members(&draw_of(&db, "2027-06", "hemtjanst").await);
    assert!(
        !june_members.iter().any(|(id, _)| id == "s1003"),
        "{june_members:?}"
    );
    assert!(june_members.contains(&("s1011".into(), "c1011".into())));
    assert!(june_members.contains(&("s1002".into(), "c1002-ny".into())));
    // May's draw still holds the leaver and still verifies.
    assert_eq!(
        draw_of(&db, "2027-05", "hemtjanst").await.population,
        may_draw.population
    );
    let verify = run_on(
        &cfg.arg(),
        &db.url,
        None,
        &["draw", "verify", &may_draw.id.to_string()],
    );
    assert_eq!(verify.code, 0, "[{be}] {}", verify.stderr);

    let store = db.open().await;
    assert_eq!(audit_count(&store, "staff.added").await, 11);
    assert_eq!(audit_count(&store, "staff.changed").await, 1);
    assert_eq!(audit_count(&store, "staff.deactivated").await, 1);

    // A directory that lost half the staff: refused, nothing changed, until --force.
    ldap.modify(&(1004..=1008).map(delete).collect::<String>());
    let before = std::fs::read(&register).unwrap();
    let refused = sync("2027-05-25T09:00:00+02:00", &[]);
    assert_ne!(refused.code, 0, "[{be}] a purge is refused");
    refused.says("deactivate 5 of 10 active staff");
    refused.says("--force");
    assert_eq!(std::fs::read(&register).unwrap(), before);
    assert_eq!(audit_count(&store, "staff.deactivated").await, 1);
    // A dry run shows who would go, and that it would be refused.
    let dry = sync("2027-05-25T09:00:00+02:00", &["--dry-run"]);
    assert_ne!(dry.code, 0, "[{be}] the dry run says it would be refused");
    dry.prints("- s1006 leaves (last day 2027-05-24)");
    dry.prints("5 deactivated");
    dry.prints("dry run");
    dry.says("--force");
    let dry = sync("2027-05-25T09:00:00+02:00", &["--force", "--dry-run"]);
    assert_eq!(dry.code, 0, "[{be}] {}", dry.stderr);
    assert_eq!(std::fs::read(&register).unwrap(), before);
    let forced = sync("2027-05-25T09:00:00+02:00", &["--force"]);
    assert_eq!(forced.code, 0, "[{be}] {}", forced.stderr);
    assert_eq!(audit_count(&store, "staff.deactivated").await, 6);
    let check = run_on(&cfg.arg(), &db.url, None, &["config", "check"]);
    assert_eq!(
        check.code, 0,
        "the synced register is valid: {}",
        check.stderr
    );
}

/// An HR export: semicolon-separated, its own column names, a pattern for usernames.
const HR_ORG_SYNC: &str = r#"
[staff_sync]
max_deactivate_share = 0.5

[staff_sync.attributes]
id = "s{anstnr}"
name = "{fornamn} {efternamn}"
unit = "enhet"
personnummer = "personnummer"
usernames = { cosmic = "C{anstnr}" }
"#;

fn hr_export(rows: &[(u32, &str)]) -> String {
    let mut csv = String::from("anstnr;fornamn;efternamn;enhet;personnummer\n");
    for (n, unit) in rows {
        csv.push_str(&format!(
            "{n};Anna;Test{n};{unit};{}\n",
            personnummer("750505", *n)
        ));
    }
    csv
}

#[test]
fn an_hr_export_syncs_the_register_with_the_same_guard() {
    let db = TestDb::sqlite();
    let cfg = ConfigDir::new(&format!("{SMALL_ORG}{HR_ORG_SYNC}"), Some(EMPTY_REGISTER));
    let export = cfg.path().join("hr.csv");
    let sync = |now: &str, extra: &[&str]| {
        let mut args = vec!["staff", "sync", "--file", export.to_str().unwrap()];
        args.extend_from_slice(extra);
        run_on(&cfg.arg(), &db.url, Some(now), &args)
    };
    let four = [
        (1, "hemtjanst"),
        (2, "hemtjanst"),
        (3, "boende"),
        (4, "boende"),
    ];
    std::fs::write(&export, hr_export(&four)).unwrap();
    let r = sync("2027-04-20T09:00:00+02:00", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.prints("4 added");
    let text = std::fs::read_to_string(cfg.path().join("staff.csv")).unwrap();
    let first = text.lines().find(|l| l.starts_with("s1,")).unwrap();
    assert_eq!(
        first,
        format!(
            "s1,Anna Test1,hemtjanst,,{},C1,2027-04-20",
            personnummer("750505", 1)
        )
    );

    // One leaves, one row cannot be read: that person is left alone, not deactivated.
    let mut export_text = hr_export(&four[..3]);
    export_text = export_text.replace(&personnummer("750505", 3), "19751305-1234");
    std::fs::write(&export, export_text).unwrap();
    let r = sync("2027-05-20T09:00:00+02:00", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.prints("- s4 leaves (last day 2027-05-19)");
    r.prints("1 deactivated, 2 unchanged, 1 skipped");
    r.says("hr.csv:4: personnummer is not valid");
    assert!(!r.stderr.contains("19751305"), "no personnummer in output");

    // An export of nobody: more than half of three would go.
    std::fs::write(&export, hr_export(&[])).unwrap();
    let r = sync("2027-05-21T09:00:00+02:00", &[]);
    assert_ne!(r.code, 0);
    r.says("deactivate 3 of 3 active staff");
}

/// Three staff with Cosmic accounts C800001–C800003.
fn reconcile_setup() -> ConfigDir {
    ConfigDir::new(SMALL_ORG, Some(&staff_csv(&[("hemtjanst", 3)])))
}

const USER_LIST: &str = "Användarnamn;Namn\nC800001;A\nc800002;B\nOKAND9;Okänd\n";

per_backend!(fn reconciliation_reports_unknown_and_stale_usernames);
fn reconciliation_reports_unknown_and_stale_usernames(db: TestDb) {
    let cfg = reconcile_setup();
    let list = cfg.path().join("cosmic-users.csv");
    std::fs::write(&list, USER_LIST).unwrap();
    let list_arg = list.to_str().unwrap();
    // `staff reconcile <args…>`.
    let reconcile = |args: &[&str]| {
        let mut all = vec!["staff", "reconcile"];
        all.extend_from_slice(args);
        run_on(&cfg.arg(), &db.url, None, &all)
    };
    let reconcile_json = |list: &str| -> serde_json::Value {
        let r = reconcile(&["--system", "cosmic", list, "--format", "json"]);
        assert_eq!(r.code, 0, "[{}] {}", db.backend, r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    };
    let json = reconcile_json(list_arg);
    assert_eq!(json["listed"], 3);
    assert_eq!(json["unknown"], serde_json::json!(["OKAND9"]));
    assert_eq!(
        json["stale"],
        serde_json::json!([{"staff_id": "s0003", "username": "C800003"}])
    );
    let table = reconcile(&["--system", "cosmic", list_arg]);
    table.prints("In the system but not on the staff, so never drawn (1):\n  OKAND9");
    table.prints("s0003        C800003");
    // The same list as a workbook (one sheet, inline strings, as a spreadsheet saves it).
    let workbook = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/data/cosmic-anvandare.xlsx"
    );
    let from_xlsx = reconcile_json(workbook);
    assert_eq!(from_xlsx["unknown"], json["unknown"]);
    assert_eq!(from_xlsx["stale"], json["stale"]);
    assert_eq!(from_xlsx["file"], "cosmic-anvandare.xlsx");

    let missing = reconcile(&["--system", "cosmic", list_arg, "--column", "Login"]);
    assert_ne!(missing.code, 0);
    missing.says("cosmic-users.csv: line 1: the header lacks the required column Login");
    let unknown_system = reconcile(&["--system", "nosuch", list_arg]);
    assert_ne!(unknown_system.code, 0);
    unknown_system.says("no system 'nosuch'");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = db.open().await;
        assert_eq!(audit_count(&store, "staff.reconciled").await, 3);
        let stored = store.reconciliations().await.unwrap();
        assert_eq!(stored.len(), 1, "the latest per system");
        assert_eq!(stored[0].result.unknown, ["OKAND9"]);
        assert_eq!(stored[0].result.file, "cosmic-anvandare.xlsx", "the latest");
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_page_shows_both_lists() {
    let app = TestApp::spawn().await;
    let list = app.setup.cfg.path().join("cosmic-users.csv");
    // The fixture's staff hold C800001–C800016; s0016's account is gone, OKAND9 is nobody's.
    let mut users = String::from("username\n");
    for i in 1..=15 {
        users.push_str(&format!("C8{i:05}\n"));
    }
    users.push_str("OKAND9\n");
    std::fs::write(&list, users).unwrap();
    let r = run_on(
        &app.setup.cfg.arg(),
        &app.db.url,
        None,
        &[
            "staff",
            "reconcile",
            "--system",
            "cosmic",
            list.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let admin = app.login("admin").await;
    let page = admin.page("/admin").await;
    assert!(
        page.contains("Användare i systemet som saknas i personalregistret (1)"),
        "{page}"
    );
    assert!(page.contains("<code>OKAND9</code>"));
    assert!(page.contains("Personal vars användarnamn inte finns i systemet (1)"));
    assert!(page.contains("s0016 (Person 16): <code>C800016</code>"));
    let reviewer = app.login("hanna").await;
    assert!(
        !reviewer.page("/admin").await.contains("OKAND9"),
        "admins only"
    );
}

#[test]
fn staff_sync_settings_and_dates_are_checked_at_load() {
    let toml = format!(
        r#"{SMALL_ORG}
[staff_sync]
max_deactivate_share = 2

[staff_sync.ldap]
url = "http://ldap.example"
bind_dn = "cn=loggvakt,dc=example,dc=se"
base_dn = "dc=example,dc=se"

[staff_sync.attributes]
id = "s{{employeeNumber"
name = "cn"
unit = "ou"
usernames = {{ nosuch = "uid" }}
"#
    );
    let register = "id,name,unit,email,personnummer,cosmic,active_from,active_to\n\
                    s1,A,hemtjanst,,,C1,2027-05-01,2027-04-30\n\
                    s2,B,hemtjanst,,,C2,,2027-13-01\n";
    let cfg = ConfigDir::new(&toml, Some(register));
    let r = crate::support::run(&["--config", &cfg.arg(), "config", "check"]);
    assert_ne!(r.code, 0);
    r.says("field `max_deactivate_share`: 2 is not a share between 0 and 1");
    r.says("field `ldap.url`: 'http://ldap.example' is not an ldap:// URL");
    r.says("a bind_dn needs its password in password_file or password_env (never inline)");
    r.says("field `attributes.id`: 's{employeeNumber' has a '{' without its '}'");
    r.says("field `attributes.usernames.nosuch`: unknown system 'nosuch'");
    r.says(
        "staff.csv:2: staff 's1': field `active_to`: 2027-04-30 is before active_from 2027-05-01",
    );
    r.says("staff.csv:3: staff 's2': field `active_to`: '2027-13-01' is not a date");

    let plain = ConfigDir::new(SMALL_ORG, Some(EMPTY_REGISTER));
    let db = TestDb::sqlite();
    let r = run_on(&plain.arg(), &db.url, None, &["staff", "sync"]);
    assert_ne!(r.code, 0);
    r.says("the configuration has no [staff_sync] table");
}
