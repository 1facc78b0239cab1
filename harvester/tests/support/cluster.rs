//! The real kube-apiserver (with Tekton's CRDs, no Tekton controller) started by `scripts/services.sh up kube`.
//! Runs are created from real fixtures; their status is written through the status subresource, as Tekton's
//! controller would.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::{Client, Config};
use serde_json::{Value, json};

/// Metadata the API server owns: a copy of a real object must not carry them into a create.
const SERVER_FIELDS: &[&str] =
    &["resourceVersion", "uid", "managedFields", "creationTimestamp", "selfLink", "generation", "deletionTimestamp"];

/// `KUBECONFIG`, which must be set: in CI a missing API server fails the run instead of skipping tests.
pub fn kubeconfig() -> PathBuf {
    match std::env::var_os("KUBECONFIG") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "KUBECONFIG is not set: start the API server with `scripts/services.sh up kube` and \
             `eval \"$(scripts/services.sh env)\"` (these tests need a real kube-apiserver with Tekton's CRDs)"
        ),
    }
}

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
}

impl Cluster {
    pub async fn connect() -> Self {
        let path = kubeconfig();
        let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.expect("config");
        let client = Client::try_from(config).expect("client");
        Cluster { client }
    }

    /// Creates a namespace named after the test, unique per run (namespaces are never deleted: without a
    /// controller manager they would stay `Terminating` anyway).
    pub async fn namespace(&self, prefix: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos();
        let name = format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
        Api::<Namespace>::all(self.client.clone()).create(&PostParams::default(), &namespace).await.expect("create ns");
        name
    }

    pub fn runs(&self, namespace: &str, kind: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &resource(kind))
    }

    /// Creates a run from a fixture object in `namespace`, then writes its status (if any) through the status
    /// subresource. Returns the run's name.
    pub async fn create_run(&self, namespace: &str, fixture: &Value) -> String {
        let (object, status) = creatable(fixture, namespace);
        let kind = object["kind"].as_str().expect("kind").to_string();
        let name = object["metadata"]["name"].as_str().expect("name").to_string();
        let object: DynamicObject = serde_json::from_value(object).expect("object");
        self.runs(namespace, &kind).create(&PostParams::default(), &object).await.expect("create run");
        if let Some(status) = status {
            self.set_status(namespace, &kind, &name, status).await;
        }
        name
    }

    /// Replaces `.status` (a merge patch of the status subresource; lists such as conditions are replaced).
    pub async fn set_status(&self, namespace: &str, kind: &str, name: &str, status: Value) {
        let patch = Patch::Merge(json!({ "status": status }));
        self.runs(namespace, kind).patch_status(name, &PatchParams::default(), &patch).await.expect("patch status");
    }

    pub async fn set_labels(&self, namespace: &str, kind: &str, name: &str, labels: Value) {
        let patch = Patch::Merge(json!({ "metadata": { "labels": labels } }));
        self.runs(namespace, kind).patch(name, &PatchParams::default(), &patch).await.expect("patch labels");
    }

    /// A kubeconfig file like `$KUBECONFIG` but authenticating as a ServiceAccount, with a short-lived token from
    /// the TokenRequest API: what an in-cluster pod would be.
    pub async fn kubeconfig_for(&self, namespace: &str, service_account: &str) -> tempfile::NamedTempFile {
        let request: TokenRequest =
            serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 600}})).expect("request");
        let accounts = Api::<ServiceAccount>::namespaced(self.client.clone(), namespace);
        let token = accounts.create_token_request(service_account, &PostParams::default(), &request).await;
        let token = token.expect("token request").status.expect("token").token;
        let path = kubeconfig();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("kubeconfig YAML");
        let users = config["users"].as_sequence_mut().expect("users");
        for user in users {
            user["user"] = serde_yaml_ng::to_value(json!({ "token": token })).expect("user");
        }
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), serde_yaml_ng::to_string(&config).expect("YAML")).expect("write kubeconfig");
        file
    }

    pub async fn delete(&self, namespace: &str, kind: &str, name: &str) {
        self.runs(namespace, kind).delete(name, &DeleteParams::default()).await.expect("delete run");
    }
}

pub fn resource(kind: &str) -> ApiResource {
    let plural = match kind {
        "PipelineRun" => "pipelineruns",
        "TaskRun" => "taskruns",
        other => panic!("not a run kind: {other}"),
    };
    ApiResource {
        group: "tekton.dev".into(),
        version: "v1".into(),
        api_version: "tekton.dev/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The run objects in a fixture file (documents, kubectl Lists).
pub fn fixture(relative: &str) -> Vec<Value> {
    let path = testdata().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut runs = Vec::new();
    for document in tekton_translate::parse_documents(&text) {
        let document = document.expect("fixture document");
        match document["items"].as_array() {
            Some(items) => runs.extend(items.iter().cloned()),
            None => runs.push(document),
        }
    }
    runs
}

/// A fixture as the API server accepts it in `namespace`: server-owned metadata removed, and the status apart.
pub fn creatable(fixture: &Value, namespace: &str) -> (Value, Option<Value>) {
    let mut object = fixture.clone();
    let status = object.as_object_mut().and_then(|o| o.remove("status"));
    let metadata = object["metadata"].as_object_mut().expect("metadata");
    for field in SERVER_FIELDS {
        metadata.remove(*field);
    }
    metadata.insert("namespace".into(), namespace.into());
    (object, status)
}

/// The status of a run still running: the fixture's status without completion, condition `Unknown/Running`.
pub fn running(status: &Value) -> Value {
    let mut status = status.clone();
    if let Some(map) = status.as_object_mut() {
        map.remove("completionTime");
        map.insert(
            "conditions".into(),
            json!([{"type": "Succeeded", "status": "Unknown", "reason": "Running", "message": "Tasks Completed: 0"}]),
        );
    }
    status
}
