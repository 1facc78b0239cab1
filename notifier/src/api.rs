//! The notifier's GraphQL API at `POST /graphql` (async-graphql, as graph-service): read the rules — triggers,
//! channels (never their secrets), subscriptions, silences — and the delivery history; add and remove silences;
//! test-send a trigger to a channel; subscribe yourself to a trigger on a channel.
//!
//! Who may do what: the route needs a token with `viewer`; adding a silence is open to every viewer and records who
//! added it; a viewer removes only their own, an `admin` any; test-send needs `admin` (it sends for real). A viewer
//! subscribes themselves only on the rule file's `selfService.channels`, an admin on any. Limits:
//! the body size and the request time (the server's), query depth and complexity (the schema's).

use std::sync::Arc;

use async_graphql::{Context, EmptySubscription, Enum, Error, ID, InputObject, Object, Result, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use tekton_graph_access::Role;

use crate::Notifier;
use crate::outbox::{Delivery, HistoryFilter, StoredSilence, StoredSubscription};

pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest query accepted (the schema is three levels deep).
pub const MAX_DEPTH: usize = 6;
/// Each field costs 1.
pub const MAX_COMPLEXITY: usize = 2_000;
/// Most deliveries one `deliveries` query returns.
pub const MAX_DELIVERIES: u32 = 500;

pub fn schema(notifier: Arc<Notifier>) -> ApiSchema {
    Schema::build(Query, Mutation, EmptySubscription)
        .data(notifier)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// Who is asking: the token's name and roles (no authentication: anonymous with every role).
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: Option<String>,
    pub roles: Vec<Role>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }
}

fn caller<'a>(ctx: &'a Context<'_>) -> Result<&'a Caller> {
    ctx.data::<Caller>().map_err(|_| Error::new("no caller: the request did not pass authentication"))
}

fn require(ctx: &Context<'_>, role: Role) -> Result<()> {
    if caller(ctx)?.has(role) { Ok(()) } else { Err(Error::new(format!("forbidden: this needs the `{role}` role"))) }
}

fn notifier<'a>(ctx: &'a Context<'_>) -> Result<&'a Arc<Notifier>> {
    ctx.data::<Arc<Notifier>>()
}

#[derive(SimpleObject)]
pub struct Trigger {
    pub name: String,
    /// Event types; a trailing `*` matches a prefix.
    pub on: Vec<String>,
    /// The CEL condition.
    pub when: Option<String>,
    /// The CEL de-duplication key.
    pub once_per: Option<String>,
    /// Its kind (one of `notificationTypes`).
    pub notification_type: Option<String>,
    /// Channels subscribed to it.
    pub channels: Vec<String>,
}

#[derive(SimpleObject)]
pub struct NotificationType {
    pub name: String,
    pub description: Option<String>,
    /// The triggers of this kind.
    pub triggers: Vec<String>,
}

/// One way a message reaches the caller: a trigger on a channel, and the subscription that routes it.
#[derive(SimpleObject)]
pub struct Route {
    pub trigger: String,
    pub channel: String,
    /// `user`, `team:<name>`, `role:<role>`, or `everyone` (a subscription without a subject).
    pub via: String,
}

#[derive(SimpleObject)]
pub struct Channel {
    pub name: String,
    /// `slack`, `slackApp`, `discord`, `webhook`, `eventListener`, `cloudEvents`, `kafka` or `email`.
    pub kind: String,
}

#[derive(SimpleObject)]
pub struct Subscription {
    pub team: Option<String>,
    pub user: Option<String>,
    /// Everyone holding this role (`viewer`, `ingester`, `admin`).
    pub role: Option<String>,
    /// The triggers, those chosen by `notificationTypes` included.
    pub triggers: Vec<String>,
    pub notification_types: Vec<String>,
    pub channels: Vec<String>,
}

/// A user's own subscription, added through this API.
#[derive(SimpleObject)]
pub struct PersonalSubscription {
    /// The id `unsubscribe` takes.
    pub id: ID,
    pub user: String,
    pub trigger: String,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    /// False while its trigger or channel does not exist (a policy that defined it was deleted): kept, not routed.
    pub active: bool,
}

impl PersonalSubscription {
    fn of(stored: StoredSubscription, notifier: &Notifier) -> PersonalSubscription {
        let live = notifier.live();
        PersonalSubscription {
            id: ID(stored.id.to_string()),
            active: live.config.triggers.contains_key(&stored.trigger)
                && live.config.channels.contains_key(&stored.channel),
            user: stored.user,
            trigger: stored.trigger,
            channel: stored.channel,
            created_at: DateTime::from_timestamp_millis(stored.created_at).unwrap_or_default(),
        }
    }
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum SilenceOrigin {
    /// In the rule file: changed by editing it.
    RuleFile,
    /// Added through this API.
    Api,
}

#[derive(SimpleObject)]
pub struct Silence {
    /// Set for API silences (the id `deleteSilence` takes).
    pub id: Option<ID>,
    pub origin: SilenceOrigin,
    pub trigger: Option<String>,
    pub channel: Option<String>,
    #[graphql(name = "from")]
    pub start: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
}

impl Silence {
    fn of(s: &StoredSilence) -> Self {
        Silence {
            id: Some(ID(s.id.to_string())),
            origin: SilenceOrigin::Api,
            trigger: s.trigger.clone(),
            channel: s.channel.clone(),
            start: s.from_ms.and_then(DateTime::from_timestamp_millis),
            until: DateTime::from_timestamp_millis(s.until_ms).unwrap_or_default(),
            comment: s.comment.clone(),
            created_by: s.created_by.clone(),
        }
    }
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Dead,
    Silenced,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Silenced => "silenced",
        }
    }
}

#[derive(SimpleObject)]
pub struct DeliveryRecord {
    pub id: ID,
    pub event_id: String,
    pub event_type: String,
    pub trigger: String,
    pub channel: String,
    /// `pending`, `sent`, `dead` or `silenced`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// What the channel answered (an EventListener's `eventID`, Kafka's partition and offset).
    pub response: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<Delivery> for DeliveryRecord {
    fn from(d: Delivery) -> Self {
        DeliveryRecord {
            id: ID(d.id.to_string()),
            event_id: d.event_id,
            event_type: d.event_type,
            trigger: d.trigger,
            channel: d.channel,
            status: d.status,
            attempts: d.attempts,
            last_error: d.last_error,
            response: d.response,
            created_at: DateTime::from_timestamp_millis(d.created_at),
            finished_at: d.finished_at.and_then(DateTime::from_timestamp_millis),
        }
    }
}

pub struct Query;

#[Object]
impl Query {
    /// The triggers of the rule file, with the channels subscribed to each.
    async fn triggers(&self, ctx: &Context<'_>) -> Result<Vec<Trigger>> {
        require(ctx, Role::Viewer)?;
        let live = notifier(ctx)?.live();
        Ok(live
            .config
            .triggers
            .iter()
            .map(|(name, t)| Trigger {
                name: name.clone(),
                on: t.on.to_vec(),
                when: t.when.clone(),
                once_per: t.once_per.clone(),
                notification_type: t.notification_type.clone(),
                channels: live.rules.channels_of(name).unwrap_or_default().to_vec(),
            })
            .collect())
    }

    /// The channels, by name and kind; their URLs, tokens and passwords are secrets and never shown.
    async fn channels(&self, ctx: &Context<'_>) -> Result<Vec<Channel>> {
        require(ctx, Role::Viewer)?;
        Ok(notifier(ctx)?
            .live()
            .config
            .channels
            .iter()
            .map(|(name, c)| Channel { name: name.clone(), kind: c.kind().to_string() })
            .collect())
    }

    /// Every subscription in force: the rule file's, the policies' and the personal ones.
    async fn subscriptions(&self, ctx: &Context<'_>) -> Result<Vec<Subscription>> {
        require(ctx, Role::Viewer)?;
        Ok(notifier(ctx)?
            .live()
            .config
            .subscriptions
            .iter()
            .map(|s| Subscription {
                team: s.team.clone(),
                user: s.user.clone(),
                role: s.role.clone(),
                triggers: s.triggers.clone(),
                notification_types: s.notification_types.clone(),
                channels: s.channels.clone(),
            })
            .collect())
    }

    /// The kinds of notification, with their triggers.
    async fn notification_types(&self, ctx: &Context<'_>) -> Result<Vec<NotificationType>> {
        require(ctx, Role::Viewer)?;
        let live = notifier(ctx)?.live();
        Ok(live
            .config
            .notification_types
            .iter()
            .map(|(name, about)| NotificationType {
                name: name.clone(),
                description: about.description.clone(),
                triggers: live
                    .config
                    .triggers
                    .iter()
                    .filter(|(_, t)| t.notification_type.as_ref() == Some(name))
                    .map(|(trigger, _)| trigger.clone())
                    .collect(),
            })
            .collect())
    }

    /// What reaches the caller, and why: every subscription in force whose subject is them (by name, a team they
    /// are a member of, or a role their token holds), each trigger on each channel once.
    async fn my_routes(&self, ctx: &Context<'_>) -> Result<Vec<Route>> {
        require(ctx, Role::Viewer)?;
        let who = caller(ctx)?;
        let live = notifier(ctx)?.live();
        let me = who.subject.as_deref();
        let mut routes: Vec<Route> = Vec::new();
        for sub in &live.config.subscriptions {
            let via = match (&sub.user, &sub.team, &sub.role) {
                (Some(user), _, _) if Some(user.as_str()) == me => "user".to_string(),
                (_, Some(team), _)
                    if me.is_some_and(|me| {
                        live.config.teams.get(team).is_some_and(|t| t.members.iter().any(|m| m == me))
                    }) =>
                {
                    format!("team:{team}")
                }
                (_, _, Some(role)) if Role::parse(role).is_some_and(|r| who.roles.contains(&r)) => {
                    format!("role:{role}")
                }
                (None, None, None) => "everyone".to_string(),
                _ => continue,
            };
            for trigger in &sub.triggers {
                for channel in &sub.channels {
                    if !routes.iter().any(|r| &r.trigger == trigger && &r.channel == channel) {
                        routes.push(Route { trigger: trigger.clone(), channel: channel.clone(), via: via.clone() });
                    }
                }
            }
        }
        Ok(routes)
    }

    /// The silences that have not ended: the rule file's, then those added through the API.
    async fn silences(&self, ctx: &Context<'_>) -> Result<Vec<Silence>> {
        require(ctx, Role::Viewer)?;
        let notifier = notifier(ctx)?;
        let now = Utc::now();
        let mut out: Vec<Silence> = notifier
            .live()
            .config
            .silences
            .iter()
            .filter(|s| s.until > now)
            .map(|s| Silence {
                id: None,
                origin: SilenceOrigin::RuleFile,
                trigger: s.trigger.clone(),
                channel: s.channel.clone(),
                start: s.from,
                until: s.until,
                comment: s.comment.clone(),
                created_by: None,
            })
            .collect();
        out.extend(notifier.api_silences().iter().map(Silence::of));
        Ok(out)
    }

    /// The caller's own subscriptions (an admin may ask for everyone's with `all: true`).
    async fn my_subscriptions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] all: bool,
    ) -> Result<Vec<PersonalSubscription>> {
        require(ctx, Role::Viewer)?;
        if all {
            require(ctx, Role::Admin)?;
        }
        let notifier = notifier(ctx)?;
        let who = caller(ctx)?.subject.clone();
        Ok(notifier
            .outbox()
            .subscriptions()
            .await?
            .into_iter()
            .filter(|s| all || who.as_deref() == Some(s.user.as_str()))
            .map(|s| PersonalSubscription::of(s, notifier))
            .collect())
    }

    /// Delivery history, newest first: status, attempts and the last error per delivery.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        trigger: Option<String>,
        channel: Option<String>,
        status: Option<DeliveryStatus>,
        event_id: Option<String>,
        #[graphql(default = 100)] first: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        require(ctx, Role::Viewer)?;
        if first == 0 || first > MAX_DELIVERIES {
            return Err(Error::new(format!("`first` must be 1–{MAX_DELIVERIES}, not {first}")));
        }
        let filter =
            HistoryFilter { event_id, trigger, channel, status: status.map(|s| s.as_str().to_string()), limit: first };
        let rows = notifier(ctx)?.outbox().history(filter).await?;
        Ok(rows.into_iter().map(DeliveryRecord::from).collect())
    }
}

/// A new silence: a trigger, a channel or both, until a time.
#[derive(InputObject)]
pub struct SilenceInput {
    pub trigger: Option<String>,
    pub channel: Option<String>,
    /// Default: now.
    pub from: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
    pub comment: Option<String>,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Mutes a trigger, a channel, or one trigger on one channel, until `until`. Muted deliveries are recorded as
    /// `silenced`, never sent. Kept in the outbox: it survives restarts.
    async fn silence(&self, ctx: &Context<'_>, input: SilenceInput) -> Result<Silence> {
        require(ctx, Role::Viewer)?;
        let notifier = notifier(ctx)?;
        let now = Utc::now();
        if input.trigger.is_none() && input.channel.is_none() {
            return Err(Error::new("a silence needs `trigger`, `channel` or both (muting everything is not offered)"));
        }
        let live = notifier.live();
        if let Some(trigger) = &input.trigger
            && !live.config.triggers.contains_key(trigger)
        {
            return Err(Error::new(format!("`trigger`: no trigger `{trigger}`")));
        }
        if let Some(channel) = &input.channel
            && !live.config.channels.contains_key(channel)
        {
            return Err(Error::new(format!("`channel`: no channel `{channel}`")));
        }
        if input.until <= now || input.from.is_some_and(|from| from >= input.until) {
            return Err(Error::new("`until` must be in the future and after `from`"));
        }
        if input.comment.as_ref().is_some_and(|c| c.chars().count() > 500) {
            return Err(Error::new("`comment`: at most 500 characters"));
        }
        let stored = StoredSilence {
            id: 0,
            trigger: input.trigger,
            channel: input.channel,
            from_ms: input.from.map(|t| t.timestamp_millis()),
            until_ms: input.until.timestamp_millis(),
            comment: input.comment,
            created_by: caller(ctx)?.subject.clone(),
            created_at: now.timestamp_millis(),
        };
        let stored = notifier.add_silence(stored).await?;
        tracing::info!(id = stored.id, by = ?stored.created_by, "silence added");
        Ok(Silence::of(&stored))
    }

    /// Removes a silence added through the API: a viewer their own, an admin any. False when there is none.
    async fn delete_silence(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        require(ctx, Role::Viewer)?;
        let id: i64 = id.parse().map_err(|_| Error::new(format!("`id`: `{}` is not a silence id", id.0)))?;
        let notifier = notifier(ctx)?;
        let who = caller(ctx)?;
        let Some(silence) = notifier.api_silences().into_iter().find(|s| s.id == id) else { return Ok(false) };
        if !who.roles.contains(&Role::Admin) && silence.created_by != who.subject {
            return Err(Error::new("forbidden: only its author or an `admin` may remove this silence"));
        }
        let deleted = notifier.delete_silence(id).await?;
        tracing::info!(id, by = ?who.subject, "silence removed");
        Ok(deleted)
    }

    /// Subscribes the caller to `trigger` on `channel`: its messages go there from the next event on. Kept in the
    /// outbox: it survives restarts. Subscribing again returns the same subscription.
    async fn subscribe(&self, ctx: &Context<'_>, trigger: String, channel: String) -> Result<PersonalSubscription> {
        require(ctx, Role::Viewer)?;
        let notifier = notifier(ctx)?;
        let who = caller(ctx)?;
        let Some(user) = who.subject.clone() else {
            return Err(Error::new("a personal subscription needs a caller with a name: call with a token"));
        };
        let live = notifier.live();
        if !live.config.triggers.contains_key(&trigger) {
            return Err(Error::new(format!("`trigger`: no trigger `{trigger}`")));
        }
        if !live.config.channels.contains_key(&channel) {
            return Err(Error::new(format!("`channel`: no channel `{channel}`")));
        }
        if !who.roles.contains(&Role::Admin) && !live.config.self_service.channels.contains(&channel) {
            return Err(Error::new(format!(
                "forbidden: `{channel}` is not a self-service channel (the rule file's `selfService.channels`); an \
                 `admin` may subscribe on it"
            )));
        }
        let stored = notifier.subscribe(&user, &trigger, &channel).await.map_err(|e| Error::new(e.to_string()))?;
        tracing::info!(id = stored.id, %user, %trigger, %channel, "personal subscription added");
        Ok(PersonalSubscription::of(stored, notifier))
    }

    /// Removes a personal subscription: a viewer their own, an admin any. False when there is none.
    async fn unsubscribe(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        require(ctx, Role::Viewer)?;
        let id: i64 = id.parse().map_err(|_| Error::new(format!("`id`: `{}` is not a subscription id", id.0)))?;
        let notifier = notifier(ctx)?;
        let who = caller(ctx)?;
        let Some(stored) = notifier.outbox().subscriptions().await?.into_iter().find(|s| s.id == id) else {
            return Ok(false);
        };
        if !who.roles.contains(&Role::Admin) && who.subject.as_deref() != Some(stored.user.as_str()) {
            return Err(Error::new("forbidden: only its owner or an `admin` may remove this subscription"));
        }
        let deleted = notifier.unsubscribe(id).await.map_err(|e| Error::new(e.to_string()))?;
        tracing::info!(id, by = ?who.subject, "personal subscription removed");
        Ok(deleted)
    }

    /// Sends a test message of `trigger` to `channel` now (rendered from a synthetic event of the trigger's type,
    /// past its condition and silences) and returns its delivery, whose status the history then shows.
    async fn test_send(&self, ctx: &Context<'_>, trigger: String, channel: String) -> Result<DeliveryRecord> {
        require(ctx, Role::Admin)?;
        let notifier = notifier(ctx)?;
        let event_id = notifier.test_send(&trigger, &channel).await?;
        let filter = HistoryFilter { event_id: Some(event_id), limit: 1, ..HistoryFilter::default() };
        let delivery = notifier.outbox().history(filter).await?.into_iter().next();
        delivery.map(DeliveryRecord::from).ok_or_else(|| Error::new("the test delivery was not recorded"))
    }
}
