//! The emission outbox under `kill -9`: a real graph-service process ingests a generated backfill over HTTP while
//! the receiver of its events is down (ingest is acknowledged anyway), is killed at random points mid-stream, and
//! restarted; once the receiver is up, it gets every event a clean in-process run emits — none missing, none
//! foreign — and duplicates only carry ids it already has.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cloudevents::{AttributesReader, Event};
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::sensemaker::{EmitError, EmitOutbox, Emitter, Sensemaker, SensemakerConfig};
use graph_service::store::embedded::EmbeddedStore;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, Route, handler, post};
use rand::{Rng, SeedableRng};
use tekton_generate::{GenerateConfig, generate};
use tekton_graph_schema::RunFact;
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, to_cloudevent};

const INGESTER: &str = "emit-crash-ingester-token-0123456789";

/// The receiver: answers 503 while down, records the ids it accepts (with repeats) while up.
#[derive(Default)]
struct Receiver {
    up: AtomicBool,
    refused: AtomicUsize,
    ids: Mutex<Vec<String>>,
    /// Rung after each accepted event.
    arrived: tokio::sync::Notify,
}

#[handler]
fn receive(body: Vec<u8>, receiver: Data<&Arc<Receiver>>) -> StatusCode {
    if !receiver.up.load(Ordering::SeqCst) {
        receiver.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match serde_json::from_slice::<Event>(&body) {
        Ok(event) => {
            receiver.ids.lock().expect("lock").push(event.id().to_string());
            receiver.arrived.notify_waiters();
            StatusCode::ACCEPTED
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// Records the ids a clean in-process run emits.
struct Recorder(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Emitter for Recorder {
    async fn emit(&self, events: &[Event]) -> Result<(), EmitError> {
        self.0.lock().expect("lock").extend(events.iter().map(|e| e.id().to_string()));
        Ok(())
    }
    fn describe(&self) -> String {
        "recorder".into()
    }
}

fn facts() -> Vec<RunFact> {
    let config = GenerateConfig { pipeline_runs: 40, seed: 11, ..GenerateConfig::default() };
    generate(&config)
        .flat_map(|o| tekton_translate::translate_value(&o).expect("generated objects translate"))
        .collect()
}

fn body(fact: &RunFact) -> Vec<u8> {
    serde_json::to_vec(&to_cloudevent(fact).expect("event")).expect("JSON")
}

/// What a clean run emits for these facts, posted one per request in this order.
async fn clean_run(facts: &[RunFact]) -> BTreeSet<String> {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let outbox = EmitOutbox::in_memory().expect("outbox");
    let sensemaker = Sensemaker::new(SensemakerConfig::default(), vec![Box::new(Recorder(ids.clone()))], outbox);
    let ingestor = Ingestor::new(store).with_sensemaker(sensemaker);
    for fact in facts {
        ingestor.apply(std::slice::from_ref(fact)).await.expect("apply");
    }
    ingestor.sensemaker().expect("sensemaker").flush().await.expect("flush");
    let ids = ids.lock().expect("lock").clone();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "a clean run sends each event once");
    unique
}

fn spawn(dir: &Path, address: &str, receiver: &str, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_graph-service"))
        .args(["serve", "--listen", address, "--token-file"])
        .arg(dir.join("tokens"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--emit", receiver])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start graph-service")
}

async fn wait_healthy(http: &reqwest::Client, base: &str, child: &mut Child, log: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "graph-service did not answer on {base}");
        if child.try_wait().expect("child").is_some() {
            panic!("graph-service exited:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        // Another process: its port answering is the condition, polled until the deadline.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Posts facts from `from` on, one per request, publishing how many are acknowledged in `acked`; returns the index
/// of the first fact that was not acknowledged (the process died) or `facts.len()`.
async fn post_from(
    http: reqwest::Client,
    base: String,
    facts: Arc<Vec<RunFact>>,
    from: usize,
    acked: tokio::sync::watch::Sender<usize>,
) -> usize {
    for (i, fact) in facts.iter().enumerate().skip(from) {
        let sent = http
            .post(format!("{base}/events"))
            .bearer_auth(INGESTER)
            .header("content-type", STRUCTURED_CONTENT_TYPE)
            .body(body(fact))
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status() == 202 => {
                acked.send_replace(i + 1);
            }
            Ok(resp) => panic!("fact {i} answered {}: {}", resp.status(), resp.text().await.unwrap_or_default()),
            Err(_) => return i,
        }
    }
    facts.len()
}

#[tokio::test]
async fn killed_mid_stream_with_the_receiver_down_it_loses_no_event() {
    let facts = Arc::new(facts());
    let expected = clean_run(&facts).await;
    assert!(expected.len() > 40, "the backfill teaches the graph something: {} events", expected.len());

    let receiver = Arc::new(Receiver::default());
    let app = Route::new().at("/events", post(receive)).data(receiver.clone());
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let receiver_url = format!("http://{}/events", acceptor.local_addr()[0].as_socket_addr().expect("address"));
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("tokens"), format!("{INGESTER} ingester harvester\n")).expect("tokens");
    let log = dir.path().join("graph-service.log");
    let http = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(rand::random());
    let mut next = 0;
    let mut kills = 0;
    while next < facts.len() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let address = format!("127.0.0.1:{port}");
        let base = format!("http://{address}");
        let mut child = spawn(dir.path(), &address, &receiver_url, &log);
        wait_healthy(&http, &base, &mut child, &log).await;
        let (acked, mut progress) = tokio::sync::watch::channel(next);
        let poster = tokio::spawn(post_from(http.clone(), base, facts.clone(), next, acked));
        if kills < 3 {
            // Kill at a random point of the rest of the stream, while facts are in flight.
            let target = next + rng.random_range(1..=(facts.len() - next) / 3);
            // Woken by each acknowledgement; ends early (Err) when the poster stopped.
            let reached = tokio::time::timeout(Duration::from_secs(120), progress.wait_for(|n| *n >= target)).await;
            assert!(reached.is_ok(), "ingest stalled while the receiver is down");
            child.kill().expect("kill -9");
            child.wait().expect("reap");
            kills += 1;
            next = poster.await.expect("poster");
            assert!(next < facts.len(), "kill {kills} came while facts were in flight");
        } else {
            next = poster.await.expect("poster");
            assert_eq!(next, facts.len(), "every fact acknowledged while the receiver is down");
            child.kill().expect("kill -9");
            child.wait().expect("reap");
            kills += 1;
        }
    }
    assert!(receiver.refused.load(Ordering::SeqCst) > 0, "the sink was tried while it was down");
    assert!(receiver.ids.lock().expect("lock").is_empty());

    // The receiver comes up; a last process sends what the outbox holds.
    receiver.up.store(true, Ordering::SeqCst);
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let address = format!("127.0.0.1:{port}");
    let mut child = spawn(dir.path(), &address, &receiver_url, &log);
    wait_healthy(&http, &format!("http://{address}"), &mut child, &log).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let arrived = receiver.arrived.notified();
        let got: BTreeSet<String> = receiver.ids.lock().expect("lock").iter().cloned().collect();
        if got.len() >= expected.len() {
            break;
        }
        if tokio::time::timeout_at(deadline, arrived).await.is_err() {
            panic!("{} of {} events arrived after {kills} kills", got.len(), expected.len());
        }
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    server.abort();

    let received = receiver.ids.lock().expect("lock").clone();
    let got: BTreeSet<String> = received.iter().cloned().collect();
    assert_eq!(got, expected, "the events of a clean run, no more, no less, after {kills} kills");
    let mut repeats: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &received {
        *repeats.entry(id).or_default() += 1;
    }
    repeats.retain(|_, n| *n > 1);
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    let recovered = log.lines().filter(|l| l.contains("a crash left unsent")).count();
    println!(
        "{} facts, {} events, {kills} kills ({recovered} left changes between apply and events), {} ids received more \
         than once",
        facts.len(),
        expected.len(),
        repeats.len()
    );
}
