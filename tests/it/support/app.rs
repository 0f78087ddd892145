//! A `loggvakt serve` process on a free port, with users of every role, over a database
//! where ticks have made review tasks for two units (hemtjänst and boende).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use super::fixture::{Setup, first_week, setup};
use super::{TestDb, loggvakt};

pub const PASSWORD: &str = "ett långt lösenord";

pub struct Server {
    pub url: String,
    pub setup: Setup,
    pub db: TestDb,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The users: `hanna` reviews hemtjänst, `bo` boende, plus `ledning`, `revisor`, `admin`.
/// The server's clock is 2027-05-10, after the first week's draws, reviews made.
pub async fn start() -> Server {
    start_at("2027-05-10T10:00:00+02:00", true).await
}

/// A server whose clock says `now`; `first_week`: whether May 2027's first week has been
/// ticked through before (else the database has only the users).
pub async fn start_at(now: &str, first_week_done: bool) -> Server {
    let setup = setup();
    let db = TestDb::sqlite();
    let store = db.open().await;
    if first_week_done {
        first_week(&setup, &store).await;
    }
    let cfg = setup.cfg.arg();
    for (user, role, email) in [
        ("hanna", "reviewer", "hanna@example.se"),
        ("bo", "reviewer", "bo@example.se"),
        ("ledning", "executive", "ledning@example.se"),
        ("revisor", "auditor", "revisor@example.se"),
        ("admin", "admin", "admin@example.se"),
    ] {
        let out = loggvakt()
            .args(["--db", &db.url, "--config", &cfg, "user", "add", user])
            .args(["--role", role, "--name", user, "--email", email])
            .env("LOGGVAKT_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = loggvakt()
        .args(["--db", &db.url, "--config", &cfg, "--now", now])
        .args(["serve", "--listen", "127.0.0.1:0", "--tick-every", "60"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("serve says where it listens").unwrap();
        if let Some(rest) = line.strip_prefix("loggvakt serving on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        url,
        setup,
        db,
        child,
    }
}

/// A client with its own cookie jar, logged in as `user`.
pub async fn login(url: &str, user: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap();
    let token = login_token(&client, url).await;
    let res = client
        .post(format!("{url}/login"))
        .form(&[
            ("username", user),
            ("password", PASSWORD),
            ("login_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert!(
        !res.text().await.unwrap().contains("Fel användarnamn"),
        "{user} logs in"
    );
    client
}

/// The login form's double-submit token (the client keeps the matching cookie).
pub async fn login_token(client: &reqwest::Client, url: &str) -> String {
    let page = client
        .get(format!("{url}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    page.split("name=\"login_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the login form has a token")
        .to_owned()
}
