//! Digests end to end: a trigger whose deliveries are collected for a window sends one Slack message and one
//! webhook body for all the events of the window — across a restart of the notifier in the middle of it — and
//! opens a new window for the events after.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use notifier::Notifier;
use notifier::config::Config;
use notifier::server::{Access, routes};
use poem::test::TestClient;
use serde_json::{Value, json};
use support::{Answer, Receiver, failed_runs};

const WINDOW: Duration = Duration::from_secs(3);
const WITHIN: Duration = Duration::from_secs(30);

type Client = TestClient<poem::endpoint::BoxEndpoint<'static>>;

fn client(notifier: Arc<Notifier>) -> Client {
    let endpoint = poem::EndpointExt::map_to_response(routes(notifier, Access::Open { reason: "test".into() }));
    TestClient::new(poem::EndpointExt::boxed(endpoint))
}

async fn post(client: &Client, event: &Value) -> Value {
    let response =
        client.post("/events").content_type("application/cloudevents+json").body(event.to_string()).send().await;
    response.assert_status(http::StatusCode::ACCEPTED);
    response.json().await.value().deserialize::<Value>()
}

#[tokio::test]
async fn a_window_of_failures_is_one_message_even_across_a_restart() {
    let slack = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let hook = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("slack-url");
    std::fs::write(&secret, slack.url("/services/T/B/X")).expect("secret");
    let config = Config::parse(&format!(
        r#"
channels:
  slack: {{ type: slack, webhookUrl: {{ file: "{secret}" }} }}
  hook: {{ type: webhook, url: "{hook}" }}
triggers:
  run-failed:
    on: dev.cdevents.pipelinerun.finished.0.2.0
    when: data.subject.content.outcome != "success"
    digest: {{ windowSeconds: {window} }}
subscriptions:
  - {{ triggers: [run-failed], channels: [slack, hook] }}
delivery: {{ maxAttempts: 3, firstBackoffMillis: 50, maxBackoffSeconds: 1, timeoutSeconds: 10 }}
"#,
        secret = secret.display(),
        hook = hook.url("/hook"),
        window = WINDOW.as_secs(),
    ))
    .expect("rule file");
    let db = dir.path().join("outbox.db");
    let failure = failed_runs().await.remove(0);
    let numbered = |n: usize| {
        let mut event = failure.clone();
        event["id"] = json!(format!("failure-{n}"));
        event
    };

    let opened = Instant::now();
    let notifier = Notifier::start(&config, &db).await.expect("start");
    let cli = client(notifier.clone());
    let first = post(&cli, &numbered(1)).await;
    assert_eq!((first["queued"].as_u64(), first["grouped"].as_u64()), (Some(2), Some(0)), "{first}");
    let second = post(&cli, &numbered(2)).await;
    assert_eq!((second["queued"].as_u64(), second["grouped"].as_u64()), (Some(0), Some(2)), "{second}");
    drop(cli);
    drop(notifier);

    // Restarted within the window: the open digest is in the outbox, and the third event joins it.
    let notifier = Notifier::start(&config, &db).await.expect("restart");
    let cli = client(notifier.clone());
    let third = post(&cli, &numbered(3)).await;
    assert_eq!(third["grouped"].as_u64(), Some(2), "joined the open digest: {third}");
    assert!(opened.elapsed() < WINDOW, "the test posted within the window");

    let posted = slack.wait_for(1, WITHIN).await;
    assert!(posted[0].at.duration_since(opened) >= WINDOW - Duration::from_millis(50), "sent when the window closed");
    let text = posted[0].body["text"].as_str().expect("text");
    assert!(text.starts_with("3 × run-failed\n"), "{text}");
    assert_eq!(text.matches("\n• ").count(), 3, "{text}");
    let hooked = hook.wait_for(1, WITHIN).await;
    assert_eq!(hooked[0].body["count"], 3);
    assert_eq!(hooked[0].body["digest"], true);
    let ids: Vec<&str> = hooked[0].body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["event"]["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["failure-1", "failure-2", "failure-3"]);

    // After the window: a new digest.
    let fourth = post(&cli, &numbered(4)).await;
    assert_eq!(fourth["queued"].as_u64(), Some(2), "a new window: {fourth}");
    let posted = slack.wait_for(2, WITHIN).await;
    assert!(posted[1].body["text"].as_str().expect("text").starts_with("1 × run-failed\n"));
    assert_eq!(slack.received().len(), 2, "one message per window");
}
