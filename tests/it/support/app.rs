//! `TestApp`: a `loggvakt serve` process on a free port, with users of every role, over a
//! database where ticks have made review tasks for two units (hemtjänst and boende); and
//! `Session`, a client with its own cookie jar and typed requests (pages, forms with the
//! CSRF token, the JSON API with `X-CSRF-Token`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use loggvakt::store::Store;
use reqwest::multipart::{Form, Part};
use reqwest::{RequestBuilder, Response};
use serde::Serialize;
use serde_json::Value;

use super::fixture::{Setup, first_week, setup};
use super::login::post_login;
use super::{TestDb, loggvakt};

pub const PASSWORD: &str = "ett långt lösenord";

pub struct TestApp {
    pub url: String,
    pub setup: Setup,
    pub db: TestDb,
    child: Child,
    /// What the server has written to stderr so far, line by line.
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestApp {
    /// A targeted check of `user`'s April 2027 in cosmic, its order sent and waiting for its
    /// delivery; returns the order's id.
    pub async fn sent_user_check(&self, user: &str) -> i64 {
        let store = self.store().await;
        let clock = super::at("2027-05-10T09:00:00+02:00");
        let check = loggvakt::model::check::NewCheck {
            kind: loggvakt::model::check::CheckKind::User,
            system: "cosmic".into(),
            unit: None,
            subject: user.into(),
            from: "2027-04-01".parse().unwrap(),
            to: "2027-04-30".parse().unwrap(),
            reason: "misstanke".into(),
            request: None,
        };
        let (_, order) = loggvakt::checks::create(&store, &self.setup.org, &clock, "admin", check)
            .await
            .unwrap();
        super::state::order_sent(&store, order, clock.now()).await;
        order
    }

    /// Adds a web user (password [`PASSWORD`]) while the server runs.
    pub fn add_user(&self, user: &str, role: &str, email: &str) {
        add_user(&self.db.url, &self.setup.cfg.arg(), user, role, email);
    }

    /// The users: `hanna` reviews hemtjänst, `bo` boende, plus `ledning`, `revisor`,
    /// `admin`. The server's clock is 2027-05-10, after the first week's draws, reviews made.
    pub async fn spawn() -> TestApp {
        Self::spawn_at("2027-05-10T10:00:00+02:00", true).await
    }

    /// A server whose clock says `now`; `first_week_done`: whether May 2027's first week has
    /// been ticked through before (else the database has only the users).
    pub async fn spawn_at(now: &str, first_week_done: bool) -> TestApp {
        Self::spawn_with(now, first_week_done, &[]).await
    }

    /// [`spawn_at`](Self::spawn_at) with more `serve` options.
    pub async fn spawn_with(now: &str, first_week_done: bool, serve_args: &[&str]) -> TestApp {
        Self::spawn_with_env(now, first_week_done, serve_args, &[]).await
    }

    /// [`spawn_with`](Self::spawn_with) with environment variables for `serve` (e.g.
    /// `RUST_LOG=info` to see its request log).
    pub async fn spawn_with_env(
        now: &str,
        first_week_done: bool,
        serve_args: &[&str],
        env: &[(&str, &str)],
    ) -> TestApp {
        Self::spawn_on(setup(), now, first_week_done, serve_args, env).await
    }

    /// The organisation of [`super::fixture::MANUAL_ORG`] (a system with no API), its first
    /// week ticked through.
    pub async fn spawn_manual(now: &str) -> TestApp {
        Self::spawn_on(super::fixture::setup_manual(), now, true, &[], &[]).await
    }

    /// A server over `setup` (e.g. with an extra `*.toml` written into its folder), its
    /// first week ticked through.
    pub async fn spawn_setup(setup: Setup, now: &str) -> TestApp {
        Self::spawn_on(setup, now, true, &[], &[]).await
    }

    /// The app on `db`, with `serve` reaching the database at `serve_url` (a proxy in
    /// front of it, say) while the set-up uses `db`'s own address.
    pub async fn spawn_on_db(db: TestDb, serve_url: &str) -> TestApp {
        let setup = super::fixture::setup();
        Self::spawn_on_with_db(
            setup,
            db,
            Some(serve_url),
            "2027-05-10T10:00:00+02:00",
            true,
            &[],
            &[],
        )
        .await
    }

    async fn spawn_on(
        setup: Setup,
        now: &str,
        first_week_done: bool,
        serve_args: &[&str],
        env: &[(&str, &str)],
    ) -> TestApp {
        Self::spawn_on_with_db(
            setup,
            TestDb::sqlite(),
            None,
            now,
            first_week_done,
            serve_args,
            env,
        )
        .await
    }

    async fn spawn_on_with_db(
        setup: Setup,
        db: TestDb,
        serve_url: Option<&str>,
        now: &str,
        first_week_done: bool,
        serve_args: &[&str],
        env: &[(&str, &str)],
    ) -> TestApp {
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
            add_user(&db.url, &cfg, user, role, email);
        }
        let mut child = loggvakt()
            .args([
                "--db",
                serve_url.unwrap_or(&db.url),
                "--config",
                &cfg,
                "--now",
                now,
            ])
            .args(["serve", "--listen", "127.0.0.1:0", "--tick-every", "60"])
            .args(serve_args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let url = listen_url_keeping(&mut child, log.clone());
        TestApp {
            url,
            setup,
            db,
            child,
            log,
        }
    }

    /// The server's resident memory in bytes (Linux), to show a request did not grow it.
    pub fn resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server is running");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kb * 1024
    }

    /// Waits (up to 10 s) for a line of the server's log that `wanted` accepts.
    pub async fn log_line(&self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        for _ in 0..200 {
            if let Some(l) = self.log.lock().unwrap().iter().find(|l| wanted(l)) {
                return Some(l.clone());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }

    /// The server's log so far, for failure messages.
    pub fn log_so_far(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends the server SIGHUP, as `systemctl reload` does.
    pub fn hangup(&self) {
        let pid = self.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -HUP {pid}");
    }

    /// The server's address as `host:port`, for raw TCP clients.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The server's database, opened by the test.
    pub async fn store(&self) -> Store {
        self.db.open().await
    }

    /// A client that keeps cookies and follows redirects, not logged in.
    pub fn session(&self) -> Session {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .unwrap();
        Session::new(client, &self.url)
    }

    /// A client without cookies that sees redirects as they are.
    pub fn anonymous(&self) -> Session {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Session::new(client, &self.url)
    }

    /// A session logged in as `user`.
    pub async fn login(&self, user: &str) -> Session {
        let session = self.session();
        let res = session.log_in(user, PASSWORD).await;
        assert!(res.status().is_success());
        assert!(
            !res.text().await.unwrap().contains("Fel användarnamn"),
            "{user} logs in"
        );
        session
    }
}

fn add_user(db: &str, cfg: &str, user: &str, role: &str, email: &str) {
    let out = loggvakt()
        .args(["--db", db, "--config", cfg, "user", "add", user])
        .args(["--role", role, "--name", user, "--email", email])
        .env("LOGGVAKT_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    super::assert_ran(&out, "user add");
}

/// A client of one `TestApp`, with its cookies and (once asked for) its CSRF token.
pub struct Session {
    pub client: reqwest::Client,
    url: String,
    csrf: OnceLock<String>,
}

impl Session {
    fn new(client: reqwest::Client, url: &str) -> Self {
        Self {
            client,
            url: url.to_owned(),
            csrf: OnceLock::new(),
        }
    }

    /// The full address of `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Posts the login form with a fresh login token.
    pub async fn log_in(&self, user: &str, password: &str) -> Response {
        post_login(&self.client, &self.url, user, password).await
    }

    pub async fn get(&self, path: &str) -> Response {
        send(self.client.get(self.at(path))).await
    }

    /// The page's text, whatever its status.
    pub async fn page(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// An API answer as JSON.
    pub async fn json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// The session's CSRF token, as `/api/me` gives it.
    pub async fn csrf(&self) -> String {
        if let Some(token) = self.csrf.get() {
            return token.clone();
        }
        let me = self.json("/api/me").await;
        let token = me["csrf_token"].as_str().unwrap().to_owned();
        self.csrf.get_or_init(|| token).clone()
    }

    /// Posts a form as given (with a CSRF field only if `fields` has one).
    pub async fn post_form<F: Serialize + ?Sized>(&self, path: &str, fields: &F) -> Response {
        send(self.client.post(self.at(path)).form(fields)).await
    }

    /// Posts a form as the page does: `fields` and the session's CSRF token.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf().await;
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(path, &all).await
    }

    /// Posts JSON to the API with the session's `X-CSRF-Token`.
    pub async fn api_post(&self, path: &str, body: &Value) -> Response {
        let csrf = self.csrf().await;
        let req = self.client.post(self.at(path)).header("x-csrf-token", csrf);
        send(req.json(body)).await
    }

    /// Closes a task *med anmärkning* through the API; returns the case it opened.
    pub async fn open_case(&self, task: i64) -> i64 {
        let done = self
            .api_post(
                &format!("/api/tasks/{task}/complete"),
                &serde_json::json!({"outcome": "med_anmarkning", "comment": "följs upp"}),
            )
            .await;
        let done: Value = done.json().await.unwrap();
        done["case"]
            .as_i64()
            .unwrap_or_else(|| panic!("no case: {done}"))
    }

    /// Posts JSON to the API without a CSRF header, as a forged request would.
    pub async fn api_post_without_token(&self, path: &str, body: &Value) -> Response {
        send(self.client.post(self.at(path)).json(body)).await
    }

    /// Uploads a file as the page's form does, with the session's CSRF token.
    pub async fn upload(&self, path: &str, file_name: &str, bytes: &[u8]) -> Response {
        let file = Part::bytes(bytes.to_vec()).file_name(file_name.to_owned());
        let form = Form::new()
            .text("csrf", self.csrf().await)
            .part("file", file);
        send(self.client.post(self.at(path)).multipart(form)).await
    }
}

async fn send(req: RequestBuilder) -> Response {
    req.send().await.unwrap()
}

/// Reads a spawned `serve`'s stderr (piped) until it says where it listens; its later lines
/// go into `log`, drained so that the server never blocks on a full pipe.
pub fn listen_url_keeping(child: &mut std::process::Child, log: Arc<Mutex<Vec<String>>>) -> String {
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let line = lines.next().expect("serve says where it listens").unwrap();
        if let Some(rest) = line.strip_prefix("loggvakt serving on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            log.lock().unwrap().push(line);
        }
    });
    url
}
