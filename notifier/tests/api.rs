//! The GraphQL API over HTTP with real tokens: reading the rules (never their secrets), silences that mute real
//! deliveries and survive a restart, who may remove them, test-send to a real receiver, the delivery history, and
//! refusals that name the input.

mod support;

use std::sync::Arc;
use std::time::Duration;

use notifier::Notifier;
use notifier::config::Config;
use notifier::server::{Access, routes};
use poem::test::TestClient;
use serde_json::{Value, json};
use support::{Answer, Receiver, failed_runs};
use tekton_graph_access::StaticTokens;

const VIEWER: &str = "ops-viewer-token-000001";
const OTHER_VIEWER: &str = "dev-viewer-token-000002";
const ADMIN: &str = "admin-token-00000000001";
const INGESTER: &str = "ingester-token-000000001";
const WITHIN: Duration = Duration::from_secs(20);

type Client = TestClient<poem::endpoint::BoxEndpoint<'static>>;

fn rules(hook: &Receiver, secret_file: &std::path::Path) -> Config {
    std::fs::write(secret_file, hook.url("/hook/with-a-secret-path")).expect("secret");
    Config::parse(&format!(
        r#"
channels:
  hook: {{ type: webhook, url: "{plain}" }}
  team-slack: {{ type: slack, webhookUrl: {{ file: "{secret}" }} }}
triggers:
  run-failed:
    on: dev.cdevents.pipelinerun.finished.0.2.0
    when: data.subject.content.outcome != "success"
subscriptions:
  - {{ triggers: [run-failed], channels: [hook] }}
silences:
  - {{ channel: team-slack, until: "2099-01-01T00:00:00Z", comment: "not yet" }}
delivery: {{ maxAttempts: 3, firstBackoffMillis: 50, maxBackoffSeconds: 1, timeoutSeconds: 10 }}
"#,
        plain = hook.url("/hook"),
        secret = secret_file.display(),
    ))
    .expect("rule file")
}

fn api_client(notifier: Arc<Notifier>) -> Client {
    let tokens = StaticTokens::parse(&format!(
        "{VIEWER} viewer ops\n{OTHER_VIEWER} viewer dev\n{ADMIN} admin root\n{INGESTER} ingester graph\n"
    ))
    .expect("tokens");
    TestClient::new(poem::EndpointExt::boxed(poem::EndpointExt::map_to_response(routes(
        notifier,
        Access::Tokens(Arc::new(tokens)),
    ))))
}

async fn gql(client: &Client, token: &str, query: &str, variables: Value) -> Value {
    let response = client
        .post("/graphql")
        .header("authorization", format!("Bearer {token}"))
        .content_type("application/json")
        .body(json!({ "query": query, "variables": variables }).to_string())
        .send()
        .await;
    response.assert_status_is_ok();
    response.json().await.value().deserialize::<Value>()
}

fn error_of(answer: &Value) -> String {
    answer["errors"][0]["message"].as_str().unwrap_or_else(|| panic!("no error in {answer}")).to_string()
}

async fn post_event(client: &Client, event: &Value) -> Value {
    let response = client
        .post("/events")
        .header("authorization", format!("Bearer {INGESTER}"))
        .content_type("application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await;
    response.assert_status(http::StatusCode::ACCEPTED);
    response.json().await.value().deserialize::<Value>()
}

#[tokio::test]
async fn rules_silences_test_send_and_history_through_graphql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let config = rules(&hook, &dir.path().join("slack-url"));
    let db = dir.path().join("outbox.db");
    let notifier = Notifier::start(&config, &db).await.expect("start");
    let client = api_client(notifier.clone());

    // Reading the rules: names and kinds, never the secret URL.
    let answer = gql(
        &client,
        VIEWER,
        "{ triggers { name on when channels } channels { name kind } silences { origin channel comment } }",
        json!({}),
    )
    .await;
    assert_eq!(answer["data"]["triggers"][0]["name"], "run-failed");
    assert_eq!(answer["data"]["triggers"][0]["channels"], json!(["hook"]));
    assert_eq!(
        answer["data"]["channels"],
        json!([{"name": "hook", "kind": "webhook"}, {"name": "team-slack", "kind": "slack"}])
    );
    assert_eq!(
        answer["data"]["silences"],
        json!([{"origin": "RULE_FILE", "channel": "team-slack", "comment": "not yet"}])
    );
    assert!(!answer.to_string().contains("with-a-secret-path"), "{answer}");

    // Authentication and roles.
    let anonymous = client
        .post("/graphql")
        .content_type("application/json")
        .body(r#"{"query":"{ channels { name } }"}"#)
        .send()
        .await;
    anonymous.assert_status(http::StatusCode::UNAUTHORIZED);
    let ingester = client
        .post("/graphql")
        .header("authorization", format!("Bearer {INGESTER}"))
        .content_type("application/json")
        .body(r#"{"query":"{ channels { name } }"}"#)
        .send()
        .await;
    ingester.assert_status(http::StatusCode::FORBIDDEN);

    // A viewer silences the hook: the next failed run is recorded as silenced and not sent.
    let silence = "mutation($until: DateTime!) { silence(input: { channel: \"hook\", until: $until, comment: \"maintenance\" }) { id createdBy until } }";
    let until = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let added = gql(&client, VIEWER, silence, json!({ "until": until })).await;
    let silence_id = added["data"]["silence"]["id"].as_str().unwrap_or_else(|| panic!("{added}")).to_string();
    assert_eq!(added["data"]["silence"]["createdBy"], "ops");
    let failed = failed_runs().await;
    let recorded = post_event(&client, &failed[0]).await;
    assert_eq!((recorded["queued"].as_u64(), recorded["silenced"].as_u64()), (Some(0), Some(1)), "{recorded}");

    // It survives a restart, and only its author or an admin removes it.
    drop(client);
    drop(notifier);
    let notifier = Notifier::start(&config, &db).await.expect("restart");
    let client = api_client(notifier.clone());
    let listed = gql(&client, VIEWER, "{ silences { id origin createdBy comment } }", json!({})).await;
    assert_eq!(
        listed["data"]["silences"][1],
        json!({"id": silence_id, "origin": "API", "createdBy": "ops", "comment": "maintenance"})
    );
    let delete = "mutation($id: ID!) { deleteSilence(id: $id) }";
    let refused = gql(&client, OTHER_VIEWER, delete, json!({ "id": silence_id })).await;
    assert!(error_of(&refused).contains("only its author or an `admin`"), "{refused}");
    let removed = gql(&client, VIEWER, delete, json!({ "id": silence_id })).await;
    assert_eq!(removed["data"]["deleteSilence"], true);
    let mut again = failed[0].clone();
    again["id"] = json!("the-same-failure-seen-again");
    let recorded = post_event(&client, &again).await;
    assert_eq!(recorded["queued"].as_u64(), Some(1), "{recorded}");
    hook.wait_for(1, WITHIN).await;

    // Test-send: admins only; it reaches the receiver and the history shows it.
    let test_send = "mutation { testSend(trigger: \"run-failed\", channel: \"hook\") { id eventId status } }";
    let refused = gql(&client, VIEWER, test_send, json!({})).await;
    assert!(error_of(&refused).contains("needs the `admin` role"), "{refused}");
    let sent = gql(&client, ADMIN, test_send, json!({})).await;
    let event_id = sent["data"]["testSend"]["eventId"].as_str().unwrap_or_else(|| panic!("{sent}")).to_string();
    assert!(event_id.starts_with("test-send-"));
    let got = hook.wait_for(2, WITHIN).await;
    assert_eq!(got[1].body["trigger"], "run-failed");
    assert_eq!(got[1].body["event"]["id"], event_id.as_str());
    let history = "query($event: String) { deliveries(eventId: $event) { status attempts lastError channel } }";
    let delivered = support::eventually(WITHIN, "the test delivery to be marked sent", || async {
        let answer = gql(&client, VIEWER, history, json!({ "event": event_id })).await;
        (answer["data"]["deliveries"][0]["status"] == "sent").then_some(answer)
    })
    .await;
    assert_eq!(
        delivered["data"]["deliveries"][0],
        json!({"status": "sent", "attempts": 1, "lastError": null, "channel": "hook"})
    );
    let all = gql(&client, VIEWER, "{ deliveries(status: SILENCED) { trigger channel } }", json!({})).await;
    assert_eq!(all["data"]["deliveries"], json!([{"trigger": "run-failed", "channel": "hook"}]));

    // Bad input names the input and the reason; nothing is stored.
    for (query, variables, reason) in [
        (silence, json!({ "until": "2001-01-01T00:00:00Z" }), "`until` must be in the future"),
        (
            "mutation { silence(input: { channel: \"nope\", until: \"2099-01-01T00:00:00Z\" }) { id } }",
            json!({}),
            "no channel `nope`",
        ),
        (
            "mutation { silence(input: { until: \"2099-01-01T00:00:00Z\" }) { id } }",
            json!({}),
            "needs `trigger`, `channel` or both",
        ),
        ("mutation { testSend(trigger: \"nope\", channel: \"hook\") { id } }", json!({}), "no trigger `nope`"),
        ("{ deliveries(first: 100000) { id } }", json!({}), "`first` must be 1–500"),
        (
            "{ triggers { name } triggers2: triggers { name } x: silences { until } y: silences { until } z: channels { name } }",
            json!({}),
            "",
        ),
    ] {
        let answer = gql(&client, ADMIN, query, variables).await;
        if reason.is_empty() {
            assert!(answer.get("errors").is_none(), "aliases are fine: {answer}");
        } else {
            assert!(error_of(&answer).contains(reason), "{reason}: {answer}");
        }
    }
    let deep = "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }";
    let answer = gql(&client, ADMIN, deep, json!({})).await;
    assert!(error_of(&answer).to_lowercase().contains("nested too deep"), "{answer}");
    let listed = gql(&client, ADMIN, "{ silences { origin } }", json!({})).await;
    assert_eq!(listed["data"]["silences"], json!([{"origin": "RULE_FILE"}]), "no refused silence was stored");
    let huge = client
        .post("/graphql")
        .header("authorization", format!("Bearer {ADMIN}"))
        .content_type("application/json")
        .body(format!(r#"{{"query":"{{ channels {{ name }} }}","x":"{}"}}"#, "a".repeat(70_000)))
        .send()
        .await;
    huge.assert_status(http::StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn personal_subscriptions_route_messages_to_self_service_channels_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let mine = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let config = Config::parse(&format!(
        r#"
channels:
  hook: {{ type: webhook, url: "{hook}" }}
  mine: {{ type: webhook, url: "{mine}" }}
triggers:
  run-failed:
    on: dev.cdevents.pipelinerun.finished.0.2.0
    when: data.subject.content.outcome != "success"
  quiet: {{ on: never.v1 }}
subscriptions:
  - {{ triggers: [quiet], channels: [hook] }}
selfService: {{ channels: [mine] }}
"#,
        hook = hook.url("/hook"),
        mine = mine.url("/mine"),
    ))
    .expect("rule file");
    let db = dir.path().join("outbox.db");
    let notifier = Notifier::start(&config, &db).await.expect("start");
    let client = api_client(notifier.clone());
    let subscribe =
        "mutation($t: String!, $c: String!) { subscribe(trigger: $t, channel: $c) { id user trigger channel active } }";

    // Not a self-service channel: a viewer may not route messages there; an admin may.
    let refused = gql(&client, VIEWER, subscribe, json!({ "t": "run-failed", "c": "hook" })).await;
    assert!(error_of(&refused).contains("`hook` is not a self-service channel"), "{refused}");
    let unknown = gql(&client, VIEWER, subscribe, json!({ "t": "nope", "c": "mine" })).await;
    assert_eq!(error_of(&unknown), "`trigger`: no trigger `nope`");

    let added = gql(&client, VIEWER, subscribe, json!({ "t": "run-failed", "c": "mine" })).await;
    let subscription = &added["data"]["subscribe"];
    assert_eq!(subscription["user"], "ops", "{added}");
    assert_eq!(subscription["active"], true);
    let again = gql(&client, VIEWER, subscribe, json!({ "t": "run-failed", "c": "mine" })).await;
    assert_eq!(again["data"]["subscribe"]["id"], subscription["id"], "subscribing twice is one subscription");

    let failed = failed_runs().await;
    let again_with_id = |id: &str| {
        let mut event = failed[0].clone();
        event["id"] = id.into();
        event
    };
    let recorded = post_event(&client, &failed[0]).await;
    assert_eq!(recorded["queued"], 1, "{recorded}");
    let got = mine.wait_for(1, WITHIN).await;
    assert_eq!(got[0].path, "/mine");
    assert!(hook.received().is_empty(), "only the subscribed channel hears of it");

    // Each sees their own; only the owner (or an admin) removes one.
    let mine_query = "{ mySubscriptions { id trigger } }";
    assert_eq!(
        gql(&client, VIEWER, mine_query, json!({})).await["data"]["mySubscriptions"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(gql(&client, OTHER_VIEWER, mine_query, json!({})).await["data"]["mySubscriptions"], json!([]));
    let everyone = gql(&client, VIEWER, "{ mySubscriptions(all: true) { id } }", json!({})).await;
    assert!(error_of(&everyone).contains("forbidden"), "{everyone}");
    let unsubscribe = "mutation($id: ID!) { unsubscribe(id: $id) }";
    let id = subscription["id"].clone();
    let stranger = gql(&client, OTHER_VIEWER, unsubscribe, json!({ "id": id })).await;
    assert!(error_of(&stranger).contains("only its owner"), "{stranger}");

    // Kept in the outbox: a restart routes it again.
    drop(client);
    drop(notifier);
    let notifier = Notifier::start(&config, &db).await.expect("restart");
    let client = api_client(notifier.clone());
    let recorded = post_event(&client, &again_with_id("after-restart")).await;
    assert_eq!(recorded["queued"], 1, "{recorded}");
    mine.wait_for(2, WITHIN).await;

    let removed = gql(&client, VIEWER, unsubscribe, json!({ "id": id })).await;
    assert_eq!(removed["data"]["unsubscribe"], true, "{removed}");
    let recorded = post_event(&client, &again_with_id("after-unsubscribe")).await;
    assert_eq!(recorded["queued"], 0, "unsubscribed: {recorded}");
}

#[tokio::test]
async fn subscriptions_name_teams_users_roles_and_notification_types_and_each_caller_sees_their_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let security = Receiver::start(vec![], Answer::new(200, "ok")).await;
    let config = Config::parse(&format!(
        r#"
notificationTypes:
  security: {{ description: "vulnerabilities and unsigned images" }}
  failure: {{}}
channels:
  sec: {{ type: webhook, url: "{url}" }}
  ops: {{ type: webhook, url: "{url}" }}
triggers:
  more-vulns: {{ on: dev.tektongraph.vulnerabilities.increased.v1, notificationType: security }}
  unsigned: {{ on: test.unsigned.v1, notificationType: security }}
  run-failed: {{ on: dev.cdevents.pipelinerun.finished.0.2.0, notificationType: failure }}
teams:
  platform: {{ members: [ops] }}
subscriptions:
  - {{ team: platform, notificationTypes: [security], channels: [sec] }}
  - {{ role: admin, triggers: [run-failed], channels: [ops] }}
  - {{ user: dev, triggers: [unsigned], channels: [ops] }}
"#,
        url = security.url("/sec"),
    ))
    .expect("rule file");
    let notifier = Notifier::start(&config, &dir.path().join("outbox.db")).await.expect("start");
    let client = api_client(notifier.clone());

    let types = gql(&client, VIEWER, "{ notificationTypes { name description triggers } }", json!({})).await;
    assert_eq!(
        types["data"]["notificationTypes"],
        json!([
            { "name": "failure", "description": null, "triggers": ["run-failed"] },
            { "name": "security", "description": "vulnerabilities and unsigned images", "triggers": ["more-vulns", "unsigned"] },
        ]),
        "{types}"
    );
    let routes = |token: &'static str| {
        let client = &client;
        async move {
            let answer = gql(client, token, "{ myRoutes { trigger channel via } }", json!({})).await;
            answer["data"]["myRoutes"].clone()
        }
    };
    // `ops` is in team platform: both security triggers, chosen by type.
    assert_eq!(
        routes(VIEWER).await,
        json!([
            { "trigger": "more-vulns", "channel": "sec", "via": "team:platform" },
            { "trigger": "unsigned", "channel": "sec", "via": "team:platform" },
        ])
    );
    assert_eq!(routes(OTHER_VIEWER).await, json!([{ "trigger": "unsigned", "channel": "ops", "via": "user" }]));
    assert_eq!(routes(ADMIN).await, json!([{ "trigger": "run-failed", "channel": "ops", "via": "role:admin" }]));

    // The type routes for real: an event of a security trigger reaches the security channel.
    let event = json!({
        "specversion": "1.0", "id": "unsigned-1", "source": "/test", "type": "test.unsigned.v1", "data": {},
    });
    let recorded = post_event(&client, &event).await;
    assert_eq!(recorded["queued"], 2, "team platform's sec and user dev's ops: {recorded}");
    assert_eq!(security.wait_for(2, WITHIN).await.len(), 2);

    let base = "channels: { c: { type: webhook, url: 'http://127.0.0.1:1/' } }\n";
    for (rest, reason) in [
        (
            "triggers: { t: { on: x } }\nsubscriptions: [{ role: boss, triggers: [t], channels: [c] }]",
            "unknown role `boss`",
        ),
        (
            "triggers: { t: { on: x } }\nsubscriptions: [{ user: a, role: admin, triggers: [t], channels: [c] }]",
            "one subject at most",
        ),
        ("subscriptions: [{ notificationTypes: [nope], channels: [c] }]", "unknown notification type `nope`"),
        ("triggers: { t: { on: x, notificationType: nope } }", "unknown notification type `nope`"),
    ] {
        let error = Config::parse(&format!("{base}{rest}")).expect_err(reason);
        assert!(error.contains(reason), "{rest}: {error}");
    }
}
