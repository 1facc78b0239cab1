//! `NotificationPolicy` (group `tekton-graph.dev`): the parts of a rule file as a Kubernetes custom resource,
//! watched live, so a team keeps its rules next to its pipelines.
//!
//! A policy holds channels, triggers, subscriptions, teams, silences and schedules. Its names are its own: merged,
//! they become `<namespace>/<policy>/<name>`, so the policies of two teams never collide and one policy cannot route
//! to another's channels. Its secrets are keys of Kubernetes Secrets in its own namespace (`{ secretKeyRef: { name,
//! key } }`), read here; it may not name the notifier's environment or files. The rule file keeps what belongs to
//! the operator: links, delivery settings, the graph, self-service channels.
//!
//! A policy that does not compile, or whose Secrets cannot be read, is refused: its status says why, and the version
//! that was in force before stays in force. Secrets are read again every resync period, so a rotated Secret is
//! picked up without an edit of the policy.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Notifier;
use crate::config::{
    ChannelConfig, Config, NotificationTypeConfig, ScheduleConfig, SilenceConfig, SubscriptionConfig, TeamConfig,
    TriggerConfig,
};
use crate::outbox::StoredSubscription;
use crate::secret::{Secret, SecretRef};

pub const GROUP: &str = "tekton-graph.dev";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "NotificationPolicy";
pub const PLURAL: &str = "notificationpolicies";

/// The `spec` of a NotificationPolicy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    #[serde(default)]
    pub triggers: BTreeMap<String, TriggerConfig>,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionConfig>,
    #[serde(default)]
    pub teams: BTreeMap<String, TeamConfig>,
    #[serde(default)]
    pub notification_types: BTreeMap<String, NotificationTypeConfig>,
    #[serde(default)]
    pub silences: Vec<SilenceConfig>,
    #[serde(default)]
    pub schedules: BTreeMap<String, ScheduleConfig>,
}

impl PolicySpec {
    /// Checks the policy on its own (references, secrets, files) and returns its parts with qualified names; its
    /// `secretKeyRef`s are still to be read.
    pub fn qualify(self, namespace: &str, name: &str) -> Result<Config, String> {
        let mut local = Config {
            channels: self.channels,
            triggers: self.triggers,
            subscriptions: self.subscriptions,
            teams: self.teams,
            notification_types: self.notification_types,
            silences: self.silences,
            schedules: self.schedules,
            ..Config::default()
        };
        local.check_parts()?;
        local.expand_notification_types();
        for (channel_name, channel) in &local.channels {
            if let Some((field, _)) = channel.local_files().first() {
                return Err(format!("channels.{channel_name}.{field}: a policy may not read the notifier's files"));
            }
            let mut channel = channel.clone();
            if channel.secrets_mut().iter().any(|s| !matches!(s, SecretRef::Kubernetes { .. })) {
                return Err(format!(
                    "channels.{channel_name}: a policy names its secrets with `{{ secretKeyRef: {{ name, key }} }}` \
                     (a Secret in its own namespace), never `env` or `file`"
                ));
            }
        }
        let prefix = format!("{namespace}/{name}/");
        let q = |local: &str| format!("{prefix}{local}");
        Ok(Config {
            channels: qualify_keys(local.channels, &prefix),
            triggers: qualify_keys(local.triggers, &prefix),
            teams: qualify_keys(local.teams, &prefix),
            notification_types: local.notification_types,
            schedules: qualify_keys(local.schedules, &prefix),
            subscriptions: local
                .subscriptions
                .into_iter()
                .map(|s| SubscriptionConfig {
                    team: s.team.as_deref().map(q),
                    triggers: s.triggers.iter().map(|t| q(t)).collect(),
                    channels: s.channels.iter().map(|c| q(c)).collect(),
                    ..s
                })
                .collect(),
            silences: local
                .silences
                .into_iter()
                .map(|s| SilenceConfig {
                    trigger: s.trigger.as_deref().map(q),
                    channel: s.channel.as_deref().map(q),
                    ..s
                })
                .collect(),
            ..Config::default()
        })
    }
}

fn qualify_keys<V>(map: BTreeMap<String, V>, prefix: &str) -> BTreeMap<String, V> {
    map.into_iter().map(|(name, value)| (format!("{prefix}{name}"), value)).collect()
}

/// The rule file with the policies' parts and the personal subscriptions (those whose trigger and channel exist)
/// merged in.
pub fn compose(
    file: &Config,
    policies: &BTreeMap<String, Config>,
    personal: &[StoredSubscription],
) -> Result<Config, String> {
    fn merge<V: Clone>(into: &mut BTreeMap<String, V>, from: &BTreeMap<String, V>, what: &str) -> Result<(), String> {
        for (name, value) in from {
            if into.insert(name.clone(), value.clone()).is_some() {
                return Err(format!("two definitions of the {what} `{name}`"));
            }
        }
        Ok(())
    }
    let mut config = file.clone();
    config.expand_notification_types();
    for part in policies.values() {
        merge(&mut config.channels, &part.channels, "channel")?;
        merge(&mut config.triggers, &part.triggers, "trigger")?;
        merge(&mut config.teams, &part.teams, "team")?;
        // A type's name is shared (the file's `security` and a policy's are one kind); its description is the first.
        for (kind, about) in &part.notification_types {
            config.notification_types.entry(kind.clone()).or_insert_with(|| about.clone());
        }
        merge(&mut config.schedules, &part.schedules, "schedule")?;
        config.subscriptions.extend(part.subscriptions.iter().cloned());
        config.silences.extend(part.silences.iter().cloned());
    }
    for sub in personal {
        if config.triggers.contains_key(&sub.trigger) && config.channels.contains_key(&sub.channel) {
            config.subscriptions.push(SubscriptionConfig {
                user: Some(sub.user.clone()),
                triggers: vec![sub.trigger.clone()],
                channels: vec![sub.channel.clone()],
                ..SubscriptionConfig::default()
            });
        }
    }
    Ok(config)
}

/// The custom resource's API.
pub fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// Which policies to watch.
pub struct PolicyWatch {
    pub client: Client,
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
    /// How often the Secrets of the policies are read again.
    pub resync: Duration,
}

/// What the watcher knows of one policy.
struct Known {
    generation: Option<i64>,
    spec: Value,
    /// The channels (secrets read) of the version in force, if one is.
    channels: Option<BTreeMap<String, ChannelConfig>>,
}

/// A watch event of one namespace (None: all of them).
type ScopedEvent = (Option<String>, watcher::Result<watcher::Event<DynamicObject>>);

/// Watches the policies and puts them in force until the notifier is gone. Watch errors are retried with kube's
/// backoff; they never end the watch.
pub async fn run(watch: PolicyWatch, notifier: Arc<Notifier>) {
    let resource = resource();
    let scopes: Vec<Option<String>> =
        if watch.namespaces.is_empty() { vec![None] } else { watch.namespaces.iter().cloned().map(Some).collect() };
    let streams: Vec<BoxStream<'static, ScopedEvent>> = scopes
        .into_iter()
        .map(|scope| {
            let api = match &scope {
                Some(ns) => Api::<DynamicObject>::namespaced_with(watch.client.clone(), ns, &resource),
                None => Api::<DynamicObject>::all_with(watch.client.clone(), &resource),
            };
            watcher(api, watcher::Config::default()).default_backoff().map(move |e| (scope.clone(), e)).boxed()
        })
        .collect();
    let mut events = stream::select_all(streams);
    let mut state = Watcher { client: watch.client.clone(), resource, notifier, known: BTreeMap::new() };
    let mut listed: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    let mut resync = tokio::time::interval(watch.resync);
    resync.tick().await;
    loop {
        tokio::select! {
            next = events.next() => {
                let Some((scope, event)) = next else { return };
                match event {
                    Ok(watcher::Event::Init) => {
                        listed.insert(scope, Vec::new());
                    }
                    Ok(watcher::Event::InitApply(object)) => {
                        listed.entry(scope).or_default().push(key_of(&object));
                        state.apply(object).await;
                    }
                    Ok(watcher::Event::InitDone) => {
                        let seen = listed.remove(&scope).unwrap_or_default();
                        state.forget_unlisted(scope.as_deref(), &seen).await;
                    }
                    Ok(watcher::Event::Apply(object)) => state.apply(object).await,
                    Ok(watcher::Event::Delete(object)) => state.delete(&key_of(&object)).await,
                    Err(error) => tracing::warn!(%error, "watching NotificationPolicies failed; retrying"),
                }
            }
            _ = resync.tick() => state.resync().await,
        }
    }
}

fn key_of(object: &DynamicObject) -> String {
    format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any())
}

struct Watcher {
    client: Client,
    resource: ApiResource,
    notifier: Arc<Notifier>,
    known: BTreeMap<String, Known>,
}

impl Watcher {
    async fn apply(&mut self, object: DynamicObject) {
        let key = key_of(&object);
        let generation = object.metadata.generation;
        // A status update (ours) or a re-list leaves the generation as it was: nothing to do.
        if generation.is_some() && self.known.get(&key).is_some_and(|k| k.generation == generation) {
            return;
        }
        let spec = object.data.get("spec").cloned().unwrap_or(Value::Null);
        let outcome = self.put(&key, &spec).await;
        let channels = outcome.as_ref().ok().cloned();
        let previous = self.known.insert(key.clone(), Known { generation, spec, channels });
        match &outcome {
            Ok(_) => tracing::info!(policy = %key, ?generation, "policy in force"),
            Err(reason) => tracing::warn!(policy = %key, ?generation, %reason, "policy refused"),
        }
        if outcome.is_err()
            && let Some(previous) = previous
        {
            // The version in force stays in force, and is remembered as such.
            if let Some(known) = self.known.get_mut(&key) {
                known.channels = previous.channels;
            }
        }
        self.report(&key, generation, outcome.map(|_| ())).await;
    }

    /// Reads the policy's Secrets and puts it in force; its channels as put.
    async fn put(&self, key: &str, spec: &Value) -> Result<BTreeMap<String, ChannelConfig>, String> {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let spec: PolicySpec = serde_json::from_value(spec.clone()).map_err(|e| format!("spec: {e}"))?;
        let mut part = spec.qualify(namespace, name)?;
        read_secrets(&self.client, namespace, &mut part.channels).await?;
        let channels = part.channels.clone();
        self.notifier.put_policy(key, part).await.map_err(|e| e.to_string())?;
        Ok(channels)
    }

    async fn delete(&mut self, key: &str) {
        self.known.remove(key);
        match self.notifier.remove_policy(key).await {
            Ok(()) => tracing::info!(policy = %key, "policy deleted"),
            Err(error) => tracing::error!(policy = %key, %error, "removing a deleted policy failed"),
        }
    }

    /// After a (re-)list of `scope`: the policies in force there that it did not list were deleted meanwhile.
    async fn forget_unlisted(&mut self, scope: Option<&str>, seen: &[String]) {
        let in_scope = |key: &str| scope.is_none_or(|ns| key.split_once('/').is_some_and(|(n, _)| n == ns));
        let mut gone: Vec<String> = self.known.keys().filter(|k| in_scope(k)).cloned().collect();
        gone.extend(self.notifier.policies().await.into_iter().filter(|k| in_scope(k)));
        gone.sort();
        gone.dedup();
        for key in gone.into_iter().filter(|k| !seen.contains(k)) {
            self.delete(&key).await;
        }
    }

    /// Reads every policy's Secrets again; a policy whose values changed is put in force again.
    async fn resync(&mut self) {
        let keys: Vec<String> = self.known.keys().cloned().collect();
        for key in keys {
            let Some(known) = self.known.get(&key) else { continue };
            let (spec, generation, before) = (known.spec.clone(), known.generation, known.channels.clone());
            let (namespace, name) = key.split_once('/').unwrap_or(("", &key));
            let Ok(part) = serde_json::from_value::<PolicySpec>(spec.clone())
                .map_err(|e| e.to_string())
                .and_then(|s| s.qualify(namespace, name))
            else {
                continue;
            };
            let mut channels = part.channels;
            let read = read_secrets(&self.client, namespace, &mut channels).await;
            if read.is_ok() && before.as_ref() == Some(&channels) {
                continue;
            }
            let outcome = self.put(&key, &spec).await;
            if let (Ok(channels), Some(known)) = (&outcome, self.known.get_mut(&key)) {
                known.channels = Some(channels.clone());
            }
            tracing::info!(policy = %key, ok = outcome.is_ok(), "policy's Secrets changed");
            self.report(&key, generation, outcome.map(|_| ())).await;
        }
    }

    /// Writes the outcome into the policy's status: condition `Ready`, with the reason when refused.
    async fn report(&self, key: &str, generation: Option<i64>, outcome: Result<(), String>) {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let (status, reason, message) = match outcome {
            Ok(()) => ("True", "Applied", "the policy is in force".to_string()),
            Err(message) => ("False", "Refused", message),
        };
        let patch = json!({
            "status": {
                "observedGeneration": generation,
                "conditions": [{
                    "type": "Ready",
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "observedGeneration": generation,
                    "lastTransitionTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                }],
            }
        });
        let api = Api::<DynamicObject>::namespaced_with(self.client.clone(), namespace, &self.resource);
        if let Err(error) = api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            tracing::warn!(policy = %key, %error, "cannot write the policy's status");
        }
    }
}

/// Replaces every `secretKeyRef` of `channels` by the value of that key of that Secret in `namespace`.
async fn read_secrets(
    client: &Client,
    namespace: &str,
    channels: &mut BTreeMap<String, ChannelConfig>,
) -> Result<(), String> {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), namespace);
    for (channel_name, channel) in channels.iter_mut() {
        for secret in channel.secrets_mut() {
            let SecretRef::Kubernetes { name, key } = &*secret else { continue };
            let at = format!("channels.{channel_name}: Secret `{namespace}/{name}`");
            let object = secrets.get_opt(name).await.map_err(|e| format!("{at}: cannot be read: {e}"))?;
            let object = object.ok_or_else(|| format!("{at} does not exist"))?;
            let bytes = object
                .data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(|value| value.0.clone())
                .or_else(|| object.string_data.as_ref().and_then(|d| d.get(key)).map(|v| v.clone().into_bytes()))
                .ok_or_else(|| format!("{at} has no key `{key}`"))?;
            let value = String::from_utf8(bytes).map_err(|_| format!("{at}: key `{key}` is not UTF-8"))?;
            *secret = SecretRef::Value(Secret::new(value));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PolicySpec {
        serde_yaml_ng::from_str(yaml).expect("spec")
    }

    #[test]
    fn a_policy_names_only_its_own_parts_and_kubernetes_secrets() {
        let part = spec(
            "channels: { hook: { type: slack, webhookUrl: { secretKeyRef: { name: s, key: url } } } }\n\
             triggers: { failed: { on: dev.cdevents.pipelinerun.finished.0.2.0 } }\n\
             teams: { build: { members: [ana] } }\n\
             subscriptions: [{ team: build, triggers: [failed], channels: [hook] }]\n\
             silences: [{ channel: hook, until: 2999-01-01T00:00:00Z }]",
        )
        .qualify("ci", "alerts")
        .expect("a valid policy");
        assert_eq!(part.channels.keys().collect::<Vec<_>>(), ["ci/alerts/hook"]);
        assert_eq!(part.subscriptions[0].team.as_deref(), Some("ci/alerts/build"));
        assert_eq!(part.subscriptions[0].triggers, ["ci/alerts/failed"]);
        assert_eq!(part.silences[0].channel.as_deref(), Some("ci/alerts/hook"));

        let typed = spec(
            "notificationTypes: { security: {} }\n\
             channels: { hook: { type: webhook, url: 'http://127.0.0.1:1/' } }\n\
             triggers: { vulns: { on: x, notificationType: security }, other: { on: y } }\n\
             subscriptions: [{ role: viewer, notificationTypes: [security], channels: [hook] }]",
        )
        .qualify("ci", "alerts")
        .expect("a typed policy");
        assert_eq!(typed.subscriptions[0].triggers, ["ci/alerts/vulns"], "a type chooses the policy's own triggers");
        assert_eq!(typed.subscriptions[0].role.as_deref(), Some("viewer"));

        let refused = |yaml: &str| spec(yaml).qualify("ci", "alerts").expect_err("refused");
        let env = refused("channels: { hook: { type: slack, webhookUrl: { env: HOME } } }");
        assert!(env.contains("never `env` or `file`"), "{env}");
        let file = refused("channels: { hook: { type: discord, webhookUrl: { file: /etc/shadow } } }");
        assert!(file.contains("never `env` or `file`"), "{file}");
        let ca = refused(
            "channels: { mail: { type: email, server: 'smtp://m:587', from: a@b, to: [c@d], caFile: /etc/ssl/x } }",
        );
        assert!(ca.contains("channels.mail.caFile: a policy may not read the notifier's files"), "{ca}");
        let other = refused("subscriptions: [{ triggers: [x], channels: [y] }]");
        assert!(
            other.contains("unknown trigger `x`"),
            "another policy's or the file's names are not reachable: {other}"
        );
        assert!(serde_yaml_ng::from_str::<PolicySpec>("graph: { url: http://x }").is_err(), "operator settings");
    }

    #[test]
    fn composing_keeps_the_file_and_routes_only_live_personal_subscriptions() {
        let file = Config::parse(
            "channels: { ops: { type: webhook, url: 'http://127.0.0.1:1/' } }\n\
             triggers: { any: { on: x } }",
        )
        .expect("file");
        let part = spec("triggers: { mine: { on: y } }").qualify("ci", "p").expect("part");
        let personal = |trigger: &str| StoredSubscription {
            id: 1,
            user: "ana".into(),
            trigger: trigger.into(),
            channel: "ops".into(),
            created_at: 0,
        };
        let policies = BTreeMap::from([("ci/p".to_string(), part)]);
        let composed = compose(&file, &policies, &[personal("ci/p/mine"), personal("gone")]).expect("composed");
        assert_eq!(composed.triggers.keys().collect::<Vec<_>>(), ["any", "ci/p/mine"]);
        assert_eq!(composed.subscriptions.len(), 1, "the subscription of a trigger that is gone is not routed");
        assert_eq!(composed.subscriptions[0].user.as_deref(), Some("ana"));
        let clash = Config::parse("triggers: { 'ci/p/mine': { on: z } }").expect("file");
        let error = compose(&clash, &policies, &[]).expect_err("a clash");
        assert!(error.contains("two definitions of the trigger `ci/p/mine`"), "{error}");
    }
}
