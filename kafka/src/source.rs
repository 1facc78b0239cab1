//! A Kafka consumer-group member: `kafka://HOST:PORT[,HOST:PORT…]/TOPIC?group=NAME&dlq=TOPIC` (several members
//! of one group share the partitions), handing what it reads to a [`Handler`].
//!
//! Per batch (up to `batch_size` messages, or whatever arrived within `batch_wait` of the first one):
//!
//! 1. every message is decoded by [`Handler::decode`];
//! 2. a message it cannot decode is produced to the dead-letter topic — original key, payload and headers plus
//!    `dlq-reason`, `dlq-topic`, `dlq-partition`, `dlq-offset` — and its delivery awaited (retried until it
//!    succeeds); it never stops the consumer;
//! 3. the decoded items go to one [`Handler::apply`], retried with exponential backoff while it fails transiently
//!    — the batch is neither dropped nor committed meanwhile; when the handler refuses the batch for good, it is
//!    split ([`tekton_graph_source::isolate`]) until the messages refused alone are found, and those are
//!    dead-lettered as in 2 with the handler's reason (`the store refused it: …`), the rest applied;
//! 4. only then are the batch's offsets committed (synchronously).
//!
//! Delivery is therefore at least once: after a crash, a failed commit or a rebalance the uncommitted messages come
//! again, which the handler must absorb (graph-service's facts are idempotent observations; the notifier knows the
//! event ids it has seen). On shutdown the batch in hand is abandoned uncommitted. Broker outages are librdkafka's
//! to handle: it reconnects by itself; we log and keep going.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::util::Timeout;
use tokio::time::Instant;

use crate::{Handler, Shutdown, SourceError};
use tekton_graph_source::{ApplyError, isolate};

/// Consumer settings the source relies on; `--kafka-option` cannot change them.
const ENFORCED_CONSUMER: &[&str] = &["bootstrap.servers", "group.id", "enable.auto.commit"];
/// Producer (dead-letter) settings the source relies on.
const ENFORCED_PRODUCER: &[&str] = &["bootstrap.servers", "enable.idempotence", "acks"];
/// Pause after a consumer error, so that a persistent one does not spin.
const ERROR_PAUSE: Duration = Duration::from_millis(100);

use tekton_graph_schema::kafka::{KafkaOption, parse_brokers_and_topic, valid_topic};

/// Configuration of the Kafka source.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSourceConfig {
    /// Comma-separated `HOST:PORT` bootstrap servers.
    pub bootstrap_servers: String,
    /// `client.id` of the consumer (the dead-letter producer's is this plus `-dlq`).
    pub client_id: String,
    /// The topic to consume from.
    pub topic: String,
    /// Consumer group; instances in one group share the topic's partitions.
    pub group: String,
    /// Where messages that cannot be decoded go.
    pub dlq_topic: String,
    /// Most messages per batch (one apply, one commit).
    pub batch_size: usize,
    /// How long a batch waits for more messages after its first one.
    pub batch_wait: Duration,
    /// First delay after a failed apply; doubled per attempt up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// librdkafka settings passed through (security and tuning).
    pub options: Vec<KafkaOption>,
}

impl KafkaSourceConfig {
    pub const DEFAULT_GROUP: &'static str = "tekton-graph";
    pub const DEFAULT_BATCH_SIZE: usize = 500;
    pub const DEFAULT_BATCH_WAIT: Duration = Duration::from_millis(200);

    /// A config with defaults: group `tekton-graph`, dead-letter topic `<topic>.dlq`, batches of 500 or 200 ms.
    pub fn new(bootstrap_servers: impl Into<String>, topic: impl Into<String>) -> Self {
        let topic = topic.into();
        KafkaSourceConfig {
            bootstrap_servers: bootstrap_servers.into(),
            client_id: "tekton-graph".to_string(),
            dlq_topic: format!("{topic}.dlq"),
            topic,
            group: Self::DEFAULT_GROUP.to_string(),
            batch_size: Self::DEFAULT_BATCH_SIZE,
            batch_wait: Self::DEFAULT_BATCH_WAIT,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            options: Vec::new(),
        }
    }

    /// Parses `kafka://HOST:PORT[,HOST:PORT…]/TOPIC[?group=NAME][&dlq=TOPIC]`.
    pub fn from_url(url: &str) -> Result<Self, SourceError> {
        let bad = |why: &str| {
            SourceError::Config(format!(
                "`{url}`: {why} (expected kafka://HOST:PORT[,HOST:PORT…]/TOPIC?group=NAME&dlq=TOPIC)"
            ))
        };
        let rest = url.strip_prefix("kafka://").ok_or_else(|| bad("not a kafka:// URL"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (brokers, topic) = parse_brokers_and_topic(path).map_err(bad)?;
        let mut config = KafkaSourceConfig::new(brokers, topic);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("group", group)) if !group.is_empty() => config.group = group.to_string(),
                Some(("dlq", dlq)) if valid_topic(dlq) => config.dlq_topic = dlq.to_string(),
                _ => return Err(bad(&format!("unknown or empty parameter `{pair}`"))),
            }
        }
        if config.dlq_topic == config.topic {
            return Err(bad("the dead-letter topic must differ from the topic"));
        }
        Ok(config)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.first_backoff.saturating_mul(2u32.saturating_pow(attempt)).min(self.max_backoff)
    }
}

/// Counters of one source, for tests, health and metrics.
#[derive(Debug)]
pub struct KafkaSourceStats {
    received: AtomicU64,
    applied: AtomicU64,
    dead_lettered: AtomicU64,
    store_failures: AtomicU64,
    commits: AtomicU64,
    /// Consumer lag of the topic as librdkafka last reported it (every [`STATISTICS_INTERVAL_MS`]); -1 before.
    lag: AtomicI64,
    assignment: Mutex<BTreeSet<(String, i32)>>,
}

impl Default for KafkaSourceStats {
    fn default() -> Self {
        KafkaSourceStats {
            received: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            store_failures: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            lag: AtomicI64::new(-1),
            assignment: Mutex::new(BTreeSet::new()),
        }
    }
}

/// A copy of [`KafkaSourceStats`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaSourceSnapshot {
    /// Messages taken from Kafka (including ones of abandoned batches).
    pub received: u64,
    /// Items in applies that succeeded.
    pub applied: u64,
    /// Messages produced to the dead-letter topic.
    pub dead_lettered: u64,
    /// Applies that failed (and were retried).
    pub store_failures: u64,
    /// Batches whose offsets were committed.
    pub commits: u64,
    /// Partitions currently assigned to this member.
    pub assignment: Vec<(String, i32)>,
    /// Messages of the assigned partitions not yet committed (librdkafka's `consumer_lag`, summed), when known.
    pub lag: Option<u64>,
}

impl KafkaSourceStats {
    pub fn snapshot(&self) -> KafkaSourceSnapshot {
        KafkaSourceSnapshot {
            received: self.received.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            store_failures: self.store_failures.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            assignment: self.assignment.lock().map(|a| a.iter().cloned().collect()).unwrap_or_default(),
            lag: u64::try_from(self.lag.load(Ordering::Relaxed)).ok(),
        }
    }
}

/// How often librdkafka reports its statistics (the consumer lag), unless `--kafka-option statistics.interval.ms`
/// says otherwise.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// Keeps the assignment and the lag in the stats and logs rebalances.
struct GroupContext {
    stats: Arc<KafkaSourceStats>,
    topic: String,
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        // -1: librdkafka does not know the partition's lag yet (nothing committed, no fetch).
        let known = statistics
            .topics
            .get(&self.topic)
            .map(|topic| topic.partitions.values().filter(|p| p.partition >= 0 && p.consumer_lag >= 0))
            .into_iter()
            .flatten()
            .map(|p| p.consumer_lag);
        let lag = known.fold(None, |sum: Option<i64>, lag| Some(sum.unwrap_or(0) + lag));
        if let Some(lag) = lag {
            self.stats.lag.store(lag, Ordering::Relaxed);
        }
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Ok(mut assignment) = self.stats.assignment.lock() else { return };
        match rebalance {
            Rebalance::Assign(partitions) => {
                for p in partitions.elements() {
                    assignment.insert((p.topic().to_string(), p.partition()));
                }
                tracing::info!(partitions = ?partition_numbers(partitions), "Kafka partitions assigned");
            }
            Rebalance::Revoke(partitions) => {
                for p in partitions.elements() {
                    assignment.remove(&(p.topic().to_string(), p.partition()));
                }
                tracing::info!(partitions = ?partition_numbers(partitions), "Kafka partitions revoked");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "Kafka rebalance failed"),
        }
    }
}

fn partition_numbers(list: &TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|p| p.partition()).collect()
}

/// A Kafka consumer-group member.
pub struct KafkaSource {
    config: KafkaSourceConfig,
    consumer: Arc<StreamConsumer<GroupContext>>,
    dlq: FutureProducer,
    stats: Arc<KafkaSourceStats>,
}

impl KafkaSource {
    /// Creates the consumer and the dead-letter producer; nothing is contacted until [`KafkaSource::run`].
    pub fn new(config: &KafkaSourceConfig) -> Result<Self, SourceError> {
        if config.batch_size == 0 {
            return Err(SourceError::Config("batch size must be at least 1".into()));
        }
        for option in &config.options {
            if ENFORCED_CONSUMER.contains(&option.key.as_str()) || ENFORCED_PRODUCER.contains(&option.key.as_str()) {
                return Err(SourceError::Config(format!(
                    "--kafka-option {}: set by the Kafka source itself",
                    option.key
                )));
            }
        }
        let stats = Arc::new(KafkaSourceStats::default());

        let mut consumer = ClientConfig::new();
        consumer
            .set("client.id", &config.client_id)
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
        pass_options(&mut consumer, &config.options);
        consumer
            .set("bootstrap.servers", &config.bootstrap_servers)
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false");
        let consumer: StreamConsumer<GroupContext> = consumer
            .create_with_context(GroupContext { stats: stats.clone(), topic: config.topic.clone() })
            .map_err(|e| config_error(e, &config.options))?;

        let dlq = crate::producer::producer(
            &config.bootstrap_servers,
            &format!("{}-dlq", config.client_id),
            &[("linger.ms", "5"), ("message.timeout.ms", "30000")],
            &config.options,
        )
        .map_err(SourceError::Config)?;

        Ok(KafkaSource { config: config.clone(), consumer: Arc::new(consumer), dlq, stats })
    }

    pub fn stats(&self) -> Arc<KafkaSourceStats> {
        self.stats.clone()
    }

    /// Consumes into `handler` until `shutdown` fires. Returns an error only if the topic cannot be subscribed to.
    pub async fn run<H: Handler>(self, handler: &H, shutdown: Shutdown) -> Result<(), SourceError> {
        self.consumer.subscribe(&[&self.config.topic]).map_err(|e| SourceError::Kafka(e.to_string()))?;
        tracing::info!(
            brokers = %self.config.bootstrap_servers, topic = %self.config.topic, group = %self.config.group,
            dlq = %self.config.dlq_topic, "Kafka source started"
        );
        while let Some(batch) = self.collect(&shutdown).await {
            if !self.process(&batch, handler, &shutdown).await {
                break;
            }
        }
        self.consumer.unsubscribe();
        tracing::info!(topic = %self.config.topic, "Kafka source stopped");
        Ok(())
    }

    /// Waits for one message, then takes more until the batch is full or `batch_wait` has passed. `None` on
    /// shutdown: the messages taken so far are abandoned uncommitted.
    async fn collect(&self, shutdown: &Shutdown) -> Option<Vec<OwnedMessage>> {
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
                _ = shutdown.wait() => return None,
                _ = wait => break,
                message = self.consumer.recv() => match message {
                    Ok(message) => {
                        self.stats.received.fetch_add(1, Ordering::Relaxed);
                        batch.push(message.detach());
                        deadline.get_or_insert_with(|| Instant::now() + self.config.batch_wait);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Kafka consumer error");
                        tokio::time::sleep(ERROR_PAUSE).await;
                    }
                },
            }
        }
        Some(batch)
    }

    /// Dead-letters, applies and commits one batch. False when shutdown interrupted it (nothing committed).
    async fn process<H: Handler>(&self, batch: &[OwnedMessage], handler: &H, shutdown: &Shutdown) -> bool {
        let mut items = Vec::with_capacity(batch.len());
        // The decoded messages: which message, and its items.
        let mut decoded: Vec<(&OwnedMessage, Range<usize>)> = Vec::with_capacity(batch.len());
        let mut next_offsets: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for message in batch {
            let next = next_offsets.entry((message.topic(), message.partition())).or_default();
            *next = (*next).max(message.offset() + 1);
            let headers: Vec<(&str, &[u8])> = message
                .headers()
                .map(|h| h.iter().map(|h| (h.key, h.value.unwrap_or_default())).collect())
                .unwrap_or_default();
            match handler.decode(&headers, message.payload().unwrap_or_default()) {
                Ok(more) if more.is_empty() => {}
                Ok(more) => {
                    let start = items.len();
                    items.extend(more);
                    decoded.push((message, start..items.len()));
                }
                Err(reason) => {
                    if !self.dead_letter(message, &reason, shutdown).await {
                        return false;
                    }
                }
            }
        }
        let refused = isolate(decoded.len(), |messages: Range<usize>| {
            let taken = decoded[messages.start].1.start..decoded[messages.end - 1].1.end;
            self.apply(&items[taken], handler, shutdown)
        })
        .await;
        let Ok(refused) = refused else { return false };
        for (index, reason) in refused {
            if !self.dead_letter(decoded[index].0, &format!("the store refused it: {reason}"), shutdown).await {
                return false;
            }
        }
        self.commit(next_offsets).await;
        true
    }

    /// Produces one message to the dead-letter topic and waits for its delivery, retrying until it succeeds.
    async fn dead_letter(&self, message: &OwnedMessage, reason: &str, shutdown: &Shutdown) -> bool {
        tracing::warn!(
            topic = message.topic(), partition = message.partition(), offset = message.offset(),
            %reason, dlq = %self.config.dlq_topic, "dead-lettering message"
        );
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let mut attempt = 0;
        loop {
            let mut headers = OwnedHeaders::new();
            if let Some(original) = message.headers() {
                for header in original.iter() {
                    headers = headers.insert(header);
                }
            }
            let headers = headers
                .insert(Header { key: "dlq-reason", value: Some(reason) })
                .insert(Header { key: "dlq-topic", value: Some(message.topic()) })
                .insert(Header { key: "dlq-partition", value: Some(&partition) })
                .insert(Header { key: "dlq-offset", value: Some(&offset) });
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.config.dlq_topic).headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(payload) = message.payload() {
                record = record.payload(payload);
            }
            let error = tokio::select! {
                biased;
                _ = shutdown.wait() => return false,
                result = self.dlq.send(record, Timeout::Never) => match result {
                    Ok(_) => {
                        self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                        return true;
                    }
                    Err((error, _)) => error,
                },
            };
            let delay = self.config.backoff(attempt);
            tracing::warn!(%error, dlq = %self.config.dlq_topic, ?delay, "dead-letter delivery failed; retrying");
            if !self.pause(delay, shutdown).await {
                return false;
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// Applies the items, retrying with backoff while the handler fails transiently; `Ok(Err(reason))` when it
    /// refused them for good, `Err` on shutdown.
    async fn apply<H: Handler>(
        &self,
        items: &[H::Item],
        handler: &H,
        shutdown: &Shutdown,
    ) -> Result<Result<(), String>, Stopped> {
        let mut attempt = 0;
        loop {
            match handler.apply(items).await {
                Ok(()) => {
                    self.stats.applied.fetch_add(items.len() as u64, Ordering::Relaxed);
                    return Ok(Ok(()));
                }
                Err(ApplyError::Permanent(reason)) => {
                    self.stats.store_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%reason, items = items.len(), "the handler refused a Kafka batch; splitting it");
                    return Ok(Err(reason));
                }
                Err(ApplyError::Transient(error)) => {
                    self.stats.store_failures.fetch_add(1, Ordering::Relaxed);
                    let delay = self.config.backoff(attempt);
                    tracing::error!(%error, items = items.len(), ?delay, "applying a Kafka batch failed; retrying");
                    if !self.pause(delay, shutdown).await {
                        return Err(Stopped);
                    }
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }

    /// Sleeps unless shutdown comes first (then false).
    async fn pause(&self, delay: Duration, shutdown: &Shutdown) -> bool {
        tokio::select! {
            biased;
            _ = shutdown.wait() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }

    /// Commits the batch's offsets synchronously. A failure (e.g. the partitions moved to another member in a
    /// rebalance) is logged: the messages will be consumed again, which the handler absorbs.
    async fn commit(&self, next_offsets: BTreeMap<(&str, i32), i64>) {
        // Partitions revoked while the batch was in hand belong to another member now, which starts again from the
        // last committed offset: committing ours could move its position backwards or forwards under it.
        let assigned = self.stats.assignment.lock().map(|a| a.clone()).unwrap_or_default();
        let mut list = TopicPartitionList::with_capacity(next_offsets.len());
        for ((topic, partition), offset) in next_offsets {
            if !assigned.contains(&(topic.to_string(), partition)) {
                tracing::info!(topic, partition, "partition revoked during the batch: its offsets are not committed");
                continue;
            }
            if let Err(e) = list.add_partition_offset(topic, partition, Offset::Offset(offset)) {
                tracing::warn!(error = %e, "cannot record offset to commit");
            }
        }
        if list.count() == 0 {
            return;
        }
        let consumer = self.consumer.clone();
        match tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync)).await {
            Ok(Ok(())) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(error)) => tracing::warn!(%error, "offset commit failed; the batch will be consumed again"),
            Err(error) => tracing::warn!(%error, "offset commit task failed; the batch will be consumed again"),
        }
    }
}

/// Shutdown came while a batch was in hand.
struct Stopped;

fn pass_options(config: &mut ClientConfig, options: &[KafkaOption]) {
    for option in options {
        config.set(&option.key, &option.value);
    }
}

/// A configuration error, without the value when it is one of the user's (it may be a password).
fn config_error(error: KafkaError, options: &[KafkaOption]) -> SourceError {
    SourceError::Config(crate::producer::config_error(error, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_defaults_and_parameters() {
        let config = KafkaSourceConfig::from_url("kafka://127.0.0.1:19092/facts").unwrap();
        assert_eq!(config.bootstrap_servers, "127.0.0.1:19092");
        assert_eq!(config.topic, "facts");
        assert_eq!(config.group, "tekton-graph");
        assert_eq!(config.dlq_topic, "facts.dlq");
        assert_eq!((config.batch_size, config.batch_wait), (500, Duration::from_millis(200)));

        let config = KafkaSourceConfig::from_url("kafka://a:1,b:2/t.x?group=g1&dlq=bad-facts").unwrap();
        assert_eq!(config.bootstrap_servers, "a:1,b:2");
        assert_eq!((config.group.as_str(), config.dlq_topic.as_str()), ("g1", "bad-facts"));

        for bad in [
            "http://a:1/t",
            "kafka://a:1",
            "kafka://a/t",
            "kafka://a:1/",
            "kafka://a:1/t?grp=x",
            "kafka://a:1/t?group=",
            "kafka://a:1/t?dlq=t",
            "kafka://a:1/t/u",
        ] {
            assert!(KafkaSourceConfig::from_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = KafkaSourceConfig::new("a:1", "t");
        let delays: Vec<_> = (0..9).map(|a| config.backoff(a).as_millis()).collect();
        assert_eq!(delays, vec![200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]);
    }

    #[test]
    fn options_hide_values_and_cannot_override_the_essentials() {
        let option = KafkaOption::parse("sasl.password=p=w").unwrap();
        assert_eq!(format!("{option:?}"), "sasl.password=<redacted>");
        let mut config = KafkaSourceConfig::new("127.0.0.1:9", "t");
        config.options = vec![KafkaOption::parse("enable.auto.commit=true").unwrap()];
        let err = KafkaSource::new(&config).err().expect("refused").to_string();
        assert!(err.contains("enable.auto.commit"), "{err}");
        config.options =
            vec![KafkaOption::parse("sasl.password=hunter2").unwrap(), KafkaOption::parse("x.y=1").unwrap()];
        let err = KafkaSource::new(&config).err().expect("refused").to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
