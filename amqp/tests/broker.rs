//! The RabbitMQ source and publisher against the real broker of `scripts/services.sh up rabbitmq` (then
//! `eval "$(scripts/services.sh env)"`): what the broker does when a consumer never acknowledges, what a publisher
//! does with a message no queue takes, TLS with a private CA, and a password read from a file.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lapin::BasicProperties;
use lapin::types::AMQPValue;
use tekton_graph_amqp::testing::{broker_url, depth, drain, fresh_name, publish};
use tekton_graph_amqp::{
    AmqpSource, AmqpSourceConfig, ApplyError, Handler, Outgoing, Publisher, PublisherConfig, Shutdown,
};

const WITHIN: Duration = Duration::from_secs(60);

fn source_config(url: &str, queue: &str, exchange: &str) -> AmqpSourceConfig {
    let mut config =
        AmqpSourceConfig::from_url(&format!("{url}?queue={queue}&exchange={exchange}"), "u", "u").expect("source URL");
    config.batch_wait = Duration::from_millis(50);
    config.first_backoff = Duration::from_millis(50);
    config.max_backoff = Duration::from_millis(200);
    config
}

/// Takes every message and never finishes applying it: a consumer that hangs (or crashes) on a poison message.
struct Hangs(Arc<AtomicUsize>);

impl Handler for Hangs {
    type Item = ();
    fn decode(&self, _: &[(&str, &[u8])], _: &[u8]) -> Result<Vec<()>, String> {
        Ok(vec![()])
    }
    async fn apply(&self, _: &[()]) -> Result<(), ApplyError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// Counts what it applies.
struct Counts(Arc<AtomicUsize>);

impl Handler for Counts {
    type Item = ();
    fn decode(&self, _: &[(&str, &[u8])], _: &[u8]) -> Result<Vec<()>, String> {
        Ok(vec![()])
    }
    async fn apply(&self, items: &[()]) -> Result<(), ApplyError> {
        self.0.fetch_add(items.len(), Ordering::SeqCst);
        Ok(())
    }
}

async fn wait_for(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_message_never_acknowledged_is_dead_lettered_by_the_broker_at_the_delivery_limit() {
    let (queue, exchange) = (fresh_name("poison"), fresh_name("poison-x"));
    let mut config = source_config(&broker_url(), &queue, &exchange);
    config.delivery_limit = 2;
    AmqpSource::new(&config).unwrap().declare().await.expect("declare");
    publish(&exchange, "poison", b"{}", BasicProperties::default()).await;

    // Each consumer takes the message and hangs; stopping it closes its connection and the message goes back.
    let deliveries = Arc::new(AtomicUsize::new(0));
    for attempt in 1..=3 {
        let (stop, shutdown) = Shutdown::new();
        let source = AmqpSource::new(&config).unwrap();
        let handler = Hangs(deliveries.clone());
        let task = tokio::spawn(async move { source.run(&handler, shutdown).await });
        wait_for(&format!("delivery {attempt}"), || deliveries.load(Ordering::SeqCst) >= attempt).await;
        stop.trigger();
        tokio::time::timeout(WITHIN, task).await.expect("stops").expect("task").expect("ran");
    }
    let dead = drain(&config.dlq(), 1, WITHIN).await;
    assert_eq!(dead.len(), 1, "the broker dead-lettered the message after its delivery limit");
    let death = dead[0].properties.headers().as_ref().and_then(|h| h.inner().get("x-death").cloned());
    // x-death: an array with one table per dead-lettering, whose `reason` says why.
    let reason = match &death {
        Some(AMQPValue::FieldArray(deaths)) => deaths.as_slice().iter().find_map(|d| match d {
            AMQPValue::FieldTable(t) => match t.inner().get("reason") {
                Some(AMQPValue::LongString(r)) => Some(r.to_string()),
                _ => None,
            },
            _ => None,
        }),
        _ => None,
    };
    assert_eq!(reason.as_deref(), Some("delivery_limit"), "x-death names the delivery limit: {death:?}");
    assert_eq!(depth(&queue).await, 0, "the queue holds nothing more");
    tekton_graph_amqp::testing::delete(&[&queue, &config.dlq()], &[&exchange, &config.dlx]).await;
}

#[tokio::test]
async fn a_message_no_queue_takes_is_a_failure_not_a_silent_loss() {
    let exchange = fresh_name("nowhere-x");
    let mut config = PublisherConfig::from_url(&format!("{}?exchange={exchange}", broker_url()), "u").unwrap();
    config.attempts = 2;
    config.first_backoff = Duration::from_millis(10);
    let publisher = Publisher::new(config);
    let message =
        Outgoing { routing_key: "unbound".into(), body: b"x".to_vec(), properties: BasicProperties::default() };
    let error = publisher.publish(&[message.clone(), message]).await.expect_err("unroutable");
    assert_eq!((error.confirmed, error.total), (0, 2), "{error}");
    assert!(error.reason.contains("unroutable"), "{error}");
    publisher.close().await;
    tekton_graph_amqp::testing::delete(&[], &[&exchange]).await;
}

#[tokio::test]
async fn tls_with_a_private_ca_and_a_password_file() {
    let tls = std::env::var("RABBITMQ_TLS_URL").expect("RABBITMQ_TLS_URL (scripts/services.sh env)");
    let ca = std::env::var("RABBITMQ_CA_FILE").expect("RABBITMQ_CA_FILE (scripts/services.sh env)");
    let password = std::env::var("RABBITMQ_PASSWORD_FILE").expect("RABBITMQ_PASSWORD_FILE (scripts/services.sh env)");
    // The same user, its password from the file instead of the URL.
    let mut url = url::Url::parse(&tls).expect("TLS URL");
    url.set_password(None).expect("no password");
    let base = format!("{url}");
    let with_file = format!("{base}?ca_file={ca}&password_file={password}");

    let (queue, exchange) = (fresh_name("tls"), fresh_name("tls-x"));
    let mut config = AmqpSourceConfig::from_url(&format!("{with_file}&queue={queue}&exchange={exchange}"), "u", "u")
        .expect("source URL");
    config.batch_wait = Duration::from_millis(50);
    AmqpSource::new(&config).unwrap().declare().await.expect("declare over TLS");
    let publisher =
        Publisher::new(PublisherConfig::from_url(&format!("{with_file}&exchange={exchange}"), "u").unwrap());
    let mut headers = lapin::types::FieldTable::default();
    headers.insert("x-test".into(), AMQPValue::LongString("tls".into()));
    let message = Outgoing {
        routing_key: "k".into(),
        body: b"over TLS".to_vec(),
        properties: BasicProperties::default().with_headers(headers),
    };
    publisher.publish(&[message]).await.expect("published over TLS");
    publisher.close().await;

    let applied = Arc::new(AtomicUsize::new(0));
    let (stop, shutdown) = Shutdown::new();
    let source = AmqpSource::new(&config).unwrap();
    let handler = Counts(applied.clone());
    let task = tokio::spawn(async move { source.run(&handler, shutdown).await });
    wait_for("the message over TLS", || applied.load(Ordering::SeqCst) == 1).await;
    stop.trigger();
    task.await.expect("task").expect("ran");

    // Without the CA the broker's certificate is not trusted: the connection fails, naming the broker.
    let (untrusted, _) = tekton_graph_amqp::Endpoint::parse(&tls).unwrap();
    let error = untrusted.connect("tekton-graph-test").await.expect_err("an untrusted certificate is refused");
    assert!(error.contains("cannot connect to amqps://"), "{error}");
    assert!(
        !error.contains(&std::fs::read_to_string(&password).unwrap().trim().to_string()),
        "no password in: {error}"
    );
    tekton_graph_amqp::testing::delete(&[&queue, &config.dlq()], &[&exchange, &config.dlx]).await;
}
