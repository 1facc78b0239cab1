//! One worker per channel sends that channel's pending deliveries in order, so a slow or dead channel never
//! delays another. It sleeps until the next delivery is due or the recorder wakes it, honours the pauses a
//! service asks for (429 `Retry-After`, Discord's exhausted budget) for the whole channel, retries with
//! exponential backoff and jitter, and marks a delivery `dead` after a permanent error or the last attempt.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::channel::{Outcome, Sender};
use crate::config::DeliveryConfig;
use crate::metrics::NotifierMetrics;
use crate::outbox::{Mark, Outbox, OutboxError, Pending};

/// Deliveries read from the outbox per round.
const BATCH: u32 = 64;
/// A worker looks at the outbox at least this often, even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl From<&DeliveryConfig> for RetryPolicy {
    fn from(config: &DeliveryConfig) -> Self {
        RetryPolicy {
            max_attempts: config.max_attempts,
            first_backoff: Duration::from_millis(config.first_backoff_millis),
            max_backoff: Duration::from_secs(config.max_backoff_seconds),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempts + 1`, after `attempts` failures (≥ 1).
    pub fn backoff(&self, attempts: u32) -> Duration {
        ExponentialBuilder::new()
            .with_min_delay(self.first_backoff)
            .with_max_delay(self.max_backoff)
            .with_jitter()
            .without_max_times()
            .build()
            .nth(attempts.saturating_sub(1) as usize)
            .unwrap_or(self.max_backoff)
    }
}

pub struct Worker {
    pub channel: String,
    pub sender: Sender,
    /// Requests in flight at once (1: strictly in order).
    pub concurrency: usize,
    pub outbox: Outbox,
    pub wake: Arc<Notify>,
    pub policy: RetryPolicy,
    /// Becomes true when a reload replaces or removes the channel: the worker ends after the sends in flight are
    /// recorded, so the next one never sends the same delivery.
    pub stop: tokio::sync::watch::Receiver<bool>,
    pub metrics: Arc<NotifierMetrics>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Worker {
    /// Runs until stopped or dropped. Outbox errors are logged and retried after a pause.
    pub async fn run(mut self) {
        let mut paused_until: Option<Instant> = None;
        while !*self.stop.borrow() {
            match self.round(&mut paused_until).await {
                Ok(true) => continue,
                Ok(false) => self.idle().await,
                Err(e) => {
                    tracing::error!(channel = %self.channel, error = %e, "outbox unavailable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Waits for a wake-up, a stop, or until the next retry is due.
    async fn idle(&mut self) {
        let wait = match self.outbox.next_due(&self.channel).await {
            Ok(Some(due)) => Duration::from_millis((due - now_ms()).clamp(0, IDLE_POLL.as_millis() as i64) as u64),
            _ => IDLE_POLL,
        };
        if wait.is_zero() {
            return;
        }
        tokio::select! {
            _ = tokio::time::timeout(wait, self.wake.notified()) => {}
            _ = self.stop.changed() => {}
        }
    }

    /// Sends what is due, `concurrency` at a time, and records each group's outcomes in one transaction; true
    /// when it did something (look again at once).
    async fn round(&self, paused_until: &mut Option<Instant>) -> Result<bool, OutboxError> {
        // A pause ends before the outbox is read, so a delivery held back by it keeps its place in the order.
        if let Some(until) = paused_until.take() {
            tokio::time::sleep_until(until).await;
        }
        let due = self.outbox.due(&self.channel, now_ms(), BATCH).await?;
        if due.is_empty() {
            return Ok(false);
        }
        for group in due.chunks(self.concurrency.max(1)) {
            let outcomes = futures::future::join_all(group.iter().map(|d| async {
                let started = Instant::now();
                let outcome = tracing::Instrument::instrument(self.sender.send(d), self.span(d)).await;
                (outcome, started.elapsed())
            }))
            .await;
            let mut marks = Vec::with_capacity(group.len());
            let mut pause: Option<Duration> = None;
            let mut new_thread = false;
            for (delivery, (outcome, elapsed)) in group.iter().zip(outcomes) {
                let (mark, wait) = self.judge(delivery, outcome);
                let counted = match &mark {
                    Mark::Sent { .. } => "sent",
                    Mark::Retry { .. } => "retried",
                    Mark::Dead { .. } => "dead",
                };
                self.metrics.delivery(&self.channel, counted, elapsed);
                new_thread |= matches!(&mark, Mark::Sent { thread: Some(_), .. });
                marks.push(mark);
                pause = pause.max(wait);
            }
            self.outbox.finish(marks).await?;
            if let Some(pause) = pause {
                *paused_until = Some(Instant::now() + pause);
                return Ok(true);
            }
            if new_thread {
                // Later messages about the same run reply in the thread just started: read them again.
                return Ok(true);
            }
        }
        Ok(true)
    }

    /// One attempt's span, in the trace of the `notify` span that planned the delivery.
    fn span(&self, delivery: &Pending) -> tracing::Span {
        let span = tracing::info_span!("deliver", otel.kind = "producer", channel = %self.channel,
            delivery = delivery.id, attempt = delivery.attempts + 1, event_id = %delivery.event_id);
        if let Some(traceparent) = &delivery.traceparent {
            tekton_graph_telemetry::trace::continue_from(&span, traceparent);
        }
        span
    }

    /// What an attempt's outcome means for the delivery, and how long the whole channel must wait after it (a
    /// service rate-limits the channel, not one message).
    fn judge(&self, delivery: &Pending, outcome: Outcome) -> (Mark, Option<Duration>) {
        let (id, attempts, now) = (delivery.id, delivery.attempts + 1, now_ms());
        match outcome {
            Outcome::Sent { response, pause } => {
                // A threading channel's first message about a key starts the thread (its `ts` is the response).
                let thread = match (&delivery.thread_key, &delivery.thread_ts, &response) {
                    (Some(key), None, Some(ts)) => Some((self.channel.clone(), key.clone(), ts.clone())),
                    _ => None,
                };
                (Mark::Sent { id, attempts, response, now, thread }, pause)
            }
            Outcome::Permanent { error } => {
                tracing::warn!(channel = %self.channel, delivery = id, %error, "delivery failed for good");
                (Mark::Dead { id, attempts, error, now }, None)
            }
            Outcome::Retry { error, .. } if attempts >= self.policy.max_attempts => {
                tracing::warn!(channel = %self.channel, delivery = id, %error, attempts,
                    "delivery is dead after its last attempt");
                (Mark::Dead { id, attempts, error, now }, None)
            }
            Outcome::Retry { error, after } => {
                let delay = after.unwrap_or_default().max(self.policy.backoff(attempts));
                tracing::info!(channel = %self.channel, delivery = id, %error, attempts,
                    retry_in_ms = delay.as_millis() as u64, "delivery will be retried");
                (Mark::Retry { id, attempts, next_attempt_ms: now + delay.as_millis() as i64, error }, after)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        };
        let first = policy.backoff(1);
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200), "{first:?}");
        let fourth = policy.backoff(4);
        assert!(fourth >= Duration::from_millis(800), "{fourth:?}");
        assert!(policy.backoff(30) <= Duration::from_secs(4), "capped (jitter adds at most the delay again)");
    }
}
