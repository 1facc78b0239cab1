//! Publishes each event as one structured-mode CloudEvent to a RabbitMQ exchange (default `tekton-graph.events`,
//! a durable topic exchange), routed by the event type unless the URL fixes a `routing_key`: persistent, `mandatory`,
//! confirmed by the broker ([`tekton_graph_amqp::publisher`]). A call returns once every message is confirmed; an
//! unroutable message (no queue bound for it) is a failure, retried by the outbox like any other.

use async_trait::async_trait;
use cloudevents::{AttributesReader, Event};
use tekton_graph_amqp::{Outgoing, Publisher, PublisherConfig};

use super::{EmitError, Emitter};

pub struct AmqpEmitter(Publisher);

impl AmqpEmitter {
    pub fn new(url: &str) -> Result<Self, EmitError> {
        let mut config =
            PublisherConfig::from_url(url, tekton_graph_amqp::EVENTS_EXCHANGE).map_err(EmitError::Client)?;
        config.name = concat!("tekton-graph-sensemaker/", env!("CARGO_PKG_VERSION")).to_string();
        // The outbox retries a failed call with its own backoff: one attempt per call here.
        config.attempts = 1;
        Ok(AmqpEmitter(Publisher::new(config)))
    }
}

#[async_trait]
impl Emitter for AmqpEmitter {
    async fn emit(&self, events: &[Event]) -> Result<(), EmitError> {
        let messages = events
            .iter()
            .map(|event| {
                // The trace context also as a transport header (CloudEvents' distributed-tracing extension).
                let traceparent = event.extension("traceparent").map(ToString::to_string);
                let headers: Vec<(&str, &str)> = traceparent.iter().map(|t| ("traceparent", t.as_str())).collect();
                Outgoing::cloudevent(event, &headers)
                    .map_err(|e| EmitError::Encode { id: event.id().to_string(), reason: e.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.0.publish(&messages).await.map_err(|e| EmitError::Lost {
            failed: e.total - e.confirmed,
            total: e.total,
            reason: e.reason,
        })
    }

    fn describe(&self) -> String {
        self.0.config().describe()
    }
}
