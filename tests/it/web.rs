//! The web pages and the JSON API over a running `serve`: login, roles, a reviewer limited
//! to their own units (403 by page and by API), an executive who never sees patient data,
//! CSRF on every form and API write.

use crate::support;
use crate::support::app::{PASSWORD, login, login_token, start};
use reqwest::StatusCode;
use serde_json::Value;

async fn tasks_by_unit(url: &str) -> (i64, i64) {
    let admin = login(url, "admin").await;
    let tasks: Value = admin
        .get(format!("{url}/api/tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let s = start().await;
    let url = &s.url;
    let (hem, boende) = tasks_by_unit(url).await;
    let hanna = login(url, "hanna").await;

    let list = hanna
        .get(format!("{url}/granskningar"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("Mina granskningar"));
    assert!(list.contains(&format!("/granskningar/{hem}\"")));
    assert!(
        !list.contains(&format!("/granskningar/{boende}\"")),
        "another unit's task is not listed"
    );

    let own = hanna
        .get(format!("{url}/granskningar/{hem}"))
        .send()
        .await
        .unwrap();
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
        let res = hanna.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            !res.text().await.unwrap().contains("Tolvan"),
            "no rows leak in the refusal"
        );
    }
    let tasks: Value = hanna
        .get(format!("{url}/api/tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["unit"] == "hemtjanst")
    );

    // Acting on another unit's task: refused, and nothing changes.
    let me: Value = hanna
        .get(format!("{url}/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let res = hanna
        .post(format!("{url}/api/tasks/{boende}/complete"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"outcome": "utan_anmarkning"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = hanna
        .post(format!("{url}/granskningar/{boende}/avsluta"))
        .form(&[("csrf", csrf.as_str()), ("outcome", "utan_anmarkning")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let store = s.db.open().await;
    assert_eq!(
        store.task(boende).await.unwrap().unwrap().state,
        loggvakt::review::TaskState::Open
    );

    // Without the CSRF token, even her own task is not touched.
    let res = hanna
        .post(format!("{url}/api/tasks/{hem}/complete"))
        .json(&serde_json::json!({"outcome": "utan_anmarkning"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = hanna
        .post(format!("{url}/granskningar/{hem}/avsluta"))
        .form(&[("csrf", "fel"), ("outcome", "utan_anmarkning")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // With it, she closes her own; a remark without comment is refused with a message.
    let res = hanna
        .post(format!("{url}/api/tasks/{hem}/complete"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"outcome": "med_anmarkning"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("kommentar"));
    let done: Value = hanna
        .post(format!("{url}/api/tasks/{hem}/complete"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"outcome": "utan_anmarkning"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["outcome"], "utan_anmarkning");

    // Reviewers have no admin, report or audit pages.
    for path in [
        "/admin",
        "/admin/bestallningar",
        "/rapport",
        "/revision",
        "/api/orders",
        "/api/audit",
    ] {
        let res = hanna.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn executive_sees_counts_and_no_patient_data() {
    let s = start().await;
    let url = &s.url;
    let (hem, _) = tasks_by_unit(url).await;
    let ledning = login(url, "ledning").await;
    for path in [
        format!("/granskningar/{hem}"),
        format!("/api/tasks/{hem}"),
        "/api/tasks".into(),
        "/granskningar".into(),
        "/admin/dragningar".into(),
    ] {
        let res = ledning.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let staff = std::fs::read_to_string(s.setup.cfg.path().join("staff.csv")).unwrap();
    for path in [
        "/rapport",
        "/rapport.csv",
        "/rapport.json",
        "/api/report/compliance",
    ] {
        let res = ledning.get(format!("{url}{path}")).send().await.unwrap();
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
    let revisor = login(url, "revisor").await;
    let trail = revisor
        .get(format!("{url}/revision"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(trail.contains("Kedjan är obruten"), "{trail}");
    let v: Value = revisor
        .get(format!("{url}/api/draws/1/verify"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(
        revisor
            .get(format!("{url}/api/tasks/{hem}"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_is_required_and_wrong_passwords_are_refused() {
    let s = start().await;
    let url = &s.url;
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = anon
        .get(format!("{url}/granskningar"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(
        anon.get(format!("{url}/api/tasks"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let token = login_token(&client, url).await;
    let res = client
        .post(format!("{url}/login"))
        .form(&[
            ("username", "hanna"),
            ("password", "fel lösenord!!"),
            ("login_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(res.contains("Fel användarnamn eller lösenord"));
    // A login form posted from elsewhere (no matching token) is refused.
    let res = client
        .post(format!("{url}/login"))
        .form(&[
            ("username", "hanna"),
            ("password", PASSWORD),
            ("login_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Session cookies are HttpOnly and SameSite.
    let hanna = login(url, "hanna").await;
    let cookies = anon
        .post(format!("{url}/login"))
        .header("cookie", format!("lv_login={token}"))
        .form(&[
            ("username", "hanna"),
            ("password", PASSWORD),
            ("login_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
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
    // Logging out ends the session.
    let me: Value = hanna
        .get(format!("{url}/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap();
    hanna
        .post(format!("{url}/logout"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        hanna
            .get(format!("{url}/api/me"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_sees_configuration_staff_draws_and_orders() {
    let s = start().await;
    let url = &s.url;
    let admin = login(url, "admin").await;
    let page = |path: &'static str| {
        let admin = admin.clone();
        let url = url.clone();
        async move {
            let res = admin.get(format!("{url}{path}")).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            res.text().await.unwrap()
        }
    };
    let overview = page("/admin").await;
    assert!(overview.contains("Konfigurationen är giltig"), "{overview}");
    assert!(overview.contains("stickprov-cosmic") && overview.contains("Hemtjänst"));
    let staff = page("/admin/personal?enhet=hemtjanst").await;
    assert!(staff.contains("C800001") && staff.contains("Person 1<"));
    let draws = page("/admin/dragningar?month=2027-05").await;
    assert!(draws.contains("done"), "{draws}");
    let orders = page("/admin/bestallningar").await;
    assert!(orders.contains("imported"));
    let all = page("/granskningar").await;
    assert!(all.contains("Alla granskningar"));
    let bad = admin
        .get(format!("{url}/admin/dragningar?month=maj"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

/// A reviewer uploads a delivered extract for an order of her unit; a bad file is refused
/// with its line and nothing is stored; another unit's order is not hers to fill.
#[tokio::test(flavor = "multi_thread")]
async fn reviewer_uploads_a_delivered_extract() {
    use loggvakt::checks::{CheckKind, NewCheck};
    // Two checks (hemtjänst's user and boende's), made before the server starts and left
    // awaiting delivery, as a Cosmic order is after its mail went out.
    let s = start().await;
    let store = s.db.open().await;
    let clock = support::fixture::at("2027-05-10T09:00:00+02:00");
    let mut ids = Vec::new();
    for user in ["C800001", "C800013"] {
        let (_, order) = loggvakt::checks::create(
            &store,
            &s.setup.org,
            &clock,
            "admin",
            NewCheck {
                kind: CheckKind::User,
                system: "cosmic".into(),
                unit: None,
                subject: user.into(),
                from: "2027-04-01".parse().unwrap(),
                to: "2027-04-30".parse().unwrap(),
                reason: "misstanke".into(),
                request: None,
            },
        )
        .await
        .unwrap();
        support::exec(
            &store,
            &format!("UPDATE orders SET state = 'awaiting_delivery' WHERE id = {order}"),
        )
        .await;
        ids.push(order);
    }
    let url = &s.url;
    let hanna = login(url, "hanna").await;
    let page = hanna
        .get(format!("{url}/utdrag"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/bestallningar/{}/utdrag", ids[0])));
    assert!(
        !page.contains(&format!("/bestallningar/{}/utdrag", ids[1])),
        "boende's order is not hers"
    );
    let me: Value = hanna
        .get(format!("{url}/api/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let upload = |order: i64, body: &'static str| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .part(
                "file",
                reqwest::multipart::Part::bytes(body.as_bytes()).file_name("utdrag.csv"),
            );
        hanna
            .post(format!("{url}/bestallningar/{order}/utdrag"))
            .multipart(form)
            .send()
    };
    let bad = upload(ids[0], "Tidpunkt;Användarnamn;Personnummer;Händelse\n2027-04-03 10:00;C800001;191212121212;Läst\n2027-05-03 10:00;C800001;191212121212;Läst\n").await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let text = bad.text().await.unwrap();
    assert!(
        text.contains("line 3") && text.contains("inget sparades"),
        "{text}"
    );
    assert_eq!(
        support::count(
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
    .await
    .unwrap();
    assert_eq!(good.status(), StatusCode::OK);
    assert!(good.text().await.unwrap().contains("1 loggrader"));
    assert_eq!(
        store.order(ids[0]).await.unwrap().unwrap().state,
        loggvakt::orders::OrderState::Imported
    );
    let other = upload(ids[1], "Tidpunkt;Användarnamn;Personnummer;Händelse\n")
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
}

/// The day a draw runs is secret until it comes: staff who can see the admin pages or the API
/// must not be able to predict it.
#[tokio::test(flavor = "multi_thread")]
async fn a_draws_day_is_hidden_until_it_comes() {
    // 1 May 2027 is a Saturday: the serve's first tick makes May's draws, none due yet.
    let s = support::app::start_at("2027-05-01T08:00:00+02:00", false).await;
    let url = &s.url;
    let admin = login(url, "admin").await;
    let mut draws: Value = Value::Null;
    for _ in 0..50 {
        draws = admin
            .get(format!("{url}/api/draws"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
    let page = admin
        .get(format!("{url}/admin/dragningar?month=2027-05"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches("dold till dagen").count(), 2, "{page}");
    assert!(!page.contains("2027-05-0"), "no day of May shows");
}
