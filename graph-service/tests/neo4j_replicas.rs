//! Two graph-service replicas on one Neo4j: each its own connection pool and ingestor, as two processes would be.
//! One run's CDEvents reaching both replicas at the same moment must end joined, not one overwriting the other.

mod support;

use std::sync::Arc;

use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::store::neo4j::Neo4jStore;
use tekton_graph_schema::RunFact;
use tekton_graph_schema::merge::merge_observations;
use tokio::sync::Barrier;

const RUNS: usize = 60;
const BATCH: usize = 5;

async fn replica() -> Ingestor {
    let store = Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.expect("connect");
    Ingestor::new(Arc::new(store))
}

/// The fixture's event, renamed to run `i`.
fn of_run(fact: &RunFact, i: usize) -> RunFact {
    let mut fact = fact.clone();
    fact.name = format!("replicated-{i}");
    fact
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_runs_cdevents_sent_to_two_replicas_at_once_are_joined() {
    let engine = support::neo4j_engine(ProjectionConfig::default()).await;
    let started = support::cdevent_fact("cdevent-v0.4.1-pipelinerun-started.json");
    let finished = support::cdevent_fact("cdevent-v0.4.1-pipelinerun-finished-failure.json");
    let starts: Vec<RunFact> = (0..RUNS).map(|i| of_run(&started, i)).collect();
    let finishes: Vec<RunFact> = (0..RUNS).map(|i| of_run(&finished, i)).collect();

    // Both replicas send batch k at the same moment: batch k of one holds the other event of the same runs.
    let (a, b) = (Arc::new(replica().await), Arc::new(replica().await));
    let barrier = Arc::new(Barrier::new(2));
    let send = |replica: Arc<Ingestor>, facts: Vec<RunFact>| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            let mut applied = 0;
            for batch in facts.chunks(BATCH) {
                barrier.wait().await;
                applied += replica.apply(batch).await.expect("apply").applied;
            }
            applied
        })
    };
    let (from_a, from_b) = (send(a, starts.clone()), send(b, finishes.clone()));
    let (from_a, from_b) = (from_a.await.expect("replica a"), from_b.await.expect("replica b"));
    assert_eq!(from_a + from_b, 2 * RUNS, "each event added to its run on whichever replica took it");

    let keys: Vec<_> = starts.iter().map(RunFact::key).collect();
    let stored = engine.store.facts(&keys).await.expect("facts");
    for ((start, finish), stored) in starts.iter().zip(&finishes).zip(stored) {
        let expected = merge_observations(start, finish);
        assert_eq!(stored.as_ref(), Some(&expected), "run {}: both events joined", start.name);
    }
    let counts = engine.store.counts().await.expect("counts");
    assert_eq!(counts.pipeline_runs, RUNS, "{counts:?}");
}
