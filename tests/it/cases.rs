//! Issue 11: cases in the web, followed by named people through the JSON API on both
//! backends. The enhetschef records the steps and the loggavvikelse, informing the chief
//! notifies the chiefs above the unit, only a chief above the unit decides a breach, and the
//! audit trail names each person.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestDb;
use crate::support::app::TestApp;

/// The apps to run on: SQLite, and PostgreSQL when the environment names a server.
async fn apps(test: &str) -> Vec<TestApp> {
    let mut dbs = vec![TestDb::sqlite()];
    dbs.extend(TestDb::postgres_or_skip(test));
    let mut apps = Vec::new();
    for db in dbs {
        let url = db.url.clone();
        let app = TestApp::spawn_on_db(db, &url).await;
        // The verksamhetschef of "vard", the parent of hemtjänst and boende.
        app.add_user("vera", "reviewer", "vera@example.se");
        apps.push(app);
    }
    apps
}

async fn status_and_json(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({"text": text}));
    (status, json)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_case_is_followed_by_named_people_and_only_a_chief_above_decides_a_breach() {
    for app in apps("cases").await {
        let b = app.db.backend;
        let hanna = app.login("hanna").await;
        let task = hanna.json("/api/tasks").await[0]["id"].as_i64().unwrap();
        let (status, done) = status_and_json(
            hanna
                .api_post(
                    &format!("/api/tasks/{task}/complete"),
                    &json!({"outcome": "med_anmarkning", "comment": "Läst journal utan vårdrelation"}),
                )
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "[{b}] {done}");
        let case = done["case"].as_i64().expect("a case");
        let path = |tail: &str| format!("/api/cases/{case}{tail}");

        // The enhetschef of the sibling unit sees neither the case nor its page.
        let bo = app.login("bo").await;
        assert_eq!(bo.json("/api/cases").await, json!([]), "[{b}]");
        assert_eq!(bo.get(&path("")).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            bo.get(&format!("/arenden/{case}")).await.status(),
            StatusCode::FORBIDDEN
        );

        // Deciding before the steps names what is missing, in Swedish.
        let (status, body) = status_and_json(
            hanna
                .api_post(
                    &path("/decision"),
                    &json!({"decision": "no_breach", "note": "x"}),
                )
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "[{b}] {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("Samtal med medarbetaren"),
            "{body}"
        );

        for step in ["contact_employee", "targeted_check", "inform_chief"] {
            let res = hanna
                .api_post(
                    &path("/steps"),
                    &json!({"step": step, "note": format!("{step} gjort")}),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK, "[{b}] {step}");
        }
        let (status, body) = status_and_json(
            hanna
                .api_post(
                    &path("/steps"),
                    &json!({"step": "inform_chief", "note": "igen"}),
                )
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "[{b}] {body}");

        // An incomplete loggavvikelse names its missing fields; nothing is stored.
        let (status, body) = status_and_json(
            hanna
                .api_post(
                    &path("/deviation"),
                    &json!({"seen": "Öppnad journal", "accesses": "", "assessment": ""}),
                )
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "[{b}] {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains("Vilka åtkomster saknas") && error.contains("Bedömning saknas"),
            "{error}"
        );
        assert_eq!(hanna.json(&path("")).await["deviation"], Value::Null);
        let deviation = json!({
            "seen": "Journalen öppnad kl 23:30 utan vårdrelation",
            "accesses": "2027-04-12 23:30, journal, läsning",
            "explanation": "Medarbetaren uppger att hen sökte fel patient",
            "assessment": "Förklaringen håller inte; åtkomsten saknade stöd",
        });
        let res = hanna.api_post(&path("/deviation"), &deviation).await;
        assert_eq!(res.status(), StatusCode::OK, "[{b}]");
        let shown = hanna.json(&path("")).await;
        assert_eq!(shown["deviation"]["assessment"], deviation["assessment"]);
        assert_eq!(shown["deviation"]["by"], "web:hanna");

        // The enhetschef may not decide a breach: that is the chief's above the unit.
        for decision in ["police_report", "breach_labour_law"] {
            let res = hanna
                .api_post(
                    &path("/decision"),
                    &json!({"decision": decision, "note": "anmäls"}),
                )
                .await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "[{b}] {decision}");
        }
        // Nor may an administrator, who is no chief.
        let admin = app.login("admin").await;
        let res = admin
            .api_post(
                &path("/decision"),
                &json!({"decision": "police_report", "note": "anmäls"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "[{b}] admin");

        // The verksamhetschef of the parent unit sees the case and decides.
        let vera = app.login("vera").await;
        let listed = vera.json("/api/cases").await;
        assert_eq!(listed[0]["id"], case, "[{b}] {listed}");
        let disabled = "id=\"decision-police_report\" disabled";
        let page = vera.page(&format!("/arenden/{case}")).await;
        assert!(page.contains("Ärende Ä-"), "[{b}] {page}");
        assert!(!page.contains(disabled), "[{b}] the chief's choice is open");
        let page = hanna.page(&format!("/arenden/{case}")).await;
        assert!(page.contains(disabled), "[{b}] not the enhetschef's");
        let (status, body) = status_and_json(
            vera.api_post(
                &path("/decision"),
                &json!({"decision": "police_report", "note": "Polisanmälan görs"}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "[{b}] {body}");
        let res = hanna
            .api_post(
                &path("/steps"),
                &json!({"step": "contact_employee", "note": "x"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "[{b}] decided");

        // Notices: informing the chief told the chiefs above the unit; the decision too.
        let store = app.store().await;
        let mut notices: Vec<(String, String)> = store
            .notices(Some(task))
            .await
            .unwrap()
            .into_iter()
            .filter(|n| n.kind.as_str().starts_with("case_"))
            .map(|n| (n.kind.as_str().to_owned(), n.recipient))
            .collect();
        notices.sort();
        assert_eq!(
            notices,
            [
                ("case_chief_informed", "fc@example.se"),
                ("case_chief_informed", "vera@example.se"),
                ("case_decided", "fc@example.se"),
                ("case_decided", "vera@example.se"),
            ]
            .map(|(k, r)| (k.to_owned(), r.to_owned())),
            "[{b}]"
        );
        let bodies: String = store
            .notices(Some(task))
            .await
            .unwrap()
            .iter()
            .map(|n| n.body.clone())
            .collect();
        assert!(
            !bodies.contains("Medarbetaren uppger"),
            "no case text in mail"
        );

        // The audit trail names each person.
        let trail = loggvakt::store::audit::page(&store, None, 1000)
            .await
            .unwrap();
        let by = |action: &str| -> Vec<String> {
            trail
                .iter()
                .filter(|r| r.action == action)
                .map(|r| r.actor.clone())
                .collect()
        };
        assert_eq!(by("case.step"), ["web:hanna"; 3], "[{b}]");
        assert_eq!(by("case.deviation"), ["web:hanna"], "[{b}]");
        assert_eq!(by("case.decided"), ["web:vera"], "[{b}]");
    }
}

/// Issue 11: targeted checks and patients' requests through the API, scoped to the units
/// the chef is over, with their errors in Swedish.
#[tokio::test(flavor = "multi_thread")]
async fn checks_through_the_api_are_scoped_to_the_chefs_units() {
    let app = TestApp::spawn().await;
    let hanna = app.login("hanna").await;
    let check = |kind: &str, subject: &str, unit: &str| {
        json!({
            "kind": kind, "system": "cosmic", "unit": unit, "subject": subject,
            "from": "2027-04-01", "to": "2027-04-30", "reason": "misstanke",
        })
    };
    // Her own unit's user, by default to the user's unit; not boende's.
    let (status, made) = status_and_json(
        hanna
            .api_post("/api/checks", &check("user", "C800001", ""))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    let id = made["check"]["id"].as_i64().unwrap();
    let res = hanna
        .api_post("/api/checks", &check("user", "C800013", ""))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a boende user");
    let patient = crate::support::personnummer("121212", 4);
    let res = hanna
        .api_post("/api/checks", &check("patient", &patient, "boende"))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "boende is not hers");
    // A request without its identity check is refused, naming what is missing.
    let mut request = check("patient_request", &patient, "hemtjanst");
    request["received"] = json!("2027-05-10");
    let (status, body) = status_and_json(hanna.api_post("/api/checks", &request).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("id-handling"),
        "{body}"
    );
    let (status, body) = status_and_json(
        hanna
            .api_post(
                "/api/checks",
                &check("patient", "191212121213", "hemtjanst"),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("Personnumret"),
        "{body}"
    );

    // Bo sees nothing of it; a user check has no letter to a patient.
    let bo = app.login("bo").await;
    assert_eq!(
        bo.get(&format!("/api/checks/{id}")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(bo.json("/api/checks").await, json!([]));
    let shown = hanna.json(&format!("/api/checks/{id}")).await;
    assert_eq!(shown["subject"], "C800001");
    assert_eq!(
        hanna
            .get(&format!("/api/checks/{id}/letter"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// Issue 11, hostile input: a case's note or loggavvikelse longer than a page, a delegation's
/// reason beyond its limit, and a body over the form limit are refused with a message, and
/// nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn overlong_case_texts_and_reasons_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let hanna = app.login("hanna").await;
    let task = hanna.json("/api/tasks").await[0]["id"].as_i64().unwrap();
    let case = hanna.open_case(task).await;
    let long = "x".repeat(8001);
    let (status, body) = status_and_json(
        hanna
            .api_post(
                &format!("/api/cases/{case}/steps"),
                &json!({"step": "contact_employee", "note": long}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("8000"), "{body}");
    let (status, body) = status_and_json(
        hanna
            .api_post(
                &format!("/api/cases/{case}/deviation"),
                &json!({"seen": long, "accesses": "a", "assessment": "b"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("Vad som iakttogs"),
        "{body}"
    );
    let shown = hanna.json(&format!("/api/cases/{case}")).await;
    assert_eq!(shown["steps"], json!([]));
    assert_eq!(shown["deviation"], Value::Null);

    // A body over 64 KiB is refused before it is read.
    let huge = "y".repeat(70 * 1024);
    let res = hanna
        .api_post(
            &format!("/api/cases/{case}/steps"),
            &json!({"step": "contact_employee", "note": huge}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = status_and_json(
        hanna
            .api_post(
                &format!("/api/tasks/{task}/delegate"),
                &json!({"to": "bo", "reason": "z".repeat(2001)}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("2000"), "{body}");
}
