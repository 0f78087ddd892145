//! Hostile input against a running `serve`: each test makes the attack and shows that it was
//! held (issue 12, "Hostile input").

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::app::{PASSWORD, TestApp};
use crate::support::login::login_token;

/// Sends `head` and then `body_len` bytes of body on a thread of its own (the server may stop
/// reading long before), and returns the status line of the answer.
fn post_raw(addr: &str, head: &str, body_len: usize) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1 << 20];
        let mut left = body_len;
        while left > 0 {
            let n = left.min(chunk.len());
            if writer.write_all(&chunk[..n]).is_err() {
                return; // the server closed: it refused the rest
            }
            left -= n;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    drop(stream);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_64_mib_login_body_is_refused_unread() {
    let app = TestApp::spawn().await;
    let before = app.resident_bytes();
    let len = 64 << 20;
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {len}\r\n\r\n"
    );
    let addr = app.addr().to_owned();
    let status = tokio::task::spawn_blocking(move || post_raw(&addr, &head, len))
        .await
        .unwrap();
    assert!(status.contains(" 413 "), "{status}");
    let grown = app.resident_bytes().saturating_sub(before);
    assert!(grown < 50 << 20, "the server grew by {grown} bytes");
    // The server is still up.
    let health = app.anonymous().get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_of_many_bad_rows_is_answered_with_the_first_fifty_and_a_count() {
    let app = TestApp::spawn().await;
    let order = app.sent_user_check("C800001").await;
    // 2 000 rows, every one outside the ordered period.
    let mut file = String::from("Tidpunkt;Användarnamn;Personnummer;Händelse\n");
    for i in 0..2000 {
        file.push_str(&format!(
            "2027-05-03 10:{:02}:{:02};C800001;191212121212;Läst\n",
            i / 60 % 60,
            i % 60
        ));
    }
    let hanna = app.login("hanna").await;
    let res = hanna
        .upload(
            &format!("/bestallningar/{order}/utdrag"),
            "utdrag.csv",
            file.as_bytes(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let page = res.text().await.unwrap();
    assert!(page.contains("2000 rader avvisades"), "{page}");
    assert_eq!(page.matches("utdrag.csv:line ").count(), 50, "{page}");
    assert!(page.contains("… och 1950 till"), "{page}");
    assert!(page.len() < 20_000, "a short page, not one line per row");
}

/// Reads until the server closes the connection (or `within` passes); returns how long that
/// took, or `None` if it stayed open.
fn wait_for_close(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            // An answer (408) before the close is fine; keep reading for the close.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed());
            }
            Err(_) => return None, // timed out: still open
        }
        if start.elapsed() > within {
            return None;
        }
    }
}

/// A server with this header timeout and connection limit (`serve`'s flags).
async fn limited_app(header_timeout_secs: &str, max_connections: &str) -> TestApp {
    let limits = [
        "--header-timeout-secs",
        header_timeout_secs,
        "--max-connections",
        max_connections,
    ];
    TestApp::spawn_with("2027-05-10T10:00:00+02:00", false, &limits).await
}

/// `n` clients that send half a request line to `addr`, then nothing.
fn slow_clients(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /health HT").unwrap();
            s
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let app = limited_app("1", "4").await;
    let closed = closes_of(&app, |addr| slow_clients(addr, 4), 10).await;
    for c in &closed {
        let took = c.expect("the server closed the connection");
        assert!(took < Duration::from_secs(5), "closed after {took:?}");
    }
    // All four slots were taken by the slow clients; now that they are gone it serves again.
    let health = app.anonymous().get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
}

/// Opens connections to `app` with `open` (off the runtime, they block) and waits up to
/// `wait_secs` for the server to close each: how long each took, `None` for still open.
async fn closes_of(
    app: &TestApp,
    open: impl FnOnce(&str) -> Vec<TcpStream> + Send + 'static,
    wait_secs: u64,
) -> Vec<Option<Duration>> {
    let addr = app.addr().to_owned();
    tokio::task::spawn_blocking(move || {
        open(&addr)
            .iter_mut()
            .map(|s| wait_for_close(s, Duration::from_secs(wait_secs)))
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_limit_wait_until_one_closes() {
    let app = limited_app("60", "2").await;
    let mut held = slow_clients(app.addr(), 2);
    // A third client is accepted by the kernel but not served while both slots are held.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let url = format!("{}/health", app.url);
    assert!(
        client.get(&url).send().await.is_err(),
        "not served at the limit"
    );
    held.pop();
    // Its slot comes back when a held connection closes.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// The id of hemtjänst's task (hanna's) in `/api/tasks`.
fn hemtjanst_task(tasks: &serde_json::Value) -> i64 {
    tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["unit"] == "hemtjanst")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_are_not_cached_framed_or_sniffed_and_api_errors_are_json() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let tasks = admin.json("/api/tasks").await;
    let id = hemtjanst_task(&tasks);
    let hanna = app.login("hanna").await;
    let page = hanna.get(&format!("/granskningar/{id}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers();
    let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(get("cache-control").as_deref(), Some("no-store"));
    assert_eq!(get("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(get("referrer-policy").as_deref(), Some("no-referrer"));
    let csp = get("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "no script may run: {csp}");
    // The fixture's [notify] base_url is https.
    assert_eq!(
        get("strict-transport-security").as_deref(),
        Some("max-age=31536000")
    );

    // A path parameter that does not parse, under /api: JSON, with the status kept.
    for path in ["/api/tasks/abc", "/api/draws/9999999999999999999999/verify"] {
        let res = hanna.get(path).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("parse"), "{body}");
    }
}

#[test]
fn list_commands_end_quietly_when_the_reader_has_gone() {
    let db = crate::support::TestDb::sqlite();
    for args in [
        &["order", "list"][..],
        &["order", "list", "--format", "json"],
        &["review", "list"],
        &["review", "list", "--format", "json"],
    ] {
        // A pipe whose reading end is closed before the command starts, as after `| head`
        // has read its lines: every write fails with BrokenPipe.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = crate::support::loggvakt()
            .args(["--db", &db.url])
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// The number of records `/revision` says the intact chain has.
fn records_on(page: &str) -> i64 {
    let rest = page
        .split("Kedjan är obruten: ")
        .nth(1)
        .unwrap_or_else(|| panic!("an intact chain: {page}"));
    rest.split(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_page_follows_the_chains_head() {
    let app = TestApp::spawn().await;
    let revisor = app.login("revisor").await;
    let first = records_on(&revisor.page("/revision").await);
    let again = records_on(&revisor.page("/revision").await);
    assert_eq!(first, again);
    // A new record (a task's rows shown to its reviewer are audited) moves the head: the
    // verdict is computed anew.
    let store = app.store().await;
    let before = loggvakt::store::audit::head_seq(&store).await.unwrap();
    let tasks = app.login("admin").await.json("/api/tasks").await;
    let hem = hemtjanst_task(&tasks);
    let hanna = app.login("hanna").await;
    assert_eq!(
        hanna.get(&format!("/granskningar/{hem}")).await.status(),
        StatusCode::OK
    );
    let after = loggvakt::store::audit::head_seq(&store).await.unwrap();
    assert!(after > before, "showing rows is audited");
    assert_eq!(records_on(&revisor.page("/revision").await), after);
}

#[tokio::test(flavor = "multi_thread")]
async fn notices_carry_a_date_header() {
    let s = crate::support::fixture::setup();
    let db = crate::support::TestDb::sqlite();
    let store = db.open().await;
    crate::support::fixture::first_week(&s, &store).await;
    let dir = s.cfg.path().join("outbox");
    let mails: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(!mails.is_empty());
    for mail in &mails {
        let date = mail
            .lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix("Date: "))
            .unwrap_or_else(|| panic!("a Date header: {mail}"));
        let date = chrono::DateTime::parse_from_rfc2822(date).unwrap();
        // Sent by the tick's clock, in the first week of May 2027, in Swedish summer time.
        assert_eq!(date.offset().local_minus_utc(), 2 * 3600, "{date}");
        assert!(date.to_rfc3339().starts_with("2027-05-0"), "{date}");
    }
}

#[test]
fn the_example_configuration_links_to_where_serve_listens() {
    let help = crate::support::run(&["serve", "--help"]);
    let listen = help
        .stdout
        .split("--listen")
        .nth(1)
        .and_then(|option| option.split("[default: ").nth(1))
        .and_then(|rest| rest.split(']').next())
        .expect("serve --help names the default address");
    let port = listen.rsplit(':').next().unwrap();
    let org = loggvakt::config::load(&crate::support::example_config()).unwrap();
    let base = &org.notify.base_url;
    assert!(
        base.ends_with(&format!(":{port}")),
        "[notify] base_url {base} and serve's default {listen}"
    );
    assert_ne!(org.notify.from, "loggvakt@localhost", "a real sender");
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_wrong_passwords_lock_the_account_with_429() {
    let app = TestApp::spawn().await;
    let visitor = app.session();
    // Each attempt with a fresh login form, as a browser (or a script imitating one) would.
    let attempt = async |password: &str| {
        let token = login_token(&visitor.client, &app.url).await;
        let form = [
            ("username", "bo".to_owned()),
            ("password", password.to_owned()),
            ("login_token", token),
        ];
        visitor.post_form("/login", &form).await
    };
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let res = attempt("fel lösenord!!").await;
        statuses.push(res.status());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=900).contains(&retry), "Retry-After {retry}");
        }
    }
    assert_eq!(statuses[29], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert!(
        statuses[..10].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    // While locked, even the right password is refused unchecked.
    let res = attempt(PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account is not locked by it.
    assert_eq!(
        app.login("hanna").await.get("/api/me").await.status(),
        StatusCode::OK
    );
    // Every counted failure is in the audit trail with the username, never the password.
    let store = app.store().await;
    let failed = loggvakt::store::audit::page(&store, None, 100)
        .await
        .unwrap();
    let failed: Vec<_> = failed
        .iter()
        .filter(|r| r.action == "login.failed")
        .collect();
    assert_eq!(failed.len(), 10);
    assert!(
        failed
            .iter()
            .all(|r| r.details.contains("\"bo\"") && !r.details.contains("fel"))
    );
}

#[test]
fn user_add_refuses_short_and_common_passwords() {
    let db = crate::support::TestDb::sqlite();
    let cfg = crate::support::example_config();
    for (password, says) in [
        ("kort-123", "at least 12"),
        ("Sommar2024!!!", "most guessed"),
    ] {
        let out = crate::support::loggvakt()
            .args(["--db", &db.url, "--config", cfg.to_str().unwrap()])
            .args(["user", "add", "ada", "--role", "admin", "--name", "Ada"])
            .args(["--email", "ada@example.se"])
            .env("LOGGVAKT_PASSWORD", password)
            .output()
            .unwrap();
        let run = crate::support::Run::from(out);
        assert_eq!(run.code, 1, "{password}: {}", run.stdout);
        run.says(says);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_logged_as_json_without_personal_data() {
    let now = "2027-05-10T09:00:00+02:00";
    let json = ["--log-format", "json"];
    let app = TestApp::spawn_with_env(now, true, &json, &[("RUST_LOG", "info")]).await;
    let hanna = app.login("hanna").await;
    let res = hanna.get("/granskningar?user=C800001").await;
    assert_eq!(res.status(), StatusCode::OK);
    let line = app
        .log_line(|l| l.contains("\"path\":\"/granskningar\""))
        .await
        .unwrap_or_else(|| panic!("the request is logged:\n{}", app.log_so_far()));
    let entry: serde_json::Value = serde_json::from_str(&line).expect("one JSON object a line");
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["status"], 200);
    assert!(entry["duration_ms"].as_f64().is_some(), "{entry}");
    // The query string (which may name a user) is not logged, nor any personnummer.
    assert!(
        !line.contains("C800001") && !line.contains("19121212"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_left_idle_ends_and_one_in_use_stays() {
    let now = "2027-05-10T09:00:00+02:00";
    let app = TestApp::spawn_with(now, true, &["--session-idle-secs", "6"]).await;
    let hanna = app.login("hanna").await;
    // In use every half second for longer than the idle limit: still alive. (Use is
    // recorded every 3 s at most, so a request may take up to 2.5 s without ending it.)
    for _ in 0..14 {
        assert_eq!(hanna.get("/api/me").await.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Then left alone past the limit: the next request needs a new login.
    tokio::time::sleep(Duration::from_millis(7_000)).await;
    assert_eq!(
        hanna.get("/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// An upload is checked before its file is read: a form whose first field is not the CSRF
/// token is refused (403), and a file over its system's `max_extract_mb` (1 MB here) is
/// refused while it streams in; the order keeps waiting (issue 12, hostile 2).
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_is_checked_before_its_file_is_read_and_kept_under_the_systems_limit() {
    use reqwest::multipart::{Form, Part};
    let app = TestApp::spawn_manual("2027-05-10T10:00:00+02:00").await;
    let store = app.store().await;
    let order = store.orders(None).await.unwrap().remove(0);
    let path = format!("/bestallningar/{}/utdrag", order.id);
    let hanna = app.login("hanna").await;

    let file_first = Form::new()
        .part("file", Part::bytes(b"x".to_vec()).file_name("utdrag.csv"))
        .text("csrf", hanna.csrf().await);
    let res = hanna
        .client
        .post(hanna.at(&path))
        .multipart(file_first)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res = hanna
        .upload(&path, "utdrag.csv", &vec![b'a'; 1_500_000])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let page = res.text().await.unwrap();
    assert!(page.contains("Filen är större än 1 MB"), "{page}");
    let after = store.order(order.id).await.unwrap().unwrap();
    assert_eq!(after.state, order.state, "the order still waits");
    assert_eq!(store.event_count(Some(order.id)).await.unwrap(), 0);
}

/// A read-only copy of the database (`?mode=ro`): commands that read work on it, one that
/// writes says at once that the database is read-only (issue 12, fault 6).
#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_database_serves_reads_and_refuses_writes_in_one_line() {
    let cfg = crate::support::example_config();
    let cfg = cfg.to_str().unwrap();
    let db = crate::support::TestDb::sqlite();
    let r = crate::support::run_tick(cfg, &db, "2027-05-04T08:00:00+02:00");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ro = format!("{}?mode=ro", db.url);
    let now = Some("2027-05-05T08:00:00+02:00");
    for read in [
        &["order", "list"][..],
        &["audit", "verify"],
        &["review", "list"],
    ] {
        let r = crate::support::run_on(cfg, &ro, now, read);
        assert_eq!(r.code, 0, "{read:?}: {}", r.stderr);
    }
    let r = crate::support::run_on(cfg, &ro, now, &["tick"]);
    assert_eq!(r.code, 1);
    r.says("is read-only, and this command writes to it");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
}

/// A client that sends its head and the start of a body, then nothing, is cut off once the
/// body has been silent for `--body-timeout-secs`, and its slot serves others again
/// (issue 12, hostile 6).
#[tokio::test(flavor = "multi_thread")]
async fn a_request_body_that_stalls_is_cut_off() {
    let limits = ["--body-timeout-secs", "1", "--max-connections", "2"];
    let app = TestApp::spawn_with("2027-05-10T10:00:00+02:00", false, &limits).await;
    let stalled = |addr: &str| {
        (0..2)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(
                    b"POST /login HTTP/1.1\r\nHost: x\r\n\
                      Content-Type: application/x-www-form-urlencoded\r\n\
                      Content-Length: 1000\r\n\r\nusername=a",
                )
                .unwrap();
                s
            })
            .collect()
    };
    let closed = closes_of(&app, stalled, 15).await;
    for c in &closed {
        let took = c.expect("the server cut the stalled body off");
        assert!(took < Duration::from_secs(10), "closed after {took:?}");
    }
    let health = app.anonymous().get("/health").await;
    assert_eq!(health.status(), StatusCode::OK);
}

/// Finding 3: password checks run on the blocking pool (bounded), so logins at once do not
/// hold up the request workers. 16 clients log in over and over while `/health` is asked
/// 60 times: its 90th percentile stays under 100 ms.
#[tokio::test(flavor = "multi_thread")]
async fn health_answers_quickly_while_sixteen_logins_run() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let app = Arc::new(TestApp::spawn().await);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let (app, stop, done) = (app.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let user = ["hanna", "bo", "ledning", "revisor"][i % 4];
                while !stop.load(Ordering::Relaxed) {
                    let res = app.session().log_in(user, PASSWORD).await;
                    assert!(res.status().is_success(), "{}", res.status());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Measure once the logins are under way.
    while done.load(Ordering::Relaxed) < 16 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = done.load(Ordering::Relaxed);
    let health = reqwest::Client::new();
    let mut times = Vec::new();
    for _ in 0..60 {
        let started = Instant::now();
        let res = health
            .get(format!("{}/health", app.url))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        times.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = done.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    times.sort();
    let p90 = times[times.len() * 9 / 10];
    assert!(
        p90 < Duration::from_millis(100),
        "p90 {p90:?} while {} logins ran: {times:?}",
        during - before
    );
    assert!(during > before, "the logins went on meanwhile");
}

/// Fault 1 as an operator meets it: two `extract import` commands and a web upload of one
/// delivery, all at once. One stores it, the others are told it is already in, and no row or
/// import record is there twice.
#[tokio::test(flavor = "multi_thread")]
async fn one_delivery_sent_in_by_two_commands_and_an_upload_at_once_is_stored_once() {
    let app = TestApp::spawn().await;
    let order = app.sent_user_check("C800001").await;
    let mut csv = String::from("Tidpunkt;Användarnamn;Personnummer;Händelse\n");
    for day in 1..=28 {
        for hour in [8, 10, 12, 14] {
            csv.push_str(&format!(
                "2027-04-{day:02} {hour:02}:00;C800001;191212121212;Läst\n"
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("utdrag.csv");
    std::fs::write(&file, &csv).unwrap();
    let cfg = app.setup.cfg.arg();
    let import = || {
        crate::support::loggvakt()
            .args(["--db", &app.db.url, "--config", &cfg])
            .args(["--now", "2027-05-10T10:00:00+02:00", "extract", "import"])
            .args(["--order", &order.to_string(), file.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let imported_before = crate::support::audit_count(&app.store().await, "order.imported").await;
    let (a, b) = (import(), import());
    let hanna = app.login("hanna").await;
    let path = format!("/bestallningar/{order}/utdrag");
    let web = hanna.upload(&path, "utdrag.csv", csv.as_bytes()).await;
    let web_ok = web.status() == StatusCode::OK;
    let web_text = web.text().await.unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let stored = [a.status.success(), b.status.success(), web_ok];
    assert_eq!(
        stored.iter().filter(|ok| **ok).count(),
        1,
        "{stored:?}\n{}\n{}\n{web_text}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let store = app.store().await;
    assert_eq!(store.event_count(Some(order)).await.unwrap(), 112);
    assert_eq!(
        crate::support::audit_count(&store, "order.imported").await,
        imported_before + 1
    );
}
