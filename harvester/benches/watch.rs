//! Measurements of `harvester watch` (the release binary) against the real API server of
//! `scripts/services.sh up kube`; numbers are printed, nothing is asserted.
//!
//!   cargo bench -p harvester --bench watch -- latency [UPDATES]   watch → graph latency of status updates
//!   cargo bench -p harvester --bench watch -- rss [RUNS]          peak RSS and list time with RUNS existing runs
//!
//! latency: UPDATES (default 1000) PipelineRuns exist and are in the graph (graph-service in-process, embedded
//! store, HTTP sink); then every run's status is patched to Succeeded, 32 patches in flight, and each update's
//! latency is the time from its patch call returning to the store holding the new status (the store is polled
//! directly with one batched read every 2 ms). A second round patches 50 runs one at a time (idle latency).
//! Both rounds run twice: first into a recording endpoint that answers at once (the watch and harvester share of
//! the latency), then into the graph-service (end to end, including its ingestion).
//!
//! rss: RUNS (default 100000) small PipelineRuns (with a status) in one namespace, created once and reused by
//! later runs; then `harvester watch --sink -` (stdout to /dev/null) lists them, and its peak RSS (VmHWM) after
//! the list is compared with the total size of the listed objects.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::cluster::{Cluster, fixture, running};
use support::graph::GraphService;
use support::watch::{Stdout, WatchProcess};
use tekton_graph_schema::{Outcome, RunKey, RunKind};

const LIGHTHOUSE: &str = "tekton/pipelinerun-v1-lighthouse-succeeded-multiple-tasks.yaml";
const IN_FLIGHT: usize = 32;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let count = |default: usize| args.get(1).and_then(|n| n.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("latency") => runtime.block_on(latency(count(1000))),
        Some("rss") => runtime.block_on(rss(count(100_000))),
        _ => eprintln!("usage: cargo bench -p harvester --bench watch -- latency [UPDATES] | rss [RUNS]"),
    }
}

async fn latency(updates: usize) {
    for observer in ["recorder", "graph-service"] {
        latency_into(updates, observer).await;
    }
}

/// One latency round into `observer`: `graph-service` (the update is queryable in its store) or `recorder` (an
/// endpoint that only notes what the harvester POSTed: the watch and harvester share of the latency).
async fn latency_into(updates: usize, observer_name: &str) {
    println!("-- into {observer_name}");
    let cluster = Cluster::connect().await;
    let ns = cluster.namespace("bench-latency").await;
    let lighthouse = fixture(LIGHTHOUSE).remove(0);
    let names: Vec<String> = (0..updates).map(|i| format!("latency-{i:05}")).collect();
    let started = Instant::now();
    stream::iter(&names)
        .for_each_concurrent(IN_FLIGHT, |name| {
            let (cluster, ns, mut run) = (cluster.clone(), ns.clone(), lighthouse.clone());
            async move {
                run["metadata"]["name"] = name.as_str().into();
                let status = running(&run["status"]);
                run.as_object_mut().expect("object").remove("status");
                cluster.create_run(&ns, &run).await;
                cluster.set_status(&ns, "PipelineRun", name, status).await;
            }
        })
        .await;
    println!("created {updates} running PipelineRuns in {:.1} s", started.elapsed().as_secs_f64());

    let (observer, sink, server) = if observer_name == "recorder" {
        let (observer, sink, server) = recorder().await;
        (observer, sink, Server::Recorder(server))
    } else {
        let graph = GraphService::start().await;
        (Observer::Store(graph.store.clone()), graph.sink(), Server::Graph(graph))
    };
    let mut process = WatchProcess::start(&["--namespace", &ns, "--sink", &sink], Stdout::Discard);
    process.wait_for_stderr("listed ", 2, Duration::from_secs(120)).await;
    let keys: Vec<RunKey> =
        names.iter().map(|n| RunKey { kind: RunKind::PipelineRun, namespace: ns.clone(), name: n.clone() }).collect();
    wait_until(&observer, &keys, Outcome::Running).await;

    let succeeded = lighthouse["status"].clone();
    let burst = measure(&cluster, &observer, &ns, &names, &keys, &succeeded, IN_FLIGHT).await;
    report(&format!("burst of {updates} status updates ({IN_FLIGHT} in flight)"), burst);

    // Idle: one update at a time, each waiting for the previous to arrive; the linger dominates.
    let idle_names: Vec<String> = names.iter().take(50).cloned().collect();
    let idle_keys: Vec<RunKey> = keys.iter().take(50).cloned().collect();
    let back = json!({"conditions": [{"type": "Succeeded", "status": "False", "reason": "Failed"}],
                      "completionTime": "2030-01-01T00:00:00Z", "startTime": "2020-07-20T19:50:21Z"});
    let idle = measure(&cluster, &observer, &ns, &idle_names, &idle_keys, &back, 1).await;
    report("50 single status updates (one at a time)", idle);
    let (_, stderr) = process.stop();
    println!("harvester: {}", stderr.last().map(String::as_str).unwrap_or(""));
    match server {
        Server::Graph(graph) => graph.stop().await,
        Server::Recorder(task) => task.abort(),
    }
}

enum Server {
    Graph(GraphService),
    Recorder(tokio::task::JoinHandle<std::io::Result<()>>),
}

/// Where an update is looked for.
#[derive(Clone)]
enum Observer {
    /// The graph-service's store: the update is queryable.
    Store(Arc<dyn graph_service::store::GraphStore>),
    /// The newest outcome per run name that the harvester POSTed to the recorder.
    Recorder(Arc<std::sync::Mutex<HashMap<String, Outcome>>>),
}

impl Observer {
    async fn outcomes(&self, keys: &[RunKey]) -> Vec<Option<Outcome>> {
        match self {
            Observer::Store(store) => {
                let facts = store.facts(keys).await.expect("store read");
                facts.into_iter().map(|f| f.map(|f| f.status.outcome)).collect()
            }
            Observer::Recorder(seen) => {
                let seen = seen.lock().expect("lock");
                keys.iter().map(|k| seen.get(&k.name).copied()).collect()
            }
        }
    }
}

/// A `POST /events` endpoint that notes each fact's run and outcome and answers 202 at once.
async fn recorder() -> (Observer, String, tokio::task::JoinHandle<std::io::Result<()>>) {
    use poem::listener::{Acceptor, Listener, TcpListener};
    use poem::web::{Data, Json};
    use poem::{EndpointExt, Route, handler, http::StatusCode, post};

    #[handler]
    fn events(
        Json(batch): Json<Vec<Value>>,
        seen: Data<&Arc<std::sync::Mutex<HashMap<String, Outcome>>>>,
    ) -> StatusCode {
        let mut seen = seen.lock().expect("lock");
        for event in batch {
            let outcome = serde_json::from_value(event["data"]["status"]["outcome"].clone());
            if let (Some(name), Ok(outcome)) = (event["data"]["name"].as_str(), outcome) {
                seen.insert(name.to_string(), outcome);
            }
        }
        StatusCode::ACCEPTED
    }

    let seen = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("address");
    let app = Route::new().at("/events", post(events)).data(seen.clone());
    let task = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (Observer::Recorder(seen), format!("http://{addr}/events"), task)
}

/// Patches every run's status to `status` (`in_flight` at a time) while polling the store; returns each
/// update's latency from its patch returning to the store showing the new outcome.
async fn measure(
    cluster: &Cluster,
    observer: &Observer,
    ns: &str,
    names: &[String],
    keys: &[RunKey],
    status: &Value,
    in_flight: usize,
) -> Vec<Duration> {
    let outcome = if status["conditions"][0]["status"] == "True" { Outcome::Succeeded } else { Outcome::Failed };
    let patched: Arc<std::sync::Mutex<Vec<Option<Instant>>>> = Arc::new(std::sync::Mutex::new(vec![None; names.len()]));
    let seen = Arc::new(std::sync::Mutex::new(vec![None::<Instant>; names.len()]));
    let first_patch = Instant::now();
    let poller = tokio::spawn(poll(observer.clone(), keys.to_vec(), outcome, seen.clone()));
    stream::iter(names.iter().enumerate())
        .for_each_concurrent(in_flight, |(index, name)| {
            let (patched, seen) = (patched.clone(), seen.clone());
            async move {
                let patch = Patch::Merge(json!({ "status": status }));
                let api = cluster.runs(ns, "PipelineRun");
                api.patch_status(name, &PatchParams::default(), &patch).await.expect("patch status");
                patched.lock().expect("lock")[index] = Some(Instant::now());
                if in_flight == 1 {
                    // Sequential round: wait for this update before the next.
                    while seen.lock().expect("lock")[index].is_none() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
        })
        .await;
    let patching = first_patch.elapsed();
    poller.await.expect("poller");
    let patched = patched.lock().expect("lock").clone();
    let seen = seen.lock().expect("lock").clone();
    let last_seen = seen.iter().flatten().max().map(|t| t.duration_since(first_patch)).unwrap_or_default();
    println!(
        "  patching took {:.0} ms ({:.0} patches/s); the last update was in the store {:.0} ms after the first patch",
        patching.as_secs_f64() * 1000.0,
        names.len() as f64 / patching.as_secs_f64(),
        last_seen.as_secs_f64() * 1000.0
    );
    patched
        .iter()
        .zip(&seen)
        .map(|(p, s)| {
            let (p, s) = (p.expect("patched"), s.expect("seen"));
            s.saturating_duration_since(p)
        })
        .collect()
}

/// Reads all not-yet-seen runs every 2 ms and stamps the first time each shows `outcome`.
async fn poll(
    observer: Observer,
    keys: Vec<RunKey>,
    outcome: Outcome,
    seen: Arc<std::sync::Mutex<Vec<Option<Instant>>>>,
) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let pending: Vec<usize> =
            seen.lock().expect("lock").iter().enumerate().filter(|(_, s)| s.is_none()).map(|(i, _)| i).collect();
        if pending.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{} updates never arrived", pending.len());
        let batch: Vec<RunKey> = pending.iter().map(|i| keys[*i].clone()).collect();
        let outcomes = observer.outcomes(&batch).await;
        let now = Instant::now();
        {
            // A block, not drop(): the guard must be out of scope at the await for the future to be Send.
            let mut seen = seen.lock().expect("lock");
            for (index, seen_outcome) in pending.iter().zip(outcomes) {
                if seen_outcome == Some(outcome) {
                    seen[*index] = Some(now);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn wait_until(observer: &Observer, keys: &[RunKey], outcome: Outcome) {
    let seen = Arc::new(std::sync::Mutex::new(vec![None; keys.len()]));
    poll(observer.clone(), keys.to_vec(), outcome, seen).await;
}

fn report(what: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n = {})",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(at(1.0)),
        latencies.len()
    );
}

async fn rss(runs: usize) {
    let cluster = Cluster::connect().await;
    let ns = format!("bench-rss-{runs}");
    let existing = ensure_runs(&cluster, &ns, runs).await;
    let (objects, bytes) = listed_size(&cluster, &ns).await;
    println!("namespace {ns}: {objects} PipelineRuns, {:.1} MB as JSON ({existing})", bytes as f64 / 1e6);

    for sink in ["-", "http"] {
        let graph = if sink == "http" { Some(GraphService::start().await) } else { None };
        let target = graph.as_ref().map(GraphService::sink).unwrap_or_else(|| "-".into());
        let started = Instant::now();
        let mut process = WatchProcess::start(&["--namespace", &ns, "--sink", &target], Stdout::Discard);
        let pid = process.pid();
        let peak_during = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sampler = {
            let peak = peak_during.clone();
            tokio::spawn(async move {
                while let Some(rss) = proc_kb(pid, "VmRSS:") {
                    peak.fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        let listed = process.wait_for_stderr("listed ", 2, Duration::from_secs(1800)).await;
        let list_time = started.elapsed();
        let hwm = proc_kb(pid, "VmHWM:").unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_after = proc_kb(pid, "VmRSS:").unwrap_or(0);
        let (_, stderr) = process.stop();
        sampler.abort();
        println!("sink {target}: {}", listed.join("; "));
        println!(
            "sink {target}: list done {:.1} s after start; peak RSS (VmHWM) {:.1} MB; RSS 2 s later {:.1} MB; \
             objects {:.1} MB ({:.1}% of the objects); {}",
            list_time.as_secs_f64(),
            hwm as f64 / 1024.0,
            rss_after as f64 / 1024.0,
            bytes as f64 / 1e6,
            hwm as f64 * 1024.0 / bytes as f64 * 100.0,
            stderr.last().map(String::as_str).unwrap_or("")
        );
        if let Some(graph) = graph {
            graph.stop().await;
        }
    }
}

/// Creates the namespace's runs unless they exist from an earlier run of the bench; says which.
async fn ensure_runs(cluster: &Cluster, ns: &str, runs: usize) -> String {
    let api = cluster.runs(ns, "PipelineRun");
    let namespaces = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(cluster.client.clone());
    if namespaces.get_opt(ns).await.expect("namespace").is_none() {
        let namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
        namespaces.create(&PostParams::default(), &namespace).await.expect("create namespace");
    }
    let have = api.list(&ListParams::default().limit(1)).await.expect("list");
    let have = have.items.len() as u64 + have.metadata.remaining_item_count.unwrap_or(0) as u64;
    if have as usize >= runs {
        return "created earlier".into();
    }
    let started = Instant::now();
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    stream::iter(have as usize..runs)
        .for_each_concurrent(64, |i| {
            let (cluster, created) = (cluster.clone(), created.clone());
            async move {
                let (object, status) = small_run(ns, i);
                let object: kube::api::DynamicObject = serde_json::from_value(object).expect("object");
                let api = cluster.runs(ns, "PipelineRun");
                api.create(&PostParams::default(), &object).await.expect("create");
                cluster.set_status(ns, "PipelineRun", &format!("run-{i:06}"), status).await;
                let done = created.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if done % 10_000 == 0 {
                    eprintln!("created {done} runs in {:.0} s", started.elapsed().as_secs_f64());
                }
            }
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let made = runs - have as usize;
    format!(
        "created {made} now in {elapsed:.1} s: {:.0} runs/s, create + status patch, 64 in flight",
        made as f64 / elapsed
    )
}

/// A small finished PipelineRun: what a busy cluster holds by the thousand.
fn small_run(ns: &str, i: usize) -> (Value, Value) {
    let object = json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": format!("run-{i:06}"),
            "namespace": ns,
            "labels": {"tekton.dev/pipeline": format!("pipeline-{}", i % 50), "app": "bench"},
        },
        "spec": {"pipelineRef": {"name": format!("pipeline-{}", i % 50)},
                 "params": [{"name": "revision", "value": format!("{:040x}", i)}]},
    });
    let status = json!({
        "startTime": "2026-01-01T00:00:00Z",
        "completionTime": "2026-01-01T00:05:00Z",
        "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded",
                        "message": "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0",
                        "lastTransitionTime": "2026-01-01T00:05:00Z"}],
        "childReferences": [
            {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": format!("run-{i:06}-build"), "pipelineTaskName": "build"},
            {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": format!("run-{i:06}-test"), "pipelineTaskName": "test"}
        ],
        "results": [{"name": "IMAGE_DIGEST", "value": format!("sha256:{:064x}", i)}],
    });
    (object, status)
}

/// The number and total JSON size of the namespace's PipelineRuns, as the watcher's list pages carry them.
async fn listed_size(cluster: &Cluster, ns: &str) -> (usize, usize) {
    let api = cluster.runs(ns, "PipelineRun");
    let (mut objects, mut bytes, mut token) = (0, 0, None::<String>);
    loop {
        let mut params = ListParams::default().limit(500);
        if let Some(token) = &token {
            params = params.continue_token(token);
        }
        let page = api.list(&params).await.expect("list");
        objects += page.items.len();
        bytes += page.items.iter().map(|o| serde_json::to_vec(o).map(|v| v.len()).unwrap_or(0)).sum::<usize>();
        match page.metadata.continue_ {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => return (objects, bytes),
        }
    }
}

/// A `/proc/PID/status` value in kB; `None` once the process is gone.
fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}
