//! Neo4j-only: stored data the store cannot read fails loudly, as a permanent error, instead of being skipped —
//! skipping a stored fact it must replace would leave that fact's edges in the graph for ever.

mod support;

use graph_service::model::{NodeId, ProjectionConfig};
use graph_service::store::StoreError;
use graph_service::store::neo4j::Neo4jStore;
use neo4rs::query;
use tekton_graph_schema::RunFact;

/// A later observation of `fact`: it replaces the stored one.
fn newer(fact: &RunFact) -> RunFact {
    let mut next = fact.clone();
    let version: u64 = fact.resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
    next.resource_version = Some((version + 1_000_000).to_string());
    next
}

/// The fact JSON stored on a run node, read with plain Cypher; a failed read fails the test.
async fn stored_fact(graph: &neo4rs::Graph, id: &str) -> Option<String> {
    let statement = query("MATCH (r:Node {id: $id}) RETURN r.fact AS fact").param("id", id);
    let mut rows = graph.execute(statement).await.expect("read the run node");
    let row = rows.next().await.expect("a row").expect("the run node exists");
    row.get::<Option<String>>("fact").expect("`fact` is a string or null")
}

#[tokio::test]
async fn a_stored_fact_that_cannot_be_read_fails_the_batch_as_permanent_and_writes_nothing() {
    let engine = support::neo4j_engine(ProjectionConfig::default()).await;
    let facts = support::seed_facts();
    engine.store.apply(&facts).await.expect("apply the seed");
    let reader = Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.expect("connect");
    let graph = reader.graph();

    let (victim, bystander) = (&facts[0], &facts[1]);
    let victim_id = NodeId::run(&victim.key()).0;
    graph
        .run(query("MATCH (r:Node {id: $id}) SET r.fact = '{not json'").param("id", victim_id.as_str()))
        .await
        .expect("corrupt the stored fact");
    let bystander_id = NodeId::run(&bystander.key()).0;
    let bystander_before = stored_fact(graph, &bystander_id).await.expect("the bystander's fact");
    let counts_before = engine.store.counts().await.expect("counts");

    let mut later_bystander = newer(bystander);
    later_bystander.labels.insert("changed".into(), "yes".into());
    let error = engine.store.apply(&[later_bystander, newer(victim)]).await.expect_err("the victim cannot be replaced");
    match &error {
        StoreError::Corrupt { key, reason } => {
            assert_eq!(key, &victim_id, "the error names the run: {error}");
            assert!(reason.contains("key must be a string"), "the JSON error: {reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(error.is_permanent(), "retrying cannot read the fact: a queue source must dead-letter it");

    assert_eq!(stored_fact(graph, &bystander_id).await.as_deref(), Some(bystander_before.as_str()), "nothing written");
    assert_eq!(engine.store.counts().await.expect("counts"), counts_before, "nothing half-written");
    let read = engine.store.facts(&[victim.key()]).await.expect_err("reading the fact fails too");
    assert!(matches!(read, StoreError::Corrupt { .. }), "{read:?}");
}
