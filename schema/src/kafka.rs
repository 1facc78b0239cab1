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

/// Settings whose values are secrets: never taken from a flag (`ps` would show them), only from an options file.
pub const SECRET_KEYS: [&str; 5] = [
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.truststore.password",
    "sasl.oauthbearer.client.secret",
];

impl KafkaOption {
    /// The options of a librdkafka properties file (e.g. a mounted Secret): `KEY=VALUE` lines, `#` comments and
    /// blank lines skipped. Errors name the file and the line, never a value.
    pub fn read_file(path: &std::path::Path) -> Result<Vec<Self>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        text.lines()
            .enumerate()
            .map(|(i, line)| (i, line.trim_start()))
            .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
            .map(|(i, line)| {
                Self::parse(line.trim_end_matches('\r')).map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))
            })
            .collect()
    }
}

/// `--kafka-options-file PATH`: the options of a properties file, read when the flag is parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionsFile(pub Vec<KafkaOption>);

impl OptionsFile {
    pub fn parse(path: &str) -> Result<Self, String> {
        KafkaOption::read_file(std::path::Path::new(path)).map(OptionsFile)
    }

    /// The options of flags, then those of a file. A secret among the flags is refused (its value is not
    /// repeated): `ps` shows a command line, so secrets belong in the file.
    pub fn merged(flags: &[KafkaOption], file: Option<&OptionsFile>) -> Result<Vec<KafkaOption>, String> {
        if let Some(secret) = flags.iter().find(|o| SECRET_KEYS.contains(&o.key.as_str())) {
            return Err(format!(
                "`{}` is a secret: put it in a file given to --kafka-options-file, not on the command line",
                secret.key
            ));
        }
        Ok(flags.iter().chain(file.iter().flat_map(|f| &f.0)).cloned().collect())
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
        let flags = [KafkaOption::parse("sasl.password=s3cret").unwrap()];
        let refused = OptionsFile::merged(&flags, None).unwrap_err();
        assert!(refused.contains("secret") && !refused.contains("s3cret"), "{refused}");
        let file = OptionsFile(flags.to_vec());
        let user = [KafkaOption::parse("sasl.username=harvester").unwrap()];
        assert_eq!(OptionsFile::merged(&user, Some(&file)).unwrap().len(), 2, "a secret from the file is fine");
    }

    #[test]
    fn an_options_file_skips_comments_and_names_a_bad_line() {
        let dir = std::env::temp_dir().join(format!("kafka-options-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("client.properties");
        std::fs::write(&path, "# credentials\nsasl.username=h\n\n  sasl.password=p=w\r\n").unwrap();
        let options = KafkaOption::read_file(&path).unwrap();
        let pairs: Vec<(&str, &str)> = options.iter().map(|o| (o.key.as_str(), o.value.as_str())).collect();
        assert_eq!(pairs, [("sasl.username", "h"), ("sasl.password", "p=w")]);
        std::fs::write(&path, "sasl.username=h\njunk\n").unwrap();
        let error = KafkaOption::read_file(&path).unwrap_err();
        assert!(
            error.ends_with(
                "client.properties line 2: expected KEY=VALUE (a librdkafka setting, e.g. security.protocol=SASL_SSL)"
            ),
            "{error}"
        );
        assert!(KafkaOption::read_file(&dir.join("missing")).unwrap_err().contains("missing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
