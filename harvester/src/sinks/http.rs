//! `--sink http(s)://…`: POSTs batches of structured CloudEvents as one JSON array
//! (`application/cloudevents-batch+json`). Connection errors, timeouts, 429 and 5xx are retried with exponential
//! backoff; any other non-2xx response fails the batch with the status and the body, which names the reason.
//! When tracing is on, each batch is a `send batch` span linked to every event's trace, and its request carries
//! that span's `traceparent` (each event keeps its own in its extension).

use std::time::Duration;

use cloudevents::Event;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use tekton_graph_schema::envelope::BATCH_CONTENT_TYPE;

use super::SinkError;
use crate::report::error_chain;

/// First retry delay; doubled per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Response bodies are quoted in errors up to this length.
const MAX_BODY_CHARS: usize = 1000;

pub struct HttpSinkOptions {
    pub url: url::Url,
    pub token: Option<String>,
    pub batch_size: usize,
    pub retries: u32,
    pub timeout: Duration,
}

pub struct HttpSink {
    client: reqwest::Client,
    options: HttpSinkOptions,
    buffer: Vec<Event>,
}

/// The outcome of one attempt: delivered, or failed and worth retrying or not.
enum Attempt {
    Delivered,
    Transient(SinkError),
    Permanent(SinkError),
}

impl HttpSink {
    pub fn new(options: HttpSinkOptions) -> Result<Self, SinkError> {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("tekton-graph-harvester/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SinkError::Client(error_chain(&e)))?;
        Ok(HttpSink { client, buffer: Vec::with_capacity(options.batch_size), options })
    }

    pub async fn push(&mut self, event: Event) -> Result<usize, SinkError> {
        self.buffer.push(event);
        if self.buffer.len() >= self.options.batch_size { self.flush().await } else { Ok(0) }
    }

    /// Sends the buffered events as one batch. The buffer is emptied either way: a failed batch is reported and
    /// counted by the caller, not retried forever.
    pub async fn flush(&mut self) -> Result<usize, SinkError> {
        if self.buffer.is_empty() {
            return Ok(0);
        }
        let batch = std::mem::take(&mut self.buffer);
        let body = serde_json::to_vec(&batch).map_err(SinkError::Encode)?;
        let span = tracing::info_span!("send batch", otel.kind = "producer", events = batch.len());
        for traceparent in batch.iter().filter_map(|event| event.extension("traceparent")) {
            tekton_graph_telemetry::trace::link_to(&span, &traceparent.to_string());
        }
        let traceparent = tekton_graph_telemetry::trace::traceparent(&span);
        let mut retry = 0;
        loop {
            let attempt = self.attempt(&body, batch.len(), traceparent.as_deref());
            match tracing::Instrument::instrument(attempt, span.clone()).await {
                Attempt::Delivered => return Ok(batch.len()),
                Attempt::Transient(error) if retry < self.options.retries => {
                    let delay = backoff(retry);
                    tracing::warn!(%error, retry = retry + 1, ?delay, "retrying batch");
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                Attempt::Transient(error) | Attempt::Permanent(error) => return Err(error),
            }
        }
    }

    async fn attempt(&self, body: &[u8], events: usize, traceparent: Option<&str>) -> Attempt {
        let mut request =
            self.client.post(self.options.url.clone()).header(CONTENT_TYPE, BATCH_CONTENT_TYPE).body(body.to_vec());
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        if let Some(token) = &self.options.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Attempt::Transient(SinkError::Transport { events, reason: error_chain(&e) }),
        };
        let status = response.status();
        if status.is_success() {
            tracing::debug!(events, %status, "batch delivered");
            return Attempt::Delivered;
        }
        let body = response.text().await.unwrap_or_default();
        let error = SinkError::Rejected { events, status, body: truncate(body.trim(), MAX_BODY_CHARS) };
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Attempt::Transient(error)
        } else {
            Attempt::Permanent(error)
        }
    }
}

fn backoff(retry: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(retry)).min(MAX_BACKOFF)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let delays: Vec<_> = (0..7).map(|r| backoff(r).as_millis()).collect();
        assert_eq!(delays, vec![200, 400, 800, 1600, 3200, 5000, 5000]);
    }
}
