//! Channels: where a delivery's body is sent, and what the answer means — sent, retry (after how long), or a
//! permanent failure that no retry can fix. Each follows its service's documented contract:
//!
//! | channel | success | retry | permanent |
//! |---|---|---|---|
//! | Slack incoming webhook | 200 `ok` | 429 `Retry-After`, 5xx | 400 `invalid_payload`, 403, 404 `channel_not_found`, 410 `channel_is_archived` |
//! | Slack `chat.postMessage` | 200 `{ok: true, ts}` (the `ts` starts the run's thread) | 429 `Retry-After`, `{ok: false}` with other errors | `{ok: false}`: `channel_not_found`, `invalid_auth`, `not_in_channel`, … |
//! | Discord webhook | 204 / 200; `X-RateLimit-Remaining: 0` pauses the channel for `X-RateLimit-Reset-After` | 429 `Retry-After` / `retry_after`, 5xx | 400 (`50006`), 401, 403, 404 (`10015` unknown webhook) |
//! | webhook, EventListener, CloudEvents | 2xx (an EventListener's `eventID` is kept) | 408, 429 `Retry-After`, 5xx | other 4xx |
//! | e-mail ([`email`]) | 2xx reply to `DATA` | 4xx replies, connection and TLS failures | 5xx replies, bad addresses |
//! | Kafka ([`kafka`]) | acknowledged by all in-sync replicas | broker errors, timeouts | message too large, not authorized |
//!
//! Any network failure is retried. Error texts never contain the URL: a webhook URL is a secret.

pub mod email;
pub mod kafka;

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use crate::config::ChannelConfig;
use crate::event::STRUCTURED_CONTENT_TYPE;
use crate::outbox::Pending;
use crate::secret::SecretError;

/// Response bodies are quoted in errors up to this many characters.
const MAX_ERROR_CHARS: usize = 300;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Delivered. `pause`: the channel asked to wait before the next request (Discord's remaining budget is 0).
    Sent { response: Option<String>, pause: Option<Duration> },
    /// Worth another attempt, no sooner than `after` when the service said so.
    Retry { error: String, after: Option<Duration> },
    /// No retry can fix this (the webhook is gone, the payload is refused).
    Permanent { error: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("channel `{channel}`: {source}")]
    Secret { channel: String, source: SecretError },
    #[error("channel `{channel}`: {reason}")]
    Invalid { channel: String, reason: String },
}

enum Kind {
    Slack,
    SlackApp,
    Discord,
    Webhook,
    EventListener,
    CloudEvents,
}

/// A channel ready to send.
pub enum Sender {
    Http(HttpSender),
    Email(email::EmailSender),
    Kafka(kafka::KafkaSender),
}

impl Sender {
    pub fn build(name: &str, config: &ChannelConfig, timeout: Duration) -> Result<Sender, ChannelError> {
        match config {
            ChannelConfig::Email { .. } => Ok(Sender::Email(email::EmailSender::build(name, config, timeout)?)),
            ChannelConfig::Kafka { .. } => Ok(Sender::Kafka(kafka::KafkaSender::build(name, config, timeout)?)),
            _ => Ok(Sender::Http(HttpSender::build(name, config, timeout)?)),
        }
    }

    /// Slack, Discord and e-mail: one request at a time, in order.
    pub fn in_order(&self) -> bool {
        match self {
            Sender::Http(http) => matches!(http.kind, Kind::Slack | Kind::SlackApp | Kind::Discord),
            Sender::Email(_) => true,
            Sender::Kafka(_) => false,
        }
    }

    pub async fn send(&self, delivery: &Pending) -> Outcome {
        match self {
            Sender::Http(http) => http.send(delivery).await,
            Sender::Email(email) => email.send(delivery).await,
            Sender::Kafka(kafka) => kafka.send(delivery).await,
        }
    }
}

/// An HTTP channel: its URL and headers resolved (secrets included), and a client.
pub struct HttpSender {
    kind: Kind,
    url: reqwest::Url,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl HttpSender {
    fn build(name: &str, config: &ChannelConfig, timeout: Duration) -> Result<HttpSender, ChannelError> {
        let invalid = |reason: String| ChannelError::Invalid { channel: name.to_string(), reason };
        let secret = |r: &crate::secret::SecretRef| {
            r.resolve().map_err(|source| ChannelError::Secret { channel: name.to_string(), source })
        };
        let secret_url = |r: &crate::secret::SecretRef| -> Result<reqwest::Url, ChannelError> {
            let url = reqwest::Url::parse(secret(r)?.expose())
                .map_err(|e| invalid(format!("the webhook URL is not a URL ({e})")))?;
            Ok(url)
        };
        let mut headers = HeaderMap::new();
        let header = |name: &str, value: &str| -> Result<(HeaderName, HeaderValue), ChannelError> {
            let header_name =
                HeaderName::try_from(name).map_err(|_| invalid(format!("`{name}` is not a header name")))?;
            let mut header_value = HeaderValue::try_from(value)
                .map_err(|_| invalid(format!("the value of header `{name}` is not valid")))?;
            header_value.set_sensitive(true);
            Ok((header_name, header_value))
        };
        let (kind, url) = match config {
            ChannelConfig::Slack { webhook_url, .. } => (Kind::Slack, secret_url(webhook_url)?),
            ChannelConfig::SlackApp { token, api_url, .. } => {
                let (name, value) = header("authorization", &format!("Bearer {}", secret(token)?.expose()))?;
                headers.insert(name, value);
                (Kind::SlackApp, api_url.clone())
            }
            ChannelConfig::Discord { webhook_url, .. } => (Kind::Discord, secret_url(webhook_url)?),
            ChannelConfig::Webhook { url, headers: extra, .. }
            | ChannelConfig::CloudEvents { url, headers: extra, .. } => {
                for (name, value) in extra {
                    let (name, value) = header(name, secret(value)?.expose())?;
                    headers.insert(name, value);
                }
                let kind =
                    if matches!(config, ChannelConfig::Webhook { .. }) { Kind::Webhook } else { Kind::CloudEvents };
                (kind, url.clone())
            }
            ChannelConfig::EventListener { url, secret: shared, secret_header, .. } => {
                if let Some(shared) = shared {
                    let (name, value) = header(secret_header, secret(shared)?.expose())?;
                    headers.insert(name, value);
                }
                (Kind::EventListener, url.clone())
            }
            ChannelConfig::Email { .. } | ChannelConfig::Kafka { .. } => {
                return Err(invalid("not an HTTP channel".into()));
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!("only http(s) URLs can be called, not `{}:`", url.scheme())));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("tekton-graph-notifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(format!("cannot build an HTTP client: {e}")))?;
        Ok(HttpSender { kind, url, headers, client })
    }

    async fn send(&self, delivery: &Pending) -> Outcome {
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(
                CONTENT_TYPE,
                if matches!(self.kind, Kind::CloudEvents) { STRUCTURED_CONTENT_TYPE } else { "application/json" },
            )
            .body(body_with_thread(delivery));
        if matches!(self.kind, Kind::Webhook | Kind::EventListener | Kind::CloudEvents) {
            request = request.header("Idempotency-Key", delivery.idempotency_key());
            // Machines get the trace to continue (the `deliver` span's); chat services have no use for it.
            if let Some(traceparent) = tekton_graph_telemetry::trace::traceparent(&tracing::Span::current()) {
                request = request.header("traceparent", traceparent);
            }
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Outcome::Retry { error: transport_error(e), after: None },
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        classify(&self.kind, status, &headers, &body)
    }
}

/// The stored body, with the thread to reply in when there is one.
fn body_with_thread(delivery: &Pending) -> String {
    let Some(ts) = &delivery.thread_ts else { return delivery.body.clone() };
    match serde_json::from_str::<serde_json::Value>(&delivery.body) {
        Ok(mut body) => {
            body["thread_ts"] = serde_json::Value::String(ts.clone());
            body.to_string()
        }
        Err(_) => delivery.body.clone(),
    }
}

/// `chat.postMessage` errors no retry can fix (the rest — `ratelimited`, `internal_error`, … — are retried).
const SLACK_API_PERMANENT: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "invalid_blocks",
    "msg_too_long",
    "no_text",
    "invalid_arguments",
    "restricted_action",
];

fn classify(kind: &Kind, status: u16, headers: &HeaderMap, body: &str) -> Outcome {
    let quoted: String = body.trim().chars().take(MAX_ERROR_CHARS).collect();
    let error = format!("HTTP {status}: {quoted}");
    if matches!(kind, Kind::SlackApp) && status == 200 {
        // The Web API answers 200 to everything but rate limits; `ok` says what happened.
        let answer: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        if answer["ok"] == true {
            return Outcome::Sent { response: answer["ts"].as_str().map(str::to_string), pause: None };
        }
        let code = answer["error"].as_str().unwrap_or("not a Slack API answer");
        let error = format!("chat.postMessage: {code}");
        return if SLACK_API_PERMANENT.contains(&code) {
            Outcome::Permanent { error }
        } else {
            Outcome::Retry { error, after: None }
        };
    }
    if (200..300).contains(&status) {
        return match kind {
            Kind::Discord => {
                let remaining = header_text(headers, "x-ratelimit-remaining");
                let pause = (remaining.as_deref() == Some("0"))
                    .then(|| seconds(header_text(headers, "x-ratelimit-reset-after").as_deref()))
                    .flatten();
                Outcome::Sent { response: None, pause }
            }
            Kind::EventListener => {
                let event_id = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v["eventID"].as_str().map(str::to_string));
                Outcome::Sent { response: event_id, pause: None }
            }
            Kind::Slack | Kind::SlackApp | Kind::Webhook | Kind::CloudEvents => {
                Outcome::Sent { response: None, pause: None }
            }
        };
    }
    if status == 429 {
        let from_body = || {
            serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["retry_after"].as_f64())
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
        };
        let after = seconds(header_text(headers, RETRY_AFTER.as_str()).as_deref()).or_else(from_body);
        return Outcome::Retry { error, after };
    }
    if status >= 500 || status == 408 {
        return Outcome::Retry { error, after: None };
    }
    Outcome::Permanent { error }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// `Retry-After` in seconds (Discord sends fractions); an HTTP date is not used by these services.
fn seconds(text: Option<&str>) -> Option<Duration> {
    text?.trim().parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok())
}

fn transport_error(e: reqwest::Error) -> String {
    error_chain(&e.without_url())
}

/// An error with its causes: client libraries' own messages ("error sending request") hide them.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn answers_follow_each_services_contract() {
        let none = HeaderMap::new();
        assert_eq!(classify(&Kind::Slack, 200, &none, "ok"), Outcome::Sent { response: None, pause: None });
        assert_eq!(
            classify(&Kind::Slack, 429, &headers(&[("retry-after", "3")]), "rate_limited"),
            Outcome::Retry { error: "HTTP 429: rate_limited".into(), after: Some(Duration::from_secs(3)) }
        );
        for (status, body) in [
            (400, "invalid_payload"),
            (403, "action_prohibited"),
            (404, "channel_not_found"),
            (410, "channel_is_archived"),
        ] {
            assert_eq!(
                classify(&Kind::Slack, status, &none, body),
                Outcome::Permanent { error: format!("HTTP {status}: {body}") }
            );
        }
        assert!(matches!(classify(&Kind::Slack, 503, &none, ""), Outcome::Retry { after: None, .. }));
        let exhausted = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset-after", "1.5")]);
        assert_eq!(
            classify(&Kind::Discord, 204, &exhausted, ""),
            Outcome::Sent { response: None, pause: Some(Duration::from_millis(1500)) }
        );
        let limited = classify(
            &Kind::Discord,
            429,
            &none,
            r#"{"message":"You are being rate limited.","retry_after":0.25,"global":false}"#,
        );
        assert!(matches!(limited, Outcome::Retry { after: Some(d), .. } if d == Duration::from_millis(250)));
        assert!(matches!(classify(&Kind::Discord, 404, &none, r#"{"code":10015}"#), Outcome::Permanent { .. }));
        assert_eq!(
            classify(&Kind::EventListener, 202, &none, r#"{"eventListenerUID":"u","eventID":"abc-123"}"#),
            Outcome::Sent { response: Some("abc-123".into()), pause: None }
        );
        assert!(matches!(classify(&Kind::Webhook, 408, &none, ""), Outcome::Retry { .. }));
        assert!(matches!(classify(&Kind::Webhook, 422, &none, ""), Outcome::Permanent { .. }));
    }
}
