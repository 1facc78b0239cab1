//! A competing consumer of a durable quorum queue:
//! `amqp[s]://…/VHOST?queue=NAME&exchange=NAME&binding_key=KEY&dlx=NAME&delivery_limit=N` (several instances share
//! the queue's messages), handing what it reads to a [`Handler`].
//!
//! On every connect the source declares its topology (idempotently): the queue (`x-queue-type: quorum`, durable,
//! its dead-letter exchange and `x-delivery-limit`), bound to the exchange with the binding key unless `exchange=`
//! is empty; the dead-letter exchange (fanout) and its queue `<queue>.dlq`. The prefetch is the batch size, so the
//! broker never hands over more than one batch ahead.
//!
//! Per batch (up to `batch_size` messages, or whatever arrived within `batch_wait` of the first one):
//!
//! 1. every message is decoded by [`Handler::decode`], its properties and headers given in the shape every source
//!    of ours uses ([`crate::binding::headers`]);
//! 2. a message it cannot decode is published to the dead-letter exchange — body, properties and headers plus
//!    `x-tekton-graph-reason` and `x-tekton-graph-queue` — and its confirm awaited;
//! 3. the decoded items go to one [`Handler::apply`], retried with exponential backoff while it fails
//!    transiently; when the handler refuses the batch for good, it is split ([`tekton_graph_source::isolate`])
//!    until the messages refused alone are found, and those are dead-lettered as in 2 with the handler's reason
//!    (`the store refused it: …`), the rest applied;
//! 4. only then is the batch acknowledged, with one `basic.ack` of its last delivery tag with `multiple`.
//!
//! Delivery is therefore at least once: after a crash or a broken connection the unacknowledged messages come
//! again, which the handler absorbs. A message that keeps coming back without being acknowledged (it crashes every
//! consumer) is dead-lettered by the broker itself once it was delivered `delivery_limit` times. A broken
//! connection is opened again with backoff; the batch in hand is dropped, as the broker redelivers it.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Confirmation, Connection, Consumer, ExchangeKind};
use tekton_graph_source::{ApplyError, Handler, Shutdown, SourceError, isolate};
use tokio::time::Instant;

use crate::endpoint::Endpoint;

/// Header naming why a message was dead-lettered by us (the broker's own dead-lettering writes `x-death`).
pub const REASON_HEADER: &str = "x-tekton-graph-reason";
/// Header naming the queue a dead-lettered message came from.
pub const QUEUE_HEADER: &str = "x-tekton-graph-queue";

/// Configuration of the RabbitMQ source.
#[derive(Debug, Clone, PartialEq)]
pub struct AmqpSourceConfig {
    pub endpoint: Endpoint,
    pub queue: String,
    /// The exchange the queue is bound to; `None`: not bound (publishers use the default exchange and the queue
    /// name as routing key).
    pub exchange: Option<String>,
    pub binding_key: String,
    /// The dead-letter exchange; its queue is `<queue>.dlq`.
    pub dlx: String,
    /// Deliveries of one message before the broker dead-letters it.
    pub delivery_limit: u32,
    /// Most messages per batch (one apply, one ack); also the prefetch.
    pub batch_size: usize,
    pub batch_wait: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// The connection's name in the broker's views.
    pub name: String,
}

impl AmqpSourceConfig {
    pub const DEFAULT_BATCH_SIZE: usize = 500;
    pub const DEFAULT_DELIVERY_LIMIT: u32 = 20;

    /// Parses `amqp[s]://[USER[:PASSWORD]@]HOST[:PORT]/VHOST?queue=NAME&exchange=NAME&binding_key=KEY&dlx=NAME&
    /// delivery_limit=N` (plus the endpoint's `password_file`, `ca_file`). Defaults: `default_queue`,
    /// `default_exchange`, binding key `#`, dead-letter exchange `<queue>.dlx`, delivery limit 20.
    pub fn from_url(url: &str, default_queue: &str, default_exchange: &str) -> Result<Self, SourceError> {
        let bad = |why: String| {
            SourceError::Config(format!(
                "{why} (expected amqp[s]://[USER@]HOST[:PORT]/VHOST?queue=NAME&exchange=NAME&binding_key=KEY&dlx=NAME&delivery_limit=N)"
            ))
        };
        let (endpoint, params) = Endpoint::parse(url).map_err(bad)?;
        let mut config = AmqpSourceConfig {
            endpoint,
            queue: default_queue.to_string(),
            exchange: Some(default_exchange.to_string()),
            binding_key: "#".to_string(),
            dlx: String::new(),
            delivery_limit: Self::DEFAULT_DELIVERY_LIMIT,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            batch_wait: Duration::from_millis(200),
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            name: "tekton-graph".to_string(),
        };
        let mut dlx = None;
        for (key, value) in params {
            match (key.as_str(), value) {
                ("queue", value) if valid_name(&value) => config.queue = value,
                ("exchange", value) if value.is_empty() => config.exchange = None,
                ("exchange", value) if valid_name(&value) => config.exchange = Some(value),
                ("binding_key", value) if value.len() <= 255 => config.binding_key = value,
                ("dlx", value) if valid_name(&value) => dlx = Some(value),
                ("delivery_limit", value) => {
                    config.delivery_limit = value
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| bad(format!("`delivery_limit={value}` is not a whole number ≥ 1")))?
                }
                (key, value) => return Err(bad(format!("unknown or invalid parameter `{key}={value}`"))),
            }
        }
        config.dlx = dlx.unwrap_or_else(|| format!("{}.dlx", config.queue));
        if config.dlx == config.queue || config.exchange.as_deref() == Some(config.dlx.as_str()) {
            return Err(bad("the dead-letter exchange must differ from the queue and the exchange".into()));
        }
        if config.queue.len() + 4 > 255 {
            return Err(bad("the queue name is too long for its `.dlq`".into()));
        }
        Ok(config)
    }

    /// The queue holding dead-lettered messages.
    pub fn dlq(&self) -> String {
        format!("{}.dlq", self.queue)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.first_backoff.saturating_mul(2u32.saturating_pow(attempt)).min(self.max_backoff)
    }
}

/// A queue or exchange name: 1–255 bytes, no reserved `amq.` prefix.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.starts_with("amq.")
}

/// Counters of one source, for tests, health and metrics.
#[derive(Debug)]
pub struct AmqpSourceStats {
    received: AtomicU64,
    applied: AtomicU64,
    dead_lettered: AtomicU64,
    store_failures: AtomicU64,
    acks: AtomicU64,
    connects: AtomicU64,
    /// Messages ready in the queue after the last acknowledgement; -1 before the first.
    lag: AtomicI64,
}

impl Default for AmqpSourceStats {
    fn default() -> Self {
        AmqpSourceStats {
            received: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            store_failures: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            lag: AtomicI64::new(-1),
        }
    }
}

/// A copy of [`AmqpSourceStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmqpSourceSnapshot {
    /// Messages taken from the broker (including ones of dropped batches).
    pub received: u64,
    /// Items in applies that succeeded.
    pub applied: u64,
    /// Messages published to the dead-letter exchange by us.
    pub dead_lettered: u64,
    /// Applies that failed (and were retried).
    pub store_failures: u64,
    /// Batches acknowledged.
    pub acks: u64,
    /// Connections opened (more than one: the source reconnected).
    pub connects: u64,
    /// Messages ready in the queue (not yet delivered to any consumer) after the last acknowledgement.
    pub lag: Option<u64>,
}

impl AmqpSourceStats {
    pub fn snapshot(&self) -> AmqpSourceSnapshot {
        AmqpSourceSnapshot {
            received: self.received.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            store_failures: self.store_failures.load(Ordering::Relaxed),
            acks: self.acks.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            lag: u64::try_from(self.lag.load(Ordering::Relaxed)).ok(),
        }
    }
}

/// Why one connection's session ended.
enum Ended {
    Shutdown,
    /// The broker or the connection failed: connect again.
    Broken(String),
    /// The broker refused our topology or access: connecting again cannot help.
    Refused(String),
}

/// One open connection: a consuming channel and a confirm-mode channel for dead letters.
struct Session {
    connection: Connection,
    consumer_channel: Channel,
    dlx_channel: Channel,
    consumer: Consumer,
}

/// A competing consumer of one queue.
pub struct AmqpSource {
    config: AmqpSourceConfig,
    stats: Arc<AmqpSourceStats>,
}

impl AmqpSource {
    pub fn new(config: &AmqpSourceConfig) -> Result<Self, SourceError> {
        if config.batch_size == 0 || config.batch_size > usize::from(u16::MAX) {
            return Err(SourceError::Config(format!(
                "batch size {} is outside 1..=65535 (it is the AMQP prefetch)",
                config.batch_size
            )));
        }
        Ok(AmqpSource { config: config.clone(), stats: Arc::default() })
    }

    pub fn stats(&self) -> Arc<AmqpSourceStats> {
        self.stats.clone()
    }

    /// Consumes into `handler` until `shutdown` fires, reconnecting whenever the connection breaks. Returns an
    /// error only when the broker refuses the queue's declaration or access to it.
    pub async fn run<H: Handler>(self, handler: &H, shutdown: Shutdown) -> Result<(), SourceError> {
        let mut failures = 0u32;
        loop {
            let ended = match self.open().await {
                Ok(session) => {
                    failures = 0;
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        broker = %self.config.endpoint.redacted(), queue = %self.config.queue,
                        exchange = ?self.config.exchange, dlx = %self.config.dlx, "RabbitMQ source consuming"
                    );
                    let ended = self.consume(session, handler, &shutdown).await;
                    if let Ended::Broken(reason) = &ended {
                        tracing::warn!(%reason, queue = %self.config.queue, "RabbitMQ connection lost; reconnecting");
                    }
                    ended
                }
                Err(ended) => ended,
            };
            match ended {
                Ended::Shutdown => break,
                Ended::Refused(reason) => return Err(SourceError::Amqp(reason)),
                Ended::Broken(reason) => {
                    let delay = self.config.backoff(failures);
                    failures = failures.saturating_add(1);
                    tracing::warn!(%reason, ?delay, queue = %self.config.queue, "RabbitMQ source not connected");
                    if !pause(delay, &shutdown).await {
                        break;
                    }
                }
            }
        }
        tracing::info!(queue = %self.config.queue, "RabbitMQ source stopped");
        Ok(())
    }

    /// Connects, declares the queue, its binding and its dead-letter exchange and queue, and disconnects: the queue
    /// then keeps what publishers send before any consumer ran (publishers' messages are `mandatory`).
    pub async fn declare(&self) -> Result<(), SourceError> {
        let reason = |ended| match ended {
            Ended::Shutdown => String::from("shut down"),
            Ended::Broken(reason) | Ended::Refused(reason) => reason,
        };
        let (connection, _, _) = self.declared().await.map_err(|e| SourceError::Amqp(reason(e)))?;
        let _ = connection.close(200, "declared".into()).await;
        Ok(())
    }

    /// Connects, declares the topology and starts consuming.
    async fn open(&self) -> Result<Session, Ended> {
        let (connection, channel, dlx_channel) = self.declared().await?;
        let broken = |what: &str| {
            let what = what.to_string();
            move |e: lapin::Error| classify(&what, e)
        };
        let prefetch = u16::try_from(self.config.batch_size).unwrap_or(u16::MAX);
        channel.basic_qos(prefetch, BasicQosOptions::default()).await.map_err(broken("set the prefetch"))?;
        let queue = self.config.queue.as_str();
        let consumer = channel
            .basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
            .await
            .map_err(broken(&format!("consume `{queue}`")))?;
        Ok(Session { connection, consumer_channel: channel, dlx_channel, consumer })
    }

    /// A connection with the topology declared: (connection, channel for consuming, confirm-mode channel for dead
    /// letters).
    async fn declared(&self) -> Result<(Connection, Channel, Channel), Ended> {
        let broken = |what: &str| {
            let what = what.to_string();
            move |e: lapin::Error| classify(&what, e)
        };
        let connection = self.config.endpoint.connect(&self.config.name).await.map_err(Ended::Broken)?;
        let dlx_channel = connection.create_channel().await.map_err(broken("open a channel"))?;
        dlx_channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(broken("confirm mode"))?;
        let channel = connection.create_channel().await.map_err(broken("open a channel"))?;
        let durable_exchange = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        let durable_queue = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        let quorum = |extra: &[(&str, AMQPValue)]| {
            let mut arguments = FieldTable::default();
            arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
            for (key, value) in extra {
                arguments.insert((*key).into(), value.clone());
            }
            arguments
        };
        let (queue, dlx, dlq) = (self.config.queue.as_str(), self.config.dlx.as_str(), self.config.dlq());

        channel
            .exchange_declare(dlx.into(), ExchangeKind::Fanout, durable_exchange, FieldTable::default())
            .await
            .map_err(broken(&format!("declare the dead-letter exchange `{dlx}`")))?;
        channel
            .queue_declare(dlq.as_str().into(), durable_queue, quorum(&[]))
            .await
            .map_err(broken(&format!("declare the dead-letter queue `{dlq}`")))?;
        channel
            .queue_bind(dlq.as_str().into(), dlx.into(), "".into(), QueueBindOptions::default(), FieldTable::default())
            .await
            .map_err(broken("bind the dead-letter queue"))?;
        let limit = i64::from(self.config.delivery_limit);
        channel
            .queue_declare(
                queue.into(),
                durable_queue,
                quorum(&[
                    ("x-dead-letter-exchange", AMQPValue::LongString(dlx.into())),
                    ("x-delivery-limit", AMQPValue::LongLongInt(limit)),
                ]),
            )
            .await
            .map_err(broken(&format!("declare the queue `{queue}`")))?;
        if let Some(exchange) = &self.config.exchange {
            channel
                .exchange_declare(
                    exchange.as_str().into(),
                    ExchangeKind::Topic,
                    durable_exchange,
                    FieldTable::default(),
                )
                .await
                .map_err(broken(&format!("declare the exchange `{exchange}`")))?;
            channel
                .queue_bind(
                    queue.into(),
                    exchange.as_str().into(),
                    self.config.binding_key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(broken(&format!("bind `{queue}` to `{exchange}`")))?;
        }
        Ok((connection, channel, dlx_channel))
    }

    async fn consume<H: Handler>(&self, mut session: Session, handler: &H, shutdown: &Shutdown) -> Ended {
        let ended = loop {
            let batch = match self.collect(&mut session.consumer, shutdown).await {
                Ok(batch) => batch,
                Err(ended) => break ended,
            };
            if let Err(ended) = self.process(&session, &batch, handler, shutdown).await {
                break ended;
            }
        };
        // Unacknowledged deliveries go back to the queue when the connection closes.
        let _ = session.connection.close(200, "bye".into()).await;
        ended
    }

    /// Waits for one delivery, then takes more until the batch is full or `batch_wait` has passed.
    async fn collect(&self, consumer: &mut Consumer, shutdown: &Shutdown) -> Result<Vec<Delivery>, Ended> {
        let mut batch = Vec::new();
        let mut deadline: Option<Instant> = None;
        while batch.len() < self.config.batch_size {
            let wait = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = shutdown.wait() => return Err(Ended::Shutdown),
                _ = wait => break,
                delivery = consumer.next() => match delivery {
                    Some(Ok(delivery)) => {
                        self.stats.received.fetch_add(1, Ordering::Relaxed);
                        batch.push(delivery);
                        deadline.get_or_insert_with(|| Instant::now() + self.config.batch_wait);
                    }
                    Some(Err(e)) => return Err(Ended::Broken(format!("consumer: {e}"))),
                    None => return Err(Ended::Broken("the broker cancelled the consumer".into())),
                },
            }
        }
        Ok(batch)
    }

    /// Dead-letters, applies and acknowledges one batch.
    async fn process<H: Handler>(
        &self,
        session: &Session,
        batch: &[Delivery],
        handler: &H,
        shutdown: &Shutdown,
    ) -> Result<(), Ended> {
        let mut items = Vec::with_capacity(batch.len());
        // The decoded deliveries: which delivery, and its items.
        let mut decoded: Vec<(&Delivery, Range<usize>)> = Vec::with_capacity(batch.len());
        for delivery in batch {
            let headers = crate::binding::headers(&delivery.properties);
            let borrowed: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
            match handler.decode(&borrowed, &delivery.data) {
                Ok(more) if more.is_empty() => {}
                Ok(more) => {
                    let start = items.len();
                    items.extend(more);
                    decoded.push((delivery, start..items.len()));
                }
                Err(reason) => self.dead_letter(&session.dlx_channel, delivery, &reason).await?,
            }
        }
        let refused = isolate(decoded.len(), |deliveries: Range<usize>| {
            let taken = decoded[deliveries.start].1.start..decoded[deliveries.end - 1].1.end;
            self.apply(&items[taken], handler, shutdown)
        })
        .await?;
        for (index, reason) in refused {
            let reason = format!("the store refused it: {reason}");
            self.dead_letter(&session.dlx_channel, decoded[index].0, &reason).await?;
        }
        let Some(last) = batch.last() else { return Ok(()) };
        session
            .consumer_channel
            .basic_ack(last.delivery_tag, BasicAckOptions { multiple: true })
            .await
            .map_err(|e| Ended::Broken(format!("ack: {e} (the batch will come again)")))?;
        self.stats.acks.fetch_add(1, Ordering::Relaxed);
        self.measure_lag(&session.consumer_channel).await;
        Ok(())
    }

    /// Asks the broker how many messages are ready in the queue (a passive declare: the queue exists, we consume
    /// it). A failure only leaves the last figure.
    async fn measure_lag(&self, channel: &Channel) {
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        match channel.queue_declare(self.config.queue.as_str().into(), passive, FieldTable::default()).await {
            Ok(queue) => self.stats.lag.store(i64::from(queue.message_count()), Ordering::Relaxed),
            Err(e) => tracing::debug!(error = %e, queue = %self.config.queue, "cannot read the queue depth"),
        }
    }

    /// Publishes one message to the dead-letter exchange and waits for the broker's confirm.
    async fn dead_letter(&self, channel: &Channel, delivery: &Delivery, reason: &str) -> Result<(), Ended> {
        tracing::warn!(
            queue = %self.config.queue, delivery_tag = delivery.delivery_tag, %reason,
            dlx = %self.config.dlx, "dead-lettering message"
        );
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        // Header values are long strings of at most 4 GiB; the reason is short, but bound it anyway.
        let reason: String = reason.chars().take(4096).collect();
        headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
        headers.insert(QUEUE_HEADER.into(), AMQPValue::LongString(self.config.queue.as_str().into()));
        let properties = delivery.properties.clone().with_headers(headers);
        let confirm = channel
            .basic_publish(
                self.config.dlx.as_str().into(),
                delivery.routing_key.clone(),
                BasicPublishOptions { mandatory: true, immediate: false },
                &delivery.data,
                properties,
            )
            .await
            .map_err(|e| Ended::Broken(format!("dead-letter publish: {e}")))?;
        match confirm.await {
            Ok(Confirmation::Ack(None)) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Confirmation::Ack(Some(_))) => {
                Err(Ended::Broken(format!("the dead-letter exchange `{}` routes nowhere", self.config.dlx)))
            }
            Ok(other) => Err(Ended::Broken(format!("dead-letter publish not confirmed: {other:?}"))),
            Err(e) => Err(Ended::Broken(format!("dead-letter confirm: {e}"))),
        }
    }

    /// Applies the items, retrying with backoff while the handler fails.
    /// Applies the items, retrying with backoff while the handler fails transiently; `Ok(Err(reason))` when it
    /// refused them for good.
    async fn apply<H: Handler>(
        &self,
        items: &[H::Item],
        handler: &H,
        shutdown: &Shutdown,
    ) -> Result<Result<(), String>, Ended> {
        let mut attempt = 0;
        loop {
            // Shutdown does not wait for an apply that hangs: the batch is left unacknowledged, and the broker
            // delivers it again (to whichever consumer comes next), which the handler absorbs.
            let applied = tokio::select! {
                biased;
                _ = shutdown.wait() => return Err(Ended::Shutdown),
                applied = handler.apply(items) => applied,
            };
            match applied {
                Ok(()) => {
                    self.stats.applied.fetch_add(items.len() as u64, Ordering::Relaxed);
                    return Ok(Ok(()));
                }
                Err(ApplyError::Permanent(reason)) => {
                    self.stats.store_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%reason, items = items.len(), "the handler refused a RabbitMQ batch; splitting it");
                    return Ok(Err(reason));
                }
                Err(ApplyError::Transient(error)) => {
                    self.stats.store_failures.fetch_add(1, Ordering::Relaxed);
                    let delay = self.config.backoff(attempt);
                    tracing::error!(%error, items = items.len(), ?delay, "applying a RabbitMQ batch failed; retrying");
                    if !pause(delay, shutdown).await {
                        return Err(Ended::Shutdown);
                    }
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }
}

/// A refused declaration or access is final; anything else is worth a new connection.
fn classify(what: &str, error: lapin::Error) -> Ended {
    let refused = matches!(
        error.kind(),
        lapin::ErrorKind::ProtocolError(e) if matches!(
            e.kind(),
            AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED | AMQPSoftError::ACCESSREFUSED)
        )
    );
    let reason = format!("{what}: {error}");
    if refused { Ended::Refused(reason) } else { Ended::Broken(reason) }
}

/// Sleeps unless shutdown comes first (then false).
async fn pause(delay: Duration, shutdown: &Shutdown) -> bool {
    tokio::select! {
        biased;
        _ = shutdown.wait() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_defaults_and_parameters() {
        let config = AmqpSourceConfig::from_url("amqp://h:5672/%2f", "facts", "tekton-graph.facts").unwrap();
        assert_eq!(config.queue, "facts");
        assert_eq!(config.exchange.as_deref(), Some("tekton-graph.facts"));
        assert_eq!(
            (config.binding_key.as_str(), config.dlx.as_str(), config.dlq()),
            ("#", "facts.dlx", "facts.dlq".into())
        );
        assert_eq!(config.delivery_limit, 20);

        let config = AmqpSourceConfig::from_url(
            "amqp://h/vh?queue=q1&exchange=&dlx=bad&delivery_limit=3&binding_key=dev.*",
            "facts",
            "x",
        )
        .unwrap();
        assert_eq!((config.queue.as_str(), config.exchange.as_deref(), config.dlx.as_str()), ("q1", None, "bad"));
        assert_eq!((config.delivery_limit, config.binding_key.as_str()), (3, "dev.*"));

        for (url, why) in [
            ("amqp://h/%2f?queue=amq.x", "queue=amq.x"),
            ("amqp://h/%2f?delivery_limit=0", "delivery_limit=0"),
            ("amqp://h/%2f?dlx=facts", "must differ"),
            ("amqp://h/%2f?topic=x", "topic=x"),
            ("kafka://h:1/t", "not an amqp"),
        ] {
            let err = AmqpSourceConfig::from_url(url, "facts", "x").err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(why), "{url}: {err}");
        }
    }

    #[test]
    fn the_prefetch_bounds_the_batch_size() {
        let mut config = AmqpSourceConfig::from_url("amqp://h/%2f", "facts", "x").unwrap();
        config.batch_size = 70_000;
        assert!(AmqpSource::new(&config).is_err());
        config.batch_size = 500;
        assert!(AmqpSource::new(&config).is_ok());
    }
}
