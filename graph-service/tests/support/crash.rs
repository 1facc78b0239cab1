//! What the crash tests share, whatever the broker: a generated backfill, graph-service processes to kill, and the
//! comparison of the final graph with a clean load of the same facts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use graph_service::model::{ProjectionConfig, project};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::neo4j::Neo4jStore;
use rand::{Rng, SeedableRng};
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::RunFact;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The generated backfill: `CRASH_TEST_BUILDS` builds (default `default_builds`), seed 7.
pub fn generated_facts(default_builds: usize) -> Vec<RunFact> {
    let builds = std::env::var("CRASH_TEST_BUILDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default_builds);
    let config = GenerateConfig { pipeline_runs: builds, seed: 7, ..GenerateConfig::default() };
    generate(&config)
        .flat_map(|o| tekton_translate::translate_value(&o).expect("generated objects translate"))
        .collect()
}

pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Waits until Neo4j holds every run.
pub async fn wait_for_runs(reader: &Neo4jStore, expected: usize, timeout: Duration, log: &Path) {
    let started = Instant::now();
    loop {
        let counts = reader.counts().await;
        if let Ok(c) = &counts
            && c.pipeline_runs + c.task_runs == expected
        {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "graph-service did not load all {expected} runs within {timeout:?} (now {counts:?}); log tail:\n{}",
            log_tail(log)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The reference: the same facts applied once, in order, to a fresh embedded store.
pub async fn clean_load(facts: &[RunFact]) -> (EmbeddedStore, usize, i64) {
    let store = EmbeddedStore::in_memory(ProjectionConfig::default());
    for chunk in facts.chunks(1000) {
        store.apply(chunk).await.expect("clean apply");
    }
    let mut keys: Vec<_> = facts.iter().map(|f| f.key()).collect();
    keys.sort();
    keys.dedup();
    let newest = store.facts(&keys).await.expect("facts");
    let contributions: usize = newest.iter().flatten().map(|f| project(f, &ProjectionConfig::default()).len()).sum();
    (store, keys.len(), contributions as i64)
}

/// Waits (up to two minutes: the last batches may still be in flight) until `reader` holds what a clean load of
/// `facts` holds — the same counts, the same fingerprint and no edge contribution counted twice — and fails with
/// the difference otherwise.
pub async fn assert_equal_to_clean_load(reader: &Neo4jStore, facts: &[RunFact]) {
    let (reference, _, contributions) = clean_load(facts).await;
    let expected = super::fingerprint(&reference).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = super::fingerprint(reader).await;
        let rows = reader.read_only("MATCH ()-[e]->() RETURN sum(e.count) AS n", Default::default()).await.unwrap();
        let counted = rows[0]["n"].clone();
        if got == expected && counted == contributions {
            println!("equal to a clean load: {:?}, fingerprint {}, {contributions} edge contributions", got.0, got.1);
            return;
        }
        if Instant::now() >= deadline {
            assert_eq!(got.0, expected.0, "counts differ from a clean load");
            assert_eq!(got.1, expected.1, "graph fingerprint differs from a clean load");
            assert_eq!(counted, contributions, "edge contributions counted twice or lost");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs `scripts/services.sh COMMAND` (e.g. an engine restart) and asserts that it succeeded.
pub fn services(command: &str) {
    let status = Command::new("bash")
        .arg(repo_root().join("scripts/services.sh"))
        .arg(command)
        .status()
        .unwrap_or_else(|e| panic!("scripts/services.sh {command}: {e}"));
    assert!(status.success(), "scripts/services.sh {command} failed");
}

/// Five rounds of: start a graph-service process (`spawn`), wait until it stored something, `kill -9` it 0–1.5 s
/// later. Then one more process runs until Neo4j holds all `expected_runs`; it is returned still running (its last
/// batches may be in flight). Prints the kill schedule's seed and the processes' peak RSS.
pub async fn kill_9_rounds(
    reader: &Neo4jStore,
    expected_runs: usize,
    log: &Path,
    mut spawn: impl FnMut() -> Child,
) -> Child {
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    println!("kill schedule seed {seed}");
    let mut peak = 0.0f64;
    let stored = |c: graph_service::store::StoreCounts| c.pipeline_runs + c.task_runs;
    for round in 1..=5 {
        let before = stored(reader.counts().await.unwrap());
        let mut child = spawn();
        // Kill at a random moment once this process is writing: after it stored something, 0–1.5 s later.
        let started = Instant::now();
        while stored(reader.counts().await.unwrap()) == before {
            assert!(started.elapsed() < Duration::from_secs(120), "round {round} made no progress:\n{}", log_tail(log));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..1500))).await;
        peak = peak.max(peak_rss_mib(child.id()).unwrap_or(0.0));
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        let after = stored(reader.counts().await.unwrap());
        println!("round {round}: killed after {:?}; runs stored {before} → {after}", started.elapsed());
        assert!(after < expected_runs, "round {round} finished the load before the kill; make the backfill larger");
    }
    let child = spawn();
    wait_for_runs(reader, expected_runs, Duration::from_secs(600), log).await;
    peak = peak.max(peak_rss_mib(child.id()).unwrap_or(0.0));
    println!("graph-service peak RSS {peak:.0} MiB");
    child
}
