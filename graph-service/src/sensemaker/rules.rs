//! Which events a set of changes implies. Every rule is a pure function of the changes and the store's state, and
//! every event's id and time come from the facts, so deriving twice gives the same events.
//!
//! Rules look backwards only: a regression or a vulnerability increase is judged when the *later* run or scan is
//! learned. An older run or scan that arrives after the newer one does not re-judge the newer one.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tekton_graph_schema::{ImageFact, Outcome, RunFact, RunKey, RunKind};

use super::{Change, SensemakerConfig, SensemakerError};
use crate::store::GraphStore;
use crate::view::{self, ScanInfo, Severities};

pub const PIPELINERUN_FINISHED: &str = "dev.cdevents.pipelinerun.finished.0.2.0";
pub const ARTIFACT_PUBLISHED: &str = "dev.cdevents.artifact.published.0.2.0";
pub const RUN_REGRESSED: &str = "dev.tektongraph.run.regressed.v1";
pub const VULNERABILITIES_INCREASED: &str = "dev.tektongraph.image.vulnerabilities.increased.v1";
/// The CDEvents spec version of the two CDEvent types (context key `version`).
pub const CDEVENTS_SPEC_VERSION: &str = "0.4.1";
/// How many earlier runs of a pipeline are searched for a previous scanned image (failed builds have none).
const MAX_PREVIOUS_RUNS: usize = 20;

type Result<T> = std::result::Result<T, SensemakerError>;

/// The events the changes imply, in change order, without repeated ids.
pub async fn derive(config: &SensemakerConfig, store: &dyn GraphStore, changes: &[Change]) -> Result<Vec<Event>> {
    let mut events = Events::default();
    for change in changes {
        let trace = change.trace.as_deref();
        if became_final(change) {
            events.push(traced(pipelinerun_finished(config, &change.after)?, trace));
            if let Some(event) = regression(config, store, &change.after).await? {
                events.push(traced(event, trace));
            }
        }
        for image in new_images(change) {
            events.push(traced(artifact_published(config, &change.after, image)?, trace));
        }
    }
    for digest in images_to_check(changes) {
        if let Some(event) = vulnerability_increase(config, store, &digest).await? {
            events.push(event);
        }
    }
    Ok(events.list)
}

/// `event` continuing the trace of the ingest that caused it (the `traceparent` extension), when there is one.
fn traced(mut event: Event, trace: Option<&str>) -> Event {
    if let Some(traceparent) = trace {
        event.set_extension("traceparent", traceparent.to_string());
    }
    event
}

/// Events in insertion order; an id seen before is dropped (a PipelineRun and its TaskRun report one image).
#[derive(Default)]
struct Events {
    list: Vec<Event>,
    ids: HashSet<String>,
}

impl Events {
    fn push(&mut self, event: Event) {
        if self.ids.insert(event.id().to_string()) {
            self.list.push(event);
        }
    }
}

/// A PipelineRun that is final now and was not, or finished differently, before.
fn became_final(change: &Change) -> bool {
    let after = change.after.status.outcome;
    change.after.kind == RunKind::PipelineRun
        && after.is_final()
        && change.before.as_ref().is_none_or(|b| !b.status.outcome.is_final() || b.status.outcome != after)
}

// ---- pipelinerun.finished ------------------------------------------------------------------------------------

fn pipelinerun_finished(config: &SensemakerConfig, run: &RunFact) -> Result<Event> {
    let subject = run_subject(run);
    let outcome = cdevents_outcome(run);
    let completion = run.status.completion_time.map(rfc3339).unwrap_or_default();
    let created = run.creation_timestamp.map(rfc3339).unwrap_or_default();
    let id = event_id(PIPELINERUN_FINISHED, &subject, &[outcome, &completion, &created]);
    let mut content = json!({ "outcome": outcome, "url": graphql_url(config) });
    if let Some(pipeline) = &run.pipeline {
        content["pipelineName"] = json!(pipeline);
    }
    if matches!(outcome, "failure" | "error")
        && let Some(message) = &run.status.message
    {
        content["errors"] = json!(message);
    }
    let custom = json!({
        "run": run_summary(run),
        "links": [link(config, "pipelineRun", &run_query(run))],
    });
    let time = fact_time(run);
    let data = cdevent(config, PIPELINERUN_FINISHED, &id, time, (&subject, "pipelineRun"), content, custom);
    cloud_event(config, PIPELINERUN_FINISHED, id, &subject, time, data)
}

/// CDEvents outcomes: `error` when Tekton could not run the pipeline at all (its reasons say so), `failure` when
/// it ran and failed or timed out, `cancel` when someone stopped it.
fn cdevents_outcome(run: &RunFact) -> &'static str {
    let reason = run.status.reason.as_deref().unwrap_or_default();
    let could_not_run = reason.starts_with("Couldnt")
        || reason.starts_with("Invalid")
        || reason.contains("ValidationFailed")
        || reason.starts_with("Parameter");
    match run.status.outcome {
        Outcome::Succeeded => "success",
        Outcome::Cancelled => "cancel",
        Outcome::Failed if could_not_run => "error",
        _ => "failure",
    }
}

// ---- artifact.published --------------------------------------------------------------------------------------

/// Images of the new observation the stored one did not have, one per digest (the claim that names a
/// repository wins, so the purl is as complete as the run allows).
fn new_images(change: &Change) -> Vec<&ImageFact> {
    let known: BTreeSet<&str> =
        change.before.iter().flat_map(|b| b.supply_chain.images.iter().map(|i| i.digest.as_str())).collect();
    let mut by_digest: BTreeMap<&str, &ImageFact> = BTreeMap::new();
    for image in change.after.supply_chain.images.iter().filter(|i| !known.contains(i.digest.as_str())) {
        let slot = by_digest.entry(image.digest.as_str()).or_insert(image);
        if slot.repository.is_none() && image.repository.is_some() {
            *slot = image;
        }
    }
    by_digest.into_values().collect()
}

fn artifact_published(config: &SensemakerConfig, run: &RunFact, image: &ImageFact) -> Result<Event> {
    let subject = image_purl(&image.digest, image.repository.as_deref());
    // The artifact is published once, whichever run (PipelineRun or its TaskRun) reports it.
    let id = event_id(ARTIFACT_PUBLISHED, &subject, &[]);
    let custom = json!({
        "image": { "digest": image.digest, "repository": image.repository, "tag": image.tag, "url": image.url },
        "producedBy": { "kind": run.kind.as_str(), "namespace": run.namespace, "name": run.name,
                        "pipeline": run.pipeline },
        "links": [link(config, "image", &image_query(&image.digest))],
    });
    let time = fact_time(run);
    let data = cdevent(config, ARTIFACT_PUBLISHED, &id, time, (&subject, "artifact"), json!({}), custom);
    cloud_event(config, ARTIFACT_PUBLISHED, id, &subject, time, data)
}

/// The package URL of an image: `pkg:oci/<name>@sha256%3A<hex>?repository_url=<repository>`, the name being the
/// last path segment of the repository (`unknown` when the run did not name one).
pub fn image_purl(digest: &str, repository: Option<&str>) -> String {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    let name = repository.and_then(|r| r.rsplit('/').next()).filter(|n| !n.is_empty()).unwrap_or("unknown");
    let mut purl = format!("pkg:oci/{}@{algorithm}%3A{hex}", name.to_ascii_lowercase());
    if let Some(repository) = repository {
        purl.push_str("?repository_url=");
        purl.push_str(repository);
    }
    purl
}

// ---- run.regressed -------------------------------------------------------------------------------------------

async fn regression(config: &SensemakerConfig, store: &dyn GraphStore, run: &RunFact) -> Result<Option<Event>> {
    let Some(previous_key) = view::previous_run(store, run).await? else {
        return Ok(None);
    };
    let Some(previous) = load(store, previous_key).await? else {
        return Ok(None);
    };
    let reasons = regressions(config, &previous, run);
    if reasons.is_empty() {
        return Ok(None);
    }
    let subject = run_subject(run);
    let completion = run.status.completion_time.map(rfc3339).unwrap_or_default();
    let id = event_id(RUN_REGRESSED, &subject, &[&run_subject(&previous), &reasons.join(","), &completion]);
    let data = json!({
        "run": run_summary(run),
        "previous": run_summary(&previous),
        "reasons": reasons,
        "durationSeconds": { "before": previous.duration_seconds(), "after": run.duration_seconds() },
        "thresholds": { "durationFactor": config.duration_factor, "durationMinSeconds": config.duration_min_seconds },
        "links": [
            link(config, "diff", &diff_query(run, None)),
            link(config, "pipelineRun", &run_query(run)),
            link(config, "previous", &run_query(&previous)),
        ],
    });
    cloud_event(config, RUN_REGRESSED, id, &subject, fact_time(run), data).map(Some)
}

/// Why `run` is worse than `previous`: `status` (it succeeded, this failed or timed out — a cancellation is
/// someone's decision, not a regression) and `duration` (both succeeded and this took longer than the
/// thresholds allow; a failed run's duration says nothing).
fn regressions(config: &SensemakerConfig, previous: &RunFact, run: &RunFact) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    if previous.status.outcome != Outcome::Succeeded {
        return reasons;
    }
    if matches!(run.status.outcome, Outcome::Failed | Outcome::TimedOut) {
        reasons.push("status");
    }
    if run.status.outcome == Outcome::Succeeded
        && let (Some(before), Some(after)) = (previous.duration_seconds(), run.duration_seconds())
        && after > before * config.duration_factor
        && after > before + config.duration_min_seconds
    {
        reasons.push("duration");
    }
    reasons
}

// ---- image.vulnerabilities.increased -------------------------------------------------------------------------

/// Images whose scans may have changed: those with a newly learned scan, and newly produced ones (their scan may
/// have arrived before the build run).
fn images_to_check(changes: &[Change]) -> BTreeSet<String> {
    let mut digests = BTreeSet::new();
    for change in changes {
        let before = change.before.as_ref().map(|b| &b.supply_chain);
        for scan in &change.after.supply_chain.scans {
            if before.is_none_or(|b| !b.scans.contains(scan))
                && let Some(digest) = &scan.image_digest
            {
                digests.insert(digest.clone());
            }
        }
        digests.extend(new_images(change).into_iter().map(|i| i.digest.clone()));
    }
    digests
}

/// An image of an earlier run and the latest scan of it.
struct PreviousImage {
    run: Arc<RunFact>,
    scan: ScanInfo,
    repository: Option<String>,
}

async fn vulnerability_increase(
    config: &SensemakerConfig,
    store: &dyn GraphStore,
    digest: &str,
) -> Result<Option<Event>> {
    let scans = view::latest_scans_of_images(store, &[digest.to_string()]).await?;
    let Some(image) = view::image(store, digest).await? else {
        return Ok(None);
    };
    let Some(built_by) = image.built_by() else {
        return Ok(None);
    };
    let (Some(scan), Some(run)) = (scans.first(), load(store, built_by).await?) else {
        return Ok(None);
    };
    let Some(previous) = previous_scanned_image(store, &run, digest, image.repository.as_deref()).await? else {
        return Ok(None);
    };
    let (after, before) = (Severities::sum(&scans), Severities::sum(std::slice::from_ref(&previous.scan)));
    let increased: Vec<&str> = [("critical", after.critical > before.critical), ("high", after.high > before.high)]
        .into_iter()
        .filter_map(|(name, up)| up.then_some(name))
        .collect();
    if increased.is_empty() {
        return Ok(None);
    }
    let subject = image_purl(digest, image.repository.as_deref());
    let previous_digest = previous.scan.image_digest.clone().unwrap_or_default();
    let counts = format!("{}/{} after {}/{}", after.critical, after.high, before.critical, before.high);
    let id = event_id(VULNERABILITIES_INCREASED, &subject, &[&previous_digest, &counts]);
    let data = json!({
        "image": image_summary(digest, image.repository.as_deref(), &run),
        "previousImage": image_summary(&previous_digest, previous.repository.as_deref(), &previous.run),
        "before": severities(before),
        "after": severities(after),
        "increased": increased,
        "links": [
            link(config, "image", &image_query(digest)),
            link(config, "previousImage", &image_query(&previous_digest)),
            link(config, "diff", &diff_query(&run, Some(&previous.run.name))),
        ],
    });
    let time = scan.completion_time.unwrap_or_else(|| fact_time(&run));
    cloud_event(config, VULNERABILITIES_INCREASED, id, &subject, time, data).map(Some)
}

/// The nearest earlier run of the pipeline that built `run` whose images were scanned, and its image (the one of
/// the same repository when there are several, else the first by digest).
async fn previous_scanned_image(
    store: &dyn GraphStore,
    run: &RunFact,
    digest: &str,
    repository: Option<&str>,
) -> Result<Option<PreviousImage>> {
    let mut current = Arc::new(run.clone());
    for _ in 0..MAX_PREVIOUS_RUNS {
        let Some(key) = view::previous_run(store, &current).await? else {
            return Ok(None);
        };
        let Some(previous) = load(store, key).await? else {
            return Ok(None);
        };
        let mut digests = view::images_of_run(store, &previous).await?;
        digests.retain(|d| d != digest);
        let mut candidates = Vec::new();
        for scan in view::latest_scans_of_images(store, &digests).await? {
            let repo = match &scan.image_digest {
                Some(d) => view::image(store, d).await?.and_then(|i| i.repository),
                None => None,
            };
            candidates.push((repo, scan));
        }
        let same_repository = candidates.iter().position(|(r, _)| r.is_some() && r.as_deref() == repository);
        if let Some(index) = same_repository.or((!candidates.is_empty()).then_some(0)) {
            let (repository, scan) = candidates.swap_remove(index);
            return Ok(Some(PreviousImage { run: previous, scan, repository }));
        }
        current = previous;
    }
    Ok(None)
}

fn severities(s: Severities) -> Value {
    json!({ "critical": s.critical, "high": s.high, "medium": s.medium, "low": s.low, "unknown": s.unknown })
}

fn image_summary(digest: &str, repository: Option<&str>, built_by: &RunFact) -> Value {
    json!({
        "digest": digest,
        "repository": repository,
        "purl": image_purl(digest, repository),
        "builtBy": { "namespace": built_by.namespace, "name": built_by.name, "pipeline": built_by.pipeline },
    })
}

// ---- shared ----------------------------------------------------------------------------------------------------

async fn load(store: &dyn GraphStore, key: RunKey) -> Result<Option<Arc<RunFact>>> {
    Ok(view::load_facts(store, &[key]).await?.pop())
}

fn run_subject(run: &RunFact) -> String {
    format!("{}/{}", run.namespace, run.name)
}

fn run_summary(run: &RunFact) -> Value {
    json!({
        "namespace": run.namespace,
        "name": run.name,
        "pipeline": run.pipeline,
        "outcome": run.status.outcome.as_str(),
        "reason": run.status.reason,
        "message": run.status.message,
        "startTime": run.status.start_time.map(rfc3339),
        "completionTime": run.status.completion_time.map(rfc3339),
        "durationSeconds": run.duration_seconds(),
    })
}

/// The time an event about a run happened: completion, else start, else creation; the current time only for a
/// run that reported none of them (the event then differs between derivations, its id does not).
fn fact_time(run: &RunFact) -> DateTime<Utc> {
    run.status.completion_time.or(run.status.start_time).or(run.creation_timestamp).unwrap_or_else(Utc::now)
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A deterministic event id: a hash of the type, the subject and the fields that decided the event.
pub fn event_id(ty: &str, subject: &str, deciding: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in [ty, subject].iter().chain(deciding) {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..16])
}

fn graphql_url(config: &SensemakerConfig) -> String {
    format!("{}/graphql", config.public_url.trim_end_matches('/'))
}

/// A GraphQL query to POST to the graph-service for more about the event.
fn link(config: &SensemakerConfig, rel: &str, query: &str) -> Value {
    json!({ "rel": rel, "graphql": graphql_url(config), "query": query })
}

/// A GraphQL string literal (JSON string escaping is valid GraphQL string escaping).
fn literal(text: &str) -> String {
    Value::from(text).to_string()
}

fn run_query(run: &RunFact) -> String {
    format!(
        "{{ pipelineRun(namespace: {}, name: {}) {{ name status reason message startTime completionTime \
         durationSeconds commit {{ sha message repository {{ url }} }} images {{ digest repository tags }} \
         taskRuns {{ name pipelineTask status reason durationSeconds }} previous {{ name status durationSeconds }} }} }}",
        literal(&run.namespace),
        literal(&run.name)
    )
}

/// The diff of a run against `against` (default: the previous run of its pipeline).
fn diff_query(run: &RunFact, against: Option<&str>) -> String {
    let against = against.map(|a| format!(", against: {}", literal(a))).unwrap_or_default();
    format!(
        "{{ diff(namespace: {}, name: {}{against}) {{ base {{ name status durationSeconds }} head {{ name status \
         durationSeconds }} statusChanged durationDeltaSeconds commits {{ before {{ sha message }} after {{ sha \
         message }} }} tasks {{ pipelineTask change statusBefore statusAfter durationDeltaSeconds }} images {{ added \
         removed }} scans {{ before {{ critical high }} after {{ critical high }} delta {{ critical high }} }} }} }}",
        literal(&run.namespace),
        literal(&run.name)
    )
}

fn image_query(digest: &str) -> String {
    format!(
        "{{ image(digest: {}) {{ digest repository tags builtBy {{ namespace name status }} commit {{ sha message }} \
         scans {{ id critical high vulnerabilities {{ medium low unknown total }} completionTime }} }} }}",
        literal(digest)
    )
}

/// A CDEvent (spec 0.4.1 shape) as JSON.
fn cdevent(
    config: &SensemakerConfig,
    ty: &str,
    id: &str,
    time: DateTime<Utc>,
    (subject, subject_type): (&str, &str),
    content: Value,
    custom_data: Value,
) -> Value {
    json!({
        "context": {
            "version": CDEVENTS_SPEC_VERSION,
            "id": id,
            "source": config.source,
            "type": ty,
            "timestamp": rfc3339(time),
        },
        "subject": { "id": subject, "type": subject_type, "content": content },
        "customData": custom_data,
        "customDataContentType": "application/json",
    })
}

fn cloud_event(
    config: &SensemakerConfig,
    ty: &str,
    id: String,
    subject: &str,
    time: DateTime<Utc>,
    data: Value,
) -> Result<Event> {
    EventBuilderV10::new()
        .id(id)
        .ty(ty)
        .source(config.source.clone())
        .subject(subject)
        .time(time)
        .data("application/json", data)
        .build()
        .map_err(|e| SensemakerError::Build { ty: ty.to_string(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_follow_the_cdevents_examples() {
        let digest = "sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9";
        assert_eq!(
            image_purl(digest, Some("ghcr.io/joostvdg/idec")),
            "pkg:oci/idec@sha256%3Ab29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9\
             ?repository_url=ghcr.io/joostvdg/idec"
        );
        assert!(image_purl(digest, None).starts_with("pkg:oci/unknown@sha256%3Ab29e"));
    }

    #[test]
    fn ids_depend_on_every_deciding_field() {
        let a = event_id(PIPELINERUN_FINISHED, "ns/run", &["success", "t1"]);
        assert_eq!(a, event_id(PIPELINERUN_FINISHED, "ns/run", &["success", "t1"]));
        assert_ne!(a, event_id(PIPELINERUN_FINISHED, "ns/run", &["failure", "t1"]));
        assert_ne!(a, event_id(PIPELINERUN_FINISHED, "ns/run", &["success", "t2"]));
        assert_ne!(event_id("t", "ab", &["c"]), event_id("t", "a", &["bc"]), "parts are separated");
        assert_eq!(a.len(), 32);
    }
}
