//! The web UI in a real headless Chromium (Debian's `chromium` + `chromedriver`, see scripts/browser-deps.sh):
//! open the runs, filter, page, open a run and see its DAG and timeline, open its diff, open an image and expand a
//! lineage node, switch themes, move with the keyboard, and watch a run appear live after a fact is POSTed.
//! A missing browser fails these tests; it never skips them.

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::sync::Arc;
use std::time::Duration;

use browser::Browser;
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::server::app_with_ui;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use graph_service::ui::UiConfig;
use poem::listener::{Acceptor, Listener, TcpListener};
use tekton_graph_schema::RunFact;
use tekton_graph_schema::envelope::{BATCH_CONTENT_TYPE, to_cloudevent};

const WAIT: Duration = Duration::from_secs(15);

/// A graph-service with `facts` on a free loopback port; returns its base URL.
async fn serve(facts: &[RunFact]) -> String {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    store.apply(facts).await.expect("apply");
    let app = app_with_ui(Arc::new(Ingestor::new(store)), UiConfig::default());
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("a TCP address");
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    format!("http://{addr}")
}

fn demo() -> Vec<RunFact> {
    graph_service::demo::sample_facts().expect("demo facts")
}

/// Presses and releases one key through WebDriver's input actions (a real key event, not a synthetic one).
async fn press(browser: &Browser, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let keys =
        KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key }).then(KeyAction::Up { value: key });
    browser.client.perform_actions(keys).await.expect("key press");
}

async fn rows(browser: &Browser, table: &str) -> usize {
    browser.find_all(&format!("#{table} tbody tr")).await.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_filters_runs_opens_one_sees_its_graph_and_timeline_and_its_diff() {
    let base = serve(&demo()).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    browser.wait_for("#runs tbody tr", WAIT).await;
    let all = rows(&browser, "runs").await;
    assert!(all >= 10, "the demo's runs: {all}");

    // Filter by pipeline through the form.
    browser.fill("#filters input[name=pipeline]", "image-scan").await;
    browser.click("#filters button[type=submit]").await;
    browser.wait_for_text("#filters input[name=pipeline] ~ *, body", "image-scan", WAIT).await;
    assert!(browser.current_url().await.contains("pipeline=image-scan"), "the filter is in the URL");
    assert_eq!(rows(&browser, "runs").await, 4, "four scan runs");

    // Open the Konflux build run and see its task graph and timeline.
    browser.goto(&format!("{base}/?namespace=rhtapuser-tenant")).await;
    browser.click("#runs tbody tr a").await;
    browser.wait_for("svg#dag", WAIT).await;
    let nodes = browser.find_all("svg#dag [data-task]").await.len();
    assert_eq!(nodes, 14, "12 tasks and 2 finally tasks");
    assert!(browser.find_all("svg#dag .status-skipped").await.len() >= 3, "skipped tasks coloured");
    browser.wait_for("svg#timeline", WAIT).await;
    assert!(browser.find_all("svg#timeline .bar").await.len() >= 2, "TaskRuns on the timeline");

    // Its diff against the previous run (there is none: the page says so).
    browser.click("#diff-link").await;
    browser.wait_for("#no-base, #diff", WAIT).await;

    // A seed build's diff shows the task table.
    browser.goto(&format!("{base}/runs/idec/idec-image-builds-run-0e089")).await;
    browser.click("#diff-link").await;
    browser.wait_for("#task-diff", WAIT).await;
    assert!(browser.text("#diff-summary").await.contains("Duration"));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_pages_through_runs_and_expands_a_lineage_node() {
    let mut facts = demo();
    let template = facts.iter().find(|f| f.name == "idec-image-builds-run-0e089").cloned().expect("seed run");
    for i in 0..70 {
        let mut f = template.clone();
        f.name = format!("extra-{i:03}");
        f.children.clear();
        f.status.start_time = f.status.start_time.map(|t| t + chrono::Duration::seconds(i));
        facts.push(f);
    }
    let base = serve(&facts).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    browser.wait_for("#runs tbody tr", WAIT).await;
    assert_eq!(rows(&browser, "runs").await, 50, "a full first page");
    let first_page = browser.text("#runs tbody tr:first-child").await;
    browser.click("#next-page").await;
    browser.wait_for("#first-page", WAIT).await;
    assert!(browser.current_url().await.contains("after="), "the cursor is in the URL");
    let second = rows(&browser, "runs").await;
    assert!(second >= 1, "a second page");
    assert_ne!(browser.text("#runs tbody tr:first-child").await, first_page, "other runs");

    // Open an image from a run and expand a node of its lineage.
    browser.goto(&format!("{base}/runs/idec/idec-image-builds-run-0e089")).await;
    browser.click("#images a").await;
    browser.wait_for("svg#lineage", WAIT).await;
    let before = browser.find_all("svg#lineage .node").await.len();
    assert!(before >= 3, "image, its run and more: {before}");
    browser.click("svg#lineage a.expand").await;
    browser.wait_for("svg#lineage", WAIT).await;
    assert!(browser.current_url().await.contains("expand="), "the expansion is in the URL");
    let after = browser.find_all("svg#lineage .node").await.len();
    assert!(after >= before, "expanding keeps every node ({before} → {after})");
    assert!(browser.find_all("#lineage-list li[data-id]").await.len() >= after, "the list names every node");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_run_appears_on_the_open_runs_page_without_a_reload() {
    let facts = support::seed_facts();
    let (first, later) = facts.split_at(facts.len() / 2);
    let base = serve(first).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    browser.wait_for("#runs tbody tr", WAIT).await;
    browser.wait_for("#live-dot.on", WAIT).await;
    // A marker that a reload would wipe.
    browser.eval("window.__noReload = 42; return true;").await;
    let before = rows(&browser, "runs").await;

    let body: Vec<serde_json::Value> =
        later.iter().map(|f| serde_json::to_value(to_cloudevent(f).expect("event")).expect("json")).collect();
    let resp = reqwest::Client::new()
        .post(format!("{base}/events"))
        .header("content-type", BATCH_CONTENT_TYPE)
        .body(serde_json::to_vec(&body).expect("json"))
        .send()
        .await
        .expect("POST /events");
    assert_eq!(resp.status().as_u16(), 202);
    let new_run = later.iter().find(|f| f.kind == tekton_graph_schema::RunKind::PipelineRun).expect("a new run");
    let started = std::time::Instant::now();
    browser.wait_for(&format!(r#"#runs tr[data-run="{}/{}"]"#, new_run.namespace, new_run.name), WAIT).await;
    let latency = started.elapsed();
    eprintln!("POST /events → row on the open page: {latency:?}");
    assert!(rows(&browser, "runs").await > before, "more rows");
    assert_eq!(browser.eval("return window.__noReload;").await, serde_json::json!(42), "updated in place");
    assert!(latency < Duration::from_secs(5), "live within seconds: {latency:?}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn themes_follow_the_system_and_the_keyboard_moves_through_rows() {
    let base = serve(&demo()).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/")).await;
    browser.wait_for("#runs tbody tr", WAIT).await;
    let light = browser.eval("return getComputedStyle(document.body).backgroundColor;").await;
    browser.set_color_scheme(true).await;
    let dark = browser.eval("return getComputedStyle(document.body).backgroundColor;").await;
    assert_ne!(light, dark, "prefers-color-scheme: dark changes the page");
    assert_eq!(dark, serde_json::json!("rgb(18, 21, 28)"), "the dark background");
    // The toggle overrides the system setting.
    browser.click("#theme-toggle").await;
    let toggled = browser.eval("return document.documentElement.getAttribute('data-theme');").await;
    assert_eq!(toggled, serde_json::json!("light"));

    // Real key presses (WebDriver actions): "/" focuses the search box; j selects the first row, j again the second.
    browser.eval("document.activeElement.blur(); return true;").await;
    press(&browser, '/').await;
    assert_eq!(browser.eval("return document.activeElement.id;").await, serde_json::json!("search"));
    browser.eval("document.activeElement.blur(); return true;").await;
    press(&browser, 'j').await;
    press(&browser, 'j').await;
    let selected = browser.eval("return Array.from(document.querySelectorAll('#runs tbody tr')).findIndex(r => r.classList.contains('selected'));").await;
    assert_eq!(selected, serde_json::json!(1), "the second row is selected");
    // Enter on the selected (focused) row's link opens that run.
    let link = browser.eval("return document.querySelector('#runs tbody tr.selected a').getAttribute('href');").await;
    press(&browser, '\u{E007}').await;
    browser.wait_for("h1 .badge", WAIT).await;
    assert!(browser.current_url().await.ends_with(link.as_str().expect("href")), "Enter opened the row");
    browser.close().await;
}

/// Every page holds a live stream; a page left behind (even one kept in the back/forward cache) must give its
/// connection back, or the seventh page on the same host waits forever (browsers allow six connections per host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_through_many_live_pages_never_stalls() {
    let base = serve(&demo()).await;
    let browser = Browser::start().await;
    let konflux = format!("{base}/runs/rhtapuser-tenant/human-resources-on-pull-request-rlrj8");
    for round in 0..5 {
        browser.goto(&konflux).await;
        browser.wait_for("#live-dot.on", WAIT).await;
        let started = std::time::Instant::now();
        browser.click("#diff-link").await;
        browser.wait_for("#no-base", WAIT).await;
        assert!(started.elapsed() < Duration::from_secs(5), "round {round}: {:?}", started.elapsed());
        browser.client.back().await.expect("back");
        browser.wait_for("svg#dag", WAIT).await;
    }
    browser.close().await;
}

/// The sign-in of a real user against the real Dex: the UI sends the browser to Dex's login form, back with a
/// code, and a session cookie the page's scripts cannot read; signing out ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_at_the_identity_provider_and_out_again() {
    use graph_service::auth::{Authenticator, LoginConfig, OidcConfig, OidcVerifier, Policy};
    use graph_service::server::{AppConfig, app_with_config};
    use support::env;

    // Dex knows this service's redirect URL, so it listens on the agreed port.
    let port = env("GRAPH_TEST_UI_PORT");
    let base = format!("http://127.0.0.1:{port}");
    let oidc = OidcVerifier::new(OidcConfig::new(env("DEX_ISSUER"), vec![env("DEX_CLIENT_ID")])).expect("verifier");
    let policy = Policy::parse("rules:\n  - group: team-a\n    role: viewer\n").expect("policy");
    let config = AppConfig {
        authenticator: Some(Arc::new(Authenticator { oidc: Some(oidc), policy, ..Authenticator::default() })),
        login: Some(LoginConfig {
            client_id: env("DEX_CLIENT_ID"),
            client_secret: env("DEX_CLIENT_SECRET"),
            redirect_url: format!("{base}/auth/callback"),
        }),
        ..AppConfig::default()
    };
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    store.apply(&demo()).await.expect("apply");
    let app = app_with_config(Arc::new(Ingestor::new(store)), config);
    let acceptor = TcpListener::bind(format!("127.0.0.1:{port}")).into_acceptor().await.expect("bind the agreed port");
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));

    let browser = Browser::start().await;
    browser.goto(&format!("{base}/?pipeline=image-scan")).await;
    // At Dex: its login form.
    browser.wait_for("input[name=login]", WAIT).await;
    assert!(browser.current_url().await.starts_with(&env("DEX_ISSUER")), "sent to the identity provider");
    browser.fill("input[name=login]", "alice@example.com").await;
    browser.fill("input[name=password]", &env("DEX_PASSWORD")).await;
    browser.click("button[type=submit]").await;
    // Back on the page first asked for, signed in.
    browser.wait_for("#runs tbody tr", WAIT).await;
    let url = browser.current_url().await;
    assert!(url.starts_with(&base) && url.contains("pipeline=image-scan"), "back where the user started: {url}");
    let scripts_see = browser.eval("return document.cookie").await;
    assert!(!scripts_see.as_str().unwrap_or_default().contains("tekton_graph_session"), "HttpOnly: {scripts_see}");

    // The cookie authenticates reads only: a write from the page (or a forged cross-site form) is refused.
    let write = browser
        .eval("return fetch('/events', { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: '{}' }).then(r => r.status)")
        .await;
    assert_eq!(write, serde_json::json!(401), "a session cookie does not authorize a write");
    let read = browser.eval("return fetch('/systems').then(r => r.status)").await;
    assert_eq!(read, serde_json::json!(200), "it does authorize a read");

    // Signing out ends the session: the next page asks for a sign-in again.
    let status =
        browser.eval("return fetch('/auth/logout', { method: 'POST', redirect: 'manual' }).then(r => r.type)").await;
    assert!(status.is_string(), "{status}");
    browser.goto(&format!("{base}/")).await;
    browser.wait_for("input[name=login]", WAIT).await;
    browser.close().await;
}
