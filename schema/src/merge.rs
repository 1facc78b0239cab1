//! Merging partial observations of one run (CDEvents) into one fact.
//!
//! A fact from a Tekton object is complete, so the store simply keeps the newest one. A CDEvent says only part of
//! the story — `started` knows the start time, `finished` the outcome — so the graph service merges each CDEvent
//! fact into the stored CDEvent observation of the same run with [`merge_observations`].
//!
//! Events arrive in any order and may be redelivered, so the merge is a *join* (least upper bound): commutative,
//! associative and idempotent. The merged fact is then a function of the **set** of events merged, whatever their
//! order or repetitions. Every field is joined on its own order:
//!
//! | field | join |
//! |---|---|
//! | outcome, with condition status, reason, message | higher (is final, then [`Outcome`](crate::Outcome) order) |
//! | condition fields of equal outcomes | each the larger |
//! | start time | the earlier |
//! | completion time, deletion time, creation time, observed-from | the later / larger |
//! | other `Option` scalars | `Some` beats `None`; of two `Some`s the larger |
//! | source revision | the more complete (repository, commit) pair, then larger; the rest joins field by field |
//! | trigger, owner reference | the larger, as a whole (their fields name one node together) |
//! | labels, annotations | union; the larger value on a key clash |
//! | lists (params, results, children, steps, images, …) | sorted union without duplicates, by canonical JSON |
//! | pipeline tasks, skipped tasks | the same union: two observations of one task that differ are both kept |
//! | [`EVENT_IDS_ANNOTATION`] | union of the comma-separated event keys, sorted |
//! | resource version | the number of merged event keys (or an input's, if larger) |
//!
//! The resource version is what makes the store accept a merge: every new event adds a key, which raises the
//! count and so the [`RunFact::observation_rank`]; a redelivered event adds nothing and gives an equal fact, which
//! the store ignores.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::canonical::canonical_json;

use crate::fact::{OwnerRef, RunFact, RunStatus, SourceFact, SupplyChain, TriggerFact};

/// The annotation holding the keys of the CDEvents merged into a fact: sorted, comma-separated, with `,` and `%`
/// inside a key percent-encoded ([`encode_event_key`]).
pub const EVENT_IDS_ANNOTATION: &str = "cdevents.dev/event-ids";

/// Escapes a key for [`EVENT_IDS_ANNOTATION`], so that a `,` inside an event id cannot split it.
pub fn encode_event_key(key: &str) -> String {
    key.replace('%', "%25").replace(',', "%2C")
}

/// The event keys recorded in a fact (still encoded).
pub fn event_keys(fact: &RunFact) -> BTreeSet<&str> {
    split_keys(fact.annotations.get(EVENT_IDS_ANNOTATION).map(String::as_str))
}

/// Joins two observations of one run; see the module docs for the rules. Facts of different runs are not meant
/// to be merged; if they are, kind, namespace and name are joined like any other field.
pub fn merge_observations(a: &RunFact, b: &RunFact) -> RunFact {
    let annotations = merge_annotations(&a.annotations, &b.annotations);
    let event_count = split_keys(annotations.get(EVENT_IDS_ANNOTATION).map(String::as_str)).len();
    RunFact {
        schema_version: a.schema_version.max(b.schema_version),
        kind: a.kind.max(b.kind),
        api_version: larger(&a.api_version, &b.api_version),
        uid: larger(&a.uid, &b.uid),
        namespace: a.namespace.clone().max(b.namespace.clone()),
        name: a.name.clone().max(b.name.clone()),
        name_derived: a.name_derived || b.name_derived,
        resource_version: resource_version(&a.resource_version, &b.resource_version, event_count),
        generation: a.generation.max(b.generation),
        creation_timestamp: a.creation_timestamp.max(b.creation_timestamp),
        observed_from: a.observed_from.max(b.observed_from),
        pipeline: larger(&a.pipeline, &b.pipeline),
        task: larger(&a.task, &b.task),
        pipeline_task: larger(&a.pipeline_task, &b.pipeline_task),
        pipeline_run: larger_by(&a.pipeline_run, &b.pipeline_run, owner_key),
        labels: merge_maps(&a.labels, &b.labels),
        annotations,
        params: union(&a.params, &b.params),
        results: union(&a.results, &b.results),
        status: merge_status(&a.status, &b.status),
        children: union(&a.children, &b.children),
        steps: union(&a.steps, &b.steps),
        pipeline_tasks: union(&a.pipeline_tasks, &b.pipeline_tasks),
        skipped_tasks: union(&a.skipped_tasks, &b.skipped_tasks),
        supply_chain: merge_supply_chain(&a.supply_chain, &b.supply_chain),
        deleted_at: a.deleted_at.max(b.deleted_at),
    }
}

/// `Some` beats `None`; of two `Some`s the larger (Option's own order).
fn larger<T: Ord + Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
    a.clone().max(b.clone())
}

/// Like [`larger`], for types without `Ord`, by an injective key.
fn larger_by<T: Clone, K: Ord>(a: &Option<T>, b: &Option<T>, key: impl Fn(&T) -> K) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if key(x) >= key(y) { x.clone() } else { y.clone() }),
        (x, y) => x.clone().or_else(|| y.clone()),
    }
}

/// `Some` beats `None`; of two `Some`s the earlier.
fn earlier(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn owner_key(o: &OwnerRef) -> (String, Option<String>) {
    (o.name.clone(), o.uid.clone())
}

fn trigger_key(t: &TriggerFact) -> [Option<String>; 4] {
    [t.kind.clone(), t.event_listener.clone(), t.trigger.clone(), t.event_id.clone()]
}

/// The largest resource version in the order of [`RunFact::observation_rank`] (number, then text) among the
/// inputs' and the event count. Translated CDEvent facts carry their event count, so this is the count of the
/// union; taking the inputs' too keeps the merged rank at least theirs whatever they carry.
fn resource_version(a: &Option<String>, b: &Option<String>, event_count: usize) -> Option<String> {
    let count = (event_count > 0).then(|| event_count.to_string());
    [a.clone(), b.clone(), count].into_iter().flatten().max_by_key(|rv| (rv.parse::<u64>().unwrap_or(0), rv.clone()))
}

fn split_keys(value: Option<&str>) -> BTreeSet<&str> {
    value.into_iter().flat_map(|v| v.split(',')).map(str::trim).filter(|k| !k.is_empty()).collect()
}

fn merge_maps(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut merged = a.clone();
    for (key, value) in b {
        merged.entry(key.clone()).and_modify(|v| *v = v.clone().max(value.clone())).or_insert_with(|| value.clone());
    }
    merged
}

fn merge_annotations(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut merged = merge_maps(a, b);
    let keys: BTreeSet<&str> = event_keys_of(a).union(&event_keys_of(b)).copied().collect();
    if !keys.is_empty() {
        merged.insert(EVENT_IDS_ANNOTATION.to_string(), keys.into_iter().collect::<Vec<_>>().join(","));
    }
    merged
}

fn event_keys_of(map: &BTreeMap<String, String>) -> BTreeSet<&str> {
    split_keys(map.get(EVENT_IDS_ANNOTATION).map(String::as_str))
}

/// Sorted union without duplicates, ordered and compared by canonical JSON.
fn union<T: Serialize + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut keyed: BTreeMap<String, &T> = BTreeMap::new();
    for item in a.iter().chain(b) {
        keyed.entry(canonical_key(item)).or_insert(item);
    }
    keyed.into_values().cloned().collect()
}

fn canonical_key<T: Serialize>(item: &T) -> String {
    // Our fact types always serialize (no non-string map keys); an empty key would only merge them as equal.
    serde_json::to_value(item).map(|value| canonical_json(&value)).unwrap_or_default()
}

/// Outcome first (a final outcome beats any other), and the condition fields with it: they describe that
/// outcome, so the losing side's are dropped. The times join on their own.
fn merge_status(a: &RunStatus, b: &RunStatus) -> RunStatus {
    let rank = |s: &RunStatus| (s.outcome.is_final(), s.outcome);
    let mut merged = match rank(a).cmp(&rank(b)) {
        Ordering::Greater => a.clone(),
        Ordering::Less => b.clone(),
        Ordering::Equal => RunStatus {
            outcome: a.outcome,
            condition_status: larger(&a.condition_status, &b.condition_status),
            reason: larger(&a.reason, &b.reason),
            message: larger(&a.message, &b.message),
            ..RunStatus::default()
        },
    };
    merged.start_time = earlier(a.start_time, b.start_time);
    merged.completion_time = a.completion_time.max(b.completion_time);
    merged
}

fn merge_supply_chain(a: &SupplyChain, b: &SupplyChain) -> SupplyChain {
    let source = match (&a.source, &b.source) {
        (Some(x), Some(y)) => Some(merge_source(x, y)),
        (x, y) => x.clone().or_else(|| y.clone()),
    };
    SupplyChain {
        source,
        trigger: larger_by(&a.trigger, &b.trigger, trigger_key),
        images: union(&a.images, &b.images),
        artifacts: union(&a.artifacts, &b.artifacts),
        scans: union(&a.scans, &b.scans),
        rerun_of: larger(&a.rerun_of, &b.rerun_of),
        signed: larger(&a.signed, &b.signed),
        transparency: larger(&a.transparency, &b.transparency),
    }
}

/// Repository and commit name one Commit node together, so they are never mixed from two sources: the more
/// complete pair wins whole. Two observations of the same pair join their other fields one by one.
fn merge_source(a: &SourceFact, b: &SourceFact) -> SourceFact {
    let identity = |s: &SourceFact| {
        let known = usize::from(s.repository.is_some()) + usize::from(s.commit_sha.is_some());
        (known, s.repository.clone(), s.commit_sha.clone())
    };
    match identity(a).cmp(&identity(b)) {
        Ordering::Greater => a.clone(),
        Ordering::Less => b.clone(),
        Ordering::Equal => SourceFact {
            repository_url: larger(&a.repository_url, &b.repository_url),
            repository: a.repository.clone(),
            commit_sha: a.commit_sha.clone(),
            author: larger(&a.author, &b.author),
            author_email: larger(&a.author_email, &b.author_email),
            message: larger(&a.message, &b.message),
            timestamp: larger(&a.timestamp, &b.timestamp),
            branch: larger(&a.branch, &b.branch),
            evidence: a.evidence.iter().chain(&b.evidence).cloned().collect::<BTreeSet<_>>().into_iter().collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fact::{
        ArtifactFact, ArtifactRole, FACT_SCHEMA_VERSION, ImageFact, NamedValue, ObservedFrom, Outcome, PipelineTask,
        RunKind, SkippedTask, Step,
    };

    const DIGEST: &str = "sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427";

    fn time(s: &str) -> DateTime<Utc> {
        s.parse().expect("test time")
    }

    /// A CDEvent fact as the translator makes it from the cdevents/spec conformance files, with its own event key.
    fn event_fact(key: &str) -> RunFact {
        RunFact {
            schema_version: FACT_SCHEMA_VERSION,
            kind: RunKind::PipelineRun,
            api_version: None,
            uid: None,
            namespace: "/event/source/123".into(),
            name: "mySubject123".into(),
            name_derived: false,
            resource_version: Some("1".into()),
            generation: None,
            creation_timestamp: None,
            observed_from: ObservedFrom::CdEvent,
            pipeline: None,
            task: None,
            pipeline_task: None,
            pipeline_run: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::from([
                (EVENT_IDS_ANNOTATION.to_string(), encode_event_key(key)),
                ("cdevents.dev/chain-id".to_string(), "4c8cb7dd-3448-41de-8768-eec704e2829b".to_string()),
            ]),
            params: vec![],
            results: vec![],
            status: RunStatus::default(),
            children: vec![],
            steps: vec![],
            pipeline_tasks: vec![],
            skipped_tasks: vec![],
            supply_chain: SupplyChain {
                trigger: Some(TriggerFact {
                    kind: Some("cdevents-chain".into()),
                    event_listener: Some("cdevents".into()),
                    trigger: Some("4c8cb7dd-3448-41de-8768-eec704e2829b".into()),
                    event_id: Some("4c8cb7dd-3448-41de-8768-eec704e2829b".into()),
                }),
                ..SupplyChain::default()
            },
            deleted_at: None,
        }
    }

    fn queued() -> RunFact {
        let mut f = event_fact("dev.cdevents.pipelinerun.queued.0.2.0/q1");
        f.pipeline = Some("myPipeline".into());
        f.status.outcome = Outcome::Pending;
        f
    }

    fn started() -> RunFact {
        let mut f = event_fact("dev.cdevents.pipelinerun.started.0.2.0/s1");
        f.pipeline = Some("myPipeline".into());
        f.annotations.insert("cdevents.dev/url".into(), "https://www.example.com/mySubject123".into());
        f.status = RunStatus {
            outcome: Outcome::Running,
            start_time: Some(time("2023-03-20T14:27:05.315384Z")),
            ..RunStatus::default()
        };
        f
    }

    fn finished() -> RunFact {
        let mut f = event_fact("dev.cdevents.pipelinerun.finished.0.2.0/f1");
        f.pipeline = Some("myPipeline".into());
        f.status = RunStatus {
            outcome: Outcome::Failed,
            message: Some("Something went wrong\nWith some more details".into()),
            completion_time: Some(time("2023-03-20T14:29:00Z")),
            ..RunStatus::default()
        };
        f
    }

    fn build_finished() -> RunFact {
        let mut f = event_fact("dev.cdevents.build.finished.0.2.0/b,1");
        f.labels.insert("cdevents.dev/subject-type".into(), "build".into());
        f.status = RunStatus {
            outcome: Outcome::Succeeded,
            completion_time: Some(time("2023-03-20T14:28:00Z")),
            ..RunStatus::default()
        };
        f.supply_chain.images.push(ImageFact {
            digest: DIGEST.into(),
            repository: Some("myapp".into()),
            tag: None,
            url: Some("pkg:oci/myapp@sha256%3A0b31".into()),
            evidence: "cdevents:build.finished".into(),
        });
        f
    }

    fn artifact_packaged() -> RunFact {
        let mut f = event_fact("dev.cdevents.artifact.packaged.0.2.0/a1");
        f.supply_chain.artifacts.push(ArtifactFact {
            uri: "pkg:maven/org.example/app@1.2.0?checksum=sha1:ad9503c3e994a4f611a4892f2e67ac82df727086".into(),
            digest: "sha1:ad9503c3e994a4f611a4892f2e67ac82df727086".into(),
            role: ArtifactRole::Output,
            evidence: "cdevents:artifact.packaged".into(),
        });
        f.supply_chain.source = Some(SourceFact {
            repository_url: Some("my-git.example/an-org/a-repo".into()),
            repository: Some("my-git.example/an-org/a-repo".into()),
            commit_sha: Some("myChange123".into()),
            evidence: vec!["cdevents:artifact.packaged".into()],
            ..SourceFact::default()
        });
        f.params.push(NamedValue { name: "p".into(), value: serde_json::json!({"b": 1, "a": [2]}) });
        f
    }

    fn all_facts() -> Vec<RunFact> {
        vec![queued(), started(), finished(), build_finished(), artifact_packaged()]
    }

    fn fold(facts: &[&RunFact]) -> RunFact {
        let (first, rest) = facts.split_first().expect("at least one fact");
        rest.iter().fold((*first).clone(), |acc, f| merge_observations(&acc, f))
    }

    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let head = rest.remove(i);
            for mut tail in permutations(&rest) {
                tail.insert(0, head.clone());
                out.push(tail);
            }
        }
        out
    }

    #[test]
    fn every_order_of_the_events_merges_to_the_same_fact() {
        let facts = all_facts();
        let refs: Vec<&RunFact> = facts.iter().collect();
        let expected = fold(&refs);
        let orders = permutations(&refs);
        assert_eq!(orders.len(), 120);
        for order in orders {
            assert_eq!(fold(&order), expected);
        }
        // And any bracketing: ((a ∨ b) ∨ (c ∨ d)) ∨ e.
        let [a, b, c, d, e] = [&facts[0], &facts[1], &facts[2], &facts[3], &facts[4]];
        let tree = merge_observations(&merge_observations(&merge_observations(a, b), &merge_observations(c, d)), e);
        assert_eq!(tree, expected);
    }

    #[test]
    fn the_merge_keeps_what_each_event_knew() {
        let facts = all_facts();
        let merged = fold(&facts.iter().collect::<Vec<_>>());
        assert_eq!(merged.status.outcome, Outcome::Failed, "a final outcome beats Running and Pending");
        assert_eq!(merged.status.message.as_deref(), Some("Something went wrong\nWith some more details"));
        assert_eq!(merged.status.start_time, Some(time("2023-03-20T14:27:05.315384Z")));
        assert_eq!(merged.status.completion_time, Some(time("2023-03-20T14:29:00Z")), "the later completion");
        assert_eq!(merged.supply_chain.images.len(), 1);
        assert_eq!(merged.supply_chain.artifacts.len(), 1);
        assert_eq!(merged.supply_chain.source.as_ref().and_then(|s| s.commit_sha.as_deref()), Some("myChange123"));
        assert_eq!(merged.labels["cdevents.dev/subject-type"], "build");
        assert_eq!(merged.resource_version.as_deref(), Some("5"));
        let keys = event_keys(&merged);
        assert_eq!(keys.len(), 5);
        assert!(keys.contains("dev.cdevents.build.finished.0.2.0/b%2C1"), "{keys:?}");
    }

    #[test]
    fn merging_a_known_event_again_changes_nothing() {
        let facts = all_facts();
        let merged = fold(&facts.iter().collect::<Vec<_>>());
        for f in &facts {
            assert_eq!(merge_observations(&merged, f), merged);
            assert_eq!(merge_observations(f, f), *f);
        }
        assert_eq!(merge_observations(&merged, &merged), merged);
    }

    #[test]
    fn a_new_event_raises_the_rank_and_the_merge_outranks_its_inputs() {
        let facts = all_facts();
        let mut acc = facts[0].clone();
        for f in &facts[1..] {
            let merged = merge_observations(&acc, f);
            assert!(merged.compare_observations(&acc).is_gt(), "a new event is accepted by the store");
            assert!(merged.compare_observations(f).is_gt());
            acc = merged;
        }
        for x in &facts {
            for y in &facts {
                let merged = merge_observations(x, y);
                assert!(merged.observation_rank() >= x.observation_rank());
                assert!(merged.observation_rank() >= y.observation_rank());
            }
        }
    }

    #[test]
    fn equal_outcomes_join_their_condition_fields_and_lists_sort_canonically() {
        let mut a = finished();
        a.status.reason = Some("Error".into());
        let mut b = finished();
        b.status.message = None;
        b.status.condition_status = Some("False".into());
        let merged = merge_observations(&a, &b);
        assert_eq!(merged.status.reason.as_deref(), Some("Error"));
        assert_eq!(merged.status.condition_status.as_deref(), Some("False"));
        assert!(merged.status.message.is_some());
        // The same object value with its keys in another order is one param, not two.
        let mut c = artifact_packaged();
        c.params[0].value = serde_json::json!({"a": [2], "b": 1});
        assert_eq!(merge_observations(&artifact_packaged(), &c).params.len(), 1);
    }

    #[test]
    fn sources_never_mix_two_commits() {
        let mut other = artifact_packaged();
        other.supply_chain.source = Some(SourceFact {
            repository: Some("example.org/TestRepo/TestOrg".into()),
            commit_sha: Some("mySubject123".into()),
            evidence: vec!["cdevents:change.merged".into()],
            ..SourceFact::default()
        });
        let merged = merge_observations(&artifact_packaged(), &other).supply_chain.source.expect("a source");
        assert_eq!(
            (merged.repository.as_deref(), merged.commit_sha.as_deref()),
            (Some("my-git.example/an-org/a-repo"), Some("myChange123"))
        );
        assert_eq!(merged.evidence, ["cdevents:artifact.packaged"]);
    }

    fn pipeline_task(name: &str, run_after: &[&str], finally: bool) -> PipelineTask {
        PipelineTask {
            name: name.into(),
            task: Some(format!("{name}-task")),
            run_after: run_after.iter().map(|s| s.to_string()).collect(),
            uses_results_of: run_after.iter().map(|s| s.to_string()).collect(),
            finally,
            when: vec![],
        }
    }

    #[test]
    fn pipeline_tasks_skipped_tasks_and_step_times_join_as_sets_in_any_order() {
        let mut a = started();
        a.pipeline_tasks = vec![pipeline_task("init", &[], false), pipeline_task("build", &["init"], false)];
        let mut b = finished();
        b.pipeline_tasks = vec![pipeline_task("build", &["init"], false), pipeline_task("summary", &[], true)];
        b.skipped_tasks =
            vec![SkippedTask { name: "lint".into(), reason: Some("When Expressions evaluated to false".into()) }];
        let mut c = queued();
        c.skipped_tasks = vec![SkippedTask { name: "lint".into(), reason: None }];
        c.steps = vec![Step {
            name: "build".into(),
            image: None,
            image_id: None,
            digest: None,
            exit_code: Some(0),
            terminated_reason: Some("Completed".into()),
            started_at: Some(time("2023-03-20T14:27:06Z")),
            finished_at: Some(time("2023-03-20T14:28:59Z")),
        }];
        let facts = [a, b, c];
        let refs: Vec<&RunFact> = facts.iter().collect();
        let expected = fold(&refs);
        for order in permutations(&refs) {
            assert_eq!(fold(&order), expected);
        }
        let names: Vec<&str> = expected.pipeline_tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.len(), 3, "the shared `build` task is one task: {names:?}");
        assert!(["init", "build", "summary"].iter().all(|n| names.contains(n)), "{names:?}");
        assert_eq!(expected.skipped_tasks.len(), 2, "two different observations of `lint` are both kept");
        assert_eq!(expected.steps[0].finished_at, Some(time("2023-03-20T14:28:59Z")));
        for f in &facts {
            assert_eq!(merge_observations(&expected, f), expected);
        }
    }
}
