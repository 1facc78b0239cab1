//! `--sink amqp[s]://[USER@]HOST[:PORT]/VHOST?exchange=NAME&routing_key=KEY`: publishes each fact as one
//! structured-mode CloudEvent to a RabbitMQ topic exchange (default `tekton-graph.facts`, where graph-service's
//! `--source amqp://…` binds its queue), routed by the event type unless `routing_key` fixes one.
//!
//! Messages are persistent, `message_id` is the event id, and each is published `mandatory` with publisher confirms
//! ([`tekton_graph_amqp::publisher`]): facts are buffered up to `--batch-size` and a batch counts as delivered only
//! once the broker confirmed every message. A nack, an unroutable (returned) message or a broken connection is
//! retried `--sink-retries` times on a new connection; what still fails is reported as lost with the reason.

use cloudevents::Event;
use tekton_graph_amqp::{Outgoing, Publisher, PublisherConfig};

use super::SinkError;

pub struct AmqpSink {
    publisher: Publisher,
    buffer: Vec<Outgoing>,
    batch_size: usize,
}

impl AmqpSink {
    pub fn new(config: PublisherConfig, batch_size: usize) -> Self {
        AmqpSink { publisher: Publisher::new(config), buffer: Vec::with_capacity(batch_size), batch_size }
    }

    /// Buffers one event; a full buffer is published. Returns the events confirmed by this call.
    pub async fn push(&mut self, event: Event) -> Result<usize, SinkError> {
        // The trace context also as a transport header (CloudEvents' distributed-tracing extension).
        let traceparent = event.extension("traceparent").map(ToString::to_string);
        let headers: Vec<(&str, &str)> = traceparent.iter().map(|t| ("traceparent", t.as_str())).collect();
        self.buffer.push(Outgoing::cloudevent(&event, &headers).map_err(SinkError::Encode)?);
        if self.buffer.len() >= self.batch_size { self.flush().await } else { Ok(0) }
    }

    /// Publishes whatever is buffered and waits for the broker's confirms.
    pub async fn flush(&mut self) -> Result<usize, SinkError> {
        if self.buffer.is_empty() {
            return Ok(0);
        }
        let batch = std::mem::take(&mut self.buffer);
        match self.publisher.publish(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => Err(SinkError::Lost {
                broker: "RabbitMQ",
                events: e.total - e.confirmed,
                delivered: e.confirmed,
                reason: e.to_string(),
            }),
        }
    }
}
