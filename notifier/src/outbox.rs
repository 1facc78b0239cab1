//! The outbox: one SQLite file holding the events seen, the `oncePer` keys used, and every delivery with its
//! status, attempts and last error — the notifier's memory across restarts.
//!
//! An event is acknowledged (HTTP 202) only after [`Outbox::record`] committed it with all its deliveries in one
//! transaction, so `kill -9` at any moment loses nothing: a delivery stays `pending` until its channel worker
//! marks it `sent` or `dead`. A delivery whose request went out just before a crash is sent once more after the
//! restart (at most once more: the mark follows the request); machine channels carry an `Idempotency-Key` so a
//! receiver can drop that repeat, Slack and Discord cannot.
//!
//! Event ids, `(trigger, oncePer key)` and `(event, trigger, channel)` are unique: a redelivered event, or another
//! event with a used key, adds nothing.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::event::Incoming;
use crate::rules::Planned;

/// Schema versions, applied in order; `PRAGMA user_version` holds how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_outbox.sql"),
    include_str!("migrations/002_schedules.sql"),
    include_str!("migrations/003_threads.sql"),
    include_str!("migrations/004_silences.sql"),
    include_str!("migrations/005_digests.sql"),
    include_str!("migrations/006_chains.sql"),
    include_str!("migrations/007_subscriptions.sql"),
    include_str!("migrations/008_traces.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("outbox database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("outbox worker failed: {0}")]
    Join(String),
    #[error("cannot encode a delivery body: {0}")]
    Encode(#[from] serde_json::Error),
}

pub type Result<T, E = OutboxError> = std::result::Result<T, E>;

/// What recording an event did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    /// The event id was seen before: nothing was added.
    pub duplicate: bool,
    /// Deliveries queued for sending.
    pub queued: usize,
    /// Deliveries recorded as silenced.
    pub silenced: usize,
    /// Deliveries skipped because their trigger already notified for this `oncePer` key.
    pub deduplicated: usize,
    /// Deliveries added to an open digest (sent with it when its window closes).
    pub grouped: usize,
    /// Channels that got new deliveries (their workers are woken).
    #[serde(skip)]
    pub channels: Vec<String>,
}

/// A delivery waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: i64,
    pub event_id: String,
    pub trigger: String,
    pub body: String,
    pub attempts: u32,
    /// What the message is about (a run), for channels that thread messages.
    pub thread_key: Option<String>,
    /// The thread it replies in, once one was started for its key.
    pub thread_ts: Option<String>,
    /// The trace of the `notify` span that planned it (W3C `traceparent`), when tracing was on.
    pub traceparent: Option<String>,
}

impl Pending {
    /// Stable across retries and restarts: receivers that de-duplicate use it.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.event_id, self.id)
    }
}

/// The outcome of an attempt, to record.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// `thread`: `(channel, key, ts)` of a thread this message started.
    Sent {
        id: i64,
        attempts: u32,
        response: Option<String>,
        now: i64,
        thread: Option<(String, String, String)>,
    },
    Retry {
        id: i64,
        attempts: u32,
        next_attempt_ms: i64,
        error: String,
    },
    Dead {
        id: i64,
        attempts: u32,
        error: String,
        now: i64,
    },
}

/// One row of the delivery history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub trigger: String,
    pub channel: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub response: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub event_id: Option<String>,
    pub trigger: Option<String>,
    pub channel: Option<String>,
    pub status: Option<String>,
    pub limit: u32,
}

#[derive(Clone)]
pub struct Outbox {
    db: Arc<Mutex<Connection>>,
}

impl Outbox {
    /// Opens (or creates) the outbox file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Outbox> {
        let path = path.to_path_buf();
        let connection = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let open = |reason: String| OutboxError::Open { path: path.display().to_string(), reason };
            let mut connection = Connection::open(&path).map_err(|e| open(e.to_string()))?;
            // WAL: readers do not block the writer. NORMAL sync is durable against a process crash (kill -9),
            // which is what the outbox promises; FULL would also survive a power cut at several times the cost.
            connection.pragma_update(None, "journal_mode", "WAL").map_err(|e| open(e.to_string()))?;
            connection.pragma_update(None, "synchronous", "NORMAL")?;
            connection.pragma_update(None, "foreign_keys", "ON")?;
            connection.busy_timeout(std::time::Duration::from_secs(5))?;
            migrate(&mut connection)?;
            Ok(connection)
        })
        .await
        .map_err(|e| OutboxError::Join(e.to_string()))??;
        Ok(Outbox { db: Arc::new(Mutex::new(connection)) })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = db.lock().map_err(|_| OutboxError::Join("the outbox lock is poisoned".into()))?;
            f(&mut connection)
        })
        .await
        .map_err(|e| OutboxError::Join(e.to_string()))?
    }

    /// Records an event and its planned deliveries in one transaction.
    /// `traceparent`: the trace the deliveries' sends continue (the planning span's), if any.
    pub async fn record(
        &self,
        event: &Incoming,
        planned: Vec<Planned>,
        now_ms: i64,
        traceparent: Option<String>,
    ) -> Result<Recorded> {
        let event_json = serde_json::to_string(event)?;
        let (event_id, event_type) = (event.id.clone(), event.ty.clone());
        self.with(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut recorded = Recorded::default();
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO events (id, type, received_at, body) VALUES (?1, ?2, ?3, ?4)",
                params![event_id, event_type, now_ms, event_json],
            )?;
            if inserted == 0 {
                recorded.duplicate = true;
                return Ok(recorded);
            }
            let mut keys_used: Vec<(String, String)> = Vec::new();
            for plan in planned {
                if let Some(key) = &plan.once_key {
                    let pair = (plan.trigger.clone(), key.clone());
                    if !keys_used.contains(&pair) {
                        let fresh = tx.execute(
                            "INSERT OR IGNORE INTO once_keys (trigger, key, event_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                            params![plan.trigger, key, event_id, now_ms],
                        )?;
                        if fresh == 0 {
                            recorded.deduplicated += 1;
                            continue;
                        }
                        keys_used.push(pair);
                    }
                }
                if let (Some(digest), false) = (&plan.digest, plan.silenced) {
                    let joined = collect(&tx, &event_id, &plan, digest, now_ms, traceparent.as_deref())?;
                    if joined {
                        recorded.grouped += 1;
                    } else {
                        recorded.queued += 1;
                        if !recorded.channels.contains(&plan.channel) {
                            recorded.channels.push(plan.channel.clone());
                        }
                    }
                    continue;
                }
                let status = if plan.silenced { "silenced" } else { "pending" };
                tx.execute(
                    "INSERT OR IGNORE INTO deliveries (event_id, trigger, channel, body, status, attempts, \
                     next_attempt_at, created_at, thread_key, traceparent) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6, ?7, ?8)",
                    params![
                        event_id,
                        plan.trigger,
                        plan.channel,
                        serde_json::to_string(&plan.body)?,
                        status,
                        now_ms,
                        plan.thread_key,
                        traceparent
                    ],
                )?;
                if plan.silenced {
                    recorded.silenced += 1;
                } else {
                    recorded.queued += 1;
                    if !recorded.channels.contains(&plan.channel) {
                        recorded.channels.push(plan.channel.clone());
                    }
                }
            }
            tx.commit()?;
            Ok(recorded)
        })
        .await
    }

    /// Pending deliveries of `channel` due at `now_ms`, oldest first.
    pub async fn due(&self, channel: &str, now_ms: i64, limit: u32) -> Result<Vec<Pending>> {
        let channel = channel.to_string();
        self.with(move |db| {
            let mut statement = db.prepare_cached(
                "SELECT d.id, d.event_id, d.trigger, d.body, d.attempts, d.thread_key, t.ts, d.traceparent FROM deliveries d \
                 LEFT JOIN threads t ON t.channel = d.channel AND t.key = d.thread_key \
                 WHERE d.channel = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2 ORDER BY d.id LIMIT ?3",
            )?;
            let rows = statement.query_map(params![channel, now_ms, limit], |row| {
                Ok(Pending {
                    id: row.get(0)?,
                    event_id: row.get(1)?,
                    trigger: row.get(2)?,
                    body: row.get(3)?,
                    attempts: row.get(4)?,
                    thread_key: row.get(5)?,
                    thread_ts: row.get(6)?,
                    traceparent: row.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// When the next pending delivery of `channel` is due (Unix ms), if any.
    pub async fn next_due(&self, channel: &str) -> Result<Option<i64>> {
        let channel = channel.to_string();
        self.with(move |db| {
            Ok(db
                .query_row(
                    "SELECT MIN(next_attempt_at) FROM deliveries WHERE channel = ?1 AND status = 'pending'",
                    params![channel],
                    |row| row.get::<_, Option<i64>>(0),
                )
                .optional()?
                .flatten())
        })
        .await
    }

    /// Records the outcomes of attempts, all in one transaction.
    pub async fn finish(&self, marks: Vec<Mark>) -> Result<()> {
        self.with(move |db| {
            let tx = db.transaction()?;
            for mark in marks {
                match mark {
                    Mark::Sent { id, attempts, response, now, thread } => {
                        if let Some((channel, key, ts)) = thread {
                            tx.execute(
                                "INSERT OR IGNORE INTO threads (channel, key, ts) VALUES (?1, ?2, ?3)",
                                params![channel, key, ts],
                            )?;
                        }
                        tx.execute(
                            "UPDATE deliveries SET status = 'sent', attempts = ?2, response = ?3, finished_at = ?4 \
                             WHERE id = ?1",
                            params![id, attempts, response, now],
                        )?
                    }
                    Mark::Retry { id, attempts, next_attempt_ms, error } => tx.execute(
                        "UPDATE deliveries SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE id = ?1",
                        params![id, attempts, next_attempt_ms, error],
                    )?,
                    Mark::Dead { id, attempts, error, now } => tx.execute(
                        "UPDATE deliveries SET status = 'dead', attempts = ?2, last_error = ?3, finished_at = ?4 \
                         WHERE id = ?1",
                        params![id, attempts, error, now],
                    )?,
                };
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Whether an event with this id was recorded.
    pub async fn event_seen(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.with(move |db| {
            Ok(db.query_row("SELECT 1 FROM events WHERE id = ?1", params![id], |_| Ok(())).optional()?.is_some())
        })
        .await
    }

    /// The last slot `schedule` fired (Unix ms), if it ever ran.
    pub async fn schedule_last(&self, schedule: &str) -> Result<Option<i64>> {
        let schedule = schedule.to_string();
        self.with(move |db| {
            Ok(db
                .query_row("SELECT last_slot_ms FROM schedule_slots WHERE schedule = ?1", params![schedule], |row| {
                    row.get(0)
                })
                .optional()?)
        })
        .await
    }

    pub async fn set_schedule_last(&self, schedule: &str, slot_ms: i64) -> Result<()> {
        let schedule = schedule.to_string();
        self.with(move |db| {
            db.execute(
                "INSERT INTO schedule_slots (schedule, last_slot_ms) VALUES (?1, ?2) \
                 ON CONFLICT (schedule) DO UPDATE SET last_slot_ms = MAX(last_slot_ms, excluded.last_slot_ms)",
                params![schedule, slot_ms],
            )?;
            Ok(())
        })
        .await
    }

    /// Delivery history, newest first.
    pub async fn history(&self, filter: HistoryFilter) -> Result<Vec<Delivery>> {
        self.with(move |db| {
            let mut statement = db.prepare_cached(
                "SELECT d.id, d.event_id, e.type, d.trigger, d.channel, d.status, d.attempts, d.last_error, \
                 d.response, d.created_at, d.finished_at FROM deliveries d JOIN events e ON e.id = d.event_id \
                 WHERE (?1 IS NULL OR d.trigger = ?1) AND (?2 IS NULL OR d.channel = ?2) \
                 AND (?3 IS NULL OR d.status = ?3) AND (?5 IS NULL OR d.event_id = ?5) ORDER BY d.id DESC LIMIT ?4",
            )?;
            let rows = statement.query_map(
                params![filter.trigger, filter.channel, filter.status, filter.limit.max(1), filter.event_id],
                |row| {
                    Ok(Delivery {
                        id: row.get(0)?,
                        event_id: row.get(1)?,
                        event_type: row.get(2)?,
                        trigger: row.get(3)?,
                        channel: row.get(4)?,
                        status: row.get(5)?,
                        attempts: row.get(6)?,
                        last_error: row.get(7)?,
                        response: row.get(8)?,
                        created_at: row.get(9)?,
                        finished_at: row.get(10)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

impl Outbox {
    /// Adds a silence; returns its id.
    pub async fn add_silence(&self, silence: StoredSilence) -> Result<i64> {
        self.with(move |db| {
            db.execute(
                "INSERT INTO silences (trigger, channel, from_ms, until_ms, comment, created_by, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    silence.trigger,
                    silence.channel,
                    silence.from_ms,
                    silence.until_ms,
                    silence.comment,
                    silence.created_by,
                    silence.created_at
                ],
            )?;
            Ok(db.last_insert_rowid())
        })
        .await
    }

    /// Adds `user`'s subscription of `trigger` on `channel`, or finds the same one; returns it.
    pub async fn subscribe(
        &self,
        user: String,
        trigger: String,
        channel: String,
        now_ms: i64,
    ) -> Result<StoredSubscription> {
        self.with(move |db| {
            db.execute(
                "INSERT INTO subscriptions (user, trigger, channel, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (user, trigger, channel) DO NOTHING",
                params![user, trigger, channel, now_ms],
            )?;
            Ok(db.query_row(
                "SELECT id, user, trigger, channel, created_at FROM subscriptions \
                 WHERE user = ?1 AND trigger = ?2 AND channel = ?3",
                params![user, trigger, channel],
                StoredSubscription::from_row,
            )?)
        })
        .await
    }

    /// Every personal subscription, oldest first.
    pub async fn subscriptions(&self) -> Result<Vec<StoredSubscription>> {
        self.with(move |db| {
            let mut statement =
                db.prepare_cached("SELECT id, user, trigger, channel, created_at FROM subscriptions ORDER BY id")?;
            let rows = statement.query_map([], StoredSubscription::from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Deletes a personal subscription; false when there was none with this id.
    pub async fn unsubscribe(&self, id: i64) -> Result<bool> {
        self.with(move |db| Ok(db.execute("DELETE FROM subscriptions WHERE id = ?1", params![id])? > 0)).await
    }

    /// The silences that have not ended by `now_ms`, oldest first.
    pub async fn silences(&self, now_ms: i64) -> Result<Vec<StoredSilence>> {
        self.with(move |db| {
            let mut statement = db.prepare_cached(
                "SELECT id, trigger, channel, from_ms, until_ms, comment, created_by, created_at FROM silences \
                 WHERE until_ms > ?1 ORDER BY id",
            )?;
            let rows = statement.query_map(params![now_ms], |row| {
                Ok(StoredSilence {
                    id: row.get(0)?,
                    trigger: row.get(1)?,
                    channel: row.get(2)?,
                    from_ms: row.get(3)?,
                    until_ms: row.get(4)?,
                    comment: row.get(5)?,
                    created_by: row.get(6)?,
                    created_at: row.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Deletes a silence; false when there was none with this id.
    pub async fn delete_silence(&self, id: i64) -> Result<bool> {
        self.with(move |db| Ok(db.execute("DELETE FROM silences WHERE id = ?1", params![id])? > 0)).await
    }
}

impl Outbox {
    /// Starts watching the calls of chain channels (`(channel, deadline ms)`) that answered an eventID and are not
    /// watched yet.
    pub async fn adopt_chains(&self, channels: Vec<(String, i64)>) -> Result<()> {
        self.with(move |db| {
            let tx = db.transaction()?;
            for (channel, deadline_ms) in channels {
                tx.execute(
                    "INSERT OR IGNORE INTO chains (delivery_id, channel, trigger, cause, event_id, deadline_ms, status) \
                     SELECT d.id, d.channel, d.trigger, d.event_id, d.response, d.finished_at + ?2, 'waiting' \
                     FROM deliveries d WHERE d.channel = ?1 AND d.status = 'sent' AND d.response IS NOT NULL \
                     AND d.finished_at IS NOT NULL",
                    params![channel, deadline_ms],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The chains still waiting for their PipelineRun, oldest deadline first.
    pub async fn waiting_chains(&self) -> Result<Vec<Chain>> {
        self.with(move |db| {
            let mut statement = db.prepare_cached(
                "SELECT delivery_id, channel, trigger, cause, event_id, deadline_ms, status, run FROM chains \
                 WHERE status = 'waiting' ORDER BY deadline_ms",
            )?;
            let rows = statement.query_map([], chain_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Every chain, newest first (for tests and the history).
    pub async fn chains(&self) -> Result<Vec<Chain>> {
        self.with(move |db| {
            let mut statement = db.prepare_cached(
                "SELECT delivery_id, channel, trigger, cause, event_id, deadline_ms, status, run FROM chains \
                 ORDER BY delivery_id DESC",
            )?;
            let rows = statement.query_map([], chain_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Records how a chain ended: `started` with its run, or `missed`.
    pub async fn end_chain(&self, delivery_id: i64, status: &'static str, run: Option<String>) -> Result<()> {
        self.with(move |db| {
            db.execute(
                "UPDATE chains SET status = ?2, run = ?3 WHERE delivery_id = ?1 AND status = 'waiting'",
                params![delivery_id, status, run],
            )?;
            Ok(())
        })
        .await
    }
}

fn chain_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Chain> {
    Ok(Chain {
        delivery_id: row.get(0)?,
        channel: row.get(1)?,
        trigger: row.get(2)?,
        cause: row.get(3)?,
        event_id: row.get(4)?,
        deadline_ms: row.get(5)?,
        status: row.get(6)?,
        run: row.get(7)?,
    })
}

/// A user's own subscription of one trigger on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubscription {
    pub id: i64,
    pub user: String,
    pub trigger: String,
    pub channel: String,
    pub created_at: i64,
}

impl StoredSubscription {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSubscription> {
        Ok(StoredSubscription {
            id: row.get(0)?,
            user: row.get(1)?,
            trigger: row.get(2)?,
            channel: row.get(3)?,
            created_at: row.get(4)?,
        })
    }
}

/// An EventListener call whose PipelineRun is expected in the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub delivery_id: i64,
    pub channel: String,
    pub trigger: String,
    pub cause: String,
    pub event_id: String,
    pub deadline_ms: i64,
    pub status: String,
    pub run: Option<String>,
}

/// A silence added through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSilence {
    pub id: i64,
    pub trigger: Option<String>,
    pub channel: Option<String>,
    pub from_ms: Option<i64>,
    pub until_ms: i64,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// Adds a plan to the open digest of its trigger and channel (true), or opens one due when its window closes
/// (false); the digest's body is composed again from all its items.
fn collect(
    tx: &rusqlite::Transaction<'_>,
    event_id: &str,
    plan: &Planned,
    digest: &crate::digest::DigestPlan,
    now_ms: i64,
    traceparent: Option<&str>,
) -> Result<bool> {
    let open: Option<i64> = tx
        .query_row(
            "SELECT id FROM deliveries WHERE trigger = ?1 AND channel = ?2 AND status = 'pending' AND attempts = 0 \
             AND digest_until > ?3 ORDER BY id DESC LIMIT 1",
            params![plan.trigger, plan.channel, now_ms],
            |row| row.get(0),
        )
        .optional()?;
    let joined = open.is_some();
    let id = match open {
        Some(id) => id,
        None => {
            let due = now_ms + digest.window_ms;
            tx.execute(
                // A digest's send continues the trace of the event that opened it.
                "INSERT INTO deliveries (event_id, trigger, channel, body, status, attempts, next_attempt_at, \
                 created_at, thread_key, digest_until, traceparent) \
                 VALUES (?1, ?2, ?3, '{}', 'pending', 0, ?4, ?5, ?6, ?4, ?7)",
                params![event_id, plan.trigger, plan.channel, due, now_ms, plan.thread_key, traceparent],
            )?;
            tx.last_insert_rowid()
        }
    };
    tx.execute(
        "INSERT OR IGNORE INTO digest_items (delivery_id, event_id, body, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, event_id, serde_json::to_string(&plan.body)?, now_ms],
    )?;
    let mut statement = tx.prepare_cached("SELECT body FROM digest_items WHERE delivery_id = ?1 ORDER BY rowid")?;
    let items = statement
        .query_map(params![id], |row| row.get::<_, String>(0))?
        .map(|body| Ok(serde_json::from_str::<serde_json::Value>(&body?)?))
        .collect::<Result<Vec<_>>>()?;
    let body = digest.combine.body(&plan.trigger, &items);
    tx.execute("UPDATE deliveries SET body = ?2 WHERE id = ?1", params![id, serde_json::to_string(&body)?])?;
    Ok(joined)
}

impl StoredSilence {
    /// The rule file's silence with the same fields.
    pub fn as_config(&self) -> Option<crate::config::SilenceConfig> {
        Some(crate::config::SilenceConfig {
            trigger: self.trigger.clone(),
            channel: self.channel.clone(),
            from: match self.from_ms {
                Some(ms) => Some(chrono::DateTime::from_timestamp_millis(ms)?),
                None => None,
            },
            until: chrono::DateTime::from_timestamp_millis(self.until_ms)?,
            comment: self.comment.clone(),
        })
    }

    /// Whether it mutes `trigger` on `channel` at `now`, as a rule file's silence would.
    pub fn mutes(&self, trigger: &str, channel: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.as_config().is_some_and(|s| s.mutes(trigger, channel, now))
    }
}

fn migrate(connection: &mut Connection) -> Result<()> {
    let applied: usize = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if applied > MIGRATIONS.len() {
        return Err(OutboxError::Open {
            path: connection.path().unwrap_or("?").to_string(),
            reason: format!("schema version {applied} is newer than this notifier knows ({})", MIGRATIONS.len()),
        });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(id: &str) -> Incoming {
        Incoming {
            id: id.into(),
            ty: "t".into(),
            source: "/s".into(),
            subject: None,
            time: None,
            data: json!({}),
            extensions: Default::default(),
        }
    }

    fn plan(trigger: &str, channel: &str, key: Option<&str>, silenced: bool) -> Planned {
        Planned {
            trigger: trigger.into(),
            channel: channel.into(),
            once_key: key.map(str::to_string),
            silenced,
            thread_key: None,
            body: json!({"text": "hi"}),
            digest: None,
        }
    }

    #[tokio::test]
    async fn events_keys_and_deliveries_are_recorded_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Outbox::open(&dir.path().join("outbox.db")).await.expect("open");
        let plans = || vec![plan("failed", "a", Some("ci/r1"), false), plan("failed", "b", Some("ci/r1"), true)];
        let first = outbox.record(&event("e1"), plans(), 1000, None).await.expect("record");
        assert_eq!((first.duplicate, first.queued, first.silenced, first.deduplicated), (false, 1, 1, 0));
        let again = outbox.record(&event("e1"), plans(), 2000, None).await.expect("record");
        assert!(again.duplicate);
        let same_key = outbox.record(&event("e2"), plans(), 3000, None).await.expect("record");
        assert_eq!((same_key.queued, same_key.deduplicated), (0, 2));
        let due = outbox.due("a", 1000, 10).await.expect("due");
        assert_eq!(due.len(), 1);
        assert!(outbox.due("b", 5000, 10).await.expect("due").is_empty(), "silenced is never due");
        outbox
            .finish(vec![Mark::Retry { id: due[0].id, attempts: 1, next_attempt_ms: 9000, error: "503".into() }])
            .await
            .expect("retry");
        assert!(outbox.due("a", 8999, 10).await.expect("due").is_empty());
        assert_eq!(outbox.next_due("a").await.expect("next"), Some(9000));
        outbox
            .finish(vec![Mark::Sent {
                id: due[0].id,
                attempts: 2,
                response: Some("ok".into()),
                now: 9001,
                thread: None,
            }])
            .await
            .expect("sent");
        assert_eq!(outbox.next_due("a").await.expect("next"), None);
        let history = outbox.history(HistoryFilter { limit: 10, ..Default::default() }).await.expect("history");
        let statuses: Vec<_> = history.iter().map(|d| (d.channel.as_str(), d.status.as_str(), d.attempts)).collect();
        assert_eq!(statuses, [("b", "silenced", 0), ("a", "sent", 2)]);
    }

    #[tokio::test]
    async fn the_file_survives_a_reopen_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("outbox.db");
        let outbox = Outbox::open(&path).await.expect("open");
        outbox.record(&event("e1"), vec![plan("t", "a", None, false)], 1, None).await.expect("record");
        drop(outbox);
        let reopened = Outbox::open(&path).await.expect("reopen");
        assert_eq!(reopened.due("a", 1, 10).await.expect("due").len(), 1);
        drop(reopened);
        let connection = Connection::open(&path).expect("open raw");
        connection.pragma_update(None, "user_version", 99).expect("bump");
        drop(connection);
        let error = Outbox::open(&path).await.err().expect("refused").to_string();
        assert!(error.contains("schema version 99 is newer"), "{error}");
    }
}
