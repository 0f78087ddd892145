//! `[auth.oidc]` against a real OpenID provider: panva's oidc-provider on node
//! (`tests/oidc/provider.mjs`), started by each test on a free port. Headless Chromium logs
//! in through it with local passwords off and lands as the role and units its groups map to;
//! a token for another audience, an expired token, a replayed state and a user whose groups
//! map to nothing are refused.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::app::TestApp;
use crate::support::fixture::setup;
use crate::support::webdriver::Browser;
use crate::support::{TestDb, assert_no_role, audit_count, count, free_port, instant, per_backend};

const NOW: &str = "2027-05-10T10:00:00+02:00";
const CLIENT_ID: &str = "loggvakt";
const CLIENT_SECRET: &str = "klienthemlighet-for-test";
const CALLBACK: &str = "/login/oidc/callback";

/// The provider's accounts: a chef of hemtjänst, an administrator, and someone whose groups
/// give nothing in loggvakt.
fn accounts() -> serde_json::Value {
    let account = |name: &str, email: &str, groups: &[&str]| {
        json!({"password": "ett lösenord hos idp", "claims": {
            "name": name, "email": email, "groups": groups,
        }})
    };
    json!({
        "karin": account("Karin Chef", "karin@example.se", &["alla", "lv-chefer-hemtjanst"]),
        "adam": account("Adam Admin", "adam@example.se", &["lv-admins", "lv-chefer-hemtjanst"]),
        "olle": account("Olle Obehörig", "olle@example.se", &["alla"]),
    })
}

const IDP_PASSWORD: &str = "ett lösenord hos idp";

/// The provider's node process, killed when dropped.
struct Provider {
    child: Child,
    url: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts `tests/oidc/provider.mjs` on `port`, its clock at [`NOW`], with loggvakt's
    /// callback at `app_url` as the registered redirect, and waits until it answers.
    async fn start(port: u16, app_url: &str) -> Provider {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        install_provider(&dir);
        let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
        let child = Command::new(&node)
            .arg("provider.mjs")
            .arg(port.to_string())
            .current_dir(&dir)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", format!("{app_url}{CALLBACK}"))
            .env("OIDC_ACCOUNTS", accounts().to_string())
            .env("OIDC_NOW", NOW)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {node} (node 20 or later is needed): {e}"));
        let provider = Provider {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let discovery = format!("{}/.well-known/openid-configuration", provider.url);
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(&discovery).send().await
                && r.status().is_success()
            {
                return provider;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the OpenID provider never answered at {discovery}");
    }

    /// The next ID token the provider issues is re-signed after `mode`'s change.
    async fn tamper(&self, mode: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/__test/tamper?mode={mode}", self.url))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
}

/// A server with local passwords off and `[auth.oidc]` pointing at a provider on
/// `provider_port` (started after the server, which learns its own port only when it
/// listens; discovery happens at the first sign-on).
async fn app(provider_port: u16) -> TestApp {
    let s = setup();
    std::fs::write(
        s.cfg.path().join("oidc-secret"),
        format!("{CLIENT_SECRET}\n"),
    )
    .unwrap();
    let auth = format!(
        r#"
[auth]
local_passwords = false

[auth.oidc]
issuer = "http://127.0.0.1:{provider_port}"
client_id = "{CLIENT_ID}"
client_secret_file = "oidc-secret"
groups_claim = "groups"

[[auth.map]]
group = "lv-admins"
role = "admin"

[[auth.map]]
group = "lv-chefer-hemtjanst"
role = "reviewer"
units = ["hemtjanst"]
"#
    );
    std::fs::write(s.cfg.path().join("zz-auth.toml"), auth).unwrap();
    TestApp::spawn_setup(s, NOW).await
}

async fn app_and_provider() -> (TestApp, Provider) {
    let port = free_port();
    let app = app(port).await;
    let provider = Provider::start(port, &app.url).await;
    (app, provider)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_logs_in_through_the_provider_and_sees_only_their_unit() {
    let (app, _provider) = app_and_provider().await;
    let b = Browser::start().await;

    b.goto(&format!("{}/login", app.url)).await;
    assert!(
        b.find_all_now("#password").await.is_empty(),
        "no password form"
    );
    b.click("#login-oidc").await;
    b.wait_for_url("/interaction/").await;
    b.type_into("#login", "karin").await;
    b.type_into("#password", IDP_PASSWORD).await;
    b.click("#submit").await;

    b.wait_for_url("/granskningar").await;
    b.wait_for_text("h1", "Mina granskningar").await;
    let links = b.find_all("#open-tasks a.task-link").await;
    assert_eq!(links.len(), 1, "hemtjänst's one task, not boende's");
    b.click("#open-tasks a.task-link").await;
    b.wait_for_url("/granskningar/").await;
    assert!(b.source().await.contains("Hemtjänst"));
    b.quit().await;

    let store = app.store().await;
    let (user, hash) = store
        .user_by_name("karin")
        .await
        .unwrap()
        .expect("provisioned");
    assert_eq!(user.role.as_str(), "reviewer");
    assert_eq!(user.units, ["hemtjanst"]);
    assert_eq!(user.name, "Karin Chef");
    assert!(hash.is_empty(), "no password");
    assert_eq!(audit_count(&store, "user.provisioned").await, 1);
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'user.sso_login' \
             AND details LIKE '%\"via\":\"oidc\"%'"
        )
        .await,
        1,
        "{}",
        app.log_so_far()
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM oidc_logins").await,
        0,
        "the state was spent"
    );
}

/// A client that keeps cookies and follows redirects, except into loggvakt's callback: the
/// test holds the callback's address to send it (and send it again).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::custom(|a| {
            if a.url().path() == CALLBACK || a.previous().len() > 10 {
                a.stop()
            } else {
                a.follow()
            }
        }))
        .build()
        .unwrap()
}

/// Starts a sign-on, logs in at the provider as `user`, and returns the callback address the
/// provider sends the browser to.
async fn to_callback(app: &TestApp, c: &reqwest::Client, user: &str) -> String {
    let login = c
        .get(format!("{}/login/oidc", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "{}", app.log_so_far());
    let form = format!("{}/login", login.url().as_str().trim_end_matches('/'));
    assert!(form.contains("/interaction/"), "{form}");
    let back = c
        .post(form)
        .form(&[("login", user), ("password", IDP_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(back.status().is_redirection(), "{}", back.status());
    let location = back.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with(&format!("{}{CALLBACK}?", app.url)),
        "{location}"
    );
    location
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_audience_expired_token_replayed_state_and_unmapped_groups_are_refused() {
    let (app, provider) = app_and_provider().await;

    // An administrator signs on; the same callback a second time is refused.
    let c = client();
    let callback = to_callback(&app, &c, "adam").await;
    let first = c.get(&callback).send().await.unwrap();
    assert_eq!(first.status(), 200, "{}", app.log_so_far());
    let admin = c.get(format!("{}/admin", app.url)).send().await.unwrap();
    assert_eq!(admin.status(), 200, "adam is an administrator");
    assert!(admin.url().path().starts_with("/admin"));
    let again = c.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 403);
    assert!(
        again.text().await.unwrap().contains("redan använts"),
        "a replayed state"
    );
    // Nor does another browser get anywhere with it.
    let other = client().get(&callback).send().await.unwrap();
    assert_eq!(other.status(), 403);

    // Validly signed by the provider, but for another client.
    let c = client();
    provider.tamper("wrong-audience").await;
    let callback = to_callback(&app, &c, "karin").await;
    let r = c.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("kunde inte godkännas"));
    let line = app
        .log_line(|l| l.contains("OpenID sign-on refused") && l.contains("audience"))
        .await;
    assert!(line.is_some(), "{}", app.log_so_far());
    let r = c
        .get(format!("{}/granskningar", app.url))
        .send()
        .await
        .unwrap();
    assert!(r.url().path().starts_with("/login"), "no session");

    // Expired an hour ago by loggvakt's clock.
    let c = client();
    provider.tamper("expired").await;
    let callback = to_callback(&app, &c, "karin").await;
    let r = c.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let line = app
        .log_line(|l| l.contains("OpenID sign-on refused") && l.contains("expired"))
        .await;
    assert!(line.is_some(), "{}", app.log_so_far());

    // A member of no mapped group.
    let c = client();
    let callback = to_callback(&app, &c, "olle").await;
    assert_no_role(c.get(&callback).send().await.unwrap()).await;

    let store = app.store().await;
    assert!(store.user_by_name("olle").await.unwrap().is_none());
    assert!(store.user_by_name("karin").await.unwrap().is_none());
    assert_eq!(audit_count(&store, "user.sso_login").await, 1, "adam only");
    // Never a code or a token in the log.
    let code = callback
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap();
    assert!(!app.log_so_far().contains(code));
}

per_backend!(async fn a_sign_on_state_works_once_and_users_follow_their_groups);
/// The storage under the flow, on each backend: a state is taken once and not after its
/// expiry; a grant provisions a user, a changed grant updates them, no grant admits only a
/// known user.
async fn a_sign_on_state_works_once_and_users_follow_their_groups(db: TestDb) {
    use loggvakt::model::sso::Grant;
    use loggvakt::model::user::Role;
    use loggvakt::store::sso::{PendingOidcLogin, SsoIdentity, SsoOutcome};

    let store = db.open().await;
    let now = instant("2027-05-10T10:00:00+02:00");
    let pending = |state: &str| PendingOidcLogin {
        state_hash: state.into(),
        browser_hash: "b".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        expires_at: now + chrono::TimeDelta::minutes(10),
    };
    store.begin_oidc_login(&pending("s1"), now).await.unwrap();
    store.begin_oidc_login(&pending("s2"), now).await.unwrap();
    let taken = store.take_oidc_login("s1", now).await.unwrap();
    assert_eq!(taken.expect("s1").nonce, "n", "{}", db.backend);
    assert!(store.take_oidc_login("s1", now).await.unwrap().is_none());
    let late = now + chrono::TimeDelta::minutes(11);
    assert!(store.take_oidc_login("s2", late).await.unwrap().is_none());

    let who = SsoIdentity {
        username: "karin".into(),
        name: "Karin Chef".into(),
        email: "karin@example.se".into(),
    };
    let reviewer = Grant {
        role: Role::Reviewer,
        units: vec!["hemtjanst".into()],
    };
    let signed = |o: SsoOutcome| match o {
        SsoOutcome::SignedOn(u) => u,
        other => panic!("{}: {other:?}", db.backend),
    };
    let u = signed(
        store
            .sso_sign_on(&who, Some(&reviewer), "oidc", now)
            .await
            .unwrap(),
    );
    assert_eq!(
        (u.role, u.units.clone()),
        (Role::Reviewer, vec!["hemtjanst".to_owned()])
    );
    signed(
        store
            .sso_sign_on(&who, Some(&reviewer), "oidc", now)
            .await
            .unwrap(),
    );
    assert_eq!(audit_count(&store, "user.sso_updated").await, 0);
    let admin = Grant {
        role: Role::Admin,
        units: vec![],
    };
    let u = signed(
        store
            .sso_sign_on(&who, Some(&admin), "oidc", now)
            .await
            .unwrap(),
    );
    assert_eq!(u.role, Role::Admin);
    assert!(u.units.is_empty());
    assert_eq!(audit_count(&store, "user.provisioned").await, 1);
    assert_eq!(audit_count(&store, "user.sso_updated").await, 1);
    assert_eq!(audit_count(&store, "user.sso_login").await, 3);
    // Without groups only a known user gets in.
    signed(store.sso_sign_on(&who, None, "header", now).await.unwrap());
    let nobody = SsoIdentity {
        username: "okand".into(),
        ..who
    };
    assert!(matches!(
        store
            .sso_sign_on(&nobody, None, "header", now)
            .await
            .unwrap(),
        SsoOutcome::Unknown
    ));
}

#[test]
fn config_check_names_the_file_item_and_field_of_oidc_mistakes() {
    let s = setup();
    std::fs::write(
        s.cfg.path().join("zz-auth.toml"),
        r#"
[auth]
local_passwords = false

[auth.oidc]
issuer = "http://idp.example.se"
client_id = "loggvakt"
client_secret_file = "saknas"

[[auth.map]]
group = "chefer"
role = "reviewer"
units = ["nowhere"]

[[auth.map]]
group = "chefer"
role = "boss"
"#,
    )
    .unwrap();
    let r = crate::support::run(&["--config", &s.cfg.arg(), "config", "check"]);
    assert_ne!(r.code, 0);
    for needle in [
        "zz-auth.toml",
        "[auth]",
        "oidc.issuer",
        "oidc.client_secret_file",
        "saknas",
        "map[0].units",
        "unknown unit 'nowhere'",
        "map[1].role",
        "unknown role 'boss'",
    ] {
        r.says(needle);
    }
}

/// Installs the provider's packages the first time a test needs them.
fn install_provider(dir: &std::path::Path) {
    crate::support::npm_packages(dir, "node_modules/oidc-provider");
}
