//! A headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromedriver`, installed by `tests/browser.sh`), shared by the status
//! page test (`ui.rs`) and the workspace test (`workspace.rs`). The few W3C
//! commands the tests need, over reqwest: no browser-automation crate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const WAIT: Duration = Duration::from_secs(60);

/// `name` on `PATH`, or the path in `env` when set.
fn program(env: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found on PATH: the browser tests need headless Chromium and \
                 chromedriver. Run `bash tests/browser.sh` (make test does; it installs Debian's \
                 chromium and chromium-driver), or set {env}."
            )
        })
}

/// Where screenshots go: `target/ui-screenshots/` of the target folder this
/// test binary was built in (`target/debug/deps/ui-…`).
pub(crate) fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .filter(|p| p.join("debug").is_dir() || p.join("release").is_dir())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Standard base64 (WebDriver's screenshot encoding), padding optional.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("not base64: {:?}", c as char)) as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// chromedriver with one headless Chromium session.
pub(crate) struct Browser {
    http: reqwest::Client,
    session: String,
    driver: String,
    child: std::process::Child,
    _profile: tempfile::TempDir,
    /// Where the browser saves downloads.
    pub(crate) downloads: tempfile::TempDir,
}

impl Browser {
    pub(crate) async fn start() -> Browser {
        let chromium = program("FERRY_TEST_CHROMIUM", "chromium");
        let chromedriver = program("FERRY_TEST_CHROMEDRIVER", "chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = std::process::Command::new(&chromedriver);
        cmd.arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // Its own process group, so Drop ends chromedriver and its browser.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let driver = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            http,
            session: String::new(),
            driver,
            child,
            _profile: profile,
            downloads: tempfile::tempdir().unwrap(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .http
                .get(format!("{}/status", browser.driver))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not answer on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let session = browser
            .command(
                reqwest::Method::POST,
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:loggingPrefs": {"browser": "ALL"},
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "prefs": {
                            "download.default_directory": browser.downloads.path(),
                            "download.prompt_for_download": false,
                        },
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--no-first-run",
                            "--disable-extensions", "--hide-scrollbars",
                            "--force-device-scale-factor=1", "--window-size=1400,1000",
                            format!("--user-data-dir={}", browser._profile.path().display()),
                        ]
                    }
                }}}),
            )
            .await;
        browser.session = session["sessionId"].as_str().unwrap().to_owned();
        browser
    }

    /// One WebDriver command; its `value`, or a panic with the error.
    pub(crate) async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}/session", self.driver)
        } else {
            format!("{}/session/{}{path}", self.driver, self.session)
        };
        let mut req = self.http.request(method.clone(), url);
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let status = res.status();
        let value: Value = res.json().await.unwrap();
        assert!(status.is_success(), "WebDriver {path}: {status} {value}");
        value["value"].clone()
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    pub(crate) async fn element(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let el = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            json!({}),
        )
        .await;
        if text.is_empty() {
            return;
        }
        self.command(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Clicks the element `css`. A page that re-draws a part (the
    /// workspace does after every answer) can replace the element between
    /// finding and clicking it; it is then found again, as a person would.
    pub(crate) async fn click(&self, css: &str) {
        for _ in 0..5 {
            let el = self.element(css).await;
            let res = self
                .http
                .post(format!(
                    "{}/session/{}/element/{el}/click",
                    self.driver, self.session
                ))
                .json(&json!({}))
                .send()
                .await
                .unwrap_or_else(|e| panic!("WebDriver click {css}: {e}"));
            let status = res.status();
            let value: Value = res.json().await.unwrap();
            if status.is_success() {
                return;
            }
            assert_eq!(
                value["value"]["error"], "stale element reference",
                "WebDriver click {css}: {status} {value}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} kept being replaced while it was clicked");
    }

    /// Chooses `file` in the file input `css` (WebDriver: the path typed
    /// into it).
    pub(crate) async fn choose_file(&self, css: &str, file: &Path) {
        let el = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            json!({"text": file.display().to_string()}),
        )
        .await;
    }

    /// Types `keys` (WebDriver key codes allowed, e.g. `\u{E007}` Enter)
    /// into the element `css` without clearing it first.
    pub(crate) async fn press(&self, css: &str, keys: &str) {
        let el = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            json!({"text": keys}),
        )
        .await;
    }

    /// Waits until a download named `name` is complete; its bytes.
    pub(crate) async fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.path().join(name);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let partial = self.downloads.path().join(format!("{name}.crdownload"));
            if path.is_file() && !partial.exists() {
                return std::fs::read(&path).unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no download {name} in {}",
                self.downloads.path().display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` (a function body) in the page; what it returns.
    pub(crate) async fn eval(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Runs `script` (an async function body; it ends by calling
    /// `arguments[0]` with its result) in the page.
    pub(crate) async fn eval_async(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Runs `script` until it returns something other than null/false; on
    /// timeout saves a screenshot and fails with the page's text.
    pub(crate) async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let v = self.eval(script).await;
            if !v.is_null() && v != json!(false) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                self.screenshot("timeout").await;
                let text = self.eval("return document.body.innerText").await;
                panic!("timed out waiting for {what}; the page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the window, saved as `target/ui-screenshots/<name>.png`.
    pub(crate) async fn screenshot(&self, name: &str) -> Vec<u8> {
        let b64 = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let png = base64_decode(b64.as_str().unwrap());
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap();
        eprintln!("screenshot: {}", path.display());
        png
    }

    /// Errors the page logged (script errors, CSP violations, failed loads).
    pub(crate) async fn console_errors(&self) -> Vec<Value> {
        let log = self
            .command(reqwest::Method::POST, "/se/log", json!({"type": "browser"}))
            .await;
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .cloned()
            .collect()
    }

    pub(crate) async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.driver, self.session))
            .send()
            .await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group this test created: chromedriver and the browser it ran.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
