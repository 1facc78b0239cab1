//! Shared test parts: local receivers that follow a service's documented contract (scripted answers, every
//! request recorded), a notifier started on a rule file, the events graph-service really emits, and waiting for
//! a condition with a deadline.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, Request, Response, Route, Server, handler};
use tokio::sync::Notify;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// Wait this long before answering (a slow service).
    pub delay: Duration,
}

impl Answer {
    pub fn new(status: u16, body: &str) -> Answer {
        Answer { status, headers: Vec::new(), body: body.to_string(), delay: Duration::ZERO }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Answer {
        self.headers.push((name, value.to_string()));
        self
    }
    pub fn delayed(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
}

struct State {
    script: Mutex<VecDeque<Answer>>,
    otherwise: Mutex<Answer>,
    received: Mutex<Vec<Received>>,
    changed: Notify,
}

/// A local HTTP receiver: answers from its script, then with `otherwise`, and records every request.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
}

#[handler]
async fn receive(req: &Request, body: poem::Body, state: Data<&Arc<State>>) -> Response {
    let bytes = body.into_bytes().await.unwrap_or_default();
    let answer = {
        let next = state.script.lock().expect("script").pop_front();
        next.unwrap_or_else(|| state.otherwise.lock().expect("otherwise").clone())
    };
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    state.received.lock().expect("received").push(Received {
        path: req.uri().to_string(),
        headers: req.headers().clone(),
        body,
        at: Instant::now(),
        status: answer.status,
    });
    state.changed.notify_waiters();
    if !answer.delay.is_zero() {
        // Not even a zero sleep otherwise: the timer's millisecond granularity would slow every answer.
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = Response::builder().status(http::StatusCode::from_u16(answer.status).expect("status"));
    for (name, value) in &answer.headers {
        response = response.header(*name, value.as_str());
    }
    response.body(answer.body.clone())
}

impl Receiver {
    /// Starts a receiver on a free loopback port; it answers `otherwise` once `script` is used up.
    pub async fn start(script: Vec<Answer>, otherwise: Answer) -> Receiver {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind receiver");
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("socket address");
        let state = Arc::new(State {
            script: Mutex::new(script.into()),
            otherwise: Mutex::new(otherwise),
            received: Mutex::new(Vec::new()),
            changed: Notify::new(),
        });
        let app = Route::new().at("/*path", receive).data(state.clone());
        tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        Receiver { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("received").clone()
    }

    /// Changes how it answers from now on.
    pub fn answer_with(&self, answer: Answer) {
        *self.state.otherwise.lock().expect("otherwise") = answer;
    }

    /// Waits until it has received at least `n` requests.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.state.changed.notified();
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("the receiver got {} requests within {within:?}, expected {n}", self.received().len());
            }
        }
    }
}

/// Evaluates `check` until it returns `Some`, or fails after `within`. Polls: the condition lives in another
/// process or a database.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The CloudEvents graph-service's Sensemaker derives from its demo data (every PipelineRun observed as new), as
/// structured-mode JSON.
pub async fn sensemaker_events() -> Vec<serde_json::Value> {
    use graph_service::sensemaker::{Change, SensemakerConfig, rules};
    use graph_service::store::GraphStore;
    let facts = graph_service::demo::sample_facts().expect("demo facts");
    let store = graph_service::store::embedded::EmbeddedStore::in_memory(Default::default());
    store.apply(&facts).await.expect("apply");
    let changes: Vec<Change> = facts.iter().map(|f| Change { before: None, after: f.clone(), trace: None }).collect();
    let config = SensemakerConfig { public_url: "http://graph.local".into(), ..SensemakerConfig::default() };
    let events = rules::derive(&config, &store, &changes).await.expect("derive");
    events.iter().map(|e| serde_json::to_value(e).expect("event json")).collect()
}

/// graph-service's `pipelinerun.finished` events for runs that did not succeed.
pub async fn failed_runs() -> Vec<serde_json::Value> {
    let failed: Vec<serde_json::Value> = sensemaker_events()
        .await
        .into_iter()
        .filter(|e| {
            e["type"] == "dev.cdevents.pipelinerun.finished.0.2.0"
                && e["data"]["subject"]["content"]["outcome"] != "success"
        })
        .collect();
    assert!(!failed.is_empty(), "the demo data has failed runs");
    failed
}

/// A repository test-data file.
pub fn testdata(path: &str) -> Vec<u8> {
    let full = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/").to_string() + path;
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A setting the test engines export (`eval "$(scripts/services.sh env)"`): missing fails the test, never skips it.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/services.sh up, then eval its env"))
}
