//! The plans Neo4j makes for the apply statements, read with EXPLAIN from the real server (its HTTP API returns the
//! plan tree). The load and replay path must plan without `Eager` (which holds the whole batch between two
//! operators) and every statement must find nodes by seeking the id index: no label, index or store scans. A
//! statement rewritten in a way that brings one back fails here.

mod support;

use graph_service::model::ProjectionConfig;
use graph_service::store::neo4j::{APPLY_STATEMENTS, strip_comments};
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

async fn explain(client: &reqwest::Client, statement: &str) -> Vec<String> {
    let reply = run(client, &format!("EXPLAIN {}", strip_comments(statement))).await;
    let mut out = Vec::new();
    operators(&reply["results"][0]["plan"]["root"], &mut out);
    assert!(out.len() > 1, "no plan came back: {reply}");
    out
}

#[tokio::test]
async fn the_apply_statements_plan_without_eager_or_scans() {
    // A store with the schema (the id constraint) and a few thousand runs, so the planner's statistics look like a
    // real store's (on a handful of nodes it may pick any plan), and no plan cached from other statistics.
    let engine = support::neo4j_engine(ProjectionConfig::default()).await;
    let config = GenerateConfig { pipeline_runs: 300, ..GenerateConfig::default() };
    let facts: Vec<RunFact> = generate(&config)
        .flat_map(|object| tekton_translate::translate_value(&object).expect("generated objects translate"))
        .collect();
    for batch in facts.chunks(500) {
        engine.store.apply(batch).await.expect("apply");
    }
    let client = reqwest::Client::new();
    run(&client, "CALL db.clearQueryCaches()").await;
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
