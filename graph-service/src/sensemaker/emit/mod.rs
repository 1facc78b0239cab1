//! Where Sensemaker events go. [`emitter_from_url`] picks the emitter from a URL:
//!
//! * `http(s)://…` → [`http::HttpEmitter`]: one POST per event in structured mode
//!   (`application/cloudevents+json`). Structured single events, not batches, because that is what every
//!   CloudEvents receiver accepts (Knative brokers, Argo Events, CDEvents consumers reject batch mode); Sensemaker
//!   batches are a handful of events, so the extra requests cost little.
//! * `kafka://HOST:PORT[,HOST:PORT…]/TOPIC` → [`kafka::KafkaEmitter`]: one structured event per message, keyed by
//!   the event subject (events about one run or image stay in order in one partition).
//! * `amqp[s]://…/VHOST?exchange=NAME&routing_key=KEY` → [`amqp::AmqpEmitter`]: one structured event per
//!   persistent, confirmed message to a topic exchange (default `tekton-graph.events`), routed by the event type.

pub mod amqp;
pub mod http;
pub mod kafka;

use async_trait::async_trait;
use cloudevents::Event;
use tekton_graph_schema::kafka::KafkaOption;

/// A sink for Sensemaker events.
#[async_trait]
pub trait Emitter: Send + Sync {
    /// Sends the events; returns once the sink accepted all of them. A retry resends all of them (same ids).
    async fn emit(&self, events: &[Event]) -> Result<(), EmitError>;
    /// Where the events go, for logs (never includes credentials).
    fn describe(&self) -> String;
}

#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error(
        "unsupported sink `{0}`: expected an http(s):// URL, kafka://HOST:PORT[,HOST:PORT…]/TOPIC (1–249 of [A-Za-z0-9._-]) or amqp[s]://HOST[:PORT]/VHOST?exchange=NAME"
    )]
    Unsupported(String),
    #[error("cannot set up the sink: {0}")]
    Client(String),
    #[error("cannot encode event `{id}`: {reason}")]
    Encode { id: String, reason: String },
    #[error("sending failed: {0}")]
    Transport(String),
    #[error("the receiver answered {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("the broker did not take {failed} of {total} events: {reason}")]
    Lost { failed: usize, total: usize, reason: String },
}

impl EmitError {
    /// Worth retrying: the network, an overloaded or failing receiver, a broker that did not acknowledge.
    pub fn is_transient(&self) -> bool {
        match self {
            EmitError::Transport(_) | EmitError::Lost { .. } => true,
            EmitError::Rejected { status, .. } => *status == 429 || *status >= 500,
            EmitError::Unsupported(_) | EmitError::Client(_) | EmitError::Encode { .. } => false,
        }
    }
}

/// An emitter for `http(s)://…`, `kafka://HOST:PORT[,HOST:PORT…]/TOPIC` or `amqp[s]://…`. Kafka options are
/// librdkafka settings (security, tuning); they are ignored for the others.
pub fn emitter_from_url(url: &str, kafka_options: &[KafkaOption]) -> Result<Box<dyn Emitter>, EmitError> {
    if url.starts_with("amqp://") || url.starts_with("amqps://") {
        return Ok(Box::new(amqp::AmqpEmitter::new(url)?));
    }
    if let Some(rest) = url.strip_prefix("kafka://") {
        let (brokers, topic) = parse_kafka(rest).ok_or_else(|| EmitError::Unsupported(url.to_string()))?;
        return Ok(Box::new(kafka::KafkaEmitter::new(brokers, topic, kafka_options)?));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        let parsed = reqwest::Url::parse(url).map_err(|_| EmitError::Unsupported(url.to_string()))?;
        return Ok(Box::new(http::HttpEmitter::new(parsed)?));
    }
    Err(EmitError::Unsupported(url.to_string()))
}

/// `HOST:PORT[,HOST:PORT…]/TOPIC` after `kafka://`.
fn parse_kafka(rest: &str) -> Option<(&str, &str)> {
    tekton_graph_schema::kafka::parse_brokers_and_topic(rest).ok()
}

/// An error with its sources: client libraries' own messages ("error sending request") hide the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_emitter_or_are_refused() {
        assert_eq!(parse_kafka("a:1,b:2/sense.events"), Some(("a:1,b:2", "sense.events")));
        for bad in ["a/t", "a:1/", "a:1/t?x=y", "a:0/t", "/t"] {
            assert_eq!(parse_kafka(bad), None, "{bad}");
        }
        assert!(matches!(emitter_from_url("ftp://x/y", &[]), Err(EmitError::Unsupported(_))));
        assert!(matches!(emitter_from_url("kafka://x/y", &[]), Err(EmitError::Unsupported(_))));
        let http = emitter_from_url("https://example.org/events", &[]).expect("http emitter");
        assert_eq!(http.describe(), "https://example.org/events");
        let amqp = emitter_from_url("amqp://u:secret@rabbit/%2f?exchange=sense", &[]).expect("amqp emitter");
        assert_eq!(amqp.describe(), "amqp://u:***@rabbit/%2f?exchange=sense");
        assert!(matches!(emitter_from_url("amqp://rabbit/%2f?topic=x", &[]), Err(EmitError::Client(_))));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(EmitError::Transport("reset".into()).is_transient());
        assert!(EmitError::Rejected { status: 503, body: String::new() }.is_transient());
        assert!(EmitError::Rejected { status: 429, body: String::new() }.is_transient());
        assert!(!EmitError::Rejected { status: 400, body: String::new() }.is_transient());
        assert!(!EmitError::Client("bad".into()).is_transient());
    }
}
