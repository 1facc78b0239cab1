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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_never_print_values() {
        let o = KafkaOption::parse(" sasl.password =s3cret=x").unwrap();
        assert_eq!((o.key.as_str(), o.value.as_str()), ("sasl.password", "s3cret=x"));
        assert_eq!(format!("{o:?}"), "sasl.password=<redacted>");
        assert!(KafkaOption::parse("novalue").is_err());
        assert!(KafkaOption::parse("=x").is_err());
    }
}
