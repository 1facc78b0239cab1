//! The Kubernetes manifests in deploy/kubernetes, checked without a cluster: every file is YAML, the kustomization
//! names what exists, the harvester may only read runs, commands are ones the binaries accept, and the URLs point
//! at the graph-service's Service. (`watch.rs` applies the RBAC to the real API server and watches with it.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use serde::Deserialize;
use serde_yaml_ng::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// Every YAML file under deploy/kubernetes, with its documents.
fn files() -> Vec<(PathBuf, Vec<Value>)> {
    let mut pending = vec![deploy()];
    let mut files = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("deploy/kubernetes") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&path).expect("readable");
                let docs = serde_yaml_ng::Deserializer::from_str(&text)
                    .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
                    .collect();
                files.push((path, docs));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

fn objects() -> Vec<Value> {
    files().into_iter().flat_map(|(_, docs)| docs).filter(|d| d["apiVersion"].is_string()).collect()
}

fn object(kind: &str, name: &str) -> Value {
    objects()
        .into_iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/kubernetes"))
}

fn strings(value: &Value) -> Vec<String> {
    value.as_sequence().map(|s| s.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn every_file_parses_and_the_kustomization_lists_the_base() {
    let files = files();
    assert!(files.len() >= 6, "{files:?}");
    for (path, docs) in &files {
        assert!(!docs.is_empty(), "{} is empty", path.display());
        for doc in docs {
            assert!(doc["kind"].is_string(), "{}: a document without kind", path.display());
        }
    }
    let root = &files.iter().find(|(p, _)| p.ends_with("deploy/kubernetes/kustomization.yaml")).expect("root").1[0];
    let listed: BTreeSet<String> = strings(&root["resources"]).into_iter().collect();
    for resource in &listed {
        assert!(deploy().join(resource).is_file(), "kustomization lists missing {resource}");
    }
    // Tekton's ConfigMap lives in Tekton's namespace: optional, never applied with the rest.
    assert!(!listed.contains("tekton-config-events.yaml"));
    let namespaced =
        |o: &Value| o["kind"] != "Namespace" && !o["kind"].as_str().is_some_and(|k| k.starts_with("Cluster"));
    for (path, docs) in files.iter().filter(|(p, _)| listed.iter().any(|r| p.ends_with(r))) {
        for doc in docs.iter().filter(|d| namespaced(d)) {
            assert_eq!(doc["metadata"]["namespace"], "tekton-graph", "{}: {:?}", path.display(), doc["metadata"]);
        }
    }
}

#[test]
fn the_harvester_may_only_read_runs() {
    let role = object("ClusterRole", "tekton-graph-harvester");
    let rules = role["rules"].as_sequence().expect("rules");
    assert_eq!(rules.len(), 1, "one rule: {rules:?}");
    assert_eq!(strings(&rules[0]["apiGroups"]), ["tekton.dev"]);
    assert_eq!(strings(&rules[0]["resources"]), ["pipelineruns", "taskruns"]);
    assert_eq!(strings(&rules[0]["verbs"]), ["get", "list", "watch"]);

    let binding = object("ClusterRoleBinding", "tekton-graph-harvester");
    assert_eq!(binding["roleRef"]["name"], "tekton-graph-harvester");
    let subject = &binding["subjects"][0];
    assert_eq!((subject["kind"].as_str(), subject["name"].as_str()), (Some("ServiceAccount"), Some("harvester")));
    let harvester = object("Deployment", "harvester");
    assert_eq!(harvester["spec"]["template"]["spec"]["serviceAccountName"], "harvester");
    assert_eq!(harvester["metadata"]["namespace"], subject["namespace"]);
    assert_eq!(harvester["spec"]["replicas"].as_u64(), Some(1), "a second watcher would only duplicate facts");
    // Only the harvester talks to the API server.
    let graph_service = object("Deployment", "graph-service");
    assert_eq!(graph_service["spec"]["template"]["spec"]["automountServiceAccountToken"], false);
}

#[test]
fn commands_are_accepted_and_urls_reach_the_graph_service() {
    let service = object("Service", "graph-service");
    let port = service["spec"]["ports"][0]["port"].as_u64().expect("port");
    let harvester = strings(&container(&object("Deployment", "harvester"))["command"]);
    assert_eq!(harvester[..3], ["harvester", "watch", "--all-namespaces"]);
    assert!(harvester.contains(&format!("--sink=http://graph-service:{port}/events")), "{harvester:?}");
    // The binary accepts the arguments: it gets as far as reading the (absent) kubeconfig.
    let output = Command::new(env!("CARGO_BIN_EXE_harvester"))
        .args(&harvester[1..])
        .args(["--kubeconfig", "/nonexistent/kubeconfig"])
        .output()
        .expect("harvester runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("connecting to Kubernetes: cannot read the kubeconfig"), "{harvester:?}: {stderr}");

    let graph_service = object("Deployment", "graph-service");
    let command = strings(&container(&graph_service)["command"]);
    let cli = graph_service::cli::Cli::try_parse_from(&command).unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let graph_service::cli::Command::Serve(serve) = cli.command else { panic!("the graph-service must `serve`") };
    assert_eq!(u64::from(serve.common.listen.port()), port);
    assert!(serve.common.listen.ip().is_unspecified(), "reachable from the Service");
    let mounts = container(&graph_service)["volumeMounts"].as_sequence().expect("mounts").clone();
    assert!(mounts.iter().any(|m| Path::new(m["mountPath"].as_str().unwrap_or("")) == serve.data_dir));

    let events = object("ConfigMap", "config-events");
    assert_eq!(events["metadata"]["namespace"], "tekton-pipelines");
    assert_eq!(events["data"]["sink"], format!("http://graph-service.tekton-graph.svc:{port}/events").as_str());
}

#[test]
fn the_neo4j_component_takes_the_password_from_a_secret() {
    let patch = files()
        .into_iter()
        .find(|(p, _)| p.ends_with("neo4j/graph-service-neo4j.yaml"))
        .expect("neo4j patch")
        .1
        .remove(0);
    let env = container(&patch)["env"].as_sequence().expect("env").clone();
    let var = |name: &str| env.iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("{name}")).clone();
    assert!(var("GRAPH_SERVICE_STORE")["value"].as_str().is_some_and(|v| v.starts_with("neo4j://")));
    let password = var("NEO4J_PASSWORD");
    assert!(password.get("value").is_none(), "no literal password");
    assert_eq!(password["valueFrom"]["secretKeyRef"]["name"], "graph-service-neo4j");
    let text = std::fs::read_to_string(deploy().join("neo4j/graph-service-neo4j.yaml")).expect("patch");
    assert!(graph_service::cli::StoreTarget::parse(var("GRAPH_SERVICE_STORE")["value"].as_str().unwrap_or("")).is_ok());
    assert!(!text.contains("password:"), "the Secret is created by the operator, not committed");
}
