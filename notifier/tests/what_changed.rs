//! A failed run's message says what changed since the previous run, asked from a real graph-service (its GraphQL
//! `diff` over the demo data), and still goes out when graph-service does not answer.

mod support;

use std::sync::Arc;
use std::time::Duration;

use graph_service::store::GraphStore;
use notifier::Notifier;
use notifier::config::Config;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{Value, json};
use support::{Answer, Receiver, sensemaker_events};

/// graph-service over its demo data on a free loopback port.
async fn graph_service() -> String {
    let store = graph_service::store::embedded::EmbeddedStore::in_memory(Default::default());
    store.apply(&graph_service::demo::sample_facts().expect("demo facts")).await.expect("apply");
    let app = graph_service::server::app(Arc::new(store));
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("addr");
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    format!("http://{addr}")
}

async fn graphql(base: &str, query: &str, variables: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("graphql");
    response.json().await.expect("json")
}

async fn notifier_posting_to(slack: &Receiver, graph_url: &str, dir: &tempfile::TempDir) -> Arc<Notifier> {
    let hook = dir.path().join("slack");
    std::fs::write(&hook, slack.url("/services/T/B/X")).expect("secret");
    let yaml = format!(
        "graph: {{ url: '{graph_url}', timeoutMillis: 2000 }}\n\
         channels: {{ slack: {{ type: slack, webhookUrl: {{ file: '{}' }} }} }}\n\
         triggers: {{ failed: {{ on: dev.cdevents.pipelinerun.finished.0.2.0, when: 'data.subject.content.outcome != \"success\"' }} }}\n\
         subscriptions: [{{ triggers: [failed], channels: [slack] }}]\n",
        hook.display()
    );
    Notifier::start(&Config::parse(&yaml).expect("rules"), &dir.path().join("outbox.db")).await.expect("start")
}

fn incoming(event: &Value) -> notifier::event::Incoming {
    let event: cloudevents::Event = serde_json::from_value(event.clone()).expect("cloudevent");
    notifier::event::Incoming::from_cloudevent(&event).expect("incoming")
}

#[tokio::test]
async fn a_failed_runs_message_says_what_changed_since_the_previous_run() {
    let graph = graph_service().await;
    // The demo's failed runs that have a previous run to compare with, and what graph-service says changed.
    let mut compared = Vec::new();
    for event in sensemaker_events().await {
        let run = &event["data"]["customData"]["run"];
        if event["type"] != "dev.cdevents.pipelinerun.finished.0.2.0"
            || event["data"]["subject"]["content"]["outcome"] == "success"
        {
            continue;
        }
        let answer = graphql(
            &graph,
            "query($ns: String!, $name: String!) { diff(namespace: $ns, name: $name) { base { name } head { durationSeconds } } }",
            json!({ "ns": run["namespace"], "name": run["name"] }),
        )
        .await;
        if let Some(base) = answer["data"]["diff"]["base"]["name"].as_str() {
            compared.push((event.clone(), base.to_string()));
        }
    }
    assert!(!compared.is_empty(), "the demo data has a failed run with a previous run");

    let slack = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let notifier = notifier_posting_to(&slack, &graph, &dir).await;
    for (event, _) in &compared {
        notifier.accept(&incoming(event)).await.expect("accepted");
    }
    let got = slack.wait_for(compared.len(), Duration::from_secs(20)).await;
    for ((event, base), request) in compared.iter().zip(&got) {
        let text = request.body["text"].as_str().expect("text");
        let namespace = event["data"]["customData"]["run"]["namespace"].as_str().expect("ns");
        assert!(text.contains(&format!("since {namespace}/{base} (")), "{text}");
        assert!(text.contains("• duration") || text.contains("• newly failing") || text.contains("• commit"), "{text}");
    }
}

#[tokio::test]
async fn the_message_goes_out_without_the_diff_when_graph_service_is_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let down = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let slack = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let notifier = notifier_posting_to(&slack, &down, &dir).await;
    let failed = support::failed_runs().await.remove(0);
    let recorded = notifier.accept(&incoming(&failed)).await.expect("accepted although the graph is down");
    assert_eq!(recorded.queued, 1);
    let got = slack.wait_for(1, Duration::from_secs(20)).await;
    let text = got[0].body["text"].as_str().expect("text");
    assert!(text.contains("PipelineRun") && !text.contains("since "), "{text}");
}
