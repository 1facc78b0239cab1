//! `harvester watch` against a real kube-apiserver (etcd, Tekton's CRDs, no Tekton controller) into a real
//! graph-service in-process: listing, updates, deletions, label selectors, several namespaces, restarts and bad
//! objects. Needs `scripts/services.sh up kube` and `eval "$(scripts/services.sh env)"`: without KUBECONFIG every
//! test fails (never skips), so CI cannot pass without the API server.
//!
//! Every test has its own namespaces and its own graph-service, so the tests run in parallel.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::cluster::{Cluster, fixture, running};
use support::graph::GraphService;
use support::watch::{Stdout, WatchProcess};
use tekton_graph_schema::{RunKey, RunKind};
use tekton_graph_telemetry::testing::{promtool_check, value};

const SEED_LIST: &str = "seed-conventions/list-v1-idec-builds-scans-rerun.json";
const LIGHTHOUSE: &str = "tekton/pipelinerun-v1-lighthouse-succeeded-multiple-tasks.yaml";
const LIGHTHOUSE_NAME: &str = "jenkins-x-jx-pr-7463-boot-vault-9mbgb-17";
/// Long enough for a loaded CI machine; a watch event normally arrives in well under a second.
const WAIT: Duration = Duration::from_secs(30);
/// Flush promptly so that waits are short.
const LINGER: &[&str] = &["--linger-ms", "20"];

fn run_query(namespace: &str, name: &str) -> String {
    format!(
        r#"{{ pipelineRun(namespace: "{namespace}", name: "{name}") {{ name status deletedFromCluster deletedAt
              labels {{ key value }} }} }}"#
    )
}

async fn wait_for_run(graph: &GraphService, namespace: &str, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    graph.wait_for(&run_query(namespace, name), WAIT, |answer| done(&answer["pipelineRun"])).await["pipelineRun"]
        .clone()
}

async fn run_is_absent(graph: &GraphService, namespace: &str, name: &str) -> bool {
    graph.graphql(&run_query(namespace, name)).await["pipelineRun"].is_null()
}

/// The lighthouse PipelineRun as a fixture named `name`, with `labels` added.
fn lighthouse_named(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut run = fixture(LIGHTHOUSE).remove(0);
    run["metadata"]["name"] = name.into();
    for (key, value) in labels {
        run["metadata"]["labels"][*key] = (*value).into();
    }
    run
}

fn watch(namespaces: &[&str], sink: &str, extra: &[&str], stdout: Stdout) -> WatchProcess {
    let mut args: Vec<&str> = namespaces.iter().flat_map(|ns| ["--namespace", ns]).collect();
    args.extend(["--sink", sink]);
    args.extend(LINGER);
    args.extend(extra);
    WatchProcess::start(&args, stdout)
}

/// Stops the watch and checks the clean-exit contract: exit code 0 after SIGTERM and a summary line.
fn stop_cleanly(process: WatchProcess) -> Vec<String> {
    let (status, stderr) = process.stop();
    assert!(status.success(), "exit after SIGTERM: {status}: {stderr:#?}");
    assert!(stderr.iter().any(|l| l.starts_with("stopped watching:")), "{stderr:#?}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_existing_runs_then_follows_status_updates_and_deletions() {
    let cluster = Cluster::connect().await;
    let ns = cluster.namespace("watch-follow").await;
    let seed = fixture(SEED_LIST);
    for run in &seed {
        cluster.create_run(&ns, run).await;
    }
    let lighthouse = fixture(LIGHTHOUSE).remove(0);
    cluster.create_run(&ns, &lighthouse).await;
    cluster.set_status(&ns, "PipelineRun", LIGHTHOUSE_NAME, running(&lighthouse["status"])).await;

    let graph = GraphService::start().await;
    let mut process = watch(&[&ns], &graph.sink(), &["--metrics-listen", "127.0.0.1:0"], Stdout::Discard);
    let metrics_at = process.wait_for_stderr("metrics on ", 1, WAIT).await.remove(0);
    let metrics_url = metrics_at.trim_start_matches("metrics on ").to_string();
    let listed = process.wait_for_stderr("listed ", 2, WAIT).await;
    let prs = seed.iter().filter(|r| r["kind"] == "PipelineRun").count() + 1;
    let trs = seed.len() + 1 - prs;
    assert!(
        listed.iter().any(|l| l.starts_with(&format!("listed {prs} PipelineRuns (tekton.dev/v1) in namespace {ns}")))
    );
    assert!(listed.iter().any(|l| l.starts_with(&format!("listed {trs} TaskRuns (tekton.dev/v1) in namespace {ns}"))));

    // Pre-existing runs arrive with their supply chain, as from a replay.
    let image = "sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9";
    let query = format!(r#"{{ image(digest: "{image}") {{ builtBy {{ name namespace }} scans {{ critical }} }} }}"#);
    let answer = graph.wait_for(&query, WAIT, |a| !a["image"]["scans"].as_array().is_none_or(Vec::is_empty)).await;
    assert_eq!(answer["image"]["builtBy"]["name"], "idec-image-builds-run-fb422");
    assert_eq!(answer["image"]["builtBy"]["namespace"], ns.as_str());
    let before = wait_for_run(&graph, &ns, LIGHTHOUSE_NAME, |run| run["status"] == "RUNNING").await;
    assert_eq!(before["deletedFromCluster"], false);

    // A status update (what Tekton's controller writes) arrives as a newer fact.
    cluster.set_status(&ns, "PipelineRun", LIGHTHOUSE_NAME, lighthouse["status"].clone()).await;
    wait_for_run(&graph, &ns, LIGHTHOUSE_NAME, |run| run["status"] == "SUCCEEDED").await;

    // A deletion keeps the run in the graph, marked, with its last status.
    cluster.delete(&ns, "PipelineRun", "idec-image-builds-run-fb422").await;
    let deleted =
        wait_for_run(&graph, &ns, "idec-image-builds-run-fb422", |run| run["deletedFromCluster"] == true).await;
    assert_eq!(deleted["status"], "SUCCEEDED");
    assert!(deleted["deletedAt"].is_string(), "{deleted}");
    let key = RunKey { kind: RunKind::PipelineRun, namespace: ns.clone(), name: "idec-image-builds-run-fb422".into() };
    let fact = graph.store.facts(&[key]).await.expect("store read").remove(0).expect("fact");
    assert!(fact.deleted_at.is_some(), "the stored fact carries deletedAt");

    // The same story in the metrics, in a format Prometheus' own parser accepts.
    let text = reqwest::get(&metrics_url).await.expect("scrape").text().await.expect("metrics text");
    promtool_check(&text).unwrap();
    assert_eq!(value(&text, "tekton_graph_harvester_objects_total", "change=\"delete\""), 1.0);
    assert!(value(&text, "tekton_graph_harvester_objects_total", "change=\"upsert\"") >= (prs + trs + 1) as f64);
    assert!(value(&text, "tekton_graph_harvester_facts_sent_total", "") >= (prs + trs) as f64);
    for kind in ["PipelineRuns", "TaskRuns"] {
        let target = format!("target=\"{kind} (tekton.dev/v1) in namespace {ns}\"");
        assert_eq!(value(&text, "tekton_graph_harvester_lists_total", &target), 1.0, "one list per watch so far");
        assert_eq!(value(&text, "tekton_graph_harvester_list_duration_seconds_count", &target), 1.0);
    }
    assert_eq!(value(&text, "tekton_graph_harvester_errors_total", ""), 0.0);
    assert_eq!(value(&text, "tekton_graph_harvester_relists_total", ""), 0.0);

    let stderr = stop_cleanly(process);
    let summary = stderr.iter().find(|l| l.starts_with("stopped watching:")).expect("summary");
    assert!(summary.contains("(1 deletions)") && summary.contains("(0 errors)"), "{summary}");
    graph.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_sink_delivers_a_deletion_as_a_fact_with_deleted_at() {
    let cluster = Cluster::connect().await;
    let ns = cluster.namespace("watch-stdout").await;
    cluster.create_run(&ns, &fixture(LIGHTHOUSE).remove(0)).await;
    let mut process = watch(&[&ns], "-", &[], Stdout::Capture);
    process.wait_for_stderr("listed ", 2, WAIT).await;
    cluster.delete(&ns, "PipelineRun", LIGHTHOUSE_NAME).await;

    // The linger flushes stdout too: the deletion is visible without stopping the watch.
    let deadline = std::time::Instant::now() + WAIT;
    let facts = loop {
        let facts: Vec<Value> = process
            .stdout()
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).expect("one CloudEvent per line"))
            .collect();
        if facts.iter().any(|e| e["data"]["deletedAt"].is_string()) {
            break facts;
        }
        assert!(std::time::Instant::now() < deadline, "no deleted fact on stdout: {facts:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let [listed, deleted] = &facts[..] else { panic!("one fact listed, one deleted: {facts:#?}") };
    assert_eq!(listed["subject"], format!("PipelineRun/{ns}/{LIGHTHOUSE_NAME}"));
    assert_eq!(deleted["subject"], listed["subject"]);
    assert!(listed["data"].get("deletedAt").is_none());
    // The deleted fact is the object's last observation, stamped: same run, same outcome.
    assert_eq!(deleted["data"]["status"], listed["data"]["status"]);
    stop_cleanly(process);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_selector_filters_runs() {
    let cluster = Cluster::connect().await;
    let ns = cluster.namespace("watch-selector").await;
    cluster.create_run(&ns, &lighthouse_named("team-a-run", &[("team", "a")])).await;
    cluster.create_run(&ns, &lighthouse_named("team-b-run", &[("team", "b")])).await;

    let graph = GraphService::start().await;
    let mut process = watch(&[&ns], &graph.sink(), &["--selector", "team=a"], Stdout::Discard);
    let listed = process.wait_for_stderr("listed ", 2, WAIT).await;
    assert!(listed.iter().any(|l| l.starts_with(&format!("listed 1 PipelineRuns (tekton.dev/v1) in namespace {ns}"))));
    wait_for_run(&graph, &ns, "team-a-run", |run| !run.is_null()).await;
    assert!(run_is_absent(&graph, &ns, "team-b-run").await, "filtered out by the selector");

    // A run that comes to match is sent; one created not matching never is.
    cluster.set_labels(&ns, "PipelineRun", "team-b-run", serde_json::json!({"team": "a"})).await;
    cluster.create_run(&ns, &lighthouse_named("team-c-run", &[("team", "c")])).await;
    let moved = wait_for_run(&graph, &ns, "team-b-run", |run| !run.is_null()).await;
    assert!(moved["labels"].as_array().expect("labels").iter().any(|l| l["key"] == "team" && l["value"] == "a"));
    stop_cleanly(process);
    assert!(run_is_absent(&graph, &ns, "team-c-run").await, "never matched the selector");
    graph.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_namespaces_are_merged_and_all_namespaces_sees_every_one() {
    let cluster = Cluster::connect().await;
    let mut namespaces = Vec::new();
    // The cluster-wide watch below selects this test's runs: the shared API server may hold many others.
    let test_label =
        format!("{}-{}", std::process::id(), std::time::UNIX_EPOCH.elapsed().unwrap_or_default().as_nanos());
    for _ in 0..3 {
        let ns = cluster.namespace("watch-multi").await;
        cluster.create_run(&ns, &lighthouse_named(LIGHTHOUSE_NAME, &[("test-run", &test_label)])).await;
        namespaces.push(ns);
    }
    let graph = GraphService::start().await;
    let mut process = watch(&[&namespaces[0], &namespaces[1]], &graph.sink(), &[], Stdout::Discard);
    process.wait_for_stderr("listed ", 4, WAIT).await;
    for ns in &namespaces[..2] {
        wait_for_run(&graph, ns, LIGHTHOUSE_NAME, |run| !run.is_null()).await;
    }
    // Changes in either namespace arrive over the merged streams.
    cluster.delete(&namespaces[1], "PipelineRun", LIGHTHOUSE_NAME).await;
    wait_for_run(&graph, &namespaces[1], LIGHTHOUSE_NAME, |run| run["deletedFromCluster"] == true).await;
    stop_cleanly(process);
    assert!(run_is_absent(&graph, &namespaces[2], LIGHTHOUSE_NAME).await, "not a watched namespace");
    graph.stop().await;

    let everything = GraphService::start().await;
    let selector = format!("test-run={test_label}");
    let args = ["--all-namespaces", "--selector", &selector, "--sink", &everything.sink()];
    let mut process = WatchProcess::start(&args, Stdout::Discard);
    let listed = process.wait_for_stderr("listed ", 2, WAIT).await;
    assert!(listed.iter().any(|l| l.starts_with("listed 2 PipelineRuns")), "one was deleted: {listed:#?}");
    assert!(listed.iter().all(|l| l.contains(" in all namespaces in ")), "{listed:#?}");
    for ns in [&namespaces[0], &namespaces[2]] {
        wait_for_run(&everything, ns, LIGHTHOUSE_NAME, |run| !run.is_null()).await;
    }
    stop_cleanly(process);
    everything.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_relists_and_the_graph_ends_with_the_newest_state() {
    let cluster = Cluster::connect().await;
    let ns = cluster.namespace("watch-restart").await;
    let lighthouse = fixture(LIGHTHOUSE).remove(0);
    cluster.create_run(&ns, &lighthouse).await;
    cluster.set_status(&ns, "PipelineRun", LIGHTHOUSE_NAME, running(&lighthouse["status"])).await;
    let graph = GraphService::start().await;

    let mut first = watch(&[&ns], &graph.sink(), &[], Stdout::Discard);
    first.wait_for_stderr("listed ", 2, WAIT).await;
    wait_for_run(&graph, &ns, LIGHTHOUSE_NAME, |run| run["status"] == "RUNNING").await;
    stop_cleanly(first);

    // While nobody watches: the run finishes and another one starts.
    cluster.set_status(&ns, "PipelineRun", LIGHTHOUSE_NAME, lighthouse["status"].clone()).await;
    cluster.create_run(&ns, &lighthouse_named("started-while-down", &[])).await;
    assert_eq!(graph.graphql(&run_query(&ns, LIGHTHOUSE_NAME)).await["pipelineRun"]["status"], "RUNNING");

    let mut second = watch(&[&ns], &graph.sink(), &[], Stdout::Discard);
    second.wait_for_stderr("listed ", 2, WAIT).await;
    wait_for_run(&graph, &ns, LIGHTHOUSE_NAME, |run| run["status"] == "SUCCEEDED").await;
    wait_for_run(&graph, &ns, "started-while-down", |run| run["status"] == "SUCCEEDED").await;
    stop_cleanly(second);
    graph.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_does_not_translate_is_reported_and_the_watch_goes_on() {
    let cluster = Cluster::connect().await;
    let ns = cluster.namespace("watch-bad").await;
    let mut bad = lighthouse_named("bad-start-time", &[]);
    bad["status"]["startTime"] = "yesterday".into();
    cluster.create_run(&ns, &bad).await;
    cluster.create_run(&ns, &lighthouse_named("good-before", &[])).await;

    let graph = GraphService::start().await;
    let mut process = watch(&[&ns], &graph.sink(), &[], Stdout::Discard);
    process.wait_for_stderr("listed ", 2, WAIT).await;
    wait_for_run(&graph, &ns, "good-before", |run| !run.is_null()).await;
    let errors = process.wait_for_stderr("error: ", 1, WAIT).await;
    assert!(
        errors[0].starts_with(&format!("error: PipelineRun {ns}/bad-start-time: ")) && errors[0].contains("yesterday"),
        "{errors:#?}"
    );
    cluster.create_run(&ns, &lighthouse_named("good-after", &[])).await;
    wait_for_run(&graph, &ns, "good-after", |run| !run.is_null()).await;
    assert!(run_is_absent(&graph, &ns, "bad-start-time").await);
    let stderr = stop_cleanly(process);
    assert!(stderr.iter().any(|l| l.starts_with("stopped watching:") && l.ends_with("(1 errors)")), "{stderr:#?}");
    graph.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_namespace_lists_nothing_and_a_bad_kubeconfig_fails_fast() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_harvester"))
        .args(["watch", "--kubeconfig", "/nonexistent/kubeconfig", "--sink", "-"])
        .output()
        .expect("harvester runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: connecting to Kubernetes: cannot read the kubeconfig"), "{stderr}");

    let mut process = watch(&["no-such-namespace-here"], "-", &[], Stdout::Capture);
    let listed = process.wait_for_stderr("listed ", 2, WAIT).await;
    assert!(listed.iter().all(|l| l.starts_with("listed 0 ")), "{listed:#?}");
    stop_cleanly(process);
}

/// The deployment's RBAC (deploy/kubernetes/rbac.yaml), applied under unique names, is enough for
/// `--all-namespaces`: the harvester authenticates as the ServiceAccount and lists and watches every namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_rbac_is_enough_to_watch_every_namespace() {
    let cluster = Cluster::connect().await;
    let ns = cluster.namespace("watch-rbac").await;
    let account = apply_deployed_rbac(&cluster, &ns).await;
    let kubeconfig = cluster.kubeconfig_for(&ns, &account).await;
    cluster.create_run(&ns, &lighthouse_named(LIGHTHOUSE_NAME, &[("test-run", &ns)])).await;

    // Cluster-wide, but only this test's run: the shared API server may hold many others.
    let selector = format!("test-run={ns}");
    let args = ["--all-namespaces", "--selector", &selector, "--sink", "-"];
    let mut process = WatchProcess::start_with(kubeconfig.path(), &args, Stdout::Capture);
    process.wait_for_stderr("listed ", 2, WAIT).await;
    let deadline = std::time::Instant::now() + WAIT;
    let subject = format!("PipelineRun/{ns}/{LIGHTHOUSE_NAME}");
    while !process.stdout().iter().any(|l| l.contains(&subject)) {
        assert!(std::time::Instant::now() < deadline, "{subject} not watched: {:#?}", process.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stderr = stop_cleanly(process);
    assert!(!stderr.iter().any(|l| l.starts_with("error: ")), "no access errors: {stderr:#?}");
}

/// Creates rbac.yaml's ServiceAccount in `namespace` and its ClusterRole and binding under names unique to this
/// run; returns the ServiceAccount's name.
async fn apply_deployed_rbac(cluster: &Cluster, namespace: &str) -> String {
    use kube::api::{Api, DynamicObject, PostParams};
    use kube::core::{ApiResource, GroupVersionKind};

    let path = support::cluster::testdata().join("../deploy/kubernetes/rbac.yaml");
    let text = std::fs::read_to_string(&path).expect("rbac.yaml");
    let mut account = String::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let mut object: Value = serde::Deserialize::deserialize(document).expect("YAML document");
        let unique = format!("{namespace}-{}", object["metadata"]["name"].as_str().expect("name"));
        let kind = object["kind"].as_str().expect("kind").to_string();
        let (group, version) = match object["apiVersion"].as_str().expect("apiVersion").split_once('/') {
            Some((group, version)) => (group.to_string(), version.to_string()),
            None => (String::new(), "v1".to_string()),
        };
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, &version, &kind));
        object["metadata"]["namespace"] = namespace.into();
        match kind.as_str() {
            "ServiceAccount" => account = object["metadata"]["name"].as_str().expect("name").to_string(),
            "ClusterRole" => object["metadata"]["name"] = unique.clone().into(),
            "ClusterRoleBinding" => {
                object["metadata"]["name"] = unique.clone().into();
                object["roleRef"]["name"] =
                    format!("{namespace}-{}", object["roleRef"]["name"].as_str().expect("role")).into();
                object["subjects"][0]["namespace"] = namespace.into();
            }
            other => panic!("unexpected {other} in rbac.yaml"),
        }
        let api: Api<DynamicObject> = if kind == "ServiceAccount" {
            Api::namespaced_with(cluster.client.clone(), namespace, &resource)
        } else {
            object["metadata"].as_object_mut().expect("metadata").remove("namespace");
            Api::all_with(cluster.client.clone(), &resource)
        };
        let object: DynamicObject = serde_json::from_value(object).expect("object");
        api.create(&PostParams::default(), &object).await.unwrap_or_else(|e| panic!("create {kind}: {e}"));
    }
    account
}
