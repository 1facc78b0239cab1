//! Determinism, counts and shape of generated objects, checked through the real translator.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use tekton_generate::{BUILD_PIPELINE_SUFFIX, GenerateConfig, SCAN_PIPELINE, generate};
use tekton_graph_schema::{Outcome, RunFact, RunKind};

fn config(pipeline_runs: usize) -> GenerateConfig {
    GenerateConfig { pipeline_runs, ..GenerateConfig::default() }
}

fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn pipeline(object: &Value) -> &str {
    object["metadata"]["labels"]["tekton.dev/pipeline"].as_str().unwrap_or_default()
}

fn is_build(object: &Value) -> bool {
    kind(object) == "PipelineRun" && pipeline(object).ends_with(BUILD_PIPELINE_SUFFIX)
}

fn succeeded(object: &Value) -> bool {
    object["status"]["conditions"][0]["status"] == "True"
}

fn translate(object: &Value) -> RunFact {
    let mut facts = tekton_translate::translate_value(object).unwrap_or_else(|e| panic!("{}: {e}", name(object)));
    assert_eq!(facts.len(), 1, "{}", name(object));
    facts.remove(0)
}

#[test]
fn same_seed_same_output_other_seed_other_output() {
    let a: Vec<Value> = generate(&config(200)).collect();
    let b: Vec<Value> = generate(&config(200)).collect();
    assert_eq!(a, b);
    let c: Vec<Value> = generate(&GenerateConfig { seed: 7, ..config(200) }).collect();
    assert_ne!(a, c);
    // A longer run starts with the same objects.
    let longer: Vec<Value> = generate(&config(300)).take(a.len()).collect();
    assert_eq!(a[..a.len() - 20], longer[..a.len() - 20]);
}

#[test]
fn counts_follow_the_config() {
    for (per_build, scan_every_build) in [(9, true), (3, true), (12, false), (0, true)] {
        let cfg = GenerateConfig { task_runs_per_build: per_build, scan_every_build, rescan_rate: 0.0, ..config(400) };
        let objects: Vec<Value> = generate(&cfg).collect();
        let builds: Vec<&Value> = objects.iter().filter(|o| is_build(o)).collect();
        let scans: Vec<&Value> =
            objects.iter().filter(|o| kind(o) == "PipelineRun" && pipeline(o) == SCAN_PIPELINE).collect();
        let prs = objects.iter().filter(|o| kind(o) == "PipelineRun").count();
        let trs = objects.iter().filter(|o| kind(o) == "TaskRun").count();
        assert_eq!(builds.len(), 400, "per_build {per_build}");
        assert_eq!(prs, builds.len() + scans.len());
        assert_eq!(prs + trs, objects.len());

        let mut children: HashMap<&str, usize> = HashMap::new();
        for tr in objects.iter().filter(|o| kind(o) == "TaskRun") {
            *children
                .entry(tr["metadata"]["labels"]["tekton.dev/pipelineRun"].as_str().unwrap_or_default())
                .or_default() += 1;
        }
        let ok_builds = builds.iter().filter(|b| succeeded(b)).count();
        for build in &builds {
            let emitted = children.get(name(build)).copied().unwrap_or(0);
            let referenced = build["status"]["childReferences"].as_array().map_or(0, Vec::len);
            assert_eq!(emitted, referenced, "{}", name(build));
            if succeeded(build) {
                assert_eq!(emitted, per_build, "{}", name(build));
            } else {
                assert!(emitted <= per_build.max(1), "{}", name(build));
            }
        }
        for scan in &scans {
            assert_eq!(children.get(name(scan)).copied(), Some(2), "{}", name(scan));
        }
        if scan_every_build {
            assert_eq!(scans.len(), ok_builds);
        } else {
            assert!(scans.len() < ok_builds / 2 && !scans.is_empty(), "{} scans of {ok_builds}", scans.len());
        }
        assert_eq!(trs, children.values().sum::<usize>());
    }
}

#[test]
fn default_mix_gives_about_ten_task_runs_per_build() {
    let objects: Vec<Value> = generate(&config(2000)).collect();
    let trs = objects.iter().filter(|o| kind(o) == "TaskRun").count();
    let prs = objects.len() - trs;
    // 100k builds ≈ 1M TaskRuns and ≥ 100k PipelineRuns.
    assert!((19_600..=22_000).contains(&trs), "{trs} TaskRuns for 2000 builds");
    assert!(prs >= 2000 + 1500, "{prs} PipelineRuns");
}

#[test]
fn objects_stream_in_order_with_unique_names_and_increasing_starts() {
    let mut names = BTreeSet::new();
    let mut current_pr = String::new();
    let mut last_build_start = String::new();
    let mut resource_versions = BTreeSet::new();
    for object in generate(&config(1500)) {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
        assert!(names.insert(format!("{}/{ns}/{}", kind(&object), name(&object))), "duplicate {}", name(&object));
        let rv: u64 = object["metadata"]["resourceVersion"].as_str().unwrap_or_default().parse().unwrap_or(0);
        assert!(rv > 0 && resource_versions.insert(rv));
        let start = object["status"]["startTime"].as_str().unwrap_or_default().to_string();
        let end = object["status"]["completionTime"].as_str().unwrap_or_default();
        assert!(start.as_str() <= end, "{}", name(&object));
        match kind(&object) {
            "PipelineRun" => {
                current_pr = name(&object).to_string();
                if is_build(&object) {
                    assert!(start > last_build_start, "{} starts at {start}", name(&object));
                    last_build_start = start;
                }
            }
            _ => {
                let owner = &object["metadata"]["ownerReferences"][0];
                assert_eq!(owner["name"], current_pr.as_str(), "{} follows its PipelineRun", name(&object));
                assert!(owner["uid"].as_str().is_some_and(|u| u.len() == 36));
            }
        }
    }
}

#[test]
fn generation_is_lazy() {
    let cfg = GenerateConfig { pipeline_runs: usize::MAX, ..GenerateConfig::default() };
    assert_eq!(generate(&cfg).take(50).count(), 50);
}

#[test]
fn translated_objects_carry_commits_images_scans_and_reruns() {
    let objects: Vec<Value> = generate(&config(2000)).collect();
    let mut outcome_of: BTreeMap<(String, String), Outcome> = BTreeMap::new();
    let mut produced: BTreeSet<String> = BTreeSet::new();
    let mut images_of: HashMap<String, usize> = HashMap::new();
    let (mut builds, mut failed, mut reruns, mut scans) = (0, 0, 0, 0);
    let mut failed_task_runs = 0;
    for object in &objects {
        let fact = translate(object);
        let ns = fact.namespace.clone();
        let sc = &fact.supply_chain;
        match fact.kind {
            RunKind::PipelineRun if is_build(object) => {
                builds += 1;
                let source = sc.source.as_ref().expect("build has a source");
                let revision = object["spec"]["params"][1]["value"].as_str();
                assert_eq!(source.commit_sha.as_deref(), revision, "{}", fact.name);
                assert!(source.repository.as_deref().is_some_and(|r| r.starts_with("github.com/acme-")));
                assert!(source.author.is_some() && source.message.is_some() && source.timestamp.is_some());
                assert_eq!(fact.pipeline.as_deref(), Some(pipeline(object)));
                match fact.status.outcome {
                    Outcome::Succeeded => {
                        assert_eq!(sc.images.len(), 1, "{}", fact.name);
                        let image = &sc.images[0];
                        assert!(image.digest.starts_with("sha256:") && image.digest.len() == 71);
                        assert!(
                            image.tag.is_some()
                                && image.repository.as_deref().is_some_and(|r| r.starts_with("ghcr.io/"))
                        );
                        produced.insert(image.digest.clone());
                        *images_of.entry(fact.name.clone()).or_default() += 1;
                    }
                    Outcome::Failed => {
                        failed += 1;
                        assert!(sc.images.is_empty(), "{}", fact.name);
                        assert_eq!(fact.status.reason.as_deref(), Some("Failed"));
                    }
                    other => panic!("{}: unexpected outcome {other:?}", fact.name),
                }
                if let Some(original) = &sc.rerun_of {
                    reruns += 1;
                    assert_eq!(
                        outcome_of.get(&(ns.clone(), original.clone())),
                        Some(&Outcome::Failed),
                        "{} re-runs an earlier failed run",
                        fact.name
                    );
                    assert!(fact.name.starts_with(&format!("{original}-r-")));
                }
                outcome_of.insert((ns, fact.name.clone()), fact.status.outcome);
            }
            RunKind::PipelineRun => {
                scans += 1;
                assert_eq!(fact.pipeline.as_deref(), Some(SCAN_PIPELINE));
                assert_eq!(sc.scans.len(), 1, "{}", fact.name);
                assert!(sc.images.is_empty(), "a scan run produces no image");
                let digest = sc.scans[0].image_digest.as_deref().expect("scan names its image");
                assert!(produced.contains(digest), "{} scans a built image", fact.name);
            }
            RunKind::TaskRun => {
                let parent = fact.pipeline_run.as_ref().expect("owner").name.clone();
                assert!(fact.pipeline_task.is_some() && fact.task.is_some());
                assert!(!fact.steps.is_empty() && fact.steps.iter().all(|s| s.digest.is_some()));
                if fact.status.outcome == Outcome::Failed {
                    failed_task_runs += 1;
                    assert_eq!(fact.steps.last().and_then(|s| s.exit_code), Some(1));
                }
                match fact.pipeline_task.as_deref() {
                    Some("fetch-source") => {
                        let source = sc.source.as_ref().expect("git-clone results");
                        assert!(source.commit_sha.as_ref().is_some_and(|s| s.len() == 40));
                    }
                    Some("build-push") if fact.status.outcome == Outcome::Succeeded => {
                        assert_eq!(sc.images.len(), 1);
                        assert!(produced.contains(&sc.images[0].digest), "{parent} reported the same image");
                    }
                    Some("trivy-scan") => {
                        assert_eq!(sc.scans.len(), 2);
                        assert!(sc.scans.iter().any(|s| s.unpatched.is_some()));
                    }
                    _ => assert!(sc.images.is_empty() && sc.scans.is_empty(), "{}", fact.name),
                }
            }
        }
    }
    assert_eq!(builds, 2000);
    assert_eq!(failed_task_runs, failed);
    assert!((100..=300).contains(&failed), "{failed} failed builds");
    assert!(reruns >= 20, "{reruns} re-runs");
    assert!(scans >= builds - failed, "{scans} scans");
}

/// The pipeline task names a fact's DAG declares, with their `runAfter`.
fn dag(fact: &RunFact) -> Vec<(&str, Vec<&str>, bool)> {
    fact.pipeline_tasks
        .iter()
        .map(|t| (t.name.as_str(), t.run_after.iter().map(String::as_str).collect(), t.finally))
        .collect()
}

#[test]
fn pipeline_specs_carry_the_dag_the_task_runs_follow() {
    for per_build in [9, 3, 12] {
        let cfg = GenerateConfig { task_runs_per_build: per_build, failure_rate: 0.3, ..config(300) };
        let facts: Vec<RunFact> = generate(&cfg).map(|o| translate(&o)).collect();
        let mut task_runs: HashMap<(&str, &str), BTreeMap<&str, &RunFact>> = HashMap::new();
        for tr in facts.iter().filter(|f| f.kind == RunKind::TaskRun) {
            let parent = tr.pipeline_run.as_ref().expect("owner").name.as_str();
            let task = tr.pipeline_task.as_deref().expect("pipeline task");
            task_runs.entry((tr.namespace.as_str(), parent)).or_default().insert(task, tr);
        }
        let (mut builds, mut failed, mut parallel_after_failure) = (0, 0, 0);
        for pr in facts.iter().filter(|f| f.kind == RunKind::PipelineRun) {
            let runs = task_runs.get(&(pr.namespace.as_str(), pr.name.as_str())).cloned().unwrap_or_default();
            let spec = dag(pr);
            if pr.pipeline.as_deref() == Some(SCAN_PIPELINE) {
                assert_eq!(
                    spec,
                    vec![("verify-signature", vec![], false), ("trivy-scan", vec!["verify-signature"], false)]
                );
                continue;
            }
            builds += 1;
            assert_eq!(spec.len(), per_build, "{}", pr.name);
            match per_build {
                9 => assert_eq!(
                    spec,
                    vec![
                        ("fetch-source", vec![], false),
                        ("lint", vec!["fetch-source"], false),
                        ("unit-test", vec!["fetch-source"], false),
                        ("build-push", vec!["lint", "unit-test"], false),
                        ("sbom", vec!["build-push"], false),
                        ("sign-image", vec!["build-push"], false),
                        ("integration-test", vec!["build-push"], false),
                        ("deploy-dev", vec!["sbom", "sign-image", "integration-test"], false),
                        ("notify", vec![], true),
                    ]
                ),
                3 => assert_eq!(
                    spec,
                    vec![
                        ("fetch-source", vec![], false),
                        ("unit-test", vec!["fetch-source"], false),
                        ("build-push", vec!["unit-test"], false),
                    ]
                ),
                _ => {
                    assert_eq!(
                        spec[8..],
                        [
                            ("check-1", vec!["fetch-source"], false),
                            ("check-2", vec!["fetch-source"], false),
                            ("check-3", vec!["fetch-source"], false),
                            ("notify", vec![], true)
                        ]
                    );
                }
            }
            if let Some(sbom) = pr.pipeline_tasks.iter().find(|t| t.name == "sbom") {
                assert_eq!(sbom.uses_results_of, ["build-push"], "IMAGE is pinned to build-push's digest");
            }
            // Every TaskRun starts after the ones it runs after ended; finally after all others.
            for task in &pr.pipeline_tasks {
                let Some(tr) = runs.get(task.name.as_str()) else { continue };
                let start = tr.status.start_time.expect("start");
                let before: Vec<&RunFact> = if task.finally {
                    runs.values().filter(|r| r.pipeline_task.as_deref() != Some(task.name.as_str())).copied().collect()
                } else {
                    task.run_after
                        .iter()
                        .map(|b| *runs.get(b.as_str()).unwrap_or_else(|| panic!("{}: {b} ran", pr.name)))
                        .collect()
                };
                for b in before {
                    assert!(
                        b.status.completion_time.expect("end") < start,
                        "{}: {} before {}",
                        pr.name,
                        b.name,
                        tr.name
                    );
                }
                // Steps run one after another within the TaskRun.
                let steps = &tr.steps;
                assert_eq!(steps.first().and_then(|s| s.started_at), Some(start), "{}", tr.name);
                assert_eq!(steps.last().and_then(|s| s.finished_at), tr.status.completion_time, "{}", tr.name);
                for pair in steps.windows(2) {
                    assert!(pair[0].started_at <= pair[0].finished_at && pair[0].finished_at <= pair[1].started_at);
                }
            }
            if per_build == 9 {
                let start = |t: &str| runs.get(t).and_then(|r| r.status.start_time);
                assert_eq!(start("lint"), start("unit-test"), "{}: parallel branches start together", pr.name);
            }
            let ran: BTreeSet<&str> = runs.keys().copied().collect();
            let skipped: BTreeSet<&str> = pr.skipped_tasks.iter().map(|s| s.name.as_str()).collect();
            assert!(ran.is_disjoint(&skipped), "{}", pr.name);
            let all: BTreeSet<&str> = pr.pipeline_tasks.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(ran.union(&skipped).copied().collect::<BTreeSet<_>>(), all, "{}", pr.name);
            if pr.status.outcome == Outcome::Failed {
                failed += 1;
                assert!(pr.skipped_tasks.iter().all(|s| s.reason.as_deref() == Some("PipelineRun was stopping")));
                if per_build >= 9 {
                    assert!(ran.contains("notify"), "{}: finally runs after a failure", pr.name);
                }
                let failing = runs.values().find(|r| r.status.outcome == Outcome::Failed).expect("a failed TaskRun");
                let failed_at = failing.status.completion_time;
                parallel_after_failure += runs
                    .values()
                    .filter(|r| r.status.outcome == Outcome::Succeeded && r.status.completion_time > failed_at)
                    .count();
            } else {
                assert!(skipped.is_empty(), "{}", pr.name);
            }
        }
        assert_eq!(builds, 300);
        assert!(failed >= 30, "{failed} failed builds with per_build {per_build}");
        if per_build >= 9 {
            assert!(parallel_after_failure > 0, "tasks already running finish after a failure");
        }
    }
}
