//! A publisher with confirms: `amqp[s]://…/VHOST?exchange=NAME&routing_key=KEY`.
//!
//! Every message is persistent and published `mandatory` on a channel in confirm mode; a call returns once the
//! broker confirmed each of them. A nack, a message returned as unroutable (no queue bound for its routing key: it
//! would be lost) or a broken connection is a failure: the messages not yet confirmed are published again, on a new
//! connection when the old one broke, with exponential backoff between attempts (backon), up to a number of attempts.
//! Messages confirmed before a failure are not sent again, so a retry duplicates nothing the broker had taken.
//!
//! The exchange (a durable topic exchange unless it is the default one, `""`, or a broker's own `amq.*`) is declared
//! by the publisher; queues are their consumers' to declare and bind.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ExchangeKind};
use tokio::sync::Mutex;

use crate::endpoint::Endpoint;

/// Where and how messages are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    pub endpoint: Endpoint,
    pub exchange: String,
    /// The routing key of every message; `None`: each message's own (for CloudEvents, the event type).
    pub routing_key: Option<String>,
    /// The connection's name in the broker's views.
    pub name: String,
    /// How long one attempt waits for the broker's confirms.
    pub confirm_timeout: Duration,
    /// Attempts per call (the first included).
    pub attempts: usize,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl PublisherConfig {
    pub const DEFAULT_ATTEMPTS: usize = 5;

    /// Parses `amqp[s]://[USER[:PASSWORD]@]HOST[:PORT]/VHOST[?exchange=NAME][&routing_key=KEY]` (plus the
    /// endpoint's `password_file` and `ca_file`); `default_exchange` when the URL names none.
    pub fn from_url(url: &str, default_exchange: &str) -> Result<Self, String> {
        let bad = |why: String| {
            format!(
                "`{}`: {why} (expected amqp[s]://[USER@]HOST[:PORT]/VHOST?exchange=NAME&routing_key=KEY)",
                redact(url)
            )
        };
        let (endpoint, params) = Endpoint::parse(url).map_err(bad)?;
        let mut config = PublisherConfig {
            endpoint,
            exchange: default_exchange.to_string(),
            routing_key: None,
            name: "tekton-graph".to_string(),
            confirm_timeout: Duration::from_secs(30),
            attempts: Self::DEFAULT_ATTEMPTS,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        };
        for (key, value) in params {
            match key.as_str() {
                "exchange" => config.exchange = value,
                "routing_key" if !value.is_empty() => config.routing_key = Some(value),
                _ => return Err(bad(format!("unknown or empty parameter `{key}`"))),
            }
        }
        if config.exchange.len() > 255 || config.routing_key.as_ref().is_some_and(|k| k.len() > 255) {
            return Err(bad("exchange names and routing keys hold at most 255 bytes".into()));
        }
        Ok(config)
    }

    /// Where messages go, without credentials.
    pub fn describe(&self) -> String {
        format!("{}?exchange={}", self.endpoint.redacted(), self.exchange)
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.first_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_jitter()
            .build()
    }
}

/// A URL with the password (if any) replaced, for errors about a URL that did not parse as ours.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(unparsable URL)".to_string(),
    }
}

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Its routing key unless the publisher has a fixed one.
    pub routing_key: String,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

impl Outgoing {
    /// A CloudEvent in structured mode, routed by its type.
    pub fn cloudevent(event: &cloudevents::Event, headers: &[(&str, &str)]) -> Result<Self, serde_json::Error> {
        use cloudevents::AttributesReader;
        let (body, properties) = crate::binding::structured(event, headers)?;
        Ok(Outgoing { routing_key: event.ty().chars().take(255).collect(), body, properties })
    }
}

/// Why messages were not all confirmed.
#[derive(Debug, thiserror::Error)]
#[error("RabbitMQ took {confirmed} of {total} messages ({exchange}): {reason}")]
pub struct PublishError {
    pub confirmed: usize,
    pub total: usize,
    pub exchange: String,
    pub reason: String,
}

struct Link {
    connection: Connection,
    channel: Channel,
}

/// A publisher holding one connection (opened on first use, replaced when it breaks).
pub struct Publisher {
    config: PublisherConfig,
    link: Mutex<Option<Link>>,
}

impl Publisher {
    pub fn new(config: PublisherConfig) -> Self {
        Publisher { config, link: Mutex::new(None) }
    }

    pub fn config(&self) -> &PublisherConfig {
        &self.config
    }

    /// Publishes `messages` and waits until the broker confirmed every one, retrying the others.
    pub async fn publish(&self, messages: &[Outgoing]) -> Result<(), PublishError> {
        let mut confirmed = vec![false; messages.len()];
        let mut delays = self.config.backoff();
        loop {
            let reason = match self.attempt(messages, &mut confirmed).await {
                Ok(()) => return Ok(()),
                Err(reason) => reason,
            };
            let Some(delay) = delays.next() else {
                return Err(PublishError {
                    confirmed: confirmed.iter().filter(|c| **c).count(),
                    total: messages.len(),
                    exchange: self.config.exchange.clone(),
                    reason,
                });
            };
            let left = confirmed.iter().filter(|c| !**c).count();
            tracing::warn!(%reason, left, ?delay, exchange = %self.config.exchange, "RabbitMQ publish failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One pass over the messages not yet confirmed; marks those the broker confirmed.
    async fn attempt(&self, messages: &[Outgoing], confirmed: &mut [bool]) -> Result<(), String> {
        let mut link = self.link.lock().await;
        if link.as_ref().is_none_or(|l| !l.connection.status().connected() || !l.channel.status().connected()) {
            *link = None;
            *link = Some(self.connect().await?);
        }
        let Some(current) = link.as_ref() else { return Err("no connection".into()) };
        let mut pending = Vec::new();
        let mut failure = None;
        for (index, message) in messages.iter().enumerate().filter(|(i, _)| !confirmed[*i]) {
            let routing_key = self.config.routing_key.as_deref().unwrap_or(&message.routing_key);
            match current
                .channel
                .basic_publish(
                    self.config.exchange.as_str().into(),
                    routing_key.into(),
                    BasicPublishOptions { mandatory: true, immediate: false },
                    &message.body,
                    message.properties.clone(),
                )
                .await
            {
                Ok(confirm) => pending.push((index, confirm)),
                Err(e) => {
                    failure = Some(format!("publish: {e}"));
                    break;
                }
            }
        }
        // Confirms of the messages already sent are awaited even after a failure: those the broker took stay taken.
        let deadline = tokio::time::Instant::now() + self.config.confirm_timeout;
        for (index, confirm) in pending {
            match tokio::time::timeout_at(deadline, confirm).await {
                Ok(Ok(Confirmation::Ack(None))) => confirmed[index] = true,
                Ok(Ok(Confirmation::Ack(Some(returned)))) => {
                    failure.get_or_insert(format!(
                        "returned as unroutable ({} {}): no queue is bound for routing key `{}`",
                        returned.reply_code, returned.reply_text, returned.delivery.routing_key
                    ));
                }
                Ok(Ok(Confirmation::Nack(_))) => {
                    failure.get_or_insert("the broker refused a message (nack)".into());
                }
                Ok(Ok(Confirmation::NotRequested)) => {
                    failure.get_or_insert("the channel is not in confirm mode".into());
                }
                Ok(Err(e)) => {
                    failure.get_or_insert(format!("confirm: {e}"));
                }
                Err(_) => {
                    failure.get_or_insert(format!("no confirm within {:?}", self.config.confirm_timeout));
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(reason) => {
                // A channel error closes the channel; a connection may be half-broken: start over on the next attempt.
                if let Some(old) = link.take() {
                    let _ = old.connection.close(200, "reconnecting".into()).await;
                }
                Err(reason)
            }
        }
    }

    async fn connect(&self) -> Result<Link, String> {
        let connection = self.config.endpoint.connect(&self.config.name).await?;
        let channel = connection.create_channel().await.map_err(|e| format!("open a channel: {e}"))?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| format!("confirm mode: {e}"))?;
        if !self.config.exchange.is_empty() && !self.config.exchange.starts_with("amq.") {
            channel
                .exchange_declare(
                    self.config.exchange.as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("declare exchange `{}`: {e}", self.config.exchange))?;
        }
        tracing::info!(broker = %self.config.endpoint.redacted(), exchange = %self.config.exchange, "RabbitMQ publisher connected");
        Ok(Link { connection, channel })
    }

    /// Closes the connection (pending confirms are awaited by their callers first).
    pub async fn close(&self) {
        if let Some(link) = self.link.lock().await.take() {
            let _ = link.connection.close(200, "bye".into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_defaults_and_parameters() {
        let config = PublisherConfig::from_url("amqp://h:5672/%2f", "tekton-graph.facts").unwrap();
        assert_eq!((config.exchange.as_str(), config.routing_key.as_deref()), ("tekton-graph.facts", None));
        let config = PublisherConfig::from_url("amqp://u:pw@h/%2f?exchange=x&routing_key=k", "d").unwrap();
        assert_eq!((config.exchange.as_str(), config.routing_key.as_deref()), ("x", Some("k")));
        assert_eq!(config.describe(), "amqp://u:***@h/%2f?exchange=x");
        let err = PublisherConfig::from_url("amqp://u:pw@h/%2f?queue=q", "d").unwrap_err();
        assert!(err.contains("`queue`") && !err.contains("pw@"), "{err}");
    }

    #[test]
    fn attempts_bound_the_retries() {
        let mut config = PublisherConfig::from_url("amqp://h/%2f", "d").unwrap();
        config.attempts = 3;
        assert_eq!(config.backoff().count(), 2);
    }
}
