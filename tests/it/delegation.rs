//! Issue 11: delegation. A manager hands a task to another named chef, who sees it, is told
//! and closes it, while the first manager no longer has it as theirs; the escalation target
//! reassigns an overdue task; a unit's loggkontroll delegated for a period sends its new
//! tasks to the delegate.

use loggvakt::delegation::{self, DelegationError};
use loggvakt::model::user::{Role, User};
use loggvakt::stage::Stage;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::fixture::{first_week, setup};
use crate::support::{TestDb, per_backend};

async fn answer(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| json!({"text": text})),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delegated_task_goes_to_the_named_chef_who_is_told_and_closes_it() {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres_or_skip("delegation"));
    for db in dbs {
        let url = db.url.clone();
        let app = TestApp::spawn_on_db(db, &url).await;
        let b = app.db.backend;
        let hanna = app.login("hanna").await;
        let task = hanna.json("/api/tasks").await[0]["id"].as_i64().unwrap();
        let delegate = |to: &str, reason: &str| json!({"to": to, "reason": reason});
        let path = format!("/api/tasks/{task}/delegate");

        // In writing, to a chef: refused otherwise, and nothing moves.
        let (status, body) = answer(hanna.api_post(&path, &delegate("bo", " ")).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "[{b}] {body}");
        assert!(
            body["error"].as_str().unwrap().contains("skriftlig"),
            "{body}"
        );
        let (status, body) = answer(hanna.api_post(&path, &delegate("ledning", "x")).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "[{b}] {body}");
        // Bo is no chief above hemtjänst and not its reviewer: he cannot take it himself.
        let bo = app.login("bo").await;
        let res = bo.api_post(&path, &delegate("bo", "tar över")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "[{b}]");

        let (status, body) = answer(
            hanna
                .api_post(&path, &delegate("bo", "Semester vecka 20–21"))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "[{b}] {body}");

        // Bo has it and is told; Hanna no longer has it as hers.
        let bos: Vec<i64> = bo
            .json("/api/tasks")
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect();
        assert!(bos.contains(&task), "[{b}] {bos:?}");
        let store = app.store().await;
        let told = crate::support::told(&store, Some(task), "assigned").await;
        assert!(told.contains(&"bo@example.se".to_owned()), "[{b}] {told:?}");
        let page = hanna.page("/granskningar").await;
        assert!(page.contains("Inga granskningar väntar på dig."), "[{b}]");
        assert!(
            page.contains("id=\"unit-tasks\""),
            "[{b}] still seen as hers to oversee"
        );
        let page = bo.page(&format!("/granskningar/{task}")).await;
        assert!(
            page.contains("Semester vecka 20–21"),
            "[{b}] the reason is shown"
        );

        // Bo closes it, as its reviewer.
        let (status, body) = answer(
            bo.api_post(
                &format!("/api/tasks/{task}/complete"),
                &json!({"outcome": "utan_anmarkning"}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "[{b}] {body}");
        let closed = store.task(task).await.unwrap().unwrap();
        assert_eq!(closed.closed_by.as_deref(), Some("bo@example.se"), "[{b}]");
        let listed = hanna.json("/api/delegations").await;
        assert_eq!(
            listed[0]["from_email"], "hanna@example.se",
            "[{b}] {listed}"
        );
        assert_eq!(listed[0]["to"]["email"], "bo@example.se");
        assert_eq!(listed[0]["created_by"], "web:hanna");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_escalation_target_reassigns_an_overdue_task() {
    // The end of May: the first week's tasks are past their deadline, escalated.
    let app = TestApp::spawn_at("2027-05-31T10:00:00+02:00", true).await;
    app.add_user("fc", "reviewer", "fc@example.se");
    app.add_user("vera", "reviewer", "vera@example.se");
    let fc = app.login("fc").await;
    let tasks = fc.json("/api/tasks").await;
    let hem = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["unit"] == "hemtjanst")
        .expect("the förvaltningschef sees the units below");
    let task = hem["id"].as_i64().unwrap();
    let page = fc.page("/granskningar").await;
    assert!(page.contains("Försenad"), "overdue in the list");

    // Bo, enhetschef beside Hanna, is no chief above hemtjänst.
    let bo = app.login("bo").await;
    let res = bo
        .api_post(
            &format!("/api/tasks/{task}/delegate"),
            &json!({"to": "bo", "reason": "tar över"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = fc
        .api_post(
            &format!("/api/tasks/{task}/delegate"),
            &json!({"to": "vera", "reason": "Hanna är sjukskriven; Vera granskar"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let store = app.store().await;
    let moved = store.task(task).await.unwrap().unwrap();
    assert_eq!(moved.reviewer_email, "vera@example.se");
    let vera = app.login("vera").await;
    let page = vera.page("/granskningar").await;
    assert!(
        page.contains(&format!(
            "href=\"/granskningar/{task}\" class=\"task-link\""
        )),
        "Vera has it"
    );
}

fn chef(name: &str, role: Role) -> User {
    User {
        id: 0,
        username: name.into(),
        name: name.into(),
        email: format!("{name}@example.se"),
        role,
        units: Vec::new(),
        disabled: false,
    }
}

per_backend!(async fn a_units_loggkontroll_delegated_for_a_period_goes_to_the_delegate);
async fn a_units_loggkontroll_delegated_for_a_period_goes_to_the_delegate(db: TestDb) {
    let s = setup();
    let store = db.open().await;
    let b = db.backend;
    let clock = crate::support::at("2027-04-20T10:00:00+02:00");
    let cx = Stage::new(&store, &s.org, &clock, "web:hanna");
    let (hanna, bo, ditte) = (
        chef("hanna", Role::Reviewer),
        chef("bo", Role::Reviewer),
        chef("ditte", Role::Reviewer),
    );
    let may = ("2027-05-01".parse().unwrap(), "2027-05-31".parse().unwrap());

    // Only the unit's manager (or a chief above, or an administrator) delegates its work.
    assert!(matches!(
        delegation::delegate_unit(&cx, &bo, "hemtjanst", may, &ditte, "x").await,
        Err(DelegationError::NotAllowed)
    ));
    let backwards = (may.1, may.0);
    assert!(matches!(
        delegation::delegate_unit(&cx, &hanna, "hemtjanst", backwards, &ditte, "x").await,
        Err(DelegationError::BadPeriod)
    ));
    let (_, moved) =
        delegation::delegate_unit(&cx, &hanna, "hemtjanst", may, &ditte, "Föräldraledig i maj")
            .await
            .unwrap();
    assert_eq!(moved, 0, "[{b}] the period has not begun");

    first_week(&s, &store).await;
    let tasks = store.tasks(None).await.unwrap();
    let reviewer = |unit: &str| {
        tasks
            .iter()
            .find(|t| t.unit == unit)
            .map(|t| t.reviewer_email.clone())
            .unwrap()
    };
    assert_eq!(reviewer("hemtjanst"), "ditte@example.se", "[{b}]");
    assert_eq!(reviewer("boende"), "bo@example.se", "[{b}] not delegated");
    let told = crate::support::told(&store, None, "assigned").await;
    assert!(told.contains(&"ditte@example.se".into()), "[{b}] {told:?}");
    assert!(!told.contains(&"hanna@example.se".into()), "[{b}] {told:?}");
}
