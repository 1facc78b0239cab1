//! NotificationPolicy custom resources against a real kube-apiserver (`scripts/services.sh up kube`, then
//! `eval "$(scripts/services.sh env)"`; without KUBECONFIG the test fails, never skips): the CRD shipped in
//! deploy/ is installed, a policy's channel reads its webhook from a Secret, a policy that does not compile is
//! refused with the reason in its status while the version in force keeps delivering, a rotated Secret is picked up,
//! and a deleted policy stops routing. Also: the rule file itself reloads live.

mod support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use notifier::Notifier;
use notifier::config::Config;
use notifier::event::Incoming;
use notifier::policy::{PolicyWatch, resource};
use serde_json::{Value, json};
use support::{Answer, Receiver, eventually};

const WITHIN: Duration = Duration::from_secs(30);
const FAILED: &str = "dev.cdevents.pipelinerun.finished.0.2.0";

fn event(id: &str, outcome: &str) -> Incoming {
    Incoming {
        id: id.into(),
        ty: FAILED.into(),
        source: "/policy-test".into(),
        subject: Some(format!("ci/{id}")),
        time: Some(chrono::Utc::now()),
        data: json!({ "subject": { "id": format!("ci/{id}"), "content": { "outcome": outcome, "pipelineName": "build" } } }),
        extensions: Default::default(),
    }
}

async fn client() -> kube::Client {
    support::env("KUBECONFIG");
    kube::Client::try_default().await.expect("a client for the test kube-apiserver")
}

/// Installs the CRD from deploy/ (once per API server) and waits until its resources are served.
async fn install_crd(client: &kube::Client) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/kubernetes/notifier/notificationpolicy-crd.yaml");
    let text = std::fs::read_to_string(path).expect("the CRD manifest");
    let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text).expect("a CRD");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("creating the CRD: {e}"),
    }
    let policies: Api<DynamicObject> = Api::all_with(client.clone(), &resource());
    eventually(WITHIN, "NotificationPolicies to be served", || async {
        policies.list(&Default::default()).await.ok().map(|_| ())
    })
    .await;
}

/// The `Ready` condition of a policy once its status reports `generation` (status, message).
async fn ready(api: &Api<DynamicObject>, name: &str, generation: i64) -> (String, String) {
    eventually(WITHIN, "the policy's status", || async {
        let object = api.get(name).await.ok()?;
        let status = object.data.get("status")?;
        (status["observedGeneration"].as_i64() == Some(generation)).then_some(())?;
        let condition = &status["conditions"][0];
        Some((condition["status"].as_str()?.to_string(), condition["message"].as_str()?.to_string()))
    })
    .await
}

fn policy(namespace: &str, when: &str) -> Value {
    json!({
        "apiVersion": "tekton-graph.dev/v1alpha1",
        "kind": "NotificationPolicy",
        "metadata": { "name": "build-alerts", "namespace": namespace },
        "spec": {
            "channels": { "slack": { "type": "slack", "webhookUrl": { "secretKeyRef": { "name": "build-slack", "key": "url" } } } },
            "triggers": { "failed": { "on": FAILED, "when": when, "message": "{{ event.subject }} failed" } },
            "subscriptions": [{ "triggers": ["failed"], "channels": ["slack"] }],
        },
    })
}

fn secret(url: &str) -> Secret {
    serde_json::from_value(json!({
        "metadata": { "name": "build-slack" },
        "stringData": { "url": url },
    }))
    .expect("a Secret")
}

#[tokio::test]
async fn policies_are_watched_live_with_their_secrets_and_refused_with_a_reason() {
    let client = client().await;
    install_crd(&client).await;
    let namespace = format!("np-{:08x}", rand::random::<u32>());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": namespace } })).expect("namespace");
    namespaces.create(&PostParams::default(), &ns).await.expect("create the namespace");
    let first = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let second = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    secrets.create(&PostParams::default(), &secret(&first.url("/services/T1/B1/one"))).await.expect("Secret");

    let dir = tempfile::tempdir().expect("tempdir");
    let notifier = Notifier::start(&Config::default(), &dir.path().join("outbox.db")).await.expect("start");
    let watch =
        PolicyWatch { client: client.clone(), namespaces: vec![namespace.clone()], resync: Duration::from_millis(500) };
    let watcher = tokio::spawn(notifier::policy::run(watch, Arc::clone(&notifier)));

    let policies: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource());
    let object: DynamicObject =
        serde_json::from_value(policy(&namespace, r#"data.subject.content.outcome == "failure""#)).expect("policy");
    let created = policies.create(&PostParams::default(), &object).await.expect("create the policy");
    let generation = created.metadata.generation.expect("a generation");
    assert_eq!(ready(&policies, "build-alerts", generation).await.0, "True");
    let trigger = format!("{namespace}/build-alerts/failed");
    assert!(notifier.live().config.triggers.contains_key(&trigger), "qualified names: {trigger}");

    let recorded = notifier.accept(&event("run-1", "failure")).await.expect("accept");
    assert_eq!(recorded.queued, 1, "{recorded:?}");
    let got = first.wait_for(1, WITHIN).await;
    assert_eq!(got[0].path, "/services/T1/B1/one", "the webhook URL came from the Secret");
    assert!(got[0].body["text"].as_str().is_some_and(|t| t.contains("ci/run-1 failed")), "{}", got[0].body);

    // A change that does not compile is refused with the reason; the version in force keeps delivering.
    let broken = json!({ "spec": { "triggers": { "failed": { "on": FAILED, "when": "data.(" } } } });
    let patched = policies
        .patch("build-alerts", &PatchParams::default(), &Patch::Merge(&broken))
        .await
        .expect("patch the policy");
    let (status, message) = ready(&policies, "build-alerts", patched.metadata.generation.expect("generation")).await;
    assert_eq!(status, "False");
    assert!(message.contains("invalid CEL"), "{message}");
    notifier.accept(&event("run-2", "failure")).await.expect("accept");
    assert_eq!(first.wait_for(2, WITHIN).await.len(), 2, "the version in force still delivers");

    // A rotated Secret is read at the next resync, without an edit of the policy.
    let fixed = json!({ "spec": { "triggers": { "failed": { "on": FAILED, "when": "true", "message": "{{ event.subject }} failed" } } } });
    let patched = policies.patch("build-alerts", &PatchParams::default(), &Patch::Merge(&fixed)).await.expect("fix");
    assert_eq!(ready(&policies, "build-alerts", patched.metadata.generation.expect("generation")).await.0, "True");
    let rotated = json!({ "stringData": { "url": second.url("/services/T2/B2/two") } });
    secrets.patch("build-slack", &PatchParams::default(), &Patch::Merge(&rotated)).await.expect("rotate");
    eventually(WITHIN, "the rotated Secret to be in force", || async {
        let live = notifier.live();
        let channel = live.config.channels.get(&format!("{namespace}/build-alerts/slack"))?;
        let mut channel = channel.clone();
        let url = channel.secrets_mut().first()?.resolve().ok()?;
        url.expose().contains("/T2/").then_some(())
    })
    .await;
    notifier.accept(&event("run-3", "success")).await.expect("accept");
    let got = second.wait_for(1, WITHIN).await;
    assert_eq!(got[0].path, "/services/T2/B2/two");
    assert_eq!(first.received().len(), 2, "nothing more went to the old URL");

    // A policy may not name the notifier's own secrets: refused, with the reason.
    let mut sneaky = policy(&namespace, "true");
    sneaky["metadata"]["name"] = "sneaky".into();
    sneaky["spec"]["channels"]["slack"]["webhookUrl"] = json!({ "env": "HOME" });
    let sneaky: DynamicObject = serde_json::from_value(sneaky).expect("policy");
    let created = policies.create(&PostParams::default(), &sneaky).await.expect("create");
    let (status, message) = ready(&policies, "sneaky", created.metadata.generation.expect("generation")).await;
    assert_eq!(status, "False");
    assert!(message.contains("never `env` or `file`"), "{message}");
    assert!(!notifier.policies().await.iter().any(|k| k.ends_with("/sneaky")), "never in force");

    // Deleted: its trigger is gone and the next event notifies nobody.
    policies.delete("build-alerts", &DeleteParams::default()).await.expect("delete");
    eventually(WITHIN, "the deleted policy to leave", || async {
        (!notifier.live().config.triggers.contains_key(&trigger)).then_some(())
    })
    .await;
    let recorded = notifier.accept(&event("run-4", "failure")).await.expect("accept");
    assert_eq!(recorded.queued, 0, "{recorded:?}");

    watcher.abort();
    namespaces.delete(&namespace, &DeleteParams::default()).await.expect("delete the namespace");
}

#[tokio::test]
async fn the_rule_file_reloads_and_a_broken_one_is_refused() {
    let first = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let second = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let rules = |url: &str, when: &str| {
        Config::parse(&format!(
            "channels: {{ hook: {{ type: webhook, url: '{url}' }} }}\n\
             triggers: {{ failed: {{ on: {FAILED}, when: '{when}' }} }}\n\
             subscriptions: [{{ triggers: [failed], channels: [hook] }}]"
        ))
        .expect("rules")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let notifier =
        Notifier::start(&rules(&first.url("/a"), "true"), &dir.path().join("outbox.db")).await.expect("start");
    notifier.accept(&event("file-1", "failure")).await.expect("accept");
    first.wait_for(1, WITHIN).await;

    notifier.reload_file(rules(&second.url("/b"), "true")).await.expect("reload");
    notifier.accept(&event("file-2", "failure")).await.expect("accept");
    assert_eq!(second.wait_for(1, WITHIN).await[0].path, "/b", "the changed channel got a new worker");

    let broken =
        Config::parse("triggers: { failed: { on: x, when: 'data.(' } }").expect("parses; CEL is checked on compile");
    let error = notifier.reload_file(broken).await.expect_err("refused").to_string();
    assert!(error.contains("invalid CEL"), "{error}");
    notifier.accept(&event("file-3", "failure")).await.expect("accept");
    assert_eq!(second.wait_for(2, WITHIN).await.len(), 2, "the rules in force stayed");
    assert_eq!(first.received().len(), 1, "the replaced channel's worker stopped");
}
