//! The read model the web UI needs, on every engine: run summaries aggregated by the store, listed nodes, the next
//! run, the task DAG, Systems, repositories and search — and the graph and the read model agreeing on lineage.

mod support;

use graph_service::model::{NodeId, NodeKind, ProjectionConfig};
use graph_service::store::neo4j::Neo4jStore;
use graph_service::store::{RunFilter, SummaryRow, median};
use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::{all_fixture_facts, engines, fixture_facts, query, schema, seed_facts};
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::{Outcome, RunFact, RunKind};

const KONFLUX: &str = "tekton/pipelinerun-v1beta1-pipeline-service-exporter-build-finally-skipped-childrefs.yaml";
const REPO_KEY: &str = "github.com/joostvdg/ingress-dns-export-controller";

/// Runs `q` on every engine loaded with `facts`; every engine must give the same answer.
async fn agreed(facts: &[RunFact], q: &str) -> Value {
    let mut answers: Vec<(&str, Value)> = Vec::new();
    for engine in engines(ProjectionConfig::default()).await {
        engine.store.apply(facts).await.unwrap_or_else(|e| panic!("{}: apply: {e}", engine.name));
        answers.push((engine.name, query(&schema(&engine.store), q).await));
    }
    for (name, answer) in &answers[1..] {
        assert_eq!(answer, &answers[0].1, "{} and {name} disagree on {q}", answers[0].0);
    }
    answers.remove(0).1
}

#[test]
fn median_interpolates_like_percentile_cont() {
    assert_eq!(median(&mut []), None);
    assert_eq!(median(&mut [7.0]), Some(7.0));
    assert_eq!(median(&mut [3.0, 1.0]), Some(2.0));
    assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
    assert_eq!(median(&mut [4.0, 1.0, 3.0, 10.0]), Some(3.5));
}

fn rows_without_medians(rows: &[SummaryRow]) -> Vec<(String, Option<String>, Outcome, usize, String)> {
    rows.iter().map(|r| (r.namespace.clone(), r.pipeline.clone(), r.outcome, r.runs, r.latest.name.clone())).collect()
}

#[tokio::test]
async fn run_summaries_are_aggregated_alike_by_every_engine() {
    let facts = all_fixture_facts();
    /// An engine's summaries: all runs, one System's, one time window's.
    type Summaries = (Vec<SummaryRow>, Vec<SummaryRow>, Vec<SummaryRow>);
    let mut answers: Vec<(&str, Summaries)> = Vec::new();
    for engine in engines(ProjectionConfig::default()).await {
        engine.store.apply(&facts).await.expect("apply");
        let all = engine.store.run_summary(&RunFilter::default()).await.expect("summary");
        let system = RunFilter { system: Some(REPO_KEY.into()), ..Default::default() };
        let of_system = engine.store.run_summary(&system).await.expect("system summary");
        let window = RunFilter {
            since: "2024-05-16T00:00:00Z".parse().ok(),
            until: "2024-05-18T00:00:00Z".parse().ok(),
            ..Default::default()
        };
        let in_window = engine.store.run_summary(&window).await.expect("window summary");
        answers.push((engine.name, (all, of_system, in_window)));
    }
    let (first, (all, of_system, in_window)) = &answers[0];
    for (name, (a, b, c)) in &answers[1..] {
        assert_eq!(rows_without_medians(a), rows_without_medians(all), "{first} vs {name}");
        assert_eq!(rows_without_medians(b), rows_without_medians(of_system), "{first} vs {name}: system");
        assert_eq!(rows_without_medians(c), rows_without_medians(in_window), "{first} vs {name}: window");
        for (x, y) in a.iter().zip(all.iter()) {
            let (x, y) = (x.median_duration_seconds, y.median_duration_seconds);
            assert!(x.zip(y).is_none_or(|(x, y)| (x - y).abs() < 1e-9) && x.is_some() == y.is_some(), "{x:?} vs {y:?}");
        }
    }
    // The seed: 5 builds (4 succeeded, 1 failed) and 4 scans, all in namespace idec.
    let builds: Vec<_> = of_system.iter().filter(|r| r.pipeline.as_deref() == Some("idec-image-builds")).collect();
    assert_eq!(
        builds.iter().map(|r| (r.outcome, r.runs)).collect::<Vec<_>>(),
        [(Outcome::Succeeded, 4), (Outcome::Failed, 1)]
    );
    let total: usize = all.iter().map(|r| r.runs).sum();
    let listed = answers.len();
    assert!(listed == 3 && total >= 9, "every PipelineRun counted once: {total}");
    let window_total: usize = in_window.iter().map(|r| r.runs).sum();
    assert!(window_total < total, "the time window narrows the summary");
}

/// Runs with an inline spec (no pipeline name) and runs still going (no duration) are counted like the others:
/// Neo4j's summary index holds them under stand-in values, which must come back as none.
#[tokio::test]
async fn run_summaries_count_runs_without_a_pipeline_name_or_a_duration() {
    let built: Vec<RunFact> = all_fixture_facts()
        .into_iter()
        .filter(|f| f.kind == RunKind::PipelineRun && f.pipeline.is_some() && f.duration_seconds().is_some())
        .collect();
    let template = built.first().expect("a finished PipelineRun of a named pipeline among the fixtures").clone();
    let variant = |name: &str, pipeline: Option<&str>, running: bool| {
        let mut fact = template.clone();
        fact.name = name.into();
        fact.uid = Some(format!("uid-{name}"));
        fact.pipeline = pipeline.map(str::to_string);
        if running {
            fact.status.outcome = Outcome::Running;
            fact.status.completion_time = None;
        }
        fact
    };
    let facts = vec![
        variant("inline-1", None, false),
        variant("inline-2", None, false),
        variant("inline-running", None, true),
        variant("named-running", Some("summary-probe"), true),
        variant("named-done", Some("summary-probe"), false),
    ];
    let duration = template.duration_seconds();
    let mut answers = Vec::new();
    for engine in engines(ProjectionConfig::default()).await {
        engine.store.apply(&facts).await.expect("apply");
        let rows = engine.store.run_summary(&RunFilter::default()).await.expect("summary");
        let seen: Vec<_> =
            rows.iter().map(|r| (r.pipeline.clone(), r.outcome, r.runs, r.median_duration_seconds)).collect();
        answers.push((engine.name, seen));
    }
    let expected = vec![
        (None, template.status.outcome, 2, duration),
        (None, Outcome::Running, 1, None),
        (Some("summary-probe".to_string()), template.status.outcome, 1, duration),
        (Some("summary-probe".to_string()), Outcome::Running, 1, None),
    ];
    for (name, mut seen) in answers {
        seen.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let mut expected = expected.clone();
        expected.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        assert_eq!(seen, expected, "{name}");
    }
}

#[tokio::test]
async fn listed_nodes_page_by_id_and_the_next_run_follows_the_previous() {
    let facts = all_fixture_facts();
    for engine in engines(ProjectionConfig::default()).await {
        engine.store.apply(&facts).await.expect("apply");
        let systems = engine.store.nodes(NodeKind::System, None, 1000).await.expect("systems");
        assert!(systems.contains(&NodeId::system(REPO_KEY)), "{}: {systems:?}", engine.name);
        let mut sorted = systems.clone();
        sorted.sort();
        assert_eq!(systems, sorted, "{}: sorted by id", engine.name);
        let page1 = engine.store.nodes(NodeKind::System, None, 2).await.expect("page 1");
        let page2 = engine.store.nodes(NodeKind::System, page1.last(), 1000).await.expect("page 2");
        assert_eq!([page1, page2].concat(), systems, "{}: paging by id", engine.name);
        let pipelines = engine.store.nodes(NodeKind::Pipeline, None, 1000).await.expect("pipelines");
        assert!(pipelines.contains(&NodeId::pipeline("idec", "image-scan")), "{}", engine.name);
        assert!(engine.store.nodes(NodeKind::Image, None, 10).await.expect("images").is_empty(), "not a listed kind");
    }
    let data = agreed(
        &seed_facts(),
        r#"{ pipelineRun(namespace: "idec", name: "idec-image-builds-run-5ca46") { previous { name } next { name next { name next { name } } } } }"#,
    )
    .await;
    assert_eq!(
        data,
        json!({"pipelineRun": {"previous": {"name": "idec-image-builds-run-0e089"},
            "next": {"name": "idec-image-builds-run-5ca46-r-9f9f7", "next": {"name": "idec-image-builds-run-4cd23", "next": null}}}})
    );
}

#[tokio::test]
async fn every_run_of_a_page_knows_its_previous_and_next_run_in_one_batch() {
    let config = GenerateConfig { pipeline_runs: 120, repositories: 3, namespaces: 2, seed: 11, ..Default::default() };
    let facts: Vec<RunFact> =
        generate(&config).flat_map(|o| tekton_translate::translate_value(&o).expect("translate")).collect();
    let data = agreed(
        &facts,
        "{ pipelineRuns(first: 500) { edges { node { namespace name pipeline { name } previous { name } next { name } } } } }",
    )
    .await;
    let rows = data["pipelineRuns"]["edges"].as_array().expect("edges");
    let text = |v: &Value| v.as_str().expect("a string").to_string();
    assert!(rows.len() > 100, "{}", rows.len());
    // The listing is newest first, so within one pipeline the previous run is the next row of that pipeline, and
    // the next run the row before it.
    let mut by_pipeline: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for row in rows {
        let node = &row["node"];
        if let Some(pipeline) = node["pipeline"]["name"].as_str() {
            let key = (text(&node["namespace"]), pipeline.to_string());
            by_pipeline.entry(key).or_default().push(text(&node["name"]));
        }
    }
    let mut checked = 0;
    for row in rows {
        let node = &row["node"];
        let Some(pipeline) = node["pipeline"]["name"].as_str() else { continue };
        let names = &by_pipeline[&(text(&node["namespace"]), pipeline.to_string())];
        let at = names.iter().position(|n| *n == text(&node["name"])).expect("listed");
        let previous = names.get(at + 1).map(|n| json!({ "name": n })).unwrap_or(Value::Null);
        let next = at.checked_sub(1).map(|i| json!({ "name": names[i] })).unwrap_or(Value::Null);
        assert_eq!(node["previous"], previous, "previous of {node}");
        assert_eq!(node["next"], next, "next of {node}");
        checked += 1;
    }
    assert!(checked > 100 && by_pipeline.values().any(|v| v.len() > 5), "{checked} runs, {by_pipeline:?}");
}

#[tokio::test]
async fn the_task_graph_comes_from_the_pipeline_spec_with_skipped_and_finally_tasks() {
    let mut facts = fixture_facts(KONFLUX);
    facts.extend(fixture_facts("tekton/taskrun-v1beta1-pipeline-service-exporter-clone-repository-commit-url.yaml"));
    let q = r#"{ pipelineRun(namespace: "rhtapuser-tenant", name: "human-resources-on-pull-request-rlrj8") {
        pipelineTasks { name task runAfter usesResultsOf finally state skipReason taskRun { name status steps { name startedAt finishedAt } } }
        skippedTasks { name reason } } }"#;
    let data = agreed(&facts, q).await;
    let tasks = data["pipelineRun"]["pipelineTasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 14);
    assert_eq!(tasks.iter().filter(|t| t["finally"] == true).count(), 2);
    let by_name = |n: &str| tasks.iter().find(|t| t["name"] == n).unwrap_or_else(|| panic!("task {n}"));
    assert_eq!(by_name("clone-repository")["runAfter"], json!(["init"]));
    assert_eq!(by_name("clone-repository")["state"], "SUCCEEDED");
    let clone_steps = by_name("clone-repository")["taskRun"]["steps"].as_array().expect("observed TaskRun steps");
    assert!(clone_steps.iter().any(|s| s["startedAt"] == "2023-08-25T14:56:54+00:00"), "step times: {clone_steps:?}");
    let skipped: Vec<&str> =
        tasks.iter().filter(|t| t["state"] == "SKIPPED").map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped.contains(&"prefetch-dependencies"));
    assert_eq!(by_name("prefetch-dependencies")["skipReason"], "When Expressions evaluated to false");
    assert_eq!(data["pipelineRun"]["skippedTasks"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn systems_repositories_pipelines_and_search_answer_alike() {
    let q = format!(
        r#"{{ systems {{ name pipelineSummaries {{ namespace name runs succeeded failed successRate latestStatus latestRun {{ name }} }}
              currentImages {{ digest }} currentVulnerabilities {{ critical high total }} }}
             pipelines(namespace: "idec") {{ name runs byStatus {{ status runs }} }}
             repository(url: "https://github.com/joostvdg/ingress-dns-export-controller.git") {{ key
               pipelines {{ name }} commits(first: 3) {{ sha }} pipelineRuns(first: 2) {{ edges {{ node {{ name }} }} }} }}
             runSummary(filter: {{ namespace: "idec" }}) {{ total byStatus {{ status runs }} }}
             byRun: search(text: "idec/idec-image-builds-run-4cd23") {{ kind id }}
             byPipeline: search(text: "image-scan") {{ kind id }}
             byCommit: search(text: "{REPO_KEY}@c0ffee5") {{ kind id }}
             bySystem: search(text: "{REPO_KEY}") {{ kind }}
             nothing: search(text: "no-such-thing") {{ kind }} }}"#
    );
    let data = agreed(&seed_facts(), &q).await;
    let system = data["systems"].as_array().unwrap().iter().find(|s| s["name"] == REPO_KEY).expect("the seed system");
    let builds =
        system["pipelineSummaries"].as_array().unwrap().iter().find(|p| p["name"] == "idec-image-builds").unwrap();
    assert_eq!(builds["runs"], 5);
    assert_eq!(builds["succeeded"], 4);
    assert_eq!(builds["failed"], 1);
    assert_eq!(builds["successRate"], 0.8);
    assert_eq!(builds["latestRun"]["name"], "idec-image-builds-run-4cd23");
    assert!(!system["currentImages"].as_array().unwrap().is_empty(), "the newest build's image");
    assert_eq!(data["repository"]["key"], REPO_KEY);
    assert_eq!(data["repository"]["pipelineRuns"]["edges"][0]["node"]["name"], "idec-image-builds-run-4cd23");
    assert_eq!(data["runSummary"]["total"], 9);
    assert_eq!(data["byRun"], json!([{"kind": "PIPELINE_RUN", "id": "pipelinerun:idec/idec-image-builds-run-4cd23"}]));
    assert_eq!(data["byPipeline"], json!([{"kind": "PIPELINE", "id": "pipeline:idec/image-scan"}]));
    assert_eq!(
        data["byCommit"],
        json!([{"kind": "COMMIT", "id": format!("commit:{REPO_KEY}@c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f901")}])
    );
    assert!(data["bySystem"].as_array().unwrap().iter().any(|h| h["kind"] == "SYSTEM"));
    assert_eq!(data["nothing"], json!([]));
}

/// Walks the Neo4j graph with Cypher (cypher/check/image_commits.cypher) for every image and compares with what
/// GraphQL's `image.commit` answers: the read model must name a commit the graph reaches, and null only when the
/// graph reaches none — including TaskRuns whose own object names no owner but whose PipelineRun lists them.
#[tokio::test]
async fn image_commits_agree_with_a_cypher_walk_of_the_graph() {
    let walk = include_str!("../../cypher/check/image_commits.cypher");
    let engine = support::neo4j_engine(ProjectionConfig::default()).await;
    engine.store.apply(&all_fixture_facts()).await.expect("apply");
    let reader = Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.expect("connect");
    let images = reader
        .read_only("MATCH (i:Image) RETURN i.digest AS digest ORDER BY digest", Default::default())
        .await
        .expect("images");
    assert!(images.len() >= 5, "fixtures hold many images: {}", images.len());
    let schema = schema(&engine.store);
    let mut inherited = 0;
    for row in images {
        let digest = row["digest"].as_str().expect("digest").to_string();
        let params = json!({ "digest": digest }).as_object().cloned().unwrap_or_default();
        let reachable: Vec<(String, String)> = reader
            .read_only(walk, params)
            .await
            .expect("walk")
            .into_iter()
            .map(|r| {
                (
                    r["repository"].as_str().unwrap_or_default().to_string(),
                    r["sha"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let q = format!(
            r#"{{ image(digest: "{digest}") {{ commit {{ sha repository {{ key }} }} taskRun {{ name }} builtBy {{ name }} }} }}"#
        );
        let data = query(&schema, &q).await;
        let commit = &data["image"]["commit"];
        if reachable.is_empty() {
            assert!(commit.is_null(), "{digest}: GraphQL names {commit} but the graph reaches no commit");
        } else {
            let answer = (s(commit, "repository", "key"), commit["sha"].as_str().unwrap_or_default().to_string());
            assert!(reachable.contains(&answer), "{digest}: GraphQL {answer:?} is not among the graph's {reachable:?}");
            if data["image"]["builtBy"].is_object() && data["image"]["taskRun"].is_object() {
                inherited += 1;
            }
        }
    }
    assert!(inherited > 0, "some images get their commit through their TaskRun's PipelineRun");
}

fn s(v: &Value, a: &str, b: &str) -> String {
    v[a][b].as_str().unwrap_or_default().to_string()
}
