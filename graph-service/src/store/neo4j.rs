//! The Neo4j store (production): the same contract as the embedded store, in Cypher over Bolt (neo4rs).
//!
//! Every statement lives in `cypher/` and takes parameters only. An apply is one transaction: read the stored
//! observation keys of the batch's runs without locking (runs already as new are skipped: a replay only reads),
//! create the runs nobody has observed whole and lock the others, read the stored facts of the runs it replaces,
//! keep only newer observations (the same order as the embedded store, as an order key string that Cypher compares
//! too), upsert the replaced runs, create missing edge ends, create the edges of nodes it created and merge the
//! others (edges count their contributors), withdraw replaced contributions and delete nodes left with nothing.
//! Each statement plans without Eager or scans (`tests/neo4j_plans.rs`). Transient failures (deadlocks, leader
//! changes, lost connections) retry the whole transaction with backoff.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use neo4rs::{BoltType, ConfigBuilder, Graph, Query, Txn};
use serde_json::{Map, Value, json};
use tekton_graph_schema::{Outcome, RunFact, RunKey, RunKind};

use super::{
    ApplyStats, GraphStore, LISTED_KINDS, Neighbour, PipelinePlace, Result, RunCounts, RunFilter, RunPage, RunPosition,
    StoreCounts, StoreError, SummaryRow, Visibility, observe,
};
use crate::model::{Edge, EdgeKind, NodeId, NodeKind, ProjectionConfig, project};

/// Constraints and indexes, applied at start-up.
pub const SCHEMA: &str = include_str!("../../../cypher/schema/001_constraints.cypher");
const LOCK_RUNS: &str = include_str!("../../../cypher/write/lock_runs.cypher");
const UPSERT_RUNS: &str = include_str!("../../../cypher/write/upsert_runs.cypher");
const CREATE_NODES: &str = include_str!("../../../cypher/write/create_nodes.cypher");
const CREATE_RUNS: &str = include_str!("../../../cypher/write/create_runs.cypher");
const CREATE_EDGES: &str = include_str!("../../../cypher/write/create_edges.cypher");
const READ_CREATED: &str = include_str!("../../../cypher/read/created.cypher");
const ADD_EDGES: &str = include_str!("../../../cypher/write/add_edges.cypher");
const REMOVE_EDGES: &str = include_str!("../../../cypher/write/remove_edges.cypher");
const DELETE_ORPHANS: &str = include_str!("../../../cypher/write/delete_orphans.cypher");
const READ_OBSERVATIONS: &str = include_str!("../../../cypher/read/observations.cypher");
const READ_FACTS: &str = include_str!("../../../cypher/read/facts.cypher");
const READ_OUTCOMES: &str = include_str!("../../../cypher/read/outcomes.cypher");
const READ_EDGES: &str = include_str!("../../../cypher/read/edges.cypher");
const READ_DIFF_NEIGHBOURHOOD: &str = include_str!("../../../cypher/read/diff_neighbourhood.cypher");
const READ_EXISTING: &str = include_str!("../../../cypher/read/existing.cypher");
const READ_COUNTS: &str = include_str!("../../../cypher/read/counts.cypher");
const READ_PIPELINE_RUNS: &str = include_str!("../../../cypher/read/pipeline_runs.cypher");
const READ_PIPELINE_RUNS_OF_PIPELINE: &str = include_str!("../../../cypher/read/pipeline_runs_of_pipeline.cypher");
const READ_PREVIOUS_RUNS: &str = include_str!("../../../cypher/read/previous_runs.cypher");
const READ_NEXT_RUNS: &str = include_str!("../../../cypher/read/next_runs.cypher");
const READ_RUN_SUMMARY: &str = include_str!("../../../cypher/read/run_summary.cypher");
const READ_RUN_COUNTS: &str = include_str!("../../../cypher/read/run_counts.cypher");
const READ_NODES: &str = include_str!("../../../cypher/read/nodes.cypher");

/// Every statement an apply runs, by file, with whether its plan may hold an `Eager` operator: the load and replay
/// path must not (Eager materializes the whole batch between operators), the two statements that delete do (a
/// delete must not race the reads of later rows) and run only when a batch replaces runs. `tests/neo4j_plans.rs`
/// checks the plans.
pub const APPLY_STATEMENTS: [(&str, &str, bool); 11] = [
    ("read/observations.cypher", READ_OBSERVATIONS, false),
    ("write/create_runs.cypher", CREATE_RUNS, false),
    ("read/created.cypher", READ_CREATED, false),
    ("write/create_edges.cypher", CREATE_EDGES, false),
    ("write/lock_runs.cypher", LOCK_RUNS, false),
    ("read/facts.cypher", READ_FACTS, false),
    ("write/upsert_runs.cypher", UPSERT_RUNS, false),
    ("write/create_nodes.cypher", CREATE_NODES, false),
    ("write/add_edges.cypher", ADD_EDGES, false),
    ("write/remove_edges.cypher", REMOVE_EDGES, true),
    ("write/delete_orphans.cypher", DELETE_ORPHANS, true),
];

/// How to reach Neo4j. The password comes from the environment or a file, never from the repository.
#[derive(Debug, Clone)]
pub struct Neo4jConfig {
    /// `bolt://host:port` or `neo4j://host:port`; `neo4j+s://` / `bolt+s://` for TLS.
    pub uri: String,
    pub user: String,
    pub password: String,
    /// Database name; the server's default when unset.
    pub database: Option<String>,
    pub max_connections: usize,
    /// PEM file of the CA that signed the server's certificate, for `neo4j+s://` and `bolt+s://` (else the
    /// platform's roots).
    pub ca_file: Option<std::path::PathBuf>,
}

/// How many times a transaction is tried before the error is returned.
const MAX_ATTEMPTS: u32 = 8;

pub struct Neo4jStore {
    graph: Graph,
    config: ProjectionConfig,
}

fn engine(e: neo4rs::Error) -> StoreError {
    StoreError::Engine(format!("neo4j: {e}"))
}

/// Why one transaction failed: Neo4j's error, or our own reading of what it returned.
enum TxError {
    Neo4j(neo4rs::Error),
    Store(StoreError),
}

impl From<neo4rs::Error> for TxError {
    fn from(e: neo4rs::Error) -> Self {
        TxError::Neo4j(e)
    }
}

/// Errors worth retrying: lost connections and Neo4j's transient class (deadlocks, leader switches).
fn is_transient(e: &neo4rs::Error) -> bool {
    use neo4rs::Error as E;
    match e {
        // A refused TLS handshake (an unknown CA, a wrong name) surfaces as invalid data: retrying cannot help.
        E::IOError { detail } => detail.kind() != std::io::ErrorKind::InvalidData,
        E::ConnectionError | E::ConnectionTimedOut => true,
        E::ServerUnavailableError(_) | E::RoutingTableRefreshFailed(_) => true,
        E::Neo4j(n) => n.code().starts_with("Neo.TransientError"),
        _ => false,
    }
}

impl Neo4jStore {
    /// Connects, then applies the schema (idempotently). Retries while the server is starting.
    pub async fn connect(settings: &Neo4jConfig, config: ProjectionConfig) -> Result<Self> {
        let mut builder = ConfigBuilder::default()
            .uri(settings.uri.as_str())
            .user(settings.user.as_str())
            .password(settings.password.as_str())
            .max_connections(settings.max_connections)
            .fetch_size(1000);
        if let Some(db) = &settings.database {
            builder = builder.db(db.as_str());
        }
        if let Some(ca) = &settings.ca_file {
            if !ca.is_file() {
                return Err(StoreError::Engine(format!("the Neo4j CA file {} cannot be read", ca.display())));
            }
            builder = builder.with_client_certificate(ca);
        }
        let graph = Graph::connect(builder.build().map_err(engine)?).map_err(engine)?;
        let store = Neo4jStore { graph, config };
        store.apply_schema().await?;
        Ok(store)
    }

    async fn apply_schema(&self) -> Result<()> {
        let schema = strip_comments(SCHEMA);
        for statement in schema.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string) {
            self.retrying(|| async { Ok::<_, TxError>(self.graph.run(Query::new(statement.clone())).await?) }).await?;
        }
        Ok(())
    }

    /// Deletes everything (tests and benchmarks only), 10k nodes per statement: one statement over a store of 1.5M
    /// nodes outlasted the connection (`connection timed out`).
    pub async fn clear(&self) -> Result<()> {
        let q = "MATCH (n) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS deleted";
        loop {
            let mut stream = self.graph.execute(Query::new(q.to_string())).await.map_err(engine)?;
            let mut deleted = 0i64;
            while let Some(row) = stream.next().await.map_err(engine)? {
                deleted = row.get("deleted").map_err(|e| corrupt("clear", e))?;
            }
            if deleted == 0 {
                return Ok(());
            }
        }
    }

    /// The underlying driver (for the read-only Cypher endpoint and benchmarks).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs a user's statement in a READ transaction: Neo4j itself refuses writes. Rows come back as JSON objects.
    pub async fn read_only(&self, statement: &str, params: Map<String, Value>) -> Result<Vec<Value>> {
        let query = with_params(statement, Value::Object(params))?;
        let mut stream = self.graph.execute_read(query).await.map_err(engine)?;
        let mut rows = Vec::new();
        while let Some(row) = stream.next().await.map_err(engine)? {
            rows.push(row.to::<Value>().map_err(|e| StoreError::Engine(format!("cannot convert a row: {e}")))?);
        }
        Ok(rows)
    }

    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, TxError>>,
    {
        let mut delay = Duration::from_millis(100);
        for tries in 1.. {
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(TxError::Neo4j(e)) if is_transient(&e) && tries < MAX_ATTEMPTS => {
                    tracing::warn!(error = %e, tries, "neo4j transient failure; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(TxError::Neo4j(e)) => return Err(engine(e)),
                Err(TxError::Store(e)) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }

    async fn rows(&self, statement: &str, params: Value) -> Result<Vec<neo4rs::Row>> {
        let query = with_params(statement, params)?;
        self.retrying(|| async {
            let mut stream = self.graph.execute_read(query.clone()).await?;
            let mut rows = Vec::new();
            while let Some(row) = stream.next().await? {
                rows.push(row);
            }
            Ok::<_, TxError>(rows)
        })
        .await
    }

    async fn apply_once(&self, best: &[&RunFact]) -> std::result::Result<usize, TxError> {
        let started = std::time::Instant::now();
        let mut txn = self.graph.start_txn().await?;
        // Read first, without locks: runs whose stored observation is already as new are neither locked nor
        // written (stored observations only ever get newer), so a replay is reads only.
        let ids: Vec<String> = best.iter().map(|f| NodeId::run(&f.key()).0).collect();
        let stored = observation_keys(&mut txn, READ_OBSERVATIONS, json!({ "ids": ids })).await?;
        let candidates: Vec<&RunFact> = best.iter().copied().filter(|fact| may_write(fact, &stored)).collect();
        if candidates.is_empty() {
            txn.rollback().await?;
            return Ok(0);
        }
        // Runs nobody had observed are created whole in one write; the others are locked, and so is any of the
        // former that exists by now. Both statements take the run locks in run order.
        let (fresh, known): (Vec<&RunFact>, Vec<&RunFact>) =
            candidates.iter().partition(|fact| !stored.contains_key(&NodeId::run(&fact.key()).0));
        // Nodes this transaction creates carry its token, so it can tell them from nodes another writer made.
        let token = format!("{:032x}", rand::random::<u128>());
        let mut observations = HashMap::new();
        let mut created = BTreeSet::new();
        if !fresh.is_empty() {
            let rows: Vec<Value> =
                fresh.iter().map(|f| run_row(&NodeId::run(&f.key()), f, f.observation_key())).collect();
            txn.run(param_query(CREATE_RUNS, json!({ "rows": rows, "token": token }))?).await?;
            let ids: Vec<String> = fresh.iter().map(|f| NodeId::run(&f.key()).0).collect();
            let (made, found) = created_nodes(&mut txn, &ids, &token).await?;
            created = made;
            observations.extend(found);
        }
        if !known.is_empty() {
            let locks: Vec<Value> =
                known.iter().map(|f| json!({ "id": NodeId::run(&f.key()).0, "label": f.kind.as_str() })).collect();
            observations.extend(observation_keys(&mut txn, LOCK_RUNS, json!({ "rows": locks })).await?);
        }
        let replaced = read_replaced(&mut txn, &candidates, &observations).await?;
        let locked = started.elapsed();
        let plan = WritePlan::build(&candidates, &observations, &replaced, &created, &self.config);
        let planned = started.elapsed();
        if !plan.removed.is_empty() {
            txn.run(param_query(REMOVE_EDGES, json!({ "rows": plan.removed }))?).await?;
        }
        if !plan.runs.is_empty() {
            txn.run(param_query(UPSERT_RUNS, json!({ "rows": plan.runs }))?).await?;
        }
        if !plan.nodes.is_empty() {
            txn.run(param_query(CREATE_NODES, json!({ "rows": plan.nodes, "token": token }))?).await?;
            let ids: Vec<String> = plan.nodes.iter().filter_map(|node| node["id"].as_str().map(String::from)).collect();
            created.extend(created_nodes(&mut txn, &ids, &token).await?.0);
        }
        let upserted = started.elapsed();
        // An edge with an end created here cannot exist yet: it is created, not merged.
        let (new_edges, more_edges): (Vec<&Value>, Vec<&Value>) = plan.added.iter().partition(|row| {
            let end = |key: &str| row[key].as_str().is_some_and(|id| created.contains(id));
            end("from") || end("to")
        });
        if !new_edges.is_empty() {
            txn.run(param_query(CREATE_EDGES, json!({ "rows": new_edges }))?).await?;
        }
        if !more_edges.is_empty() {
            txn.run(param_query(ADD_EDGES, json!({ "rows": more_edges }))?).await?;
        }
        let edged = started.elapsed();
        if !plan.touched.is_empty() {
            let touched: Vec<&String> = plan.touched.iter().collect();
            txn.run(param_query(DELETE_ORPHANS, json!({ "ids": touched }))?).await?;
        }
        txn.commit().await?;
        let written = candidates.len() - plan.skipped;
        tracing::debug!(
            written,
            upserted = plan.runs.len(),
            skipped = best.len() - written,
            nodes = plan.nodes.len(),
            edges_created = new_edges.len(),
            edges_merged = more_edges.len(),
            ?locked,
            ?planned,
            ?upserted,
            ?edged,
            total = ?started.elapsed(),
            "neo4j apply"
        );
        Ok(written)
    }
}

/// Which of the nodes `create_runs.cypher` or `create_nodes.cypher` was given this transaction created, and the
/// stored observation key of the others that have one (runs that existed already, and are now locked).
async fn created_nodes(
    txn: &mut Txn,
    ids: &[String],
    token: &str,
) -> std::result::Result<(BTreeSet<String>, HashMap<String, String>), TxError> {
    let mut stream = txn.execute(param_query(READ_CREATED, json!({ "ids": ids, "token": token }))?).await?;
    let (mut created, mut found) = (BTreeSet::new(), HashMap::new());
    while let Some(row) = stream.next(txn.handle()).await? {
        let id = row.get::<String>("id").map_err(|e| TxError::Store(corrupt("a created node", e)))?;
        if row.get::<bool>("created").map_err(|e| TxError::Store(corrupt(&id, e)))? {
            created.insert(id);
        } else if let Some(key) =
            row.get::<Option<String>>("observation").map_err(|e| TxError::Store(corrupt(&id, e)))?
        {
            found.insert(id, key);
        }
    }
    Ok((created, found))
}

/// Whether a fact may change its run, judged by the stored observation keys: a run with none, a newer observation,
/// or a CDEvent observation (which may be joined with the stored one into a newer one).
fn may_write(fact: &RunFact, stored: &HashMap<String, String>) -> bool {
    match stored.get(&NodeId::run(&fact.key()).0) {
        None => true,
        Some(old_key) => observe::is_cdevent(fact) || fact.observation_key() > *old_key,
    }
}

/// A statement without its `//` comment lines.
pub fn strip_comments(statement: &str) -> String {
    statement.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n").trim().to_string()
}

fn bolt(value: Value) -> std::result::Result<BoltType, neo4rs::Error> {
    BoltType::try_from(value).map_err(|e| neo4rs::Error::UnexpectedMessage(format!("parameter: {e}")))
}

fn param_query(statement: &str, params: Value) -> std::result::Result<Query, neo4rs::Error> {
    let Value::Object(map) = params else { return Err(neo4rs::Error::InvalidConfig) };
    let mut query = Query::new(statement.to_string());
    for (key, value) in map {
        query = query.param(&key, bolt(value)?);
    }
    Ok(query)
}

fn with_params(statement: &str, params: Value) -> Result<Query> {
    param_query(statement, params).map_err(engine)
}

/// Runs a statement returning `id, observation` rows and collects the stored observation key of the runs that
/// have one (a node that only an edge made, e.g. the run another one reran, has none): the unlocked read, and the
/// lock of the batch's runs.
async fn observation_keys(
    txn: &mut Txn,
    statement: &str,
    params: Value,
) -> std::result::Result<HashMap<String, String>, TxError> {
    let mut stream = txn.execute(param_query(statement, params)?).await?;
    let mut out = HashMap::new();
    while let Some(row) = stream.next(txn.handle()).await? {
        let id = row.get::<String>("id").map_err(|e| TxError::Store(corrupt("a stored run", e)))?;
        let observation = row.get::<Option<String>>("observation").map_err(|e| TxError::Store(corrupt(&id, e)))?;
        if let Some(observation) = observation {
            out.insert(id, observation);
        }
    }
    Ok(out)
}

/// The stored facts of the locked runs the batch must read: those it replaces (a newer observation) and those it
/// may join (a CDEvent observation). A run that has an observation must have its fact, or it is corrupt.
async fn read_replaced(
    txn: &mut Txn,
    best: &[&RunFact],
    observations: &HashMap<String, String>,
) -> std::result::Result<HashMap<String, RunFact>, TxError> {
    let wanted: Vec<String> = best
        .iter()
        .filter(|fact| may_write(fact, observations))
        .filter_map(|fact| {
            let id = NodeId::run(&fact.key()).0;
            observations.contains_key(&id).then_some(id)
        })
        .collect();
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut stream = txn.execute(param_query(READ_FACTS, json!({ "ids": wanted }))?).await?;
    while let Some(row) = stream.next(txn.handle()).await? {
        let id = row.get::<String>("id").map_err(|e| TxError::Store(corrupt("a stored fact", e)))?;
        let json = row.get::<String>("fact").map_err(|e| TxError::Store(corrupt(&id, e)))?;
        let fact = serde_json::from_str(&json).map_err(|e| TxError::Store(corrupt(&id, e)))?;
        out.insert(id, fact);
    }
    if let Some(missing) = wanted.iter().find(|id| !out.contains_key(*id)) {
        return Err(TxError::Store(corrupt(missing, "the run has an observation but no fact")));
    }
    Ok(out)
}

/// What one transaction writes: the winning runs, and the net change of edge contributions.
struct WritePlan {
    runs: Vec<Value>,
    /// The ends of added edges other than the locked runs, distinct and in id order (created when missing).
    nodes: Vec<Value>,
    added: Vec<Value>,
    removed: Vec<Value>,
    /// Edge ends whose edges were removed (may have become orphans).
    touched: BTreeSet<String>,
    /// Facts that turned out no newer than the stored observation (read under the lock).
    skipped: usize,
}

impl WritePlan {
    /// `observations` holds the stored observation key of each run that has one, `replaced` the stored fact of
    /// each run the batch replaces or may join ([`read_replaced`]), `created` the runs this transaction created
    /// whole (their node is written; their edges are not).
    fn build(
        best: &[&RunFact],
        observations: &HashMap<String, String>,
        replaced: &HashMap<String, RunFact>,
        created: &BTreeSet<String>,
        config: &ProjectionConfig,
    ) -> Self {
        let mut runs = Vec::new();
        let mut skipped = 0;
        let mut delta: BTreeMap<Edge, i64> = BTreeMap::new();
        for &fact in best {
            let id = NodeId::run(&fact.key());
            let old_fact = replaced.get(&id.0);
            // A CDEvent observation is joined with the stored one when that is a CDEvent observation too: read
            // under the run's lock, so a replica writing the same run meanwhile is joined, not overwritten.
            let fact = match old_fact {
                Some(old_fact) => observe::joined(old_fact, Cow::Borrowed(fact)),
                None => Cow::Borrowed(fact),
            };
            let key = fact.observation_key();
            if observations.get(&id.0).is_some_and(|old_key| *old_key >= key) {
                skipped += 1;
                continue;
            }
            if let Some(old_fact) = old_fact {
                for edge in project(old_fact, config) {
                    *delta.entry(edge).or_default() -= 1;
                }
            }
            for edge in project(&fact, config) {
                *delta.entry(edge).or_default() += 1;
            }
            if !created.contains(&id.0) {
                runs.push(run_row(&id, &fact, key));
            }
        }
        let locked: BTreeSet<String> = best.iter().map(|f| NodeId::run(&f.key()).0).collect();
        let mut ends = BTreeSet::new();
        let mut added = Vec::new();
        let mut removed = Vec::new();
        let mut touched = BTreeSet::new();
        for (edge, n) in delta {
            let row = edge_row(&edge, n.abs());
            match n.cmp(&0) {
                std::cmp::Ordering::Greater => {
                    ends.extend([&edge.from, &edge.to].into_iter().filter(|end| !locked.contains(&end.0)).cloned());
                    added.push(row);
                }
                std::cmp::Ordering::Less => {
                    touched.insert(edge.from.0.clone());
                    touched.insert(edge.to.0.clone());
                    removed.push(row);
                }
                std::cmp::Ordering::Equal => {}
            }
        }
        let nodes = ends.iter().map(node_row).collect();
        WritePlan { runs, nodes, added, removed, touched, skipped }
    }
}

/// What this store writes for facts of runs it has never seen, as statement rows: for the benchmark's baselines,
/// which write the same graph with other statements.
pub struct NewRunRows {
    /// One row per run: `id`, `label`, `observation`, `fact` and the run's properties.
    pub runs: Vec<Value>,
    /// The other nodes: `id`, `label`, `props`.
    pub nodes: Vec<Value>,
    /// `from`, `to`, `kind` and `n`, the number of runs contributing the edge (its `count`).
    pub edges: Vec<Value>,
}

/// The rows [`GraphStore::apply`] writes for `facts` into an empty store.
pub fn rows_for_new_runs(facts: &[RunFact], config: &ProjectionConfig) -> NewRunRows {
    let batch = observe::of_batch(facts);
    let best: Vec<&RunFact> = batch.values().map(|fact| fact.as_ref()).collect();
    let plan = WritePlan::build(&best, &HashMap::new(), &HashMap::new(), &BTreeSet::new(), config);
    NewRunRows { runs: plan.runs, nodes: plan.nodes, edges: plan.added }
}

fn run_row(id: &NodeId, fact: &RunFact, observation: String) -> Value {
    let source = fact.supply_chain.source.as_ref();
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
    let scans = &fact.supply_chain.scans;
    let worst = |pick: fn(&tekton_graph_schema::ScanFact) -> i64| scans.iter().map(pick).max();
    let pipeline_run = fact.kind == RunKind::PipelineRun;
    json!({
        "id": id.0,
        "label": fact.kind.as_str(),
        "observation": observation,
        "fact": serde_json::to_string(fact).unwrap_or_default(),
        "kind": fact.kind.as_str(),
            "namespace": fact.namespace,
            "name": fact.name,
            "uid": fact.uid,
            "status": fact.status.outcome.as_str(),
            "reason": fact.status.reason,
            "startTime": time(fact.status.start_time),
            "completionTime": time(fact.status.completion_time),
            "durationSeconds": fact.duration_seconds(),
            "deletedAt": time(fact.deleted_at),
            "deletedFromCluster": fact.deleted_at.is_some(),
            "sortMillis": RunPosition::of(fact).sort_millis,
            "pipeline": fact.pipeline,
            "task": fact.task,
            "pipelineTask": fact.pipeline_task,
            "repository": source.and_then(|s| s.repository.clone()),
            "triggerEventId": super::trigger_event_id(fact),
            "commit": source.and_then(|s| s.commit_sha.clone()),
            "commitAuthor": source.and_then(|s| s.author.clone()),
            "commitMessage": source.and_then(|s| s.message.clone()),
            "vulnCritical": worst(|s| s.critical),
            "vulnHigh": worst(|s| s.high),
            "vulnMedium": worst(|s| s.medium),
        "vulnLow": worst(|s| s.low),
        // The pipeline and duration again, never null, for the pipelinerun_summary index (cypher/schema): a
        // composite index holds only nodes that have every one of its properties.
        "summaryPipeline": pipeline_run.then(|| fact.pipeline.clone().unwrap_or_default()),
        "summaryDuration": pipeline_run.then(|| fact.duration_seconds().unwrap_or(-1.0)),
    })
}

fn edge_row(edge: &Edge, n: i64) -> Value {
    json!({ "from": edge.from.0, "to": edge.to.0, "kind": edge.kind.as_str(), "n": n })
}

fn node_row(id: &NodeId) -> Value {
    let (label, props) = node_props(id);
    json!({ "id": id.0, "label": label, "props": props })
}

/// The label and the exploration-friendly properties of a node, derived from its id alone.
fn node_props(id: &NodeId) -> (&'static str, Value) {
    let Some(kind) = id.kind() else { return ("Unknown", json!({})) };
    let key = id.key();
    let mut props = Map::new();
    props.insert("kind".into(), json!(kind.as_str()));
    let mut put = |k: &str, v: &str| {
        props.insert(k.into(), json!(v));
    };
    match kind {
        NodeKind::Repository => put("url", key),
        NodeKind::Commit => {
            let (repo, sha) = key.rsplit_once('@').unwrap_or((key, ""));
            put("repository", repo);
            put("sha", sha);
        }
        NodeKind::Image => put("digest", key),
        NodeKind::System => put("name", key),
        NodeKind::Pipeline | NodeKind::PipelineRun | NodeKind::TaskRun => {
            let (ns, name) = key.split_once('/').unwrap_or(("", key));
            put("namespace", ns);
            put("name", name);
        }
        NodeKind::Scan => {
            let mut parts = key.splitn(3, '/');
            put("namespace", parts.next().unwrap_or(""));
            put("pipelineRun", parts.next().unwrap_or(""));
            put("digest", parts.next().unwrap_or(""));
        }
        NodeKind::Trigger => {
            let mut parts = key.splitn(3, '/');
            put("namespace", parts.next().unwrap_or(""));
            put("eventListener", parts.next().unwrap_or(""));
            put("trigger", parts.next().unwrap_or(""));
        }
    }
    (kind.as_str(), Value::Object(props))
}

fn edge_kind(name: &str) -> Option<EdgeKind> {
    use EdgeKind::*;
    [RunOf, PartOf, BuiltFrom, InRepository, Produced, Reported, Scanned, RerunOf, TriggeredBy, BelongsTo]
        .into_iter()
        .find(|k| k.as_str() == name)
}

/// Rows of `from, kind, to` as edges, sorted and without duplicates (relationship types that are not edge kinds
/// are skipped).
fn edge_rows(rows: Vec<neo4rs::Row>, what: &str) -> Result<Vec<Edge>> {
    let mut out = BTreeSet::new();
    for row in rows {
        let kind: String = row.get("kind").map_err(|e| corrupt(what, e))?;
        let Some(kind) = edge_kind(&kind) else { continue };
        let from: String = row.get("from").map_err(|e| corrupt(what, e))?;
        let to: String = row.get("to").map_err(|e| corrupt(what, e))?;
        out.insert(Edge { from: NodeId(from), kind, to: NodeId(to) });
    }
    Ok(out.into_iter().collect())
}

/// Rows of `sortMillis, namespace, name` as listing positions with their run keys.
fn positions(rows: Vec<neo4rs::Row>, what: &str) -> Result<Vec<(RunPosition, RunKey)>> {
    let mut runs = Vec::new();
    for row in rows {
        let position = RunPosition {
            sort_millis: row.get("sortMillis").map_err(|e| corrupt(what, e))?,
            namespace: row.get("namespace").map_err(|e| corrupt(what, e))?,
            name: row.get("name").map_err(|e| corrupt(what, e))?,
        };
        let key =
            RunKey { kind: RunKind::PipelineRun, namespace: position.namespace.clone(), name: position.name.clone() };
        runs.push((position, key));
    }
    Ok(runs)
}

/// The parameters every run-listing statement takes for a [`RunFilter`] (null matches everything).
fn filter_params(filter: &RunFilter) -> Value {
    let mut params = json!({
        "namespace": filter.namespace,
        "pipeline": filter.pipeline,
        "status": filter.outcome.map(|o| o.as_str()),
        "repository": filter.repository,
        "since": filter.since.map(|t| t.timestamp_millis()),
        "until": filter.until.map(|t| t.timestamp_millis()),
        "system": filter.system.as_deref().map(|s| NodeId::system(s).0),
        "triggerEventId": filter.trigger_event_id,
    });
    add_visibility(&mut params, filter.visible.as_ref());
    params
}

/// `$visibleNamespaces` and `$visibleSystems` (System node ids): both null for every run.
fn add_visibility(params: &mut Value, visible: Option<&Visibility>) {
    let (namespaces, systems) = visible.map(Visibility::params).unzip();
    params["visibleNamespaces"] = json!(namespaces);
    params["visibleSystems"] = json!(systems);
}

fn outcome_named(name: &str) -> Option<Outcome> {
    use Outcome::*;
    [Unknown, Pending, Running, Succeeded, Failed, Cancelled, TimedOut].into_iter().find(|o| o.as_str() == name)
}

fn corrupt(key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { key: key.to_string(), reason: e.to_string() }
}

#[async_trait]
impl GraphStore for Neo4jStore {
    fn engine(&self) -> &'static str {
        "neo4j"
    }

    async fn apply(&self, facts: &[RunFact]) -> Result<ApplyStats> {
        // In run order: writers lock run nodes in one global order, which keeps deadlocks rare.
        let batch = observe::of_batch(facts);
        let best: Vec<&RunFact> = batch.values().map(|fact| fact.as_ref()).collect();
        let applied = self.retrying(|| self.apply_once(&best)).await?;
        Ok(ApplyStats { applied, ignored: facts.len() - applied })
    }

    async fn facts(&self, keys: &[RunKey]) -> Result<Vec<Option<RunFact>>> {
        let ids: Vec<String> = keys.iter().map(|k| NodeId::run(k).0).collect();
        let mut found: HashMap<String, RunFact> = HashMap::new();
        for row in self.rows(READ_FACTS, json!({ "ids": ids })).await? {
            let id: String = row.get("id").map_err(|e| corrupt("facts", e))?;
            let json: String = row.get("fact").map_err(|e| corrupt(&id, e))?;
            let fact = serde_json::from_str(&json).map_err(|e| corrupt(&id, e))?;
            found.insert(id, fact);
        }
        Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
    }

    async fn outcomes(&self, keys: &[RunKey]) -> Result<Vec<Option<Outcome>>> {
        let ids: Vec<String> = keys.iter().map(|k| NodeId::run(k).0).collect();
        let mut found: HashMap<String, Outcome> = HashMap::new();
        for row in self.rows(READ_OUTCOMES, json!({ "ids": ids })).await? {
            let id: String = row.get("id").map_err(|e| corrupt("outcomes", e))?;
            let status: String = row.get("status").map_err(|e| corrupt(&id, e))?;
            let outcome = outcome_named(&status).ok_or_else(|| corrupt(&id, format!("status `{status}`")))?;
            found.insert(id, outcome);
        }
        Ok(ids.iter().map(|id| found.get(id).copied()).collect())
    }

    async fn edges(&self, nodes: &[NodeId], kinds: Option<&[EdgeKind]>) -> Result<Vec<Edge>> {
        let ids: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
        let kinds: Option<Vec<&str>> = kinds.map(|ks| ks.iter().map(|k| k.as_str()).collect());
        edge_rows(self.rows(READ_EDGES, json!({ "ids": ids, "kinds": kinds })).await?, "edges")
    }

    async fn diff_neighbourhood(&self, runs: &[NodeId]) -> Result<Vec<Edge>> {
        let ids: Vec<&str> = runs.iter().map(|n| n.0.as_str()).collect();
        edge_rows(self.rows(READ_DIFF_NEIGHBOURHOOD, json!({ "ids": ids })).await?, "diff_neighbourhood")
    }

    async fn pipeline_runs(&self, filter: &RunFilter, after: Option<&RunPosition>, first: usize) -> Result<RunPage> {
        let statement = match (&filter.namespace, &filter.pipeline) {
            (Some(_), Some(_)) => READ_PIPELINE_RUNS_OF_PIPELINE,
            _ => READ_PIPELINE_RUNS,
        };
        let mut params = filter_params(filter);
        params["after"] =
            json!(after.map(|a| json!({ "sortMillis": a.sort_millis, "namespace": a.namespace, "name": a.name })));
        params["limit"] = json!(first + 1);
        let mut runs = positions(self.rows(statement, params).await?, "pipeline_runs")?;
        let has_next = runs.len() > first;
        runs.truncate(first);
        Ok(RunPage { runs, has_next })
    }

    async fn neighbours(
        &self,
        places: &[PipelinePlace],
        which: Neighbour,
        visible: Option<&Visibility>,
    ) -> Result<Vec<Option<RunKey>>> {
        if places.is_empty() {
            return Ok(Vec::new());
        }
        let statement = match which {
            Neighbour::Previous => READ_PREVIOUS_RUNS,
            Neighbour::Next => READ_NEXT_RUNS,
        };
        let params: Vec<Value> = places
            .iter()
            .map(|p| {
                let at = &p.position;
                json!({ "namespace": at.namespace, "pipeline": p.pipeline, "sortMillis": at.sort_millis, "name": at.name })
            })
            .collect();
        let mut found = vec![None; places.len()];
        let mut params = json!({ "places": params });
        add_visibility(&mut params, visible);
        for row in self.rows(statement, params).await? {
            let index: i64 = row.get("index").map_err(|e| corrupt("neighbours", e))?;
            let name: String = row.get("name").map_err(|e| corrupt("neighbours", e))?;
            let i = usize::try_from(index).ok().filter(|&i| i < places.len());
            let Some(i) = i else { return Err(corrupt("neighbours", format!("index {index} out of range"))) };
            found[i] =
                Some(RunKey { kind: RunKind::PipelineRun, namespace: places[i].position.namespace.clone(), name });
        }
        Ok(found)
    }

    async fn existing(&self, nodes: &[NodeId]) -> Result<BTreeSet<NodeId>> {
        let ids: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
        let mut out = BTreeSet::new();
        for row in self.rows(READ_EXISTING, json!({ "ids": ids })).await? {
            out.insert(NodeId(row.get("id").map_err(|e| corrupt("existing", e))?));
        }
        Ok(out)
    }

    async fn counts(&self) -> Result<StoreCounts> {
        let rows = self.rows(READ_COUNTS, json!({})).await?;
        let row = rows.first().ok_or_else(|| corrupt("counts", "no row"))?;
        let get = |k: &str| row.get::<i64>(k).map(|v| v as usize).map_err(|e| corrupt("counts", e));
        Ok(StoreCounts {
            pipeline_runs: get("pipelineRuns")?,
            task_runs: get("taskRuns")?,
            nodes: get("nodes")?,
            edges: get("edges")?,
        })
    }

    async fn run_counts(&self, visible: &Visibility) -> Result<RunCounts> {
        let mut params = json!({});
        add_visibility(&mut params, Some(visible));
        let rows = self.rows(READ_RUN_COUNTS, params).await?;
        let row = rows.first().ok_or_else(|| corrupt("run_counts", "no row"))?;
        let get = |k: &str| row.get::<i64>(k).map(|v| v as usize).map_err(|e| corrupt("run_counts", e));
        Ok(RunCounts { pipeline_runs: get("pipelineRuns")?, task_runs: get("taskRuns")? })
    }

    async fn run_summary(&self, filter: &RunFilter) -> Result<Vec<SummaryRow>> {
        let mut out = Vec::new();
        for row in self.rows(READ_RUN_SUMMARY, filter_params(filter)).await? {
            let bad = |e| corrupt("run_summary", e);
            let namespace: String = row.get("namespace").map_err(bad)?;
            let status: String = row.get("status").map_err(bad)?;
            let outcome = outcome_named(&status).ok_or_else(|| corrupt("run_summary", format!("status `{status}`")))?;
            let runs: i64 = row.get("runs").map_err(bad)?;
            out.push(SummaryRow {
                latest: RunPosition {
                    sort_millis: row.get("latestMillis").map_err(bad)?,
                    namespace: namespace.clone(),
                    name: row.get("latestName").map_err(bad)?,
                },
                namespace,
                pipeline: row.get::<Option<String>>("pipeline").map_err(bad)?,
                outcome,
                runs: usize::try_from(runs).unwrap_or(0),
                median_duration_seconds: row.get::<Option<f64>>("median").map_err(bad)?,
            });
        }
        out.sort_by(|a, b| (&a.namespace, &a.pipeline, a.outcome).cmp(&(&b.namespace, &b.pipeline, b.outcome)));
        Ok(out)
    }

    async fn nodes(&self, kind: NodeKind, after: Option<&NodeId>, first: usize) -> Result<Vec<NodeId>> {
        if !LISTED_KINDS.contains(&kind) {
            return Ok(Vec::new());
        }
        let params = json!({
            "prefix": format!("{}:", kind.prefix()),
            "after": after.map(|a| a.0.clone()),
            "limit": first,
        });
        let mut out = Vec::new();
        for row in self.rows(READ_NODES, params).await? {
            out.push(NodeId(row.get("id").map_err(|e| corrupt("nodes", e))?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys of `row.` a statement reads, but `id`.
    fn row_keys(statement: &str) -> BTreeSet<String> {
        strip_comments(statement)
            .split("row.")
            .skip(1)
            .map(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("").to_string())
            .filter(|k| k != "id")
            .collect()
    }

    /// `upsert_runs.cypher` and `create_runs.cypher` name every property one by one (a map write would plan an
    /// Eager): a property added to the run rows must be added there too, and they must not read a key rows lack.
    #[test]
    fn the_run_statements_write_every_property_of_a_run_row_and_no_other() {
        let facts = crate::demo::sample_facts().expect("the sample facts translate");
        let rows = rows_for_new_runs(&facts, &ProjectionConfig::default());
        let row = rows.runs.first().and_then(Value::as_object).expect("a run row");
        let mut written: BTreeSet<String> = row.keys().filter(|k| *k != "id").cloned().collect();
        assert_eq!(row_keys(CREATE_RUNS), written, "create_runs.cypher");
        written.remove("label");
        assert_eq!(row_keys(UPSERT_RUNS), written, "upsert_runs.cypher");
    }
}
