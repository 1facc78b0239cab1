//! Match → silence → de-duplicate key → render: what an incoming event turns into, before anything is stored.
//!
//! [`Rules::plan`] is pure (given the time): every trigger whose type and CEL condition match yields one
//! [`Planned`] delivery per subscribed channel, rendered to its final body, with its `oncePer` key and whether a
//! silence mutes it. The [`crate::outbox`] then records the plan atomically and applies the `oncePer` keys.

use std::collections::{BTreeMap, BTreeSet};

use cel::{Context, Program, Value as CelValue};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::{ChannelConfig, Config, SilenceConfig};
use crate::event::Incoming;
use crate::render::{Extra, RenderError, Templates};

/// One delivery an event asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub trigger: String,
    pub channel: String,
    /// The trigger's `oncePer` key: the trigger notifies once per key.
    pub once_key: Option<String>,
    /// Muted by a silence: recorded, never sent.
    pub silenced: bool,
    /// What the message is about, for channels that keep one thread per run (Slack's Web API).
    pub thread_key: Option<String>,
    /// The request body the channel will send (alone; a digest composes its body from several).
    pub body: Value,
    /// Collected into a digest with the other deliveries of its trigger and channel.
    pub digest: Option<crate::digest::DigestPlan>,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("triggers.{trigger}.{field}: invalid CEL: {reason}")]
    Cel { trigger: String, field: &'static str, reason: String },
    #[error(transparent)]
    Template(#[from] RenderError),
    #[error("triggers.{trigger}.{field}: {reason}")]
    Invalid { trigger: String, field: &'static str, reason: String },
}

struct Trigger {
    name: String,
    types: Vec<String>,
    when: Option<Program>,
    once_per: Option<Program>,
    /// The channels subscribed to it, each once.
    channels: Vec<String>,
    /// Its digest window, if its deliveries are collected.
    digest_ms: Option<i64>,
}

/// The compiled rule file.
pub struct Rules {
    triggers: Vec<Trigger>,
    silences: Vec<SilenceConfig>,
    channels: BTreeMap<String, ChannelConfig>,
    templates: Templates,
}

impl Rules {
    pub fn compile(config: &Config) -> Result<Rules, RulesError> {
        let mut routes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for sub in &config.subscriptions {
            for trigger in &sub.triggers {
                routes.entry(trigger).or_default().extend(sub.channels.iter().map(String::as_str));
            }
        }
        let compile = |trigger: &str, field: &'static str, source: &Option<String>| {
            source
                .as_deref()
                .map(|s| {
                    Program::compile(s).map_err(|e| RulesError::Cel {
                        trigger: trigger.to_string(),
                        field,
                        reason: e.to_string(),
                    })
                })
                .transpose()
        };
        let mut triggers = Vec::new();
        for (name, trigger) in &config.triggers {
            let digest_ms = match &trigger.digest {
                Some(digest) if (1..=86_400).contains(&digest.window_seconds) => {
                    Some(digest.window_seconds as i64 * 1000)
                }
                Some(digest) => {
                    return Err(RulesError::Invalid {
                        trigger: name.clone(),
                        field: "digest.windowSeconds",
                        reason: format!("must be 1–86400 seconds, not {}", digest.window_seconds),
                    });
                }
                None => None,
            };
            triggers.push(Trigger {
                digest_ms,
                name: name.clone(),
                types: trigger.on.to_vec(),
                when: compile(name, "when", &trigger.when)?,
                once_per: compile(name, "oncePer", &trigger.once_per)?,
                channels: routes.get(name.as_str()).into_iter().flatten().map(|c| c.to_string()).collect(),
            });
        }
        Ok(Rules {
            triggers,
            silences: config.silences.clone(),
            channels: config.channels.clone(),
            templates: Templates::compile(config)?,
        })
    }

    pub fn channels(&self) -> &BTreeMap<String, ChannelConfig> {
        &self.channels
    }

    /// The channels subscribed to `trigger` (None: no such trigger).
    pub fn channels_of(&self, trigger: &str) -> Option<&[String]> {
        self.triggers.iter().find(|t| t.name == trigger).map(|t| t.channels.as_slice())
    }

    /// The deliveries `event` asks for at `now`. A condition or key that cannot be evaluated on this event (a
    /// missing field) does not match; it is logged with the trigger's name.
    pub fn plan(&self, event: &Incoming, now: DateTime<Utc>, extra: &Extra) -> Result<Vec<Planned>, RenderError> {
        let mut context = Context::default();
        add_event(&mut context, event);
        let mut planned = Vec::new();
        for trigger in &self.triggers {
            if trigger.channels.is_empty() || !trigger.types.iter().any(|ty| type_matches(ty, &event.ty)) {
                continue;
            }
            if let Some(when) = &trigger.when {
                match when.execute(&context) {
                    Ok(CelValue::Bool(true)) => {}
                    Ok(CelValue::Bool(false)) => continue,
                    Ok(other) => {
                        tracing::warn!(trigger = %trigger.name, event = %event.id, value = ?other, "`when` is not a bool");
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(trigger = %trigger.name, event = %event.id, error = %e, "`when` does not apply");
                        continue;
                    }
                }
            }
            let once_key = match &trigger.once_per {
                None => None,
                Some(program) => match program.execute(&context) {
                    Ok(value) => Some(key_text(&value)),
                    Err(e) => {
                        tracing::warn!(trigger = %trigger.name, event = %event.id, error = %e,
                            "`oncePer` cannot be evaluated on this event: not notifying");
                        continue;
                    }
                },
            };
            for channel in &trigger.channels {
                let Some(config) = self.channels.get(channel) else { continue };
                let body = self.templates.body(&trigger.name, channel, config, event, extra)?;
                let thread_key = matches!(config, ChannelConfig::SlackApp { .. })
                    .then(|| {
                        crate::enrich::run_of(event).map(|(ns, name)| format!("{ns}/{name}")).or(event.subject.clone())
                    })
                    .flatten();
                planned.push(Planned {
                    trigger: trigger.name.clone(),
                    channel: channel.clone(),
                    once_key: once_key.clone(),
                    silenced: self.silenced(&trigger.name, channel, now),
                    thread_key,
                    body,
                    digest: trigger.digest_ms.map(|window_ms| crate::digest::DigestPlan {
                        window_ms,
                        combine: crate::digest::Combine::of(config),
                    }),
                });
            }
        }
        Ok(planned)
    }

    fn silenced(&self, trigger: &str, channel: &str, now: DateTime<Utc>) -> bool {
        self.silences.iter().any(|s| s.mutes(trigger, channel, now))
    }

    /// Renders a test message of `trigger` for `channel` from a given event (the API's test-send).
    pub fn render(&self, trigger: &str, channel: &str, event: &Incoming, extra: &Extra) -> Result<Value, RenderError> {
        let config = self.channels.get(channel).ok_or_else(|| RenderError::Unknown(format!("channel `{channel}`")))?;
        self.templates.body(trigger, channel, config, event, extra)
    }
}

fn add_event(context: &mut Context, event: &Incoming) {
    context.add_variable_from_value("id", event.id.clone());
    context.add_variable_from_value("type", event.ty.clone());
    context.add_variable_from_value("source", event.source.clone());
    context.add_variable_from_value("subject", event.subject.clone().map(CelValue::from).unwrap_or(CelValue::Null));
    context
        .add_variable_from_value("time", event.time.map(|t| CelValue::from(t.to_rfc3339())).unwrap_or(CelValue::Null));
    let data = cel::to_value(&event.data).unwrap_or(CelValue::Null);
    context.add_variable_from_value("data", data);
}

/// `harbor.*` matches `harbor.scan.completed`; anything else must be equal.
fn type_matches(pattern: &str, ty: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => ty.starts_with(prefix),
        None => pattern == ty,
    }
}

fn key_text(value: &CelValue) -> String {
    match value {
        CelValue::String(s) => s.to_string(),
        CelValue::Int(i) => i.to_string(),
        CelValue::UInt(u) => u.to_string(),
        CelValue::Float(f) => f.to_string(),
        CelValue::Bool(b) => b.to_string(),
        CelValue::Null => "null".into(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_event as event;
    use serde_json::json;

    fn rules(yaml: &str) -> Rules {
        Rules::compile(&Config::parse(yaml).expect("config")).expect("rules")
    }

    const BASE: &str = r#"
channels:
  hook: { type: webhook, url: "http://127.0.0.1:1/hook" }
  other: { type: webhook, url: "http://127.0.0.1:1/other" }
triggers:
  failed:
    on: dev.cdevents.pipelinerun.finished.0.2.0
    when: 'data.subject.content.outcome == "failure" && data.customData.run.pipeline == "build"'
    oncePer: data.subject.id
  harbor: { on: "harbor.*" }
subscriptions:
  - { triggers: [failed], channels: [hook, other] }
  - { triggers: [harbor], channels: [hook] }
"#;

    fn finished(outcome: &str, pipeline: &str) -> Incoming {
        event(
            "dev.cdevents.pipelinerun.finished.0.2.0",
            json!({"subject": {"id": "ci/build-1", "content": {"outcome": outcome}},
                   "customData": {"run": {"pipeline": pipeline}}}),
        )
    }

    #[test]
    fn conditions_types_and_subscriptions_decide_the_deliveries() {
        let rules = rules(BASE);
        let now = Utc::now();
        let plan = rules.plan(&finished("failure", "build"), now, &Extra::default()).expect("plan");
        let targets: Vec<_> = plan.iter().map(|p| (p.trigger.as_str(), p.channel.as_str())).collect();
        assert_eq!(targets, [("failed", "hook"), ("failed", "other")]);
        assert!(plan.iter().all(|p| p.once_key.as_deref() == Some("ci/build-1") && !p.silenced));
        assert!(rules.plan(&finished("success", "build"), now, &Extra::default()).expect("plan").is_empty());
        assert!(rules.plan(&finished("failure", "deploy"), now, &Extra::default()).expect("plan").is_empty());
        let missing_fields = event("dev.cdevents.pipelinerun.finished.0.2.0", json!({"subject": {}}));
        assert!(
            rules.plan(&missing_fields, now, &Extra::default()).expect("plan").is_empty(),
            "a missing field does not match"
        );
        let pushed = rules.plan(&event("harbor.artifact.pushed", json!({})), now, &Extra::default()).expect("plan");
        assert_eq!(pushed.len(), 1);
        assert_eq!(pushed[0].once_key, None);
        assert!(rules.plan(&event("harborish", json!({})), now, &Extra::default()).expect("plan").is_empty());
    }

    #[test]
    fn silences_mute_a_trigger_or_a_channel_for_their_window() {
        let yaml = format!(
            "{BASE}silences:\n  - {{ channel: other, from: '2026-01-01T00:00:00Z', until: '2026-01-02T00:00:00Z' }}\n"
        );
        let rules = rules(&yaml);
        let inside = DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").expect("time").to_utc();
        let after = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z").expect("time").to_utc();
        let muted: Vec<_> = rules
            .plan(&finished("failure", "build"), inside, &Extra::default())
            .expect("plan")
            .iter()
            .map(|p| p.silenced)
            .collect();
        assert_eq!(muted, [false, true]);
        assert!(
            rules
                .plan(&finished("failure", "build"), after, &Extra::default())
                .expect("plan")
                .iter()
                .all(|p| !p.silenced)
        );
    }

    #[test]
    fn the_example_rule_file_compiles_and_matches_a_failed_run() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules.yaml");
        let config = Config::load(std::path::Path::new(path)).expect("example rules");
        let rules = Rules::compile(&config).expect("compiles");
        let mut failed = finished("failure", "any");
        failed.data["customData"]["run"] = json!({"namespace": "ci", "name": "build-7", "outcome": "Failed"});
        let plan = rules.plan(&failed, Utc::now(), &Extra::default()).expect("plan");
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].body["links"]["diff"], "http://127.0.0.1:8080/runs/ci/build-7/diff");
        let vulnerable = event(
            "dev.tektongraph.image.vulnerabilities.increased.v1",
            json!({"increased": ["high"], "image": {"digest": "sha256:1"}}),
        );
        assert_eq!(rules.plan(&vulnerable, Utc::now(), &Extra::default()).expect("plan").len(), 1);
        let medium_only = event("dev.tektongraph.image.vulnerabilities.increased.v1", json!({"increased": ["medium"]}));
        assert!(rules.plan(&medium_only, Utc::now(), &Extra::default()).expect("plan").is_empty());
    }

    #[test]
    fn the_readmes_rule_file_compiles() {
        let readme = include_str!("../../README.md");
        let start = readme.find("links: { ui: https://tekton-graph.example.org }").expect("the README's rule file");
        let end = start + readme[start..].find("```").expect("its end");
        let config = Config::parse(&readme[start..end]).expect("the README's rule file parses");
        Rules::compile(&config).expect("and compiles");
        assert!(config.channels.len() >= 6 && !config.schedules.is_empty());
    }

    #[test]
    fn bad_cel_names_the_trigger_and_field() {
        let config = Config::parse("triggers: { t: { on: a, oncePer: 'data.(' } }").expect("config");
        let error = Rules::compile(&config).err().expect("refused").to_string();
        assert!(error.starts_with("triggers.t.oncePer: invalid CEL"), "{error}");
    }

    #[test]
    fn a_digest_window_outside_one_second_to_a_day_is_refused() {
        for window in [0, 86_401] {
            let config =
                Config::parse(&format!("triggers: {{ t: {{ on: a, digest: {{ windowSeconds: {window} }} }} }}"))
                    .expect("config");
            let error = Rules::compile(&config).err().expect("refused").to_string();
            assert_eq!(error, format!("triggers.t.digest.windowSeconds: must be 1–86400 seconds, not {window}"));
        }
    }
}
