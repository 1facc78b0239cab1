//! A graph-service (embedded store in a temporary folder) serving on a free loopback port, as the HTTP sink's
//! target; the store is also kept for direct reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_service::model::ProjectionConfig;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{Value, json};

pub struct GraphService {
    pub base: String,
    pub store: Arc<dyn GraphStore>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl GraphService {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn GraphStore> =
            Arc::new(EmbeddedStore::open(dir.path(), ProjectionConfig::default()).expect("embedded store"));
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("socket address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            graph_service::server::app(store.clone()),
            async move {
                let _ = stopped.await;
            },
            None,
        );
        GraphService { base: format!("http://{addr}"), store, stop, task: tokio::spawn(server), _dir: dir }
    }

    /// The `--sink` URL.
    pub fn sink(&self) -> String {
        format!("{}/events", self.base)
    }

    pub async fn graphql(&self, query: &str) -> Value {
        let client = reqwest::Client::new();
        let response =
            client.post(format!("{}/graphql", self.base)).json(&json!({ "query": query })).send().await.expect("POST");
        let body: Value = response.json().await.expect("JSON");
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }

    /// Asks `query` until `done` accepts the answer; panics with the last answer after `timeout`.
    pub async fn wait_for(&self, query: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self.graphql(query).await;
            if done(&answer) {
                return answer;
            }
            assert!(Instant::now() < deadline, "not within {timeout:?}: {query} answered {answer}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task").expect("server");
    }
}
