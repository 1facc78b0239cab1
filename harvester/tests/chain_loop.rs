//! The whole chain with real parts: an event → the notifier → Tekton Triggers' real EventListener sink (its `cel`
//! ClusterInterceptor checking the notifier's shared secret with `compareSecret`) → a real PipelineRun created in
//! kube-apiserver, labelled with the call's eventID → `harvester watch` → graph-service → the notifier's chain check
//! finds that run in the graph. A call with the wrong secret is answered 202 but starts nothing, and the chain check
//! raises `dev.tektongraph.chain.missed.v1` for it.
//!
//! Needs `scripts/services.sh up kube` (which builds Triggers from the Go module proxy, installs its CRDs and
//! starts its core interceptors) and `eval "$(scripts/services.sh env)"`: without them the test fails, never skips.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use notifier::Notifier;
use notifier::config::Config;
use notifier::event::Incoming;
use serde_json::{Value, json};
use support::cluster::{Cluster, kubeconfig};
use support::graph::GraphService;
use support::watch::{Stdout, WatchProcess};

const WAIT: Duration = Duration::from_secs(60);
const EVENT_ID_LABEL: &str = "triggers.tekton.dev/triggers-eventid";

/// A Triggers object of `kind` (triggers.tekton.dev/v1beta1).
fn triggers_api(cluster: &Cluster, namespace: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("triggers.tekton.dev", "v1beta1", kind);
    Api::namespaced_with(cluster.client.clone(), namespace, &ApiResource::from_gvk_with_plural(&gvk, plural))
}

async fn create(api: &Api<DynamicObject>, object: Value) {
    let object: DynamicObject = serde_json::from_value(object).expect("object");
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("create {:?}: {e}", object.metadata.name));
}

/// One EventListener sink process, killed when dropped (it ignores a first SIGTERM).
struct Sink {
    child: Child,
    url: String,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_sink(namespace: &str, name: &str) -> Sink {
    let binary = std::env::var("TEKTON_TRIGGERS_SINK_BIN")
        .expect("TEKTON_TRIGGERS_SINK_BIN is not set: run scripts/services.sh up kube, then eval its env");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let child = Command::new(binary)
        .arg("-kubeconfig")
        .arg(kubeconfig())
        .args(["-el-name", name, "-el-namespace", namespace, "-port", &port.to_string()])
        .env("NAMESPACE", namespace)
        .env("NAME", name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the EventListener sink starts");
    let sink = Sink { child, url: format!("http://127.0.0.1:{port}") };
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let live = client.get(format!("{}/live", sink.url)).send().await;
        if live.is_ok_and(|r| r.status().is_success()) {
            return sink;
        }
        assert!(std::time::Instant::now() < deadline, "the EventListener sink did not answer /live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_event_starts_a_pipeline_through_a_real_event_listener_and_the_chain_check_sees_it_in_the_graph() {
    let cluster = Cluster::connect().await;
    let namespace = cluster.namespace("chain").await;
    let shared = format!("{:032x}", rand::random::<u128>());
    let secret: Secret = serde_json::from_value(json!({
        "metadata": { "name": "el-secret" }, "stringData": { "token": shared },
    }))
    .expect("Secret");
    Api::<Secret>::namespaced(cluster.client.clone(), &namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the Secret");
    create(
        &triggers_api(&cluster, &namespace, "TriggerBinding", "triggerbindings"),
        json!({
            "apiVersion": "triggers.tekton.dev/v1beta1", "kind": "TriggerBinding", "metadata": { "name": "scan" },
            "spec": { "params": [{ "name": "image", "value": "$(body.image)" }] },
        }),
    )
    .await;
    create(&triggers_api(&cluster, &namespace, "TriggerTemplate", "triggertemplates"), json!({
        "apiVersion": "triggers.tekton.dev/v1beta1", "kind": "TriggerTemplate", "metadata": { "name": "scan" },
        "spec": {
            "params": [{ "name": "image" }],
            "resourcetemplates": [{
                "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
                "metadata": { "generateName": "scan-" },
                "spec": { "pipelineRef": { "name": "scan-image" }, "params": [{ "name": "image", "value": "$(tt.params.image)" }] },
            }],
        },
    }))
    .await;
    create(&triggers_api(&cluster, &namespace, "EventListener", "eventlisteners"), json!({
        "apiVersion": "triggers.tekton.dev/v1beta1", "kind": "EventListener", "metadata": { "name": "scan" },
        "spec": { "triggers": [{
            "name": "scan",
            "interceptors": [{
                "ref": { "name": "cel", "kind": "ClusterInterceptor" },
                "params": [{ "name": "filter",
                             "value": "header.canonical('X-Tekton-Graph-Secret').compareSecret('token', 'el-secret')" }],
            }],
            "bindings": [{ "ref": "scan" }],
            "template": { "ref": "scan" },
        }] },
    }))
    .await;
    let sink = start_sink(&namespace, "scan").await;

    let graph = GraphService::start().await;
    let sink_url = graph.sink();
    let watch =
        WatchProcess::start(&["--namespace", &namespace, "--sink", &sink_url, "--linger-ms", "20"], Stdout::Discard);

    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, value).expect("secret file");
        path.display().to_string()
    };
    let rules = format!(
        r#"
graph: {{ url: "{graph}/graphql" }}
channels:
  scan:
    type: eventListener
    url: "{el}"
    secret: {{ file: "{good}" }}
    body: '{{"image": {{{{ event.data.image }}}}}}'
    chain: {{ deadlineSeconds: 60 }}
  impostor:
    type: eventListener
    url: "{el}"
    secret: {{ file: "{bad}" }}
    body: '{{"image": {{{{ event.data.image }}}}}}'
    chain: {{ deadlineSeconds: 2 }}
triggers:
  pushed: {{ on: test.image.pushed.v1 }}
subscriptions:
  - {{ triggers: [pushed], channels: [scan, impostor] }}
"#,
        graph = graph.base,
        el = sink.url,
        good = secret_file("good", &shared),
        bad = secret_file("bad", "not-the-shared-secret"),
    );
    let config = Config::parse(&rules).expect("rules");
    let notifier = Notifier::start(&config, &dir.path().join("outbox.db")).await.expect("start the notifier");
    let image = "registry.example/app@sha256:5d7e3c1f0c9b8a7f6e5d4c3b2a190817263544536271809a8b7c6d5e4f3a2b1c";
    let event = Incoming {
        id: "push-1".into(),
        ty: "test.image.pushed.v1".into(),
        source: "/chain-loop".into(),
        subject: Some(image.into()),
        time: Some(chrono::Utc::now()),
        data: json!({ "image": image }),
        extensions: Default::default(),
    };
    assert_eq!(notifier.accept(&event).await.expect("accept").queued, 2);

    // The good call's chain is found started, with the run the harvester brought into the graph.
    let deadline = std::time::Instant::now() + WAIT;
    let (started, missed) = loop {
        let chains = notifier.outbox().chains().await.expect("chains");
        let of = |channel: &str| chains.iter().find(|c| c.channel == channel).cloned();
        if let (Some(good), Some(bad)) = (of("scan"), of("impostor"))
            && good.status == "started"
            && bad.status == "missed"
        {
            break (good, bad);
        }
        assert!(std::time::Instant::now() < deadline, "chains did not settle: {chains:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let run = started.run.clone().expect("the started chain names its run");
    let (run_namespace, run_name) = run.split_once('/').expect("namespace/name");
    assert_eq!(run_namespace, namespace);
    assert!(run_name.starts_with("scan-"), "{run}");

    // The same run in Kubernetes, made by the sink: labelled with the eventID the sink answered, and the image.
    let runs = cluster.runs(&namespace, "PipelineRun");
    let in_cluster = runs.get(run_name).await.expect("the PipelineRun exists in kube-apiserver");
    let labels = in_cluster.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get(EVENT_ID_LABEL), Some(&started.event_id), "{labels:?}");
    assert_eq!(labels.get("triggers.tekton.dev/eventlistener").map(String::as_str), Some("scan"));
    assert_eq!(in_cluster.data["spec"]["params"][0]["value"], image);
    let answer = graph
        .graphql(&format!(
            r#"{{ pipelineRuns(filter: {{ triggerEventId: "{}" }}) {{ edges {{ node {{ namespace name }} }} }} }}"#,
            started.event_id
        ))
        .await;
    assert_eq!(answer["pipelineRuns"]["edges"][0]["node"]["name"], run_name, "{answer}");

    // The impostor's call was answered with an eventID too, but the interceptor stopped it: no run, and the chain
    // check raised its missed event.
    assert_ne!(missed.event_id, started.event_id);
    let selector = format!("{EVENT_ID_LABEL}={}", missed.event_id);
    let none = runs.list(&ListParams::default().labels(&selector)).await.expect("list");
    assert!(none.items.is_empty(), "a wrong secret started a run: {:?}", none.items);
    assert_eq!(runs.list(&ListParams::default()).await.expect("list").items.len(), 1, "one run in all");
    let raised = format!("chain-missed-{}", missed.delivery_id);
    assert!(notifier.outbox().event_seen(&raised).await.expect("event_seen"), "{raised} was not raised");

    let (status, _) = watch.stop();
    assert!(status.success(), "the watch exits cleanly: {status:?}");
    drop(sink);
}
