//! A minimal W3C WebDriver client over HTTP, driving Debian's headless Chromium through
//! chromedriver: enough to log in, click and read a page as a user would.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const IMPLICIT_WAIT_MS: u64 = 10_000;

pub struct Browser {
    http: reqwest::Client,
    base: String,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the browser session even when a test panicked, or Chromium outlives the
        // driver: a plain blocking DELETE, since Drop cannot await.
        if let Some((host, path)) = self
            .base
            .strip_prefix("http://")
            .and_then(|r| r.split_once('/'))
        {
            use std::io::{Read, Write};
            if let Ok(mut tcp) = std::net::TcpStream::connect(host) {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = write!(
                    tcp,
                    "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                // Read the answer's head only: the driver may keep the connection open.
                let (mut seen, mut buf) = (Vec::new(), [0u8; 1024]);
                while let Ok(n) = tcp.read(&mut buf) {
                    seen.extend_from_slice(&buf[..n]);
                    if n == 0 || seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Sends a request to the driver and reads its JSON answer.
async fn json_of(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// A locator: the elements that match a CSS selector.
fn by_css(css: &str) -> Option<Value> {
    Some(json!({"using": "css selector", "value": css}))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> Browser {
        let chromedriver =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = super::free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {chromedriver} (.ci/run installs chromium-driver): {e}")
            });
        let http = reqwest::Client::new();
        let driver_url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http
                .get(format!("{driver_url}/status"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]}
        }}});
        let res = json_of(http.post(format!("{driver_url}/session")).json(&caps)).await;
        let id = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {res}"))
            .to_owned();
        let browser = Browser {
            http,
            base: format!("{driver_url}/session/{id}"),
            driver,
        };
        // Finding an element waits for it up to 10 s, as a user waits for a page to load.
        browser.wait_for_elements(IMPLICIT_WAIT_MS).await;
        browser
    }

    /// Waits until the address contains `part`: a click that submits a form returns before
    /// the next page has loaded.
    pub async fn wait_for_url(&self, part: &str) -> String {
        for _ in 0..100 {
            let url = self.current_url().await;
            if url.contains(part) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the browser never reached {part}; it is at {}",
            self.current_url().await
        );
    }

    /// Waits until the element's text is `expected`.
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        for _ in 0..100 {
            if self.try_text(css).await.as_deref() == Some(expected) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(self.text(css).await, expected, "{css}");
    }

    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v = json_of(req).await;
        if v["value"].get("error").is_some() {
            Err(v)
        } else {
            Ok(v["value"].clone())
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|v| panic!("{path}: {v}"))
    }

    /// The element's text, or `None` while the page is changing under it.
    async fn try_text(&self, css: &str) -> Option<String> {
        let el = self
            .try_call(reqwest::Method::POST, "/element", by_css(css))
            .await
            .ok()?;
        let id = el[ELEMENT].as_str()?.to_owned();
        self.try_call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .ok()?
            .as_str()
            .map(str::to_owned)
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .call(reqwest::Method::POST, "/element", by_css(css))
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    pub async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .call(reqwest::Method::POST, "/elements", by_css(css))
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e[ELEMENT].as_str().unwrap().to_owned())
            .collect()
    }

    /// The elements there are now, without waiting for any to appear.
    pub async fn find_all_now(&self, css: &str) -> Vec<String> {
        self.wait_for_elements(0).await;
        let found = self.find_all(css).await;
        self.wait_for_elements(IMPLICIT_WAIT_MS).await;
        found
    }

    /// How long finding an element waits for it to appear.
    async fn wait_for_elements(&self, ms: u64) {
        self.call(
            reqwest::Method::POST,
            "/timeouts",
            Some(json!({ "implicit": ms })),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Types into a field after emptying it (a form's default value, say).
    pub async fn replace_text(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await;
        self.type_into(css, text).await;
    }

    /// Runs `script` in the page as an asynchronous script (its last argument is the
    /// callback) and returns what it hands back.
    pub async fn execute_async(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.get_text(&format!("/element/{el}/text")).await
    }

    pub async fn source(&self) -> String {
        self.get_text("/source").await
    }

    pub async fn current_url(&self) -> String {
        self.get_text("/url").await
    }

    /// A command whose value is a string.
    async fn get_text(&self, path: &str) -> String {
        let v = self.call(reqwest::Method::GET, path, None).await;
        v.as_str().unwrap().to_owned()
    }

    /// Ends the session (also done on drop).
    pub async fn quit(self) {
        drop(self);
    }
}
