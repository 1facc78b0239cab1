//! Deliveries end to end in one process: graph-service's real events and Harbor's real webhooks in over HTTP,
//! local Slack, Discord and EventListener receivers that follow those services' documented contracts (429 with
//! `Retry-After`, 404/410, Discord's rate-limit headers, the EventListener's `eventID`), and the outbox's history
//! read back.

mod support;

use std::sync::Arc;
use std::time::Duration;

use notifier::Notifier;
use notifier::config::Config;
use notifier::server::{Access, routes};
use poem::test::TestClient;
use serde_json::{Value, json};
use support::{Answer, Receiver, eventually, failed_runs, testdata};
use tekton_graph_telemetry::testing::{promtool_check, sample, value};

const WITHIN: Duration = Duration::from_secs(20);

struct Setup {
    notifier: Arc<Notifier>,
    client: TestClient<poem::endpoint::BoxEndpoint<'static>>,
    _dir: tempfile::TempDir,
}

/// A notifier whose Slack, Discord and EventListener channels point at the given receivers. `extra` is appended
/// to the rule file.
async fn setup(slack: &Receiver, discord: &Receiver, el: &Receiver, extra: &str) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, value).expect("secret file");
        path.display().to_string()
    };
    let yaml = format!(
        r#"
links: {{ ui: "http://ui.local" }}
channels:
  slack: {{ type: slack, webhookUrl: {{ file: "{slack}" }} }}
  discord: {{ type: discord, webhookUrl: {{ file: "{discord}" }} }}
  scan:
    type: eventListener
    url: "{el}"
    secret: {{ file: "{el_secret}" }}
    secretHeader: X-Scan-Secret
    body: '{{"digest": {{{{ event.data.resources[0].digest }}}}, "repository": {{{{ event.data.repository.repo_full_name }}}}}}'
triggers:
  run-failed:
    on: dev.cdevents.pipelinerun.finished.0.2.0
    when: data.subject.content.outcome != "success"
    oncePer: data.subject.id
  pushed:
    on: harbor.artifact.pushed
    when: data.repository.repo_full_name == "harbor/alpine"
subscriptions:
  - {{ triggers: [run-failed], channels: [slack, discord] }}
  - {{ triggers: [pushed], channels: [scan] }}
delivery: {{ maxAttempts: 3, firstBackoffMillis: 50, maxBackoffSeconds: 1, timeoutSeconds: 10 }}
{extra}"#,
        slack = secret("slack", &slack.url("/services/T000/B000/XXXX")),
        discord = secret("discord", &discord.url("/api/webhooks/123/token")),
        el = el.url("/"),
        el_secret = secret("el", "s3cret-shared-with-the-listener"),
    );
    let config = Config::parse(&yaml).expect("rule file");
    let notifier = Notifier::start(&config, &dir.path().join("outbox.db")).await.expect("start");
    let endpoint = poem::EndpointExt::map_to_response(routes(notifier.clone(), Access::Open { reason: "test".into() }));
    let client = TestClient::new(poem::EndpointExt::boxed(endpoint));
    Setup { notifier, client, _dir: dir }
}

async fn post(client: &TestClient<poem::endpoint::BoxEndpoint<'static>>, event: &Value) -> Value {
    let response = client
        .post("/events")
        .content_type("application/cloudevents+json")
        .body(serde_json::to_vec(event).expect("json"))
        .send()
        .await;
    response.assert_status(http::StatusCode::ACCEPTED);
    response.json().await.value().deserialize::<Value>()
}

async fn history(notifier: &Notifier, channel: &str) -> Vec<notifier::outbox::Delivery> {
    let filter = notifier::outbox::HistoryFilter { channel: Some(channel.into()), limit: 500, ..Default::default() };
    let mut rows = notifier.outbox().history(filter).await.expect("history");
    rows.reverse();
    rows
}

async fn settled(notifier: &Notifier, channel: &str, n: usize) -> Vec<notifier::outbox::Delivery> {
    eventually(WITHIN, &format!("{n} finished deliveries on {channel}"), || async {
        let rows = history(notifier, channel).await;
        (rows.len() == n && rows.iter().all(|d| d.status != "pending")).then_some(rows)
    })
    .await
}

#[tokio::test]
async fn slack_retry_after_and_discord_rate_limit_headers_are_honoured() {
    let slack =
        Receiver::start(vec![Answer::new(429, "rate_limited").header("retry-after", "1")], Answer::new(200, "ok"))
            .await;
    let discord = Receiver::start(
        vec![],
        Answer::new(204, "").header("x-ratelimit-remaining", "0").header("x-ratelimit-reset-after", "0.4"),
    )
    .await;
    let el = Receiver::start(vec![], Answer::new(202, "{}")).await;
    let setup = setup(&slack, &discord, &el, "").await;
    let failed = failed_runs().await;
    for event in &failed {
        let answer = post(&setup.client, event).await;
        assert_eq!((answer["queued"].as_u64(), answer["duplicate"].as_bool()), (Some(2), Some(false)), "{answer}");
    }
    let n = failed.len();
    let slack_rows = settled(&setup.notifier, "slack", n).await;
    let discord_rows = settled(&setup.notifier, "discord", n).await;
    assert!(slack_rows.iter().chain(&discord_rows).all(|d| d.status == "sent"), "{slack_rows:?} {discord_rows:?}");
    assert_eq!(slack_rows[0].attempts, 2, "the rate-limited message was sent on its second attempt");

    let slack_got = slack.received();
    assert_eq!(slack_got.len(), n + 1, "one 429, then each message once");
    assert!(slack_got[1].at - slack_got[0].at >= Duration::from_secs(1), "Retry-After: 1 was honoured");
    assert_eq!(slack_got[0].body, slack_got[1].body, "the retry sends the same message");
    assert!(slack_got.iter().all(|r| r.path == "/services/T000/B000/XXXX"));
    for (event, request) in failed.iter().zip(&slack_got[1..]) {
        let text = request.body["text"].as_str().expect("slack text");
        let run = &event["data"]["customData"]["run"];
        let path = format!("{}/{}", run["namespace"].as_str().expect("ns"), run["name"].as_str().expect("name"));
        assert!(text.contains(&format!("PipelineRun {path}")), "{text}");
        assert!(text.contains(&format!("http://ui.local/runs/{path}/diff")), "{text}");
    }
    let discord_got = discord.wait_for(n, WITHIN).await;
    for pair in discord_got.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(400), "X-RateLimit-Remaining: 0 paused the channel");
    }
    assert!(discord_got.iter().all(|r| r.body["content"].as_str().is_some_and(|c| c.chars().count() <= 2000)));
}

#[tokio::test]
async fn a_gone_webhook_stops_at_once_and_a_failing_one_dies_after_its_attempts() {
    let slack = Receiver::start(vec![], Answer::new(404, "channel_not_found")).await;
    let discord = Receiver::start(vec![], Answer::new(503, "upstream connect error")).await;
    let el = Receiver::start(vec![], Answer::new(202, "{}")).await;
    let setup = setup(&slack, &discord, &el, "").await;
    let event = failed_runs().await.remove(0);
    post(&setup.client, &event).await;
    let slack_rows = settled(&setup.notifier, "slack", 1).await;
    assert_eq!((slack_rows[0].status.as_str(), slack_rows[0].attempts), ("dead", 1));
    assert_eq!(slack_rows[0].last_error.as_deref(), Some("HTTP 404: channel_not_found"));
    let discord_rows = settled(&setup.notifier, "discord", 1).await;
    assert_eq!((discord_rows[0].status.as_str(), discord_rows[0].attempts), ("dead", 3));
    assert_eq!(slack.received().len(), 1, "404 is not retried");
    assert_eq!(discord.received().len(), 3, "503 is retried up to maxAttempts");
    let dead = setup.client.get("/deliveries").query("status", &"dead").send().await;
    dead.assert_status_is_ok();
    let listed = dead.json().await.value().deserialize::<Value>();
    assert_eq!(listed["deliveries"].as_array().map(Vec::len), Some(2), "{listed}");

    // The same story in the metrics, in a format Prometheus' own parser accepts.
    let text = metrics(&setup.client).await;
    assert_eq!(value(&text, "tekton_graph_notifier_events_total", r#"source="http",outcome="accepted""#), 1.0);
    assert_eq!(value(&text, "tekton_graph_notifier_planned_deliveries_total", r#"outcome="queued""#), 2.0);
    let deliveries = "tekton_graph_notifier_deliveries_total";
    assert_eq!(value(&text, deliveries, r#"channel="slack",outcome="dead""#), 1.0);
    assert_eq!(value(&text, deliveries, r#"channel="discord",outcome="retried""#), 2.0);
    assert_eq!(value(&text, deliveries, r#"channel="discord",outcome="dead""#), 1.0);
    assert_eq!(value(&text, "tekton_graph_notifier_delivery_duration_seconds_count", r#"channel="discord""#), 3.0);
}

/// `GET /metrics`, checked by `promtool check metrics`.
async fn metrics(client: &TestClient<poem::endpoint::BoxEndpoint<'static>>) -> String {
    let response = client.get("/metrics").send().await;
    response.assert_status_is_ok();
    let text = response.0.into_body().into_string().await.expect("metrics");
    promtool_check(&text).unwrap();
    text
}

#[tokio::test]
async fn a_slow_channel_does_not_delay_another() {
    let slack = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let discord = Receiver::start(vec![], Answer::new(204, "").delayed(Duration::from_secs(5))).await;
    let el = Receiver::start(vec![], Answer::new(202, "{}")).await;
    let setup = setup(&slack, &discord, &el, "").await;
    let event = failed_runs().await.remove(0);
    post(&setup.client, &event).await;
    discord.wait_for(1, WITHIN).await;
    let slack_rows = settled(&setup.notifier, "slack", 1).await;
    assert_eq!(slack_rows[0].status, "sent");
    let discord_rows = history(&setup.notifier, "discord").await;
    assert_eq!(discord_rows[0].status, "pending", "Slack was delivered while Discord was still answering");
}

#[tokio::test]
async fn a_harbor_push_calls_the_scan_pipelines_event_listener_once() {
    let slack = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let discord = Receiver::start(vec![], Answer::new(204, "")).await;
    let el =
        Receiver::start(vec![], Answer::new(202, r#"{"eventListenerUID":"el-uid-1","eventID":"7f1c2d9e-ev"}"#)).await;
    let setup = setup(&slack, &discord, &el, "").await;
    let push = testdata("harbor/harbor-default-push-artifact-website.json");
    for _ in 0..2 {
        let response =
            setup.client.post("/webhooks/harbor").content_type("application/json").body(push.clone()).send().await;
        response.assert_status(http::StatusCode::ACCEPTED);
    }
    let rows = settled(&setup.notifier, "scan", 1).await;
    assert_eq!((rows[0].status.as_str(), rows[0].response.as_deref()), ("sent", Some("7f1c2d9e-ev")));
    assert_eq!(rows[0].event_type, "harbor.artifact.pushed");
    let got = el.wait_for(1, WITHIN).await;
    assert_eq!(got.len(), 1, "the repeated webhook is the same event");
    assert_eq!(
        got[0].body,
        json!({
            "digest": "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4",
            "repository": "harbor/alpine",
        })
    );
    assert_eq!(got[0].headers["x-scan-secret"], "s3cret-shared-with-the-listener");
    assert!(got[0].headers.contains_key("idempotency-key"));
}

#[tokio::test]
async fn both_harbor_formats_are_the_same_event_to_rules() {
    let none = http::HeaderMap::new();
    let default =
        notifier::event::decode_http(&none, &testdata("harbor/harbor-default-scanning-completed-website.json"))
            .expect("default format");
    let mut structured = http::HeaderMap::new();
    structured.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/cloudevents+json"));
    let cloudevents = notifier::event::decode_http(
        &structured,
        &testdata("harbor/harbor-cloudevents-scanning-completed-website.json"),
    )
    .expect("CloudEvents format");
    assert_eq!(default.ty, "harbor.scan.completed");
    assert_eq!(cloudevents.ty, default.ty);
    assert_eq!(cloudevents.data, default.data);
    assert_eq!(cloudevents.extensions.get("operator"), default.extensions.get("operator"));
    let zulip = notifier::event::decode_http(
        &none,
        &testdata("harbor/harbor-default-scanning-completed-zulip-high-vulns.json"),
    )
    .expect("captured payload");
    assert_eq!(zulip.subject.as_deref(), Some("test/alpine/helm"));
}

#[tokio::test]
async fn redeliveries_and_once_per_keys_send_once_and_silences_record_without_sending() {
    let slack = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let discord = Receiver::start(vec![], Answer::new(204, "")).await;
    let el = Receiver::start(vec![], Answer::new(202, "{}")).await;
    let silence = "silences:\n  - { channel: discord, until: '2100-01-01T00:00:00Z', comment: on holiday }\n";
    let setup = setup(&slack, &discord, &el, silence).await;
    let event = failed_runs().await.remove(0);
    let first = post(&setup.client, &event).await;
    assert_eq!((first["queued"].as_u64(), first["silenced"].as_u64()), (Some(1), Some(1)), "{first}");
    let again = post(&setup.client, &event).await;
    assert_eq!(again["duplicate"], true, "{again}");
    let mut same_run = event.clone();
    same_run["id"] = json!("another-id-for-the-same-run");
    let deduplicated = post(&setup.client, &same_run).await;
    assert_eq!((deduplicated["queued"].as_u64(), deduplicated["deduplicated"].as_u64()), (Some(0), Some(2)));
    let rows = settled(&setup.notifier, "slack", 1).await;
    assert_eq!(rows[0].status, "sent");
    assert_eq!(history(&setup.notifier, "discord").await[0].status, "silenced");
    assert_eq!(slack.received().len(), 1);
    assert!(discord.received().is_empty(), "a silenced delivery is never sent");
}

#[tokio::test]
async fn bad_input_is_refused_with_the_reason_and_nothing_is_recorded() {
    let slack = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let setup = setup(&slack, &slack, &slack, "").await;
    let cases: [(&str, &[u8], &str); 5] = [
        ("application/json", b"{not json", "not JSON"),
        ("application/json", br#"{"type":"PUSH_IMAGE","event_data":{}}"#, "unknown event type `PUSH_IMAGE`"),
        (
            "application/json",
            br#"{"type":"PUSH_ARTIFACT","occur_at":"yesterday","event_data":{}}"#,
            "`occur_at` is not a number",
        ),
        ("application/cloudevents+json", br#"{"specversion":"1.0","type":"x"}"#, "not a CloudEvent"),
        ("text/plain", b"hello", "not JSON"),
    ];
    for (content_type, body, reason) in cases {
        let response = setup.client.post("/events").content_type(content_type).body(body.to_vec()).send().await;
        response.assert_status(http::StatusCode::BAD_REQUEST);
        let text = response.0.into_body().into_string().await.expect("body");
        assert!(text.contains(reason), "{}: {text}", String::from_utf8_lossy(body));
    }
    let huge = vec![b' '; notifier::server::MAX_EVENT_BYTES + 1];
    setup.client.post("/events").body(huge).send().await.assert_status(http::StatusCode::BAD_REQUEST);
    let all = setup.notifier.outbox().history(notifier::outbox::HistoryFilter { limit: 10, ..Default::default() });
    assert!(all.await.expect("history").is_empty());
    let text = metrics(&setup.client).await;
    let rejected = sample(&text, "tekton_graph_notifier_events_total", r#"source="http",outcome="rejected""#);
    assert_eq!(rejected, Some(cases.len() as f64), "{text}");
}

#[tokio::test]
async fn a_cloudevents_channel_sends_one_structured_event_per_delivery_and_retries_with_the_same_id() {
    let receiver = Receiver::start(vec![Answer::new(503, "busy")], Answer::new(202, "")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        "channels: {{ broker: {{ type: cloudEvents, url: '{}', body: '{{\"run\": {{{{ event.subject }}}}}}' }} }}\n\
         triggers: {{ failed: {{ on: dev.cdevents.pipelinerun.finished.0.2.0 }} }}\n\
         subscriptions: [{{ triggers: [failed], channels: [broker] }}]\n\
         delivery: {{ maxAttempts: 3, firstBackoffMillis: 20, maxBackoffSeconds: 1, timeoutSeconds: 10 }}\n",
        receiver.url("/broker")
    );
    let notifier =
        Notifier::start(&Config::parse(&yaml).expect("rules"), &dir.path().join("outbox.db")).await.expect("start");
    let event = failed_runs().await.remove(0);
    let incoming: cloudevents::Event = serde_json::from_value(event.clone()).expect("cloudevent");
    notifier.accept(&notifier::event::Incoming::from_cloudevent(&incoming).expect("incoming")).await.expect("accept");
    let got = receiver.wait_for(2, WITHIN).await;
    assert_eq!(got[0].body, got[1].body, "the retry repeats the event, id included");
    assert_eq!(got[1].headers["content-type"], "application/cloudevents+json");
    let sent: cloudevents::Event = serde_json::from_value(got[1].body.clone()).expect("a CloudEvent, read by the SDK");
    use cloudevents::AttributesReader;
    assert_eq!(sent.ty(), "dev.tektongraph.notification.v1");
    assert_eq!(sent.id(), format!("{}:failed:broker", event["id"].as_str().expect("id")));
    assert_eq!(sent.subject(), event["subject"].as_str());
    let data = match sent.data() {
        Some(cloudevents::Data::Json(data)) => data.clone(),
        other => panic!("JSON data expected, got {other:?}"),
    };
    assert_eq!(data, json!({ "run": event["subject"] }));
}

#[tokio::test]
async fn slacks_web_api_keeps_one_thread_per_run_and_stops_on_a_missing_channel() {
    let api = Receiver::start(
        vec![
            Answer::new(200, r#"{"ok":true,"channel":"C0BUILD","ts":"1764600000.000100"}"#),
            Answer::new(200, r#"{"ok":true,"channel":"C0BUILD","ts":"1764600001.000200"}"#),
            Answer::new(429, r#"{"ok":false,"error":"ratelimited"}"#).header("retry-after", "1"),
        ],
        Answer::new(200, r#"{"ok":true,"channel":"C0BUILD","ts":"1764600009.000900"}"#),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "xoxb-test-bot-token").expect("token");
    let yaml = format!(
        "channels: {{ build: {{ type: slackApp, token: {{ file: '{}' }}, channel: C0BUILD, apiUrl: '{}' }} }}\n\
         triggers:\n  finished: {{ on: dev.cdevents.pipelinerun.finished.0.2.0 }}\n  regressed: {{ on: dev.tektongraph.run.regressed.v1 }}\n\
         subscriptions: [{{ triggers: [finished, regressed], channels: [build] }}]\n",
        token.display(),
        api.url("/api/chat.postMessage")
    );
    let notifier =
        Notifier::start(&Config::parse(&yaml).expect("rules"), &dir.path().join("outbox.db")).await.expect("start");
    let incoming = |event: &Value| {
        let event: cloudevents::Event = serde_json::from_value(event.clone()).expect("cloudevent");
        notifier::event::Incoming::from_cloudevent(&event).expect("incoming")
    };
    // A run's finished event, then its regression: one thread. Another run's: a thread of its own.
    let events = support::sensemaker_events().await;
    let regressed = events.iter().find(|e| e["type"] == "dev.tektongraph.run.regressed.v1").expect("a regression");
    let run = regressed["subject"].clone();
    let finished = events
        .iter()
        .find(|e| e["type"] == "dev.cdevents.pipelinerun.finished.0.2.0" && e["subject"] == run)
        .expect("the regressed run's finished event");
    let other = events
        .iter()
        .find(|e| e["type"] == "dev.cdevents.pipelinerun.finished.0.2.0" && e["subject"] != run)
        .expect("another run");
    for event in [finished, other, regressed] {
        notifier.accept(&incoming(event)).await.expect("accepted");
    }
    let got = api.wait_for(4, WITHIN).await;
    assert!(got.iter().all(|r| r.headers["authorization"] == "Bearer xoxb-test-bot-token"));
    assert!(got.iter().all(|r| r.body["channel"] == "C0BUILD"));
    assert_eq!(got[0].body.get("thread_ts"), None, "the run's first message starts its thread");
    assert_eq!(got[1].body.get("thread_ts"), None, "another run starts another");
    assert_eq!(got[2].body["thread_ts"], "1764600000.000100", "the regression replies in the run's thread");
    assert_eq!(got[3].body, got[2].body, "the rate-limited reply is sent again, still in the thread");
    assert!(got[3].at - got[2].at >= Duration::from_secs(1), "Retry-After was honoured");
    assert!(got[2].body["text"].as_str().is_some_and(|t| t.contains("regressed")));

    api.answer_with(Answer::new(200, r#"{"ok":false,"error":"channel_not_found"}"#));
    let mut again = incoming(other);
    again.id = "another-event-about-the-other-run".into();
    notifier.accept(&again).await.expect("accepted");
    let rows = settled(&notifier, "build", 4).await;
    let last = rows.last().expect("the last delivery");
    assert_eq!((last.status.as_str(), last.attempts), ("dead", 1));
    assert_eq!(last.last_error.as_deref(), Some("chat.postMessage: channel_not_found"));
}
