//! End to end in headless Chromium: a reviewer logs in, opens a task, sees a flagged row,
//! completes the task, and the executive then sees it counted in the report.

use serde_json::Value;

use crate::support::app::{PASSWORD, TestApp};
use crate::support::webdriver::Browser;

async fn log_in(b: &Browser, url: &str, user: &str) {
    b.goto(&format!("{url}/login")).await;
    b.type_into("#username", user).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#login").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reviewer_completes_a_task_and_the_executive_sees_it_counted() {
    let app = TestApp::spawn().await;
    let url = &app.url;
    let b = Browser::start().await;

    log_in(&b, url, "hanna").await;
    b.wait_for_url("/granskningar").await;
    b.wait_for_text("h1", "Mina granskningar").await;
    let links = b.find_all("#open-tasks a.task-link").await;
    assert_eq!(links.len(), 1, "hemtjänst's one task, not boende's");
    b.click("#open-tasks a.task-link").await;
    let task_url = b.wait_for_url("/granskningar/").await;

    // The flagged row, its flag and the reason in Swedish.
    b.wait_for_text("tr.flagged .flag[data-code=off_hours]", "Utanför arbetstid")
        .await;
    assert!(b.text("tr.flagged .reason").await.contains("arbetstid"));
    // The filter narrows to flagged rows.
    b.goto(&format!("{task_url}?flagga=alla")).await;
    assert!(
        b.find_all_now("table.rows tr:not(.flagged) td")
            .await
            .is_empty(),
        "only flagged rows"
    );

    b.click("#utan").await;
    b.click("#complete").await;
    b.wait_for_text("#task-status", "Utan anmärkning").await;

    // Log out; the executive's report counts the check.
    b.click("header form button").await;
    b.wait_for_url("/login").await;
    log_in(&b, url, "ledning").await;
    b.wait_for_url("/rapport").await;
    assert!(
        b.source().await.contains("Utan anmärkning"),
        "the report's column"
    );
    b.goto(&format!("{url}/rapport.json?year=2027")).await;
    let json = b.text("body").await;
    let report: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let total = &report["totals"]["overall"];
    assert_eq!(total["utan_anmarkning"], 1, "{total}");
    assert_eq!(total["done_on_time"], 1, "{total}");
    b.quit().await;
}
