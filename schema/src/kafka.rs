//! Kafka conventions shared by the harvester's sink and graph-service's source.

use std::fmt;

/// `--kafka-option KEY=VALUE`: a librdkafka setting passed through (security: `security.protocol`, `sasl.*`,
/// `ssl.*`; tuning). Values may be secrets: `Debug` shows only the key.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaOption {
    pub key: String,
    pub value: String,
}

impl KafkaOption {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok(KafkaOption { key: key.trim().to_string(), value: value.to_string() })
            }
            _ => Err("expected KEY=VALUE (a librdkafka setting, e.g. security.protocol=SASL_SSL)".to_string()),
        }
    }
}

impl fmt::Debug for KafkaOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=<redacted>", self.key)
    }
}

/// Splits `HOST:PORT[,HOST:PORT…]/TOPIC` (what follows `kafka://`, without a query) into brokers and topic, or
/// says what is wrong with it.
pub fn parse_brokers_and_topic(rest: &str) -> Result<(&str, &str), &'static str> {
    let (brokers, topic) = rest.split_once('/').ok_or("no topic")?;
    let broker_ok = |b: &str| {
        b.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
    };
    if !brokers.split(',').all(broker_ok) {
        return Err("brokers must be HOST:PORT");
    }
    if !valid_topic(topic) {
        return Err("a topic name is 1–249 of [A-Za-z0-9._-]");
    }
    Ok((brokers, topic))
}

/// Kafka's rule for topic names: 1 to 249 of `[A-Za-z0-9._-]`.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_and_topic_parse_or_say_why_not() {
        assert_eq!(parse_brokers_and_topic("a:1,b:2/sense.events"), Ok(("a:1,b:2", "sense.events")));
        assert_eq!(parse_brokers_and_topic("a:1"), Err("no topic"));
        for bad_brokers in ["a/t", "a:0/t", "/t", ":1/t"] {
            assert_eq!(parse_brokers_and_topic(bad_brokers), Err("brokers must be HOST:PORT"), "{bad_brokers}");
        }
        for bad_topic in ["a:1/", "a:1/t?x=y", "a:1/a/b"] {
            assert_eq!(parse_brokers_and_topic(bad_topic), Err("a topic name is 1–249 of [A-Za-z0-9._-]"));
        }
        assert!(valid_topic(&"t".repeat(249)) && !valid_topic(&"t".repeat(250)));
    }

    #[test]
    fn options_parse_and_never_print_values() {
        let o = KafkaOption::parse(" sasl.password =s3cret=x").unwrap();
        assert_eq!((o.key.as_str(), o.value.as_str()), ("sasl.password", "s3cret=x"));
        assert_eq!(format!("{o:?}"), "sasl.password=<redacted>");
        assert!(KafkaOption::parse("novalue").is_err());
        assert!(KafkaOption::parse("=x").is_err());
    }
}
