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

/// The harvester proves who it is with the token from its file; without it, graph-service refuses the batch and
/// the harvester reports the refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harvester_writes_with_its_token_file_and_is_refused_without_it() {
    use graph_service::auth::{Authenticator, StaticTokens};
    use graph_service::ingest::Ingestor;
    use graph_service::server::{AppConfig, app_with_config};

    let token = format!("harvester-{:032x}", rand::random::<u128>());
    let tokens = StaticTokens::parse(&format!("{token} ingester harvester\n")).expect("tokens");
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let config = AppConfig {
        authenticator: Some(Arc::new(Authenticator { tokens: Some(tokens), ..Authenticator::default() })),
        ..AppConfig::default()
    };
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("socket address");
    let app = app_with_config(Arc::new(Ingestor::new(store.clone())), config);
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));

    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("write the token file");
    let sink = format!("http://{addr}/events");
    let run = |with_token: bool| {
        let (sink, token_file) = (sink.clone(), token_file.clone());
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_harvester"));
            cmd.args(["replay", testdata().join("seed-conventions").to_str().unwrap()])
                .args(["--sink", &sink, "--sink-retries", "0"])
                .env_remove("HARVESTER_SINK_TOKEN");
            if with_token {
                cmd.arg("--sink-token-file").arg(&token_file);
            }
            cmd.output().expect("run harvester")
        })
    };
    let refused = run(false).await.unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("401"), "the refusal is reported: {stderr}");
    assert_eq!(store.counts().await.expect("counts").pipeline_runs, 0, "nothing written without a token");

    let accepted = run(true).await.unwrap();
    let stderr = String::from_utf8_lossy(&accepted.stderr);
    assert!(accepted.status.success() && stderr.contains("(0 errors)"), "{stderr}");
    assert!(store.counts().await.expect("counts").pipeline_runs > 0, "the harvester's facts landed");
}
