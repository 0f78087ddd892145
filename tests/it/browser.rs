//! End to end in headless Chromium: a reviewer logs in, opens a task, sees a flagged row,
//! completes the task, and the executive then sees it counted in the report; and a system in
//! manual mode reviewed by upload and by a review recorded outside loggvakt.

use serde_json::Value;

use crate::support::app::{PASSWORD, TestApp};
use crate::support::webdriver::Browser;
use crate::support::{EXTRACT_HEADER, personnummer};

async fn log_in(b: &Browser, url: &str, user: &str) {
    b.goto(&format!("{url}/login")).await;
    b.type_into("#username", user).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#login").await;
}

/// The 2027 report's overall counts, as its JSON gives them.
async fn overall_2027(b: &Browser, url: &str) -> Value {
    b.goto(&format!("{url}/rapport.json?year=2027")).await;
    let json = b.text("body").await;
    let report: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    report["totals"]["overall"].clone()
}

/// Closes the open task page utan anmärkning, logs out and logs in as the executive, who
/// lands on the report.
async fn close_utan_and_see_the_report(b: &Browser, url: &str) {
    b.click("#utan").await;
    b.click("#complete").await;
    b.wait_for_text("#task-status", "Utan anmärkning").await;
    b.click("header form button").await;
    b.wait_for_url("/login").await;
    log_in(b, url, "ledning").await;
    b.wait_for_url("/rapport").await;
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

    // Closed; the executive's report counts the check.
    close_utan_and_see_the_report(&b, url).await;
    assert!(
        b.source().await.contains("Utan anmärkning"),
        "the report's column"
    );
    let total = overall_2027(&b, url).await;
    assert_eq!(total["utan_anmarkning"], 1, "{total}");
    assert_eq!(total["done_on_time"], 1, "{total}");
    b.quit().await;
}

/// Issue 10's manual mode in the browser: the reviewer of a system with no API reads the
/// work instruction, uploads one user's export, records the other's review made on screen,
/// closes the task, and the report counts it as made outside loggvakt.
#[tokio::test(flavor = "multi_thread")]
async fn a_manual_system_is_reviewed_by_upload_and_by_a_recorded_outside_review() {
    let app = TestApp::spawn_manual("2027-05-10T10:00:00+02:00").await;
    let url = &app.url;
    let store = app.store().await;
    let task = store.tasks(None).await.unwrap().remove(0);
    let draw = store.draw(task.draw_id.unwrap()).await.unwrap().unwrap();
    let (first, second) = (&draw.selected[0], &draw.selected[1]);
    let b = Browser::start().await;

    log_in(&b, url, "hanna").await;
    b.wait_for_url("/granskningar").await;
    b.goto(&format!("{url}/granskningar/{}", task.id)).await;
    let instruction = b.text("#instruction").await;
    for s in &draw.selected {
        assert!(instruction.contains(&s.username), "{instruction}");
    }

    // The first user's export, uploaded on the task page.
    let time = first.review_from.naive_local() + chrono::TimeDelta::hours(9);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.csv");
    std::fs::write(
        &file,
        format!(
            "{EXTRACT_HEADER}\n{},journal,{},,{},,,read,Läst journal,\n",
            time.format("%Y-%m-%dT%H:%M:%S"),
            first.username,
            personnummer("121212", 1)
        ),
    )
    .unwrap();
    let row = |user: &str| format!("#coverage tr[data-user='{user}']");
    b.type_into(
        &format!("{} form.upload input[type=file]", row(&first.username)),
        file.to_str().unwrap(),
    )
    .await;
    b.click(&format!("{} form.upload button", row(&first.username)))
        .await;
    b.wait_for_url("/utdrag").await;
    assert!(b.text("main").await.contains("är inläst"));

    // The second user's log was read on screen in the system.
    b.goto(&format!("{url}/granskningar/{}", task.id)).await;
    let form = format!("{} form.outside", row(&second.username));
    b.type_into(&format!("{form} input[name=rows]"), "14").await;
    b.click(&format!("{form} input[name=checklist]")).await;
    b.click(&format!("{form} button")).await;
    b.wait_for_text(
        &format!("{} td.coverage", row(&second.username)),
        "Granskad utanför loggvakt: På skärmen i verksamhetssystemet: 14 rader, utan anmärkning \
         (hanna@example.se)",
    )
    .await;
    b.wait_for_text(
        &format!("{} td.coverage", row(&first.username)),
        "Loggrader i loggvakt",
    )
    .await;

    close_utan_and_see_the_report(&b, url).await;
    let total = overall_2027(&b, url).await;
    assert_eq!(total["done_on_time"], 1, "{total}");
    assert_eq!(total["reviewed_outside"], 1, "{total}");
    assert_eq!(total["by_hand"], 1, "{total}");
    b.quit().await;
}

/// Issue 11's case in the browser: the enhetschef closes a task med anmärkning, follows its
/// case through the three steps and the loggavvikelse, cannot choose a police report; the
/// verksamhetschef of the parent unit, notified, decides it; each step names its person.
#[tokio::test(flavor = "multi_thread")]
async fn a_case_is_followed_in_the_browser_and_decided_by_the_chief_above_the_unit() {
    let app = TestApp::spawn().await;
    app.add_user("vera", "reviewer", "vera@example.se");
    let url = &app.url;
    let b = Browser::start().await;

    log_in(&b, url, "hanna").await;
    b.wait_for_url("/granskningar").await;
    b.click("#open-tasks a.task-link").await;
    b.wait_for_url("/granskningar/").await;
    b.click("#med").await;
    b.type_into("#comment", "Läst journal utan vårdrelation")
        .await;
    b.click("#complete").await;
    b.wait_for_text("#task-status", "Med anmärkning").await;
    b.click("#case-link").await;
    b.wait_for_url("/arenden/").await;
    b.wait_for_text("#case-status", "Öppet").await;

    for (step, note) in [
        ("contact_employee", "Samtal hållet med medarbetaren"),
        (
            "targeted_check",
            "Riktad kontroll av två veckor: fler åtkomster",
        ),
        ("inform_chief", "Verksamhetschefen informerad"),
    ] {
        b.type_into(&format!("#note-{step}"), note).await;
        b.click(&format!("#step-{step}")).await;
        b.wait_for_text(&format!("tr[data-step={step}] .by"), "web:hanna")
            .await;
    }
    for (field, text) in [
        ("#seen", "Journalen öppnad 23:30 utan vårdrelation"),
        ("#accesses", "2027-04-12 23:30, journal, läsning"),
        ("#explanation", "Sökte fel patient"),
        ("#assessment", "Åtkomsten saknade stöd i uppdraget"),
    ] {
        b.type_into(field, text).await;
    }
    b.click("#save-deviation").await;
    b.wait_for_text("#deviation-by", "web:hanna").await;
    assert_eq!(
        b.find_all_now("#decision-police_report[disabled]")
            .await
            .len(),
        1,
        "a police report is not the enhetschef's to decide"
    );
    b.click("header form button").await;
    b.wait_for_url("/login").await;

    // The verksamhetschef was told, and decides.
    let store = app.store().await;
    let told = crate::support::told(&store, None, "case_chief_informed").await;
    assert!(told.contains(&"vera@example.se".to_owned()), "{told:?}");
    log_in(&b, url, "vera").await;
    b.wait_for_url("/granskningar").await;
    b.goto(&format!("{url}/arenden")).await;
    b.click("#cases a.case-link").await;
    b.wait_for_url("/arenden/").await;
    b.click("#decision-police_report").await;
    b.type_into("#decision-note", "Polisanmälan görs av verksamhetschefen")
        .await;
    b.click("#decide").await;
    b.wait_for_text("#case-status", "Beslutat").await;
    assert_eq!(
        b.text("#decision-label").await,
        "Överträdelse: polisanmälan"
    );
    assert_eq!(b.text("#decision .by").await, "web:vera");
    b.quit().await;
}

/// Issue 11's targeted check by patient and patient request in the browser: the
/// verksamhetschef orders both, the extracts come in, and each ends with a printable letter
/// that lists the time and the unit of every access and no staff name; the registered mail
/// and its receipt are recorded.
#[tokio::test(flavor = "multi_thread")]
async fn a_check_by_patient_and_a_patient_request_end_with_a_letter_of_times_and_units() {
    let app = TestApp::spawn().await;
    app.add_user("vera", "reviewer", "vera@example.se");
    let url = &app.url;
    let patient = crate::support::personnummer("121212", 7);
    let b = Browser::start().await;
    log_in(&b, url, "vera").await;
    b.wait_for_url("/granskningar").await;

    // A targeted check by patient, reviewed by vård och omsorg.
    b.goto(&format!("{url}/kontroller")).await;
    b.click("#kind-patient").await;
    b.type_into("#check-subject", &patient).await;
    b.click("#check-unit option[value=vard]").await;
    b.type_into("#check-from", "2027-04-01").await;
    b.replace_text("#check-to", "2027-04-30").await;
    b.type_into("#check-reason", "Misstänkt obehörig åtkomst")
        .await;
    b.click("#create-check").await;
    let check_url = b.wait_for_url("/kontroller/").await;
    let check: i64 = check_url.rsplit('/').next().unwrap().parse().unwrap();

    // The patient's own request, identity checked.
    b.goto(&format!("{url}/kontroller")).await;
    b.type_into("#request-subject", &patient).await;
    b.type_into("#request-document", "Pass").await;
    b.click("#request-unit option[value=vard]").await;
    b.type_into("#request-from", "2027-04-01").await;
    b.replace_text("#request-to", "2027-04-30").await;
    b.click("#create-request").await;
    let request_url = b.wait_for_url("/kontroller/").await;
    let request: i64 = request_url.rsplit('/').next().unwrap().parse().unwrap();
    assert_ne!(check, request);
    assert!(
        b.text("#request")
            .await
            .contains("dokumenteras i patientens journal")
    );

    // Both orders go out and their extracts come in (a staff name in each row).
    let store = app.store().await;
    let vera = app.login("vera").await;
    for id in [check, request] {
        let order = store.orders_of_check(id).await.unwrap()[0];
        crate::support::state::order_sent(&store, order, app_now()).await;
        let file = format!(
            "Tidpunkt;Användarnamn;Användarens namn;Personnummer;Vårdenhet;Händelse\n\
             2027-04-03 10:00;C800001;Eva Lind;{patient};Hemtjänst Norr;Läst\n\
             2027-04-09 23:10;C800013;Nils Natt;{patient};Boende Syd;Läst\n"
        );
        let res = vera
            .upload(
                &format!("/bestallningar/{order}/utdrag"),
                "utdrag.csv",
                file.as_bytes(),
            )
            .await;
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }

    for id in [check, request] {
        b.goto(&format!("{url}/kontroller/{id}")).await;
        b.click("#letter-link").await;
        b.wait_for_url("/brev").await;
        let letter = b.text("#letter").await;
        assert!(
            letter.contains("2027-04-03 10:00") && letter.contains("Hemtjänst Norr"),
            "{letter}"
        );
        assert!(
            letter.contains("2027-04-09 23:10") && letter.contains("Boende Syd"),
            "{letter}"
        );
        for staff in ["Eva Lind", "Nils Natt", "C800001", "C800013"] {
            assert!(!b.source().await.contains(staff), "{staff} in the letter");
        }
    }

    b.goto(&format!("{url}/kontroller/{request}")).await;
    b.type_into("#registered-mail", "RR123456789SE").await;
    b.click("#record-dispatch").await;
    b.wait_for_text(
        "#dispatched",
        &format!(
            "Skickat med rekommenderat brev RR123456789SE {}.",
            "2027-05-10 10:00"
        ),
    )
    .await;
    b.replace_text("#receipt-on", "2027-05-12").await;
    b.click("#record-receipt").await;
    b.wait_for_text("#receipt", "Mottagningsbevis 2027-05-12.")
        .await;
    b.quit().await;
    let shown = store
        .checks()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id == request)
        .unwrap();
    let documented = shown.request.unwrap();
    assert_eq!(documented.identity_document, "Pass");
    assert_eq!(documented.identity_checked_by, "vera");
    assert_eq!(documented.registered_mail.as_deref(), Some("RR123456789SE"));
}

/// The clock of [`TestApp::spawn`].
fn app_now() -> chrono::DateTime<chrono::Utc> {
    crate::support::at("2027-05-10T10:00:00+02:00").now()
}

/// Issue 11's delegation in the browser: the enhetschef hands her task to another chef with
/// the reason in writing; it leaves her own list, the other chef is told, sees it as his
/// and closes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_is_delegated_in_the_browser_and_closed_by_the_other_chef() {
    let app = TestApp::spawn().await;
    let url = &app.url;
    let b = Browser::start().await;
    log_in(&b, url, "hanna").await;
    b.wait_for_url("/granskningar").await;
    b.click("#open-tasks a.task-link").await;
    let task_url = b.wait_for_url("/granskningar/").await;
    let task: i64 = task_url.rsplit('/').next().unwrap().parse().unwrap();
    b.click("#delegate-to option[value=bo]").await;
    b.type_into("#delegate-reason", "Semester vecka 20–21")
        .await;
    b.click("#delegate").await;
    b.wait_for_text("h1", "Mina granskningar").await;
    assert!(
        b.find_all_now("#open-tasks").await.is_empty(),
        "no longer hers"
    );
    assert!(
        b.text("#unit-tasks .reviewer")
            .await
            .contains("bo@example.se")
    );
    b.click("header form button").await;
    b.wait_for_url("/login").await;

    let told = crate::support::told(&app.store().await, Some(task), "assigned").await;
    assert!(told.contains(&"bo@example.se".to_owned()), "{told:?}");
    log_in(&b, url, "bo").await;
    b.wait_for_url("/granskningar").await;
    b.click(&format!("#open-tasks a[href='/granskningar/{task}']"))
        .await;
    b.wait_for_url(&format!("/granskningar/{task}")).await;
    assert!(
        b.text("#delegation-history")
            .await
            .contains("Semester vecka 20–21")
    );
    b.click("#utan").await;
    b.click("#complete").await;
    b.wait_for_text("#task-status", "Utan anmärkning").await;
    b.quit().await;
}
