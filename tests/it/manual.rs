//! Manual mode and deliveries outside loggvakt (issue 10): a system with no API goes from draw
//! to closed task through the command line, with a work instruction, one user's log uploaded
//! and one reviewed on screen; a part delivered by post is reviewed outside loggvakt; a task
//! opens on its first delivered part and waits for the rest before it closes utan anmärkning.

use loggvakt::model::task::Coverage;
use loggvakt::store::Store;

use crate::support::fixture::{MANUAL_ORG, manual_staff};
use crate::support::{ConfigDir, EXTRACT_HEADER, Run, TestDb, per_backend, personnummer, run_on};

struct Manual {
    cfg: ConfigDir,
    db: TestDb,
}

impl Manual {
    fn run(&self, now: &str, args: &[&str]) -> Run {
        run_on(&self.cfg.arg(), &self.db.url, Some(now), args)
    }

    fn ok(&self, now: &str, args: &[&str]) -> Run {
        let r = self.run(now, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r
    }

    /// Ticks on each of the first seven days of May 2027: the draw runs on its day.
    fn first_week(&self) {
        for day in 1..=7 {
            self.ok(&format!("2027-05-{day:02}T07:00:00+02:00"), &["tick"]);
        }
    }

    fn outbox(&self) -> Vec<String> {
        let dir = self.cfg.path().join("outbox");
        let mut mails: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        mails.sort();
        mails
    }
}

per_backend!(async fn a_system_without_an_api_goes_from_draw_to_closed_task_by_hand);
async fn a_system_without_an_api_goes_from_draw_to_closed_task_by_hand(db: TestDb) {
    let m = Manual {
        cfg: ConfigDir::new(MANUAL_ORG, Some(&manual_staff())),
        db,
    };
    let b = m.db.backend;
    m.first_week();
    let store = Store::open(&m.db.url).await.unwrap();

    // Nothing was sent: each part waits for a person, and the task is there at once.
    let orders = store.orders(None).await.unwrap();
    assert_eq!(orders.len(), 2, "[{b}] one part per sampled user");
    assert!(orders.iter().all(|o| o.state.as_str() == "manual"), "[{b}]");
    let tasks = store.tasks(None).await.unwrap();
    assert_eq!(tasks.len(), 1, "[{b}]");
    let task = &tasks[0];
    let id = task.id.to_string();

    // The manager's notice carries the instruction: every sampled user and period.
    let draw = store.draw(task.draw_id.unwrap()).await.unwrap().unwrap();
    let mails = m.outbox();
    let notice = mails
        .iter()
        .find(|m| m.contains("Arbetsinstruktion"))
        .unwrap_or_else(|| panic!("[{b}] the assigned notice in {mails:?}"));
    assert!(notice.contains("hanna@example.se"), "{notice}");
    assert!(notice.contains("Arbetsinstruktion"), "{notice}");
    for s in &draw.selected {
        let day = s.review_from.date_naive().to_string();
        assert!(
            notice.contains(&s.username),
            "[{b}] {} in {notice}",
            s.username
        );
        assert!(
            notice.contains(&format!("{day} 00:00 till {day} 23:59")),
            "[{b}] the period of {} in {notice}",
            s.username
        );
    }

    // Utan anmärkning waits for both users.
    let now = "2027-05-09T10:00:00+02:00";
    let r = m.run(
        now,
        &["review", "complete", &id, "--outcome", "utan_anmarkning"],
    );
    assert_ne!(r.code, 0, "[{b}]");
    r.says("not every sampled user is reviewed yet");

    // The first user's export is uploaded; the second one's log was read on screen.
    let (first, second) = (&draw.selected[0], &draw.selected[1]);
    let first_order = orders
        .iter()
        .find(|o| format!("{:?}", o.request.subject).contains(&first.username))
        .unwrap();
    let time = first.review_from.naive_local() + chrono::TimeDelta::hours(9);
    let file = m.cfg.path().join("export.csv");
    std::fs::write(
        &file,
        format!(
            "{EXTRACT_HEADER}\n{},journal,{},Person,{},,Hemtjänst Norr,read,Läst journal,\n",
            time.format("%Y-%m-%dT%H:%M:%S"),
            first.username,
            personnummer("121212", 1)
        ),
    )
    .unwrap();
    let order_id = first_order.id.to_string();
    m.ok(
        now,
        &[
            "extract",
            "import",
            "--order",
            &order_id,
            file.to_str().unwrap(),
        ],
    );
    // A record needs the checklist answered.
    let record = [
        "review",
        "record",
        &id,
        "--user",
        &second.username,
        "--via",
        "screen",
    ];
    let r = m.run(now, &[&record[..], &["--rows", "14"]].concat());
    assert_ne!(r.code, 0, "[{b}]");
    r.says("checklist");
    m.ok(
        now,
        &[&record[..], &["--rows", "14", "--checklist-done"]].concat(),
    );
    m.ok(now, &["tick"]);

    let show = m.ok(now, &["review", "show", &id, "--format", "json"]);
    let shown: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    let states: Vec<&str> = shown["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["coverage"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 2, "[{b}] {shown}");
    assert!(
        states.contains(&"rows") && states.contains(&"outside"),
        "[{b}] {states:?}"
    );
    assert_eq!(
        shown["task"]["events"], 1,
        "[{b}] the uploaded row is counted"
    );

    m.ok(
        now,
        &["review", "complete", &id, "--outcome", "utan_anmarkning"],
    );
    let coverage = loggvakt::review::coverage(&store, &store.task(task.id).await.unwrap().unwrap())
        .await
        .unwrap();
    assert!(matches!(
        coverage[0].coverage,
        Coverage::Rows | Coverage::Outside(_)
    ));

    // The report counts the check done on time, and made partly outside loggvakt.
    let r = m.ok(
        now,
        &["report", "compliance", "--year", "2027", "--format", "json"],
    );
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let overall = &report["totals"]["overall"];
    assert_eq!(overall["done_on_time"], 1, "[{b}] {overall}");
    assert_eq!(overall["reviewed_outside"], 1, "[{b}] {overall}");
    assert_eq!(
        overall["by_hand"], 1,
        "[{b}] marked as made by hand: {overall}"
    );
}
