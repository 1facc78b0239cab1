//! A headless Chromium for UI tests, driven over WebDriver: each `Browser` starts its own `chromedriver`
//! on a free loopback port, with its own temporary profile, so tests can run in parallel.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/browser-deps.sh installs them). When either is
//! missing, `Browser::start` panics naming it: browser tests fail, they never skip. `$CHROMIUM` and
//! `$CHROMEDRIVER` may name other binaries.
//!
//! fantoccini talks plain HTTP to chromedriver on 127.0.0.1, so it is built without TLS
//! (`default-features = false`, no `rustls-tls`): that feature pulls hyper-rustls' default aws-lc-rs
//! provider next to the workspace's ring one, and rustls then panics ("Could not automatically determine
//! the process-level CryptoProvider") in every `ClientConfig::builder()` of the test binary.
//!
//! Teardown: `close()` ends the WebDriver session (chromedriver quits Chromium) and stops chromedriver.
//! A `Browser` dropped without `close()` (a failing test) does the same synchronously in `Drop`. Then
//! chromedriver is killed, and so is any process whose command line names this browser's temporary directory:
//! every Chromium process carries `--user-data-dir` there, and Chromium's crash handlers (which outlive it
//! briefly and would write into a directory being removed) their `--database`. chromedriver stays in the
//! test's process group, so Ctrl-C ends it and its Chromium too.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// The viewport (CSS pixels) a page sees by default: a laptop screen.
pub const WIDTH: u32 = 1366;
pub const HEIGHT: u32 = 900;

/// How long `start` waits for chromedriver to answer `/status`.
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Flags known to work for Debian's Chromium as root in a container.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    // A small /dev/shm (Docker's 64 MB) crashes tabs; /tmp is as fast here.
    "--disable-dev-shm-usage",
    // Screenshots in CSS pixels and text in one language, whatever the machine's locale.
    "--force-device-scale-factor=1",
    "--lang=en-US",
    "--mute-audio",
];

#[derive(Clone, Debug)]
pub struct Options {
    /// Viewport size in CSS pixels (the window is made larger by whatever headless Chromium reserves).
    pub width: u32,
    pub height: u32,
    /// Start with `prefers-color-scheme: dark` (Chromium's `--force-dark-mode`); `set_color_scheme`
    /// switches a running page either way.
    pub dark: bool,
    /// More Chromium flags.
    pub extra_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { width: WIDTH, height: HEIGHT, dark: false, extra_args: Vec::new() }
    }
}

/// How long starting took.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    /// From spawning chromedriver until its `/status` said ready.
    pub driver_ready: Duration,
    /// Creating the WebDriver session (launching Chromium).
    pub session: Duration,
    /// All of `start`, sizing the window included.
    pub total: Duration,
}

pub struct Browser {
    pub client: Client,
    /// Base URL of this browser's chromedriver.
    pub driver_url: String,
    pub timings: Timings,
    session_id: String,
    session_open: bool,
    // Dropped after `client`: kills chromedriver and what is left of Chromium, then removes the profile.
    driver: Driver,
}

impl Browser {
    /// A headless Chromium with a `WIDTH`x`HEIGHT` viewport and the light color scheme.
    pub async fn start() -> Browser {
        Browser::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Browser {
        let started = Instant::now();
        let chromium = find_program("CHROMIUM", &["chromium", "chromium-browser", "google-chrome"], "chromium");
        let chromedriver = find_program("CHROMEDRIVER", &["chromedriver"], "chromium-driver");

        let (driver, driver_ready) = tokio::task::spawn_blocking(move || Driver::spawn(&chromedriver))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let driver_url = format!("http://127.0.0.1:{}", driver.port);

        let profile = driver.dir.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={},{}", options.width, options.height));
        if options.dark {
            args.push("--force-dark-mode".into());
        }
        args.extend(options.extra_args.iter().cloned());
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };

        let session_started = Instant::now();
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "could not start a Chromium session ({}) through chromedriver at {driver_url}: {e}\n\
                     chromedriver log tail:\n{}",
                    chromium.display(),
                    driver.log_tail()
                )
            });
        let session = session_started.elapsed();
        let session_id = client.session_id().await.ok().flatten().expect("WebDriver session id");

        let mut browser = Browser {
            client,
            driver_url,
            timings: Timings { driver_ready, session, total: Duration::ZERO },
            session_id,
            session_open: true,
            driver,
        };
        browser
            .client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(30)),
                Some(Duration::from_secs(30)),
                Some(Duration::ZERO),
            ))
            .await
            .expect("set WebDriver timeouts");
        browser.set_viewport(options.width, options.height).await;
        browser.timings.total = started.elapsed();
        browser
    }

    /// This browser's Chromium profile (`--user-data-dir`), removed when the browser closes.
    pub fn profile_dir(&self) -> PathBuf {
        self.driver.dir.path().join("profile")
    }

    /// Process id of chromedriver.
    pub fn driver_pid(&self) -> Option<u32> {
        self.driver.child.as_ref().map(Child::id)
    }

    /// Resizes the window so that the page's viewport (`innerWidth` x `innerHeight`) is exactly this size:
    /// headless Chromium keeps ~140 px of the window's height for browser UI that it does not draw.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        let mut sizes = Value::Null;
        for _ in 0..3 {
            sizes = self.eval("return [innerWidth, innerHeight, outerWidth, outerHeight]").await;
            let n = |i: usize| sizes[i].as_i64().unwrap_or(0);
            if (n(0), n(1)) == (width as i64, height as i64) {
                return;
            }
            // Resizing to the current size waits a second or more for an event that never comes: skip it.
            let (w, h) = (n(2) + width as i64 - n(0), n(3) + height as i64 - n(1));
            self.client.set_window_size(w.max(1) as u32, h.max(1) as u32).await.expect("set window size");
        }
        panic!("could not size the viewport to {width}x{height}: [inner w, h, outer w, h] = {sizes}");
    }

    /// Navigates and waits for the page's load event.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    pub async fn current_url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("<no url: {e}>"))
    }

    /// The element `css` matches now (no waiting).
    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no element matches {css:?} on {}: {e}", self.current_url().await),
        }
    }

    /// Every element `css` matches now (maybe none).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap_or_else(|e| panic!("find_all {css:?}: {e}"))
    }

    /// Waits up to `timeout` for an element matching `css` to exist.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let found =
            self.client.wait().at_most(timeout).every(Duration::from_millis(50)).for_element(Locator::Css(css)).await;
        match found {
            Ok(element) => element,
            Err(e) => panic!("no element matched {css:?} within {timeout:?} on {}: {e}", self.current_url().await),
        }
    }

    /// Waits up to `timeout` until the text of the element `css` matches contains `needle`; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{css:?} did not contain {needle:?} within {timeout:?} on {}; last text: {last:?}",
                    self.current_url().await
                );
            }
            // Poll interval: the loop waits for the text itself, up to the deadline.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The rendered text of the element `css` matches now.
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        element.text().await.unwrap_or_else(|e| panic!("text of {css:?}: {e}"))
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element.click().await.unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    /// Clears the input `css` matches and types `value` into it.
    pub async fn fill(&self, css: &str, value: &str) {
        let element = self.find(css).await;
        element.clear().await.unwrap_or_else(|e| panic!("clear {css:?}: {e}"));
        element.send_keys(value).await.unwrap_or_else(|e| panic!("type into {css:?}: {e}"));
    }

    /// Runs `script` (a function body: `return ...` gives the result) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// Whether the page sees `prefers-color-scheme: dark`.
    pub async fn prefers_dark(&self) -> bool {
        self.eval("return window.matchMedia('(prefers-color-scheme: dark)').matches").await == json!(true)
    }

    /// Emulates `prefers-color-scheme` for the current tab (it lasts across navigations in the tab).
    pub async fn set_color_scheme(&self, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": value }] }),
        )
        .await;
    }

    /// Sends a Chrome DevTools Protocol command to the current tab (chromedriver's `goog/cdp/execute`).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let port = self.driver.port;
        let path = format!("/session/{}/goog/cdp/execute", self.session_id);
        let body = json!({ "cmd": cmd, "params": params });
        let (status, text) =
            tokio::task::spawn_blocking(move || http(port, "POST", &path, Some(&body), Duration::from_secs(30)))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
                .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"));
        let reply: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        assert_eq!(status, 200, "CDP {cmd} failed: {reply}");
        reply["value"].clone()
    }

    /// Saves a PNG of the viewport to `path` (making its directory); returns the PNG.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Vec<u8> {
        let path = path.as_ref();
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        png
    }

    /// Ends the session (chromedriver quits Chromium), stops chromedriver and removes the profile.
    pub async fn close(mut self) {
        self.session_open = false;
        let closed = self.client.clone().close().await;
        tokio::task::spawn_blocking(move || {
            self.driver.shutdown();
            drop(self);
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        closed.unwrap_or_else(|e| panic!("closing the WebDriver session: {e}"));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.session_open {
            // No async here: ask chromedriver directly, so Chromium gets to quit (then `driver` kills the rest).
            let path = format!("/session/{}", self.session_id);
            let _ = http(self.driver.port, "DELETE", &path, None, Duration::from_secs(10));
            self.session_open = false;
        }
    }
}

/// A running chromedriver and the temporary directory with its log and Chromium's profile.
struct Driver {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Driver {
    fn spawn(program: &Path) -> (Driver, Duration) {
        let mut last_error = String::new();
        // A free port can be taken again between our probe and chromedriver's bind: try a few.
        for _ in 0..3 {
            let dir = tempfile::Builder::new().prefix("browser-").tempdir().expect("browser temp dir");
            let port = free_port();
            let started = Instant::now();
            let child = Command::new(program)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", dir.path().join("chromedriver.log").display()))
                // Chromium's crash handler keeps its database under $XDG_CONFIG_HOME: keep it in the temp dir.
                .env("XDG_CONFIG_HOME", dir.path().join("xdg-config"))
                .env("XDG_CACHE_HOME", dir.path().join("xdg-cache"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
            let mut driver = Driver { child: Some(child), port, dir };
            let deadline = started + DRIVER_READY_TIMEOUT;
            loop {
                if let Ok((200, body)) = http(port, "GET", "/status", None, Duration::from_secs(2))
                    && serde_json::from_str::<Value>(&body).is_ok_and(|v| v["value"]["ready"] == json!(true))
                {
                    return (driver, started.elapsed());
                }
                if let Some(status) = driver.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    last_error = format!("chromedriver exited ({status}) on port {port}:\n{}", driver.log_tail());
                    break;
                }
                if Instant::now() >= deadline {
                    panic!(
                        "chromedriver on port {port} did not answer /status within {DRIVER_READY_TIMEOUT:?}:\n{}",
                        driver.log_tail()
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("chromedriver would not start: {last_error}");
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Kills chromedriver, then any process still naming our directory (Chromium, its crash handlers), waits
    /// (briefly) until they are gone, and removes the directory.
    fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = child.kill();
        let _ = child.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = processes_naming(self.dir.path());
            if pids.is_empty() || Instant::now() >= deadline {
                break;
            }
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            let _ = Command::new("sh")
                .args(["-c", "kill -KILL \"$@\" 2>/dev/null", "sh"])
                .args(&pids)
                .stdin(Stdio::null())
                .status();
            // Poll interval of the deadline-bounded wait above: the condition is "no process names the dir".
            std::thread::sleep(Duration::from_millis(20));
        }
        // A crash handler may still be writing into the dir for a moment: retry until it is gone, with a deadline.
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Err(e) = std::fs::remove_dir_all(self.dir.path()) {
            if e.kind() == std::io::ErrorKind::NotFound || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Live processes with an argument that names `dir` (zombies have no command line, so they do not count).
fn processes_naming(dir: &Path) -> Vec<u32> {
    // With the separator, so that /tmp/browser-abc cannot match /tmp/browser-abcd.
    let needle = dir.join("").into_os_string().into_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            cmdline.windows(needle.len()).any(|w| w == needle.as_slice()).then_some(pid)
        })
        .filter(|&pid| pid != std::process::id())
        .collect()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// `$VAR` if set, else the first of `names` on PATH; panics naming what is missing.
fn find_program(var: &str, names: &[&str], package: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(is_executable(&path), "${var} is {} but that is not an executable file", path.display());
        return path;
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    for name in names {
        for dir in &dirs {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return candidate;
            }
        }
    }
    panic!(
        "browser tests need `{}` but it is not on PATH (nor set in ${var}): install Debian's `{package}` \
         (scripts/browser-deps.sh installs chromium and chromium-driver)",
        names[0]
    );
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A minimal blocking HTTP/1.1 exchange with chromedriver on 127.0.0.1 (it answers with Content-Length).
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    // chromedriver keeps the connection open despite `Connection: close`: read by Content-Length.
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no HTTP response head"));
        }
        response.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&response[..header_end]).to_string();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while response.len() < header_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&response[header_end..]).to_string();
    Ok((status, body))
}
