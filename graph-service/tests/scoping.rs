//! Scoping in the read model, on every engine: what a scoped caller reads equals what an unscoped caller reads from
//! a store that holds only the caller's visible runs. So a run outside the scope, and every edge only such runs
//! contribute, is absent in every answer (runs, listings, summaries, images, commits, lineage, diffs, Systems,
//! search, counts) and looks exactly like one never observed.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_graphql::Request;
use graph_service::api::{CallerReads, GraphSchema, build_schema};
use graph_service::model::{EdgeKind, NodeId, ProjectionConfig, project};
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::scoped::ScopedStore;
use graph_service::store::{GraphStore, Visibility};
use serde_json::{Value, json};
use tekton_graph_schema::{RunFact, RunKey, RunKind};

/// Generated builds in three namespaces, plus runs in another namespace that build the same commits into the same
/// images (a promotion pipeline): shared nodes reached from both sides.
fn facts() -> Vec<RunFact> {
    use tekton_generate::{GenerateConfig, generate};
    let config = GenerateConfig {
        pipeline_runs: 14,
        task_runs_per_build: 3,
        namespaces: 3,
        repositories: 6,
        seed: 5,
        ..GenerateConfig::default()
    };
    let mut facts: Vec<RunFact> = generate(&config)
        .flat_map(|o| tekton_translate::translate_value(&o).expect("generated objects translate"))
        .collect();
    let promoted: Vec<RunFact> = facts
        .iter()
        .filter(|f| f.kind == RunKind::PipelineRun && !f.supply_chain.images.is_empty())
        .take(3)
        .map(|f| {
            let mut copy = f.clone();
            copy.namespace = "promotion".into();
            copy.name = format!("{}-promote", f.name);
            copy.uid = Some(format!("{}-promote", f.uid.clone().unwrap_or_default()));
            copy.children.clear();
            copy
        })
        .collect();
    facts.extend(promoted);
    facts
}

fn namespace_of_system(facts: &[RunFact], config: &ProjectionConfig, namespace: &str) -> String {
    facts
        .iter()
        .filter(|f| f.kind == RunKind::PipelineRun && f.namespace == namespace)
        .find_map(|f| config.system_of(f))
        .expect("a System in the namespace")
}

/// The runs a visibility lets through, by the documented rule: a PipelineRun by namespace or System, a TaskRun by
/// namespace or by the PipelineRun it is part of.
fn visible_facts(facts: &[RunFact], visible: &Visibility, config: &ProjectionConfig) -> Vec<RunFact> {
    let runs: BTreeMap<RunKey, &RunFact> = facts.iter().map(|f| (f.key(), f)).collect();
    let pipeline_run_visible =
        |key: &RunKey| runs.get(key).is_some_and(|f| visible.allows(&f.namespace, config.system_of(f).as_deref()));
    let mut parents: BTreeMap<NodeId, BTreeSet<NodeId>> = BTreeMap::new();
    for fact in facts {
        for edge in project(fact, config).into_iter().filter(|e| e.kind == EdgeKind::PartOf) {
            parents.entry(edge.from).or_default().insert(edge.to);
        }
    }
    facts
        .iter()
        .filter(|f| match f.kind {
            RunKind::PipelineRun => pipeline_run_visible(&f.key()),
            RunKind::TaskRun => {
                visible.namespaces.contains(&f.namespace)
                    || parents
                        .get(&NodeId::run(&f.key()))
                        .into_iter()
                        .flatten()
                        .any(|p| p.run_key().is_some_and(|k| pipeline_run_visible(&k)))
            }
        })
        .cloned()
        .collect()
}

/// The whole response (data and error messages), so a refusal must match too.
async fn answer(schema: &GraphSchema, reads: Option<&CallerReads>, q: &str) -> Value {
    let request = Request::new(q);
    let request = match reads {
        Some(reads) => reads.clone().request(request),
        None => request,
    };
    let response = schema.execute(request).await;
    let errors: Vec<&str> = response.errors.iter().map(|e| e.message.as_str()).collect();
    json!({ "data": response.data.into_json().expect("data as JSON"), "errors": errors })
}

/// Every question the read model answers, about every run, image, commit and System of the whole set — the ones
/// outside the scope included.
fn questions(facts: &[RunFact], config: &ProjectionConfig) -> Vec<String> {
    let mut qs = vec![
        "{ stats { pipelineRuns taskRuns } }".to_string(),
        "{ pipelineRuns(first: 100) { edges { cursor node { namespace name status } } pageInfo { hasNextPage } } }"
            .into(),
        "{ pipelineRuns(first: 2) { edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }".into(),
        "{ runSummary { total byStatus { status runs } pipelines { namespace name runs succeeded } } }".into(),
        "{ pipelines { namespace name runs } }".into(),
        "{ systems { name } }".into(),
    ];
    let mut digests = BTreeSet::new();
    let mut commits = BTreeSet::new();
    let mut systems = BTreeSet::new();
    for fact in facts {
        let (ns, name) = (&fact.namespace, &fact.name);
        let kind = if fact.kind == RunKind::PipelineRun { "pipelineRun" } else { "taskRun" };
        let prefix = if fact.kind == RunKind::PipelineRun { "pipelinerun" } else { "taskrun" };
        qs.push(format!(
            r#"{{ run: {kind}(namespace: "{ns}", name: "{name}") {{ name status images {{ digest builtBy {{ namespace name }} }} commit {{ sha author }} }} }}"#
        ));
        qs.push(format!(
            r#"{{ lineage(ref: "{prefix}:{ns}/{name}", depth: 3) {{ nodes {{ id kind label }} edges {{ from to kind }} }} }}"#
        ));
        qs.push(format!(r#"{{ search(text: "{ns}/{name}") {{ kind id }} }}"#));
        if fact.kind == RunKind::PipelineRun {
            qs.push(format!(
                r#"{{ diff(namespace: "{ns}", name: "{name}") {{ base {{ name }} commitChanged tasks {{ pipelineTask change }} images {{ added removed }} }}
                     pipelineRun(namespace: "{ns}", name: "{name}") {{ previous {{ name }} next {{ name }} }} }}"#
            ));
            if let Some(pipeline) = &fact.pipeline {
                qs.push(format!(
                    r#"{{ pipelineRuns(first: 50, filter: {{ namespace: "{ns}", pipeline: "{pipeline}" }}) {{ edges {{ node {{ name }} }} }} }}"#
                ));
            }
        }
        digests.extend(fact.supply_chain.images.iter().map(|i| i.digest.clone()));
        if let Some(source) = &fact.supply_chain.source
            && let (Some(repo), Some(sha)) = (&source.repository, &source.commit_sha)
        {
            commits.insert((repo.clone(), sha.clone()));
        }
        systems.extend(config.system_of(fact));
    }
    for digest in digests {
        qs.push(format!(
            r#"{{ image(digest: "{digest}") {{ digest tags builtBy {{ namespace name }} producedBy {{ namespace name }} commit {{ sha }} scans {{ id critical }} }}
                 lineage(ref: "{digest}", depth: 4) {{ nodes {{ id kind }} edges {{ from to kind }} }}
                 search(text: "{digest}") {{ kind id }} }}"#
        ));
    }
    for (repo, sha) in commits {
        qs.push(format!(
            r#"{{ commit(repo: "{repo}", sha: "{sha}") {{ sha author pipelineRuns {{ namespace name }} images {{ digest }} }}
                 repository(url: "{repo}") {{ key pipelines {{ namespace name runs }} pipelineRuns(first: 50) {{ edges {{ node {{ name }} }} }} commits {{ sha }} }}
                 lineage(ref: "{repo}@{sha}", depth: 3) {{ nodes {{ id }} edges {{ from to kind }} }} }}"#
        ));
    }
    for system in systems {
        qs.push(format!(r#"{{ system(name: "{system}") {{ name repositories pipelines pipelineSummaries {{ namespace name runs }} pipelineRuns(first: 50) {{ namespace name }} currentImages {{ digest }} currentVulnerabilities {{ critical high }} }} search(text: "{system}") {{ kind id }} }}"#));
        qs.push(format!(
            r#"{{ lineage(ref: "system:{system}", depth: 2) {{ nodes {{ id }} edges {{ from to kind }} }} }}"#
        ));
    }
    qs
}

/// Labels every other build with one of two Systems, so one pipeline has runs on both sides of a System scope (its
/// previous run for a caller is the previous one they may see). TaskRuns keep no label: they are seen with their
/// PipelineRun.
fn labelled(mut facts: Vec<RunFact>) -> Vec<RunFact> {
    for (i, fact) in facts.iter_mut().filter(|f| f.kind == RunKind::PipelineRun).enumerate() {
        let system = if i % 2 == 0 { "shop" } else { "bank" };
        fact.labels.insert(SYSTEM_LABEL.into(), system.into());
    }
    facts
}

const SYSTEM_LABEL: &str = "app.kubernetes.io/part-of";

/// Checks every question for every scope on every engine against a store holding only the visible runs.
async fn scoped_answers_match_the_visible_graph(
    facts: Vec<RunFact>,
    config: ProjectionConfig,
    scopes: &[(&str, Visibility)],
) {
    let questions = questions(&facts, &config);
    for engine in support::engines(config.clone()).await.into_iter().filter(|e| e.name != "embedded-redb") {
        engine.store.apply(&facts).await.unwrap_or_else(|e| panic!("{}: apply: {e}", engine.name));
        let schema = build_schema(engine.store.clone());
        for (scope_name, visible) in scopes {
            let shown = visible_facts(&facts, visible, &config);
            assert!(!shown.is_empty() && shown.len() < facts.len(), "{scope_name}: the scope shows part of the graph");
            let oracle: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(config.clone()));
            oracle.apply(&shown).await.expect("oracle apply");
            // Run outcomes (lineage labels) are read apart from facts: a hidden run's must not show.
            let keys: Vec<_> = facts.iter().map(RunFact::key).collect();
            let scoped_store = ScopedStore::new(engine.store.clone(), visible.clone());
            let outcomes = scoped_store.outcomes(&keys).await.expect("scoped outcomes");
            assert_eq!(outcomes, oracle.outcomes(&keys).await.expect("oracle outcomes"), "{scope_name}");
            assert!(outcomes.iter().any(Option::is_none) && outcomes.iter().any(Option::is_some));
            let oracle = build_schema(oracle);
            let reads = CallerReads::of(&engine.store, Some(visible.clone())).expect("a scoped caller");
            let mut hidden_answers = 0;
            for q in &questions {
                let expected = answer(&oracle, None, q).await;
                let scoped = answer(&schema, Some(&reads), q).await;
                assert_eq!(scoped, expected, "{} / {scope_name}: {q}", engine.name);
                let everything = answer(&schema, None, q).await;
                hidden_answers += usize::from(everything != expected);
            }
            assert!(hidden_answers > 10, "{scope_name}: the scope changed only {hidden_answers} answers");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_caller_reads_exactly_the_graph_of_their_visible_runs() {
    let config = ProjectionConfig::default();
    let facts = facts();
    let namespaces: BTreeSet<&str> = facts.iter().map(|f| f.namespace.as_str()).collect();
    let names: Vec<String> = namespaces.iter().filter(|n| **n != "promotion").map(|n| n.to_string()).collect();
    assert!(names.len() >= 3, "three generated namespaces: {names:?}");
    let scopes = [
        ("namespace", Visibility { namespaces: [names[0].clone()].into(), systems: BTreeSet::new() }),
        (
            "system",
            Visibility {
                namespaces: BTreeSet::new(),
                systems: [namespace_of_system(&facts, &config, &names[1])].into(),
            },
        ),
        (
            "mixed",
            Visibility {
                namespaces: ["promotion".to_string()].into(),
                systems: [namespace_of_system(&facts, &config, &names[2])].into(),
            },
        ),
    ];
    scoped_answers_match_the_visible_graph(facts, config, &scopes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_scope_splits_a_pipeline_and_its_neighbours() {
    let config = ProjectionConfig { system_label: Some(SYSTEM_LABEL.into()) };
    let facts = labelled(facts());
    let first_namespace = facts.iter().map(|f| f.namespace.clone()).min().expect("facts");
    let scopes = [
        ("shop", Visibility { namespaces: BTreeSet::new(), systems: ["shop".to_string()].into() }),
        (
            "bank-and-namespace",
            Visibility { namespaces: [first_namespace].into(), systems: ["bank".to_string()].into() },
        ),
    ];
    scoped_answers_match_the_visible_graph(facts, config, &scopes).await;
}
