//! Helpers for tests against the real broker of `scripts/services.sh` (feature `testing`): its address from
//! `KAFKA_BOOTSTRAP` (missing fails the test, never skips it), fresh topics, producing and reading back.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

/// The test broker's bootstrap address.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| {
        panic!(
            "KAFKA_BOOTSTRAP is not set: run `scripts/services.sh up kafka` and `eval \"$(scripts/services.sh env)\"`"
        )
    })
}

/// A topic name no other test run uses.
pub fn fresh_topic(prefix: &str) -> String {
    format!("{prefix}-{}-{:08x}", std::process::id(), rand::random::<u32>())
}

/// Creates the topics with `partitions` partitions each.
pub async fn create_topics(names: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let topics: Vec<NewTopic<'_>> =
        names.iter().map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(1))).collect();
    let results = admin
        .create_topics(&topics, &options)
        .await
        .unwrap_or_else(|e| panic!("creating topics {names:?}: {e} (is Kafka up on {}?)", bootstrap()));
    for result in results {
        result.unwrap_or_else(|(topic, code)| panic!("creating topic {topic}: {code}"));
    }
}

/// Produces one message and waits for its acknowledgement.
pub async fn produce(topic: &str, key: &str, payload: &[u8], headers: &[(&str, &str)]) {
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("producer");
    let mut owned = OwnedHeaders::new();
    for (name, value) in headers {
        owned = owned.insert(Header { key: name, value: Some(*value) });
    }
    let record = FutureRecord::to(topic).key(key).payload(payload).headers(owned);
    producer.send(record, Timeout::After(Duration::from_secs(30))).await.map_err(|(e, _)| e).expect("produce");
}

/// One message read back.
#[derive(Debug, Clone)]
pub struct Read {
    pub key: String,
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl Read {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// Reads `count` messages from the beginning of `topic` (a fresh consumer group), failing after `within`.
pub async fn read(topic: &str, count: usize, within: Duration) -> Vec<Read> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", format!("reader-{}", rand::random::<u32>()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let reading = async {
        while out.len() < count {
            let message = consumer.recv().await.expect("message");
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Read {
                key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                headers,
                payload: message.payload().unwrap_or_default().to_vec(),
            });
        }
    };
    if tokio::time::timeout(within, reading).await.is_err() {
        panic!("read {} of {count} messages from {topic} within {within:?}", out.len());
    }
    out
}
