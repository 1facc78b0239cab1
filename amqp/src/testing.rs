//! Helpers for tests against the real broker of `scripts/services.sh` (feature `testing`): its address from
//! `RABBITMQ_URL` (missing fails the test, never skips it), fresh names, publishing raw messages and reading queues.

use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::options::{ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};

use crate::Endpoint;

/// The test broker's URL (with credentials).
pub fn broker_url() -> String {
    std::env::var("RABBITMQ_URL").unwrap_or_else(|_| {
        panic!(
            "RABBITMQ_URL is not set: run `scripts/services.sh up rabbitmq` and `eval \"$(scripts/services.sh env)\"`"
        )
    })
}

/// A queue or exchange name no other test run uses.
pub fn fresh_name(prefix: &str) -> String {
    format!("{prefix}-{}-{:08x}", std::process::id(), rand::random::<u32>())
}

/// A connection and a confirm-mode channel to the test broker.
pub async fn channel() -> (Connection, Channel) {
    let url = broker_url();
    let (endpoint, _) = Endpoint::parse(&url).expect("RABBITMQ_URL is an amqp:// URL");
    let connection = endpoint.connect("tekton-graph-test").await.unwrap_or_else(|e| panic!("{e}"));
    let channel = connection.create_channel().await.expect("channel");
    channel.confirm_select(ConfirmSelectOptions::default()).await.expect("confirm mode");
    (connection, channel)
}

/// Publishes one message and waits for the broker's confirm (it must be routable).
pub async fn publish(exchange: &str, routing_key: &str, body: &[u8], properties: BasicProperties) {
    let (connection, channel) = channel().await;
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions { mandatory: true, immediate: false },
            body,
            properties,
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(confirm.is_ack(), "the broker refused the message");
    assert!(confirm.take_message().is_none(), "the message was unroutable ({exchange} {routing_key})");
    let _ = connection.close(200, "done".into()).await;
}

/// Messages in `queue` now (it must exist).
pub async fn depth(queue: &str) -> u32 {
    let (connection, channel) = channel().await;
    let declared = channel
        .queue_declare(queue.into(), QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default())
        .await
        .unwrap_or_else(|e| panic!("queue {queue}: {e}"));
    let _ = connection.close(200, "done".into()).await;
    declared.message_count()
}

/// Takes (and acknowledges) every message in `queue`, waiting up to `wait` for at least `at_least` of them.
pub async fn drain(queue: &str, at_least: usize, wait: Duration) -> Vec<Delivery> {
    let (connection, channel) = channel().await;
    let deadline = tokio::time::Instant::now() + wait;
    let mut taken = Vec::new();
    loop {
        match channel.basic_get(queue.into(), BasicGetOptions::default()).await {
            Ok(Some(message)) => {
                message.delivery.acker.ack(BasicAckOptions::default()).await.expect("ack");
                taken.push(message.delivery);
            }
            Ok(None) if taken.len() >= at_least || tokio::time::Instant::now() >= deadline => break,
            Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("basic.get on {queue}: {e}"),
        }
    }
    let _ = connection.close(200, "done".into()).await;
    taken
}

/// Deletes queues and exchanges a test made (missing ones are fine).
pub async fn delete(queues: &[&str], exchanges: &[&str]) {
    let (connection, channel) = channel().await;
    for queue in queues {
        let _ = channel.queue_delete((*queue).into(), QueueDeleteOptions::default()).await;
    }
    for exchange in exchanges {
        let _ = channel.exchange_delete((*exchange).into(), ExchangeDeleteOptions::default()).await;
    }
    let _ = connection.close(200, "done".into()).await;
}
