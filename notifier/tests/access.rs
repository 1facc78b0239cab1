//! Who may post events and read the history: static bearer tokens with roles (graph-service's token-file format).

mod support;

use std::sync::Arc;

use notifier::Notifier;
use notifier::config::Config;
use notifier::server::{Access, routes};
use poem::test::TestClient;
use tekton_graph_access::StaticTokens;

#[tokio::test]
async fn tokens_decide_who_may_post_events_and_read_deliveries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notifier = Notifier::start(&Config::default(), &dir.path().join("outbox.db")).await.expect("start");
    let tokens = StaticTokens::parse(
        "harbor-webhook-token-0001 ingester harbor\nops-viewer-token-000001 viewer ops\nadmin-token-00000000001 admin root\n",
    )
    .expect("tokens");
    let client = TestClient::new(routes(notifier, Access::Tokens(Arc::new(tokens))));
    let push = support::testdata("harbor/harbor-default-push-artifact-website.json");
    let post = |token: Option<&'static str>| {
        let mut request = client.post("/webhooks/harbor").content_type("application/json").body(push.clone());
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send()
    };
    let anonymous = post(None).await;
    anonymous.assert_status(http::StatusCode::UNAUTHORIZED);
    anonymous.assert_header("www-authenticate", "Bearer");
    post(Some("not-a-token-anyone-has")).await.assert_status(http::StatusCode::UNAUTHORIZED);
    post(Some("ops-viewer-token-000001")).await.assert_status(http::StatusCode::FORBIDDEN);
    post(Some("harbor-webhook-token-0001")).await.assert_status(http::StatusCode::ACCEPTED);
    post(Some("admin-token-00000000001")).await.assert_status(http::StatusCode::ACCEPTED);

    let read =
        |token: &'static str| client.get("/deliveries").header("authorization", format!("Bearer {token}")).send();
    read("harbor-webhook-token-0001").await.assert_status(http::StatusCode::FORBIDDEN);
    read("ops-viewer-token-000001").await.assert_status_is_ok();
    client.get("/deliveries").send().await.assert_status(http::StatusCode::UNAUTHORIZED);
    let health = client.get("/healthz").send().await;
    health.assert_status_is_ok();
    health.assert_json(serde_json::json!({ "status": "ok", "auth": "on" })).await;
}

#[tokio::test]
async fn a_rule_file_with_a_missing_secret_does_not_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::parse(
        "channels: { ops: { type: slack, webhookUrl: { env: NOTIFIER_TEST_SLACK_URL_THAT_IS_NOT_SET } } }",
    )
    .expect("rule file");
    let error = Notifier::start(&config, &dir.path().join("outbox.db")).await.err().expect("refused").to_string();
    assert_eq!(
        error,
        "channel `ops`: environment variable `NOTIFIER_TEST_SLACK_URL_THAT_IS_NOT_SET` is not set (or not UTF-8)"
    );
}
