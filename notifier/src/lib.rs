//! The notifier: events in, rules applied, messages and pipeline triggers out — with a durable outbox between.
//!
//! `event` decodes what arrives (CloudEvents, Harbor webhooks) → `rules` matches triggers, applies silences and
//! renders bodies (`render`) → `outbox` records the deliveries atomically and de-duplicates → one `worker` per
//! channel sends them (`channel`), with retries. `server` is the HTTP surface, `source` the Kafka input; `config` the
//! rule file.

pub mod api;
pub mod chain;
pub mod channel;
pub mod config;
pub mod digest;
pub mod enrich;
pub mod event;
pub mod harbor;
pub mod outbox;
pub mod render;
pub mod rules;
pub mod schedule;
pub mod secret;
pub mod server;
pub mod source;
pub mod worker;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::channel::{ChannelError, Sender};
use crate::config::Config;
use crate::enrich::Graph;
use crate::event::Incoming;
use crate::outbox::{Outbox, OutboxError, Recorded, StoredSilence};
use crate::render::{Extra, RenderError};
use crate::rules::{Rules, RulesError};
use crate::schedule::Schedule;
use crate::worker::{RetryPolicy, Worker};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("{0}")]
    Graph(String),
    #[error("{0}")]
    Schedule(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("rendering a delivery: {0}")]
    Render(#[from] RenderError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("{0}")]
    Unknown(String),
}

/// A running notifier: its rules, its outbox and one worker per channel.
pub struct Notifier {
    config: Config,
    rules: Rules,
    /// The silences added through the API (the rule file's are in `rules`), as the outbox holds them.
    silences: std::sync::RwLock<Vec<StoredSilence>>,
    graph: Option<Graph>,
    outbox: Outbox,
    wakes: BTreeMap<String, Arc<Notify>>,
    workers: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Notifier {
    /// Compiles the rules, resolves every channel's secrets, opens the outbox and starts the workers (which pick
    /// up deliveries left pending by an earlier run).
    pub async fn start(config: &Config, outbox_path: &Path) -> Result<Arc<Notifier>, StartError> {
        let rules = Rules::compile(config)?;
        let schedules = config
            .schedules
            .iter()
            .map(|(name, schedule)| Schedule::compile(name, schedule))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StartError::Schedule)?;
        let timeout = Duration::from_secs(config.delivery.timeout_seconds);
        let mut senders = Vec::new();
        for (name, channel) in rules.channels() {
            senders.push((name.clone(), Sender::build(name, channel, timeout)?));
        }
        let graph = config.graph.as_ref().map(Graph::new).transpose().map_err(StartError::Graph)?;
        let chains: Vec<(String, i64)> = config
            .channels
            .iter()
            .filter_map(|(name, channel)| match channel {
                config::ChannelConfig::EventListener { chain: Some(chain), .. } => {
                    Some((name.clone(), chain.deadline_seconds.saturating_mul(1000) as i64))
                }
                _ => None,
            })
            .collect();
        let chain_graph = match (chains.first(), &config.graph) {
            (None, _) => None,
            (Some(_), Some(graph)) => Some(Graph::new(graph).map_err(StartError::Graph)?),
            (Some((channel, _)), None) => {
                return Err(StartError::Graph(format!(
                    "channels.{channel}.chain: a chain check asks graph-service, but the rule file has no `graph`"
                )));
            }
        };
        let outbox = Outbox::open(outbox_path).await?;
        let policy = RetryPolicy::from(&config.delivery);
        let mut wakes = BTreeMap::new();
        let mut workers = Vec::new();
        for (channel, sender) in senders {
            let wake = Arc::new(Notify::new());
            wakes.insert(channel.clone(), wake.clone());
            let concurrency = if sender.in_order() { 1 } else { config.delivery.concurrency };
            let worker = Worker { channel, sender, concurrency, outbox: outbox.clone(), wake, policy: policy.clone() };
            workers.push(tokio::spawn(worker.run()));
        }
        let silences = std::sync::RwLock::new(outbox.silences(chrono::Utc::now().timestamp_millis()).await?);
        let notifier = Arc::new(Notifier {
            config: config.clone(),
            rules,
            silences,
            graph,
            outbox,
            wakes,
            workers: std::sync::Mutex::new(workers),
        });
        let weak = Arc::downgrade(&notifier);
        let mut timers: Vec<_> = schedules.into_iter().map(|s| tokio::spawn(schedule::run(s, weak.clone()))).collect();
        if let Some(graph) = chain_graph {
            timers.push(tokio::spawn(chain::run(weak.clone(), graph, chains)));
        }
        if let Ok(mut workers) = notifier.workers.lock() {
            workers.extend(timers);
        }
        Ok(notifier)
    }

    /// Plans the deliveries of `event`, records them durably, and wakes their channels. Once this returns `Ok`,
    /// the event may be acknowledged.
    pub async fn accept(&self, event: &Incoming) -> Result<Recorded, AcceptError> {
        let now = chrono::Utc::now();
        let mut planned = self.rules.plan(event, now, &Extra::default())?;
        // Only an event that notifies someone is worth a question to the graph.
        if !planned.is_empty()
            && let Some(graph) = &self.graph
            && let Some(diff) = graph.diff(event).await
        {
            planned = self.rules.plan(event, now, &Extra { diff: Some(diff) })?;
        }
        if let Ok(silences) = self.silences.read() {
            for plan in planned.iter_mut().filter(|p| !p.silenced) {
                plan.silenced = silences.iter().any(|s| s.mutes(&plan.trigger, &plan.channel, now));
            }
        }
        self.record(event, planned, now).await
    }

    async fn record(
        &self,
        event: &Incoming,
        planned: Vec<rules::Planned>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Recorded, AcceptError> {
        let recorded = self.outbox.record(event, planned, now.timestamp_millis()).await?;
        for channel in &recorded.channels {
            if let Some(wake) = self.wakes.get(channel) {
                wake.notify_one();
            }
        }
        Ok(recorded)
    }

    /// Sends a test message of `trigger` to `channel` — rendered from a synthetic event of the trigger's type,
    /// past its condition, `oncePer` and silences — and returns the test event's id (its delivery's history).
    pub async fn test_send(&self, trigger: &str, channel: &str) -> Result<String, AcceptError> {
        let Some(config) = self.config.triggers.get(trigger) else {
            return Err(AcceptError::Unknown(format!("no trigger `{trigger}`")));
        };
        if !self.rules.channels().contains_key(channel) {
            return Err(AcceptError::Unknown(format!("no channel `{channel}`")));
        }
        let now = chrono::Utc::now();
        let ty = config.on.to_vec().first().map(|t| t.trim_end_matches('*').to_string()).unwrap_or_default();
        let event = Incoming {
            id: format!("test-send-{:016x}", rand::random::<u64>()),
            ty,
            source: "/tekton-graph/notifier/test-send".into(),
            subject: Some("test/test-send".into()),
            time: Some(now),
            data: serde_json::json!({ "test": true }),
            extensions: Default::default(),
        };
        let body = self.rules.render(trigger, channel, &event, &Extra::default())?;
        let planned = vec![rules::Planned {
            trigger: trigger.to_string(),
            channel: channel.to_string(),
            once_key: None,
            silenced: false,
            thread_key: None,
            body,
            digest: None,
        }];
        self.record(&event, planned, now).await?;
        Ok(event.id)
    }

    /// The rule file the notifier runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The silences added through the API that have not ended.
    pub fn api_silences(&self) -> Vec<StoredSilence> {
        let now = chrono::Utc::now().timestamp_millis();
        self.silences.read().map(|s| s.iter().filter(|s| s.until_ms > now).cloned().collect()).unwrap_or_default()
    }

    /// Stores a silence and applies it to the events that come after; returns it with its id.
    pub async fn add_silence(&self, mut silence: StoredSilence) -> Result<StoredSilence, AcceptError> {
        silence.id = self.outbox.add_silence(silence.clone()).await?;
        self.reload_silences().await?;
        Ok(silence)
    }

    /// Deletes an API silence; false when there was none with this id.
    pub async fn delete_silence(&self, id: i64) -> Result<bool, AcceptError> {
        let deleted = self.outbox.delete_silence(id).await?;
        self.reload_silences().await?;
        Ok(deleted)
    }

    async fn reload_silences(&self) -> Result<(), AcceptError> {
        let fresh = self.outbox.silences(chrono::Utc::now().timestamp_millis()).await?;
        if let Ok(mut silences) = self.silences.write() {
            *silences = fresh;
        }
        Ok(())
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Ok(workers) = self.workers.lock() {
            for worker in workers.iter() {
                worker.abort();
            }
        }
    }
}
