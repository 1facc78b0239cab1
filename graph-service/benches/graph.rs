//! Throughput benchmarks: translation (objects/s) and embedded-store ingest (facts/s).
//!
//! ```sh
//! cargo bench -p graph-service --bench graph                 # criterion groups, then a summary table
//! cargo bench -p graph-service --bench graph -- ingest       # one group (the summary is skipped when filtering)
//! BENCH_INGEST_FACTS=50000 cargo bench -p graph-service --bench graph
//! ```
//!
//! * `translate/generated`: `translate_value` over 10k objects from `tekton-generate` (Throughput = objects).
//! * `translate/fixtures`: over every document of `testdata/tekton/*` and the seed-conventions list.
//! * `ingest/*`: applying `BENCH_INGEST_FACTS` (default 20000) generated facts in batches of 500 to
//!   `EmbeddedStore::in_memory`, to `EmbeddedStore::open` on a temporary directory (redb, one durable
//!   transaction per batch), and — the floor cost of just keeping facts — inserting clones of the same facts into a
//!   `HashMap<RunKey, RunFact>`. Only the applies are timed; creating and dropping the stores is not.
//!
//! After the criterion groups, a summary re-times each case (median and best of 7 runs) and prints the rates and the
//! store/baseline ratios in one table, so a run's numbers can be read off without criterion's HTML.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use graph_service::model::ProjectionConfig;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use serde_json::Value;
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::{RunFact, RunKey};

const BATCH: usize = 500;
const TRANSLATE_OBJECTS: usize = 10_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Generated objects: enough builds that `count` objects are available, from the middle of the mix.
fn generated_objects(count: usize) -> Vec<Value> {
    let config = GenerateConfig { pipeline_runs: count, ..GenerateConfig::default() };
    generate(&config).take(count).collect()
}

fn generated_facts(count: usize) -> Vec<RunFact> {
    let config = GenerateConfig { pipeline_runs: count, ..GenerateConfig::default() };
    let mut facts = Vec::with_capacity(count);
    for object in generate(&config) {
        facts.extend(tekton_translate::translate_value(&object).expect("generated objects translate"));
        if facts.len() >= count {
            break;
        }
    }
    facts.truncate(count);
    facts
}

/// Every document of the real fixtures, with the number of run objects they hold (list items counted).
fn fixture_documents(dirs: &[PathBuf]) -> (Vec<Value>, usize) {
    let mut documents = Vec::new();
    for dir in dirs {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|entry| Some(entry.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "yaml" || e == "yml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for document in tekton_translate::parse_documents(&text) {
                let document = document.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                // Keep only documents that translate: the benchmark measures translation, not error paths.
                if tekton_translate::translate_value(&document).is_ok() {
                    documents.push(document);
                }
            }
        }
    }
    let objects = documents.iter().map(run_objects).sum();
    (documents, objects)
}

fn run_objects(document: &Value) -> usize {
    match document {
        Value::Array(items) => items.iter().map(run_objects).sum(),
        Value::Object(map) if map.get("items").is_some_and(Value::is_array) => {
            map["items"].as_array().map_or(0, |items| items.iter().map(run_objects).sum())
        }
        _ => 1,
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

fn translate_all(documents: &[Value]) -> usize {
    documents.iter().map(|d| black_box(tekton_translate::translate_value(black_box(d))).map_or(0, |f| f.len())).sum()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("tokio runtime")
}

/// The floor: keep the newest fact per run in a plain map.
fn ingest_hashmap(facts: &[RunFact]) -> (Duration, HashMap<RunKey, RunFact>) {
    let mut map = HashMap::new();
    let start = Instant::now();
    for batch in facts.chunks(BATCH) {
        for fact in batch {
            map.insert(fact.key(), fact.clone());
        }
    }
    (start.elapsed(), map)
}

fn ingest_store(rt: &tokio::runtime::Runtime, store: &EmbeddedStore, facts: &[RunFact]) -> Duration {
    let start = Instant::now();
    for batch in facts.chunks(BATCH) {
        rt.block_on(store.apply(batch)).expect("apply");
    }
    start.elapsed()
}

fn ingest_in_memory(rt: &tokio::runtime::Runtime, facts: &[RunFact]) -> (Duration, EmbeddedStore) {
    let store = EmbeddedStore::in_memory(ProjectionConfig::default());
    (ingest_store(rt, &store, facts), store)
}

fn ingest_durable(rt: &tokio::runtime::Runtime, facts: &[RunFact]) -> (Duration, EmbeddedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path(), ProjectionConfig::default()).expect("open store");
    (ingest_store(rt, &store, facts), store, dir)
}

fn bench_translate(c: &mut Criterion) {
    let generated = generated_objects(TRANSLATE_OBJECTS);
    let (fixtures, fixture_objects) =
        fixture_documents(&[testdata().join("tekton"), testdata().join("seed-conventions")]);
    let mut group = c.benchmark_group("translate");
    group.throughput(Throughput::Elements(generated.len() as u64));
    group.bench_function("generated", |b| b.iter(|| translate_all(&generated)));
    group.throughput(Throughput::Elements(fixture_objects as u64));
    group.bench_function("fixtures", |b| b.iter(|| translate_all(&fixtures)));
    group.finish();
}

fn bench_ingest(c: &mut Criterion) {
    let facts = generated_facts(env_usize("BENCH_INGEST_FACTS", 20_000));
    let rt = runtime();
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(facts.len() as u64));
    group.bench_function("hashmap_baseline", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest_hashmap(&facts).0).sum())
    });
    group.bench_function("embedded_in_memory", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest_in_memory(&rt, &facts).0).sum())
    });
    group.bench_function("embedded_durable", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest_durable(&rt, &facts).0).sum())
    });
    group.finish();
}

/// Median and best of several timings (the best is the least disturbed by other load on the machine).
fn median_and_best(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[0])
}

fn per_second(count: usize, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

/// Re-times every case and prints rates and ratios in one table.
fn summary() {
    const RUNS: usize = 7;
    let generated = generated_objects(TRANSLATE_OBJECTS);
    let (fixtures, fixture_objects) =
        fixture_documents(&[testdata().join("tekton"), testdata().join("seed-conventions")]);
    let time = |documents: &[Value]| {
        median_and_best(
            (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    black_box(translate_all(documents));
                    start.elapsed()
                })
                .collect(),
        )
    };
    let generated_time = time(&generated);
    let fixtures_time = time(&fixtures);

    let facts = generated_facts(env_usize("BENCH_INGEST_FACTS", 20_000));
    let n = facts.len();
    let rt = runtime();
    let baseline = median_and_best((0..RUNS).map(|_| ingest_hashmap(&facts).0).collect());
    let memory = median_and_best((0..RUNS).map(|_| ingest_in_memory(&rt, &facts).0).collect());
    let durable = median_and_best((0..RUNS).map(|_| ingest_durable(&rt, &facts).0).collect());

    println!("\n== summary ({RUNS} runs each; size_of::<RunFact>() = {} bytes) ==", std::mem::size_of::<RunFact>());
    println!("{:<48} {:>12} {:>12}", "case", "median/s", "best/s");
    let row = |case: String, count: usize, (median, best): (Duration, Duration)| {
        println!("{case:<48} {:>12.0} {:>12.0}", per_second(count, median), per_second(count, best));
    };
    row(format!("translate generated ({} objects)", generated.len()), generated.len(), generated_time);
    row(format!("translate fixtures ({fixture_objects} objects)"), fixture_objects, fixtures_time);
    row(format!("ingest HashMap baseline ({n} facts, batches of {BATCH})"), n, baseline);
    row(format!("ingest embedded in-memory ({n} facts)"), n, memory);
    row(format!("ingest embedded durable, redb ({n} facts)"), n, durable);
    for (name, (median, best)) in [("in-memory", memory), ("durable", durable)] {
        println!(
            "{name:<9} rate / baseline rate: {:.3} (median), {:.3} (best)",
            baseline.0.as_secs_f64() / median.as_secs_f64(),
            baseline.1.as_secs_f64() / best.as_secs_f64()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut criterion = Criterion::default().configure_from_args();
    bench_translate(&mut criterion);
    bench_ingest(&mut criterion);
    criterion.final_summary();
    // The summary runs under `cargo bench` (which passes `--bench`) without a filter, unless BENCH_SUMMARY=0; not
    // under `cargo test --benches` or `--list`.
    let filtered = args.iter().skip(1).any(|a| !a.starts_with('-'));
    let benching = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--list");
    if benching && !filtered && std::env::var("BENCH_SUMMARY").map_or(true, |v| v != "0") {
        summary();
    }
}
