//! `[auth.header]`: a reverse proxy's user header logs in only from a trusted address, and
//! `[auth] local_passwords = false` turns the password form off.

use crate::support::app::{PASSWORD, TestApp};
use crate::support::fixture::setup;
use crate::support::login::login_page;

const NOW: &str = "2027-05-10T10:00:00+02:00";

async fn app(auth_toml: &str) -> TestApp {
    let s = setup();
    std::fs::write(s.cfg.path().join("zz-auth.toml"), auth_toml).unwrap();
    TestApp::spawn_setup(s, NOW).await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("lv_session=") && !c.starts_with("lv_session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// `GET /login/sso` with the headers a proxy sets: the user, and their groups if given.
async fn sign_on(app: &TestApp, user: &str, groups: Option<&str>) -> reqwest::Response {
    let mut req = no_redirects()
        .get(format!("{}/login/sso", app.url))
        .header("X-Remote-User", user);
    if let Some(groups) = groups {
        req = req.header("X-Remote-Groups", groups);
    }
    req.send().await.unwrap()
}

/// `GET path` in the session that the sign-on answer `signed_on` started.
async fn get_in_session(
    app: &TestApp,
    signed_on: &reqwest::Response,
    path: &str,
) -> reqwest::Response {
    assert_eq!(signed_on.status(), 303, "{}", app.log_so_far());
    let cookie = session_cookie(signed_on).expect("a session cookie");
    no_redirects()
        .get(format!("{}{path}", app.url))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn header_from_a_trusted_proxy_logs_in_and_passwords_are_off() {
    let app = app(r#"
[auth]
local_passwords = false
[auth.header]
user_header = "X-Remote-User"
trusted_proxies = ["127.0.0.1/32", "::1"]
"#)
    .await;
    let text = login_page(&no_redirects(), &app.url).await;
    assert!(
        text.contains("Logga in med organisationens konto"),
        "{text}"
    );
    assert!(
        !text.contains("id=\"password\""),
        "no password form: {text}"
    );

    let r = sign_on(&app, "Hanna", None).await;
    let tasks = get_in_session(&app, &r, "/granskningar").await;
    assert_eq!(tasks.status(), 200);
    let text = tasks.text().await.unwrap();
    assert!(
        text.contains("Mina granskningar"),
        "hanna is a reviewer: {text}"
    );

    // The password form is refused even with a right password.
    let refused = app.session();
    let r = refused
        .client
        .post(format!("{}/login", app.url))
        .form(&[
            ("username", "hanna"),
            ("password", PASSWORD),
            ("login_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // An unknown user named by the proxy gets no session.
    let r = sign_on(&app, "okand", None).await;
    assert!(session_cookie(&r).is_none());
    assert_eq!(r.status(), 403);

    let store = app.store().await;
    assert_eq!(
        crate::support::audit_count(&store, "user.sso_login").await,
        1
    );
}

#[tokio::test]
async fn header_from_an_untrusted_peer_is_ignored() {
    let app = app(r#"
[auth.header]
user_header = "X-Remote-User"
trusted_proxies = ["10.1.2.0/24"]
"#)
    .await;
    let r = sign_on(&app, "admin", None).await;
    assert!(session_cookie(&r).is_none(), "no session from 127.0.0.1");
    assert!(
        r.status().is_redirection() || r.status() == 401,
        "{}",
        r.status()
    );
    let warned = app
        .log_line(|l| l.contains("untrusted address ignored"))
        .await
        .expect("warned");
    assert!(
        !warned.contains("admin"),
        "never the header's value: {warned}"
    );
    // The password form still works beside it (local passwords default on).
    let text = login_page(&no_redirects(), &app.url).await;
    assert!(text.contains("id=\"password\""));
}

#[tokio::test]
async fn the_groups_header_maps_to_a_role_and_provisions_the_user() {
    let app = app(r#"
[auth.header]
user_header = "X-Remote-User"
groups_header = "X-Remote-Groups"
trusted_proxies = ["127.0.0.1/32", "::1"]

[[auth.map]]
group = "lv-ledning"
role = "executive"
"#)
    .await;
    let r = sign_on(&app, "Nyledare", Some("alla; lv-ledning")).await;
    let report = get_in_session(&app, &r, "/rapport").await;
    assert_eq!(report.status(), 200, "an executive sees the report");

    let r = sign_on(&app, "olle", Some("alla")).await;
    assert!(session_cookie(&r).is_none());
    crate::support::assert_no_role(r).await;

    let store = app.store().await;
    let (user, _) = store.user_by_name("nyledare").await.unwrap().unwrap();
    assert_eq!(user.role.as_str(), "executive");
    assert!(store.user_by_name("olle").await.unwrap().is_none());
    assert_eq!(
        crate::support::audit_count(&store, "user.provisioned").await,
        1
    );
}
