//! What authentication adds to a GraphQL request: the same query through the whole HTTP app (edge limits, auth
//! middleware, GraphQL endpoint) with authentication off, with a static token, and with an OIDC JWT (Ed25519,
//! from a local issuer whose key is cached after the first request), interleaved round by round so that machine
//! noise falls on all three alike.
//!
//! ```sh
//! cargo bench -p graph-service --bench auth_overhead            # BENCH_REQUESTS (5000) per variant
//! ```
//! Under `cargo test --benches` it runs 50 requests per variant and fails on any non-200 answer.

#[allow(dead_code)] // the bench uses part of the test issuer
#[path = "../tests/support/issuer.rs"]
mod issuer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use graph_service::auth::{Authenticator, OidcConfig, OidcVerifier, Policy, StaticTokens};
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::server::{AppConfig, app_with_config};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use poem::Endpoint;
use poem::test::TestClient;
use serde_json::json;
use tekton_generate::{GenerateConfig, generate};

const QUERY: &str = "{ pipelineRuns(first: 20) { edges { node { name status commit { sha } images { digest } } } } }";
const TOKEN: &str = "bench-viewer-token-0123456789abcdef";

async fn client(store: Arc<dyn GraphStore>, authenticator: Option<Authenticator>) -> TestClient<impl Endpoint> {
    let config = AppConfig { authenticator: authenticator.map(Arc::new), ..AppConfig::default() };
    TestClient::new(app_with_config(Arc::new(Ingestor::new(store)), config))
}

async fn once(cli: &TestClient<impl Endpoint>, authorization: Option<&str>) -> Duration {
    let body = json!({ "query": QUERY }).to_string();
    let started = Instant::now();
    let mut req = cli.post("/graphql").content_type("application/json").body(body);
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let resp = req.send().await;
    let status = resp.0.status();
    let _ = resp.0.into_body().into_bytes().await;
    let took = started.elapsed();
    assert_eq!(status, poem::http::StatusCode::OK, "every request is answered");
    took
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let requests: usize =
        if smoke { 50 } else { std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000) };
    let config = GenerateConfig { pipeline_runs: 500, ..Default::default() };
    let facts: Vec<_> =
        generate(&config).flat_map(|o| tekton_translate::translate_value(&o).expect("translate")).collect();
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    store.apply(&facts).await.expect("apply");

    let issuer = issuer::TestIssuer::start().await;
    let jwt = issuer.sign(&issuer.claims("alice@example.com", &["team-a"]), None);
    let policy = Policy::parse("rules:\n  - group: team-a\n    role: viewer\n").expect("policy");
    let off = client(store.clone(), None).await;
    let tokens = StaticTokens::parse(&format!("{TOKEN} viewer bench\n")).expect("tokens");
    let with_token =
        client(store.clone(), Some(Authenticator { tokens: Some(tokens), ..Authenticator::default() })).await;
    let oidc = OidcVerifier::new(OidcConfig::new(issuer.url.clone(), vec!["tekton-graph".into()])).expect("verifier");
    let with_jwt =
        client(store.clone(), Some(Authenticator { oidc: Some(oidc), policy, ..Authenticator::default() })).await;
    let (token_header, jwt_header) = (format!("Bearer {TOKEN}"), format!("Bearer {jwt}"));

    // Warm up every path (the JWKS fetch included), then interleave.
    for _ in 0..20 {
        once(&off, None).await;
        once(&with_token, Some(&token_header)).await;
        once(&with_jwt, Some(&jwt_header)).await;
    }
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..requests {
        a.push(once(&off, None).await);
        b.push(once(&with_token, Some(&token_header)).await);
        c.push(once(&with_jwt, Some(&jwt_header)).await);
    }
    println!("{requests} requests per variant: {QUERY}");
    println!("{:<28} {:>9} {:>9} {:>12}", "variant", "p50 ms", "p99 ms", "p99 vs off");
    let base = {
        let mut s = a.clone();
        s.sort();
        percentile(&s, 0.99)
    };
    for (name, mut samples) in [("auth off", a), ("static token", b), ("OIDC JWT (EdDSA)", c)] {
        samples.sort();
        let p99 = percentile(&samples, 0.99);
        println!("{name:<28} {:>9.3} {:>9.3} {:>+11.1}%", percentile(&samples, 0.5), p99, (p99 / base - 1.0) * 100.0);
    }
    println!("JWKS fetches: {}", issuer.jwks_fetches());
}
