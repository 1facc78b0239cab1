//! Logs and traces, set up once per process: `--log-format text|json` lines on stderr (stdout carries data: the
//! harvester's facts, the CLI's answers), and — when OTLP is configured ([`crate::trace`]) — the spans exported.
//! JSON lines carry the trace and span id of the span they were logged in, so logs and traces join.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::Dispatch;
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-02T10:00:00Z  INFO graph_service: serving listen=…`
    #[default]
    Text,
    /// `{"timestamp":…,"level":"INFO","target":…,"message":…,<fields>…,"span":…,"trace_id":…,"span_id":…}`
    Json,
}

/// What [`init`] set up; [`Telemetry::shutdown`] sends the spans not exported yet.
pub struct Telemetry {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn tracing(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans that ended so far. Blocks, as [`Telemetry::shutdown`] does.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(e) = provider.force_flush()
        {
            eprintln!("warning: exporting spans failed: {e}");
        }
    }

    /// Exports what is left and stops the exporter. Blocks: call it outside async code, or in
    /// `tokio::task::block_in_place`.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: exporting the last spans failed: {e}");
        }
    }
}

/// Spans exported over OTLP: ours at `info` and above, never the exporter's own.
const TRACE_FILTER: &str = "info,h2=off,hyper=off,hyper_util=off,tower=off,opentelemetry=off,opentelemetry_sdk=off";

/// Logs to stderr in `format`, filtered by the `tracing` directives in the environment variable `filter_env`
/// (`info`, `graph_service=debug,warn`, …), else by `default_filter`; exports spans as `service` when OTLP is
/// configured. Call once, first thing, inside the Tokio runtime (the exporter sends from it). A broken OTLP
/// setting is reported and leaves tracing off.
pub fn init(format: LogFormat, filter_env: &str, default_filter: &str, service: &str) -> Telemetry {
    let filter = EnvFilter::try_from_env(filter_env).unwrap_or_else(|_| EnvFilter::new(default_filter));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let dispatch = DispatchSlot::default();
    let lines = match format {
        LogFormat::Text => lines.with_filter(filter).boxed(),
        LogFormat::Json => lines.event_format(JsonLines(dispatch.clone())).with_filter(filter).boxed(),
    };
    let (provider, problem) = match crate::trace::provider(service) {
        Ok(provider) => (provider, None),
        Err(e) => (None, Some(e)),
    };
    let spans = provider.as_ref().map(|p| crate::trace::layer(p, service).with_filter(EnvFilter::new(TRACE_FILTER)));
    tracing_subscriber::registry().with(RegisterDispatch(dispatch)).with(lines).with(spans).init();
    if let Some(problem) = problem {
        tracing::error!(error = %problem, "tracing is off");
    }
    Telemetry { provider }
}

/// The subscriber the layers are part of, once it is registered: inside an event's dispatch `tracing` hides the
/// current dispatcher (no re-entry), so the log formatter reaches the OpenTelemetry layer's span data through this.
#[derive(Clone, Default)]
struct DispatchSlot(Arc<OnceLock<WeakDispatch>>);

/// Fills the [`DispatchSlot`] when the subscriber is registered.
struct RegisterDispatch(DispatchSlot);

impl<S: tracing::Subscriber> Layer<S> for RegisterDispatch {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.0.0.set(subscriber.downgrade());
    }
}

/// One JSON object per event: time, level, target, the event's fields, the innermost span's name, and the trace
/// context when tracing is on.
struct JsonLines(DispatchSlot);

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        );
        line.insert("level".into(), Value::String(metadata.level().to_string()));
        line.insert("target".into(), Value::String(metadata.target().to_string()));
        event.record(&mut JsonFields(&mut line));
        if let Some(span) = ctx.lookup_current() {
            line.insert("span".into(), Value::String(span.name().to_string()));
            let dispatch = self.0.0.get().and_then(WeakDispatch::upgrade);
            if let Some(cx) = dispatch.and_then(|d| tracing_opentelemetry::get_otel_context(&span.id(), &d)) {
                let current = cx.span();
                let span_context = current.span_context();
                if span_context.is_valid() {
                    line.insert("trace_id".into(), Value::String(span_context.trace_id().to_string()));
                    line.insert("span_id".into(), Value::String(span_context.span_id().to_string()));
                }
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// An event's fields as JSON values (numbers and booleans as such, the rest as text).
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), Value::String(value.into()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;
    use crate::trace::{continue_from, trace_id, traceparent};

    /// Log lines into memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_carry_the_trace_of_their_span_and_spans_continue_a_remote_trace() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let captured = Captured::default();
        let dispatch = DispatchSlot::default();
        let subscriber = tracing_subscriber::registry()
            .with(RegisterDispatch(dispatch.clone()))
            .with(tracing_subscriber::fmt::layer().with_writer(captured.clone()).event_format(JsonLines(dispatch)))
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let remote = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let (outer, inner) = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("ingest fact");
            continue_from(&span, remote);
            let _entered = span.enter();
            tracing::info!(facts = 3, ok = true, "applied");
            (traceparent(&span), traceparent(&tracing::info_span!("child")))
        });
        let outer = outer.expect("a traceparent with tracing on");
        assert_eq!(trace_id(&outer).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"), "the remote trace goes on");
        assert_ne!(outer, remote, "as a new span in it");
        assert_eq!(inner.and_then(|t| trace_id(&t)), trace_id(remote), "a span inside it is in the same trace");
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.lines().next().expect("one line")).expect("JSON");
        assert_eq!(line["message"], "applied");
        assert_eq!((line["facts"].as_u64(), line["ok"].as_bool()), (Some(3), Some(true)), "{line}");
        assert_eq!((line["level"].as_str(), line["span"].as_str()), (Some("INFO"), Some("ingest fact")));
        assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{line}");
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16), "{line}");
    }
}
