//! One test per fixture file in `testdata/`, checking the values extracted from it.

mod common;

use chrono::{DateTime, Utc};
use common::{facts, find, fixture_files, single, time};
use tekton_graph_schema::normalize::repository_key;
use tekton_graph_schema::{ArtifactRole, ObservedFrom, Outcome, RunFact, RunKind, SkippedTask};

const CHAINS_IMAGE_DIGEST: &str = "sha256:827521c857fdcd4374f4da5442fbae2edb01e7fbae285c3ec15673d4c1daecb7";
const IDEC_REPOSITORY: &str = "github.com/joostvdg/ingress-dns-export-controller";

/// Every test below names its file here; a fixture added without a test fails this check.
const COVERED: &[&str] = &[
    "cloudevents/tekton-taskrun-unknown-v1-payload.json",
    "seed-conventions/list-v1-idec-builds-scans-rerun.json",
    "tekton/pipelinerun-v1-chains-build-push-git-image-results-taskruns.json",
    "tekton/pipelinerun-v1-chains-childreferences-image-results.json",
    "tekton/pipelinerun-v1-chains-running-remote-resolver.json",
    "tekton/pipelinerun-v1-chains-structured-artifact-results.json",
    "tekton/pipelinerun-v1-lighthouse-running-single-task.yaml",
    "tekton/pipelinerun-v1-lighthouse-succeeded-multiple-tasks.yaml",
    "tekton/pipelinerun-v1-lighthouse-taskrun-and-customrun-succeeded.yaml",
    "tekton/pipelinerun-v1-results-record-succeeded.json",
    "tekton/pipelinerun-v1beta1-matrix-cel-customtask-runs-succeeded.yaml",
    "tekton/pipelinerun-v1beta1-pipeline-service-exporter-build-finally-skipped-childrefs.yaml",
    "tekton/taskrun-list-v1beta1-dashboard-kaniko-build-failed.json",
    "tekton/taskrun-v1-chains-image-url-digest-provenance.json",
    "tekton/taskrun-v1-chains-images-multiple-subjects.json",
    "tekton/taskrun-v1-lighthouse-running-steps.yaml",
    "tekton/taskrun-v1-lighthouse-succeeded-steps.yaml",
    "tekton/taskrun-v1beta1-chains-taskresults-image-digest.json",
    "tekton/taskrun-v1beta1-lighthouse-running.yaml",
    "tekton/taskrun-v1beta1-pipeline-service-exporter-build-container-image-digest-steps.yaml",
    "tekton/taskrun-v1beta1-pipeline-service-exporter-clair-scan-vulnerability-counts.yaml",
    "tekton/taskrun-v1beta1-pipeline-service-exporter-clamav-scan-sidecar.yaml",
    "tekton/taskrun-v1beta1-pipeline-service-exporter-clone-repository-commit-url.yaml",
    "tekton/taskrun-v1beta1-pipeline-service-exporter-init-build-result.yaml",
    "tekton/taskrun-v1beta1-pipeline-service-exporter-inspect-image-base-image.yaml",
    "tekton/taskrun-v1beta1-pipeline-service-exporter-show-summary-finally.yaml",
];

#[test]
fn every_fixture_file_has_a_test() {
    assert_eq!(fixture_files(), COVERED);
}

fn image_digests(fact: &RunFact) -> Vec<&str> {
    fact.supply_chain.images.iter().map(|i| i.digest.as_str()).collect()
}

/// A step's name with its `startedAt` and `finishedAt`.
type StepTimes<'a> = (&'a str, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `(name, started_at, finished_at)` of every step, times as written in the YAML.
fn step_times(fact: &RunFact) -> Vec<StepTimes<'_>> {
    fact.steps.iter().map(|s| (s.name.as_str(), s.started_at, s.finished_at)).collect()
}

/// A step that terminated: its name with `startedAt` and `finishedAt`.
fn ran<'a>(name: &'a str, started: &str, finished: &str) -> StepTimes<'a> {
    (name, Some(time(started)), Some(time(finished)))
}

fn child_names(fact: &RunFact) -> Vec<(&str, &str, Option<&str>)> {
    fact.children.iter().map(|c| (c.kind.as_str(), c.name.as_str(), c.pipeline_task_name.as_deref())).collect()
}

// ---- tekton/: Chains test data (bare objects) ----

#[test]
fn chains_pipelinerun_with_embedded_taskruns() {
    let all = facts("tekton/pipelinerun-v1-chains-build-push-git-image-results-taskruns.json");
    assert_eq!(all.len(), 3, "the PipelineRun and its two embedded TaskRuns");
    let pr = &all[0];
    assert_eq!(pr.kind, RunKind::PipelineRun);
    assert!(pr.name_derived);
    assert!(pr.name.starts_with("pipelinerun-") && pr.name.len() == 24, "{}", pr.name);
    assert_eq!((pr.namespace.as_str(), pr.api_version.as_deref()), ("default", None));
    assert_eq!(pr.pipeline.as_deref(), Some("test-pipeline"));
    assert_eq!(pr.status.outcome, Outcome::Succeeded);
    assert_eq!(pr.status.start_time, Some(time("2021-03-29T09:50:00Z")));
    assert_eq!(pr.status.completion_time, Some(time("2021-03-29T09:50:15Z")));
    assert_eq!(pr.duration_seconds(), Some(15.0));
    assert_eq!(
        child_names(pr),
        vec![("TaskRun", "git-clone", Some("git-clone")), ("TaskRun", "taskrun-build", Some("build"))]
    );
    assert_eq!(pr.results.len(), 7);
    assert_eq!(pr.result("img-ARTIFACT_INPUTS").and_then(|v| v.get("uri")), Some(&serde_json::json!("abc")));

    let source = pr.supply_chain.source.as_ref().expect("CHAINS-GIT_* results");
    assert_eq!(source.repository_url.as_deref(), Some("https://git.test.com"));
    assert_eq!(source.repository.as_deref(), Some("git.test.com"));
    assert_eq!(source.commit_sha.as_deref(), Some("abcd"));
    assert_eq!(source.evidence, vec!["CHAINS-GIT_URL", "CHAINS-GIT_COMMIT"]);
    assert_eq!(image_digests(pr), vec![CHAINS_IMAGE_DIGEST]);
    assert_eq!(pr.supply_chain.images[0].repository.as_deref(), Some("test.io/test/image"));
    // `img2` has the invalid digest `sha256:` and `img_no_uri` no uri: both skipped.
    let artifacts = &pr.supply_chain.artifacts;
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    assert_eq!((artifacts[0].uri.as_str(), artifacts[0].role), ("abc", ArtifactRole::Input));
    assert_eq!(artifacts[0].digest, CHAINS_IMAGE_DIGEST);

    let clone = find(&all, RunKind::TaskRun, "git-clone");
    assert_eq!(clone.observed_from, ObservedFrom::EmbeddedStatus);
    assert_eq!(clone.pipeline_run.as_ref().map(|o| o.name.as_str()), Some(pr.name.as_str()));
    assert_eq!((clone.pipeline_task.as_deref(), clone.task.as_deref()), (Some("git-clone"), Some("git-clone")));
    assert_eq!(clone.pipeline.as_deref(), Some("test-pipeline"));
    assert_eq!(clone.creation_timestamp, None);
    assert_eq!(clone.status.outcome, Outcome::Succeeded);
    assert_eq!(clone.steps.len(), 1);
    assert_eq!(clone.steps[0].image.as_deref(), Some("$(params.gitInitImage)"));
    assert_eq!(clone.steps[0].exit_code, Some(0));
    let clone_source = clone.supply_chain.source.as_ref().expect("git-clone results");
    assert_eq!(clone_source.commit_sha.as_deref(), Some("abcd"));
    assert_eq!(clone_source.evidence, vec!["url", "commit"]);

    let build = find(&all, RunKind::TaskRun, "taskrun-build");
    assert_eq!((build.pipeline_task.as_deref(), build.task.as_deref()), (Some("build"), Some("build")));
    assert_eq!(image_digests(build), vec![CHAINS_IMAGE_DIGEST]);
    assert_eq!(build.supply_chain.images[0].url.as_deref(), Some("test.io/test/image"), "trailing newline trimmed");
}

#[test]
fn chains_pipelinerun_with_child_references() {
    let pr = single("tekton/pipelinerun-v1-chains-childreferences-image-results.json");
    assert_eq!(pr.kind, RunKind::PipelineRun);
    assert!(pr.name_derived);
    assert_eq!(pr.status.outcome, Outcome::Succeeded);
    assert_eq!(
        child_names(&pr),
        vec![("TaskRun", "git-clone", Some("git-clone")), ("TaskRun", "taskrun-build", Some("build"))]
    );
    assert_eq!(pr.children[0].api_version.as_deref(), Some("tekton.dev/v1"));
    assert_eq!(image_digests(&pr), vec![CHAINS_IMAGE_DIGEST]);
    let source = pr.supply_chain.source.as_ref().expect("source");
    assert_eq!((source.repository.as_deref(), source.commit_sha.as_deref()), (Some("git.test.com"), Some("abcd")));
    assert!(pr.supply_chain.artifacts.is_empty());
}

#[test]
fn chains_pipelinerun_running_from_remote_resolver() {
    let pr = single("tekton/pipelinerun-v1-chains-running-remote-resolver.json");
    assert_eq!(pr.kind, RunKind::PipelineRun);
    assert_eq!(pr.name, "build-push-gke-deploy-run-2");
    assert!(!pr.name_derived);
    assert_eq!(pr.uid.as_deref(), Some("5e28bf07-ed8f-4fe2-bfa0-d1f2cb90e5de"));
    assert_eq!(pr.pipeline, None, "resolver ref without name and no label");
    assert_eq!(pr.status.outcome, Outcome::Running);
    assert_eq!(
        (pr.status.condition_status.as_deref(), pr.status.reason.as_deref()),
        (Some("Unknown"), Some("Running"))
    );
    assert_eq!((pr.status.start_time, pr.status.completion_time), (None, None));
    assert_eq!(child_names(&pr), vec![("TaskRun", "build-push-gke-deploy-run-2-kaniko", Some("kaniko"))]);
    assert_eq!(pr.params.len(), 2);
    assert_eq!(pr.supply_chain, Default::default());
}

#[test]
fn chains_pipelinerun_structured_artifact_results() {
    let all = facts("tekton/pipelinerun-v1-chains-structured-artifact-results.json");
    assert_eq!(all.len(), 3);
    let pr = &all[0];
    assert_eq!((pr.name.as_str(), pr.uid.as_deref()), ("pipelinerun-build", Some("abhhf-12354-asjsdbjs23-3435353n")));
    assert_eq!(pr.status.outcome, Outcome::Succeeded);
    assert!(pr.supply_chain.images.is_empty(), "`hello_world` is not an image reference");
    let artifacts: Vec<_> = pr
        .supply_chain
        .artifacts
        .iter()
        .map(|a| (a.uri.as_str(), a.digest.as_str(), a.role, a.evidence.as_str()))
        .collect();
    assert_eq!(
        artifacts,
        vec![
            ("hello_world", CHAINS_IMAGE_DIGEST, ArtifactRole::Output, "image-ARTIFACT_OUTPUTS"),
            ("abcd", CHAINS_IMAGE_DIGEST, ArtifactRole::Input, "image-ARTIFACT_INPUTS"),
        ]
    );
    assert_eq!(pr.children.len(), 2, "children from the embedded taskRuns map");
    let build = find(&all, RunKind::TaskRun, "taskrun-build");
    assert_eq!(build.pipeline_run.as_ref().and_then(|o| o.uid.as_deref()), Some("abhhf-12354-asjsdbjs23-3435353n"));
    assert_eq!(build.status.start_time, Some(time("2021-03-29T09:50:00Z")));
    assert_eq!(image_digests(build), vec![CHAINS_IMAGE_DIGEST]);
}

#[test]
fn chains_taskrun_image_url_and_digest() {
    let tr = single("tekton/taskrun-v1-chains-image-url-digest-provenance.json");
    assert_eq!((tr.kind, tr.name.as_str(), tr.namespace.as_str()), (RunKind::TaskRun, "taskrun-build", "default"));
    assert_eq!((tr.task.as_deref(), tr.pipeline_task.as_deref()), (Some("build"), Some("build")));
    assert_eq!(tr.pipeline_run, None);
    assert_eq!(tr.status.outcome, Outcome::Succeeded);
    assert_eq!(tr.steps.len(), 3);
    assert_eq!(tr.steps[0].name, "step1");
    assert_eq!(
        tr.steps[0].digest.as_deref(),
        Some("sha256:d4b63d3e24d6eef04a6dc0795cf8a73470688803d97c52cffa3c8d4efd3397b6")
    );
    assert_eq!(tr.steps[0].image, None, "the task spec names the step but no image");
    assert_eq!(image_digests(&tr), vec![CHAINS_IMAGE_DIGEST]);
    assert_eq!(tr.supply_chain.images[0].repository.as_deref(), Some("gcr.io/my/image"));
    assert_eq!(tr.supply_chain.source, None, "CHAINS-GIT_* params are inputs, not evidence");
}

#[test]
fn chains_taskrun_images_multiple_subjects() {
    let tr = single("tekton/taskrun-v1-chains-images-multiple-subjects.json");
    assert_eq!(tr.kind, RunKind::TaskRun);
    assert!(tr.name_derived && tr.name.starts_with("taskrun-"), "{}", tr.name);
    assert_eq!(tr.task.as_deref(), Some("test-task"));
    assert_eq!(tr.status.outcome, Outcome::Succeeded);
    assert_eq!((tr.status.start_time, tr.status.completion_time), (None, None));
    assert_eq!(tr.steps.len(), 2);
    assert_eq!(
        image_digests(&tr),
        vec![
            "sha256:d4b63d3e24d6eef04a6dc0795cf8a73470688803d97c52cffa3c8d4efd3397b6",
            "sha256:daa1a56e13c85cf164e7d9e595006649e3a04c47fe4a8261320e18a0bf3b0367",
        ]
    );
    let repositories: Vec<_> = tr.supply_chain.images.iter().map(|i| i.repository.as_deref()).collect();
    assert_eq!(repositories, vec![Some("gcr.io/myimage1"), Some("gcr.io/myimage2")]);
    assert!(tr.supply_chain.images.iter().all(|i| i.evidence == "IMAGES"));
}

#[test]
fn chains_v1beta1_taskrun_task_results() {
    let tr = single("tekton/taskrun-v1beta1-chains-taskresults-image-digest.json");
    assert_eq!((tr.kind, tr.name.as_str()), (RunKind::TaskRun, "taskrun-build"));
    assert_eq!(tr.uid.as_deref(), Some("abhhf-12354-asjsdbjs23-3435353n"));
    assert_eq!(tr.results.len(), 2, "read from status.taskResults");
    assert_eq!(tr.result("IMAGE_URL"), Some(&serde_json::json!("gcr.io/my/image")));
    assert_eq!(image_digests(&tr), vec![CHAINS_IMAGE_DIGEST]);
    assert_eq!(tr.status.completion_time, Some(time("2021-03-29T09:50:15Z")));
    assert_eq!(tr.steps.len(), 3);
}

// ---- tekton/: Tekton Results, pipeline docs, dashboard ----

#[test]
fn results_record_pipelinerun() {
    let pr = single("tekton/pipelinerun-v1-results-record-succeeded.json");
    assert_eq!((pr.kind, pr.name.as_str(), pr.namespace.as_str()), (RunKind::PipelineRun, "hello", "default"));
    assert_eq!(pr.api_version.as_deref(), Some("tekton.dev/v1"));
    assert_eq!(pr.uid.as_deref(), Some("1638b693-844d-4f13-b767-d7d84ac4ab3d"));
    assert_eq!((pr.resource_version.as_deref(), pr.generation), (Some("1567"), Some(1)));
    assert_eq!(pr.creation_timestamp, Some(time("2023-08-22T09:08:59Z")));
    assert_eq!(pr.pipeline.as_deref(), Some("hello"), "from the tekton.dev/pipeline label");
    assert_eq!(pr.status.outcome, Outcome::Succeeded);
    assert_eq!(pr.duration_seconds(), Some(32.0));
    assert_eq!(child_names(&pr), vec![("TaskRun", "hello-hello", Some("hello"))]);
    assert!(!pr.annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
    assert_eq!(pr.annotations.len(), 4);
    let source = pr.supply_chain.source.as_ref().expect("resultAnnotations carry repo and commit");
    assert_eq!(
        (source.repository_url.as_deref(), source.commit_sha.as_deref()),
        (Some("tektoncd/results"), Some("1a6b908"))
    );
    assert_eq!(source.evidence, vec!["annotation:results.tekton.dev/resultAnnotations"]);
}

#[test]
fn matrix_pipelinerun_with_custom_task_runs() {
    let pr = single("tekton/pipelinerun-v1beta1-matrix-cel-customtask-runs-succeeded.yaml");
    assert_eq!((pr.kind, pr.name.as_str()), (RunKind::PipelineRun, "matrixed-pr-4djw9"));
    assert_eq!(pr.api_version.as_deref(), Some("tekton.dev/v1beta1"));
    assert_eq!(pr.pipeline.as_deref(), Some("matrixed-pr-4djw9"));
    assert_eq!(pr.status.outcome, Outcome::Succeeded);
    assert_eq!(pr.children.len(), 8);
    assert!(pr.children.iter().all(|c| c.kind == "Run" && c.api_version.as_deref() == Some("tekton.dev/v1alpha1")));
    assert!(pr.children.iter().all(|c| c.pipeline_task_name.as_deref() == Some("platforms-and-browsers")));
    assert_eq!(pr.children[7].name, "matrixed-pr-4djw9-platforms-and-browsers-0", "order kept as written");
    // One pipeline task, a custom task (taskRef by apiVersion/kind, no name) fanned out by its matrix.
    assert_eq!(pr.pipeline_tasks.len(), 1);
    let task = &pr.pipeline_tasks[0];
    assert_eq!((task.name.as_str(), task.task.as_deref()), ("platforms-and-browsers", None));
    assert!(task.run_after.is_empty() && task.uses_results_of.is_empty() && task.when.is_empty() && !task.finally);
}

#[test]
fn dashboard_taskrun_array_with_failed_kaniko_builds() {
    let all = facts("tekton/taskrun-list-v1beta1-dashboard-kaniko-build-failed.json");
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|f| f.kind == RunKind::TaskRun && f.api_version.as_deref() == Some("tekton.dev/v1beta1")));
    let outcomes: Vec<_> = all.iter().map(|f| (f.pipeline_task.as_deref(), f.status.outcome)).collect();
    assert_eq!(
        outcomes,
        vec![
            (Some("build-skaffold-app"), Outcome::Failed),
            (Some("build-skaffold-web"), Outcome::Failed),
            (Some("skaffold-unit-tests"), Outcome::Succeeded),
        ]
    );
    let app = &all[0];
    assert_eq!(app.name, "demo-pipeline-run-6-build-skaffold-app-k4wxt");
    assert!(app.status.message.as_deref().unwrap_or_default().contains("exited with code 1"));
    assert_eq!(app.steps.len(), 4);
    let kaniko = &app.steps[0];
    assert_eq!(
        (kaniko.name.as_str(), kaniko.exit_code, kaniko.terminated_reason.as_deref()),
        ("build-and-push", Some(1), Some("Error"))
    );
    assert_eq!(
        kaniko.digest.as_deref(),
        Some("sha256:d9fe474f80b73808dc12b54f45f5fc90f7856d9fc699d4a5e79d968a1aef1a72")
    );
    assert_eq!(all[2].steps.len(), 2);
    assert_eq!(all[2].status.start_time, Some(time("2019-09-06T13:50:58Z")));
}

// ---- tekton/: pipeline-service-exporter (one Konflux build: the PipelineRun and seven of its TaskRuns) ----

const EXPORTER_PR: &str = "human-resources-on-pull-request-rlrj8";
const EXPORTER_PR_UID: &str = "4ceaef28-9295-4b0b-93fc-1a03d3feadd5";
const EXPORTER_NS: &str = "rhtapuser-tenant";
const EXPORTER_COMMIT: &str = "b9651320a8c6fdd24cf35d2a1f8ea0a245235442";
const EXPORTER_IMAGE_DIGEST: &str = "sha256:dd1f97370def2173b4fcdb0b75291ed6ecdf3346a2839f6ac7f5eca3a77df37d";

/// A TaskRun of the exporter's PipelineRun: identity, owner and outcome, which every one of them shares.
fn exporter_task_run(file: &str, pipeline_task: &str, task: &str) -> RunFact {
    let tr = single(file);
    assert_eq!(tr.kind, RunKind::TaskRun);
    assert_eq!(tr.api_version.as_deref(), Some("tekton.dev/v1beta1"));
    assert_eq!((tr.namespace.as_str(), tr.name.clone()), (EXPORTER_NS, format!("{EXPORTER_PR}-{pipeline_task}")));
    assert_eq!((tr.pipeline_task.as_deref(), tr.task.as_deref()), (Some(pipeline_task), Some(task)));
    assert_eq!(
        tr.pipeline_run.as_ref().map(|o| (o.name.as_str(), o.uid.as_deref())),
        Some((EXPORTER_PR, Some(EXPORTER_PR_UID)))
    );
    assert_eq!(tr.status.outcome, Outcome::Succeeded);
    assert!(tr.pipeline_tasks.is_empty() && tr.skipped_tasks.is_empty(), "a TaskRun has no DAG");
    assert!(tr.steps.iter().all(|s| s.exit_code == Some(0) && s.terminated_reason.as_deref() == Some("Completed")));
    tr
}

#[test]
fn exporter_pipelinerun_dag_finally_and_skipped_tasks() {
    let pr = single("tekton/pipelinerun-v1beta1-pipeline-service-exporter-build-finally-skipped-childrefs.yaml");
    assert_eq!((pr.kind, pr.name.as_str(), pr.namespace.as_str()), (RunKind::PipelineRun, EXPORTER_PR, EXPORTER_NS));
    assert_eq!((pr.api_version.as_deref(), pr.uid.as_deref()), (Some("tekton.dev/v1beta1"), Some(EXPORTER_PR_UID)));
    assert_eq!(pr.status.outcome, Outcome::Succeeded);
    assert_eq!(pr.status.reason.as_deref(), Some("Completed"));
    assert_eq!(pr.status.message.as_deref(), Some("Tasks Completed: 11 (Failed: 0, Cancelled 0), Skipped: 3"));
    assert_eq!(pr.status.start_time, Some(time("2023-08-25T14:56:28Z")));
    assert_eq!(pr.status.completion_time, Some(time("2023-08-25T15:01:09Z")));
    assert_eq!(pr.children.len(), 11);
    assert!(pr.children.iter().all(|c| c.kind == "TaskRun" && c.api_version.as_deref() == Some("tekton.dev/v1beta1")));
    assert_eq!(
        pr.children[5].name, "humeaa4363f279f84d4e98a2fee1964cf0b-deprecated-base-image-check",
        "a child name Tekton shortened"
    );

    // The DAG from status.pipelineSpec: 12 tasks, then 2 finally tasks, with runAfter as declared.
    let dag: Vec<(&str, Vec<&str>, bool)> = pr
        .pipeline_tasks
        .iter()
        .map(|t| (t.name.as_str(), t.run_after.iter().map(String::as_str).collect(), t.finally))
        .collect();
    assert_eq!(
        dag,
        vec![
            ("init", vec![], false),
            ("clone-repository", vec!["init"], false),
            ("prefetch-dependencies", vec!["clone-repository"], false),
            ("build-container", vec!["prefetch-dependencies"], false),
            ("inspect-image", vec!["build-container"], false),
            ("label-check", vec!["inspect-image"], false),
            ("optional-label-check", vec!["inspect-image"], false),
            ("deprecated-base-image-check", vec![], false),
            ("clair-scan", vec!["build-container"], false),
            ("sast-snyk-check", vec!["clone-repository"], false),
            ("clamav-scan", vec!["build-container"], false),
            ("sbom-json-check", vec!["build-container"], false),
            ("show-sbom", vec![], true),
            ("show-summary", vec![], true),
        ]
    );
    let task =
        |name: &str| pr.pipeline_tasks.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no task {name}"));
    // Result references are edges too: build-container reads init's result in `when` and clone-repository's
    // commit in a param; deprecated-base-image-check has no runAfter and hangs on build-container only by them.
    assert_eq!(task("build-container").uses_results_of, ["clone-repository", "init"]);
    assert_eq!(task("deprecated-base-image-check").uses_results_of, ["build-container"]);
    assert_eq!(task("clone-repository").uses_results_of, ["init"]);
    assert_eq!(
        task("show-summary").uses_results_of,
        ["clone-repository"],
        "`$(tasks.build-container.status)` is no result"
    );
    assert_eq!(task("init").uses_results_of, Vec::<String>::new());
    assert_eq!(task("label-check").uses_results_of, Vec::<String>::new());
    // Task names come from the bundles resolver's `name` param.
    assert_eq!(task("build-container").task.as_deref(), Some("buildah"));
    assert_eq!(task("optional-label-check").task.as_deref(), Some("label-check"));
    assert_eq!(task("show-summary").task.as_deref(), Some("summary"));
    // When expressions as the resolved spec has them (params substituted, result references not).
    assert_eq!(task("init").when, Vec::<String>::new());
    assert_eq!(task("build-container").when, ["$(tasks.init.results.build) in [true]"]);
    assert_eq!(task("prefetch-dependencies").when, ["false in [true]"]);
    assert_eq!(task("sast-snyk-check").when, ["false in [false]", r#""" notin [""]"#]);

    let reason = Some("When Expressions evaluated to false".to_string());
    assert_eq!(
        pr.skipped_tasks,
        ["prefetch-dependencies", "optional-label-check", "sast-snyk-check"]
            .map(|name| SkippedTask { name: name.into(), reason: reason.clone() })
    );

    // Supply chain: the image from pipelineResults, the commit from the CHAINS-GIT_* results.
    assert_eq!(image_digests(&pr), vec![EXPORTER_IMAGE_DIGEST]);
    let source = pr.supply_chain.source.as_ref().expect("CHAINS-GIT_* results");
    assert_eq!(source.repository.as_deref(), Some("github.com/jeff-phillips-18/human-resources"));
    assert_eq!(source.commit_sha.as_deref(), Some(EXPORTER_COMMIT));
    assert_eq!(pr.supply_chain.signed.as_deref(), Some("true"));
}

#[test]
fn exporter_taskrun_init() {
    let tr =
        exporter_task_run("tekton/taskrun-v1beta1-pipeline-service-exporter-init-build-result.yaml", "init", "init");
    assert_eq!(tr.uid.as_deref(), Some("c94f6df4-8137-4e16-bbe6-911a60f118d3"));
    assert_eq!(
        (tr.status.start_time, tr.status.completion_time),
        (Some(time("2023-08-25T14:56:31Z")), Some(time("2023-08-25T14:56:37Z")))
    );
    assert_eq!(step_times(&tr), vec![ran("init", "2023-08-25T14:56:36Z", "2023-08-25T14:56:37Z")]);
    assert_eq!(tr.result("build"), Some(&serde_json::json!("true")), "the input of the other tasks' `when`");
}

#[test]
fn exporter_taskrun_clone_repository() {
    let tr = exporter_task_run(
        "tekton/taskrun-v1beta1-pipeline-service-exporter-clone-repository-commit-url.yaml",
        "clone-repository",
        "git-clone",
    );
    assert_eq!(
        step_times(&tr),
        vec![
            ran("clone", "2023-08-25T14:56:54Z", "2023-08-25T14:56:54Z"),
            ran("symlink-check", "2023-08-25T14:56:54Z", "2023-08-25T14:56:54Z"),
        ]
    );
    let source = tr.supply_chain.source.as_ref().expect("git-clone results");
    assert_eq!(source.commit_sha.as_deref(), Some(EXPORTER_COMMIT));
    assert_eq!(source.repository_url.as_deref(), Some("https://github.com/jeff-phillips-18/human-resources"));
    assert_eq!(&source.evidence[..2], ["url", "commit"]);
}

#[test]
fn exporter_taskrun_build_container_step_timings() {
    let tr = exporter_task_run(
        "tekton/taskrun-v1beta1-pipeline-service-exporter-build-container-image-digest-steps.yaml",
        "build-container",
        "buildah",
    );
    assert_eq!(tr.uid.as_deref(), Some("90675680-c787-446c-bded-7f3d1469aee7"));
    assert_eq!(
        (tr.status.start_time, tr.status.completion_time),
        (Some(time("2023-08-25T14:56:55Z")), Some(time("2023-08-25T14:58:25Z")))
    );
    assert_eq!(
        step_times(&tr),
        vec![
            ran("build", "2023-08-25T14:57:04Z", "2023-08-25T14:58:01Z"),
            ran("sbom-syft-generate", "2023-08-25T14:58:02Z", "2023-08-25T14:58:08Z"),
            ran("analyse-dependencies-java-sbom", "2023-08-25T14:58:08Z", "2023-08-25T14:58:08Z"),
            ran("merge-syft-sboms", "2023-08-25T14:58:09Z", "2023-08-25T14:58:09Z"),
            ran("merge-cachi2-sbom", "2023-08-25T14:58:09Z", "2023-08-25T14:58:09Z"),
            ran("create-purl-sbom", "2023-08-25T14:58:09Z", "2023-08-25T14:58:09Z"),
            ran("inject-sbom-and-push", "2023-08-25T14:58:10Z", "2023-08-25T14:58:22Z"),
            ran("upload-sbom", "2023-08-25T14:58:23Z", "2023-08-25T14:58:24Z"),
        ]
    );
    assert_eq!(tr.steps[0].image.as_deref(), Some("quay.io/redhat-appstudio/buildah:v1.28"));
    assert_eq!(
        tr.steps[0].digest.as_deref(),
        Some("sha256:381e9bfedd59701477621da93892106873a6951b196105d3d2d85c3f6d7b569b")
    );
    assert_eq!(image_digests(&tr), vec![EXPORTER_IMAGE_DIGEST]);
}

#[test]
fn exporter_taskrun_inspect_image() {
    let tr = exporter_task_run(
        "tekton/taskrun-v1beta1-pipeline-service-exporter-inspect-image-base-image.yaml",
        "inspect-image",
        "inspect-image",
    );
    assert_eq!(step_times(&tr), vec![ran("inspect-image", "2023-08-25T14:58:47Z", "2023-08-25T14:58:48Z")]);
    assert_eq!(tr.result("BASE_IMAGE_REPOSITORY"), Some(&serde_json::json!("ubi8/openjdk-17-runtime")));
    assert!(tr.supply_chain.images.is_empty(), "a base image is an input, not a product");
}

#[test]
fn exporter_taskrun_clair_scan() {
    let tr = exporter_task_run(
        "tekton/taskrun-v1beta1-pipeline-service-exporter-clair-scan-vulnerability-counts.yaml",
        "clair-scan",
        "clair-scan",
    );
    assert_eq!(
        step_times(&tr),
        vec![
            ran("get-vulnerabilities", "2023-08-25T14:59:30Z", "2023-08-25T14:59:40Z"),
            ran("conftest-vulnerabilities", "2023-08-25T14:59:41Z", "2023-08-25T14:59:41Z"),
            ran("test-format-result", "2023-08-25T14:59:41Z", "2023-08-25T14:59:41Z"),
        ]
    );
    let scans = &tr.supply_chain.scans;
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!((scans[0].critical, scans[0].high, scans[0].medium, scans[0].low), (0, 2, 12, 3));
    assert_eq!(scans[0].evidence, "CLAIR_SCAN_RESULT");
}

#[test]
fn exporter_taskrun_clamav_scan_with_sidecar() {
    let tr = exporter_task_run(
        "tekton/taskrun-v1beta1-pipeline-service-exporter-clamav-scan-sidecar.yaml",
        "clamav-scan",
        "clamav-scan",
    );
    // The `database` sidecar is not a step.
    assert_eq!(
        step_times(&tr),
        vec![
            ran("extract-and-scan-image", "2023-08-25T14:59:31Z", "2023-08-25T15:01:01Z"),
            ran("modify-clam-output-to-json", "2023-08-25T15:01:01Z", "2023-08-25T15:01:02Z"),
            ran("store-hacbs-test-output-result", "2023-08-25T15:01:02Z", "2023-08-25T15:01:02Z"),
        ]
    );
    assert_eq!(tr.results.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["TEST_OUTPUT"]);
}

#[test]
fn exporter_taskrun_show_summary_finally() {
    let tr = exporter_task_run(
        "tekton/taskrun-v1beta1-pipeline-service-exporter-show-summary-finally.yaml",
        "show-summary",
        "summary",
    );
    assert_eq!(tr.labels.get("tekton.dev/memberOf").map(String::as_str), Some("finally"));
    assert_eq!(step_times(&tr), vec![ran("appstudio-summary", "2023-08-25T15:01:07Z", "2023-08-25T15:01:07Z")]);
    assert!(tr.results.is_empty());
    assert_eq!(tr.status.completion_time, Some(time("2023-08-25T15:01:08Z")));
}

// ---- tekton/: Lighthouse ----

#[test]
fn lighthouse_pipelinerun_succeeded() {
    let pr = single("tekton/pipelinerun-v1-lighthouse-succeeded-multiple-tasks.yaml");
    assert_eq!((pr.name.as_str(), pr.namespace.as_str()), ("jenkins-x-jx-pr-7463-boot-vault-9mbgb-17", "jx"));
    assert_eq!(pr.pipeline.as_deref(), Some("jenkins-x-jx-pr-7463-boot-vault-9mbgb-17"));
    assert_eq!(pr.status.outcome, Outcome::Succeeded);
    assert_eq!(pr.status.completion_time, Some(time("2020-07-20T20:50:27Z")));
    assert_eq!(pr.children.len(), 2);
    assert_eq!(pr.children[0].pipeline_task_name, None);
    assert_eq!(pr.labels.get("build").map(String::as_str), Some("17"));
    let source = pr.supply_chain.source.as_ref().expect("Lighthouse labels");
    assert_eq!(source.repository.as_deref(), Some("github.com/jenkins-x/jx"));
    assert_eq!(
        source.commit_sha.as_deref(),
        Some("8a3c5f595cdc3162e46390c72a5d22fb9c89d1df"),
        "lastCommitSHA over baseSHA"
    );
    assert_eq!(source.branch.as_deref(), Some("PR-7463"));
    assert!(source.evidence.contains(&"label:lighthouse.jenkins-x.io/lastCommitSHA".to_string()));
}

#[test]
fn lighthouse_pipelinerun_running() {
    let pr = single("tekton/pipelinerun-v1-lighthouse-running-single-task.yaml");
    assert_eq!(pr.name, "jenkins-x-jx-pr-7463-unit-wbf7v-18");
    assert_eq!(pr.status.outcome, Outcome::Running);
    assert_eq!((pr.status.start_time, pr.status.completion_time), (Some(time("2020-07-20T20:15:20Z")), None));
    assert_eq!(child_names(&pr), vec![("TaskRun", "jenkins-x-jx-pr-7463-unit-wbf7v-18-ci-8r5qw", None)]);
    assert_eq!(pr.params.len(), 2);
    let source = pr.supply_chain.source.as_ref().expect("Lighthouse labels");
    assert_eq!(source.repository_url.as_deref(), Some("https://github.com/jenkins-x/jx.git"));
}

#[test]
fn lighthouse_pipelinerun_with_taskrun_and_customrun() {
    let pr = single("tekton/pipelinerun-v1-lighthouse-taskrun-and-customrun-succeeded.yaml");
    assert_eq!(pr.name, "myorg-myrepo-main-abc12-1");
    assert_eq!(pr.pipeline, None);
    assert_eq!(pr.status.outcome, Outcome::Succeeded);
    assert_eq!(
        child_names(&pr),
        vec![
            ("TaskRun", "myorg-myrepo-main-abc12-1-build-xkwrt", Some("build")),
            ("CustomRun", "myorg-myrepo-main-abc12-1-trigger-cleanup-fghij", Some("trigger-cleanup")),
        ]
    );
    let source = pr.supply_chain.source.as_ref().expect("Lighthouse labels");
    assert_eq!(source.repository.as_deref(), Some("github.com/myorg/myrepo"));
    assert_eq!((source.commit_sha.as_deref(), source.branch.as_deref()), (Some("def456"), Some("main")));
}

#[test]
fn lighthouse_taskrun_succeeded_steps() {
    let tr = single("tekton/taskrun-v1-lighthouse-succeeded-steps.yaml");
    assert_eq!((tr.kind, tr.name.as_str()), (RunKind::TaskRun, "jenkins-x-jx-pr-7463-boot-vault-9mbgb-17-build-2jnvr"));
    assert_eq!(tr.status.outcome, Outcome::Succeeded);
    assert_eq!(tr.duration_seconds(), Some(392.0));
    assert_eq!(tr.steps.len(), 13);
    assert!(tr.steps.iter().all(|s| s.exit_code == Some(0) && s.terminated_reason.as_deref() == Some("Completed")));
    let kaniko = tr.steps.iter().find(|s| s.name == "build-and-push-image").expect("kaniko step");
    assert_eq!(
        kaniko.digest.as_deref(),
        Some("sha256:a0756adbb79d48e04ac9ffb7e7291c4a86fd2ffc55adc9db61480aba74ca4674")
    );
    assert!(kaniko.image_id.as_deref().unwrap_or_default().starts_with("docker-pullable://gcr.io/kaniko-project/"));
}

#[test]
fn lighthouse_taskrun_running_steps() {
    let tr = single("tekton/taskrun-v1-lighthouse-running-steps.yaml");
    assert_eq!(tr.name, "jenkins-x-jx-pr-7463-unit-wbf7v-18-ci-8r5qw");
    assert_eq!(tr.status.outcome, Outcome::Running);
    assert_eq!(tr.steps.len(), 6);
    let running: Vec<_> = tr.steps.iter().filter(|s| s.exit_code.is_none()).map(|s| s.name.as_str()).collect();
    assert_eq!(running, vec!["build", "unit-test"]);
    assert!(tr.steps.iter().all(|s| s.digest.is_some()));
    // A running step has a start (`running.startedAt`) and no finish yet.
    assert_eq!(
        (tr.steps[3].name.as_str(), tr.steps[3].started_at, tr.steps[3].finished_at),
        ("build", Some(time("2020-07-20T20:15:31Z")), None)
    );
    assert_eq!(step_times(&tr)[1], ran("git-merge", "2020-07-20T20:15:37Z", "2020-07-20T20:15:48Z"));
}

#[test]
fn lighthouse_v1beta1_taskrun_running() {
    let tr = single("tekton/taskrun-v1beta1-lighthouse-running.yaml");
    assert_eq!(tr.api_version.as_deref(), Some("tekton.dev/v1beta1"));
    assert_eq!((tr.kind, tr.status.outcome), (RunKind::TaskRun, Outcome::Running));
    assert_eq!(tr.status.start_time, Some(time("2020-07-20T20:15:20Z")));
    assert_eq!(tr.steps.len(), 6);
    assert_eq!(
        tr.steps[2].digest.as_deref(),
        Some("sha256:ab77416f4eb310c86dde4dc0d7ba9277dba633b9e0dcda2b0d7265742ab28d3d")
    );
}

// ---- cloudevents/ ----

#[test]
fn tekton_cloudevent_taskrun_body() {
    let tr = single("cloudevents/tekton-taskrun-unknown-v1-payload.json");
    assert_eq!((tr.kind, tr.name.as_str(), tr.namespace.as_str()), (RunKind::TaskRun, "curl-run-6gplk", "default"));
    assert_eq!(tr.uid.as_deref(), Some("4ccb4f01-3ecc-4eb4-87e1-76f04efeee5c"));
    assert_eq!(tr.resource_version.as_deref(), Some("156770"));
    assert_eq!(tr.creation_timestamp, Some(time("2021-01-29T14:47:57Z")));
    assert_eq!(tr.task.as_deref(), Some("curl"));
    assert_eq!(tr.status.outcome, Outcome::Pending);
    assert_eq!(tr.status.reason.as_deref(), Some("Pending"));
    assert_eq!(tr.steps.len(), 1);
    assert_eq!((tr.steps[0].image.as_deref(), tr.steps[0].image_id.as_deref()), (Some("$(params.curl-image)"), None));
    assert_eq!(tr.supply_chain.source, None, "a curl `url` param is not a repository");
    assert_eq!(tr.annotations.get("tekton.dev/tags").map(String::as_str), Some("search"));
}

// ---- seed-conventions/ ----

#[test]
fn seed_list_builds_scans_and_rerun() {
    let all = facts("seed-conventions/list-v1-idec-builds-scans-rerun.json");
    assert_eq!(all.len(), 27);
    let prs: Vec<_> = all.iter().filter(|f| f.kind == RunKind::PipelineRun).collect();
    assert_eq!((prs.len(), all.len() - prs.len()), (9, 18));
    assert!(all.iter().all(|f| f.namespace == "idec" && f.observed_from == ObservedFrom::Object));

    let builds: Vec<_> = prs.iter().filter(|f| f.pipeline.as_deref() == Some("idec-image-builds")).collect();
    let scans: Vec<_> = prs.iter().filter(|f| f.pipeline.as_deref() == Some("image-scan")).collect();
    assert_eq!((builds.len(), scans.len()), (5, 4));

    // Every build PipelineRun names its full source revision.
    for build in &builds {
        let source = build.supply_chain.source.as_ref().unwrap_or_else(|| panic!("{} has a source", build.name));
        assert_eq!(source.repository.as_deref(), Some(IDEC_REPOSITORY));
        assert_eq!(source.author.as_deref(), Some("Joost van der Griendt"));
        assert_eq!(source.author_email.as_deref(), Some("me@example.com"));
        assert!(source.message.is_some() && source.timestamp.is_some(), "{}", build.name);
        assert_eq!(source.evidence[..2], ["REPO_URL", "REPO_COMMIT"]);
    }
    let first = find(&all, RunKind::PipelineRun, "idec-image-builds-run-fb422");
    let source = first.supply_chain.source.as_ref().expect("source");
    assert_eq!(source.commit_sha.as_deref(), Some("c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f901"));
    assert_eq!(source.message.as_deref(), Some("Initial commit"));
    assert_eq!(source.timestamp.as_deref(), Some("2024-05-15T09:45:00+02:00"));
    let trigger = first.supply_chain.trigger.as_ref().expect("trigger");
    assert_eq!((trigger.kind.as_deref(), trigger.event_listener.as_deref()), (Some("git"), Some("idec-image-builds")));
    assert_eq!(trigger.event_id.as_deref(), Some("1488ea3f-b8fd-30cb-f1ec-6bd3d45110c3"));
    assert_eq!(first.supply_chain.signed.as_deref(), Some("true"));
    assert_eq!(image_digests(first), vec!["sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9"]);
    assert_eq!(first.supply_chain.images[0].tag.as_deref(), Some("0.1.0"));
    assert_eq!(first.supply_chain.images[0].repository.as_deref(), Some("ghcr.io/joostvdg/idec"));
    assert_eq!(first.children.len(), 3);

    // The failed build and its Dashboard re-run.
    let failed = find(&all, RunKind::PipelineRun, "idec-image-builds-run-5ca46");
    assert_eq!(failed.status.outcome, Outcome::Failed);
    assert!(failed.supply_chain.images.is_empty());
    let failed_push = find(&all, RunKind::TaskRun, "idec-image-builds-run-5ca46-build-push");
    assert_eq!(failed_push.status.outcome, Outcome::Failed);
    assert_eq!(failed_push.steps[1].exit_code, Some(1));
    let rerun = find(&all, RunKind::PipelineRun, "idec-image-builds-run-5ca46-r-9f9f7");
    assert_eq!(rerun.supply_chain.rerun_of.as_deref(), Some("idec-image-builds-run-5ca46"));
    assert_eq!(rerun.status.outcome, Outcome::Succeeded);
    assert_eq!(rerun.supply_chain.trigger.as_ref().and_then(|t| t.kind.as_deref()), Some("manual"));
    assert_eq!(all.iter().filter(|f| f.supply_chain.rerun_of.is_some()).count(), 1);

    // Scan runs report counts for the image they scanned and produce no images.
    let scan_runs: Vec<_> = all.iter().filter(|f| f.pipeline.as_deref() == Some("image-scan")).collect();
    assert_eq!(scan_runs.len(), 8);
    for run in &scan_runs {
        assert!(!run.supply_chain.scans.is_empty(), "{} has scans", run.name);
        assert!(run.supply_chain.images.is_empty(), "{} produced no images", run.name);
    }
    let scan = find(&all, RunKind::PipelineRun, "image-scan-run-7a483");
    let counts = &scan.supply_chain.scans;
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (counts[0].critical, counts[0].high, counts[0].medium, counts[0].low, counts[0].unknown),
        (2, 3, 7, 12, 0)
    );
    assert_eq!(counts[0].evidence, "SCAN_OUTPUT");
    assert_eq!(
        counts[0].image_digest.as_deref(),
        Some("sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9")
    );
    assert_eq!(counts[0].image_repository.as_deref(), Some("ghcr.io/joostvdg/idec"));
    let trivy = find(&all, RunKind::TaskRun, "image-scan-run-7a483-trivy-scan");
    assert_eq!(trivy.supply_chain.scans.len(), 2, "CLAIR_SCAN_RESULT and SCAN_OUTPUT");
    let clair = &trivy.supply_chain.scans[0];
    assert_eq!((clair.evidence.as_str(), clair.critical, clair.high), ("CLAIR_SCAN_RESULT", 2, 3));
    assert_eq!(clair.unpatched.as_ref().map(|u| u.critical + u.high + u.medium + u.low), Some(0));
    assert_eq!(clair.image_digest, counts[0].image_digest, "from the pinned IMAGE param");
    let later = find(&all, RunKind::PipelineRun, "image-scan-run-77886");
    assert_eq!((later.supply_chain.scans[0].critical, later.supply_chain.scans[0].high), (1, 4));

    // Every built image is scanned by some scan run.
    let built: std::collections::BTreeSet<_> =
        builds.iter().flat_map(|b| b.supply_chain.images.iter().map(|i| i.digest.clone())).collect();
    let scanned: std::collections::BTreeSet<_> =
        scans.iter().filter_map(|s| s.supply_chain.scans[0].image_digest.clone()).collect();
    assert_eq!(built.len(), 4);
    assert_eq!(built, scanned);

    // TaskRuns point to their PipelineRun by owner reference (with uid).
    let fetch = find(&all, RunKind::TaskRun, "idec-image-builds-run-fb422-fetch-source");
    let owner = fetch.pipeline_run.as_ref().expect("owner");
    assert_eq!((owner.name.as_str(), owner.uid.as_deref()), ("idec-image-builds-run-fb422", first.uid.as_deref()));
    assert_eq!((fetch.task.as_deref(), fetch.pipeline_task.as_deref()), (Some("fetch-source"), Some("fetch-source")));
    let fetch_source = fetch.supply_chain.source.as_ref().expect("git-clone results");
    assert_eq!(fetch_source.commit_sha, source.commit_sha);
    assert_eq!(fetch_source.timestamp.as_deref(), Some("2024-05-15T09:45:00+02:00"));
    assert_eq!(repository_key(fetch_source.repository_url.as_deref().unwrap_or_default()), IDEC_REPOSITORY);
    let task_runs = all.iter().filter(|f| f.kind == RunKind::TaskRun);
    assert!(task_runs.clone().all(|t| t.pipeline_run.as_ref().is_some_and(|o| o.uid.is_some())));
    // fetch 1 + build-push 2 + unit-test 1 per build (the failed one has no unit test), scan 1 per scan.
    assert_eq!(task_runs.map(|t| t.steps.len()).sum::<usize>(), 5 + 5 * 2 + 4 + 4);
}
