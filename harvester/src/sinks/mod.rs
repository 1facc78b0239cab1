//! Sinks deliver fact CloudEvents. A closed enum rather than trait objects: there are few sinks, and a `match`
//! keeps each one's code plain. A Kafka sink would be one more module, variant and [`SinkTarget`] scheme.

pub mod http;
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
}

impl SinkTarget {
    pub fn parse(value: &str) -> Result<Self, SinkError> {
        if value == "-" {
            return Ok(SinkTarget::Stdout);
        }
        match url::Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(SinkTarget::Http(url)),
            _ => Err(SinkError::Unsupported(value.to_string())),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct SinkConfig {
    /// Where to send facts: `-` for stdout (one CloudEvent per line) or an http(s) URL accepting CloudEvent batches.
    #[arg(long = "sink", env = "HARVESTER_SINK", default_value = "-", value_parser = SinkTarget::parse)]
    pub target: SinkTarget,
    /// Bearer token for the HTTP sink.
    #[arg(long, env = "HARVESTER_SINK_TOKEN", hide_env_values = true)]
    pub sink_token: Option<String>,
    /// Events per HTTP request.
    #[arg(long, env = "HARVESTER_BATCH_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Retries of a batch after a connection error or a 5xx/429 response.
    #[arg(long, env = "HARVESTER_SINK_RETRIES", default_value_t = 3)]
    pub sink_retries: u32,
    /// Timeout of one HTTP request, in seconds.
    #[arg(long, env = "HARVESTER_SINK_TIMEOUT", default_value_t = 30)]
    pub sink_timeout_secs: u64,
}

/// Why events were not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("unsupported sink `{0}`: expected `-` (stdout) or an http(s) URL")]
    Unsupported(String),
    // The inner errors are part of the message and deliberately not `#[source]`s, so that anyhow's `{:#}` in
    // main does not print them twice.
    #[error("could not write to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("could not encode events: {0}")]
    Encode(serde_json::Error),
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
    #[error("batch of {events} events rejected: HTTP {status}: {body}")]
    Rejected { events: usize, status: reqwest::StatusCode, body: String },
    #[error("batch of {events} events not delivered: {reason}")]
    Transport { events: usize, reason: String },
}

impl SinkError {
    /// Errors after which sending more cannot succeed (stdout is gone); batch failures are not fatal.
    pub fn is_fatal(&self) -> bool {
        matches!(self, SinkError::Stdout(_) | SinkError::Encode(_) | SinkError::Client(_) | SinkError::Unsupported(_))
    }

    /// Events lost by this error, when it is about a batch.
    pub fn lost_events(&self) -> usize {
        match self {
            SinkError::Rejected { events, .. } | SinkError::Transport { events, .. } => *events,
            _ => 0,
        }
    }
}

pub enum Sink {
    Stdout(stdout::StdoutSink),
    Http(http::HttpSink),
}

impl Sink {
    pub fn build(config: &SinkConfig) -> Result<Self, SinkError> {
        Ok(match &config.target {
            SinkTarget::Stdout => Sink::Stdout(stdout::StdoutSink::new()),
            SinkTarget::Http(url) => Sink::Http(http::HttpSink::new(http::HttpSinkOptions {
                url: url.clone(),
                token: config.sink_token.clone(),
                batch_size: config.batch_size as usize,
                retries: config.sink_retries,
                timeout: Duration::from_secs(config.sink_timeout_secs),
            })?),
        })
    }

    /// Accepts one event; returns how many events were delivered by this call (sinks may batch).
    pub async fn push(&mut self, event: Event) -> Result<usize, SinkError> {
        match self {
            Sink::Stdout(sink) => sink.push(&event),
            Sink::Http(sink) => sink.push(event).await,
        }
    }

    /// Delivers whatever is buffered.
    pub async fn flush(&mut self) -> Result<usize, SinkError> {
        match self {
            Sink::Stdout(sink) => sink.flush(),
            Sink::Http(sink) => sink.flush().await,
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
        let err = SinkTarget::parse("kafka://broker:9092/facts").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported sink `kafka://broker:9092/facts`: expected `-` (stdout) or an http(s) URL"
        );
    }
}
