//! Digests: a trigger with `digest: { windowSeconds }` collects its deliveries to one channel for a window that
//! opens with the first of them, and sends one message for all — a Slack post, a Discord message or a mail that
//! lists them; for machines, one body whose `items` are theirs.
//!
//! The outbox keeps the window as a pending delivery due when the window closes; each event in the window adds its
//! rendered body to the delivery's items and the digest body is composed again from all of them, in the same
//! transaction ([`crate::outbox::Outbox::record`]). Nothing waits in memory: a restart sends the digest when due.

use serde_json::{Value, json};

use crate::config::ChannelConfig;
use crate::render::{DISCORD_MAX_CHARS, SLACK_MAX_CHARS, truncate};

/// Items listed in one digest; the rest are counted.
pub const MAX_LISTED: usize = 50;

/// How a channel's bodies combine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Combine {
    /// Slack incoming webhook `{text}`.
    SlackText,
    /// Slack Web API `{channel, text}`.
    SlackApp,
    /// Discord `{content}`.
    Discord,
    /// E-mail `{subject, text}`.
    Email,
    /// A CloudEvent envelope whose `data` holds the items.
    CloudEvent,
    /// Any JSON body (webhook, EventListener, Kafka): `{trigger, digest: true, count, items}`.
    Machine,
}

/// A plan's digest: how long its window stays open and how its channel combines bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestPlan {
    pub window_ms: i64,
    pub combine: Combine,
}

impl Combine {
    pub fn of(channel: &ChannelConfig) -> Combine {
        match channel {
            ChannelConfig::Slack { .. } => Combine::SlackText,
            ChannelConfig::SlackApp { .. } => Combine::SlackApp,
            ChannelConfig::Discord { .. } => Combine::Discord,
            ChannelConfig::Email { .. } => Combine::Email,
            ChannelConfig::CloudEvents { .. } => Combine::CloudEvent,
            ChannelConfig::Webhook { .. } | ChannelConfig::EventListener { .. } | ChannelConfig::Kafka { .. } => {
                Combine::Machine
            }
        }
    }

    /// The one body for all `items` (each a body the channel would have sent alone), oldest first.
    pub fn body(&self, trigger: &str, items: &[Value]) -> Value {
        let count = items.len();
        let listed = &items[..count.min(MAX_LISTED)];
        let more = count - listed.len();
        let text_of = |field: &str| -> String {
            let mut text = format!("{count} × {trigger}\n");
            for item in listed {
                text.push_str("\n• ");
                text.push_str(&item[field].as_str().unwrap_or_default().replace('\n', "\n  "));
            }
            if more > 0 {
                text.push_str(&format!("\n… and {more} more"));
            }
            text
        };
        match self {
            Combine::SlackText => json!({ "text": truncate(&text_of("text"), SLACK_MAX_CHARS) }),
            Combine::SlackApp => {
                json!({ "channel": items[0]["channel"], "text": truncate(&text_of("text"), SLACK_MAX_CHARS) })
            }
            Combine::Discord => json!({ "content": truncate(&text_of("content"), DISCORD_MAX_CHARS) }),
            Combine::Email => json!({ "subject": format!("{count} × {trigger}"), "text": text_of("text") }),
            Combine::CloudEvent => {
                let mut envelope = items[0].clone();
                let data: Vec<Value> = listed.iter().map(|item| item["data"].clone()).collect();
                envelope["data"] = json!({ "trigger": trigger, "digest": true, "count": count, "items": data });
                envelope
            }
            Combine::Machine => json!({ "trigger": trigger, "digest": true, "count": count, "items": listed }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_combine_per_channel_and_long_digests_are_counted() {
        let slack = [json!({"text": "a failed\nsince x"}), json!({"text": "b failed"})];
        assert_eq!(
            Combine::SlackText.body("run-failed", &slack),
            json!({"text": "2 × run-failed\n\n• a failed\n  since x\n• b failed"})
        );
        let mails = [json!({"subject": "a", "text": "A"})];
        assert_eq!(Combine::Email.body("t", &mails), json!({"subject": "1 × t", "text": "1 × t\n\n• A"}));
        let many: Vec<Value> = (0..MAX_LISTED + 3).map(|i| json!({"n": i})).collect();
        let body = Combine::Machine.body("t", &many);
        assert_eq!(body["count"], MAX_LISTED + 3);
        assert_eq!(body["items"].as_array().map(Vec::len), Some(MAX_LISTED));
        let discord: Vec<Value> = (0..MAX_LISTED + 2).map(|_| json!({"content": "x"})).collect();
        assert!(Combine::Discord.body("t", &discord)["content"].as_str().unwrap().ends_with("… and 2 more"));
        let long: Vec<Value> = (0..MAX_LISTED).map(|_| json!({"content": "y".repeat(100)})).collect();
        let content = Combine::Discord.body("t", &long)["content"].as_str().unwrap().to_string();
        assert!(content.chars().count() <= DISCORD_MAX_CHARS, "{}", content.chars().count());
        let ce = [json!({"id": "1", "data": {"a": 1}}), json!({"id": "2", "data": {"a": 2}})];
        assert_eq!(Combine::CloudEvent.body("t", &ce)["data"]["items"], json!([{"a": 1}, {"a": 2}]));
    }
}
