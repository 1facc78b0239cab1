//! What every tekton-graph binary reports about itself, the same way in each: logs and traces ([`logging`]: text
//! or JSON lines on stderr, spans over OTLP when configured, [`trace`]: the W3C trace context between processes)
//! and Prometheus metrics ([`metrics`]: an explicit registry, the `/metrics` endpoint, and a small listener for a
//! binary without an HTTP server of its own).

pub mod logging;
pub mod metrics;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trace;

pub use prometheus;
