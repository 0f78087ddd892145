//! The web pages and the JSON API over a running `serve`: login, roles, a reviewer limited
//! to their own units (403 by page and by API), an executive who never sees patient data,
//! CSRF on every form and API write.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{PASSWORD, Session, TestApp};
use crate::support::count;
use crate::support::login::login_token;

/// `user` is refused (403) each of `paths`, page or API.
async fn assert_forbidden(user: &Session, paths: &[&str]) {
    for path in paths {
        let res = user.get(path).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

/// Where the API closes task `id`.
fn complete_api(id: i64) -> String {
    format!("/api/tasks/{id}/complete")
}

/// Where the task page's form closes task `id`.
fn complete_page(id: i64) -> String {
    format!("/granskningar/{id}/avsluta")
}

async fn tasks_by_unit(app: &TestApp) -> (i64, i64) {
    let admin = app.login("admin").await;
    let tasks = admin.json("/api/tasks").await;
    let id = |unit: &str| {
        tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["unit"] == unit)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    (id("hemtjanst"), id("boende"))
}

#[tokio::test(flavor = "multi_thread")]
async fn reviewers_see_only_their_units_by_page_and_api() {
    let app = TestApp::spawn().await;
    let (hem, boende) = tasks_by_unit(&app).await;
    let hanna = app.login("hanna").await;

    let list = hanna.page("/granskningar").await;
    assert!(list.contains("Mina granskningar"));
    assert!(list.contains(&format!("/granskningar/{hem}\"")));
    assert!(
        !list.contains(&format!("/granskningar/{boende}\"")),
        "another unit's task is not listed"
    );

    let own = hanna.get(&format!("/granskningar/{hem}")).await;
    assert_eq!(own.status(), StatusCode::OK);
    let own = own.text().await.unwrap();
    assert!(
        own.contains("data-code=\"off_hours\""),
        "flagged rows are shown with their code"
    );
    assert!(own.contains("Checklista"));

    for path in [
        format!("/granskningar/{boende}"),
        format!("/api/tasks/{boende}"),
    ] {
        let res = hanna.get(&path).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            !res.text().await.unwrap().contains("Tolvan"),
            "no rows leak in the refusal"
        );
    }
    let tasks = hanna.json("/api/tasks").await;
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["unit"] == "hemtjanst")
    );

    // Acting on another unit's task: refused, and nothing changes.
    let utan = json!({"outcome": "utan_anmarkning"});
    let res = hanna.api_post(&complete_api(boende), &utan).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = hanna
        .submit(&complete_page(boende), &[("outcome", "utan_anmarkning")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let store = app.store().await;
    assert_eq!(
        store.task(boende).await.unwrap().unwrap().state,
        loggvakt::model::task::TaskState::Open
    );

    // Without the CSRF token, even her own task is not touched.
    let res = hanna
        .api_post_without_token(&complete_api(hem), &utan)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let forged = [("csrf", "fel"), ("outcome", "utan_anmarkning")];
    let res = hanna.post_form(&complete_page(hem), &forged).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // With it, she closes her own; a remark without comment is refused with a message.
    let res = hanna
        .api_post(&complete_api(hem), &json!({"outcome": "med_anmarkning"}))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("kommentar"));
    let done: Value = hanna
        .api_post(&complete_api(hem), &utan)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["outcome"], "utan_anmarkning");

    // Reviewers have no admin, report or audit pages.
    let others = [
        "/admin",
        "/admin/bestallningar",
        "/rapport",
        "/revision",
        "/api/orders",
        "/api/audit",
    ];
    assert_forbidden(&hanna, &others).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn executive_sees_counts_and_no_patient_data() {
    let app = TestApp::spawn().await;
    let (hem, _) = tasks_by_unit(&app).await;
    let ledning = app.login("ledning").await;
    let (task_page, task_api) = (format!("/granskningar/{hem}"), format!("/api/tasks/{hem}"));
    let reviewers_only = [
        task_page.as_str(),
        task_api.as_str(),
        "/api/tasks",
        "/granskningar",
        "/admin/dragningar",
    ];
    assert_forbidden(&ledning, &reviewers_only).await;
    let staff = std::fs::read_to_string(app.setup.cfg.path().join("staff.csv")).unwrap();
    for path in [
        "/rapport",
        "/rapport.csv",
        "/rapport.json",
        "/api/report/compliance",
    ] {
        let res = ledning.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("Tolvan") && !body.contains("191212"),
            "{path}: no patient data"
        );
        for line in staff.lines().skip(1) {
            let name = line.split(',').nth(1).unwrap();
            assert!(
                !body.contains(&format!("{name}<")) && !body.contains(&format!("\"{name}\"")),
                "{path}: no staff names"
            );
        }
    }
    // The landing page is the report; the auditor gets the trail and draw verification.
    let revisor = app.login("revisor").await;
    let trail = revisor.page("/revision").await;
    assert!(trail.contains("Kedjan är obruten"), "{trail}");
    let v = revisor.json("/api/draws/1/verify").await;
    assert_eq!(v["verified"], true);
    assert_eq!(
        revisor.get(&format!("/api/tasks/{hem}")).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_is_required_and_wrong_passwords_are_refused() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let res = anon.get("/granskningar").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(
        anon.get("/api/tasks").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let visitor = app.session();
    let token = login_token(&visitor.client, &app.url).await;
    let login_form = |password: &'static str, token: &str| {
        [
            ("username", "hanna".to_owned()),
            ("password", password.to_owned()),
            ("login_token", token.to_owned()),
        ]
    };
    let res = visitor
        .post_form("/login", &login_form("fel lösenord!!", &token))
        .await
        .text()
        .await
        .unwrap();
    assert!(res.contains("Fel användarnamn eller lösenord"));
    // A login form posted from elsewhere (no matching token) is refused.
    let res = visitor
        .post_form("/login", &login_form(PASSWORD, "x"))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Nor is a cookie planted with a matching field: the token must be signed by this
    // installation's secret.
    // A login whose cookie and field both carry `token`.
    let login_with_cookie = |token: &str| {
        anon.client
            .post(anon.at("/login"))
            .header("cookie", format!("lv_login={token}"))
            .form(&login_form(PASSWORD, token))
            .send()
    };
    let planted = format!("{}.{}", "ab".repeat(32), "cd".repeat(32));
    let res = login_with_cookie(&planted).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Session cookies are HttpOnly and SameSite.
    let hanna = app.login("hanna").await;
    let cookies = login_with_cookie(&token).await.unwrap();
    let set: Vec<_> = cookies
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("lv_session=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Strict")),
        "{set:?}"
    );
    // The session works alone, and not beside a second lv_session cookie (one planted for a
    // parent domain or another path): an ambiguous cookie is no session.
    let session = set
        .iter()
        .find_map(|c| c.strip_prefix("lv_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let me = |cookie: String| {
        let (client, url) = (anon.client.clone(), anon.at("/api/me"));
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(format!("lv_session={session}")).await, StatusCode::OK);
    assert_eq!(
        me(format!("lv_session={session}; lv_session=planted")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me(format!("lv_session=planted; lv_session={session}")).await,
        StatusCode::UNAUTHORIZED
    );
    // Logging out ends the session.
    hanna.submit("/logout", &[]).await;
    assert_eq!(
        hanna.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_sees_configuration_staff_draws_and_orders() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let page = |path: &'static str| {
        let admin = &admin;
        async move {
            let res = admin.get(path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            res.text().await.unwrap()
        }
    };
    let overview = page("/admin").await;
    assert!(overview.contains("Konfigurationen är giltig"), "{overview}");
    assert!(overview.contains("stickprov-cosmic") && overview.contains("Hemtjänst"));
    // Each unit's active staff, counted in one pass over the staff.
    assert!(overview.contains("enhet=hemtjanst\">12</a>"), "{overview}");
    assert!(overview.contains("enhet=boende\">4</a>"), "{overview}");
    let staff = page("/admin/personal?enhet=hemtjanst").await;
    assert!(staff.contains("C800001") && staff.contains("Person 1<"));
    let draws = page("/admin/dragningar?month=2027-05").await;
    assert!(draws.contains("done"), "{draws}");
    let orders = page("/admin/bestallningar").await;
    assert!(orders.contains("imported"));
    let all = page("/granskningar").await;
    assert!(all.contains("Alla granskningar"));
    let bad = admin.get("/admin/dragningar?month=maj").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

/// A reviewer uploads a delivered extract for an order of her unit; a bad file is refused
/// with its line and nothing is stored; another unit's order is not hers to fill.
#[tokio::test(flavor = "multi_thread")]
async fn reviewer_uploads_a_delivered_extract() {
    // Two checks (hemtjänst's user and boende's), made before the server starts and left
    // awaiting delivery, as a Cosmic order is after its mail went out.
    let app = TestApp::spawn().await;
    let store = app.store().await;
    let mut ids = Vec::new();
    for user in ["C800001", "C800013"] {
        ids.push(app.sent_user_check(user).await);
    }
    let hanna = app.login("hanna").await;
    let page = hanna.page("/utdrag").await;
    assert!(page.contains(&format!("/bestallningar/{}/utdrag", ids[0])));
    assert!(
        !page.contains(&format!("/bestallningar/{}/utdrag", ids[1])),
        "boende's order is not hers"
    );
    let upload = |order: i64, body: &'static str| {
        let hanna = &hanna;
        async move {
            hanna
                .upload(
                    &format!("/bestallningar/{order}/utdrag"),
                    "utdrag.csv",
                    body.as_bytes(),
                )
                .await
        }
    };
    let bad = upload(ids[0], "Tidpunkt;Användarnamn;Personnummer;Händelse\n2027-04-03 10:00;C800001;191212121212;Läst\n2027-05-03 10:00;C800001;191212121212;Läst\n").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let text = bad.text().await.unwrap();
    assert!(
        text.contains("line 3") && text.contains("inget sparades"),
        "{text}"
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM access_events WHERE draw_id IS NULL"
        )
        .await,
        0
    );
    let good = upload(
        ids[0],
        "Tidpunkt;Användarnamn;Personnummer;Händelse\n2027-04-03 10:00;C800001;191212121212;Läst\n",
    )
    .await;
    assert_eq!(good.status(), StatusCode::OK);
    assert!(good.text().await.unwrap().contains("1 loggrader"));
    assert_eq!(
        store.order(ids[0]).await.unwrap().unwrap().state,
        loggvakt::model::order::OrderState::Imported
    );
    let other = upload(ids[1], "Tidpunkt;Användarnamn;Personnummer;Händelse\n").await;
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
}

/// The day a draw runs is secret until it comes: staff who can see the admin pages or the API
/// must not be able to predict it.
#[tokio::test(flavor = "multi_thread")]
async fn a_draws_day_is_hidden_until_it_comes() {
    // 1 May 2027 is a Saturday: the serve's first tick makes May's draws, none due yet.
    let app = TestApp::spawn_at("2027-05-01T08:00:00+02:00", false).await;
    let admin = app.login("admin").await;
    let mut draws: Value = Value::Null;
    for _ in 0..50 {
        draws = admin.json("/api/draws").await;
        if !draws.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let draws = draws.as_array().unwrap();
    assert_eq!(draws.len(), 2, "May's draws are made (hemtjänst, boende)");
    assert!(
        draws.iter().all(|d| d["execution_date"].is_null()),
        "{draws:?}"
    );
    let page = admin.page("/admin/dragningar?month=2027-05").await;
    assert_eq!(page.matches("dold till dagen").count(), 2, "{page}");
    assert!(!page.contains("2027-05-0"), "no day of May shows");
}

/// The templates render in strict mode, so a field a page's data lacks fails the page: every
/// page, as each role that may see it, answers 200 with its Swedish heading and the layout.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_renders_for_its_roles() {
    let app = TestApp::spawn().await;
    let (hem, _) = tasks_by_unit(&app).await;
    let anonymous = app.anonymous();
    let login = anonymous.get("/login").await;
    assert_eq!(login.status(), 200, "the login page");
    assert!(login.text().await.unwrap().contains("Logga in"));
    let pages: &[(&str, &[&str])] = &[
        (
            "hanna",
            &[
                "/",
                "/granskningar",
                &format!("/granskningar/{hem}"),
                "/utdrag",
            ],
        ),
        (
            "admin",
            &[
                "/granskningar",
                &format!("/granskningar/{hem}"),
                "/admin",
                "/admin/personal?enhet=hemtjanst",
                "/admin/dragningar",
                "/admin/dragningar?month=2027-05",
                "/admin/bestallningar",
                "/rapport",
                "/rapport?year=2027",
                "/revision",
                "/revision/dragningar/1",
            ],
        ),
        (
            "ledning",
            &["/", "/rapport", "/rapport.csv", "/rapport.json"],
        ),
        (
            "revisor",
            &["/", "/revision", "/revision/dragningar/1", "/rapport"],
        ),
    ];
    for (user, paths) in pages {
        let session = app.login(user).await;
        for path in *paths {
            let response = session.get(path).await;
            assert_eq!(response.status(), 200, "{user} {path}");
            let body = response.text().await.unwrap();
            assert!(!body.trim().is_empty(), "{user} {path}: an empty page");
            if !path.contains('.') {
                assert!(body.contains("</html>"), "{user} {path}: the layout");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_task_page_says_which_period_each_user_is_reviewed_for() {
    let app = TestApp::spawn().await;
    let (hem, _) = tasks_by_unit(&app).await;
    let hanna = app.login("hanna").await;
    let api = hanna.json(&format!("/api/tasks/{hem}")).await;
    let periods = api["periods"].as_array().unwrap();
    assert!(!periods.is_empty(), "{api}");
    let page = hanna.page(&format!("/granskningar/{hem}")).await;
    let month = api["task"]["month"].as_str().unwrap();
    let task_month: loggvakt::calendar::Month = month.parse().unwrap();
    assert!(
        page.contains(&format!(
            "Kontrollen {month} granskar aktivitet under {}",
            task_month.prev()
        )),
        "{page}"
    );
    // Each sampled user's drawn day, in the task_month month.
    for p in periods {
        let day = &p["from"].as_str().unwrap()[..10];
        assert!(day.starts_with(&task_month.prev().to_string()), "{p}");
        assert!(
            page.contains(&format!("Granskad period: <strong class=\"period\">{day}")),
            "{day} not on the page"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn liveness_and_readiness_probes_answer() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let live = anon.get("/health/live").await;
    assert_eq!(live.status(), StatusCode::OK);
    // Ready once the database answers and the tick at start has ended.
    let mut ready = None;
    for _ in 0..100 {
        let res = anon.get("/health/ready").await;
        if res.status() == StatusCode::OK {
            ready = Some(res.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready.expect("ready within 10 s")["status"], "ready");
}

/// `/metrics` is Prometheus text (every sample line `name{labels} value` under its TYPE), and
/// its order gauge moves when an order is made.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_prometheus_text_and_follow_the_orders() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    let scrape = async || {
        let res = anon.get("/metrics").await;
        assert_eq!(res.status(), StatusCode::OK);
        let text = res.text().await.unwrap();
        let mut typed = std::collections::HashSet::new();
        let mut samples = std::collections::HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["gauge", "counter"].contains(&kind), "{line}");
                typed.insert(name.to_owned());
            } else if !line.starts_with("# HELP ") {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let name = series.split('{').next().unwrap();
                assert!(typed.contains(name), "{name} has no TYPE: {text}");
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
                samples.insert(series.to_owned(), value);
            }
        }
        samples
    };
    let before = scrape().await;
    assert_eq!(before["loggvakt_database_up"], 1.0);
    let waiting = "loggvakt_orders{system=\"cosmic\",state=\"awaiting_delivery\"}";
    let had = before.get(waiting).copied().unwrap_or(0.0);
    app.sent_user_check("C800001").await;
    let after = scrape().await;
    assert_eq!(after[waiting], had + 1.0, "{after:?}");
    assert!(after.contains_key("loggvakt_ticks_total"));
}

/// Issue 11, data minimisation (seed 003): the task page shows what is enough to judge
/// (time, patient, unit, action, flags); a row, or a user's rows, open in full on request,
/// and each request is one record in the audit trail.
#[tokio::test(flavor = "multi_thread")]
async fn the_task_page_is_minimal_until_a_row_is_opened_and_each_opening_is_audited() {
    let app = TestApp::spawn().await;
    let (hem, boende) = tasks_by_unit(&app).await;
    let store = app.store().await;
    let task = store.task(hem).await.unwrap().unwrap();
    let events = store.events_of(task.draw_id, None).await.unwrap();
    let opened = || async {
        let trail = loggvakt::store::audit::page(&store, None, 1000)
            .await
            .unwrap();
        trail
            .into_iter()
            .filter(|r| r.action == "review.full_rows_shown")
            .map(|r| (r.actor, r.details))
            .collect::<Vec<_>>()
    };
    let hanna = app.login("hanna").await;
    let page = hanna.page(&format!("/granskningar/{hem}")).await;
    assert!(page.contains("<th scope=\"col\">Åtgärd</th>"), "{page}");
    for hidden in [
        "Läst anteckning",
        "Tolvan",
        "Referensnummer",
        "class=\"full\"",
    ] {
        assert!(!page.contains(hidden), "{hidden} is not shown by default");
    }
    assert!(page.contains("data-code=\"off_hours\""), "flags are");
    assert!(opened().await.is_empty());

    let row = &events[0];
    let page = hanna
        .page(&format!("/granskningar/{hem}?rad={}", row.id))
        .await;
    assert_eq!(
        page.matches("<tr class=\"full\">").count(),
        1,
        "one row open"
    );
    assert!(page.contains("Läst anteckning"), "its wording");
    let records = opened().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].0, "web:hanna");
    assert!(
        records[0].1.contains(&format!("\"row\":{}", row.id)),
        "{records:?}"
    );

    let user = &row.event.user_id;
    let theirs = events.iter().filter(|e| &e.event.user_id == user).count();
    let page = hanna
        .page(&format!("/granskningar/{hem}?hela={user}"))
        .await;
    assert_eq!(page.matches("<tr class=\"full\">").count(), theirs);
    assert_eq!(opened().await.len(), 2, "each request is recorded");

    // The API beside the page: minimal rows, one opened in full on request, audited.
    let api = hanna.json(&format!("/api/tasks/{hem}")).await;
    let first = &api["events"][0];
    assert_eq!(first["full"], false);
    assert!(
        first.get("event_text").is_none() && first.get("patient_name").is_none(),
        "{first}"
    );
    let api = hanna
        .json(&format!("/api/tasks/{hem}?row={}", row.id))
        .await;
    let full: Vec<&Value> = api["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["full"] == true)
        .collect();
    assert_eq!(full.len(), 1);
    assert_eq!(full[0]["event_text"], "Läst anteckning");
    assert_eq!(
        opened_count(&store).await,
        3,
        "the API's opening is recorded too"
    );

    // No row of another task opens through this one, and another unit's task not at all.
    let other = store
        .events_of(store.task(boende).await.unwrap().unwrap().draw_id, None)
        .await
        .unwrap();
    let res = hanna
        .get(&format!("/granskningar/{hem}?rad={}", other[0].id))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = hanna
        .get(&format!("/granskningar/{boende}?rad={}", other[0].id))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(opened().await.len(), 3);
}

async fn opened_count(store: &loggvakt::store::Store) -> usize {
    loggvakt::store::audit::page(store, None, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.action == "review.full_rows_shown")
        .count()
}

/// Issue 11, yearly staff information (seed 002): the year's record of each unit waits on
/// its chef's page; the chef confirms the day and how; another unit's chef may not; the
/// report counts it.
#[tokio::test(flavor = "multi_thread")]
async fn a_chef_confirms_the_yearly_staff_information_and_the_report_counts_it() {
    let app = TestApp::spawn().await;
    let hanna = app.login("hanna").await;
    let page = hanna.page("/personalinformation").await;
    assert!(page.contains("Information till personalen 2027"), "{page}");
    assert!(page.contains("Aldrig bekräftad"), "{page}");
    let records = hanna.json("/api/staff-information").await;
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 1, "hemtjänst's only: {records:?}");
    let id = records[0]["id"].as_i64().unwrap();

    // Not another unit's chef; not without saying how; then once.
    let bo = app.login("bo").await;
    for (who, how, status) in [
        (&bo, "APT", StatusCode::FORBIDDEN),
        (&hanna, "", StatusCode::BAD_REQUEST),
        (&hanna, "Arbetsplatsträff", StatusCode::OK),
        (&hanna, "igen", StatusCode::BAD_REQUEST),
    ] {
        let path = format!("/personalinformation/{id}");
        let res = who
            .submit(&path, &[("informed_on", "2027-05-03"), ("how", how)])
            .await;
        assert_eq!(res.status(), status, "{how}");
    }
    let page = hanna.page("/personalinformation").await;
    assert!(
        page.contains("Informerad 2027-05-03 (Arbetsplatsträff)"),
        "{page}"
    );

    let ledning = app.login("ledning").await;
    let report = ledning.json("/rapport.json?year=2027").await;
    assert_eq!(report["staff_information"]["units"], 2);
    assert_eq!(report["staff_information"]["confirmed"], 1);
    let html = ledning.page("/rapport?year=2027").await;
    assert!(
        html.contains("1 av 2 enheter"),
        "the printed report says it"
    );
}

/// Issue 11: the report opens right in Swedish Excel: the workbook holds the JSON's numbers
/// (read back with calamine, as a spreadsheet program reads it), and the CSV for Excel has a
/// byte-order mark and `;` between fields.
#[tokio::test(flavor = "multi_thread")]
async fn the_report_exports_open_in_swedish_excel_with_the_jsons_numbers() {
    use calamine::{Data, DataType, Reader, Xlsx};
    let app = TestApp::spawn().await;
    let ledning = app.login("ledning").await;
    let json = ledning.json("/rapport.json?year=2027").await;
    let res = ledning.get("/rapport.xlsx?year=2027").await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap();
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range("Kontroller").unwrap();
    let mut rows = sheet.rows();
    let header: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(header, loggvakt::report::CSV_COLUMNS);
    let want = json["rows"].as_array().unwrap();
    let got: Vec<&[Data]> = rows.collect();
    assert_eq!(got.len(), want.len());
    assert!(!want.is_empty());
    for (cells, row) in got.iter().zip(want) {
        for (cell, key) in cells.iter().zip(loggvakt::report::CSV_COLUMNS) {
            match &row[key] {
                Value::String(s) => assert_eq!(&cell.to_string(), s, "{key}"),
                Value::Number(n) => assert_eq!(cell.as_f64(), n.as_f64(), "{key}"),
                other => panic!("{key}: {other}"),
            }
        }
    }
    let follow = book.worksheet_range("Uppföljning").unwrap();
    for r in follow.rows().skip(1) {
        let key = r[0].to_string();
        let value = if key == "staff_information_confirmed" {
            json["staff_information"]["confirmed"].as_f64()
        } else {
            json["follow_up"][&key].as_f64()
        };
        assert_eq!(r.get(1).and_then(|c| c.as_f64()), value, "{key}");
    }

    let csv = ledning.get("/rapport-excel.csv?year=2027").await;
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "a byte-order mark");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(first, loggvakt::report::CSV_COLUMNS.join(";"));
    assert_eq!(text.lines().count(), want.len() + 1);
}

/// Issue 11: the report rolls up per förvaltning/verksamhet (parent units) and drills down
/// to one; the registration view lists each check as a statistics form asks.
#[tokio::test(flavor = "multi_thread")]
async fn the_report_rolls_up_per_parent_unit_drills_down_and_registers_each_check() {
    let app = TestApp::spawn().await;
    let ledning = app.login("ledning").await;
    let report = ledning.json("/rapport.json?year=2027").await;
    let by_unit = report["totals"]["by_unit"].as_array().unwrap();
    let parents = report["totals"]["by_parent"].as_array().unwrap();
    assert_eq!(parents.len(), 1, "vård och omsorg: {parents:?}");
    assert_eq!(parents[0]["unit"], "vard");
    for key in ["planned", "done_on_time", "in_progress", "utan_anmarkning"] {
        let sum: i64 = by_unit.iter().map(|u| u[key].as_i64().unwrap()).sum();
        assert_eq!(parents[0][key], sum, "{key}");
    }
    assert!(parents[0]["planned"].as_i64().unwrap() >= 2);

    let hem = ledning
        .json("/rapport.json?year=2027&enhet=hemtjanst")
        .await;
    let units: Vec<&str> = hem["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["unit"].as_str().unwrap())
        .collect();
    assert!(
        !units.is_empty() && units.iter().all(|u| *u == "hemtjanst"),
        "{units:?}"
    );
    let page = ledning.page("/rapport?year=2027&enhet=vard").await;
    assert!(page.contains("Avser Vård och omsorg och enheterna under."));
    assert!(page.contains("enhet=vard"), "the downloads are of the part");
    assert_eq!(
        ledning
            .get("/rapport?year=2027&enhet=finns-inte")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    let reg = ledning.json("/api/report/registrations?year=2027").await;
    let checks = reg["checks"].as_array().unwrap();
    let store = app.store().await;
    let tasks = store.tasks(None).await.unwrap();
    assert_eq!(checks.len(), tasks.len());
    for t in &tasks {
        let c = checks.iter().find(|c| c["task"] == t.id).unwrap();
        assert_eq!(c["users"], t.users);
        assert_eq!(c["system"], t.system.as_str());
        assert_eq!(c["kind"], "stickprov");
        assert_eq!(c["outcome"], "pågår");
    }
    let page = ledning.page("/rapport/registrering?year=2027").await;
    assert!(
        page.contains("<caption>Kontroller 2027</caption>"),
        "{page}"
    );
    assert!(
        page.contains("aria-current=\"page\">Registrering"),
        "{page}"
    );
}
