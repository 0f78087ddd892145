//! `loggvakt demo` end to end: in its two months every draw with a sample gets a review task,
//! every manager a notice in the outbox, reminders and exactly one escalation happen on the
//! accelerated clock, tasks closed without remark have their rows purged, and the one closed
//! with remark opens a case that is decided. Sesam 2 runs in manual mode, one Cosmic report
//! comes by post, and the third month's first week leaves tasks open.

use crate::support::{count, loggvakt};

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_months_take_every_draw_through_review() {
    let dir = tempfile::tempdir().unwrap();
    let out = loggvakt()
        .args([
            "--now",
            "2027-05-01T00:00:00+02:00",
            "demo",
            "--seed",
            "1",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = loggvakt::store::Store::open(&format!(
        "sqlite://{}",
        dir.path().join("loggvakt.db").display()
    ))
    .await
    .unwrap();

    // May and June are reviewed; July's first week leaves its tasks open for a new user.
    let sampled = count(
        &store,
        "SELECT COUNT(*) FROM draws WHERE sample_size > 0 AND month < '2027-07'",
    )
    .await;
    let tasks = count(
        &store,
        "SELECT COUNT(*) FROM review_tasks WHERE draw_id IS NOT NULL AND month < '2027-07'",
    )
    .await;
    assert!(sampled > 50);
    assert_eq!(tasks, sampled, "every draw with a sample has a task");
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM review_tasks WHERE state = 'open' AND month < '2027-07'"
        )
        .await,
        0
    );
    assert!(
        count(
            &store,
            "SELECT COUNT(*) FROM review_tasks WHERE state = 'open' AND month = '2027-07'"
        )
        .await
            > 0,
        "July's tasks wait for the reviewers"
    );
    // Sesam 2 in manual mode is reviewed on screen; one Cosmic report came by post.
    assert!(
        count(
            &store,
            "SELECT COUNT(*) FROM outside_reviews WHERE via = 'screen'"
        )
        .await
            > 0,
        "reviews made on screen"
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM orders WHERE delivered_via = 'paper'"
        )
        .await,
        1,
        "one report by post"
    );
    assert!(
        count(
            &store,
            "SELECT COUNT(*) FROM outside_reviews WHERE via = 'paper'"
        )
        .await
            > 0,
        "the paper report is reviewed"
    );

    // Every task's manager got its notice, as a mail in the outbox folder.
    let mut notices: Vec<(String, String)> = Vec::new();
    for e in std::fs::read_dir(dir.path().join("notices")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        notices.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    let assigned = notices
        .iter()
        .filter(|(name, body)| {
            name.ends_with("-assigned.eml") && body.contains("väntar på din granskning")
        })
        .count() as i64;
    let all_tasks = count(
        &store,
        "SELECT COUNT(*) FROM review_tasks WHERE draw_id IS NOT NULL",
    )
    .await;
    assert_eq!(assigned, all_tasks);
    assert!(
        notices
            .iter()
            .any(|(_, body)| body.contains("Administration > Loggning > Loggöversikt")),
        "Sesam 2's notices carry the work instruction"
    );
    let managers: Vec<String> =
        sqlx_rows(&store, "SELECT DISTINCT reviewer_email FROM review_tasks").await;
    for m in &managers {
        assert!(
            notices.iter().any(|(_, n)| n.contains(&format!("To: {m}"))),
            "{m} got a notice"
        );
    }
    let reminders = count(
        &store,
        "SELECT COUNT(*) FROM notifications WHERE kind = 'reminder' AND state = 'sent'",
    )
    .await;
    let escalations = count(
        &store,
        "SELECT COUNT(*) FROM notifications WHERE kind = 'escalation' AND state = 'sent'",
    )
    .await;
    assert!(reminders > 0);
    assert_eq!(escalations, 1, "one escalation");

    // Without remark: rows purged, counts kept. With remark: a case, decided, rows kept.
    let utan = count(
        &store,
        "SELECT COUNT(*) FROM review_tasks WHERE outcome = 'utan_anmarkning'",
    )
    .await;
    let purged = count(&store, "SELECT COUNT(*) FROM review_tasks WHERE outcome = 'utan_anmarkning' AND rows_purged_at IS NOT NULL").await;
    assert_eq!(purged, utan);
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM access_events e JOIN review_tasks t ON t.draw_id = e.draw_id WHERE t.outcome = 'utan_anmarkning'").await,
        0
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM review_tasks WHERE outcome = 'med_anmarkning'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM cases WHERE decision = 'no_breach'"
        )
        .await,
        1
    );
    assert!(
        count(&store, "SELECT COUNT(*) FROM access_events").await > 0,
        "the case keeps its rows"
    );
    assert!(stdout.contains("audit trail intact"));
    assert!(stdout.contains("Web logins"));
}

async fn sqlx_rows(store: &loggvakt::store::Store, sql: &'static str) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(sql).fetch_all(store.pool()).await.unwrap();
    rows.into_iter().map(|(s,)| s).collect()
}
