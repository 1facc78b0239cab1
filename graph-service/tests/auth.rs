//! Who may see and write what: static tokens and OpenID Connect bearer tokens (from a real Dex, and from a local
//! issuer for the tokens Dex will not sign), roles per route, and the start-up refusal of an open non-loopback
//! server. Dex is started by `scripts/services.sh up` (its settings come from `scripts/services.sh env`); without
//! it these tests fail, never skip.

#[path = "support/issuer.rs"]
mod issuer;
mod support;

use std::sync::Arc;
use std::time::Duration;

use graph_service::auth::{Authenticator, OidcConfig, OidcVerifier, Policy, StaticTokens};
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::server::{AppConfig, app_with_config};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use issuer::{TestIssuer, with_header};
use poem::http::StatusCode;
use poem::test::TestClient;
use serde_json::{Value, json};
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, to_cloudevent};

const POLICY: &str = r#"
rules:
  - group: team-a
    role: viewer
    namespaces: [idec]
  - group: team-b
    role: viewer
    namespaces: [payments]
  - group: ingesters
    role: ingester
  - group: admins
    role: admin
"#;

const VIEWER_TOKEN: &str = "viewer-token-0123456789abcdef";
const INGESTER_TOKEN: &str = "ingester-token-0123456789abcdef";

async fn seeded_store() -> Arc<dyn GraphStore> {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    store.apply(&support::seed_facts()).await.expect("seed");
    store
}

fn client(store: Arc<dyn GraphStore>, authenticator: Authenticator) -> TestClient<impl poem::Endpoint> {
    let config = AppConfig { authenticator: Some(Arc::new(authenticator)), ..AppConfig::default() };
    TestClient::new(app_with_config(Arc::new(Ingestor::new(store)), config))
}

fn static_tokens() -> StaticTokens {
    StaticTokens::parse(&format!("{VIEWER_TOKEN} viewer ops\n{INGESTER_TOKEN} ingester harvester\n")).expect("tokens")
}

const STATS: &str = "{ stats { pipelineRuns } }";

/// Status and body of a GraphQL query sent with `authorization` (a full header value).
async fn graphql(cli: &TestClient<impl poem::Endpoint>, authorization: Option<&str>, q: &str) -> (StatusCode, String) {
    let mut req = cli.post("/graphql").content_type("application/json").body(json!({ "query": q }).to_string());
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let resp = req.send().await;
    let status = resp.0.status();
    (status, resp.0.into_body().into_string().await.expect("body"))
}

fn event_body() -> Vec<u8> {
    let mut fact = support::seed_facts().remove(0);
    fact.name = "posted-by-the-harvester".into();
    serde_json::to_vec(&to_cloudevent(&fact).expect("event")).expect("json")
}

#[tokio::test]
async fn static_tokens_open_routes_by_role_and_nothing_else() {
    let store = seeded_store().await;
    let cli = client(store.clone(), Authenticator { tokens: Some(static_tokens()), ..Authenticator::default() });

    // Liveness and assets need no token.
    cli.get("/healthz").send().await.assert_status_is_ok();
    cli.get("/ui/assets/app.css").send().await.assert_status_is_ok();

    // No token, a wrong one, or a malformed header: 401 with a Bearer challenge, on the API and on the UI.
    for header in [None, Some("Bearer not-a-known-token-at-all"), Some("Basic dXNlcjpwYXNz"), Some("Bearer ")] {
        let (status, _) = graphql(&cli, header, STATS).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header:?}");
    }
    let resp = cli.get("/").send().await;
    resp.assert_status(StatusCode::UNAUTHORIZED);
    resp.assert_header("www-authenticate", r#"Bearer realm="tekton-graph""#);

    // A viewer reads, but cannot write.
    let viewer = format!("Bearer {VIEWER_TOKEN}");
    let (status, body) = graphql(&cli, Some(&viewer), STATS).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"pipelineRuns\":"), "{body}");
    cli.get("/").header("authorization", &viewer).send().await.assert_status_is_ok();
    let before = store.counts().await.expect("counts").pipeline_runs;
    let posted = cli
        .post("/events")
        .header("authorization", &viewer)
        .content_type(STRUCTURED_CONTENT_TYPE)
        .body(event_body())
        .send()
        .await;
    posted.assert_status(StatusCode::FORBIDDEN);
    assert_eq!(store.counts().await.expect("counts").pipeline_runs, before, "a refused write writes nothing");

    // An ingester writes, but cannot read.
    let ingester = format!("Bearer {INGESTER_TOKEN}");
    let posted = cli
        .post("/events")
        .header("authorization", &ingester)
        .content_type(STRUCTURED_CONTENT_TYPE)
        .body(event_body())
        .send()
        .await;
    posted.assert_status(StatusCode::ACCEPTED);
    assert_eq!(store.counts().await.expect("counts").pipeline_runs, before + 1);
    let (status, _) = graphql(&cli, Some(&ingester), STATS).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let posted = cli.post("/events").content_type(STRUCTURED_CONTENT_TYPE).body(event_body()).send().await;
    posted.assert_status(StatusCode::UNAUTHORIZED);
}

fn dex_authenticator(audience: &str) -> Authenticator {
    let config = OidcConfig::new(support::env("DEX_ISSUER"), vec![audience.to_string()]);
    Authenticator {
        oidc: Some(OidcVerifier::new(config).expect("verifier")),
        policy: Policy::parse(POLICY).expect("policy"),
        ..Authenticator::default()
    }
}

#[tokio::test]
async fn dex_tokens_are_verified_and_mapped_to_roles_by_group() {
    let store = seeded_store().await;
    let cli = client(store.clone(), dex_authenticator(&support::env("DEX_CLIENT_ID")));
    let alice = support::dex_token("alice@example.com").await;
    let (status, body) = graphql(&cli, Some(&format!("Bearer {alice}")), STATS).await;
    assert_eq!(status, StatusCode::OK, "alice (team-a) is a viewer: {body}");

    // The harvester's service user writes; a user no rule names gets nothing.
    let harvester = support::dex_token("harvester@example.com").await;
    let posted = cli
        .post("/events")
        .header("authorization", format!("Bearer {harvester}"))
        .content_type(STRUCTURED_CONTENT_TYPE)
        .body(event_body())
        .send()
        .await;
    posted.assert_status(StatusCode::ACCEPTED);
    let nobody = support::dex_token("nobody@example.com").await;
    let (status, _) = graphql(&cli, Some(&format!("Bearer {nobody}")), STATS).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A changed signature, `alg: none`, and a signature-less token are all refused.
    let mut forged = alice.clone();
    let last = forged.pop().expect("a char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, alice.split('.').next().unwrap())
            .expect("header"),
    )
    .expect("json");
    let none = with_header(&alice, &json!({ "alg": "none", "kid": header["kid"] }), false);
    let stripped = with_header(&alice, &header, false);
    for (what, token) in [("forged signature", forged), ("alg none", none), ("no signature", stripped)] {
        let (status, _) = graphql(&cli, Some(&format!("Bearer {token}")), STATS).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    }

    // The same genuine token for a service expecting another audience.
    let other = client(store, dex_authenticator("someone-else"));
    let (status, _) = graphql(&other, Some(&format!("Bearer {alice}")), STATS).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong audience");
}

fn local_authenticator(issuer: &TestIssuer) -> (Authenticator, OidcConfig) {
    let mut config = OidcConfig::new(issuer.url.clone(), vec!["tekton-graph".into()]);
    config.leeway = Duration::from_secs(5);
    config.min_refresh = Duration::from_millis(0);
    let auth = Authenticator {
        oidc: Some(OidcVerifier::new(config.clone()).expect("verifier")),
        policy: Policy::parse(POLICY).expect("policy"),
        ..Authenticator::default()
    };
    (auth, config)
}

#[tokio::test]
async fn time_claims_issuer_and_keys_are_checked() {
    let issuer = TestIssuer::start().await;
    let (auth, _) = local_authenticator(&issuer);
    let cli = client(seeded_store().await, auth);
    let bearer = |t: String| format!("Bearer {t}");
    let good = issuer.sign(&issuer.claims("alice@example.com", &["team-a"]), None);
    let (status, body) = graphql(&cli, Some(&bearer(good)), STATS).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let now = jsonwebtoken::get_current_timestamp();
    let patched = |patch: Value| {
        let mut claims = issuer.claims("alice@example.com", &["team-a"]);
        for (k, v) in patch.as_object().expect("object") {
            claims[k] = v.clone();
        }
        claims
    };
    let unpublished = issuer.add_unpublished_key();
    for (what, token) in [
        ("expired beyond the leeway", issuer.sign(&patched(json!({ "exp": now - 60 })), None)),
        ("not yet valid", issuer.sign(&patched(json!({ "nbf": now + 600 })), None)),
        ("issued in the future", issuer.sign(&patched(json!({ "iat": now + 600 })), None)),
        ("another issuer", issuer.sign(&patched(json!({ "iss": "https://evil.example.com" })), None)),
        ("another audience", issuer.sign(&patched(json!({ "aud": "other-client" })), None)),
        ("no exp", {
            let mut claims = issuer.claims("alice@example.com", &["team-a"]);
            claims.as_object_mut().expect("object").remove("exp");
            issuer.sign(&claims, None)
        }),
        ("a key the issuer never published", issuer.sign(&issuer.claims("alice@example.com", &[]), Some(&unpublished))),
    ] {
        let (status, _) = graphql(&cli, Some(&bearer(token)), STATS).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
    }
    // Within the leeway, a just-expired token still passes (clocks drift).
    let (status, _) = graphql(&cli, Some(&bearer(issuer.sign(&patched(json!({ "exp": now - 1 })), None))), STATS).await;
    assert_eq!(status, StatusCode::OK, "inside the leeway");

    // HS256 "signed" with the published public key as the shared secret: the classic confusion attack.
    let keys: Value = reqwest::get(format!("{}/keys", issuer.url)).await.expect("jwks").json().await.expect("json");
    let public = keys["keys"][0]["x"].as_str().expect("x").to_string();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = keys["keys"][0]["kid"].as_str().map(String::from);
    let confused = jsonwebtoken::encode(
        &header,
        &issuer.claims("alice@example.com", &["admins"]),
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()).expect("a secret"),
    )
    .expect("sign");
    let (status, _) = graphql(&cli, Some(&bearer(confused)), STATS).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "HS256 with the public key");
}

#[tokio::test]
async fn a_rotated_key_is_fetched_without_a_restart() {
    let issuer = TestIssuer::start().await;
    let (auth, _) = local_authenticator(&issuer);
    let cli = client(seeded_store().await, auth);
    let before = issuer.sign(&issuer.claims("alice@example.com", &["team-a"]), None);
    let (status, _) = graphql(&cli, Some(&format!("Bearer {before}")), STATS).await;
    assert_eq!(status, StatusCode::OK);
    let fetched = issuer.jwks_fetches();
    // Cached by kid: more requests with the same key fetch nothing.
    for _ in 0..3 {
        graphql(&cli, Some(&format!("Bearer {before}")), STATS).await;
    }
    assert_eq!(issuer.jwks_fetches(), fetched, "keys are cached");
    issuer.rotate();
    let after = issuer.sign(&issuer.claims("alice@example.com", &["team-a"]), None);
    let (status, body) = graphql(&cli, Some(&format!("Bearer {after}")), STATS).await;
    assert_eq!(status, StatusCode::OK, "the new key is fetched on its unknown kid: {body}");
    assert_eq!(issuer.jwks_fetches(), fetched + 1);
}

#[tokio::test]
async fn an_unknown_kid_does_not_hammer_the_issuer() {
    let issuer = TestIssuer::start().await;
    let mut config = OidcConfig::new(issuer.url.clone(), vec!["tekton-graph".into()]);
    config.min_refresh = Duration::from_secs(3600);
    let auth = Authenticator {
        oidc: Some(OidcVerifier::new(config).expect("verifier")),
        policy: Policy::parse(POLICY).expect("policy"),
        ..Authenticator::default()
    };
    let cli = client(seeded_store().await, auth);
    let unpublished = issuer.add_unpublished_key();
    for _ in 0..5 {
        let token = issuer.sign(&issuer.claims("mallory@example.com", &["admins"]), Some(&unpublished));
        let (status, _) = graphql(&cli, Some(&format!("Bearer {token}")), STATS).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(issuer.jwks_fetches(), 1, "one fetch, then at most one per min_refresh");
}

#[test]
fn serve_refuses_a_non_loopback_address_without_authentication() {
    let binary = env!("CARGO_BIN_EXE_graph-service");
    let data = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new(binary)
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .env_remove("GRAPH_SERVICE_INSECURE_NO_AUTH")
        .output()
        .expect("runs");
    assert!(!output.status.success(), "it must not start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to serve 0.0.0.0:0 without authentication"), "{stderr}");
}

/// A ServiceAccount token for `name` in `namespace` (created), from the test kube-apiserver's TokenRequest API.
async fn service_account_token(client: &kube::Client, namespace: &str, name: &str) -> String {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    use kube::api::{Api, PostParams};
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let account: ServiceAccount = serde_json::from_value(json!({ "metadata": { "name": name } })).expect("account");
    accounts.create(&PostParams::default(), &account).await.expect("create the ServiceAccount");
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(600), ..TokenRequestSpec::default() },
        ..TokenRequest::default()
    };
    let answer = accounts.create_token_request(name, &PostParams::default(), &request).await.expect("TokenRequest");
    answer.status.expect("a token").token
}

#[tokio::test]
async fn kubernetes_service_account_tokens_are_reviewed_by_the_api_server() {
    use graph_service::auth::TokenReviewer;
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Api, PostParams};

    // KUBECONFIG (scripts/services.sh env) points at the test kube-apiserver as its admin.
    let kube_client = kube::Client::try_default().await.expect("the test kube-apiserver (KUBECONFIG)");
    let namespace = format!("auth-test-{}", rand::random::<u32>());
    let ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": namespace } })).expect("namespace");
    Api::<Namespace>::all(kube_client.clone()).create(&PostParams::default(), &ns).await.expect("create the namespace");
    let harvester = service_account_token(&kube_client, &namespace, "harvester").await;
    let intruder = service_account_token(&kube_client, &namespace, "intruder").await;

    let policy = format!("rules:\n  - subject: system:serviceaccount:{namespace}:harvester\n    role: ingester\n");
    let auth = Authenticator {
        kube: Some(TokenReviewer::new(kube_client.clone(), Vec::new())),
        policy: Policy::parse(&policy).expect("policy"),
        ..Authenticator::default()
    };
    let store = seeded_store().await;
    let cli = client(store.clone(), auth);
    let post = |token: String| {
        cli.post("/events")
            .header("authorization", format!("Bearer {token}"))
            .content_type(STRUCTURED_CONTENT_TYPE)
            .body(event_body())
            .send()
    };
    let before = store.counts().await.expect("counts").pipeline_runs;
    post(harvester.clone()).await.assert_status(StatusCode::ACCEPTED);
    assert_eq!(store.counts().await.expect("counts").pipeline_runs, before + 1, "the harvester's write landed");
    // Another ServiceAccount of the same cluster is authenticated but has no role; a forged token is not.
    post(intruder).await.assert_status(StatusCode::FORBIDDEN);
    let mut forged = harvester.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    post(forged).await.assert_status(StatusCode::UNAUTHORIZED);
    // The decision is cached: the same token again is answered without asking (still accepted).
    post(harvester).await.assert_status(StatusCode::ACCEPTED);
}
