//! What emission costs ingest: the same generated facts into an embedded store on disk, with no sensemaker (the
//! baseline: nothing to emit), with a sensemaker whose outbox is in memory (deriving events, no I/O), and with its
//! outbox in a redb file (what `serve --emit` does); the sink takes everything at once; one fact per apply (a watch over HTTP) and in batches of 500 (the Kafka source).
//!
//! ```sh
//! cargo bench -p graph-service --bench emit_overhead      # BENCH_BUILDS (300) generated builds
//! ```
//! Under `cargo test --benches` it runs 10 builds and checks that every variant stored the same runs and that the
//! sink got every event.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cloudevents::Event;
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::sensemaker::{EmitError, EmitOutbox, Emitter, Sensemaker, SensemakerConfig};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::RunFact;

/// Takes every event at once and counts them.
struct Sink(Arc<AtomicUsize>);

#[async_trait]
impl Emitter for Sink {
    async fn emit(&self, events: &[Event]) -> Result<(), EmitError> {
        self.0.fetch_add(events.len(), Ordering::Relaxed);
        Ok(())
    }
    fn describe(&self) -> String {
        "sink".into()
    }
}

struct Outcome {
    elapsed: Duration,
    runs: usize,
    emitted: usize,
}

async fn run(facts: &[RunFact], batch: usize, emit: Option<bool>) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("data"), ProjectionConfig::default()).expect("store"));
    let count = Arc::new(AtomicUsize::new(0));
    let mut ingestor = Ingestor::new(store.clone());
    if let Some(on_disk) = emit {
        let outbox = if on_disk {
            EmitOutbox::open(&dir.path().join("emit-outbox.redb")).expect("outbox")
        } else {
            EmitOutbox::in_memory().expect("outbox")
        };
        let sink: Box<dyn Emitter> = Box::new(Sink(count.clone()));
        ingestor = ingestor.with_sensemaker(Sensemaker::new(SensemakerConfig::default(), vec![sink], outbox));
    }
    let started = Instant::now();
    for chunk in facts.chunks(batch) {
        ingestor.apply(chunk).await.expect("apply");
    }
    if let Some(sensemaker) = ingestor.sensemaker() {
        sensemaker.flush().await.expect("flush");
    }
    let elapsed = started.elapsed();
    let runs = store.counts().await.expect("counts").pipeline_runs;
    Outcome { elapsed, runs, emitted: count.load(Ordering::Relaxed) }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let builds =
        if quick { 10 } else { std::env::var("BENCH_BUILDS").ok().and_then(|v| v.parse().ok()).unwrap_or(300) };
    let config = GenerateConfig { pipeline_runs: builds, seed: 3, ..GenerateConfig::default() };
    let facts: Vec<RunFact> =
        generate(&config).flat_map(|o| tekton_translate::translate_value(&o).expect("translate")).collect();
    println!("{} facts from {builds} generated builds, embedded store on disk", facts.len());
    println!(
        "| facts per apply | without emission (facts/s) | outbox in memory (facts/s) | outbox on disk (facts/s) | ratio disk/without | ratio disk/memory | events |"
    );
    println!("|---|---|---|---|---|---|---|");
    for batch in [1, 500] {
        let baseline = run(&facts, batch, None).await;
        let memory = run(&facts, batch, Some(false)).await;
        let with = run(&facts, batch, Some(true)).await;
        assert_eq!(baseline.runs, with.runs, "both variants store the same runs");
        assert_eq!(memory.emitted, with.emitted, "the outbox's medium changes nothing sent");
        assert!(with.emitted > 0, "the sink got the events");
        let rate = |o: &Outcome| facts.len() as f64 / o.elapsed.as_secs_f64();
        println!(
            "| {batch} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {} |",
            rate(&baseline),
            rate(&memory),
            rate(&with),
            rate(&with) / rate(&baseline),
            rate(&with) / rate(&memory),
            with.emitted
        );
    }
}
