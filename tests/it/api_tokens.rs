//! Service accounts on the JSON API: tokens made by `token create`, scoped by their user's
//! role, expiring and revocable, audited; and the OpenAPI description checked against the
//! routes the server really has.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::app::TestApp;
use crate::support::audit_count;

/// `token create USER --name …` on the app's database: the token's id and the token.
fn create(app: &TestApp, user: &str, extra: &[&str]) -> (i64, String) {
    let mut args = vec![
        "token",
        "create",
        user,
        "--name",
        "Power BI, ledningens rapporter",
    ];
    args.extend_from_slice(extra);
    let out = app.db.run(&args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut lines = out.stdout.lines();
    let head = lines.next().unwrap();
    let id = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let token = lines.next().unwrap().trim().to_owned();
    assert!(token.starts_with("lv_") && token.len() > 40, "{token}");
    (id, token)
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .get(format!("{}{path}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_account_reads_the_api_with_a_token_scoped_by_its_role_until_revoked() {
    let app = TestApp::spawn().await;
    let (id, token) = create(&app, "ledning", &[]);

    let (status, me) = get(&app, "/api/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["username"], "ledning");
    let (status, report) = get(&app, "/api/report/compliance?year=2027", &token).await;
    assert_eq!(status, 200, "{report}");
    assert!(report.is_object());
    // An executive's token reads what an executive may, and no more.
    assert_eq!(get(&app, "/api/orders", &token).await.0, 403);
    assert_eq!(get(&app, "/api/tasks", &token).await.0, 403);
    // Anything else is no token at all.
    assert_eq!(get(&app, "/api/me", "lv_0000").await.0, 401);
    assert_eq!(get(&app, "/api/me", &token[3..]).await.0, 401);

    let listed = app.db.run(&["token", "list", "--format", "json"]);
    assert_eq!(listed.code, 0);
    assert!(
        !listed.stdout.contains(&token),
        "the token is never shown again"
    );
    let tokens: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(tokens[0]["username"], "ledning");
    assert!(tokens[0]["last_used_at"].is_string(), "its use is recorded");

    let revoked = app.db.run(&["token", "revoke", &id.to_string()]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert_eq!(get(&app, "/api/me", &token).await.0, 401);
    assert_ne!(app.db.run(&["token", "revoke", &id.to_string()]).code, 0);

    let store = app.store().await;
    assert_eq!(audit_count(&store, "api_token.created").await, 1);
    assert_eq!(audit_count(&store, "api_token.revoked").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewers_token_closes_a_task_without_csrf_and_an_expired_token_is_refused() {
    let app = TestApp::spawn().await;
    let (_, token) = create(&app, "hanna", &[]);
    let (status, tasks) = get(&app, "/api/tasks", &token).await;
    assert_eq!(status, 200);
    let task = tasks[0]["id"].as_i64().expect("hanna has a task");
    let done = reqwest::Client::new()
        .post(format!("{}/api/tasks/{task}/complete", app.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({"outcome": "utan_anmarkning"}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
    let store = app.store().await;
    let by: Vec<(String,)> = sqlx::query_as(
        "SELECT actor FROM audit_log WHERE action = 'review.completed' ORDER BY seq DESC",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(
        by[0].0.starts_with("api:hanna:token-"),
        "the trail names the token: {by:?}"
    );

    // The server's day is 2027-05-10: a token whose last day was the 9th is dead.
    let (_, expired) = create(&app, "hanna", &["--expires", "2027-05-09"]);
    assert_eq!(get(&app, "/api/me", &expired).await.0, 401);
    let (_, live) = create(&app, "hanna", &["--expires", "2027-05-10"]);
    assert_eq!(get(&app, "/api/me", &live).await.0, 200);
}

/// The `(method, path)` of every `/api` route the router has, read from its source.
fn routed() -> BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("core/web/mod.rs"),
    )
    .unwrap();
    let mut routes = BTreeSet::new();
    // A route's call may span lines (rustfmt breaks a long one after `.route(`).
    for call in source.split(".route(").skip(1) {
        let Some(rest) = call.trim_start().strip_prefix("\"/api") else {
            continue;
        };
        let (path, handlers) = rest.split_once('"').unwrap();
        let handlers = handlers.split(".layer(").next().unwrap_or_default();
        for method in ["get", "post", "put", "delete", "patch"] {
            if handlers.contains(&format!("{method}(")) {
                routes.insert((method.to_owned(), format!("/api{path}")));
            }
        }
    }
    routes
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_description_covers_every_api_route_and_each_described_read_answers() {
    let app = TestApp::spawn().await;
    let spec: Value = reqwest::get(format!("{}/api/openapi.json", app.url))
        .await
        .unwrap()
        .json()
        .await
        .expect("the description is JSON, served without a login");
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = spec["paths"].as_object().unwrap();
    let described: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    assert_eq!(described, routed(), "the description and the router differ");

    let (_, token) = create(&app, "admin", &[]);
    let task = get(&app, "/api/tasks", &token).await.1[0]["id"]
        .as_i64()
        .unwrap();
    let draw = get(&app, "/api/draws", &token).await.1[0]["id"]
        .as_i64()
        .unwrap();
    // A case to read: the task closed with a remark.
    let post = |path: String, body: Value| {
        let token = &token;
        async move {
            let res = reqwest::Client::new()
                .post(path)
                .bearer_auth(token)
                .json(&body);
            res.send().await.unwrap().json::<Value>().await.unwrap()
        }
    };
    let done = post(
        format!("{}/api/tasks/{task}/complete", app.url),
        serde_json::json!({"outcome": "med_anmarkning", "comment": "följs upp"}),
    )
    .await;
    let case = done["case"].as_i64().expect("a case");
    // A check by patient to read, with its letter.
    let made = post(
        format!("{}/api/checks", app.url),
        serde_json::json!({
            "kind": "patient", "system": "cosmic", "unit": "vard",
            "subject": crate::support::personnummer("121212", 5),
            "from": "2027-04-01", "to": "2027-04-30", "reason": "misstanke",
        }),
    )
    .await;
    let check = made["check"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{made}"));
    for (method, path) in &described {
        if method != "get" {
            continue;
        }
        let id = if path.starts_with("/api/draws") {
            draw
        } else if path.starts_with("/api/cases") {
            case
        } else if path.starts_with("/api/checks") {
            check
        } else {
            task
        };
        let concrete = path.replace("{id}", &id.to_string());
        let (status, body) = get(&app, &concrete, &token).await;
        assert_eq!(status, 200, "GET {concrete}: {body}");
        let schema =
            &paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"];
        let schema = match schema["$ref"].as_str() {
            Some(r) => &spec["components"]["schemas"][r.rsplit('/').next().unwrap()],
            None => schema,
        };
        match schema["type"].as_str() {
            Some("array") => assert!(body.is_array(), "GET {concrete} is an array"),
            Some("object") => assert!(body.is_object(), "GET {concrete} is an object"),
            _ => {}
        }
    }
}
