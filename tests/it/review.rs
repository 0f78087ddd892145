//! Review tasks end to end, on both backends: made when a draw's extracts are in, with the
//! rules' flags on the rows; announced, reminded and escalated through the file outbox;
//! closed with an outcome that is written back; a remark opens a case that is followed to
//! a decision; rows of a review without remark are purged. Targeted checks and patient
//! requests go through the same pipeline.

use chrono::TimeDelta;
use loggvakt::cases::{self, CaseError};
use loggvakt::checks;
use loggvakt::clock::Clock;
use loggvakt::model::case::{Decision, Step};
use loggvakt::model::check::{CheckKind, NewCheck};
use loggvakt::model::rules::Code;
use loggvakt::model::task::{TaskKind, TaskState};
use loggvakt::review::{Completion, Review, ReviewError};
use loggvakt::rules::Rules;
use loggvakt::stage::Stage;
use loggvakt_connector::ReviewOutcome;

use crate::support::fixture::{Setup, first_week, pnr, setup, tick};
use crate::support::{self, TestDb, at, count, loggvakt, per_backend};

fn outbox(s: &Setup) -> Vec<String> {
    let dir = s.cfg.path().join("outbox");
    let mut mails: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    mails.sort();
    mails
}

/// Completes a task as its reviewer would, by `by`.
async fn complete(
    review: &Review<'_>,
    s: &Setup,
    task: i64,
    outcome: ReviewOutcome,
    comment: Option<&str>,
    by: &str,
) -> Result<Completion, ReviewError> {
    review
        .complete(task, outcome, comment, by, true, &s.connectors)
        .await
}

per_backend!(async fn tasks_notices_reminder_escalation_outcomes_case_and_purge);
async fn tasks_notices_reminder_escalation_outcomes_case_and_purge(db: TestDb) {
    let s = setup();
    let store = db.open().await;
    let b = db.backend;
    first_week(&s, &store).await;

    // One task per draw with a sample (hemtjänst 2 of 12, boende 1 of 4; vård has no
    // staff), assigned to the unit's manager.
    let tasks = store.tasks(None).await.unwrap();
    assert_eq!(tasks.len(), 2, "[{b}] a task per draw with a sample");
    let hem = tasks.iter().find(|t| t.unit == "hemtjanst").unwrap();
    let boende = tasks.iter().find(|t| t.unit == "boende").unwrap();
    assert_eq!(hem.reviewer_email, "hanna@example.se");
    assert_eq!(
        (hem.users, hem.events),
        (2, 8),
        "[{b}] 4 rows per sampled user"
    );
    assert_eq!(boende.kind, TaskKind::Stickprov);
    assert_eq!((hem.deadline - hem.created_at).num_days(), 14);

    // The 23:30 rows are flagged off_hours, with a Swedish reason and no patient data.
    let events = store.events_of(hem.draw_id, None).await.unwrap();
    let late: Vec<_> = events
        .iter()
        .filter(|e| e.event.time.to_string().ends_with("23:30:00"))
        .collect();
    assert_eq!(late.len(), 2);
    for e in &late {
        let f = e
            .flags
            .iter()
            .find(|f| f.code == Code::OffHours)
            .expect("off_hours");
        assert!(f.reason.contains("23:30"), "{}", f.reason);
        assert!(!f.reason.contains("Tolvan") && !f.reason.contains("191212"));
    }
    assert!(hem.flagged_events >= 2);

    // Each manager got one notice in the outbox, with the link and no patient data.
    let mails = outbox(&s);
    assert_eq!(mails.len(), 2, "[{b}] one notice per task");
    let to_hanna = mails
        .iter()
        .find(|m| m.contains("To: hanna@example.se"))
        .unwrap();
    assert!(to_hanna.contains(&format!(
        "https://loggvakt.example.se/granskningar/{}",
        hem.id
    )));
    assert!(to_hanna.contains("Sista dag"));
    assert!(!to_hanna.contains("Tolvan") && !to_hanna.contains("19121212"));

    // Hemtjänst is reviewed without remark; its rows go at the next tick, its counts stay.
    let rules = Rules::for_org(&s.org);
    let clock = at("2027-05-10T10:00:00+02:00");
    let review = Review::new(
        Stage::new(&store, &s.org, &clock, "hanna@example.se"),
        &rules,
    );
    let hanna_closes_without_remark = |task| {
        let outcome = ReviewOutcome::UtanAnmarkning;
        complete(&review, &s, task, outcome, None, "hanna@example.se")
    };
    let done = hanna_closes_without_remark(hem.id).await.unwrap();
    assert_eq!(done.case, None);
    assert_eq!(done.write_back.as_deref(), Some("done"));
    assert!(matches!(
        hanna_closes_without_remark(hem.id).await,
        Err(ReviewError::Closed { .. })
    ));
    // Only the reviewer may close a task as reviewer.
    assert!(matches!(
        hanna_closes_without_remark(boende.id).await,
        Err(ReviewError::NotReviewer { .. })
    ));
    let r = tick(&s, &store, "2027-05-10T11:00:00+02:00").await;
    assert_eq!(
        (r.review.tasks_purged, r.review.rows_purged),
        (1, 8),
        "[{b}]"
    );
    let draw = hem.draw_id.unwrap();
    assert_eq!(
        count(
            &store,
            &format!("SELECT COUNT(*) FROM access_events WHERE draw_id = {draw}")
        )
        .await,
        0
    );
    let hem_after = store.task(hem.id).await.unwrap().unwrap();
    assert_eq!(hem_after.events, 8, "the counts stay");
    assert!(hem_after.rows_purged_at.is_some());
    assert_eq!(s.source.write_backs.lock().unwrap().len(), 1);

    // Boende is left open: one reminder three days before the deadline, one escalation
    // after it, to the escalation contact inherited from the parent unit.
    let deadline = boende.deadline;
    for offset in [-4i64, -2, -1, 1, 2] {
        let when = (deadline + TimeDelta::days(offset)).to_rfc3339();
        tick(&s, &store, &when).await;
    }
    let boende_now = store.task(boende.id).await.unwrap().unwrap();
    assert!(boende_now.reminded_at.is_some() && boende_now.escalated_at.is_some());
    let mails = outbox(&s);
    let reminders: Vec<_> = mails
        .iter()
        .filter(|m| m.contains("Påminnelse: loggkontroll"))
        .collect();
    let escalations: Vec<_> = mails
        .iter()
        .filter(|m| m.contains("To: fc@example.se"))
        .collect();
    assert_eq!(
        (reminders.len(), escalations.len()),
        (1, 1),
        "[{b}] once each"
    );
    assert!(escalations[0].contains("Bo Chef"));

    // A remark needs a comment, and opens a case.
    let late_clock = deadline + TimeDelta::days(3);
    let clock = Clock::starting_at(late_clock);
    let review = Review {
        cx: Stage {
            clock: &clock,
            ..review.cx
        },
        ..review
    };
    assert!(matches!(
        complete(
            &review,
            &s,
            boende.id,
            ReviewOutcome::MedAnmarkning,
            Some(" "),
            "bo@example.se"
        )
        .await,
        Err(ReviewError::CommentRequired)
    ));
    let done = complete(
        &review,
        &s,
        boende.id,
        ReviewOutcome::MedAnmarkning,
        Some("Läst journal utan vårdrelation kl 23:30"),
        "bo@example.se",
    )
    .await
    .unwrap();
    let case = done.case.expect("a case");
    assert_eq!(
        s.source.write_backs.lock().unwrap()[1].outcome,
        ReviewOutcome::MedAnmarkning
    );

    // The case: decided only after its steps; then kept ten years, rows with it.
    assert!(matches!(
        cases::decide(
            &Stage::new(&store, &s.org, &clock, "bo"),
            case,
            Decision::PoliceReport,
            "polisanmälan"
        )
        .await,
        Err(CaseError::StepsMissing { .. })
    ));
    for step in Step::ALL {
        cases::record_step(
            &Stage::new(&store, &s.org, &clock, "bo"),
            case,
            step,
            "gjort",
        )
        .await
        .unwrap();
    }
    assert!(matches!(
        cases::record_step(
            &Stage::new(&store, &s.org, &clock, "bo"),
            case,
            Step::InformChief,
            "igen"
        )
        .await,
        Err(CaseError::StepDone { .. })
    ));
    let until = cases::decide(
        &Stage::new(&store, &s.org, &clock, "fc"),
        case,
        Decision::PoliceReport,
        "anmält",
    )
    .await
    .unwrap();
    assert_eq!((until - late_clock).num_days() / 365, 10);
    let r = tick(&s, &store, &(late_clock + TimeDelta::days(1)).to_rfc3339()).await;
    assert_eq!(r.review.tasks_purged, 0, "[{b}] the case keeps its rows");
    let stored = store.case(case).await.unwrap().unwrap();
    assert_eq!(stored.decision, Some(Decision::PoliceReport));
    assert_eq!(
        store.task(boende.id).await.unwrap().unwrap().state,
        TaskState::Closed
    );
    // ... and purged when the ten years have passed.
    let r = tick(&s, &store, &(until + TimeDelta::days(1)).to_rfc3339()).await;
    assert_eq!(r.review.tasks_purged, 1, "[{b}] purged after its retention");

    let audit = loggvakt::store::audit::verify(&store).await.unwrap();
    assert!(
        matches!(audit, loggvakt::store::audit::Verdict::Intact { .. }),
        "[{b}]"
    );
}

per_backend!(async fn targeted_checks_and_patient_requests_use_the_same_pipeline);
async fn targeted_checks_and_patient_requests_use_the_same_pipeline(db: TestDb) {
    let s = setup();
    let store = db.open().await;
    let b = db.backend;
    let clock = at("2027-05-03T10:00:00+02:00");
    let day = |d: &str| d.parse().unwrap();
    let new = |kind, subject: &str, unit: Option<&str>| NewCheck {
        kind,
        system: "cosmic".into(),
        unit: unit.map(Into::into),
        subject: subject.into(),
        from: day("2027-04-01"),
        to: day("2027-04-30"),
        reason: "misstanke".into(),
        request: None,
    };
    let create = |new: NewCheck| checks::create(&store, &s.org, &clock, "admin", new);
    // A user check goes to the user's own unit's manager.
    let (user_check, _) = create(new(CheckKind::User, "c800013", None)).await.unwrap();
    // Bad input: unknown user without unit, a bad personnummer, a future period.
    assert!(create(new(CheckKind::User, "nobody", None)).await.is_err());
    assert!(
        create(new(CheckKind::Patient, "19121212-1213", Some("boende")))
            .await
            .is_err()
    );
    let mut future = new(CheckKind::User, "C800001", None);
    future.to = day("2027-06-01");
    assert!(create(future).await.is_err());

    let mut request = new(CheckKind::PatientRequest, pnr(7).digits(), Some("boende"));
    request.request = Some((day("2027-05-02"), "pass".into(), "Vera Chef".into()));
    let (req, req_order) = create(request).await.unwrap();
    // Ordered in the name of the reviewing unit's orderer (here its manager).
    let orderer = store
        .order(req_order)
        .await
        .unwrap()
        .unwrap()
        .request
        .orderer;
    assert_eq!(orderer.map(|o| o.email).as_deref(), Some("bo@example.se"));

    tick(&s, &store, "2027-05-03T11:00:00+02:00").await;
    let user_task = store
        .task_of_check(user_check)
        .await
        .unwrap()
        .expect("task");
    assert_eq!(user_task.kind, TaskKind::Riktad, "[{b}]");
    assert_eq!(user_task.unit, "boende");
    assert_eq!(user_task.events, 4);
    let req_task = store.task_of_check(req).await.unwrap().expect("task");
    assert_eq!(req_task.kind, TaskKind::PatientRequest);
    let rows = store.events_of(None, Some(req)).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|e| e.event.patient_id.digits() == pnr(7).digits())
    );

    checks::record_dispatch(&store, &clock, "vera", req, "RR123456785SE")
        .await
        .unwrap();
    checks::record_receipt(&store, &clock, "vera", req, day("2027-05-06"))
        .await
        .unwrap();
    let stored = store.check(req).await.unwrap().unwrap();
    let doc = stored.request.unwrap();
    assert_eq!(doc.registered_mail.as_deref(), Some("RR123456785SE"));
    assert_eq!(doc.receipt_at, Some(day("2027-05-06")));
    assert!(
        checks::record_dispatch(&store, &clock, "vera", user_check, "X")
            .await
            .is_err()
    );
}

/// The command line: list, show (rows with flags), complete; errors are one line.
#[tokio::test(flavor = "multi_thread")]
async fn review_commands() {
    let s = setup();
    let db = TestDb::sqlite();
    let store = db.open().await;
    first_week(&s, &store).await;
    let task = store.tasks(None).await.unwrap()[0].clone();
    let run = |args: &[&str]| {
        let out = loggvakt()
            .args([
                "--db",
                &db.url,
                "--config",
                &s.cfg.arg(),
                "--now",
                "2027-05-10T10:00:00+02:00",
            ])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&["review", "list", "--format", "json"]);
    assert_eq!(code, Some(0));
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["state"], "open");

    let id = task.id.to_string();
    let (code, out, _) = run(&["review", "show", &id, "--flagged"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("off_hours"), "{out}");
    assert!(out.contains("Checklista"));
    assert!(
        out.contains("Kontrollen 2027-05 granskar aktivitet under 2027-04."),
        "{out}"
    );
    assert!(out.contains("hela dygnet"), "{out}");

    let (code, _, err) = run(&["review", "complete", &id, "--outcome", "med_anmarkning"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("needs a comment"), "{err}");
    let (code, out, _) = run(&[
        "review",
        "complete",
        &id,
        "--outcome",
        "med_anmarkning",
        "--comment",
        "oklart",
        "--by",
        "hanna@example.se",
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("case 1 opened"), "{out}");
    let (code, out, _) = run(&["case", "show", "1"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("[ ] Samtal med medarbetaren"), "{out}");
    let (code, _, err) = run(&["case", "decide", "1", "no_breach", "--note", "x"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("contact_employee"), "{err}");
    let (code, _, err) = run(&["review", "show", "999"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no review task 999"), "{err}");
}

/// The small organisation with a monthly protected-identity routine on its cosmic system
/// (the fake source searches by patient); the list goes in `skyddade.csv`.
fn protected_org() -> support::ConfigDir {
    let toml = format!(
        "{}{}\n[[routine]]\nid = \"skyddade\"\nkind = \"riktad\"\nsystem = \"cosmic\"\nunits = [\"vard\"]\ncadence = \"monthly\"\n",
        support::SMALL_ORG.replace(
            "staff_csv = \"staff.csv\"",
            "staff_csv = \"staff.csv\"\nprotected_csv = \"skyddade.csv\""
        ),
        "[notify]\noutbox = \"outbox\"\n"
    );
    support::ConfigDir::new(&toml, Some(&support::fixture::staff()))
}

/// Its organisation, with the fake source as cosmic's connector.
fn protected_connectors(
    cfg: &support::ConfigDir,
) -> (
    loggvakt::model::org::Organisation,
    loggvakt::connectors::Connectors,
) {
    let org = loggvakt::config::load(cfg.path()).unwrap();
    let connectors = loggvakt::connectors::Connectors::for_org(&org).with(
        "cosmic",
        std::sync::Arc::new(crate::support::fixture::Source::default()),
    );
    (org, connectors)
}

per_backend!(async fn protected_identities_are_checked_every_month);
/// A scheduled targeted routine checks every patient with protected identity each month,
/// once, by patient, and the result is reviewed like any check.
async fn protected_identities_are_checked_every_month(db: TestDb) {
    let cfg = protected_org();
    std::fs::write(
        cfg.path().join("skyddade.csv"),
        format!("personnummer\n{}\n{}\n", pnr(21).digits(), pnr(22).digits()),
    )
    .unwrap();
    let (org, connectors) = protected_connectors(&cfg);
    let store = db.open().await;
    let b = db.backend;
    let tick_at = |when: &str| {
        let (store, org, connectors) = (&store, &org, &connectors);
        let clock = at(when);
        async move {
            loggvakt::tick::tick(store, org, connectors, &clock, "test")
                .await
                .unwrap()
        }
    };
    let r = tick_at("2027-05-01T07:00:00+02:00").await;
    assert_eq!(
        r.review.checks_created, 2,
        "[{b}] one check per protected patient"
    );
    let r = tick_at("2027-05-01T08:00:00+02:00").await;
    assert_eq!(r.review.checks_created, 0, "[{b}] once per month");
    let checks = store.checks().await.unwrap();
    assert!(
        checks
            .iter()
            .all(|c| c.kind == CheckKind::Patient && c.unit == "vard")
    );
    assert_eq!(checks[0].from.to_string(), "2027-04-01 00:00:00");
    let tasks: Vec<_> = store
        .tasks(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.kind == TaskKind::Riktad)
        .collect();
    assert_eq!(tasks.len(), 2, "[{b}] each is reviewed by the vård manager");
    assert!(tasks.iter().all(|t| t.reviewer_email == "vera@example.se"));
    // The rows are flagged as protected identity.
    let rows = store.events_of(None, Some(checks[0].id)).await.unwrap();
    assert!(
        rows.iter()
            .all(|e| e.flags.iter().any(|f| f.code == Code::ProtectedIdentity))
    );
    let r = tick_at("2027-06-01T07:00:00+02:00").await;
    assert_eq!(r.review.checks_created, 2, "[{b}] and again next month");
}

per_backend!(async fn each_protected_patient_is_checked_by_their_own_unit);
/// The protected list names a patient's unit; another patient goes to the unit whose staff
/// opened their record most in the stored extracts; without either, the routine's unit.
async fn each_protected_patient_is_checked_by_their_own_unit(db: TestDb) {
    let cfg = protected_org();
    // pnr(3) is in every sampled user's rows (the fake source): hemtjänst has two sampled
    // users, boende one.
    std::fs::write(
        cfg.path().join("skyddade.csv"),
        format!(
            "personnummer,unit\n{},boende\n{},\n{},\n",
            pnr(21).digits(),
            pnr(3).digits(),
            pnr(22).digits()
        ),
    )
    .unwrap();
    let (org, connectors) = protected_connectors(&cfg);
    let store = db.open().await;
    let b = db.backend;
    for day in 1..=7 {
        let clock = at(&format!("2027-05-{day:02}T07:00:00+02:00"));
        loggvakt::tick::tick(&store, &org, &connectors, &clock, "test")
            .await
            .unwrap();
    }
    let clock = at("2027-06-01T07:00:00+02:00");
    loggvakt::tick::tick(&store, &org, &connectors, &clock, "test")
        .await
        .unwrap();
    let checks = store.checks().await.unwrap();
    let unit_of = |month: &str, p: loggvakt_connector::Personnummer| {
        checks
            .iter()
            .find(|c| c.subject == p.digits() && c.month.is_some_and(|m| m.to_string() == month))
            .map(|c| c.unit.to_string())
            .unwrap_or_else(|| panic!("[{b}] a {month} check of each patient"))
    };
    for (month, patient, unit, why) in [
        // May: nothing is stored yet.
        ("2027-05", pnr(21), "boende", "the listed unit"),
        ("2027-05", pnr(3), "vard", "the routine's unit"),
        // June: May's rows show who opened the records (pnr(22) by the check's own rows).
        ("2027-06", pnr(21), "boende", "the listed unit"),
        ("2027-06", pnr(3), "hemtjanst", "whose staff opened it most"),
        ("2027-06", pnr(22), "hemtjanst", ""),
    ] {
        assert_eq!(unit_of(month, patient), unit, "[{b}] {why}");
    }
}
