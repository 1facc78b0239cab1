//! Templates (minijinja, sandboxed, with a fuel limit): the text of messages for people and the JSON bodies for
//! machines, with defaults that say what happened and link to the web UI.
//!
//! A template sees `event` (id, type, source, subject, time, data, extensions), `trigger`, `channel` and `links`
//! (`run`, `diff`, `previous`, `image` in the web UI, when the event names them and `links.ui` is set). Body
//! templates (`body:`) write values as JSON (`{"digest": {{ event.data.resources[0].digest }}}` is valid JSON).

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};
use serde_json::{Value, json};

use crate::config::{ChannelConfig, Config};
use crate::event::Incoming;

/// Instructions one rendering may execute: a runaway template fails instead of stalling ingest.
const FUEL: u64 = 200_000;
/// Discord refuses `content` over 2000 characters.
pub(crate) const DISCORD_MAX_CHARS: usize = 2000;
/// Slack truncates messages over 40,000 characters; we stop well before.
pub(crate) const SLACK_MAX_CHARS: usize = 8000;

/// The `source` of the CloudEvents the notifier sends.
const NOTIFICATION_SOURCE: &str = "/tekton-graph/notifier";
/// Subjects longer than this are cut (mail clients show far less).
const SUBJECT_MAX_CHARS: usize = 200;

const DEFAULT_TEXT: &str = include_str!("templates/message.txt.j2");

/// What templates see besides the event: what changed since the previous run (see [`crate::enrich`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extra {
    pub diff: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template `{name}`: {reason}")]
    Template { name: String, reason: String },
    #[error("template `{name}` did not produce JSON: {reason}")]
    NotJson { name: String, reason: String },
    #[error("unknown {0}")]
    Unknown(String),
}

pub struct Templates {
    env: Environment<'static>,
    ui: Option<url::Url>,
    /// Which trigger and channel have their own templates.
    trigger_message: BTreeMap<String, String>,
    trigger_body: BTreeMap<String, String>,
    channel_text: BTreeMap<String, String>,
    channel_subject: BTreeMap<String, String>,
    channel_body: BTreeMap<String, String>,
}

fn template_error(name: &str, e: minijinja::Error) -> RenderError {
    let mut reason = e.to_string();
    if let Some(detail) = e.detail() {
        reason = format!("{reason}: {detail}");
    }
    RenderError::Template { name: name.to_string(), reason }
}

impl Templates {
    /// Compiles every template of the rule file (a syntax error fails the load, naming the template).
    pub fn compile(config: &Config) -> Result<Templates, RenderError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_fuel(Some(FUEL));
        // Bodies are JSON: every printed value is written as JSON.
        env.set_auto_escape_callback(|name| if name.ends_with(".json") { AutoEscape::Json } else { AutoEscape::None });
        let mut templates = Templates {
            env,
            ui: config.links.ui.clone(),
            trigger_message: BTreeMap::new(),
            trigger_body: BTreeMap::new(),
            channel_text: BTreeMap::new(),
            channel_subject: BTreeMap::new(),
            channel_body: BTreeMap::new(),
        };
        templates.add("default.txt".into(), DEFAULT_TEXT.into())?;
        for (name, trigger) in &config.triggers {
            if let Some(source) = &trigger.message {
                let id = format!("triggers.{name}.message.txt");
                templates.add(id.clone(), source.clone())?;
                templates.trigger_message.insert(name.clone(), id);
            }
            if let Some(source) = &trigger.body {
                let id = format!("triggers.{name}.body.json");
                templates.add(id.clone(), source.clone())?;
                templates.trigger_body.insert(name.clone(), id);
            }
        }
        for (name, channel) in &config.channels {
            let (text, body) = match channel {
                ChannelConfig::Slack { text, .. }
                | ChannelConfig::SlackApp { text, .. }
                | ChannelConfig::Discord { text, .. } => (text, &None),
                ChannelConfig::Email { text, subject, .. } => {
                    if let Some(source) = subject {
                        let id = format!("channels.{name}.subject.txt");
                        templates.add(id.clone(), source.clone())?;
                        templates.channel_subject.insert(name.clone(), id);
                    }
                    (text, &None)
                }
                ChannelConfig::Webhook { body, .. }
                | ChannelConfig::EventListener { body, .. }
                | ChannelConfig::CloudEvents { body, .. }
                | ChannelConfig::Kafka { body, .. } => (&None, body),
            };
            if let Some(source) = text {
                let id = format!("channels.{name}.text.txt");
                templates.add(id.clone(), source.clone())?;
                templates.channel_text.insert(name.clone(), id);
            }
            if let Some(source) = body {
                let id = format!("channels.{name}.body.json");
                templates.add(id.clone(), source.clone())?;
                templates.channel_body.insert(name.clone(), id);
            }
        }
        Ok(templates)
    }

    fn add(&mut self, name: String, source: String) -> Result<(), RenderError> {
        self.env.add_template_owned(name.clone(), source).map_err(|e| template_error(&name, e))
    }

    fn render(
        &self,
        name: &str,
        trigger: &str,
        channel: &str,
        event: &Incoming,
        extra: &Extra,
    ) -> Result<String, RenderError> {
        let template = self.env.get_template(name).map_err(|e| template_error(name, e))?;
        let links = links(self.ui.as_ref(), event);
        template
            .render(
                context! { event => event, trigger => trigger, channel => channel, links => links, diff => extra.diff },
            )
            .map_err(|e| template_error(name, e))
    }

    /// The text of a message for people: the channel's template, else the trigger's, else the default.
    pub fn text(&self, trigger: &str, channel: &str, event: &Incoming, extra: &Extra) -> Result<String, RenderError> {
        let name = self
            .channel_text
            .get(channel)
            .or_else(|| self.trigger_message.get(trigger))
            .map(String::as_str)
            .unwrap_or("default.txt");
        Ok(self.render(name, trigger, channel, event, extra)?.trim().to_string())
    }

    /// The request body `channel` sends for `trigger` and `event`.
    pub fn body(
        &self,
        trigger: &str,
        channel: &str,
        config: &ChannelConfig,
        event: &Incoming,
        extra: &Extra,
    ) -> Result<Value, RenderError> {
        match config {
            ChannelConfig::Slack { .. } => {
                Ok(json!({ "text": truncate(&self.text(trigger, channel, event, extra)?, SLACK_MAX_CHARS) }))
            }
            ChannelConfig::SlackApp { channel: slack_channel, .. } => Ok(json!({
                "channel": slack_channel,
                "text": truncate(&self.text(trigger, channel, event, extra)?, SLACK_MAX_CHARS),
            })),
            ChannelConfig::Discord { .. } => {
                Ok(json!({ "content": truncate(&self.text(trigger, channel, event, extra)?, DISCORD_MAX_CHARS) }))
            }
            ChannelConfig::Email { .. } => {
                let text = self.text(trigger, channel, event, extra)?;
                let subject = match self.channel_subject.get(channel) {
                    Some(name) => self.render(name, trigger, channel, event, extra)?,
                    None => text.lines().next().unwrap_or_default().to_string(),
                };
                // A subject is one line.
                let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
                Ok(json!({ "subject": truncate(&subject, SUBJECT_MAX_CHARS), "text": text }))
            }
            ChannelConfig::Webhook { .. } | ChannelConfig::EventListener { .. } | ChannelConfig::Kafka { .. } => {
                self.machine_body(trigger, channel, event, extra)
            }
            ChannelConfig::CloudEvents { event_type, .. } => Ok(json!({
                "specversion": "1.0",
                // One id per delivery (event, trigger, channel): a retried POST repeats it, receivers drop repeats.
                "id": format!("{}:{trigger}:{channel}", event.id),
                "source": NOTIFICATION_SOURCE,
                "type": event_type,
                "subject": event.subject,
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "datacontenttype": "application/json",
                "data": self.machine_body(trigger, channel, event, extra)?,
            })),
        }
    }
}

impl Templates {
    /// The JSON body for machines: the channel's template, else the trigger's, else trigger, text, event, links.
    fn machine_body(
        &self,
        trigger: &str,
        channel: &str,
        event: &Incoming,
        extra: &Extra,
    ) -> Result<Value, RenderError> {
        let Some(name) = self.channel_body.get(channel).or_else(|| self.trigger_body.get(trigger)) else {
            return Ok(json!({
                "trigger": trigger,
                "text": self.text(trigger, channel, event, extra)?,
                "event": event,
                "links": links(self.ui.as_ref(), event),
                "diff": extra.diff,
            }));
        };
        let text = self.render(name, trigger, channel, event, extra)?;
        serde_json::from_str(&text).map_err(|e| RenderError::NotJson { name: name.clone(), reason: e.to_string() })
    }
}

/// Cuts `text` to `max` characters (never inside a character), marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Web UI links for the run and image the event is about.
fn links(ui: Option<&url::Url>, event: &Incoming) -> Value {
    let Some(ui) = ui else { return json!({}) };
    let base = ui.as_str().trim_end_matches('/');
    let data = &event.data;
    let mut links = serde_json::Map::new();
    let run = [&data["customData"]["run"], &data["run"], &data["image"]["builtBy"], &data["customData"]["producedBy"]]
        .into_iter()
        .find_map(|run| Some((run["namespace"].as_str()?, run["name"].as_str()?)));
    if let Some((namespace, name)) = run {
        let path = format!("{base}/runs/{}/{}", segment(namespace), segment(name));
        links.insert("diff".into(), json!(format!("{path}/diff")));
        links.insert("run".into(), json!(path));
    }
    if let (Some(namespace), Some(name)) = (data["previous"]["namespace"].as_str(), data["previous"]["name"].as_str()) {
        links.insert("previous".into(), json!(format!("{base}/runs/{}/{}", segment(namespace), segment(name))));
    }
    let digest = [&data["customData"]["image"]["digest"], &data["image"]["digest"], &data["resources"][0]["digest"]]
        .into_iter()
        .find_map(Value::as_str);
    if let Some(digest) = digest {
        links.insert("image".into(), json!(format!("{base}/images/{}", segment(digest))));
    }
    Value::Object(links)
}

/// One URL path segment.
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_event as event;

    fn templates(yaml: &str) -> (Templates, Config) {
        let config = Config::parse(yaml).expect("config");
        (Templates::compile(&config).expect("templates"), config)
    }

    #[test]
    fn body_templates_write_json_and_texts_fit_the_channel() {
        let (templates, config) = templates(
            r#"
links: { ui: "http://ui.local/" }
channels:
  el: { type: eventListener, url: "http://el:8080", body: '{"digest": {{ event.data.resources[0].digest }}, "tag": {{ event.data.resources[0].tag }}}' }
  discord: { type: discord, webhookUrl: { env: X }, text: '{% for i in range(3000) %}x{% endfor %}' }
triggers: { t: { on: a } }
"#,
        );
        let pushed = event("harbor.artifact.pushed", json!({"resources": [{"digest": "sha256:ab\"c"}]}));
        let body = templates.body("t", "el", &config.channels["el"], &pushed, &Extra::default()).expect("body");
        assert_eq!(body, json!({"digest": "sha256:ab\"c", "tag": null}));
        let discord =
            templates.body("t", "discord", &config.channels["discord"], &pushed, &Extra::default()).expect("discord");
        let content = discord["content"].as_str().expect("content");
        assert_eq!(content.chars().count(), DISCORD_MAX_CHARS);
        assert!(content.ends_with('…'));
        assert_eq!(links(config.links.ui.as_ref(), &pushed)["image"], "http://ui.local/images/sha256%3Aab%22c");
    }

    #[test]
    fn the_default_text_says_what_happened_and_links_to_it() {
        let (templates, _) = templates("links: { ui: 'http://ui.local' }");
        let regressed = event(
            "dev.tektongraph.run.regressed.v1",
            json!({
                "run": {"namespace": "ci", "name": "build-2", "pipeline": "build", "outcome": "Failed", "reason": "Failed"},
                "previous": {"namespace": "ci", "name": "build-1", "outcome": "Succeeded"},
                "reasons": ["status"],
                "durationSeconds": {"before": 60.0, "after": 95.0},
            }),
        );
        let text = templates.text("t", "c", &regressed, &Extra::default()).expect("text");
        for part in ["ci/build-2", "build", "regressed", "status", "build-1", "http://ui.local/runs/ci/build-2/diff"] {
            assert!(text.contains(part), "{part} missing in:\n{text}");
        }
    }

    #[test]
    fn what_changed_since_the_previous_run_is_in_the_default_text() {
        let (templates, _) = templates("{}");
        let failed = event(
            "dev.cdevents.pipelinerun.finished.0.2.0",
            json!({"subject": {"content": {"outcome": "failure"}},
                   "customData": {"run": {"namespace": "ci", "name": "b-2", "outcome": "Failed"}}}),
        );
        let diff = json!({
            "base": {"namespace": "ci", "name": "b-1", "status": "SUCCEEDED", "durationSeconds": 100.0},
            "head": {"namespace": "ci", "name": "b-2", "status": "FAILED", "durationSeconds": 250.0},
            "commitChanged": true,
            "commits": {"before": {"sha": "aaaaaaaaaa"}, "after": {"sha": "bbbbbbbbbb", "title": "Bump x", "author": "Ada"}},
            "tasks": [
                {"pipelineTask": "test", "change": "STATUS_CHANGED", "statusBefore": "SUCCEEDED", "statusAfter": "FAILED"},
                {"pipelineTask": "lint", "change": "UNCHANGED", "statusBefore": "SUCCEEDED", "statusAfter": "SUCCEEDED"},
            ],
            "scans": {"before": {"critical": 0, "high": 1}, "after": {"critical": 2, "high": 1}, "delta": {"critical": 2, "high": 0}},
        });
        let text = templates.text("t", "c", &failed, &Extra { diff: Some(diff) }).expect("text");
        for line in [
            "since ci/b-1 (succeeded):",
            "• commit aaaaaaa → bbbbbbb \"Bump x\" by Ada",
            "• newly failing: test (succeeded → failed)",
            "• duration 100s → 250s (2.5×)",
            "• new vulnerabilities: critical 0 → 2, high 1 → 1",
        ] {
            assert!(text.lines().any(|l| l == line), "`{line}` missing in:\n{text}");
        }
        assert!(!text.contains("lint"), "unchanged tasks are not listed:\n{text}");
        let plain = templates.text("t", "c", &failed, &Extra::default()).expect("text");
        assert!(!plain.contains("since"), "{plain}");
    }

    #[test]
    fn template_mistakes_name_the_template() {
        let config = Config::parse("triggers: { t: { on: a, message: '{% if %}' } }").expect("config");
        let error = Templates::compile(&config).err().expect("refused").to_string();
        assert!(error.starts_with("template `triggers.t.message.txt`"), "{error}");
        let (templates, config) =
            templates("channels: { w: { type: webhook, url: 'http://x', body: 'not {{ 1 }} json' } }");
        let error = templates
            .body("t", "w", &config.channels["w"], &event("a", json!({})), &Extra::default())
            .expect_err("not json");
        assert!(matches!(error, RenderError::NotJson { .. }), "{error}");
    }
}
