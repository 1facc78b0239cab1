//! Query latency percentiles on a large generated graph.
//!
//! ```sh
//! cargo bench -p graph-service --bench query_latency                          # 100k builds ≈ 1.2M facts
//! BENCH_PIPELINE_RUNS=2000 BENCH_QUERIES=200 cargo bench -p graph-service --bench query_latency   # smoke
//! ```
//!
//! Builds the graph (generate → translate on one thread, apply in batches of `BENCH_BATCH` (500) on another), prints
//! the build time, fact and node counts and the process RSS, then runs `BENCH_QUERIES` (2000) GraphQL queries per
//! kind through `graph_service::api::build_schema(store).execute(…)` on random picks and prints p50/p99/mean/max:
//!
//! * `image(digest)`: lineage of a built image — builtBy, taskRun, commit, scans;
//! * `diff(namespace, name)` of a build against its previous run — params, results, tasks, images, scans;
//! * `lineage(ref, depth: 4)` around an image digest and around a build PipelineRun (`namespace/name`).
//!
//! Every answer is checked (no errors; the image has a builder, a TaskRun, a commit and scans; the diff has a head;
//! the lineage has more than its root) and anomalies are counted and the first one printed.
//!
//! Then the web UI's main pages — Runs (`/`), Run, Diff and Image — are rendered through the HTTP app in-process
//! (routing, the page's GraphQL queries, HTML and SVG), each next to the GraphQL query (or queries) the page runs,
//! timed alone on the same picks: the baseline a page cannot beat.
//!
//! Environment: `BENCH_PIPELINE_RUNS` (build PipelineRuns, default 100000; scan runs come on top),
//! `BENCH_QUERIES` (2000), `BENCH_SEED` (42), `BENCH_BATCH` (500), `BENCH_STORE` (`memory`, `durable` or `neo4j`: the
//! Neo4j of `NEO4J_URI`/`NEO4J_USER`/`NEO4J_PASSWORD`, emptied first; RSS is then the bench's, not the server's),
//! `BENCH_DATA_DIR` (durable only: build the store in this new directory and keep it, e.g. to measure
//! `graph-service serve --data-dir` rebuilding it).
//! Under `cargo test --benches` (no `--bench` argument) the defaults are 300 builds and 20 queries, and any
//! anomalous answer fails the run: a smoke test for CI.

use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use async_graphql::{Request, Variables};
use graph_service::api::build_schema;
use graph_service::model::ProjectionConfig;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::neo4j::{Neo4jConfig, Neo4jStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tekton_generate::{BUILD_PIPELINE_SUFFIX, GenerateConfig, generate};
use tekton_graph_schema::{Outcome, RunFact, RunKind};

const SAMPLE: usize = 4096;

const IMAGE_QUERY: &str = r#"query($digest: String!) {
  image(digest: $digest) {
    digest repository tags urls
    builtBy { namespace name status startTime durationSeconds }
    taskRun { name pipelineTask steps { name digest exitCode } }
    commit { sha author message timestamp repository { key url } }
    scans { id imageDigest critical high vulnerabilities { total } unpatched { total } completionTime
            pipelineRun { name } taskRun { name } }
  }
}"#;

/// The image query without the fields resolved through the DataLoader (builtBy, taskRun, scans' runs): the
/// difference to `IMAGE_QUERY` is the loader's batching delay (async-graphql's default is 1 ms per round).
const IMAGE_QUERY_NO_LOADER: &str = r#"query($digest: String!) {
  image(digest: $digest) {
    digest repository tags urls
    producedBy { kind namespace name status }
    commit { sha author message timestamp repository { key url } }
    scans { id imageDigest critical high vulnerabilities { total } unpatched { total } completionTime }
  }
}"#;

const DIFF_QUERY: &str = r#"query($namespace: String!, $name: String!) {
  diff(namespace: $namespace, name: $name) {
    base { name status } head { name status }
    commitChanged commits { before { sha } after { sha } }
    params { key before after }
    results { key before after }
    tasks { pipelineTask change statusBefore statusAfter durationDeltaSeconds }
    images { added removed unchanged }
    scans { before { total } after { total } delta { critical high total } }
    durationDeltaSeconds statusChanged
  }
}"#;

const LINEAGE_QUERY: &str = r#"query($ref: String!) {
  lineage(ref: $ref, depth: 4) { root nodes { id kind label } edges { from to kind } }
}"#;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Reservoir sample of at most `SAMPLE` items.
struct Reservoir<T> {
    items: Vec<T>,
    seen: usize,
}

impl<T> Reservoir<T> {
    fn new() -> Self {
        Reservoir { items: Vec::with_capacity(SAMPLE), seen: 0 }
    }

    fn offer(&mut self, rng: &mut StdRng, item: T) {
        self.seen += 1;
        if self.items.len() < SAMPLE {
            self.items.push(item);
        } else {
            let slot = rng.random_range(0..self.seen);
            if slot < SAMPLE {
                self.items[slot] = item;
            }
        }
    }
}

struct Picks {
    /// Digests of images built by succeeded builds.
    images: Reservoir<String>,
    /// (namespace, name) of build PipelineRuns.
    builds: Reservoir<(String, String)>,
}

/// Which engine the graph is built in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Engine {
    Memory,
    Durable,
    Neo4j,
}

struct Built {
    store: Arc<dyn GraphStore>,
    facts: usize,
    objects: usize,
    generate_translate: Duration,
    /// Time the consumer spent in `apply`.
    apply: Duration,
    total: Duration,
    picks: Picks,
    _dir: Option<tempfile::TempDir>,
}

fn open_store(engine: Engine, rt: &tokio::runtime::Runtime) -> (Arc<dyn GraphStore>, Option<tempfile::TempDir>) {
    match engine {
        Engine::Memory => (Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default())), None),
        Engine::Durable => match std::env::var_os("BENCH_DATA_DIR") {
            // A kept directory, so that `graph-service serve --data-dir` can be started on it afterwards and its
            // rebuild time and RSS measured in a fresh process.
            Some(kept) => {
                let dir = std::path::PathBuf::from(kept);
                assert!(!dir.join("graph.redb").exists(), "BENCH_DATA_DIR {} already holds a store", dir.display());
                let store = EmbeddedStore::open(&dir, ProjectionConfig::default()).expect("open store");
                (Arc::new(store), None)
            }
            None => {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = EmbeddedStore::open(dir.path(), ProjectionConfig::default()).expect("open store");
                (Arc::new(store), Some(dir))
            }
        },
        Engine::Neo4j => {
            let settings = Neo4jConfig {
                uri: std::env::var("NEO4J_URI").expect("NEO4J_URI (scripts/services.sh up; eval its env)"),
                user: std::env::var("NEO4J_USER").unwrap_or_else(|_| "neo4j".into()),
                password: std::env::var("NEO4J_PASSWORD").expect("NEO4J_PASSWORD"),
                database: None,
                max_connections: 8,
                ca_file: None,
            };
            let store = rt.block_on(Neo4jStore::connect(&settings, ProjectionConfig::default())).expect("connect");
            rt.block_on(store.clear()).expect("clear");
            (Arc::new(store), None)
        }
    }
}

fn build_graph(config: &GenerateConfig, batch: usize, engine: Engine, rt: &tokio::runtime::Runtime) -> Built {
    let (store, dir) = open_store(engine, rt);
    let start = Instant::now();
    let (tx, rx) = sync_channel::<Vec<RunFact>>(8);
    let producer_config = config.clone();
    let producer = std::thread::spawn(move || {
        let started = Instant::now();
        let mut objects = 0usize;
        let mut pending = Vec::with_capacity(batch);
        for object in generate(&producer_config) {
            objects += 1;
            pending.extend(tekton_translate::translate_value(&object).expect("generated objects translate"));
            if pending.len() >= batch && tx.send(std::mem::replace(&mut pending, Vec::with_capacity(batch))).is_err() {
                break;
            }
        }
        if !pending.is_empty() {
            let _ = tx.send(pending);
        }
        (objects, started.elapsed())
    });
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed);
    let mut picks = Picks { images: Reservoir::new(), builds: Reservoir::new() };
    let mut facts = 0usize;
    let mut apply = Duration::ZERO;
    for batch in rx {
        facts += batch.len();
        for fact in &batch {
            let is_build = fact.kind == RunKind::PipelineRun
                && fact.pipeline.as_deref().is_some_and(|p| p.ends_with(BUILD_PIPELINE_SUFFIX));
            if !is_build {
                continue;
            }
            picks.builds.offer(&mut rng, (fact.namespace.clone(), fact.name.clone()));
            if fact.status.outcome == Outcome::Succeeded
                && let Some(image) = fact.supply_chain.images.first()
            {
                picks.images.offer(&mut rng, image.digest.clone());
            }
        }
        let applying = Instant::now();
        rt.block_on(store.apply(&batch)).expect("apply");
        apply += applying.elapsed();
    }
    let (objects, generate_translate) = producer.join().expect("producer thread");
    Built { store, facts, objects, generate_translate, apply, total: start.elapsed(), picks, _dir: dir }
}

/// Checks an answer; returns why it looks wrong.
type Check = fn(&Value) -> Option<String>;

fn check_image(data: &Value) -> Option<String> {
    let image = &data["image"];
    if image.is_null() {
        return Some("image is null".into());
    }
    let missing: Vec<&str> =
        [("builtBy", &image["builtBy"]), ("taskRun", &image["taskRun"]), ("commit", &image["commit"])]
            .into_iter()
            .filter(|(_, v)| v.is_null())
            .map(|(k, _)| k)
            .collect();
    if !missing.is_empty() {
        return Some(format!("missing {missing:?}"));
    }
    if image["scans"].as_array().is_none_or(Vec::is_empty) {
        return Some("no scans".into());
    }
    None
}

fn check_image_no_loader(data: &Value) -> Option<String> {
    let image = &data["image"];
    if image.is_null() || image["commit"].is_null() || image["producedBy"].as_array().is_none_or(Vec::is_empty) {
        return Some("image, commit or producedBy missing".into());
    }
    image["scans"].as_array().is_none_or(Vec::is_empty).then(|| "no scans".into())
}

fn check_diff(data: &Value) -> Option<String> {
    let diff = &data["diff"];
    if diff.is_null() || diff["head"].is_null() {
        return Some("diff or head is null".into());
    }
    if diff["tasks"].as_array().is_none_or(Vec::is_empty) {
        return Some("no tasks".into());
    }
    None
}

fn check_lineage(data: &Value) -> Option<String> {
    let nodes = data["lineage"]["nodes"].as_array().map_or(0, Vec::len);
    (nodes <= 1).then(|| format!("{nodes} nodes"))
}

struct Row {
    name: &'static str,
    times: Vec<Duration>,
    anomalies: usize,
    first_anomaly: Option<String>,
    /// Average answer size in bytes of JSON.
    answer_bytes: usize,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) this is a small smoke test that fails on
    // anomalies.
    let smoke = !args.iter().any(|a| a == "--bench");
    let config = GenerateConfig {
        pipeline_runs: env_usize("BENCH_PIPELINE_RUNS", if smoke { 300 } else { 100_000 }),
        seed: env_usize("BENCH_SEED", 42) as u64,
        ..GenerateConfig::default()
    };
    let queries = env_usize("BENCH_QUERIES", if smoke { 20 } else { 2000 }).max(1);
    let batch = env_usize("BENCH_BATCH", 500).max(1);
    let engine = match std::env::var("BENCH_STORE").as_deref() {
        Ok("durable") => Engine::Durable,
        Ok("neo4j") => Engine::Neo4j,
        _ => Engine::Memory,
    };

    println!(
        "building graph: {} build PipelineRuns, {} namespaces, {} repositories, seed {}, batch {batch}, store {}",
        config.pipeline_runs,
        config.namespaces,
        config.repositories,
        config.seed,
        match engine {
            Engine::Memory => "in-memory",
            Engine::Durable => "durable (redb)",
            Engine::Neo4j => "neo4j",
        }
    );
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let built = build_graph(&config, batch, engine, &rt);
    let store = built.store.clone();
    let counts = rt.block_on(store.counts()).expect("counts");
    let (rss, hwm) = rss_mib();
    println!(
        "built in {:.1} s ({:.0} facts/s end to end): {} objects → {} facts; generate+translate thread {:.1} s, \
         apply {:.1} s ({:.0} facts/s)",
        built.total.as_secs_f64(),
        built.facts as f64 / built.total.as_secs_f64(),
        built.objects,
        built.facts,
        built.generate_translate.as_secs_f64(),
        built.apply.as_secs_f64(),
        built.facts as f64 / built.apply.as_secs_f64(),
    );
    println!(
        "store: {} PipelineRuns, {} TaskRuns, {} nodes, {} edges; RSS {rss:.0} MiB (peak {hwm:.0} MiB)",
        counts.pipeline_runs, counts.task_runs, counts.nodes, counts.edges
    );

    let schema = build_schema(store.clone());
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0xbeef);
    let images = &built.picks.images.items;
    let builds = &built.picks.builds.items;
    assert!(!images.is_empty() && !builds.is_empty(), "the generated graph has no builds");

    type Pick<'a> = Box<dyn Fn(&mut StdRng) -> Value + 'a>;
    let cases: Vec<(&'static str, &'static str, Pick<'_>, Check)> = vec![
        (
            "image(digest) lineage",
            IMAGE_QUERY,
            Box::new(|rng: &mut StdRng| json!({"digest": images[rng.random_range(0..images.len())]})),
            check_image,
        ),
        (
            "image(digest) no loader",
            IMAGE_QUERY_NO_LOADER,
            Box::new(|rng: &mut StdRng| json!({"digest": images[rng.random_range(0..images.len())]})),
            check_image_no_loader,
        ),
        (
            "diff(namespace, name)",
            DIFF_QUERY,
            Box::new(|rng: &mut StdRng| {
                let (ns, name) = &builds[rng.random_range(0..builds.len())];
                json!({"namespace": ns, "name": name})
            }),
            check_diff,
        ),
        (
            "lineage(image, depth 4)",
            LINEAGE_QUERY,
            Box::new(|rng: &mut StdRng| json!({"ref": images[rng.random_range(0..images.len())]})),
            check_lineage,
        ),
        (
            "lineage(ns/run, depth 4)",
            LINEAGE_QUERY,
            Box::new(|rng: &mut StdRng| {
                let (ns, name) = &builds[rng.random_range(0..builds.len())];
                json!({"ref": format!("{ns}/{name}")})
            }),
            check_lineage,
        ),
    ];

    let mut rows = Vec::new();
    for (name, query, pick, check) in &cases {
        let run = |rng: &mut StdRng| {
            let variables = pick(rng);
            let request = Request::new(*query).variables(Variables::from_json(variables.clone()));
            let start = Instant::now();
            let response = rt.block_on(schema.execute(request));
            let elapsed = start.elapsed();
            (elapsed, variables, response)
        };
        for _ in 0..queries.min(200) {
            run(&mut rng);
        }
        let mut row =
            Row { name, times: Vec::with_capacity(queries), anomalies: 0, first_anomaly: None, answer_bytes: 0 };
        for _ in 0..queries {
            let (elapsed, variables, response) = run(&mut rng);
            row.times.push(elapsed);
            let data = response.data.into_json().unwrap_or(Value::Null);
            row.answer_bytes += data.to_string().len();
            let problem = if response.errors.is_empty() {
                check(&data)
            } else {
                Some(format!("errors: {:?}", response.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>()))
            };
            if let Some(problem) = problem {
                row.anomalies += 1;
                row.first_anomaly.get_or_insert_with(|| format!("{variables}: {problem}"));
            }
        }
        row.times.sort();
        rows.push(row);
    }

    println!();
    println!(
        "{:<26} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "query", "n", "p50 ms", "p99 ms", "mean ms", "max ms", "avg bytes", "anomalies"
    );
    for row in &rows {
        let n = row.times.len();
        let mean = row.times.iter().sum::<Duration>() / n as u32;
        println!(
            "{:<26} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10} {:>9}",
            row.name,
            n,
            ms(percentile(&row.times, 0.50)),
            ms(percentile(&row.times, 0.99)),
            ms(mean),
            ms(row.times[n - 1]),
            row.answer_bytes / n,
            row.anomalies
        );
    }
    for row in rows.iter().filter(|r| r.anomalies > 0) {
        println!("first anomaly of {}: {}", row.name, row.first_anomaly.as_deref().unwrap_or_default());
    }
    let pages = page_rows(&rt, &store, &schema, &built.picks, queries, config.seed);
    println!();
    println!(
        "{:<34} {:>6} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "web UI page vs its GraphQL", "n", "p50 ms", "p99 ms", "mean ms", "max ms", "anomalies"
    );
    for row in &pages {
        let n = row.times.len();
        let mean = row.times.iter().sum::<Duration>() / n as u32;
        println!(
            "{:<34} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>9}",
            row.name,
            n,
            ms(percentile(&row.times, 0.50)),
            ms(percentile(&row.times, 0.99)),
            ms(mean),
            ms(row.times[n - 1]),
            row.anomalies
        );
    }
    for row in pages.iter().filter(|r| r.anomalies > 0) {
        println!("first anomaly of {}: {}", row.name, row.first_anomaly.as_deref().unwrap_or_default());
    }
    rows.extend(pages);
    let (rss, hwm) = rss_mib();
    println!("RSS after queries {rss:.0} MiB (peak {hwm:.0} MiB)");
    let anomalies: usize = rows.iter().map(|r| r.anomalies).sum();
    assert!(!smoke || anomalies == 0, "{anomalies} anomalous answers");
}

/// A page's path and the GraphQL requests (query, variables) it makes.
type PageRequest = (String, Vec<(&'static str, Value)>);

/// One page of the web UI: its path and the GraphQL requests it makes, for the same pick.
struct PageCase {
    name: &'static str,
    graphql_name: &'static str,
    /// The page and its requests for a random pick.
    pick: Box<dyn Fn(&mut StdRng) -> PageRequest>,
    /// Text every rendered page must hold.
    marker: &'static str,
}

fn path_segment(text: &str) -> String {
    graph_service::ui::segment(text)
}

/// Times each page through the HTTP app and, on the same picks, the GraphQL requests the page makes.
fn page_rows(
    rt: &tokio::runtime::Runtime,
    store: &Arc<dyn GraphStore>,
    schema: &graph_service::api::GraphSchema,
    picks: &Picks,
    queries: usize,
    seed: u64,
) -> Vec<Row> {
    use graph_service::ui::queries;
    let client = poem::test::TestClient::new(graph_service::server::app(store.clone()));
    let images = picks.images.items.clone();
    let builds = picks.builds.items.clone();
    let builds_for_run = builds.clone();
    let builds_for_diff = builds.clone();
    // The Runs page summarizes the 7 days up to the newest run.
    let newest = rt.block_on(store.pipeline_runs(&Default::default(), None, 1)).expect("newest run");
    let newest_millis = newest.runs.first().map(|(p, _)| p.sort_millis).unwrap_or_default();
    let summary_since =
        chrono::DateTime::from_timestamp_millis(newest_millis - 7 * 24 * 3600 * 1000).unwrap_or_default().to_rfc3339();
    let cases = vec![
        PageCase {
            name: "page: Runs (/)",
            graphql_name: "  GraphQL of Runs",
            pick: Box::new(move |_| {
                let page = json!({"filter": {}, "first": 50, "after": null});
                let summary = json!({"filter": {"since": summary_since}});
                let newest = json!({"filter": {}});
                // The page runs the listing and the summary at the same time; its baseline runs all three in turn.
                let queries =
                    vec![(queries::RUNS_NEWEST, newest), (queries::RUNS, page), (queries::RUNS_SUMMARY, summary)];
                ("/".to_string(), queries)
            }),
            marker: r#"id="runs""#,
        },
        PageCase {
            name: "page: Run (/runs/NS/NAME)",
            graphql_name: "  GraphQL of Run",
            pick: Box::new(move |rng| {
                let (ns, name) = &builds_for_run[rng.random_range(0..builds_for_run.len())];
                let path = format!("/runs/{}/{}", path_segment(ns), path_segment(name));
                (path, vec![(queries::RUN, json!({"namespace": ns, "name": name}))])
            }),
            marker: r#"id="dag""#,
        },
        PageCase {
            name: "page: Diff (/runs/NS/NAME/diff)",
            graphql_name: "  GraphQL of Diff",
            pick: Box::new(move |rng| {
                let (ns, name) = &builds_for_diff[rng.random_range(0..builds_for_diff.len())];
                let path = format!("/runs/{}/{}/diff", path_segment(ns), path_segment(name));
                (path, vec![(queries::DIFF, json!({"namespace": ns, "name": name, "against": null}))])
            }),
            marker: "against-form",
        },
        PageCase {
            name: "page: Image (/images/DIGEST)",
            graphql_name: "  GraphQL of Image",
            pick: Box::new(move |rng| {
                let digest = &images[rng.random_range(0..images.len())];
                let path = format!("/images/{}", path_segment(digest));
                let lineage = json!({"ref": format!("image:{digest}"), "depth": 3});
                (path, vec![(queries::IMAGE, json!({"digest": digest})), (queries::IMAGE_LINEAGE, lineage)])
            }),
            marker: r#"id="lineage""#,
        },
    ];
    let mut rng = StdRng::seed_from_u64(seed ^ 0xface);
    let mut rows = Vec::new();
    for case in &cases {
        let new_row =
            |name| Row { name, times: Vec::with_capacity(queries), anomalies: 0, first_anomaly: None, answer_bytes: 0 };
        let (mut page, mut graphql) = (new_row(case.name), new_row(case.graphql_name));
        for round in 0..queries.min(200) + queries {
            let (path, requests) = (case.pick)(&mut rng);
            let start = Instant::now();
            let response = rt.block_on(client.get(&path).send());
            let status = response.0.status();
            let body = rt.block_on(response.0.into_body().into_string()).unwrap_or_default();
            let elapsed = start.elapsed();
            let start = Instant::now();
            let mut errors = Vec::new();
            for (query, variables) in requests {
                let answer =
                    rt.block_on(schema.execute(Request::new(query).variables(Variables::from_json(variables))));
                errors.extend(answer.errors.into_iter().map(|e| e.message));
            }
            let graphql_elapsed = start.elapsed();
            if round < queries.min(200) {
                continue;
            }
            page.times.push(elapsed);
            graphql.times.push(graphql_elapsed);
            page.answer_bytes += body.len();
            if !status.is_success() || !body.contains(case.marker) {
                page.anomalies += 1;
                page.first_anomaly.get_or_insert_with(|| format!("{path}: {status}, marker {} missing", case.marker));
            }
            if !errors.is_empty() {
                graphql.anomalies += 1;
                graphql.first_anomaly.get_or_insert_with(|| format!("{path}: {errors:?}"));
            }
        }
        page.times.sort();
        graphql.times.sort();
        rows.extend([page, graphql]);
    }
    rows
}
