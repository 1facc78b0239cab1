//! The notifier: events in, rules applied, messages and pipeline triggers out — with a durable outbox between.
//!
//! `event` decodes what arrives (CloudEvents, Harbor webhooks) → `rules` matches triggers, applies silences and
//! renders bodies (`render`) → `outbox` records the deliveries atomically and de-duplicates → one `worker` per
//! channel sends them (`channel`), with retries. `server` is the HTTP surface, `source` the Kafka input; `config` the
//! rule file.

pub mod channel;
pub mod config;
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
use crate::outbox::{Outbox, OutboxError, Recorded};
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
}

/// A running notifier: its rules, its outbox and one worker per channel.
pub struct Notifier {
    rules: Rules,
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
        let notifier = Arc::new(Notifier { rules, graph, outbox, wakes, workers: std::sync::Mutex::new(workers) });
        let weak = Arc::downgrade(&notifier);
        let timers: Vec<_> = schedules.into_iter().map(|s| tokio::spawn(schedule::run(s, weak.clone()))).collect();
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
        let recorded = self.outbox.record(event, planned, now.timestamp_millis()).await?;
        for channel in &recorded.channels {
            if let Some(wake) = self.wakes.get(channel) {
                wake.notify_one();
            }
        }
        Ok(recorded)
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
