//! What a `watch` counts, served by `--metrics-listen` at `GET /metrics` in Prometheus' text format:
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `tekton_graph_harvester_objects_total` | `change` | watched objects: `upsert` or `delete` |
//! | `tekton_graph_harvester_facts_sent_total` | | facts the sink took |
//! | `tekton_graph_harvester_facts_lost_total` | | facts of failed batches (recovered by a re-list) |
//! | `tekton_graph_harvester_errors_total` | | problems reported on stderr (translation, batches, the watch) |
//! | `tekton_graph_harvester_watch_errors_total` | `target` | watch failures; kube's watcher restarts the watch with backoff |
//! | `tekton_graph_harvester_lists_total` | `target` | completed (re-)lists: the start, an expired watch, a restart |
//! | `tekton_graph_harvester_list_duration_seconds` | `target` | time of one (re-)list |
//! | `tekton_graph_harvester_relists_total` | | restarts of every watch to recover facts of a lost batch |

use std::sync::Arc;
use std::time::Duration;

use tekton_graph_telemetry::metrics::Metrics;
use tekton_graph_telemetry::prometheus::{HistogramVec, IntCounter, IntCounterVec};

/// Buckets of a list's duration, in seconds: 10 ms to 10 min (a re-list of a big cluster takes minutes).
const LIST_BUCKETS: &[f64] = &[0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

pub struct HarvesterMetrics {
    registry: Arc<Metrics>,
    objects: IntCounterVec,
    facts_sent: IntCounter,
    facts_lost: IntCounter,
    errors: IntCounter,
    watch_errors: IntCounterVec,
    lists: IntCounterVec,
    list_seconds: HistogramVec,
    relists: IntCounter,
}

impl Default for HarvesterMetrics {
    fn default() -> Self {
        HarvesterMetrics::new()
    }
}

fn single(counter: IntCounterVec) -> IntCounter {
    counter.with_label_values::<&str>(&[])
}

impl HarvesterMetrics {
    pub fn new() -> Self {
        let registry = Arc::new(Metrics::new());
        let m = &registry;
        HarvesterMetrics {
            objects: m.counter("tekton_graph_harvester_objects_total", "Watched objects, by change.", &["change"]),
            facts_sent: single(m.counter("tekton_graph_harvester_facts_sent_total", "Facts the sink took.", &[])),
            facts_lost: single(m.counter(
                "tekton_graph_harvester_facts_lost_total",
                "Facts of failed batches (recovered by a re-list).",
                &[],
            )),
            errors: single(m.counter("tekton_graph_harvester_errors_total", "Problems reported on stderr.", &[])),
            watch_errors: m.counter(
                "tekton_graph_harvester_watch_errors_total",
                "Watch failures (the watch restarts with backoff).",
                &["target"],
            ),
            lists: m.counter("tekton_graph_harvester_lists_total", "Completed (re-)lists.", &["target"]),
            list_seconds: m.histogram(
                "tekton_graph_harvester_list_duration_seconds",
                "Time of one (re-)list.",
                &["target"],
                LIST_BUCKETS,
            ),
            relists: single(m.counter(
                "tekton_graph_harvester_relists_total",
                "Restarts of every watch to recover the facts of a lost batch.",
                &[],
            )),
            registry,
        }
    }

    pub fn registry(&self) -> &Arc<Metrics> {
        &self.registry
    }

    pub fn object(&self, deletion: bool) {
        self.objects.with_label_values(&[if deletion { "delete" } else { "upsert" }]).inc();
    }

    pub fn facts_sent(&self, count: usize) {
        self.facts_sent.inc_by(count as u64);
    }

    pub fn facts_lost(&self, count: usize) {
        self.facts_lost.inc_by(count as u64);
    }

    pub fn error(&self) {
        self.errors.inc();
    }

    pub fn watch_error(&self, target: &str) {
        self.watch_errors.with_label_values(&[target]).inc();
    }

    pub fn listed(&self, target: &str, elapsed: Duration) {
        self.lists.with_label_values(&[target]).inc();
        self.list_seconds.with_label_values(&[target]).observe(elapsed.as_secs_f64());
    }

    pub fn relisted(&self) {
        self.relists.inc();
    }
}
