//! Prometheus metrics: one explicit [`Metrics`] registry per service (no global state, so a test can run several
//! services in one process), rendered in Prometheus' text format at `GET /metrics` ([`endpoint`]), or on a small
//! listener of its own ([`listen`]) for a binary without an HTTP server.
//!
//! Names follow Prometheus' conventions: a `tekton_graph_` prefix and the binary, base units (`_seconds`),
//! `_total` on counters, and labels of bounded cardinality only (see [`BoundedLabels`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use poem::http::{StatusCode, header};
use poem::listener::TcpAcceptor;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get};
use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, TextEncoder};
use subtle::ConstantTimeEq;

/// Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buckets of a latency histogram, in seconds: 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Buckets of a batch-size histogram: 1 to 5000 items.
pub const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0];

type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// One service's metrics, and hooks run before each scrape to copy in what is counted elsewhere (a source's own
/// atomic counters, a queue depth).
///
/// The constructors panic when a name is registered twice or is not a valid metric name: names are constants, so
/// that is a bug, which every test building the service finds.
#[derive(Default)]
pub struct Metrics {
    registry: prometheus::Registry,
    hooks: Mutex<Vec<ScrapeHook>>,
}

impl Metrics {
    pub fn new() -> Self {
        Metrics::default()
    }

    /// A counter family (`name` ends in `_total`).
    pub fn counter(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        let counter =
            IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"));
        self.register(name, counter.clone());
        counter
    }

    /// A gauge family.
    pub fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        let gauge = IntGaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("metric {name}: {e}"));
        self.register(name, gauge.clone());
        gauge
    }

    /// A histogram family with these bucket bounds.
    pub fn histogram(&self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        let histogram = HistogramVec::new(opts, labels).unwrap_or_else(|e| panic!("metric {name}: {e}"));
        self.register(name, histogram.clone());
        histogram
    }

    fn register(&self, name: &str, collector: impl Collector + 'static) {
        if let Err(e) = self.registry.register(Box::new(collector)) {
            panic!("metric {name}: {e}");
        }
    }

    /// Runs `hook` before every scrape.
    pub fn on_scrape(&self, hook: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut hooks) = self.hooks.lock() {
            hooks.push(Box::new(hook));
        }
    }

    /// Every metric in Prometheus' text format.
    pub fn render(&self) -> String {
        if let Ok(hooks) = self.hooks.lock() {
            hooks.iter().for_each(|hook| hook());
        }
        let mut text = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text) {
            tracing::error!(error = %e, "cannot render the metrics");
        }
        text
    }
}

/// Raises a counter to `total`, a count kept elsewhere that only grows (it never goes down).
pub fn catch_up(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

/// Label values chosen by callers (a GraphQL operation name), kept to a bounded set: the first `max` distinct
/// well-formed values are used as they are, anything else becomes `other`.
pub struct BoundedLabels {
    max: usize,
    seen: Mutex<HashSet<String>>,
}

impl BoundedLabels {
    /// Longest value kept.
    const MAX_LEN: usize = 64;

    pub fn new(max: usize) -> Self {
        BoundedLabels { max, seen: Mutex::new(HashSet::new()) }
    }

    pub fn label(&self, value: &str) -> String {
        let well_formed = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !well_formed {
            return "other".into();
        }
        let Ok(mut seen) = self.seen.lock() else { return "other".into() };
        if seen.contains(value) || (seen.len() < self.max && seen.insert(value.to_string())) {
            value.to_string()
        } else {
            "other".into()
        }
    }
}

/// `GET /metrics` over `metrics`. Authentication is the caller's: graph-service and the notifier put it behind
/// their own.
pub fn endpoint(metrics: Arc<Metrics>) -> impl Endpoint<Output = Response> {
    poem::endpoint::make_sync(move |_req| {
        Response::builder().status(StatusCode::OK).content_type(CONTENT_TYPE).body(metrics.render())
    })
}

/// Why the metrics listener did not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("refusing to serve metrics on {0} without a token: give a token file, or listen on a loopback address")]
    NoToken(SocketAddr),
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A running metrics listener.
pub struct MetricsServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Where it listens (the bound port when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// Serves `GET /metrics` (and `GET /healthz`) on `addr` until stopped. With a `token`, `/metrics` needs
/// `Authorization: Bearer <token>` (what Prometheus sends from `authorization.credentials_file`); without one,
/// only a loopback address is allowed.
pub async fn listen(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    token: Option<String>,
) -> Result<MetricsServer, ListenError> {
    if token.is_none() && !addr.ip().is_loopback() {
        return Err(ListenError::NoToken(addr));
    }
    let bind_error = |source| ListenError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    let acceptor = TcpAcceptor::from_tokio(listener).map_err(bind_error)?;
    let token = token.map(Arc::new);
    let app = Route::new()
        .at("/metrics", get(endpoint(metrics)))
        .at("/healthz", get(poem::endpoint::make_sync(|_| "ok")))
        .around(move |next, req: Request| {
            let token = token.clone();
            async move {
                if req.uri().path() == "/metrics" && !bearer_matches(&req, token.as_deref()) {
                    return Ok(Response::builder()
                        .status(StatusCode::UNAUTHORIZED)
                        .header(header::WWW_AUTHENTICATE, "Bearer")
                        .body("a bearer token is required"));
                }
                next.call(req).await.map(IntoResponse::into_response)
            }
        });
    let task = tokio::spawn(async move {
        if let Err(e) = poem::Server::new_with_acceptor(acceptor).run(app).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(MetricsServer { addr: bound, task })
}

fn bearer_matches(req: &Request, token: Option<&String>) -> bool {
    let Some(token) = token else { return true };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(presented.as_bytes().ct_eq(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_what_hooks_copy_in() {
        let metrics = Metrics::new();
        let events = metrics.counter("test_events_total", "Events.", &["outcome"]);
        let latency = metrics.histogram("test_latency_seconds", "Latency.", &["engine"], LATENCY_BUCKETS);
        let kept_elsewhere = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let copied = metrics.counter("test_copied_total", "Copied.", &[]);
        let source = kept_elsewhere.clone();
        metrics.on_scrape(move || {
            catch_up(&copied.with_label_values::<&str>(&[]), source.load(std::sync::atomic::Ordering::Relaxed))
        });
        events.with_label_values(&["applied"]).inc_by(3);
        latency.with_label_values(&["embedded"]).observe(0.02);
        kept_elsewhere.store(7, std::sync::atomic::Ordering::Relaxed);
        let text = metrics.render();
        assert!(text.contains("# TYPE test_events_total counter\n"), "{text}");
        assert!(text.contains("test_events_total{outcome=\"applied\"} 3\n"), "{text}");
        assert!(text.contains("test_latency_seconds_bucket{engine=\"embedded\",le=\"0.025\"} 1\n"), "{text}");
        assert!(text.contains("test_latency_seconds_count{engine=\"embedded\"} 1\n"), "{text}");
        assert!(text.contains("test_copied_total 7\n"), "{text}");
        kept_elsewhere.store(5, std::sync::atomic::Ordering::Relaxed);
        assert!(metrics.render().contains("test_copied_total 7\n"), "a counter never goes down");
    }

    #[test]
    #[should_panic(expected = "metric test_twice_total")]
    fn a_name_registered_twice_is_a_bug() {
        let metrics = Metrics::new();
        metrics.counter("test_twice_total", "Once.", &[]);
        metrics.counter("test_twice_total", "Twice.", &[]);
    }

    #[test]
    fn caller_chosen_labels_stay_bounded() {
        let labels = BoundedLabels::new(2);
        assert_eq!(labels.label("RunsPage"), "RunsPage");
        assert_eq!(labels.label("Lineage"), "Lineage");
        assert_eq!(labels.label("Third"), "other", "past the limit");
        assert_eq!(labels.label("RunsPage"), "RunsPage", "known names stay");
        assert_eq!(labels.label("bad name\n"), "other");
        assert_eq!(labels.label(&"x".repeat(65)), "other");
    }

    #[tokio::test]
    async fn the_listener_wants_the_token_and_refuses_open_non_loopback_addresses() {
        let metrics = Arc::new(Metrics::new());
        metrics.counter("test_up_total", "Up.", &[]).with_label_values::<&str>(&[]).inc();
        let open = "0.0.0.0:0".parse().unwrap();
        assert!(matches!(listen(open, metrics.clone(), None).await, Err(ListenError::NoToken(_))));
        let server = listen("127.0.0.1:0".parse().unwrap(), metrics, Some("s3cret".into())).await.unwrap();
        let url = format!("http://{}/metrics", server.addr());
        let client = reqwest::Client::new();
        let refused = client.get(&url).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        let wrong = client.get(&url).bearer_auth("guess").send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        let scraped = client.get(&url).bearer_auth("s3cret").send().await.unwrap();
        assert_eq!(scraped.status(), 200);
        assert_eq!(scraped.headers()["content-type"], CONTENT_TYPE);
        assert!(scraped.text().await.unwrap().contains("test_up_total 1\n"));
        server.stop();
    }
}
