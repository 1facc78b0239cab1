//! What changed since the previous run: for an event about a PipelineRun, the notifier asks graph-service's
//! GraphQL `diff` (tasks newly failing, duration, commit and author, vulnerability delta) so the message says why,
//! not only that. Templates see the answer as `diff`; without a graph configured, or when it does not answer in
//! time, messages go out without it (the reason is logged) — a notification is never held back by the graph.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::event::Incoming;
use crate::secret::{Secret, SecretRef};

const DIFF_QUERY: &str = include_str!("queries/diff.graphql");
const STARTED_BY_QUERY: &str = include_str!("queries/started_by.graphql");

/// Where graph-service answers GraphQL, and the token to read with (a `viewer`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GraphConfig {
    /// graph-service's base URL, e.g. `http://graph-service:8080` (`/graphql` is appended).
    pub url: url::Url,
    pub token: Option<SecretRef>,
    /// How long one question may take, in milliseconds.
    #[serde(default = "default_timeout_millis")]
    pub timeout_millis: u64,
}

fn default_timeout_millis() -> u64 {
    3000
}

pub struct Graph {
    endpoint: url::Url,
    token: Option<Secret>,
    client: reqwest::Client,
}

impl Graph {
    pub fn new(config: &GraphConfig) -> Result<Graph, String> {
        let endpoint = config.url.join("graphql").map_err(|e| format!("graph.url: {e}"))?;
        let token = config.token.as_ref().map(|t| t.resolve().map_err(|e| format!("graph.token: {e}"))).transpose()?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_millis))
            .build()
            .map_err(|e| format!("graph: cannot build an HTTP client: {e}"))?;
        Ok(Graph { endpoint, token, client })
    }

    /// The diff of the run `event` is about against its previous run, if it is about one and graph-service knows.
    pub async fn diff(&self, event: &Incoming) -> Option<Value> {
        let (namespace, name) = run_of(event)?;
        match self.ask(DIFF_QUERY, json!({ "namespace": namespace, "name": name })).await {
            Ok(data) if data["diff"].is_null() => None,
            Ok(data) => Some(data["diff"].clone()),
            Err(error) => {
                tracing::warn!(event = %event.id, %error, "graph-service did not say what changed; sending without");
                None
            }
        }
    }

    /// The PipelineRun (`namespace/name`) the Tekton Triggers event `event_id` started, if the graph has it.
    pub async fn started_by(&self, event_id: &str) -> Result<Option<String>, String> {
        let data = self.ask(STARTED_BY_QUERY, json!({ "id": event_id })).await?;
        let node = &data["pipelineRuns"]["edges"][0]["node"];
        Ok(match (node["namespace"].as_str(), node["name"].as_str()) {
            (Some(namespace), Some(name)) => Some(format!("{namespace}/{name}")),
            _ => None,
        })
    }

    /// One GraphQL question; its `data`, or why there is none.
    async fn ask(&self, query: &str, variables: Value) -> Result<Value, String> {
        let mut request =
            self.client.post(self.endpoint.clone()).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(|e| e.without_url().to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.without_url().to_string())?;
        if !status.is_success() || body.get("errors").is_some_and(|e| !e.is_null()) {
            return Err(format!("HTTP {status}: {}", body.get("errors").unwrap_or(&Value::Null)));
        }
        Ok(body["data"].clone())
    }
}

/// The PipelineRun an event is about: graph-service's `pipelinerun.finished` and `run.regressed` events.
pub fn run_of(event: &Incoming) -> Option<(String, String)> {
    let data = &event.data;
    [&data["customData"]["run"], &data["run"]]
        .into_iter()
        .find_map(|run| Some((run["namespace"].as_str()?.to_string(), run["name"].as_str()?.to_string())))
}
