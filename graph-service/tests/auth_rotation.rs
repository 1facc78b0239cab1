//! A real key rotation: Dex (memory storage) makes new signing keys when it restarts; a running graph-service
//! must accept tokens of the new key without a restart of its own. Its own test binary, because it restarts the
//! Dex every other auth test uses.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use graph_service::auth::{Authenticator, OidcConfig, OidcVerifier, Policy};
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::server::{AppConfig, app_with_config};
use graph_service::store::embedded::EmbeddedStore;
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use support::{dex_token, env};

mod support;

fn kid(token: &str) -> String {
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().expect("kid").to_string()
}

#[tokio::test]
async fn tokens_of_a_rotated_dex_key_are_accepted_without_a_restart() {
    let mut config = OidcConfig::new(env("DEX_ISSUER"), vec![env("DEX_CLIENT_ID")]);
    config.min_refresh = Duration::ZERO;
    let policy = Policy::parse("rules:\n  - group: team-a\n    role: viewer\n").expect("policy");
    let auth =
        Authenticator { oidc: Some(OidcVerifier::new(config).expect("verifier")), policy, ..Authenticator::default() };
    let app_config = AppConfig { authenticator: Some(Arc::new(auth)), ..AppConfig::default() };
    let store = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    let cli = TestClient::new(app_with_config(Arc::new(Ingestor::new(store)), app_config));
    let ask = |token: String| {
        cli.post("/graphql")
            .header("authorization", format!("Bearer {token}"))
            .content_type("application/json")
            .body(json!({ "query": "{ stats { pipelineRuns } }" }).to_string())
            .send()
    };

    let before = dex_token("alice@example.com").await;
    ask(before.clone()).await.assert_status_is_ok();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
    let restarted = std::process::Command::new("bash").arg(script).arg("restart-dex").status().expect("runs");
    assert!(restarted.success(), "restart-dex failed");

    let after = dex_token("alice@example.com").await;
    assert_ne!(kid(&before), kid(&after), "Dex signs with a new key after its restart");
    let resp = ask(after).await;
    assert_eq!(resp.0.status(), StatusCode::OK, "the new key is fetched on its unknown kid");
}
