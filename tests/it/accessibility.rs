//! Issue 11, accessibility: the pages meet WCAG 2.1 AA where a form-based site can. axe-core
//! (tests/a11y, installed by `.ci/run`) runs in headless Chromium on every page of every
//! role, with something on each page to show, and no serious or critical violation may
//! remain.

use serde_json::Value;

use crate::support::app::{PASSWORD, TestApp};
use crate::support::webdriver::Browser;

fn axe() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/a11y");
    crate::support::npm_packages(&dir, "node_modules/axe-core/axe.min.js");
    let path = dir.join("node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The serious and critical WCAG 2.x A/AA violations on the page the browser shows.
async fn violations(b: &Browser, axe: &str) -> Vec<String> {
    let script = format!(
        "{axe}\nconst done = arguments[arguments.length - 1];\n\
         axe.run(document, {{runOnly: {{type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}}})\n\
           .then(r => done(r.violations\n\
             .filter(v => v.impact === 'serious' || v.impact === 'critical')\n\
             .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' +\n\
               v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))\n\
           .catch(e => done(['axe failed: ' + e]));"
    );
    match b.execute_async(&script).await {
        Value::Array(found) => found
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
        other => vec![format!("axe answered {other}")],
    }
}

async fn log_in(b: &Browser, url: &str, user: &str) {
    b.goto(&format!("{url}/login")).await;
    if b.find_all_now("header form button").await.len() == 1 {
        b.click("header form button").await;
        b.wait_for_url("/login").await;
    }
    b.type_into("#username", user).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#login").await;
    for _ in 0..100 {
        if !b.current_url().await.contains("/login") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{user} did not get in");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_page_has_a_serious_or_critical_accessibility_violation() {
    let axe = axe();
    let app = TestApp::spawn().await;
    app.add_user("vera", "reviewer", "vera@example.se");
    let url = &app.url;

    // Something on every page: a case, a delegation, a check by patient with its extract.
    let hanna = app.login("hanna").await;
    let task = hanna.json("/api/tasks").await[0]["id"].as_i64().unwrap();
    let row = app
        .store()
        .await
        .events_of(
            app.store().await.task(task).await.unwrap().unwrap().draw_id,
            None,
        )
        .await
        .unwrap()[0]
        .id;
    let case = hanna.open_case(task).await;
    let vera = app.login("vera").await;
    let patient = crate::support::personnummer("121212", 7);
    let res = vera
        .submit(
            "/kontroller",
            &[
                ("kind", "patient"),
                ("subject", &patient),
                ("system", "cosmic"),
                ("unit", "vard"),
                ("from", "2027-04-01"),
                ("to", "2027-04-30"),
                ("reason", "misstanke"),
            ],
        )
        .await;
    let check: i64 = res
        .url()
        .path()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let pages: [(&str, Vec<String>); 5] = [
        (
            "hanna",
            vec![
                "/granskningar".into(),
                format!("/granskningar/{task}"),
                format!("/granskningar/{task}?rad={row}"),
                "/arenden".into(),
                format!("/arenden/{case}"),
                "/delegeringar".into(),
                "/kontroller".into(),
                "/personalinformation".into(),
                "/utdrag".into(),
            ],
        ),
        (
            "vera",
            vec![
                "/granskningar".into(),
                format!("/kontroller/{check}"),
                format!("/kontroller/{check}/brev"),
            ],
        ),
        (
            "admin",
            vec![
                "/admin".into(),
                "/admin/personal?enhet=hemtjanst".into(),
                "/admin/dragningar".into(),
                "/admin/bestallningar".into(),
                "/admin/anslutningar".into(),
            ],
        ),
        (
            "revisor",
            vec!["/revision".into(), "/revision/dragningar/1".into()],
        ),
        (
            "ledning",
            vec![
                "/rapport?year=2027".into(),
                "/rapport?year=2027&enhet=vard".into(),
                "/rapport/registrering?year=2027".into(),
            ],
        ),
    ];
    let b = Browser::start().await;
    // The harness finds what it should: an image without a text alternative.
    b.goto("data:text/html,<html lang=sv><title>t</title><main><img src=x.png></main></html>")
        .await;
    let seen = violations(&b, &axe).await;
    assert!(seen.iter().any(|v| v.starts_with("image-alt")), "{seen:?}");
    let mut found = Vec::new();
    b.goto(&format!("{url}/login")).await;
    for v in violations(&b, &axe).await {
        found.push(format!("/login: {v}"));
    }
    let mut checked = 1;
    for (user, paths) in &pages {
        log_in(&b, url, user).await;
        for path in paths {
            b.goto(&format!("{url}{path}")).await;
            let at = b.current_url().await;
            assert!(
                at.ends_with(path.as_str()),
                "{user} {path}: the browser is at {at}"
            );
            if !path.starts_with("/rapport?") {
                // A skip link, and the menu marks where the user is.
                assert_eq!(
                    b.find_all_now("a.skip[href='#main']").await.len(),
                    1,
                    "{path}"
                );
                let current = b.find_all_now("nav a[aria-current=page]").await;
                assert!(current.len() <= 1, "{path}");
            }
            for v in violations(&b, &axe).await {
                found.push(format!("{user} {path}: {v}"));
            }
            checked += 1;
        }
    }
    // The menu marks the page the user is on (the longest matching link).
    log_in(&b, url, "admin").await;
    b.goto(&format!("{url}/admin/dragningar")).await;
    assert_eq!(b.text("nav a[aria-current=page]").await, "Dragningar");
    b.quit().await;
    assert!(checked >= 20, "{checked} pages");
    assert!(found.is_empty(), "{}", found.join("\n"));
}
