//! POSTs each event in structured mode (`application/cloudevents+json`), in order. A 2xx answer accepts the event;
//! 429 and 5xx are transient failures (the Sensemaker retries the whole call), any other status is permanent.

use std::time::Duration;

use async_trait::async_trait;
use cloudevents::{AttributesReader, Event};
use reqwest::header::CONTENT_TYPE;
use tekton_graph_schema::envelope::STRUCTURED_CONTENT_TYPE;

use super::{EmitError, Emitter, error_chain};

/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Response bodies are quoted in errors up to this many characters.
const MAX_BODY_CHARS: usize = 500;

pub struct HttpEmitter {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl HttpEmitter {
    pub fn new(url: reqwest::Url) -> Result<Self, EmitError> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("tekton-graph-sensemaker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EmitError::Client(error_chain(&e)))?;
        Ok(HttpEmitter { client, url })
    }

    async fn post(&self, event: &Event) -> Result<(), EmitError> {
        let body = serde_json::to_vec(event)
            .map_err(|e| EmitError::Encode { id: event.id().to_string(), reason: e.to_string() })?;
        let mut request = self.client.post(self.url.clone()).header(CONTENT_TYPE, STRUCTURED_CONTENT_TYPE);
        // The trace context also as a transport header (CloudEvents' distributed-tracing extension).
        if let Some(traceparent) = event.extension("traceparent") {
            request = request.header("traceparent", traceparent.to_string());
        }
        let response = request.body(body).send().await.map_err(|e| EmitError::Transport(error_chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: String = response.text().await.unwrap_or_default().trim().chars().take(MAX_BODY_CHARS).collect();
        Err(EmitError::Rejected { status: status.as_u16(), body })
    }
}

#[async_trait]
impl Emitter for HttpEmitter {
    async fn emit(&self, events: &[Event]) -> Result<(), EmitError> {
        for event in events {
            self.post(event).await?;
        }
        Ok(())
    }

    /// The URL without user info (it may hold a password).
    fn describe(&self) -> String {
        let mut url = self.url.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.to_string()
    }
}
