//! `kill -9` of the real notifier binary, once while a channel is down and once in the middle of sending: every
//! accepted event is delivered after the restart, and at most the requests in flight at the kill (a webhook
//! channel has `delivery.concurrency` of them) are sent twice — receivers drop them by their `Idempotency-Key`.

mod support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::{Answer, Receiver, eventually};

const WITHIN: Duration = Duration::from_secs(60);
/// Requests the webhook channel has in flight at once.
const CONCURRENCY: usize = 4;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

struct Running {
    child: Child,
    url: String,
}

async fn start(rules: &std::path::Path, db: &std::path::Path) -> Running {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_notifier"))
        .args(["serve", "--rules"])
        .arg(rules)
        .arg("--db")
        .arg(db)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the notifier");
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually(WITHIN, "the notifier to answer /healthz", || async {
        client.get(format!("{url}/healthz")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
    })
    .await;
    Running { child, url }
}

fn kill_9(mut running: Running) {
    running.child.kill().expect("SIGKILL");
    let status = running.child.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "the notifier died of SIGKILL, not of its own accord");
}

async fn post_events(url: &str, ids: std::ops::Range<usize>) {
    let client = reqwest::Client::new();
    for i in ids {
        let event = serde_json::json!({
            "specversion": "1.0", "id": format!("event-{i:03}"), "source": "/crash-test", "type": "test.event.v1",
            "data": { "n": i },
        });
        let response = client
            .post(format!("{url}/events"))
            .header("content-type", "application/cloudevents+json")
            .body(event.to_string())
            .send()
            .await
            .expect("post");
        assert_eq!(response.status().as_u16(), 202, "event {i} accepted");
    }
}

/// Requests answered 200, by idempotency key.
fn delivered(receiver: &Receiver) -> BTreeMap<String, (usize, String)> {
    let mut by_key: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for request in receiver.received().iter().filter(|r| r.status == 200) {
        let key = request.headers["idempotency-key"].to_str().expect("key").to_string();
        let event = request.body["event"]["id"].as_str().expect("event id").to_string();
        by_key.entry(key).or_insert((0, event)).0 += 1;
    }
    by_key
}

#[tokio::test]
async fn kill_9_loses_nothing_and_repeats_at_most_the_requests_in_flight() {
    let receiver = Receiver::start(vec![], Answer::new(503, "down for maintenance")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        format!(
            "channels: {{ hook: {{ type: webhook, url: '{}' }} }}\n\
             triggers: {{ all: {{ on: test.event.v1 }} }}\n\
             subscriptions: [{{ triggers: [all], channels: [hook] }}]\n\
             delivery: {{ maxAttempts: 1000, firstBackoffMillis: 20, maxBackoffSeconds: 1, timeoutSeconds: 10, concurrency: {CONCURRENCY} }}\n",
            receiver.url("/hook")
        ),
    )
    .expect("rules");
    let db = dir.path().join("outbox.db");

    // 1. The channel is down: events are accepted and retried, then the notifier is killed.
    let first = start(&rules, &db).await;
    post_events(&first.url, 0..20).await;
    receiver.wait_for(1, WITHIN).await;
    kill_9(first);
    assert!(delivered(&receiver).is_empty(), "nothing was delivered while the channel was down");

    // 2. The channel is back but slow; the notifier is killed again in the middle of sending.
    receiver.answer_with(Answer::new(200, "ok").delayed(Duration::from_millis(50)));
    let second = start(&rules, &db).await;
    post_events(&second.url, 20..60).await;
    eventually(WITHIN, "some deliveries", || async { (delivered(&receiver).len() >= 10).then_some(()) }).await;
    kill_9(second);
    let before_restart = delivered(&receiver).len();
    assert!(before_restart < 60, "the kill came in the middle of sending ({before_restart} of 60 delivered)");

    // 3. After the restart every event arrives.
    let third = start(&rules, &db).await;
    let by_key = eventually(WITHIN, "all 60 events delivered", || async {
        let by_key = delivered(&receiver);
        (by_key.len() == 60).then_some(by_key)
    })
    .await;
    let events: std::collections::BTreeSet<&str> = by_key.values().map(|(_, event)| event.as_str()).collect();
    assert_eq!(events.len(), 60, "one key per event");
    let repeats: usize = by_key.values().map(|(n, _)| n - 1).sum();
    // A request in flight at a kill may have reached the receiver (even the first kill's: the receiver answers
    // it after the switch to 200) without being marked sent: it is sent again after the restart.
    assert!(
        repeats <= 2 * CONCURRENCY,
        "{repeats} deliveries were sent twice; at most the {CONCURRENCY} in flight at each of the two kills may be: {:?}",
        by_key.iter().filter(|(_, (n, _))| *n > 1).collect::<Vec<_>>()
    );
    kill_9(third);
}
