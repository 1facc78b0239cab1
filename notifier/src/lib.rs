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
pub mod metrics;
pub mod outbox;
pub mod policy;
pub mod render;
pub mod rules;
pub mod schedule;
pub mod secret;
pub mod server;
pub mod source;
pub mod worker;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::channel::{ChannelError, Sender};
use crate::config::Config;
use crate::enrich::Graph;
use crate::event::Incoming;
use crate::outbox::{Outbox, OutboxError, Recorded, StoredSilence, StoredSubscription};
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
    #[error("{0}")]
    Compose(String),
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

/// What the notifier runs now: the rule file, with the accepted policies and the personal subscriptions merged in,
/// compiled. A reload replaces it whole; one event is planned against one `Live` from start to end.
pub struct Live {
    pub config: Config,
    pub rules: Rules,
    graph: Option<Graph>,
}

/// Where the configuration comes from; [`policy::compose`] merges them.
#[derive(Clone)]
struct Sources {
    file: Config,
    /// Accepted policies by `namespace/name`, their names qualified already.
    policies: BTreeMap<String, Config>,
}

/// A reload checked in full, ready to be put in force.
struct Prepared {
    live: Live,
    tasks: Tasks,
}

/// What runs beside the rules: a sender per channel, the schedules and the chain check.
struct Tasks {
    senders: BTreeMap<String, Sender>,
    schedules: Vec<Schedule>,
    chains: Option<(Graph, Vec<(String, i64)>)>,
}

/// A channel's running worker.
struct ChannelTask {
    config: config::ChannelConfig,
    wake: Arc<Notify>,
    stop: tokio::sync::watch::Sender<bool>,
    done: JoinHandle<()>,
}

/// A running notifier: its rules, its outbox and one worker per channel.
pub struct Notifier {
    live: std::sync::RwLock<Arc<Live>>,
    /// Held for the whole of a reload, so reloads happen one at a time.
    sources: tokio::sync::Mutex<Sources>,
    /// The silences added through the API (the rule file's are in `rules`), as the outbox holds them.
    silences: std::sync::RwLock<Vec<StoredSilence>>,
    outbox: Outbox,
    channels: std::sync::Mutex<BTreeMap<String, ChannelTask>>,
    /// Schedules and the chain check: restarted by every reload.
    timers: std::sync::Mutex<Vec<JoinHandle<()>>>,
    metrics: Arc<metrics::NotifierMetrics>,
    this: Weak<Notifier>,
}

impl Notifier {
    /// Compiles the rules, resolves every channel's secrets, opens the outbox and starts the workers (which pick
    /// up deliveries left pending by an earlier run).
    pub async fn start(config: &Config, outbox_path: &Path) -> Result<Arc<Notifier>, StartError> {
        let sources = Sources { file: config.clone(), policies: BTreeMap::new() };
        // Checked before the outbox is touched: a broken rule file changes nothing.
        Rules::compile(config)?;
        let outbox = Outbox::open(outbox_path).await?;
        let prepared = prepare(&sources, &outbox.subscriptions().await?)?;
        let silences = std::sync::RwLock::new(outbox.silences(chrono::Utc::now().timestamp_millis()).await?);
        let Prepared { live, tasks } = prepared;
        let live = Arc::new(live);
        let notifier = Arc::new_cyclic(|this| Notifier {
            live: std::sync::RwLock::new(live.clone()),
            sources: tokio::sync::Mutex::new(sources),
            silences,
            outbox,
            channels: std::sync::Mutex::new(BTreeMap::new()),
            timers: std::sync::Mutex::new(Vec::new()),
            metrics: Arc::new(metrics::NotifierMetrics::new()),
            this: this.clone(),
        });
        notifier.run_tasks(&live.config, tasks);
        Ok(notifier)
    }

    /// What `GET /metrics` shows.
    pub fn metrics(&self) -> &Arc<metrics::NotifierMetrics> {
        &self.metrics
    }

    /// What the notifier runs now.
    pub fn live(&self) -> Arc<Live> {
        self.live.read().map(|live| live.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Replaces the rule file. On an error nothing changes and the error says why.
    pub async fn reload_file(&self, config: Config) -> Result<(), StartError> {
        self.reload(|sources| sources.file = config).await
    }

    /// Puts a policy (its names qualified) in force under `key` (`namespace/name`), replacing its earlier
    /// version. Refused — the earlier version staying in force — when the whole does not compile.
    pub async fn put_policy(&self, key: &str, fragment: Config) -> Result<(), StartError> {
        self.reload(|sources| {
            sources.policies.insert(key.to_string(), fragment);
        })
        .await
    }

    /// Takes a policy out of force.
    pub async fn remove_policy(&self, key: &str) -> Result<(), StartError> {
        self.reload(|sources| {
            sources.policies.remove(key);
        })
        .await
    }

    /// The keys of the policies in force.
    pub async fn policies(&self) -> Vec<String> {
        self.sources.lock().await.policies.keys().cloned().collect()
    }

    /// Recompiles with the sources as they are (after a personal subscription changed).
    async fn refresh(&self) -> Result<(), StartError> {
        self.reload(|_| {}).await
    }

    async fn reload(&self, change: impl FnOnce(&mut Sources)) -> Result<(), StartError> {
        let mut sources = self.sources.lock().await;
        let mut candidate = sources.clone();
        change(&mut candidate);
        let Prepared { live, tasks } = prepare(&candidate, &self.outbox.subscriptions().await?)?;
        let live = Arc::new(live);
        if let Ok(mut live_now) = self.live.write() {
            *live_now = live.clone();
        }
        self.run_tasks(&live.config, tasks);
        *sources = candidate;
        Ok(())
    }

    /// Runs the tasks of `config`: a channel whose definition is unchanged keeps its worker (and its pauses); a
    /// changed one gets a new worker once the old one has recorded what it was sending; a removed one stops (its
    /// pending deliveries wait in the outbox for it to come back). Schedules and chain checks restart.
    fn run_tasks(&self, config: &Config, tasks: Tasks) {
        let Tasks { mut senders, schedules, chains } = tasks;
        let concurrency = config.delivery.concurrency;
        let policy = RetryPolicy::from(&config.delivery);
        let wanted = config.channels.clone();
        if let Ok(mut channels) = self.channels.lock() {
            let gone: Vec<String> = channels.keys().filter(|name| !wanted.contains_key(*name)).cloned().collect();
            for name in gone {
                if let Some(task) = channels.remove(&name) {
                    let _ = task.stop.send(true);
                    tracing::info!(channel = %name, "channel removed");
                }
            }
            for (name, config) in wanted {
                if channels.get(&name).is_some_and(|task| task.config == config) {
                    continue;
                }
                let Some(sender) = senders.remove(&name) else { continue };
                let previous = channels.remove(&name).map(|task| {
                    let _ = task.stop.send(true);
                    task.done
                });
                let wake = Arc::new(Notify::new());
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let worker = Worker {
                    channel: name.clone(),
                    concurrency: if sender.in_order() { 1 } else { concurrency },
                    sender,
                    outbox: self.outbox.clone(),
                    wake: wake.clone(),
                    policy: policy.clone(),
                    stop: stopped,
                    metrics: self.metrics.clone(),
                };
                let done = tokio::spawn(async move {
                    if let Some(previous) = previous {
                        let _ = previous.await;
                    }
                    worker.run().await
                });
                channels.insert(name, ChannelTask { config, wake, stop, done });
            }
        }
        let mut timers: Vec<JoinHandle<()>> =
            schedules.into_iter().map(|s| tokio::spawn(schedule::run(s, self.this.clone()))).collect();
        if let Some((graph, chains)) = chains {
            timers.push(tokio::spawn(chain::run(self.this.clone(), graph, chains)));
        }
        if let Ok(mut running) = self.timers.lock() {
            for timer in running.drain(..) {
                timer.abort();
            }
            *running = timers;
        }
    }

    /// Plans the deliveries of `event`, records them durably, and wakes their channels. Once this returns `Ok`,
    /// the event may be acknowledged.
    pub async fn accept(&self, event: &Incoming) -> Result<Recorded, AcceptError> {
        // In the trace the event carries (CloudEvents' `traceparent` extension), when it carries one.
        let span = tracing::info_span!("notify", otel.kind = "consumer", event_id = %event.id, event_type = %event.ty);
        if let Some(traceparent) = event.extensions.get("traceparent") {
            tekton_graph_telemetry::trace::continue_from(&span, traceparent);
        }
        tracing::Instrument::instrument(self.plan_and_record(event), span).await
    }

    async fn plan_and_record(&self, event: &Incoming) -> Result<Recorded, AcceptError> {
        let now = chrono::Utc::now();
        let live = self.live();
        let mut planned = live.rules.plan(event, now, &Extra::default())?;
        // Only an event that notifies someone is worth a question to the graph.
        if !planned.is_empty()
            && let Some(graph) = &live.graph
            && let Some(diff) = graph.diff(event).await
        {
            planned = live.rules.plan(event, now, &Extra { diff: Some(diff) })?;
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
        // The sends, later and on the channels' workers, continue the trace of the span planning them (`notify`).
        let traceparent = tekton_graph_telemetry::trace::traceparent(&tracing::Span::current());
        let recorded = self.outbox.record(event, planned, now.timestamp_millis(), traceparent).await?;
        self.metrics.planned(&recorded);
        if let Ok(channels) = self.channels.lock() {
            for channel in &recorded.channels {
                if let Some(task) = channels.get(channel) {
                    task.wake.notify_one();
                }
            }
        }
        Ok(recorded)
    }

    /// Sends a test message of `trigger` to `channel` — rendered from a synthetic event of the trigger's type,
    /// past its condition, `oncePer` and silences — and returns the test event's id (its delivery's history).
    pub async fn test_send(&self, trigger: &str, channel: &str) -> Result<String, AcceptError> {
        let live = self.live();
        let Some(config) = live.config.triggers.get(trigger) else {
            return Err(AcceptError::Unknown(format!("no trigger `{trigger}`")));
        };
        if !live.rules.channels().contains_key(channel) {
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
        let body = live.rules.render(trigger, channel, &event, &Extra::default())?;
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

    /// Subscribes `user` to `trigger` on `channel` (the same subscription again is the one that exists).
    pub async fn subscribe(&self, user: &str, trigger: &str, channel: &str) -> Result<StoredSubscription, StartError> {
        let now = chrono::Utc::now().timestamp_millis();
        let stored = self.outbox.subscribe(user.into(), trigger.into(), channel.into(), now).await?;
        self.refresh().await?;
        Ok(stored)
    }

    /// Deletes a personal subscription; false when there was none with this id.
    pub async fn unsubscribe(&self, id: i64) -> Result<bool, StartError> {
        let deleted = self.outbox.unsubscribe(id).await?;
        self.refresh().await?;
        Ok(deleted)
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
        if let Ok(channels) = self.channels.lock() {
            for task in channels.values() {
                task.done.abort();
            }
        }
        if let Ok(timers) = self.timers.lock() {
            for timer in timers.iter() {
                timer.abort();
            }
        }
    }
}

/// Composes the sources and checks everything a start checks: rules, schedules, every channel's secrets, the graph.
fn prepare(sources: &Sources, personal: &[StoredSubscription]) -> Result<Prepared, StartError> {
    let config = policy::compose(&sources.file, &sources.policies, personal).map_err(StartError::Compose)?;
    let rules = Rules::compile(&config)?;
    let schedules = config
        .schedules
        .iter()
        .map(|(name, schedule)| Schedule::compile(name, schedule))
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::Schedule)?;
    let timeout = Duration::from_secs(config.delivery.timeout_seconds);
    let mut senders = BTreeMap::new();
    for (name, channel) in rules.channels() {
        senders.insert(name.clone(), Sender::build(name, channel, timeout)?);
    }
    let graph = config.graph.as_ref().map(Graph::new).transpose().map_err(StartError::Graph)?;
    let chained: Vec<(String, i64)> = config
        .channels
        .iter()
        .filter_map(|(name, channel)| match channel {
            config::ChannelConfig::EventListener { chain: Some(chain), .. } => {
                Some((name.clone(), chain.deadline_seconds.saturating_mul(1000) as i64))
            }
            _ => None,
        })
        .collect();
    let chains = match (chained.first(), &config.graph) {
        (None, _) => None,
        (Some(_), Some(graph)) => Some((Graph::new(graph).map_err(StartError::Graph)?, chained)),
        (Some((channel, _)), None) => {
            return Err(StartError::Graph(format!(
                "channels.{channel}.chain: a chain check asks graph-service, but the rule file has no `graph`"
            )));
        }
    };
    Ok(Prepared { live: Live { config, rules, graph }, tasks: Tasks { senders, schedules, chains } })
}
