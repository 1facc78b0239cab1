//! Events in → webhook calls out, through the whole notifier: HTTP `POST /events` (structured CloudEvents), rules,
//! the SQLite outbox, the channel worker, and a local webhook receiver that answers 200.
//!
//! * **Throughput**: `BENCH_EVENTS` (5000) events posted by 8 concurrent clients; deliveries/s counted from the
//!   first post until the receiver has every delivery; the webhook channel keeps 8 requests in flight
//!   (`delivery.concurrency`). Baseline, same run: the receiver's own rate for direct POSTs of delivery-sized
//!   bodies from 8 concurrent clients — what the channel could reach if the notifier cost nothing.
//! * **Latency**: 100 events/s for `BENCH_LATENCY_SECONDS` (10) s, each event's post → its delivery at the
//!   receiver, p50 / p99.
//!
//! ```sh
//! cargo bench -p notifier --bench delivery
//! ```
//! Under `cargo test --benches` it runs a few events and checks that each is delivered once.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use notifier::Notifier;
use notifier::config::Config;
use notifier::server::{Access, routes};
use poem::listener::{Acceptor, Listener, TcpListener};
use support::{Answer, Receiver};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn event(i: usize) -> String {
    serde_json::json!({
        "specversion": "1.0", "id": format!("bench-{i}"), "source": "/bench", "type": "dev.cdevents.pipelinerun.finished.0.2.0",
        "subject": format!("ci/build-{i}"), "datacontenttype": "application/json",
        "data": { "subject": { "id": format!("ci/build-{i}"), "content": { "outcome": "failure" } },
                  "customData": { "run": { "namespace": "ci", "name": format!("build-{i}"), "pipeline": "build",
                                            "outcome": "Failed", "durationSeconds": 95.0 } } },
    })
    .to_string()
}

async fn start_notifier(receiver: &Receiver, dir: &tempfile::TempDir) -> String {
    let yaml = format!(
        "links: {{ ui: 'http://ui.local' }}\n\
         channels: {{ hook: {{ type: webhook, url: '{}' }} }}\n\
         triggers: {{ failed: {{ on: dev.cdevents.pipelinerun.finished.0.2.0, when: 'data.subject.content.outcome == \"failure\"', oncePer: data.subject.id }} }}\n\
         subscriptions: [{{ triggers: [failed], channels: [hook] }}]\n",
        receiver.url("/hook")
    );
    let notifier =
        Notifier::start(&Config::parse(&yaml).expect("rules"), &dir.path().join("outbox.db")).await.expect("start");
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("addr");
    let app = routes(notifier, Access::Open { reason: "bench".into() });
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    format!("http://{addr}/events")
}

async fn post(client: &reqwest::Client, url: &str, body: String) {
    let response =
        client.post(url).header("content-type", "application/cloudevents+json").body(body).send().await.expect("post");
    assert_eq!(response.status().as_u16(), 202, "accepted");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let events = if quick { 20 } else { env_usize("BENCH_EVENTS", 5000) };
    let latency_seconds = if quick { 1 } else { env_usize("BENCH_LATENCY_SECONDS", 10) };
    let client = reqwest::Client::new();

    // Baseline: the receiver's own rate for direct sequential POSTs of delivery-sized bodies.
    let direct = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let body = serde_json::json!({ "trigger": "failed", "text": "x".repeat(300), "event": serde_json::from_str::<serde_json::Value>(&event(0)).expect("json") }).to_string();
    let started = Instant::now();
    futures::stream::iter(0..events)
        .for_each_concurrent(8, |_| {
            let (client, url, body) = (client.clone(), direct.url("/hook"), body.clone());
            async move {
                let response = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("direct");
                assert!(response.status().is_success());
                // Read the answer, as the channel does: an unread body keeps the connection from being reused.
                response.bytes().await.expect("answer");
            }
        })
        .await;
    let direct_rate = events as f64 / started.elapsed().as_secs_f64();

    // Through the notifier.
    let receiver = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = start_notifier(&receiver, &dir).await;
    let started = Instant::now();
    futures::stream::iter(0..events)
        .for_each_concurrent(8, |i| {
            let (client, url) = (client.clone(), url.clone());
            async move { post(&client, &url, event(i)).await }
        })
        .await;
    let accepted = started.elapsed();
    receiver.wait_for(events, Duration::from_secs(600)).await;
    let delivered = started.elapsed();
    let rate = events as f64 / delivered.as_secs_f64();
    let received = receiver.received();
    let distinct: std::collections::BTreeSet<_> = received.iter().map(|r| r.body["event"]["id"].to_string()).collect();
    assert_eq!((received.len(), distinct.len()), (events, events), "each event delivered once");

    // Latency at 100 events/s.
    let receiver = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = start_notifier(&receiver, &dir).await;
    let n = 100 * latency_seconds;
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let mut posted = Vec::with_capacity(n);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        ticker.tick().await;
        posted.push(Instant::now());
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move { post(&client, &url, event(i)).await }));
    }
    for task in tasks {
        task.await.expect("post task");
    }
    let got = receiver.wait_for(n, Duration::from_secs(120)).await;
    let mut latencies: Vec<Duration> = got
        .iter()
        .map(|r| {
            let i: usize = r.body["event"]["id"]
                .as_str()
                .and_then(|id| id.strip_prefix("bench-"))
                .and_then(|i| i.parse().ok())
                .expect("id");
            r.at - posted[i]
        })
        .collect();
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));

    println!("notifier delivery bench ({} events, {} at 100/s)", events, n);
    println!("  direct POSTs to the receiver, 8 at a time (baseline): {direct_rate:>8.0} requests/s");
    println!(
        "  through the notifier:                                 {rate:>8.0} deliveries/s ({:.2}× baseline; all {events} accepted after {:.2} s, delivered after {:.2} s)",
        rate / direct_rate,
        accepted.as_secs_f64(),
        delivered.as_secs_f64()
    );
    println!(
        "  event → delivery at 100 events/s:                     p50 {:.1} ms, p99 {:.1} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}
