//! Traces: `tracing` spans exported as OpenTelemetry spans over OTLP (HTTP, protobuf) when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, off otherwise; the other standard
//! variables apply (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, `OTEL_SDK_DISABLED`). An `https://` endpoint
//! is verified against the system's roots, or against the PEM CA in `OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE`.
//!
//! Between processes the context travels as a W3C `traceparent`: in a CloudEvent's `traceparent` extension (the
//! CloudEvents distributed-tracing extension) and in the transport's headers. [`traceparent`] reads a span's,
//! [`continue_from`] and [`link_to`] attach a span to one received.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::WithHttpConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C `traceparent` of `span`, when tracing is on (`None` when it is off: the span has no OpenTelemetry
/// context then).
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// The context in a received `traceparent`; `None` when it is not a valid W3C trace context.
fn remote(traceparent: &str) -> Option<opentelemetry::Context> {
    let carrier: HashMap<String, String> = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// Whether `traceparent` is a valid W3C trace context (a malformed one is ignored, never an error).
pub fn is_valid(traceparent: &str) -> bool {
    remote(traceparent).is_some()
}

/// The trace id (32 hex digits) of a `traceparent`.
pub fn trace_id(traceparent: &str) -> Option<String> {
    remote(traceparent).map(|cx| cx.span().span_context().trace_id().to_string())
}

/// Makes `span` a child of the remote `traceparent`. Call it before the span is entered; a malformed
/// `traceparent`, or tracing being off, leaves the span as it is.
pub fn continue_from(span: &tracing::Span, traceparent: &str) {
    if let Some(cx) = remote(traceparent) {
        let _ = span.set_parent(cx);
    }
}

/// Links `span` to the remote `traceparent` (a batch span to each of its events). Before the span is entered.
pub fn link_to(span: &tracing::Span, traceparent: &str) {
    if let Some(cx) = remote(traceparent) {
        span.add_link(cx.span().span_context().clone());
    }
}

/// Why traces cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{0}: only `http/protobuf` is supported (OTLP over HTTP, e.g. port 4318)")]
    Protocol(String),
    #[error("{0}: the endpoint must be an http:// or https:// URL")]
    Scheme(String),
    #[error("{name} {path}: {reason}")]
    Certificate { name: &'static str, path: String, reason: String },
    #[error("OTEL_EXPORTER_OTLP_TIMEOUT `{0}` is not a number of milliseconds")]
    Timeout(String),
    #[error("tracing needs a Tokio runtime to send spans from")]
    NoRuntime,
    #[error("cannot set up the OTLP exporter: {0}")]
    Exporter(String),
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The OTLP trace exporter's endpoint from the environment, or `None` when tracing is off.
fn configured_endpoint() -> Option<String> {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v == "none")
    {
        return None;
    }
    env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// A tracer provider exporting to the configured endpoint, or `None` when tracing is off. Needs a Tokio runtime:
/// the exporter's requests run on it.
pub(crate) fn provider(service: &str) -> Result<Option<SdkTracerProvider>, TraceError> {
    let Some(endpoint) = configured_endpoint() else { return Ok(None) };
    for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Some(protocol) = env(name).filter(|p| p != "http/protobuf") {
            return Err(TraceError::Protocol(format!("{name}={protocol}")));
        }
    }
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(TraceError::Scheme(endpoint));
    }
    let timeout = match env("OTEL_EXPORTER_OTLP_TIMEOUT") {
        Some(ms) => Duration::from_millis(ms.parse().map_err(|_| TraceError::Timeout(ms))?),
        None => Duration::from_secs(10),
    };
    let handle = tokio::runtime::Handle::try_current().map_err(|_| TraceError::NoRuntime)?;
    let ca = ["OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"]
        .into_iter()
        .find_map(|name| env(name).map(|path| (name, path)));
    let client = OnRuntime { client: http_client(timeout, ca)?, handle };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .build()
        .map_err(|e| TraceError::Exporter(e.to_string()))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if env("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.to_string());
    }
    Ok(Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build()))
}

/// The exporter's HTTP client: the workspace's reqwest (rustls), trusting the CA in the PEM file `ca` (the variable
/// that named it, and the path) when there is one.
fn http_client(timeout: Duration, ca: Option<(&'static str, String)>) -> Result<reqwest::Client, TraceError> {
    let mut builder = reqwest::Client::builder().timeout(timeout);
    if let Some((name, path)) = ca {
        let problem = |reason: String| TraceError::Certificate { name, path: path.clone(), reason };
        let pem = std::fs::read(&path).map_err(|e| problem(e.to_string()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| problem(e.to_string()))?;
        if certificates.is_empty() {
            return Err(problem("holds no PEM certificate".into()));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().map_err(|e| TraceError::Exporter(e.to_string()))
}

/// The tracing layer over `provider`.
pub(crate) fn layer<S>(provider: &SdkTracerProvider, service: &str) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_string()))
}

/// A collector's answer is read up to this size (it is a small protobuf message).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// reqwest, with every request run on the service's Tokio runtime: the batch span processor sends from a thread
/// of its own, where the client's connections could not run.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    handle: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.handle.spawn(async move { send(&client, request).await }).await?
    }
}

async fn send(client: &reqwest::Client, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
    let mut response = client.execute(request.try_into()?).await?;
    let (status, headers) = (response.status(), std::mem::take(response.headers_mut()));
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("the collector answered more than {MAX_RESPONSE_BYTES} bytes").into());
        }
        body.extend_from_slice(&chunk);
    }
    let mut answer = Response::builder().status(status).body(Bytes::from(body))?;
    *answer.headers_mut() = headers;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_read_and_malformed_ones_ignored() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(is_valid(valid));
        assert_eq!(trace_id(valid).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in ["", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "hello", "00-xyz-abc-01"] {
            assert!(!is_valid(bad), "{bad}");
        }
        // Without an OpenTelemetry layer a span has no context: nothing to propagate.
        assert_eq!(traceparent(&tracing::info_span!("off")), None);
    }

    #[test]
    fn a_ca_file_that_cannot_be_used_is_named_with_its_reason() {
        let name = "OTEL_EXPORTER_OTLP_CERTIFICATE";
        let error = http_client(Duration::from_secs(1), Some((name, "/nonexistent/ca.crt".into()))).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE /nonexistent/ca.crt: "), "{text}");
        let dir = std::env::temp_dir().join(format!("otlp-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let error = http_client(Duration::from_secs(1), Some((name, dir.display().to_string()))).unwrap_err();
        std::fs::remove_file(&dir).unwrap();
        assert!(error.to_string().ends_with("holds no PEM certificate"), "{error}");
        assert!(http_client(Duration::from_secs(1), None).is_ok());
    }
}
