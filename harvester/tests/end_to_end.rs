//! The vertical slice: `harvester replay` over real fixtures → HTTP → graph-service (embedded store, on disk) →
//! GraphQL answers; then a restart of the store keeps them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use graph_service::model::ProjectionConfig;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{Value, json};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// A graph-service serving on a free loopback port.
struct Running {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops the server and waits until it has released the store.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task").expect("server");
    }
}

async fn start_graph_service(store: Arc<dyn GraphStore>) -> Running {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("socket address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
        graph_service::server::app(store),
        async move {
            let _ = stopped.await;
        },
        None,
    );
    Running { base: format!("http://{addr}"), stop, task: tokio::spawn(server) }
}

async fn graphql(base: &str, query: &str) -> Value {
    let client = reqwest::Client::new();
    let response = client.post(format!("{base}/graphql")).json(&json!({ "query": query })).send().await.expect("POST");
    let body: Value = response.json().await.expect("JSON");
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_fixtures_answer_lineage_and_diff_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::open(dir.path(), ProjectionConfig::default()).unwrap());
    let server = start_graph_service(store).await;
    let base = server.base.clone();

    let sink = format!("{base}/events");
    let folder = testdata();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_harvester"))
            .args([
                "replay",
                folder.join("seed-conventions").to_str().unwrap(),
                folder.join("tekton").to_str().unwrap(),
            ])
            .args(["--sink", &sink, "--batch-size", "7"])
            .output()
            .expect("run harvester")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "harvester failed: {stderr}");
    assert!(stderr.contains("(0 errors)"), "{stderr}");

    let image = "sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9";
    let q = format!(
        r#"{{ image(digest: "{image}") {{ builtBy {{ name }} commit {{ sha author }} scans {{ critical }} }}
             diff(namespace: "idec", name: "idec-image-builds-run-4cd23") {{ base {{ name }} commitChanged }}
             stats {{ pipelineRuns taskRuns }} }}"#
    );
    let answer = graphql(&base, &q).await;
    assert_eq!(answer["image"]["builtBy"]["name"], "idec-image-builds-run-fb422");
    assert_eq!(answer["image"]["commit"]["author"], "Joost van der Griendt");
    assert_eq!(answer["image"]["scans"], json!([{"critical": 2}]));
    assert_eq!(answer["diff"]["base"]["name"], "idec-image-builds-run-5ca46-r-9f9f7");
    assert_eq!(answer["diff"]["commitChanged"], true);
    assert!(answer["stats"]["taskRuns"].as_u64().unwrap() > 18, "fixture TaskRuns beyond the seed list: {answer}");

    // A second graph-service over the same data dir answers the same.
    server.stop().await;
    let reopened: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::open(dir.path(), ProjectionConfig::default()).unwrap());
    let second = start_graph_service(reopened).await;
    assert_eq!(graphql(&second.base, &q).await, answer);
    second.stop().await;
}
