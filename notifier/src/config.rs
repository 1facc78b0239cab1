//! The rule file (YAML): channels, triggers, subscriptions, teams and silences.
//!
//! ```yaml
//! links: { ui: http://localhost:8080 }           # where messages' links point (graph-service's web UI)
//! channels:
//!   build-slack: { type: slack, webhookUrl: { env: SLACK_WEBHOOK_URL } }
//!   scan-pipeline:
//!     type: eventListener
//!     url: http://el-scan.ci.svc.cluster.local:8080
//!     secret: { file: /run/secrets/scan-el }
//! triggers:
//!   run-failed:
//!     on: dev.cdevents.pipelinerun.finished.0.2.0
//!     when: data.subject.content.outcome == "failure"
//!     oncePer: data.subject.id
//! subscriptions:
//!   - { team: build, triggers: [run-failed], channels: [build-slack] }
//! ```
//!
//! Everything is checked when the file is loaded (unknown fields, references, CEL, templates), so a broken rule
//! fails the start (or the reload) with the file, the rule and the reason — never at the first matching event.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::secret::SecretRef;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Base URLs that messages link to.
    #[serde(default)]
    pub links: Links,
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    #[serde(default)]
    pub triggers: BTreeMap<String, TriggerConfig>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionConfig>,
    /// Teams and their members (user names), the subjects of subscriptions.
    #[serde(default)]
    pub teams: BTreeMap<String, TeamConfig>,
    /// The kinds of notification triggers declare (`notificationType`) and subscriptions choose by.
    #[serde(default)]
    pub notification_types: BTreeMap<String, NotificationTypeConfig>,
    #[serde(default)]
    pub silences: Vec<SilenceConfig>,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Cron schedules: each slot becomes a `dev.tektongraph.schedule.fired.v1` event that triggers route like any.
    #[serde(default)]
    pub schedules: BTreeMap<String, ScheduleConfig>,
    /// graph-service's GraphQL, asked what changed since the previous run for messages about a run.
    pub graph: Option<crate::enrich::GraphConfig>,
    /// What users may do for themselves through the API.
    #[serde(default)]
    pub self_service: SelfService,
}

/// The channels any viewer may subscribe themselves to (through the API's `subscribe`); an admin may use any.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelfService {
    #[serde(default)]
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Links {
    /// graph-service's web UI, e.g. `https://tekton-graph.example.org`: runs, diffs and images link there.
    pub ui: Option<url::Url>,
}

/// Where messages go. Secrets (webhook URLs hold one) are `{ env: … }` or `{ file: … }` references.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ChannelConfig {
    /// A Slack incoming webhook: `POST {text}`.
    #[serde(rename_all = "camelCase")]
    Slack {
        webhook_url: SecretRef,
        /// Template of the message text (default: the trigger's message, else a summary of the event).
        text: Option<String>,
    },
    /// Slack's Web API `chat.postMessage` with a bot token: the first message about a run starts a thread, later
    /// ones (its regression, its rerun) reply in it.
    #[serde(rename_all = "camelCase")]
    SlackApp {
        token: SecretRef,
        /// The channel id (`C…`) or name.
        channel: String,
        /// `chat.postMessage`'s URL (another only for a proxy or a test).
        #[serde(default = "default_slack_api")]
        api_url: url::Url,
        text: Option<String>,
    },
    /// A Discord webhook: `POST {content}` (at most 2000 characters).
    #[serde(rename_all = "camelCase")]
    Discord { webhook_url: SecretRef, text: Option<String> },
    /// Any HTTP endpoint: `POST` a JSON body rendered from a template.
    #[serde(rename_all = "camelCase")]
    Webhook {
        url: url::Url,
        /// Extra request headers; their values are secrets (e.g. `Authorization`).
        #[serde(default)]
        headers: BTreeMap<String, SecretRef>,
        /// Template of the JSON body (values are written as JSON). Default: trigger, event and links.
        body: Option<String>,
    },
    /// A Tekton Triggers EventListener: `POST` a JSON body, with a shared secret in a header that the
    /// EventListener's CEL interceptor checks with `compareSecret`.
    #[serde(rename_all = "camelCase")]
    EventListener {
        url: url::Url,
        secret: Option<SecretRef>,
        #[serde(default = "default_secret_header")]
        secret_header: String,
        body: Option<String>,
        /// Check that the call started a PipelineRun: the answered `eventID` must show up in the graph (label
        /// `triggers.tekton.dev/triggers-eventid`) within the deadline, else a `dev.tektongraph.chain.missed.v1`
        /// event is raised for rules to route.
        chain: Option<ChainConfig>,
    },
    /// A CloudEvents receiver (Knative broker, Argo Events, another notifier): `POST` one structured-mode event
    /// whose `data` is the rendered body; its id is the same for every attempt of the delivery.
    #[serde(rename_all = "camelCase")]
    CloudEvents {
        url: url::Url,
        #[serde(default)]
        headers: BTreeMap<String, SecretRef>,
        /// The `type` of the events sent.
        #[serde(default = "default_notification_type")]
        event_type: String,
        /// Template of the `data` (values are written as JSON). Default: trigger, text, event and links.
        body: Option<String>,
    },
    /// A Kafka topic: one message per delivery — the rendered JSON body, keyed by the event id, with an
    /// `idempotency-key` header — from an idempotent `acks=all` producer.
    #[serde(rename_all = "camelCase")]
    Kafka {
        /// `HOST:PORT[,HOST:PORT…]`.
        brokers: String,
        topic: String,
        /// A librdkafka properties file (security settings; secrets such as `sasl.password` belong here).
        options_file: Option<PathBuf>,
        /// Template of the JSON body (values are written as JSON). Default: trigger, event and links.
        body: Option<String>,
    },
    /// E-mail over SMTP, plain text.
    #[serde(rename_all = "camelCase")]
    Email {
        /// `smtp://HOST:PORT` (STARTTLS required; 587 by default), `smtps://HOST:PORT` (TLS from the first byte;
        /// 465), or `smtp+insecure://HOST:PORT` (no TLS at all: only for a relay on loopback).
        server: url::Url,
        username: Option<String>,
        password: Option<SecretRef>,
        /// A PEM file of extra root certificates (a private CA), trusted besides the public ones.
        ca_file: Option<PathBuf>,
        /// `Name <address>` or an address.
        from: String,
        to: Vec<String>,
        /// Template of the subject (default: the first line of the text).
        subject: Option<String>,
        /// Template of the text (default: the trigger's message, else a summary of the event).
        text: Option<String>,
    },
}

/// How long a chain may take to start.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainConfig {
    pub deadline_seconds: u64,
}

fn default_slack_api() -> url::Url {
    url::Url::parse("https://slack.com/api/chat.postMessage").expect("a valid URL")
}

fn default_notification_type() -> String {
    "dev.tektongraph.notification.v1".into()
}

fn default_secret_header() -> String {
    "X-Tekton-Graph-Secret".into()
}

impl ChannelConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Slack { .. } => "slack",
            ChannelConfig::SlackApp { .. } => "slackApp",
            ChannelConfig::Discord { .. } => "discord",
            ChannelConfig::Webhook { .. } => "webhook",
            ChannelConfig::EventListener { .. } => "eventListener",
            ChannelConfig::CloudEvents { .. } => "cloudEvents",
            ChannelConfig::Email { .. } => "email",
            ChannelConfig::Kafka { .. } => "kafka",
        }
    }

    /// Every secret the channel names.
    pub fn secrets_mut(&mut self) -> Vec<&mut SecretRef> {
        match self {
            ChannelConfig::Slack { webhook_url, .. } | ChannelConfig::Discord { webhook_url, .. } => vec![webhook_url],
            ChannelConfig::SlackApp { token, .. } => vec![token],
            ChannelConfig::Webhook { headers, .. } | ChannelConfig::CloudEvents { headers, .. } => {
                headers.values_mut().collect()
            }
            ChannelConfig::EventListener { secret, .. } => secret.iter_mut().collect(),
            ChannelConfig::Email { password, .. } => password.iter_mut().collect(),
            ChannelConfig::Kafka { .. } => Vec::new(),
        }
    }

    /// The notifier's own files the channel reads besides secrets (a CA bundle, librdkafka options), by field.
    pub fn local_files(&self) -> Vec<(&'static str, &Path)> {
        match self {
            ChannelConfig::Email { ca_file: Some(path), .. } => vec![("caFile", path)],
            ChannelConfig::Kafka { options_file: Some(path), .. } => vec![("optionsFile", path)],
            _ => Vec::new(),
        }
    }
}

/// When to notify: an event type and a condition over the event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerConfig {
    /// Event types (`ce-type`); a trailing `*` matches a prefix (`harbor.*`).
    pub on: OneOrMany,
    /// CEL over `id`, `type`, `source`, `subject`, `time` and `data`; must be true to notify. Default: always.
    pub when: Option<String>,
    /// CEL giving a key (e.g. `data.subject.id`): the trigger notifies once per key, ever.
    pub once_per: Option<String>,
    /// Template of the text of messages for people.
    pub message: Option<String>,
    /// Template of the JSON body for machines (webhook, eventListener), unless the channel has its own.
    pub body: Option<String>,
    /// Collect this trigger's deliveries per channel for a window and send one message for all of them.
    pub digest: Option<DigestConfig>,
    /// Its kind, one of `notificationTypes`: subscriptions may choose triggers by it.
    pub notification_type: Option<String>,
}

/// A digest window: it opens with the first delivery and closes `windowSeconds` later (1 s to 1 day).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DigestConfig {
    pub window_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        }
    }
}

/// A cron schedule, e.g. `{ cron: "0 3 * * *", timezone: Europe/Berlin }` (an optional first field: seconds).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleConfig {
    pub cron: String,
    /// An IANA time zone; default UTC.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Extra data for the fired events (`data.with`), e.g. the parameters of the pipeline it starts.
    #[serde(default)]
    pub with: serde_json::Value,
}

fn default_timezone() -> String {
    "UTC".into()
}

/// Who wants which triggers on which channels. The subject is one team, one user or one role (`viewer`,
/// `ingester`, `admin`: everyone holding it), or nobody in particular; the triggers are named, or chosen by their
/// notification type (every trigger of the same rule file or policy with that type).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionConfig {
    pub team: Option<String>,
    pub user: Option<String>,
    pub role: Option<String>,
    #[serde(default)]
    pub triggers: Vec<String>,
    #[serde(default)]
    pub notification_types: Vec<String>,
    pub channels: Vec<String>,
}

/// A kind of notification (`failure`, `security`, …) that triggers declare and subscriptions choose by.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationTypeConfig {
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamConfig {
    #[serde(default)]
    pub members: Vec<String>,
}

/// Mutes a trigger, a channel, or both, for a time. A muted delivery is recorded as `silenced`, not sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SilenceConfig {
    pub trigger: Option<String>,
    pub channel: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
    pub comment: Option<String>,
}

impl SilenceConfig {
    /// Whether this silence mutes `trigger` on `channel` at `now`.
    pub fn mutes(&self, trigger: &str, channel: &str, now: DateTime<Utc>) -> bool {
        self.trigger.as_deref().is_none_or(|t| t == trigger)
            && self.channel.as_deref().is_none_or(|c| c == channel)
            && self.from.is_none_or(|from| from <= now)
            && now < self.until
    }
}

/// Retries of a delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryConfig {
    /// After this many failed attempts a delivery is `dead`.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt (with jitter) up to `maxBackoffSeconds`.
    pub first_backoff_millis: u64,
    pub max_backoff_seconds: u64,
    /// Timeout of one request to a channel.
    pub timeout_seconds: u64,
    /// Requests one webhook or EventListener channel has in flight at once. Slack, Discord and e-mail always
    /// send one at a time, in order (their rate limits and threads want it).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_concurrency() -> usize {
    8
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 8,
            first_backoff_millis: 500,
            max_backoff_seconds: 300,
            timeout_seconds: 10,
            concurrency: default_concurrency(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the rule file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

impl Config {
    /// Turns each subscription's `notificationTypes` into the names of this configuration's triggers of those types
    /// (a rule file's or one policy's: a type never reaches another source's triggers).
    pub fn expand_notification_types(&mut self) {
        for sub in &mut self.subscriptions {
            for kind in &sub.notification_types {
                for (name, trigger) in &self.triggers {
                    if trigger.notification_type.as_ref() == Some(kind) && !sub.triggers.contains(name) {
                        sub.triggers.push(name.clone());
                    }
                }
            }
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.into(), reason: e.to_string() })?;
        Config::parse(&text).map_err(|reason| ConfigError::Invalid { path: path.into(), reason })
    }

    /// Parses and checks the references between the parts; CEL and templates are checked by [`crate::rules`].
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut config: Config = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        config.check_references()?;
        config.expand_notification_types();
        Ok(config)
    }

    /// Checks a rule file: its references, and that its secrets are the notifier's own (env or file).
    fn check_references(&self) -> Result<(), String> {
        for (name, channel) in &self.channels {
            let mut channel = channel.clone();
            if channel.secrets_mut().iter().any(|s| matches!(s, SecretRef::Kubernetes { .. })) {
                return Err(format!(
                    "channels.{name}: a `secretKeyRef` is only read in a NotificationPolicy; the rule file names \
                     secrets with `{{ env: NAME }}` or `{{ file: PATH }}`"
                ));
            }
        }
        for channel in &self.self_service.channels {
            if !self.channels.contains_key(channel) {
                return Err(format!("selfService.channels: unknown channel `{channel}`"));
            }
        }
        self.check_parts()
    }

    /// Checks the references between the parts (subscriptions, silences, trigger types), of a rule file or a policy.
    pub fn check_parts(&self) -> Result<(), String> {
        for (i, sub) in self.subscriptions.iter().enumerate() {
            let at = format!("subscriptions[{i}]");
            if let Some(team) = &sub.team
                && !self.teams.contains_key(team)
            {
                return Err(format!("{at}: unknown team `{team}` (not in `teams`)"));
            }
            if [&sub.team, &sub.user, &sub.role].iter().filter(|s| s.is_some()).count() > 1 {
                return Err(format!("{at}: one subject at most: `team`, `user` or `role`"));
            }
            if let Some(role) = &sub.role
                && tekton_graph_access::Role::parse(role).is_none()
            {
                return Err(format!("{at}: unknown role `{role}` (viewer, ingester or admin)"));
            }
            if (sub.triggers.is_empty() && sub.notification_types.is_empty()) || sub.channels.is_empty() {
                return Err(format!("{at}: needs at least one trigger (or notification type) and one channel"));
            }
            for kind in &sub.notification_types {
                if !self.notification_types.contains_key(kind) {
                    return Err(format!("{at}: unknown notification type `{kind}` (not in `notificationTypes`)"));
                }
            }
            for trigger in &sub.triggers {
                if !self.triggers.contains_key(trigger) {
                    return Err(format!("{at}: unknown trigger `{trigger}`"));
                }
            }
            for channel in &sub.channels {
                if !self.channels.contains_key(channel) {
                    return Err(format!("{at}: unknown channel `{channel}`"));
                }
            }
        }
        for (i, silence) in self.silences.iter().enumerate() {
            let at = format!("silences[{i}]");
            if let Some(trigger) = &silence.trigger
                && !self.triggers.contains_key(trigger)
            {
                return Err(format!("{at}: unknown trigger `{trigger}`"));
            }
            if let Some(channel) = &silence.channel
                && !self.channels.contains_key(channel)
            {
                return Err(format!("{at}: unknown channel `{channel}`"));
            }
            if silence.from.is_some_and(|from| from >= silence.until) {
                return Err(format!("{at}: `from` is not before `until`"));
            }
        }
        for (name, trigger) in &self.triggers {
            if let Some(kind) = &trigger.notification_type
                && !self.notification_types.contains_key(kind)
            {
                return Err(format!(
                    "triggers.{name}.notificationType: unknown notification type `{kind}` (not in `notificationTypes`)"
                ));
            }
            if trigger.on.to_vec().iter().any(|ty| ty.is_empty() || ty[..ty.len() - 1].contains('*')) {
                return Err(format!("triggers.{name}.on: an event type may only end with `*`"));
            }
        }
        if self.delivery.max_attempts == 0 {
            return Err("delivery.maxAttempts must be at least 1".into());
        }
        if !(1..=256).contains(&self.delivery.concurrency) {
            return Err("delivery.concurrency must be between 1 and 256".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_file_parses_with_every_part() {
        let config = Config::parse(
            r#"
links: { ui: "http://localhost:8080" }
channels:
  slack: { type: slack, webhookUrl: { env: SLACK_URL } }
  scan: { type: eventListener, url: "http://el:8080", secret: { file: /run/secret } }
triggers:
  failed: { on: dev.cdevents.pipelinerun.finished.0.2.0, when: 'data.x == 1', oncePer: data.subject.id }
  pushed: { on: [harbor.artifact.pushed, "harbor.scan.*"] }
teams: { build: { members: [alice] } }
subscriptions:
  - { team: build, triggers: [failed, pushed], channels: [slack, scan] }
silences:
  - { trigger: failed, until: "2030-01-01T00:00:00Z", comment: maintenance }
"#,
        )
        .expect("valid");
        assert_eq!(config.channels["scan"].kind(), "eventListener");
        assert_eq!(config.triggers["pushed"].on.to_vec(), ["harbor.artifact.pushed", "harbor.scan.*"]);
        assert_eq!(config.subscriptions[0].team.as_deref(), Some("build"));
    }

    #[test]
    fn mistakes_name_the_part_and_the_reason() {
        let base = "channels: { s: { type: slack, webhookUrl: { env: X } } }\ntriggers: { t: { on: a } }\n";
        for (extra, reason) in [
            ("subscriptions: [{ triggers: [t], channels: [nope] }]", "unknown channel `nope`"),
            ("subscriptions: [{ triggers: [u], channels: [s] }]", "unknown trigger `u`"),
            ("subscriptions: [{ team: x, triggers: [t], channels: [s] }]", "unknown team `x`"),
            ("silences: [{ channel: q, until: '2030-01-01T00:00:00Z' }]", "silences[0]: unknown channel `q`"),
            (
                "delivery: { maxAttempts: 0, firstBackoffMillis: 1, maxBackoffSeconds: 1, timeoutSeconds: 1 }",
                "maxAttempts",
            ),
            ("colour: blue", "unknown field `colour`"),
        ] {
            let error = Config::parse(&format!("{base}{extra}")).expect_err(extra);
            assert!(error.contains(reason), "{extra}: {error}");
        }
        let literal = Config::parse("channels: { s: { type: slack, webhookUrl: 'https://hooks.slack.com/x' } }");
        assert!(literal.is_err(), "a webhook URL written into the file is refused");
        let wildcard = Config::parse("triggers: { t: { on: 'a*b' } }").expect_err("wildcard inside");
        assert!(wildcard.contains("only end with"), "{wildcard}");
    }
}
