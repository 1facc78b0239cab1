//! No N+1: GraphQL resolvers batch their store reads. A store that counts its calls shows that a page of runs with
//! their commits, images and scans costs the same number of calls for 10 runs as for 100, and that a diff takes
//! four (the neighbourhood of both runs in one).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use graph_service::api::{CallerReads, build_schema};
use graph_service::model::{Edge, EdgeKind, NodeId, NodeKind, ProjectionConfig};
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::{
    ApplyStats, GraphStore, Neighbour, PipelinePlace, Result, RunCounts, RunFilter, RunPage, RunPosition, StoreCounts,
    SummaryRow, Visibility,
};
use serde_json::Value;
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::{RunFact, RunKey, RunKind};

/// Counts every read, by method.
struct CountingStore {
    inner: EmbeddedStore,
    calls: AtomicUsize,
    log: Mutex<Vec<&'static str>>,
}

impl CountingStore {
    fn note(&self, method: &'static str) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(method);
    }

    fn take(&self) -> (usize, Vec<&'static str>) {
        let log = std::mem::take(&mut *self.log.lock().unwrap_or_else(|p| p.into_inner()));
        (self.calls.swap(0, Ordering::SeqCst), log)
    }
}

#[async_trait]
impl GraphStore for CountingStore {
    async fn apply(&self, facts: &[RunFact]) -> Result<ApplyStats> {
        self.inner.apply(facts).await
    }
    async fn facts(&self, keys: &[RunKey]) -> Result<Vec<Option<RunFact>>> {
        self.note("facts");
        self.inner.facts(keys).await
    }
    async fn edges(&self, nodes: &[NodeId], kinds: Option<&[EdgeKind]>) -> Result<Vec<Edge>> {
        self.note("edges");
        self.inner.edges(nodes, kinds).await
    }
    async fn diff_neighbourhood(&self, runs: &[NodeId]) -> Result<Vec<Edge>> {
        self.note("diff_neighbourhood");
        self.inner.diff_neighbourhood(runs).await
    }
    async fn pipeline_runs(&self, filter: &RunFilter, after: Option<&RunPosition>, first: usize) -> Result<RunPage> {
        self.note("pipeline_runs");
        self.inner.pipeline_runs(filter, after, first).await
    }
    async fn neighbours(
        &self,
        places: &[PipelinePlace],
        which: Neighbour,
        visible: Option<&Visibility>,
    ) -> Result<Vec<Option<RunKey>>> {
        self.note("neighbours");
        self.inner.neighbours(places, which, visible).await
    }
    async fn existing(&self, nodes: &[NodeId]) -> Result<BTreeSet<NodeId>> {
        self.note("existing");
        self.inner.existing(nodes).await
    }
    async fn counts(&self) -> Result<StoreCounts> {
        self.note("counts");
        self.inner.counts().await
    }
    async fn run_counts(&self, visible: &Visibility) -> Result<RunCounts> {
        self.note("run_counts");
        self.inner.run_counts(visible).await
    }
    async fn run_summary(&self, filter: &RunFilter) -> Result<Vec<SummaryRow>> {
        self.note("run_summary");
        self.inner.run_summary(filter).await
    }
    async fn nodes(&self, kind: NodeKind, after: Option<&NodeId>, first: usize) -> Result<Vec<NodeId>> {
        self.note("nodes");
        self.inner.nodes(kind, after, first).await
    }
}

fn generated() -> Vec<RunFact> {
    let config = GenerateConfig { pipeline_runs: 150, repositories: 4, namespaces: 2, seed: 5, ..Default::default() };
    generate(&config).flat_map(|o| tekton_translate::translate_value(&o).expect("translate")).collect()
}

async fn counting(facts: &[RunFact]) -> Arc<CountingStore> {
    let store = CountingStore {
        inner: EmbeddedStore::in_memory(ProjectionConfig::default()),
        calls: AtomicUsize::new(0),
        log: Mutex::new(Vec::new()),
    };
    store.apply(facts).await.expect("apply");
    Arc::new(store)
}

async fn run(store: &Arc<CountingStore>, q: &str) -> (Value, usize, Vec<&'static str>) {
    let schema = build_schema(store.clone());
    store.take();
    let response = schema.execute(q).await;
    assert!(response.errors.is_empty(), "{q}: {:?}", response.errors);
    let (calls, log) = store.take();
    (response.data.into_json().expect("json"), calls, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_runs_with_commits_images_and_scans_costs_the_same_for_any_size() {
    let store = counting(&generated()).await;
    let mut costs = Vec::new();
    for first in [10, 50, 100] {
        let q = format!(
            "{{ pipelineRuns(first: {first}) {{ edges {{ node {{ commit {{ sha }} images {{ digest }} scans {{ critical }}
                previous {{ status }} next {{ name }} }} }} }} }}"
        );
        let (data, calls, log) = run(&store, &q).await;
        let edges = data["pipelineRuns"]["edges"].as_array().expect("edges");
        assert_eq!(edges.len(), first);
        // The newest runs are scans (no commit, no image of their own); builds follow.
        if first >= 50 {
            assert!(edges.iter().filter(|e| e["node"]["commit"]["sha"].is_string()).count() >= first / 4, "commits");
            assert!(edges.iter().any(|e| !e["node"]["images"].as_array().unwrap().is_empty()), "images found");
        }
        assert!(edges.iter().any(|e| !e["node"]["scans"].as_array().unwrap().is_empty()), "scans found");
        assert!(edges.iter().filter(|e| e["node"]["previous"]["status"].is_string()).count() >= first / 2, "previous");
        assert!(edges.iter().skip(first / 2).any(|e| e["node"]["next"]["name"].is_string()), "next");
        eprintln!("pipelineRuns(first: {first}): {calls} store calls {log:?}");
        costs.push((first, calls, log));
    }
    let (_, small, _) = &costs[0];
    for (first, calls, log) in &costs {
        assert_eq!(calls, small, "first: {first} took {calls} store calls ({log:?}), first: 10 took {small}");
        assert!(*calls <= 14, "a small constant: {calls} ({log:?})");
    }
}

/// The same page for scoped callers: a namespace scope and a System scope (the costliest: a run's System is one more
/// read) cost a fixed number of store calls whatever the page size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_page_costs_the_same_for_any_size() {
    let facts = generated();
    let store = counting(&facts).await;
    let namespace = facts[0].namespace.clone();
    let system = facts.iter().rev().find_map(|f| ProjectionConfig::default().system_of(f)).expect("a System");
    let scopes = [
        ("namespace", Visibility { namespaces: [namespace].into(), systems: Default::default() }),
        ("system", Visibility { namespaces: Default::default(), systems: [system].into() }),
    ];
    let inner: Arc<dyn GraphStore> = store.clone();
    for (name, visible) in scopes {
        let reads = CallerReads::of(&inner, Some(visible)).expect("scoped");
        let schema = build_schema(inner.clone());
        let mut costs = Vec::new();
        for first in [10, 20, 30] {
            let q = format!(
                "{{ pipelineRuns(first: {first}) {{ edges {{ node {{ commit {{ sha }} images {{ digest }} scans {{ critical }}
                    previous {{ status }} next {{ name }} }} }} }} }}"
            );
            store.take();
            let response = schema.execute(reads.clone().request(async_graphql::Request::new(&q))).await;
            assert!(response.errors.is_empty(), "{q}: {:?}", response.errors);
            let (calls, log) = store.take();
            let data = response.data.into_json().expect("json");
            let edges = data["pipelineRuns"]["edges"].as_array().expect("edges").len();
            assert_eq!(edges, first, "{name}: the scope has {first} runs");
            eprintln!("{name}: pipelineRuns(first: {first}): {calls} store calls {log:?}");
            costs.push(calls);
        }
        assert!(costs.iter().all(|c| *c == costs[0]), "{name}: {costs:?} store calls");
        // A namespace scope costs what no scope costs (the page test above); a System scope reads runs' Systems.
        let limit = if name == "namespace" { 14 } else { 24 };
        assert!(costs[0] <= limit, "{name}: a small constant: {costs:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diff_takes_four_store_calls() {
    let facts = generated();
    let store = counting(&facts).await;
    // Builds with a previous run, an image and a scan of it: the whole diff is exercised.
    let builds: Vec<&RunFact> = facts
        .iter()
        .filter(|f| f.kind == RunKind::PipelineRun && !f.supply_chain.images.is_empty())
        .skip(20)
        .take(5)
        .collect();
    assert_eq!(builds.len(), 5);
    for build in builds {
        let q = format!(
            r#"{{ diff(namespace: "{}", name: "{}") {{ base {{ name }} commitChanged statusChanged durationDeltaSeconds
                commits {{ before {{ sha author }} after {{ sha author }} }} params {{ key }} results {{ key }}
                tasks {{ pipelineTask change durationDeltaSeconds }} images {{ added removed unchanged }}
                scans {{ before {{ critical high }} after {{ critical high }} delta {{ critical high }} }} }} }}"#,
            build.namespace, build.name
        );
        let (data, calls, log) = run(&store, &q).await;
        let diff = &data["diff"];
        assert!(diff["base"]["name"].is_string(), "{}: has a previous run", build.name);
        assert!(!diff["tasks"].as_array().unwrap().is_empty(), "tasks compared");
        assert!(diff["commits"]["after"]["sha"].is_string(), "commit read");
        eprintln!("diff {}: {calls} store calls {log:?}", build.name);
        // The head, its previous run, the neighbourhood of both in one call, their facts.
        assert_eq!(log, ["facts", "neighbours", "diff_neighbourhood", "facts"], "{}: {calls} store calls", build.name);
    }
}
