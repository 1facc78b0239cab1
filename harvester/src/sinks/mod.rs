//! Sinks deliver fact CloudEvents. A closed enum rather than trait objects: there are few sinks, and a `match`
//! keeps each one's code plain.

pub mod amqp;
pub mod http;
pub mod kafka;
pub mod stdout;

use std::time::Duration;

use clap::Args;
use cloudevents::Event;

/// Where facts go, parsed from `--sink`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkTarget {
    /// `-`: one structured CloudEvent JSON per line on stdout.
    Stdout,
    /// `http(s)://…`: batches POSTed as `application/cloudevents-batch+json`.
    Http(url::Url),
    /// `kafka://HOST:PORT[,HOST:PORT…]/TOPIC`: one structured CloudEvent per message, keyed by PipelineRun.
    Kafka { brokers: String, topic: String },
    /// `amqp[s]://…/VHOST?exchange=NAME&routing_key=KEY`: one structured CloudEvent per confirmed message.
    Amqp(tekton_graph_amqp::PublisherConfig),
}

impl SinkTarget {
    pub fn parse(value: &str) -> Result<Self, SinkError> {
        if value == "-" {
            return Ok(SinkTarget::Stdout);
        }
        if let Some(rest) = value.strip_prefix("kafka://") {
            return parse_kafka(rest).ok_or_else(|| SinkError::Unsupported(value.to_string()));
        }
        if value.starts_with("amqp://") || value.starts_with("amqps://") {
            return tekton_graph_amqp::PublisherConfig::from_url(value, tekton_graph_amqp::FACTS_EXCHANGE)
                .map(SinkTarget::Amqp)
                .map_err(SinkError::Client);
        }
        match url::Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(SinkTarget::Http(url)),
            _ => Err(SinkError::Unsupported(value.to_string())),
        }
    }
}

/// `HOST:PORT[,HOST:PORT…]/TOPIC` (after `kafka://`).
fn parse_kafka(rest: &str) -> Option<SinkTarget> {
    let (brokers, topic) = tekton_graph_schema::kafka::parse_brokers_and_topic(rest).ok()?;
    Some(SinkTarget::Kafka { brokers: brokers.to_string(), topic: topic.to_string() })
}

#[derive(Debug, Clone, Args)]
pub struct SinkConfig {
    /// Where to send facts: `-` for stdout (one CloudEvent per line), an http(s) URL accepting CloudEvent batches,
    /// `kafka://HOST:PORT[,HOST:PORT…]/TOPIC` (one structured CloudEvent per message, keyed by PipelineRun), or
    /// `amqp[s]://[USER@]HOST[:PORT]/VHOST?exchange=NAME&routing_key=KEY` (RabbitMQ: a topic exchange, default
    /// `tekton-graph.facts`, routed by event type; persistent messages with publisher confirms; the password inline
    /// or in `password_file=PATH`, a private CA in `ca_file=PATH`).
    #[arg(long = "sink", env = "HARVESTER_SINK", default_value = "-", value_parser = SinkTarget::parse)]
    pub target: SinkTarget,
    /// File holding the bearer token for the HTTP sink (e.g. a mounted Secret). Else the token comes from the
    /// environment variable HARVESTER_SINK_TOKEN — never from a flag, which `ps` would show.
    #[arg(long, env = "HARVESTER_SINK_TOKEN_FILE")]
    pub sink_token_file: Option<std::path::PathBuf>,
    /// Events per HTTP request, or per batch of RabbitMQ publisher confirms.
    #[arg(long, env = "HARVESTER_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Retries of a batch after a connection error or a 5xx/429 response (RabbitMQ: a nack, a returned message or a
    /// broken connection).
    #[arg(long, env = "HARVESTER_SINK_RETRIES", default_value_t = 3)]
    pub sink_retries: u32,
    /// Timeout of one HTTP request, of one Kafka message's delivery (with librdkafka's retries), or of a RabbitMQ
    /// batch's confirms, in seconds.
    #[arg(long, env = "HARVESTER_SINK_TIMEOUT", default_value_t = 30)]
    pub sink_timeout_secs: u64,
    /// A librdkafka setting for the Kafka sink, e.g. `security.protocol=SASL_SSL`, `sasl.username=…` (repeatable;
    /// values are never printed).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = kafka::KafkaOption::parse)]
    pub kafka_options: Vec<kafka::KafkaOption>,
    /// A librdkafka properties file (`KEY=VALUE` lines) for the Kafka sink: where secrets such as `sasl.password`
    /// go (e.g. a mounted Secret), since flags refuse them.
    #[arg(long, env = "HARVESTER_KAFKA_OPTIONS_FILE", value_name = "PATH", value_parser = tekton_graph_schema::kafka::OptionsFile::parse)]
    pub kafka_options_file: Option<tekton_graph_schema::kafka::OptionsFile>,
}

/// Why events were not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(
        "unsupported sink `{0}`: expected `-` (stdout), an http(s) URL, kafka://HOST:PORT[,HOST:PORT…]/TOPIC or amqp[s]://HOST[:PORT]/VHOST"
    )]
    Unsupported(String),
    // The inner errors are part of the message and deliberately not `#[source]`s, so that anyhow's `{:#}` in
    // main does not print them twice.
    #[error("could not write to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("could not encode events: {0}")]
    Encode(serde_json::Error),
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
    #[error("cannot read the sink token: {0}")]
    Token(String),
    #[error("batch of {events} events rejected: HTTP {status}: {body}")]
    Rejected { events: usize, status: reqwest::StatusCode, body: String },
    #[error("batch of {events} events not delivered: {reason}")]
    Transport { events: usize, reason: String },
    /// `broker` names the kind of broker ("Kafka", "RabbitMQ") so the message says where delivery failed.
    #[error("{events} events lost: {broker} delivery failed: {reason}")]
    Lost { broker: &'static str, events: usize, delivered: usize, reason: String },
}

impl SinkError {
    /// Errors after which sending more cannot succeed (stdout is gone); batch failures are not fatal.
    pub fn is_fatal(&self) -> bool {
        matches!(self, SinkError::Stdout(_) | SinkError::Encode(_) | SinkError::Client(_) | SinkError::Unsupported(_))
    }

    /// Events lost by this error, when it is about a batch.
    pub fn lost_events(&self) -> usize {
        match self {
            SinkError::Rejected { events, .. }
            | SinkError::Transport { events, .. }
            | SinkError::Lost { events, .. } => *events,
            _ => 0,
        }
    }

    /// Events confirmed delivered by the same call that reports this error.
    pub fn delivered_events(&self) -> usize {
        match self {
            SinkError::Lost { delivered, .. } => *delivered,
            _ => 0,
        }
    }
}

impl SinkConfig {
    /// The HTTP sink's bearer token: from `--sink-token-file`, else HARVESTER_SINK_TOKEN.
    pub fn sink_token(&self) -> Result<Option<String>, SinkError> {
        let from_env = std::env::var("HARVESTER_SINK_TOKEN").ok().filter(|t| !t.is_empty());
        match (&self.sink_token_file, from_env) {
            (Some(_), Some(_)) => {
                Err(SinkError::Token("give it once: HARVESTER_SINK_TOKEN or --sink-token-file".into()))
            }
            (Some(file), None) => {
                let text =
                    std::fs::read_to_string(file).map_err(|e| SinkError::Token(format!("{}: {e}", file.display())))?;
                let token = text.trim().to_string();
                if token.is_empty() {
                    return Err(SinkError::Token(format!("{} is empty", file.display())));
                }
                Ok(Some(token))
            }
            (None, token) => Ok(token),
        }
    }
}

pub enum Sink {
    Stdout(stdout::StdoutSink),
    Http(http::HttpSink),
    Kafka(kafka::KafkaSink),
    // Boxed: its publisher (config, connection slot) is several times the size of the other sinks.
    Amqp(Box<amqp::AmqpSink>),
}

impl Sink {
    pub fn build(config: &SinkConfig) -> Result<Self, SinkError> {
        Ok(match &config.target {
            SinkTarget::Stdout => Sink::Stdout(stdout::StdoutSink::new()),
            SinkTarget::Http(url) => Sink::Http(http::HttpSink::new(http::HttpSinkOptions {
                url: url.clone(),
                token: config.sink_token()?,
                batch_size: config.batch_size as usize,
                retries: config.sink_retries,
                timeout: Duration::from_secs(config.sink_timeout_secs),
            })?),
            SinkTarget::Kafka { brokers, topic } => Sink::Kafka(kafka::KafkaSink::new(kafka::KafkaSinkOptions {
                brokers: brokers.clone(),
                topic: topic.clone(),
                delivery_timeout: Duration::from_secs(config.sink_timeout_secs),
                options: tekton_graph_schema::kafka::OptionsFile::merged(
                    &config.kafka_options,
                    config.kafka_options_file.as_ref(),
                )
                .map_err(SinkError::Client)?,
            })?),
            SinkTarget::Amqp(publisher) => {
                let mut publisher = publisher.clone();
                publisher.name = concat!("tekton-graph-harvester/", env!("CARGO_PKG_VERSION")).to_string();
                publisher.attempts = config.sink_retries as usize + 1;
                publisher.confirm_timeout = Duration::from_secs(config.sink_timeout_secs);
                Sink::Amqp(Box::new(amqp::AmqpSink::new(publisher, config.batch_size as usize)))
            }
        })
    }

    /// Accepts one event; returns how many events were delivered by this call (sinks may batch).
    pub async fn push(&mut self, event: Event) -> Result<usize, SinkError> {
        match self {
            Sink::Stdout(sink) => sink.push(&event),
            Sink::Http(sink) => sink.push(event).await,
            Sink::Kafka(sink) => sink.push(event).await,
            Sink::Amqp(sink) => sink.push(event).await,
        }
    }

    /// Delivers whatever is buffered.
    pub async fn flush(&mut self) -> Result<usize, SinkError> {
        match self {
            Sink::Stdout(sink) => sink.flush(),
            Sink::Http(sink) => sink.flush().await,
            Sink::Kafka(sink) => sink.flush().await,
            Sink::Amqp(sink) => sink.flush().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_targets() {
        assert_eq!(SinkTarget::parse("-").ok(), Some(SinkTarget::Stdout));
        assert!(matches!(SinkTarget::parse("http://localhost:8080/events"), Ok(SinkTarget::Http(_))));
        assert!(matches!(SinkTarget::parse("https://graph.example/events"), Ok(SinkTarget::Http(_))));
        assert_eq!(
            SinkTarget::parse("kafka://broker:9092/facts").ok(),
            Some(SinkTarget::Kafka { brokers: "broker:9092".into(), topic: "facts".into() })
        );
        assert_eq!(
            SinkTarget::parse("kafka://10.0.0.1:9092,b2.example:19092/tekton.facts_v1-x").ok(),
            Some(SinkTarget::Kafka {
                brokers: "10.0.0.1:9092,b2.example:19092".into(),
                topic: "tekton.facts_v1-x".into()
            })
        );
        for bad in [
            "kafka://broker:9092",
            "kafka://broker/facts",
            "kafka://broker:9092/",
            "kafka://:9092/t",
            "kafka://b:1/a/b",
        ] {
            assert!(SinkTarget::parse(bad).is_err(), "{bad}");
        }
        match SinkTarget::parse("amqp://u:pw@rabbit:5672/%2f?exchange=facts") {
            Ok(SinkTarget::Amqp(config)) => {
                assert_eq!(config.describe(), "amqp://u:***@rabbit:5672/%2f?exchange=facts")
            }
            other => panic!("not an AMQP sink: {other:?}"),
        }
        let err = SinkTarget::parse("amqp://rabbit/%2f?queue=q").unwrap_err().to_string();
        assert!(err.contains("`queue`"), "{err}");
        let err = SinkTarget::parse("ftp://example/facts").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported sink `ftp://example/facts`: expected `-` (stdout), an http(s) URL, \
             kafka://HOST:PORT[,HOST:PORT…]/TOPIC or amqp[s]://HOST[:PORT]/VHOST"
        );
    }
}
