//! The plans Neo4j makes for the apply statements, read with EXPLAIN from the real server (its HTTP API returns the
//! plan tree). The load and replay path must plan without `Eager` (which holds the whole batch between two
//! operators) and every statement must find nodes by seeking the id index: no label, index or store scans. A
//! statement rewritten in a way that brings one back fails here. The listing reads must walk their index in order
//! and stop at their limit, and the run summary must take its values from its index (and a store written before
//! that index gets the index's properties when the service starts).

mod support;

use graph_service::model::ProjectionConfig;
use graph_service::store::neo4j::{APPLY_STATEMENTS, Neo4jStore, strip_comments};
use graph_service::store::{GraphStore, RunFilter};
use serde_json::{Value, json};
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::RunFact;

/// Operators that read a whole label, index or store instead of seeking the rows' ids.
const SCANS: [&str; 4] = ["AllRelationshipsScan", "LabelScan", "NodeIndexScan", "AllNodesScan"];

/// Operator names of a plan tree, root first (`Expand(Into)@neo4j` → `Expand(Into)`).
fn operators(plan: &Value, out: &mut Vec<String>) {
    let name = plan["operatorType"].as_str().unwrap_or("?");
    out.push(name.split('@').next().unwrap_or(name).to_string());
    for child in plan["children"].as_array().into_iter().flatten() {
        operators(child, out);
    }
}

async fn run(client: &reqwest::Client, statement: &str) -> Value {
    let base = std::env::var("NEO4J_HTTP_URL").expect("NEO4J_HTTP_URL (eval \"$(scripts/services.sh env)\")");
    let password = std::env::var("NEO4J_PASSWORD").expect("NEO4J_PASSWORD");
    let body = json!({ "statements": [{ "statement": statement }] });
    let reply: Value = client
        .post(format!("{base}/db/neo4j/tx/commit"))
        .basic_auth("neo4j", Some(password))
        .json(&body)
        .send()
        .await
        .expect("Neo4j HTTP API")
        .json()
        .await
        .expect("a JSON reply");
    assert_eq!(reply["errors"], json!([]), "{statement}");
    reply
}

/// Every operator's details (`RANGE INDEX r:PipelineRun(sortMillis) WHERE …`), root first.
fn details(plan: &Value, out: &mut Vec<String>) {
    out.push(plan["Details"].as_str().unwrap_or_default().to_string());
    for child in plan["children"].as_array().into_iter().flatten() {
        details(child, out);
    }
}

async fn explain_plan(client: &reqwest::Client, statement: &str) -> Value {
    let mut reply = run(client, &format!("EXPLAIN {}", strip_comments(statement))).await;
    reply["results"][0]["plan"]["root"].take()
}

async fn explain(client: &reqwest::Client, statement: &str) -> Vec<String> {
    let plan = explain_plan(client, statement).await;
    let mut out = Vec::new();
    operators(&plan, &mut out);
    assert!(out.len() > 1, "no plan came back: {plan}");
    out
}

/// A store with the schema and a few thousand runs, so the planner's statistics look like a real store's (on a
/// handful of nodes it may pick any plan), and no plan cached from other statistics.
async fn loaded_engine() -> (support::Engine, reqwest::Client) {
    let engine = support::neo4j_engine(ProjectionConfig::default()).await;
    let config = GenerateConfig { pipeline_runs: 300, ..GenerateConfig::default() };
    let facts: Vec<RunFact> = generate(&config)
        .flat_map(|object| tekton_translate::translate_value(&object).expect("generated objects translate"))
        .collect();
    for batch in facts.chunks(500) {
        engine.store.apply(batch).await.expect("apply");
    }
    let client = reqwest::Client::new();
    // Fresh index statistics (sampled after the load, not before it) and no cached plan.
    run(&client, "CALL db.prepareForReplanning()").await;
    (engine, client)
}

/// Reads that return the first rows of an order: a `Top` or `Sort` reads every matching row before the first one
/// comes out (the previous-run read did that: 420k rows for 50 runs at 200k runs); `PartialTop` is fed in order.
const ORDERED_READS: [(&str, &str); 4] = [
    ("read/previous_runs.cypher", include_str!("../../cypher/read/previous_runs.cypher")),
    ("read/next_runs.cypher", include_str!("../../cypher/read/next_runs.cypher")),
    ("read/pipeline_runs.cypher", include_str!("../../cypher/read/pipeline_runs.cypher")),
    ("read/pipeline_runs_of_pipeline.cypher", include_str!("../../cypher/read/pipeline_runs_of_pipeline.cypher")),
];

fn sorts_everything(plan: &[String]) -> bool {
    plan.iter().any(|op| op == "Top" || op == "Sort")
}

#[tokio::test]
async fn the_apply_statements_plan_without_eager_or_scans() {
    let (_engine, client) = loaded_engine().await;
    let mut failures = Vec::new();
    for (file, statement, may_eager) in APPLY_STATEMENTS {
        let plan = explain(&client, statement).await;
        let scans: Vec<&String> = plan.iter().filter(|op| SCANS.iter().any(|scan| op.contains(scan))).collect();
        if !scans.is_empty() {
            failures.push(format!("{file} scans ({scans:?}): {}", plan.join(" <- ")));
        }
        if !may_eager && plan.iter().any(|op| op == "Eager") {
            failures.push(format!("{file} plans Eager: {}", plan.join(" <- ")));
        }
        if !plan.iter().any(|op| op.starts_with("NodeUniqueIndexSeek")) {
            failures.push(format!("{file} does not seek the id index: {}", plan.join(" <- ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_listing_reads_walk_their_index_in_order_and_the_summary_reads_only_its_index() {
    let (_engine, client) = loaded_engine().await;
    let mut failures = Vec::new();
    for (file, statement) in ORDERED_READS {
        let plan = explain(&client, statement).await;
        if sorts_everything(&plan) {
            failures.push(format!("{file} sorts every matching run: {}", plan.join(" <- ")));
        }
    }
    let summary = explain_plan(&client, include_str!("../../cypher/read/run_summary.cypher")).await;
    let (mut ops, mut texts) = (Vec::new(), Vec::new());
    operators(&summary, &mut ops);
    details(&summary, &mut texts);
    if !texts.iter().any(|d| d.contains("RANGE INDEX r:PipelineRun(sortMillis, namespace, summaryPipeline")) {
        failures.push(format!("run_summary.cypher does not seek pipelinerun_summary: {texts:?}"));
    }
    if ops.iter().any(|op| op == "CacheProperties") {
        failures.push(format!("run_summary.cypher reads properties from the store: {}", ops.join(" <- ")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The order check sees what it claims to: the previous-run read as it was, ordered by (sortMillis, name) alone,
/// sorts every earlier run of the pipeline.
#[tokio::test]
async fn the_order_check_catches_the_former_previous_run_read() {
    let (_engine, client) = loaded_engine().await;
    let (file, current) = ORDERED_READS[0];
    let former = current.replace(
        "ORDER BY r.namespace DESC, r.pipeline DESC, r.sortMillis DESC, r.name DESC",
        "ORDER BY r.sortMillis DESC, r.name DESC",
    );
    assert_ne!(former, current, "{file} no longer has the ORDER BY this test rewrites");
    let plan = explain(&client, &former).await;
    assert!(sorts_everything(&plan), "{plan:?}");
}

/// The check above sees what it claims to: the statements this store used before this test existed planned Eager
/// and an all-relationships scan on the same server.
#[tokio::test]
async fn the_plan_check_catches_the_former_edge_statement() {
    let _engine = support::neo4j_engine(ProjectionConfig::default()).await;
    let former = "UNWIND $rows AS row
        MERGE (a:Node {id: row.from}) ON CREATE SET a += row.fromProps
        SET a:$(row.fromLabel)
        MERGE (b:Node {id: row.to}) ON CREATE SET b += row.toProps
        SET b:$(row.toLabel)
        MERGE (a)-[e:$(row.kind)]->(b) ON CREATE SET e.count = 0
        SET e.count = e.count + row.n";
    let plan = explain(&reqwest::Client::new(), former).await;
    assert!(plan.iter().any(|op| op == "Eager"), "{plan:?}");
}

/// Run nodes written before the summary index lack its two properties; connecting runs the schema, which adds them,
/// so the summary of such a store counts every run again.
#[tokio::test]
async fn a_store_written_before_the_summary_index_is_summarized_after_a_restart() {
    let engine = support::neo4j_engine(ProjectionConfig::default()).await;
    engine.store.apply(&support::seed_facts()).await.expect("apply");
    let before = engine.store.run_summary(&RunFilter::default()).await.expect("summary");
    assert!(before.iter().map(|r| r.runs).sum::<usize>() >= 9, "{before:?}");
    let client = reqwest::Client::new();
    run(&client, "MATCH (r:PipelineRun) REMOVE r.summaryPipeline, r.summaryDuration").await;
    let stripped = engine.store.run_summary(&RunFilter::default()).await.expect("summary");
    assert!(stripped.is_empty(), "the index no longer holds the runs: {stripped:?}");
    let restarted =
        Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.expect("connect");
    let after = restarted.run_summary(&RunFilter::default()).await.expect("summary");
    assert_eq!(after, before);
}
