//! Running loggvakt in an organisation: the extra CA bundle for systems behind the
//! organisation's own CA, secrets kept out of the TOML, the metrics token, the health
//! command, and the packaging (container, compose, systemd) checked against the CLI.

use std::path::Path;
use std::process::Stdio;

use clap::Parser;
use loggvakt::cli::Cli;

use crate::support::app::TestApp;
use crate::support::tls::TestCa;
use crate::support::{count, example_config, loggvakt};

const SESAM2_SETTINGS: &str =
    r#"settings = { base_url = "http://127.0.0.1:8482", token = "exempel-token-sesam2" }"#;

const SMTP_LOGIN: (&str, &str) = ("loggvakt", "ett-langt-smtp-losenord");

/// The example organisation with every system at the simulator, and two of them behind TLS
/// fronts whose certificate comes from `ca`: Sesam 2's log overview over HTTPS, and the
/// journal unit's mail server over SMTPS with AUTH. Sesam 2's token and the SMTP password
/// are in files beside the TOML.
async fn behind_the_organisations_ca(
    ca: &TestCa,
) -> (tempfile::TempDir, loggvakt_simulator::Simulator) {
    let example = example_config();
    let org = loggvakt::config::load(&example).unwrap();
    let mut config = loggvakt::simulation::sim_config(&org, 5);
    config.sesam2_token = "exempel-token-sesam2".into();
    config.lifecare_token = "exempel-token-lifecare".into();
    config.smtp_login = Some((SMTP_LOGIN.0.into(), SMTP_LOGIN.1.into()));
    let sim = loggvakt_simulator::Simulator::start(config, loggvakt_simulator::Ports::any())
        .await
        .unwrap();
    let sesam2: std::net::SocketAddr = sim
        .sesam2_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let https = ca.tls_front(sesam2).await;
    let smtps = ca.tls_front(sim.smtp_addr()).await;
    let toml = std::fs::read_to_string(example.join("example.toml")).unwrap();
    assert!(
        toml.contains(SESAM2_SETTINGS),
        "the example's Sesam 2 line moved"
    );
    // Sesam 2 fetched through its log overview, not read on screen by hand.
    let toml = toml
        .replace("delivery = \"manual\"\n", "")
        .replace(
            SESAM2_SETTINGS,
            &format!(
                r#"settings = {{ base_url = "https://localhost:{}", token_file = "secrets/sesam2-token" }}"#,
                https.port()
            ),
        )
        .replace(
            r#"smtp_host = "127.0.0.1", smtp_port = 2525,"#,
            &format!(
                r#"smtp_host = "localhost", smtp_port = {}, smtp_tls = "tls", smtp_username = "{}", smtp_password_file = "secrets/smtp-password","#,
                smtps.port(),
                SMTP_LOGIN.0
            ),
        )
        .replace("http://127.0.0.1:8481", &sim.treserva_url())
        .replace("http://127.0.0.1:8483", &sim.lifecare_url())
        .replace("# outbox = \"outbox\"", "outbox = \"outbox\"");
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(cfg.path().join("example.toml"), toml).unwrap();
    std::fs::copy(example.join("staff.csv"), cfg.path().join("staff.csv")).unwrap();
    std::fs::create_dir(cfg.path().join("secrets")).unwrap();
    std::fs::write(
        cfg.path().join("secrets/sesam2-token"),
        "exempel-token-sesam2\n",
    )
    .unwrap();
    std::fs::write(
        cfg.path().join("secrets/smtp-password"),
        format!("{}\n", SMTP_LOGIN.1),
    )
    .unwrap();
    std::fs::write(cfg.path().join("ca.pem"), &ca.ca_pem).unwrap();
    (cfg, sim)
}

/// What one system's orders came to after a tick.
struct Outcome {
    orders: i64,
    /// Imported (Sesam 2) or handed to the mail server (Cosmic).
    done: i64,
    errors: String,
}

/// One tick in the first week of May 2027 on a fresh SQLite database.
async fn tick(cfg: &Path, extra_ca: bool) -> (Outcome, Outcome) {
    let db = format!("sqlite://{}", cfg.join("loggvakt.db").display());
    let mut cmd = loggvakt();
    cmd.args(["--config", cfg.to_str().unwrap(), "--db", &db])
        .args(["--now", "2027-05-07T12:00:00+02:00"]);
    if extra_ca {
        cmd.args(["--extra-ca", cfg.join("ca.pem").to_str().unwrap()]);
    }
    let out = cmd.arg("tick").stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tick failed: {stderr}");
    let store = loggvakt::store::Store::open(&db).await.unwrap();
    let outcome = |system: &'static str, done: &'static str| {
        let store = store.clone();
        async move {
            let orders = count(
                &store,
                &format!("SELECT COUNT(*) FROM orders WHERE system_id = '{system}'"),
            )
            .await;
            let done = count(
                &store,
                &format!("SELECT COUNT(*) FROM orders WHERE system_id = '{system}' AND {done}"),
            )
            .await;
            let errors: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT state || ': ' || COALESCE(last_error, '-') FROM orders WHERE system_id = '{system}'"
            )))
            .fetch_all(store.pool())
            .await
            .unwrap();
            let errors = errors
                .into_iter()
                .map(|(e,)| e)
                .collect::<Vec<_>>()
                .join("\n");
            Outcome {
                orders,
                done,
                errors,
            }
        }
    };
    (
        outcome("sesam2", "state = 'imported'").await,
        outcome("cosmic", "sent_at IS NOT NULL").await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn connectors_reach_systems_behind_the_organisations_ca_with_the_extra_bundle() {
    let ca = TestCa::new();

    // Without the bundle the certificates are unknown: nothing is fetched or sent, and the
    // errors say why.
    let (cfg, sim) = behind_the_organisations_ca(&ca).await;
    let (sesam2, cosmic) = tick(cfg.path(), false).await;
    assert!(
        sesam2.orders > 0 && cosmic.orders > 0,
        "May's draws made orders"
    );
    assert_eq!(sesam2.done, 0);
    assert!(
        sesam2.errors.contains("certificate") && sesam2.errors.contains("--extra-ca"),
        "the refusal names the certificate: {}",
        sesam2.errors
    );
    assert_eq!(cosmic.done, 0);
    assert!(
        cosmic.errors.contains("TLS"),
        "the mail refusal names TLS: {}",
        cosmic.errors
    );
    assert_eq!(sim.stats().mails_received, 0);

    // With it (and the token and password read from their files), Sesam 2 is fetched over
    // HTTPS and every Cosmic order mail goes over SMTPS after AUTH.
    let (cfg, sim) = behind_the_organisations_ca(&ca).await;
    let (sesam2, cosmic) = tick(cfg.path(), true).await;
    assert!(sesam2.orders > 0);
    assert_eq!(sesam2.done, sesam2.orders, "{}", sesam2.errors);
    assert_eq!(cosmic.done, cosmic.orders, "{}", cosmic.errors);
    assert_eq!(sim.stats().mails_received as i64, cosmic.orders);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_smtp_password_is_refused_and_no_mail_is_taken() {
    let ca = TestCa::new();
    let (cfg, sim) = behind_the_organisations_ca(&ca).await;
    std::fs::write(cfg.path().join("secrets/smtp-password"), "fel-losenord\n").unwrap();
    let (_, cosmic) = tick(cfg.path(), true).await;
    assert!(cosmic.orders > 0);
    assert_eq!(cosmic.done, 0);
    assert!(cosmic.errors.contains("535"), "{}", cosmic.errors);
    assert_eq!(sim.stats().mails_received, 0);
}

#[test]
fn a_secret_file_that_is_missing_is_named_by_config_check_without_any_value() {
    let dir = tempfile::tempdir().unwrap();
    let example = example_config();
    let toml = std::fs::read_to_string(example.join("example.toml"))
        .unwrap()
        .replace(
            SESAM2_SETTINGS,
            r#"settings = { base_url = "http://127.0.0.1:8482", token = "exempel-token-sesam2", token_file = "absent" }"#,
        )
        .replace(
            r#"token = "exempel-token-lifecare""#,
            r#"token_env = "LOGGVAKT_TEST_UNSET_TOKEN""#,
        );
    std::fs::write(dir.path().join("example.toml"), toml).unwrap();
    std::fs::copy(example.join("staff.csv"), dir.path().join("staff.csv")).unwrap();
    let out = loggvakt()
        .args(["--config", dir.path().to_str().unwrap(), "config", "check"])
        .env_remove("LOGGVAKT_TEST_UNSET_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("[[system]] 'sesam2'") && stderr.contains("settings.token_file"),
        "{stderr}"
    );
    assert!(stderr.contains("given as well"), "{stderr}");
    assert!(
        stderr.contains("settings.token_env")
            && stderr.contains("LOGGVAKT_TEST_UNSET_TOKEN is not set"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("exempel-token"),
        "no secret echoed: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_want_their_token_and_health_answers_for_the_container() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("metrics_token");
    std::fs::write(&token_file, "a-long-metrics-token-0123456789\n").unwrap();
    let app = TestApp::spawn_with_env(
        "2027-05-10T10:00:00+02:00",
        true,
        &[],
        &[("LOGGVAKT_METRICS_TOKEN_FILE", token_file.to_str().unwrap())],
    )
    .await;
    const TOKEN: &str = "a-long-metrics-token-0123456789";
    let scrape = |token: Option<&'static str>| {
        let request = reqwest::Client::new().get(format!("{}/metrics", app.url));
        let request = match token {
            Some(t) => request.bearer_auth(t),
            None => request,
        };
        async move {
            let answer = request.send().await.unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        }
    };
    assert_eq!(scrape(None).await.0, 401);
    assert_eq!(scrape(Some("a-long-metrics-token-0123456780")).await.0, 401);
    let (status, text) = scrape(Some(TOKEN)).await;
    assert_eq!(status, 200);
    let failures = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("loggvakt_login_failures_total "))
            .expect("login failures are counted")
            .parse()
            .unwrap()
    };
    let before = failures(&text);
    assert!(
        text.contains("# TYPE loggvakt_deliveries_overdue gauge"),
        "{text}"
    );
    assert!(text.contains("loggvakt_imported_rows_total"), "{text}");
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    crate::support::login::post_login(&browser, &app.url, "hanna", "fel-losenord-123").await;
    let (_, text) = scrape(Some(TOKEN)).await;
    assert_eq!(
        failures(&text),
        before + 1,
        "a failed login moves the counter"
    );

    let health = |url: String| loggvakt().args(["health", "--url", &url]).output().unwrap();
    let ready = health(format!("{}/health/ready", app.url));
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stdout)
    );
    assert!(String::from_utf8_lossy(&ready.stdout).starts_with("200"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = health(format!("http://127.0.0.1:{port}/health/ready"));
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot connect"));
}

/// The words of a command line in a unit file (no shell quoting is used there).
fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

/// That `args` (without the program) is a command line the CLI accepts.
fn accepted(what: &str, args: &[String]) {
    let argv = std::iter::once("loggvakt".to_owned()).chain(args.iter().cloned());
    if let Err(e) = Cli::try_parse_from(argv) {
        panic!(
            "{what}: `loggvakt {}` is refused by the CLI: {e}",
            args.join(" ")
        );
    }
}

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_systemd_unit_runs_a_real_command_hardened_as_its_own_user() {
    let text = repo("deploy/loggvakt.service");
    let mut section = String::new();
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not key=value: {line}", n + 1));
        assert!(!section.is_empty(), "line {}: outside a section", n + 1);
        keys.push((section.clone(), key.to_owned(), value.to_owned()));
    }
    let get = |s: &str, k: &str| -> Vec<&str> {
        keys.iter()
            .filter(|(sec, key, _)| sec == s && key == k)
            .map(|(_, _, v)| v.as_str())
            .collect()
    };
    let one = |s: &str, k: &str| -> String {
        let v = get(s, k);
        assert_eq!(v.len(), 1, "[{s}] {k}: {v:?}");
        v[0].to_owned()
    };
    assert_eq!(
        {
            let mut sections: Vec<_> = keys.iter().map(|(s, _, _)| s.as_str()).collect();
            sections.dedup();
            sections
        },
        ["Unit", "Service", "Install"]
    );
    let exec = words(&one("Service", "ExecStart"));
    assert_eq!(exec[0], "/usr/local/bin/loggvakt");
    accepted("ExecStart", &exec[1..]);
    assert_eq!(exec[1], "serve");
    assert_ne!(one("Service", "User"), "root");
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("CapabilityBoundingSet", ""),
        ("StateDirectory", "loggvakt"),
        ("UMask", "0077"),
    ] {
        assert_eq!(one("Service", key), value, "[Service] {key}");
    }
    // The database lives where the sandbox lets it write.
    let env: Vec<_> = get("Service", "Environment");
    let db = env
        .iter()
        .find_map(|e| e.strip_prefix("LOGGVAKT_DB="))
        .expect("LOGGVAKT_DB is set");
    let file = db.strip_prefix("sqlite://").expect("a SQLite default");
    let writable = one("Service", "ReadWritePaths");
    assert!(
        file.starts_with(&format!("{writable}/")),
        "{file} under {writable}"
    );
    for e in &env {
        let (name, _) = e.split_once('=').unwrap();
        assert!(name.starts_with("LOGGVAKT_") || name == "TZ", "{e}");
    }
    assert_eq!(one("Service", "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(one("Install", "WantedBy"), "multi-user.target");
}

#[test]
fn the_compose_file_runs_loggvakt_on_postgres_with_secrets_in_files() {
    let compose: serde_norway::Value =
        serde_norway::from_str(&repo("deploy/compose.yaml")).expect("deploy/compose.yaml is YAML");
    let services = &compose["services"];
    let pg = &services["postgres"];
    let app = &services["loggvakt"];
    assert!(pg["image"].as_str().unwrap().starts_with("postgres:"));
    assert!(
        pg["environment"].get("POSTGRES_PASSWORD").is_none(),
        "no password in the file"
    );
    assert_eq!(
        pg["environment"]["POSTGRES_PASSWORD_FILE"].as_str(),
        Some("/run/secrets/postgres_password")
    );
    assert_eq!(
        app["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    let command: Vec<String> = app["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    accepted("compose command", &command);
    let entry = app["entrypoint"].as_sequence().unwrap();
    assert!(
        entry[2].as_str().unwrap().contains("postgres://loggvakt:"),
        "the entrypoint builds the database URL from the secret"
    );
    assert_eq!(app["read_only"].as_bool(), Some(true));
    assert_eq!(app["cap_drop"][0].as_str(), Some("ALL"));
    // Every secret a service names is declared, from a file.
    let declared = compose["secrets"].as_mapping().unwrap();
    for service in [pg, app] {
        for s in service["secrets"].as_sequence().unwrap() {
            let name = s.as_str().unwrap();
            let file = declared
                .get(name)
                .and_then(|d| d["file"].as_str())
                .unwrap_or_else(|| panic!("secret {name} is not declared with a file"));
            assert!(file.starts_with("./secrets/"), "{file}");
        }
    }
    let env = app["environment"].as_mapping().unwrap();
    for (k, _) in env {
        let k = k.as_str().unwrap();
        assert!(k.starts_with("LOGGVAKT_") || k == "TZ", "{k}");
    }
    assert_eq!(
        env.get("LOGGVAKT_METRICS_TOKEN_FILE")
            .and_then(|v| v.as_str()),
        Some("/run/secrets/metrics_token")
    );
}

#[test]
fn the_container_image_builds_in_stages_and_runs_commands_the_cli_knows_as_non_root() {
    let text = repo("Dockerfile");
    let instructions: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .fold(Vec::<String>::new(), |mut acc, line| {
            // Continuation lines belong to the instruction before them.
            match acc.last_mut() {
                Some(last) if last.ends_with('\\') => {
                    last.pop();
                    last.push(' ');
                    last.push_str(line.trim());
                }
                _ => acc.push(line.trim().to_owned()),
            }
            acc
        })
        .into_iter()
        .map(|l| {
            let (op, rest) = l.split_once(' ').unwrap();
            (op.to_owned(), rest.trim().to_owned())
        })
        .collect();
    let all = |op: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, r)| r.as_str())
            .collect()
    };
    assert_eq!(all("FROM").len(), 2, "a build stage and a runtime stage");
    assert!(all("FROM")[1].starts_with("debian:") && all("FROM")[1].contains("slim"));
    let user = all("USER");
    assert_eq!(user.len(), 1);
    assert!(!user[0].starts_with("0") && !user[0].starts_with("root"));
    let json = |s: &str| -> Vec<String> { serde_json::from_str(s).unwrap() };
    assert_eq!(json(all("ENTRYPOINT")[0]), ["loggvakt"]);
    accepted("CMD", &json(all("CMD")[0]));
    let check = all("HEALTHCHECK")[0];
    let check = json(&check[check.find("CMD ").unwrap() + 4..]);
    assert_eq!(check[0], "loggvakt");
    accepted("HEALTHCHECK", &check[1..]);
}

/// `/health/ready`'s status, polled until it is `want` (or the deadline says it never was).
async fn wait_for_ready(url: &str, want: u16) -> String {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let answer = client
            .get(format!("{url}/health/ready"))
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap();
        if status == want {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/health/ready stayed {status}: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_fails_while_the_database_is_unreachable_and_recovers_after() {
    let test = "ready_fails_while_the_database_is_unreachable_and_recovers_after";
    let Some(db) = crate::support::TestDb::postgres_or_skip(test) else {
        return;
    };
    let server = db.url.split('@').nth(1).unwrap().split('/').next().unwrap();
    let backend = tokio::net::lookup_host(server)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = crate::support::proxy::CutProxy::start(backend).await;
    let through = db.url.replacen(server, &proxy.addr.to_string(), 1);
    let app = TestApp::spawn_on_db(db, &through).await;

    wait_for_ready(&app.url, 200).await;
    proxy.cut();
    let body = wait_for_ready(&app.url, 503).await;
    assert!(body.contains("database"), "{body}");
    // Liveness is not readiness: the process still serves.
    let live = reqwest::get(format!("{}/health/live", app.url))
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    proxy.restore();
    wait_for_ready(&app.url, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_sees_whether_each_system_answers() {
    let app = TestApp::spawn().await;
    let admin = app.login("admin").await;
    let page = admin.page("/admin/anslutningar").await;
    // The fixture's Cosmic mail server is at port 1, where nothing answers.
    assert!(page.contains("data-system=\"cosmic\""), "{page}");
    assert!(page.contains("Nås inte"), "{page}");
    let reviewer = app.login("hanna").await;
    assert_eq!(reviewer.get("/admin/anslutningar").await.status(), 403);
}
