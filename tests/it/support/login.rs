//! Logging in to a running `loggvakt serve` as a browser does: the login form's
//! double-submit token, then the form. Shared by the web tests and `examples/load_web.rs`
//! (through `#[path]`), so it uses nothing but `reqwest`.

/// The login page's HTML.
pub async fn login_page(client: &reqwest::Client, url: &str) -> String {
    client
        .get(format!("{url}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The login form's token (the client keeps the matching cookie).
pub async fn login_token(client: &reqwest::Client, url: &str) -> String {
    let page = login_page(client, url).await;
    page.split("name=\"login_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the login form has a token")
        .to_owned()
}

/// Posts the login form with a fresh token; the answer is the page the client lands on.
pub async fn post_login(
    client: &reqwest::Client,
    url: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let token = login_token(client, url).await;
    client
        .post(format!("{url}/login"))
        .form(&[
            ("username", user),
            ("password", password),
            ("login_token", &token),
        ])
        .send()
        .await
        .unwrap()
}
