//! What graph-service counts, served at `GET /metrics` (role `viewer`: counts and latencies only, no graph
//! content) in Prometheus' text format:
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `tekton_graph_service_events_total` | `source`, `outcome` | facts in, by where they came from (`http`, `kafka`, `amqp`, `direct`) and what became of them: `applied`, `unchanged` (the store held as new), `unknown_type` (ignored), `rejected` (a refused request), `dead_lettered` (a queue message that is no fact) |
//! | `tekton_graph_service_batch_facts` | `source` | facts per ingest (one store write) |
//! | `tekton_graph_service_store_apply_duration_seconds` | `engine` | one store write |
//! | `tekton_graph_service_store_apply_failures_total` | `engine` | store writes that failed (and were retried or refused) |
//! | `tekton_graph_service_source_lag_messages` | `source` | messages waiting in the broker for this consumer |
//! | `tekton_graph_service_graphql_request_duration_seconds` | `operation` | one `POST /graphql` (the operation's name; `anonymous`, `batch`, or `other` past 100 names) |
//! | `tekton_graph_service_emitted_events_total` | `sink`, `outcome` | emitted events: `delivered`, `failed` (retried later), `dead` (refused for good) |

use std::sync::Arc;
use std::time::Duration;

use tekton_graph_telemetry::metrics::{BoundedLabels, LATENCY_BUCKETS, Metrics, SIZE_BUCKETS};
use tekton_graph_telemetry::prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};

/// Where facts came in: the `source` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestSource {
    Http,
    Kafka,
    Amqp,
    /// Called as a library (tests, tools), not through an input of the service.
    Direct,
}

impl IngestSource {
    pub fn label(self) -> &'static str {
        match self {
            IngestSource::Http => "http",
            IngestSource::Kafka => "kafka",
            IngestSource::Amqp => "amqp",
            IngestSource::Direct => "direct",
        }
    }
}

/// What became of facts: the `outcome` label of `tekton_graph_service_events_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Unchanged,
    UnknownType,
    Rejected,
    DeadLettered,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::UnknownType => "unknown_type",
            Outcome::Rejected => "rejected",
            Outcome::DeadLettered => "dead_lettered",
        }
    }
}

/// What became of emitted events: the `outcome` label of `tekton_graph_service_emitted_events_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emission {
    Delivered,
    Failed,
    Dead,
}

/// Most distinct GraphQL operation names given their own label value.
const MAX_OPERATIONS: usize = 100;

/// graph-service's metrics, on their own registry.
pub struct ServiceMetrics {
    registry: Arc<Metrics>,
    events: IntCounterVec,
    batch_facts: HistogramVec,
    apply_seconds: HistogramVec,
    apply_failures: IntCounterVec,
    lag: IntGaugeVec,
    graphql_seconds: HistogramVec,
    operations: BoundedLabels,
    emitted: IntCounterVec,
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        ServiceMetrics::new()
    }
}

impl ServiceMetrics {
    pub fn new() -> Self {
        let registry = Arc::new(Metrics::new());
        let m = &registry;
        ServiceMetrics {
            events: m.counter(
                "tekton_graph_service_events_total",
                "Facts in, by source and outcome.",
                &["source", "outcome"],
            ),
            batch_facts: m.histogram(
                "tekton_graph_service_batch_facts",
                "Facts per ingest (one store write).",
                &["source"],
                SIZE_BUCKETS,
            ),
            apply_seconds: m.histogram(
                "tekton_graph_service_store_apply_duration_seconds",
                "Time of one store write.",
                &["engine"],
                LATENCY_BUCKETS,
            ),
            apply_failures: m.counter(
                "tekton_graph_service_store_apply_failures_total",
                "Store writes that failed.",
                &["engine"],
            ),
            lag: m.gauge(
                "tekton_graph_service_source_lag_messages",
                "Messages waiting in the broker for this consumer.",
                &["source"],
            ),
            graphql_seconds: m.histogram(
                "tekton_graph_service_graphql_request_duration_seconds",
                "Time of one POST /graphql, by operation name.",
                &["operation"],
                LATENCY_BUCKETS,
            ),
            operations: BoundedLabels::new(MAX_OPERATIONS),
            emitted: m.counter(
                "tekton_graph_service_emitted_events_total",
                "Emitted events, by sink and outcome.",
                &["sink", "outcome"],
            ),
            registry,
        }
    }

    pub fn registry(&self) -> &Arc<Metrics> {
        &self.registry
    }

    /// `count` facts from `source` came to `outcome`.
    pub fn events(&self, source: IngestSource, outcome: Outcome, count: usize) {
        if count > 0 {
            self.events.with_label_values(&[source.label(), outcome.label()]).inc_by(count as u64);
        }
    }

    /// One ingest of `facts` facts from `source`.
    pub fn batch(&self, source: IngestSource, facts: usize) {
        self.batch_facts.with_label_values(&[source.label()]).observe(facts as f64);
    }

    /// One store write on `engine` took `elapsed`, and failed unless `ok`.
    pub fn store_apply(&self, engine: &str, elapsed: Duration, ok: bool) {
        self.apply_seconds.with_label_values(&[engine]).observe(elapsed.as_secs_f64());
        if !ok {
            self.apply_failures.with_label_values(&[engine]).inc();
        }
    }

    /// `messages` wait in the broker for `source`.
    pub fn lag(&self, source: IngestSource, messages: i64) {
        self.lag.with_label_values(&[source.label()]).set(messages);
    }

    /// One `POST /graphql`: `operations` holds the operation names of its requests (a batch has several).
    pub fn graphql(&self, operations: &[Option<&str>], elapsed: Duration) {
        let label = match operations {
            [one] => one.map_or_else(|| "anonymous".to_string(), |name| self.operations.label(name)),
            _ => "batch".to_string(),
        };
        self.graphql_seconds.with_label_values(&[label.as_str()]).observe(elapsed.as_secs_f64());
    }

    /// `count` events for `sink` came to `outcome`.
    pub fn emitted(&self, sink: &str, outcome: Emission, count: usize) {
        let outcome = match outcome {
            Emission::Delivered => "delivered",
            Emission::Failed => "failed",
            Emission::Dead => "dead",
        };
        self.emitted.with_label_values(&[sink, outcome]).inc_by(count as u64);
    }
}
