//! `harvester watch`: PipelineRuns and TaskRuns from the Kubernetes API, as they are listed, changed and deleted.
//!
//! One `kube::runtime::watcher` per (kind, namespace) — or per kind cluster-wide with `--all-namespaces` — on
//! `DynamicObject`, so no compiled Tekton types are needed and either served version works. The streams are merged
//! and every object is forwarded as it arrives, then dropped: there is no reflector store, so memory does not grow
//! with the number of runs in the cluster. A restart simply lists everything again; the graph keeps the newest
//! observation of each run, so seeing a run twice changes nothing.
//!
//! Delete events can be missed while the watch is down (kube's watcher documents this); a re-list then no longer
//! contains the run, and nothing marks it deleted. The graph keeps it as last seen.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ::kube::api::{Api, DynamicObject, TypeMeta};
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::discovery::{self, ApiResource};
use ::kube::runtime::{WatchStreamExt, watcher};
use ::kube::{Client, Config};
use chrono::{DateTime, Utc};
use clap::Args;
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::mpsc;

use super::{Payload, SourceError, SourceItem};
use crate::report::error_chain;

/// The Tekton API group and the kinds watched in it.
const GROUP: &str = "tekton.dev";
const KINDS: &[&str] = &["PipelineRun", "TaskRun"];
/// Versions tried per kind, preferred first: v1 is served by Tekton ≥ 0.44, v1beta1 by older releases.
const VERSIONS: &[&str] = &["v1", "v1beta1"];

#[derive(Debug, Clone, Args)]
pub struct KubeSourceConfig {
    /// Namespace to watch (repeatable, or comma-separated). Default: the kubeconfig context's namespace.
    #[arg(long = "namespace", short = 'n', env = "HARVESTER_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Watch every namespace with one cluster-wide watch per kind.
    #[arg(long, short = 'A', env = "HARVESTER_ALL_NAMESPACES", conflicts_with = "namespaces")]
    pub all_namespaces: bool,
    /// Only runs whose labels match, e.g. `app.kubernetes.io/managed-by=tekton-pipelines,team!=sandbox`.
    #[arg(long, short = 'l', env = "HARVESTER_SELECTOR")]
    pub selector: Option<String>,
    /// Kubeconfig file. Default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, env = "HARVESTER_CONTEXT")]
    pub context: Option<String>,
    /// Objects per list page while (re-)listing; bounds the memory a re-list needs.
    #[arg(long, env = "HARVESTER_PAGE_SIZE", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,
}

/// Why the watch could not start. Once started, errors are reported as items and the watch retries.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot read the kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("cannot create the Kubernetes client: {0}")]
    Client(String),
    #[error("cannot discover the {GROUP} API (are Tekton's CRDs installed?): {0}")]
    Discovery(String),
    #[error("{GROUP} serves no {kind} in {versions}", versions = VERSIONS.join(" or "))]
    NotServed { kind: &'static str },
}

/// What the watch emits: objects, and the end of each (re-)list.
#[derive(Debug)]
pub enum Watched {
    Item(SourceItem),
    /// A watcher finished listing: `objects` were listed in `elapsed`. Follows a start, or a re-list after the
    /// API server expired the watch's resource version.
    Listed {
        origin: String,
        objects: u64,
        elapsed: Duration,
    },
}

/// One resolved watch: a kind at its served version, in one namespace or all.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: ApiResource,
    pub namespace: Option<String>,
}

impl Target {
    /// `PipelineRuns (tekton.dev/v1) in namespace ci`, as shown on stderr.
    pub fn describe(&self) -> String {
        let scope = match &self.namespace {
            Some(ns) => format!("namespace {ns}"),
            None => "all namespaces".to_string(),
        };
        format!("{}s ({}) in {scope}", self.resource.kind, self.resource.api_version)
    }
}

/// A connected client and the watches to run; resolved once, at start, so a missing CRD fails fast.
#[derive(Clone)]
pub struct KubeSource {
    client: Client,
    targets: Vec<Target>,
    watcher_config: watcher::Config,
}

impl KubeSource {
    /// Connects, discovers the served Tekton versions and resolves the namespaces.
    pub async fn connect(config: &KubeSourceConfig) -> Result<Self, KubeError> {
        let client = client(config).await?;
        let resources = discover(&client).await?;
        let namespaces: Vec<Option<String>> = if config.all_namespaces {
            vec![None]
        } else if config.namespaces.is_empty() {
            vec![Some(client.default_namespace().to_string())]
        } else {
            config.namespaces.iter().cloned().map(Some).collect()
        };
        let targets = resources
            .iter()
            .flat_map(|resource| {
                namespaces.iter().map(|namespace| Target { resource: resource.clone(), namespace: namespace.clone() })
            })
            .collect();
        let mut watcher_config = watcher::Config::default().page_size(config.page_size);
        if let Some(selector) = &config.selector {
            watcher_config = watcher_config.labels(selector);
        }
        Ok(KubeSource { client, targets, watcher_config })
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }
}

async fn client(config: &KubeSourceConfig) -> Result<Client, KubeError> {
    let options = KubeConfigOptions { context: config.context.clone(), ..KubeConfigOptions::default() };
    let kubeconfig_error = |e: &dyn std::error::Error| KubeError::Kubeconfig(error_chain(e));
    let kube_config = match &config.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(&e))?;
            Config::from_custom_kubeconfig(kubeconfig, &options).await.map_err(|e| kubeconfig_error(&e))?
        }
        // A named context only makes sense with a kubeconfig file; in-cluster has none.
        None if config.context.is_some() => {
            Config::from_kubeconfig(&options).await.map_err(|e| kubeconfig_error(&e))?
        }
        None => Config::infer().await.map_err(|e| kubeconfig_error(&e))?,
    };
    Client::try_from(kube_config).map_err(|e| KubeError::Client(error_chain(&e)))
}

/// Per kind, the first of [`VERSIONS`] the API server serves.
async fn discover(client: &Client) -> Result<Vec<ApiResource>, KubeError> {
    let group = discovery::group(client, GROUP).await.map_err(|e| KubeError::Discovery(error_chain(&e)))?;
    let served = |version: &str| group.versioned_resources(version).into_iter().map(|(r, _)| r).collect();
    let mut found = Vec::new();
    for kind in KINDS {
        let resource = choose(served, kind).ok_or(KubeError::NotServed { kind })?;
        tracing::info!(kind, api_version = %resource.api_version, "watching");
        found.push(resource);
    }
    Ok(found)
}

/// The resource of `kind` at the first of [`VERSIONS`] that `served(version)` lists it in.
fn choose(served: impl Fn(&str) -> Vec<ApiResource>, kind: &str) -> Option<ApiResource> {
    VERSIONS.iter().find_map(|version| served(version).into_iter().find(|r| r.kind == kind))
}

/// Watches every target until the receiver is dropped. Watch errors are emitted as items and retried with
/// kube's default backoff; they never end the watch.
pub async fn run(source: KubeSource, out: mpsc::Sender<Watched>) {
    let streams: Vec<BoxStream<'static, (usize, watcher::Result<watcher::Event<DynamicObject>>)>> = source
        .targets
        .iter()
        .enumerate()
        .map(|(index, target)| {
            let api = match &target.namespace {
                Some(ns) => Api::<DynamicObject>::namespaced_with(source.client.clone(), ns, &target.resource),
                None => Api::<DynamicObject>::all_with(source.client.clone(), &target.resource),
            };
            watcher(api, source.watcher_config.clone()).default_backoff().map(move |event| (index, event)).boxed()
        })
        .collect();
    let mut lists: Vec<ListProgress> = source.targets.iter().map(|_| ListProgress::new()).collect();
    let mut merged = stream::select_all(streams);
    while let Some((index, event)) = merged.next().await {
        let target = &source.targets[index];
        let Some(watched) = handle(target, &mut lists[index], event) else { continue };
        if out.send(watched).await.is_err() {
            return;
        }
    }
}

/// Counts a (re-)list from `Init` to `InitDone`, for the `Listed` line.
struct ListProgress {
    started: Instant,
    objects: u64,
}

impl ListProgress {
    fn new() -> Self {
        ListProgress { started: Instant::now(), objects: 0 }
    }
}

fn handle(
    target: &Target,
    list: &mut ListProgress,
    event: watcher::Result<watcher::Event<DynamicObject>>,
) -> Option<Watched> {
    use watcher::Event;
    let item = match event {
        Ok(Event::Init) => {
            tracing::debug!(target = %target.describe(), "listing");
            *list = ListProgress::new();
            return None;
        }
        Ok(Event::InitDone) => {
            let (origin, objects, elapsed) = (target.describe(), list.objects, list.started.elapsed());
            tracing::info!(%origin, objects, ?elapsed, "listed");
            return Some(Watched::Listed { origin, objects, elapsed });
        }
        Ok(Event::InitApply(object)) => {
            list.objects += 1;
            object_item(target, object, false)
        }
        Ok(Event::Apply(object)) => object_item(target, object, false),
        Ok(Event::Delete(object)) => object_item(target, object, true),
        Err(e) => {
            tracing::warn!(target = %target.describe(), error = %e, "watch failed; retrying");
            SourceItem { origin: target.describe(), payload: Err(SourceError::Watch(error_chain(&e))) }
        }
    };
    Some(Watched::Item(item))
}

/// The object as JSON, with `apiVersion`/`kind` filled in when the API server left them out (list items may
/// omit them). A deleted object is stamped with its `deletionTimestamp`, or now when it has none.
fn object_item(target: &Target, mut object: DynamicObject, deleted: bool) -> SourceItem {
    let resource = &target.resource;
    let kind = resource.kind.as_str();
    let origin = format!(
        "{kind} {}/{}",
        object.metadata.namespace.as_deref().unwrap_or(""),
        object.metadata.name.as_deref().unwrap_or("")
    );
    object.types.get_or_insert_with(|| TypeMeta { api_version: resource.api_version.clone(), kind: kind.into() });
    let payload = serde_json::to_value(&object)
        .map(|object| {
            let deleted_at = deleted.then(|| deletion_time(&object).unwrap_or_else(Utc::now));
            Payload::Object { object, deleted_at }
        })
        .map_err(|e| SourceError::Encode(e.to_string()));
    SourceItem { origin, payload }
}

fn deletion_time(object: &serde_json::Value) -> Option<DateTime<Utc>> {
    object.pointer("/metadata/deletionTimestamp")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target(namespace: Option<&str>) -> Target {
        let resource = ApiResource {
            group: GROUP.into(),
            version: "v1".into(),
            api_version: "tekton.dev/v1".into(),
            kind: "PipelineRun".into(),
            plural: "pipelineruns".into(),
        };
        Target { resource, namespace: namespace.map(String::from) }
    }

    #[test]
    fn v1_is_preferred_and_v1beta1_is_the_fallback() {
        let resource = |version: &str, kind: &str| ApiResource {
            group: GROUP.into(),
            version: version.into(),
            api_version: format!("{GROUP}/{version}"),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        };
        // An old Tekton (v1beta1 only), a current one (both), and one whose v1 lacks TaskRuns.
        let old =
            |v: &str| if v == "v1beta1" { vec![resource(v, "PipelineRun"), resource(v, "TaskRun")] } else { vec![] };
        let both = |v: &str| vec![resource(v, "PipelineRun"), resource(v, "TaskRun")];
        let partial = |v: &str| if v == "v1" { vec![resource(v, "PipelineRun")] } else { both(v) };
        let version = |r: Option<ApiResource>| r.map(|r| r.api_version);
        assert_eq!(version(choose(old, "PipelineRun")).as_deref(), Some("tekton.dev/v1beta1"));
        assert_eq!(version(choose(both, "PipelineRun")).as_deref(), Some("tekton.dev/v1"));
        assert_eq!(version(choose(partial, "TaskRun")).as_deref(), Some("tekton.dev/v1beta1"));
        assert_eq!(version(choose(|_| vec![], "TaskRun")), None);
    }

    fn object(extra: serde_json::Value) -> DynamicObject {
        let mut value = json!({"metadata": {"name": "build-1", "namespace": "ci"}});
        if let (Some(base), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(value).expect("object")
    }

    #[test]
    fn deleted_objects_carry_their_deletion_timestamp_or_now() {
        let stamped = object(json!({"metadata": {"name": "build-1", "namespace": "ci",
            "deletionTimestamp": "2024-05-15T11:00:00Z"}}));
        let item = object_item(&target(Some("ci")), stamped, true);
        assert_eq!(item.origin, "PipelineRun ci/build-1");
        let Ok(Payload::Object { object, deleted_at }) = item.payload else { panic!("object payload") };
        assert_eq!(deleted_at, "2024-05-15T11:00:00Z".parse().ok());
        assert_eq!(object["apiVersion"], "tekton.dev/v1", "type filled in from the resource");
        assert_eq!(object["kind"], "PipelineRun");

        let before = Utc::now();
        let Ok(Payload::Object { deleted_at, .. }) = object_item(&target(None), object_of_kind(), true).payload else {
            panic!("object payload")
        };
        assert!(deleted_at.is_some_and(|t| t >= before), "no deletionTimestamp: now");
        let Ok(Payload::Object { deleted_at, .. }) = object_item(&target(None), object_of_kind(), false).payload else {
            panic!("object payload")
        };
        assert_eq!(deleted_at, None);
    }

    fn object_of_kind() -> DynamicObject {
        object(json!({"apiVersion": "tekton.dev/v1beta1", "kind": "PipelineRun"}))
    }

    #[test]
    fn a_list_is_counted_from_init_to_init_done() {
        let target = target(None);
        let mut list = ListProgress::new();
        assert!(handle(&target, &mut list, Ok(watcher::Event::Init)).is_none());
        for _ in 0..3 {
            assert!(matches!(
                handle(&target, &mut list, Ok(watcher::Event::InitApply(object_of_kind()))),
                Some(Watched::Item(_))
            ));
        }
        let _ = handle(&target, &mut list, Ok(watcher::Event::Apply(object_of_kind())));
        match handle(&target, &mut list, Ok(watcher::Event::InitDone)) {
            Some(Watched::Listed { origin, objects, .. }) => {
                assert_eq!(objects, 3);
                assert_eq!(origin, "PipelineRuns (tekton.dev/v1) in all namespaces");
            }
            other => panic!("expected Listed, got {other:?}"),
        }
    }
}
