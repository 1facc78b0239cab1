//! E-mail through a real SMTP server — Mailpit, started by `scripts/services.sh` with STARTTLS required (a
//! throwaway CA) and AUTH — read back over its HTTP API; SMTP failures injected with its chaos API: a 4xx is
//! retried until it clears, a 5xx is final, a wrong password is final.
//!
//! One test function: the chaos settings are global to the server.

mod support;

use std::time::Duration;

use notifier::Notifier;
use notifier::config::Config;
use serde_json::{Value, json};
use support::{env, eventually};

const WITHIN: Duration = Duration::from_secs(30);

fn api(path: &str) -> String {
    format!("{}{path}", env("MAILPIT_API"))
}

async fn chaos(client: &reqwest::Client, settings: Value) {
    let response = client.put(api("/api/v1/chaos")).json(&settings).send().await.expect("chaos");
    assert!(response.status().is_success(), "chaos settings accepted: {}", response.status());
}

/// Messages to `to`, as Mailpit lists them.
async fn inbox(client: &reqwest::Client, to: &str) -> Vec<Value> {
    let answer: Value = client
        .get(api("/api/v1/search"))
        .query(&[("query", format!("to:\"{to}\""))])
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    answer["messages"].as_array().cloned().unwrap_or_default()
}

async fn notifier_mailing(to: &str, password_file: &str, dir: &tempfile::TempDir) -> std::sync::Arc<Notifier> {
    let yaml = format!(
        "links: {{ ui: 'http://ui.local' }}\n\
         channels:\n  mail:\n    type: email\n    server: 'smtp://{smtp}'\n    username: '{user}'\n    password: {{ file: '{password_file}' }}\n    caFile: '{ca}'\n    from: 'tekton-graph <ci@example.org>'\n    to: ['{to}']\n\
         triggers: {{ failed: {{ on: dev.cdevents.pipelinerun.finished.0.2.0, when: 'data.subject.content.outcome != \"success\"' }} }}\n\
         subscriptions: [{{ triggers: [failed], channels: [mail] }}]\n\
         delivery: {{ maxAttempts: 50, firstBackoffMillis: 50, maxBackoffSeconds: 1, timeoutSeconds: 10 }}\n",
        smtp = env("MAILPIT_SMTP"),
        user = env("MAILPIT_USER"),
        ca = env("MAILPIT_CA_FILE"),
    );
    Notifier::start(&Config::parse(&yaml).expect("rules"), &dir.path().join("outbox.db")).await.expect("start")
}

fn incoming(event: &Value, id: &str) -> notifier::event::Incoming {
    let mut event = event.clone();
    event["id"] = json!(id);
    let event: cloudevents::Event = serde_json::from_value(event).expect("cloudevent");
    notifier::event::Incoming::from_cloudevent(&event).expect("incoming")
}

async fn delivery(notifier: &Notifier, event_id: &str) -> notifier::outbox::Delivery {
    let rows = notifier.outbox().history(notifier::outbox::HistoryFilter { limit: 100, ..Default::default() });
    rows.await.expect("history").into_iter().find(|d| d.event_id == event_id).expect("a delivery of the event")
}

#[tokio::test]
async fn mail_goes_through_real_smtp_and_smtp_failures_are_retried_or_final() {
    let client = reqwest::Client::new();
    chaos(&client, json!({})).await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let to = format!("build-team+{run}@example.org");
    let dir = tempfile::tempdir().expect("tempdir");
    let notifier = notifier_mailing(&to, &env("MAILPIT_PASSWORD_FILE"), &dir).await;
    let failed = support::failed_runs().await.remove(0);
    let path = format!(
        "{}/{}",
        failed["data"]["customData"]["run"]["namespace"].as_str().expect("ns"),
        failed["data"]["customData"]["run"]["name"].as_str().expect("name")
    );

    // 1. Delivered over STARTTLS with AUTH, read back from the server.
    notifier.accept(&incoming(&failed, "mail-1")).await.expect("accepted");
    let listed = eventually(WITHIN, "the mail in Mailpit", || async { inbox(&client, &to).await.pop() }).await;
    let message: Value = client
        .get(api(&format!("/api/v1/message/{}", listed["ID"].as_str().expect("ID"))))
        .send()
        .await
        .expect("message")
        .json()
        .await
        .expect("json");
    let subject = message["Subject"].as_str().expect("subject");
    assert!(subject.starts_with("❌ PipelineRun ") && subject.contains(&path), "{subject}");
    let text = message["Text"].as_str().expect("text");
    assert!(text.contains(&format!("http://ui.local/runs/{path}/diff")), "{text}");
    assert_eq!(message["From"]["Address"], "ci@example.org");
    assert!(message["MessageID"].as_str().is_some_and(|id| id.ends_with("@tekton-graph.notifier")), "{message}");
    assert_eq!(delivery(&notifier, "mail-1").await.status, "sent");

    // 2. A temporary refusal (451) is retried until it clears.
    chaos(&client, json!({ "Recipient": { "ErrorCode": 451, "Probability": 100 } })).await;
    notifier.accept(&incoming(&failed, "mail-2")).await.expect("accepted");
    let refused = eventually(WITHIN, "a refused attempt", || async {
        let d = delivery(&notifier, "mail-2").await;
        (d.attempts >= 2).then_some(d)
    })
    .await;
    assert_eq!(refused.status, "pending");
    assert!(refused.last_error.as_deref().is_some_and(|e| e.contains("451")), "{refused:?}");
    chaos(&client, json!({})).await;
    let sent = eventually(WITHIN, "the retried mail", || async {
        let d = delivery(&notifier, "mail-2").await;
        (d.status == "sent").then_some(d)
    })
    .await;
    assert!(sent.attempts >= 3, "{sent:?}");
    assert_eq!(inbox(&client, &to).await.len(), 2);

    // 3. A permanent refusal (550) is final at once.
    chaos(&client, json!({ "Recipient": { "ErrorCode": 550, "Probability": 100 } })).await;
    notifier.accept(&incoming(&failed, "mail-3")).await.expect("accepted");
    let dead = eventually(WITHIN, "a dead delivery", || async {
        let d = delivery(&notifier, "mail-3").await;
        (d.status == "dead").then_some(d)
    })
    .await;
    chaos(&client, json!({})).await;
    assert_eq!(dead.attempts, 1, "{dead:?}");
    assert!(dead.last_error.as_deref().is_some_and(|e| e.contains("550")), "{dead:?}");

    // 4. A wrong password is final too (535), and says so.
    let wrong = dir.path().join("wrong-password");
    std::fs::write(&wrong, "not-the-password").expect("write");
    let other_dir = tempfile::tempdir().expect("tempdir");
    let refused = notifier_mailing(&to, &wrong.display().to_string(), &other_dir).await;
    refused.accept(&incoming(&failed, "mail-4")).await.expect("accepted");
    let dead = eventually(WITHIN, "a dead delivery", || async {
        let d = delivery(&refused, "mail-4").await;
        (d.status == "dead").then_some(d)
    })
    .await;
    assert!(dead.last_error.as_deref().is_some_and(|e| e.contains("535")), "{dead:?}");
    assert_eq!(inbox(&client, &to).await.len(), 2, "nothing else arrived");
}
