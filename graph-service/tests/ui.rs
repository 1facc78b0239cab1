//! The web UI over HTTP: every page on real fixture data, filters, paging, 404s, hostile names escaped, live events.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::server::app_with_ui;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use graph_service::ui::UiConfig;
use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{Endpoint, EndpointExt};
use tekton_graph_schema::RunFact;
use tekton_graph_schema::envelope::{BATCH_CONTENT_TYPE, to_cloudevent};

const KONFLUX: &str = "tekton/pipelinerun-v1beta1-pipeline-service-exporter-build-finally-skipped-childrefs.yaml";
const KONFLUX_RUN: &str = "/runs/rhtapuser-tenant/human-resources-on-pull-request-rlrj8";

fn demo_facts() -> Vec<RunFact> {
    graph_service::demo::sample_facts().expect("demo facts")
}

async fn client_with(facts: &[RunFact]) -> (TestClient<impl Endpoint + use<>>, Arc<dyn GraphStore>) {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    store.apply(facts).await.expect("apply");
    let ingestor = Arc::new(Ingestor::new(store.clone()));
    let ui = UiConfig { dashboard_url: Some("https://dashboard.example".into()) };
    (TestClient::new(app_with_ui(ingestor, ui).map_to_response()), store)
}

async fn get(cli: &TestClient<impl Endpoint>, path: &str) -> (StatusCode, String) {
    let resp = cli.get(path).send().await;
    let status = resp.0.status();
    (status, resp.0.into_body().into_string().await.expect("utf-8 body"))
}

async fn ok(cli: &TestClient<impl Endpoint>, path: &str) -> String {
    let (status, body) = get(cli, path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    assert!(body.starts_with("<!DOCTYPE html>"), "GET {path} is a page");
    body
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test]
async fn the_runs_page_lists_runs_newest_first_with_their_commit_and_a_summary() {
    let (cli, _) = client_with(&demo_facts()).await;
    let body = ok(&cli, "/").await;
    assert!(body.contains(r#"<table class="nav" id="runs">"#), "runs table");
    // The seed scenario's four builds, newest (the re-run) above the oldest.
    let newest = body.find(r#"data-run="idec/idec-image-builds-run-4cd23""#);
    let oldest = body.find(r#"data-run="idec/idec-image-builds-run-fb422""#);
    assert!(newest.is_some() && oldest.is_some(), "seed builds listed");
    assert!(newest < oldest, "newest first");
    assert!(body.contains(r#"<span class="badge rerun""#), "the Dashboard re-run is badged");
    assert!(body.contains(r#"id="summary""#) && body.contains("Per pipeline"), "summary on top");
    // Without a chosen range the summary covers the 7 days up to the newest run: the seed's builds, not 2023's
    // Konflux run.
    assert!(body.contains("the 7 days up to the newest run (2024-05-08 13:30 – 2024-05-15 13:30 UTC)"), "window named");
    let summary = &body[body.find(r#"id="summary""#).unwrap()..body.find(r#"id="runs""#).unwrap()];
    assert!(summary.contains("idec-image-builds") && !summary.contains("human-resources"), "windowed summary");
    let ranged = ok(&cli, "/?since=2020-01-01").await;
    let summary = &ranged[ranged.find(r#"id="summary""#).unwrap()..ranged.find(r#"id="runs""#).unwrap()];
    assert!(summary.contains("the chosen range") && summary.contains("human-resources"), "the chosen range");
    assert!(body.contains("/ui/assets/app.css") && body.contains("/ui/assets/app.js"), "assets linked");
    // Assets are served from the binary.
    let (status, css) = get(&cli, "/ui/assets/app.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains("prefers-color-scheme: dark"), "dark theme in the stylesheet");
    let (status, js) = get(&cli, "/ui/assets/app.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(js.contains("EventSource"), "live updates in the script");
}

#[tokio::test]
async fn filters_narrow_the_list_and_bad_filters_are_refused_by_name() {
    let (cli, _) = client_with(&demo_facts()).await;
    let scans = ok(&cli, "/?pipeline=image-scan").await;
    assert_eq!(count(&scans, "<tr data-run="), 4, "the four scan runs");
    assert!(!scans.contains("idec-image-builds-run-4cd23\""), "no builds in the scan filter");
    assert!(scans.contains(r#"value="image-scan""#), "the filter stays in the form");

    let failed = ok(&cli, "/?status=FAILED").await;
    let table = &failed[failed.find(r#"id="runs""#).expect("runs table")..];
    let rows = count(table, "<tr data-run=");
    assert!(rows >= 1, "the failed seed build");
    assert_eq!(rows, count(table, r#"<td><span class="badge status-failed">"#), "every row failed");

    let namespace = ok(&cli, "/?namespace=rhtapuser-tenant").await;
    assert_eq!(count(&namespace, "<tr data-run="), 1, "one Konflux run");

    let none = ok(&cli, "/?since=2030-01-01").await;
    assert!(none.contains("No PipelineRuns match"), "empty state");

    let (status, body) = get(&cli, "/?status=BROKEN").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("unknown status `BROKEN`"));
    let (status, body) = get(&cli, "/?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("`since`: `yesterday` is not a date"));
}

/// Distinct runs of one pipeline, one minute apart.
fn many_runs(n: usize) -> Vec<RunFact> {
    let template =
        support::seed_facts().into_iter().find(|f| f.kind == tekton_graph_schema::RunKind::PipelineRun).unwrap();
    (0..n)
        .map(|i| {
            let mut f = template.clone();
            f.name = format!("paged-{i:04}");
            f.namespace = "paging".into();
            let start = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().to_utc()
                + chrono::Duration::minutes(i as i64);
            f.status.start_time = Some(start);
            f.status.completion_time = Some(start + chrono::Duration::seconds(30 + i as i64));
            f.children.clear();
            f
        })
        .collect()
}

#[tokio::test]
async fn paging_follows_cursors_through_every_run_once() {
    let (cli, _) = client_with(&many_runs(120)).await;
    let mut path = "/?namespace=paging".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let body = ok(&cli, &path).await;
        pages += 1;
        for chunk in body.split(r#"<tr data-run="paging/"#).skip(1) {
            seen.push(chunk.split('"').next().unwrap().to_string());
        }
        let Some(start) = body.find(r#"id="next-page" rel="next" href=""#) else { break };
        let rest = &body[start + r#"id="next-page" rel="next" href=""#.len()..];
        path = rest.split('"').next().unwrap().replace("&amp;", "&");
        assert!(path.contains("after="), "the next page carries a cursor");
        assert!(body.contains(r#"id="first-page""#) || pages == 1, "later pages link back to the newest");
    }
    assert_eq!(pages, 3, "50 + 50 + 20");
    assert_eq!(seen.len(), 120);
    let expected: Vec<String> = (0..120).rev().map(|i| format!("paged-{i:04}")).collect();
    assert_eq!(seen, expected, "newest first, each run once");
}

#[tokio::test]
async fn the_run_page_draws_the_declared_task_graph_the_timeline_and_steps() {
    let mut facts = support::fixture_facts(KONFLUX);
    for file in [
        "tekton/taskrun-v1beta1-pipeline-service-exporter-clone-repository-commit-url.yaml",
        "tekton/taskrun-v1beta1-pipeline-service-exporter-build-container-image-digest-steps.yaml",
    ] {
        facts.extend(support::fixture_facts(file));
    }
    let (cli, _) = client_with(&facts).await;
    let body = ok(&cli, KONFLUX_RUN).await;
    // 12 tasks and 2 finally tasks, from the run's pipelineSpec.
    let dag = &body[body.find(r#" id="dag" "#).expect("DAG svg")..];
    let dag = &dag[..dag.find("</svg>").unwrap()];
    assert_eq!(count(dag, "data-task="), 14, "every pipeline task is a node");
    assert_eq!(count(dag, r#"class="edge run-after""#), 10, "every declared runAfter is an edge");
    assert_eq!(
        count(dag, r#"class="edge uses-results""#),
        5,
        "result references not declared in runAfter are dashed edges"
    );
    assert_eq!(count(&body, r#"<tr data-task="#), 14, "the text twin lists every task");
    assert!(body.contains("When Expressions evaluated to false"), "skip reasons shown");
    assert_eq!(count(&body, r#"<span class="badge status-skipped">Skipped</span>"#), 3, "three skipped tasks");
    assert!(body.contains(r#" id="timeline" class="timeline""#), "timeline");
    assert!(body.contains(r#"id="taskrun-"#) && body.contains("step-clone") || body.contains(">clone<"), "steps");
    assert!(body.contains(r#"data-live="run:rhtapuser-tenant/human-resources-on-pull-request-rlrj8""#));
    assert!(
        body.contains(
            "https://dashboard.example/#/namespaces/rhtapuser-tenant/pipelineruns/human-resources-on-pull-request-rlrj8"
        ),
        "logs link to the Tekton Dashboard"
    );
}

#[tokio::test]
async fn unknown_things_get_a_404_page_that_says_so() {
    let (cli, _) = client_with(&demo_facts()).await;
    for (path, says) in [
        ("/runs/nowhere/nothing", "There is no PipelineRun `nowhere/nothing`"),
        ("/runs/nowhere/nothing/diff", "There is no PipelineRun `nowhere/nothing`"),
        ("/images/sha256:0000000000000000000000000000000000000000000000000000000000000000", "No image"),
        ("/commit?repo=github.com/none/none&sha=0123456789abcdef", "No run was built from"),
        ("/repository?url=github.com/none/none", "No run built"),
        ("/systems/none-such", "There is no System `none-such`"),
    ] {
        let (status, body) = get(&cli, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}");
        assert!(body.contains(says), "GET {path}: {body}");
        assert!(body.contains("All runs"), "a way back");
    }
}

#[tokio::test]
async fn the_diff_page_compares_with_the_previous_run_or_a_chosen_one() {
    let (cli, _) = client_with(&demo_facts()).await;
    let body = ok(&cli, "/runs/idec/idec-image-builds-run-0e089/diff").await;
    assert!(body.contains(r#"id="diff""#), "a diff");
    assert!(body.contains("idec-image-builds-run-fb422"), "against the previous build");
    assert!(body.contains(r#"id="task-diff""#) && body.contains(r#"id="vulnerability-diff""#));
    assert!(body.contains(r#"<option value="idec-image-builds-run-4cd23""#), "other runs to pick from");

    let picked = ok(&cli, "/runs/idec/idec-image-builds-run-0e089/diff?against=idec-image-builds-run-4cd23").await;
    assert!(
        picked.contains(r#"selected>idec-image-builds-run-4cd23"#)
            || picked.contains(r#"value="idec-image-builds-run-4cd23" selected"#)
    );

    let first = ok(&cli, "/runs/idec/idec-image-builds-run-fb422/diff").await;
    assert!(first.contains(r#"id="no-base""#), "the first run has nothing to compare with");

    let (status, body) = get(&cli, "/runs/idec/idec-image-builds-run-0e089/diff?against=missing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no PipelineRun `idec/missing` to diff against"));
}

async fn seed_image(store: &Arc<dyn GraphStore>) -> String {
    let schema = support::schema(store);
    let data = support::query(
        &schema,
        r#"{ pipelineRun(namespace: "idec", name: "idec-image-builds-run-0e089") { images { digest } } }"#,
    )
    .await;
    data["pipelineRun"]["images"][0]["digest"].as_str().expect("an image").to_string()
}

#[tokio::test]
async fn the_image_page_shows_lineage_as_a_graph_and_as_a_list_and_expands_nodes() {
    let (cli, store) = client_with(&demo_facts()).await;
    let digest = seed_image(&store).await;
    let body = ok(&cli, &format!("/images/{digest}")).await;
    assert!(body.contains(r#" id="lineage" class="graph lineage""#), "lineage graph");
    assert!(body.contains(r#"id="lineage-list""#), "lineage list");
    assert!(body.contains("idec-image-builds-run-0e089"), "built by the run");
    assert!(body.contains(r#"id="provenance""#));
    let nodes = count(&body, r#"<li data-id=""#);
    assert!(nodes >= 4, "image, runs, commit, …: {nodes}");
    // Expanding the commit brings in the other runs built from it (if any) and the repository.
    let commit_id = body.split(r#"<li data-id="commit:"#).nth(1).expect("a commit node").split('"').next().unwrap();
    let expanded = ok(&cli, &format!("/images/{digest}?depth=1&expand=commit:{commit_id}")).await;
    assert!(expanded.contains(r#"<li data-id="repository:"#), "the expanded commit's repository");
    let shallow = ok(&cli, &format!("/images/{digest}?depth=1")).await;
    assert!(count(&shallow, r#"<li data-id=""#) < count(&expanded, r#"<li data-id=""#), "expansion adds nodes");
}

#[tokio::test]
async fn commit_repository_and_system_pages_answer_from_the_graph() {
    let (cli, _) = client_with(&demo_facts()).await;
    let runs = ok(&cli, "/").await;
    let commit_link = runs.split(r#"href="/commit?"#).nth(1).expect("a commit link").split('"').next().unwrap();
    let commit = ok(&cli, &format!("/commit?{}", commit_link.replace("&amp;", "&"))).await;
    assert!(commit.contains(r#"id="commit-runs""#) && commit.contains("<tr data-run="));

    let repo_link = commit.split(r#"href="/repository?"#).nth(1).expect("a repository link").split('"').next().unwrap();
    let repo = ok(&cli, &format!("/repository?{}", repo_link.replace("&amp;", "&"))).await;
    assert!(repo.contains(r#"id="repository-pipelines""#) && repo.contains(r#"id="repository-commits""#));
    assert!(repo.contains("idec-image-builds"), "the repository's pipeline");

    let systems = ok(&cli, "/systems").await;
    let system = systems.split(r#"data-system=""#).nth(1).expect("a system").split('"').next().unwrap();
    assert!(systems.contains("critical"), "vulnerability counts per system");
    let page = ok(&cli, &format!("/systems/{}", system.replace('/', "%2F"))).await;
    assert!(page.contains(r#"id="system-repositories""#) && page.contains(r#"id="system-runs""#));
}

#[tokio::test]
async fn search_goes_to_the_page_a_text_names() {
    let (cli, store) = client_with(&demo_facts()).await;
    let digest = seed_image(&store).await;
    for (text, target) in [
        (digest.clone(), format!("/images/{}", digest.replace(':', "%3A"))),
        ("idec/idec-image-builds-run-0e089".to_string(), "/runs/idec/idec-image-builds-run-0e089".to_string()),
        ("image-scan".to_string(), "/?namespace=idec&pipeline=image-scan".to_string()),
    ] {
        let resp = cli.get("/search").query("q", &text).send().await;
        resp.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(resp.0.headers().get("location").unwrap().to_str().unwrap(), target, "search {text}");
    }
    let none = ok(&cli, "/search?q=nothing-like-this").await;
    assert!(none.contains(r#"id="no-results""#));
}

#[tokio::test]
async fn hostile_names_are_escaped_everywhere() {
    let mut facts = support::seed_facts();
    let evil = "x\"><script>alert(1)</script>";
    for f in facts.iter_mut().filter(|f| f.name == "idec-image-builds-run-0e089") {
        f.name = evil.to_string();
        f.pipeline = Some("<img src=x onerror=alert(2)>".into());
        if let Some(source) = f.supply_chain.source.as_mut() {
            source.message = Some("<script>alert(3)</script>".into());
            source.author = Some("Eve <eve@example.com>".into());
        }
        f.params.push(tekton_graph_schema::NamedValue { name: "<b>p</b>".into(), value: "<i>v</i>".into() });
    }
    let (cli, _) = client_with(&facts).await;
    for path in ["/".to_string(), format!("/runs/idec/{}", graph_service::ui::segment(evil))] {
        let body = ok(&cli, &path).await;
        assert!(!body.contains("<script>alert"), "GET {path} has no raw script");
        assert!(!body.contains("<img src=x"), "GET {path} has no raw img");
        assert!(!body.contains("<b>p</b>"), "GET {path} has no raw param markup");
        assert!(
            body.contains("&lt;script&gt;alert(1)") || body.contains("&lt;img src=x"),
            "GET {path} shows it escaped"
        );
    }
}

#[tokio::test]
async fn the_live_stream_announces_each_applied_batch() {
    let (cli, _) = client_with(&[]).await;
    let resp = cli.get("/ui/live").send().await;
    resp.assert_status_is_ok();
    let mut events = resp.sse_stream();
    let facts = support::seed_facts();
    let body: Vec<serde_json::Value> =
        facts[..3].iter().map(|f| serde_json::to_value(to_cloudevent(f).unwrap()).unwrap()).collect();
    let posted =
        cli.post("/events").content_type(BATCH_CONTENT_TYPE).body(serde_json::to_vec(&body).unwrap()).send().await;
    posted.assert_status(StatusCode::ACCEPTED);
    let event = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event in time")
        .expect("stream open");
    let poem::web::sse::Event::Message { event: kind, data, .. } = event else { panic!("a message, got {event:?}") };
    assert_eq!(kind, "runs");
    let runs: Vec<serde_json::Value> = serde_json::from_str(&data).expect("JSON list of runs");
    let names: Vec<&str> = runs.iter().filter_map(|r| r["name"].as_str()).collect();
    for fact in &facts[..3] {
        assert!(names.contains(&fact.name.as_str()), "{} announced in {names:?}", fact.name);
    }
}
