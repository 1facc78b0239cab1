//! Producer settings: what every producer of ours enforces (idempotence, `acks=all`), and configuration errors that
//! never show a user's value (it may be a password).

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use tekton_graph_schema::kafka::KafkaOption;

/// Settings a producer relies on for at-least-once without duplicates from its own retries.
pub const ENFORCED: &[(&str, &str)] = &[("enable.idempotence", "true"), ("acks", "all")];

/// An idempotent `acks=all` producer for `brokers`: `defaults` first, then the user's `options`, then [`ENFORCED`]
/// (an option that tries to change an enforced setting is refused, naming it).
pub fn producer(
    brokers: &str,
    client_id: &str,
    defaults: &[(&str, &str)],
    options: &[KafkaOption],
) -> Result<FutureProducer, String> {
    if let Some(option) = options.iter().find(|o| ENFORCED.iter().any(|(key, _)| *key == o.key)) {
        return Err(format!("Kafka setting `{}` is set by tekton-graph itself", option.key));
    }
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers).set("client.id", client_id);
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for option in options {
        config.set(&option.key, &option.value);
    }
    for (key, value) in ENFORCED {
        config.set(*key, *value);
    }
    config.create().map_err(|e| config_error(e, options))
}

/// A configuration error, without the value when it is one of the user's.
pub fn config_error(error: KafkaError, options: &[KafkaOption]) -> String {
    match &error {
        KafkaError::ClientConfig(_, _, key, _) if options.iter().any(|o| &o.key == key) => {
            format!("Kafka setting `{key}` is invalid (value not shown)")
        }
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforced_settings_and_secret_values_are_not_the_users_to_see_or_change() {
        let acks = [KafkaOption::parse("acks=1").unwrap()];
        assert!(producer("127.0.0.1:9", "t", &[], &acks).err().expect("refused").contains("`acks`"));
        let bad = [KafkaOption::parse("sasl.password=hunter2").unwrap(), KafkaOption::parse("x.y=1").unwrap()];
        let err = producer("127.0.0.1:9", "t", &[], &bad).err().expect("refused");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(producer("127.0.0.1:9", "t", &[("linger.ms", "1")], &[]).is_ok());
    }
}
