//! What the notifier counts, served at `GET /metrics` (role `viewer`) in Prometheus' text format:
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `tekton_graph_notifier_events_total` | `source`, `outcome` | events in (`http`, `kafka`, `amqp`): `accepted`, `duplicate` (its id was seen), `rejected` (a refused request), `dead_lettered` (a queue message that is no event) |
//! | `tekton_graph_notifier_planned_deliveries_total` | `outcome` | what the rules planned: `queued`, `silenced`, `deduplicated` (`oncePer`), `grouped` (into a digest) |
//! | `tekton_graph_notifier_deliveries_total` | `channel`, `outcome` | send attempts: `sent`, `retried` (failed, tried again later), `dead` (failed for good) |
//! | `tekton_graph_notifier_delivery_duration_seconds` | `channel` | one send attempt |

use std::sync::Arc;
use std::time::Duration;

use tekton_graph_telemetry::metrics::{LATENCY_BUCKETS, Metrics};
use tekton_graph_telemetry::prometheus::{HistogramVec, IntCounterVec};

use crate::outbox::Recorded;

/// The notifier's metrics, on their own registry.
pub struct NotifierMetrics {
    registry: Arc<Metrics>,
    events: IntCounterVec,
    planned: IntCounterVec,
    deliveries: IntCounterVec,
    send_seconds: HistogramVec,
}

impl Default for NotifierMetrics {
    fn default() -> Self {
        NotifierMetrics::new()
    }
}

impl NotifierMetrics {
    pub fn new() -> Self {
        let registry = Arc::new(Metrics::new());
        let m = &registry;
        NotifierMetrics {
            events: m.counter(
                "tekton_graph_notifier_events_total",
                "Events in, by source and outcome.",
                &["source", "outcome"],
            ),
            planned: m.counter(
                "tekton_graph_notifier_planned_deliveries_total",
                "Deliveries the rules planned, by outcome.",
                &["outcome"],
            ),
            deliveries: m.counter(
                "tekton_graph_notifier_deliveries_total",
                "Send attempts, by channel and outcome.",
                &["channel", "outcome"],
            ),
            send_seconds: m.histogram(
                "tekton_graph_notifier_delivery_duration_seconds",
                "Time of one send attempt.",
                &["channel"],
                LATENCY_BUCKETS,
            ),
            registry,
        }
    }

    pub fn registry(&self) -> &Arc<Metrics> {
        &self.registry
    }

    /// An event from `source` (`http`, `kafka`, `amqp`) was recorded.
    pub fn accepted(&self, source: &str, recorded: &Recorded) {
        let outcome = if recorded.duplicate { "duplicate" } else { "accepted" };
        self.events.with_label_values(&[source, outcome]).inc();
    }

    /// A message from `source` was refused (`rejected`) or dead-lettered (`dead_lettered`).
    pub fn refused(&self, source: &str, outcome: &str) {
        self.events.with_label_values(&[source, outcome]).inc();
    }

    /// What the rules planned for one event.
    pub fn planned(&self, recorded: &Recorded) {
        for (outcome, count) in [
            ("queued", recorded.queued),
            ("silenced", recorded.silenced),
            ("deduplicated", recorded.deduplicated),
            ("grouped", recorded.grouped),
        ] {
            if count > 0 {
                self.planned.with_label_values(&[outcome]).inc_by(count as u64);
            }
        }
    }

    /// One send attempt on `channel` took `elapsed` and came to `outcome` (`sent`, `retried`, `dead`).
    pub fn delivery(&self, channel: &str, outcome: &str, elapsed: Duration) {
        self.deliveries.with_label_values(&[channel, outcome]).inc();
        self.send_seconds.with_label_values(&[channel]).observe(elapsed.as_secs_f64());
    }
}
