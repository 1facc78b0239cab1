//! Chain checks against a real graph-service: two EventListener calls answer eventIDs; the PipelineRun of one is
//! in the graph (labelled `triggers.tekton.dev/triggers-eventid`, as Tekton Triggers labels what it creates), so
//! that chain is `started`; the other never shows up, so after its deadline the notifier raises
//! `dev.tektongraph.chain.missed.v1` and its rule tells Slack that the chain did not start.

mod support;

use std::sync::Arc;
use std::time::Duration;

use graph_service::store::GraphStore;
use notifier::Notifier;
use notifier::config::Config;
use notifier::event::Incoming;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::json;
use support::{Answer, Receiver, eventually};
use tekton_graph_schema::RunKind;

const WITHIN: Duration = Duration::from_secs(30);

fn rules(graph: Option<&str>, el: &Receiver, slack_secret: &std::path::Path) -> String {
    let graph = graph.map(|url| format!("graph: {{ url: '{url}', timeoutMillis: 2000 }}\n")).unwrap_or_default();
    format!(
        "{graph}channels:\n  scan: {{ type: eventListener, url: '{el}', chain: {{ deadlineSeconds: 2 }} }}\n  \
         slack: {{ type: slack, webhookUrl: {{ file: '{secret}' }} }}\n\
         triggers:\n  pushed: {{ on: test.pushed.v1 }}\n  chain-missed: {{ on: dev.tektongraph.chain.missed.v1 }}\n\
         subscriptions:\n  - {{ triggers: [pushed], channels: [scan] }}\n  - {{ triggers: [chain-missed], channels: [slack] }}\n",
        el = el.url("/"),
        secret = slack_secret.display(),
    )
}

fn pushed(id: &str) -> Incoming {
    Incoming {
        id: id.into(),
        ty: "test.pushed.v1".into(),
        source: "/test".into(),
        subject: Some("registry/app".into()),
        time: None,
        data: json!({ "digest": "sha256:1" }),
        extensions: Default::default(),
    }
}

#[tokio::test]
async fn a_call_whose_pipelinerun_never_appears_is_reported_and_one_that_started_is_not() {
    // graph-service holding the run Tekton Triggers created for eventID `chain-started`.
    let mut run = graph_service::demo::sample_facts()
        .expect("demo facts")
        .into_iter()
        .find(|f| f.kind == RunKind::PipelineRun && f.supply_chain.trigger.is_some())
        .expect("a triggered PipelineRun in the demo data");
    run.name = "scan-run-from-the-chain".into();
    run.uid = Some("uid-of-the-chained-run".into());
    if let Some(trigger) = run.supply_chain.trigger.as_mut() {
        trigger.event_id = Some("chain-started".into());
    }
    let store = graph_service::store::embedded::EmbeddedStore::in_memory(Default::default());
    store.apply(&[run.clone()]).await.expect("apply");
    let app = graph_service::server::app(Arc::new(store));
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let graph = format!("http://{}", acceptor.local_addr()[0].as_socket_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });

    let el = Receiver::start(
        vec![
            Answer::new(202, r#"{"eventListener":"scan","eventID":"chain-started"}"#),
            Answer::new(202, r#"{"eventListener":"scan","eventID":"chain-never-started"}"#),
        ],
        Answer::new(500, "unexpected call"),
    )
    .await;
    let slack = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("slack");
    std::fs::write(&secret, slack.url("/services/T/B/X")).expect("secret");

    // A chain check without a graph to ask cannot start.
    let without = Config::parse(&rules(None, &el, &secret)).expect("rules");
    let error = Notifier::start(&without, &dir.path().join("no.db")).await.err().expect("refused").to_string();
    assert!(error.contains("channels.scan.chain") && error.contains("`graph`"), "{error}");

    let config = Config::parse(&rules(Some(&graph), &el, &secret)).expect("rules");
    let notifier = Notifier::start(&config, &dir.path().join("outbox.db")).await.expect("start");
    notifier.accept(&pushed("push-1")).await.expect("accept");
    el.wait_for(1, WITHIN).await;
    notifier.accept(&pushed("push-2")).await.expect("accept");
    el.wait_for(2, WITHIN).await;

    let chains = eventually(WITHIN, "both chains to end", || async {
        let chains = notifier.outbox().chains().await.expect("chains");
        (chains.len() == 2 && chains.iter().all(|c| c.status != "waiting")).then_some(chains)
    })
    .await;
    let started = chains.iter().find(|c| c.event_id == "chain-started").expect("the started chain");
    assert_eq!(started.status, "started");
    assert_eq!(started.run.as_deref(), Some(format!("{}/scan-run-from-the-chain", run.namespace).as_str()));
    let missed = chains.iter().find(|c| c.event_id == "chain-never-started").expect("the missed chain");
    assert_eq!((missed.status.as_str(), missed.cause.as_str()), ("missed", "push-2"));

    let told = slack.wait_for(1, WITHIN).await;
    let text = told[0].body["text"].as_str().expect("text");
    assert!(text.starts_with("⛓️ The chain did not start: scan"), "{text}");
    assert!(text.contains("chain-never-started") && text.contains("within 2s"), "{text}");
    assert!(notifier.outbox().event_seen(&format!("chain-missed-{}", missed.delivery_id)).await.expect("seen"));
    assert!(!text.contains("chain-started "), "only the missed chain is reported: {text}");
}
