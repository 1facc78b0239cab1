//! `neo4j+s://` with a CA file against the test Neo4j, which `scripts/services.sh up` starts with a throwaway CA and
//! a Bolt certificate it signed (TLS offered, not required). Without the CA, the same server is refused: the
//! connection really is TLS and really is verified.

mod support;

use graph_service::model::ProjectionConfig;
use graph_service::store::neo4j::{Neo4jConfig, Neo4jStore};

fn tls_settings(ca_file: Option<std::path::PathBuf>) -> Neo4jConfig {
    Neo4jConfig { uri: support::env("NEO4J_TLS_URI"), ca_file, ..support::neo4j_settings() }
}

#[tokio::test]
async fn neo4j_over_tls_with_the_servers_ca() {
    // The plain engine holds the shared database's turn and empties it.
    let plain = support::neo4j_engine(ProjectionConfig::default()).await;
    let ca = std::path::PathBuf::from(support::env("NEO4J_CA_FILE"));
    let tls = Neo4jStore::connect(&tls_settings(Some(ca)), ProjectionConfig::default()).await.expect("TLS connect");
    let facts = support::seed_facts();
    graph_service::store::GraphStore::apply(&tls, &facts).await.expect("apply over TLS");
    let over_tls = graph_service::store::GraphStore::counts(&tls).await.expect("counts over TLS");
    let over_plain = plain.store.counts().await.expect("counts over plain Bolt");
    assert!(over_tls.pipeline_runs > 0);
    assert_eq!(over_tls, over_plain, "one database, two connections");

    // The platform's roots do not know the test CA: refused, and the error says why.
    let refused = match Neo4jStore::connect(&tls_settings(None), ProjectionConfig::default()).await {
        Ok(_) => panic!("a server certificate from an unknown CA was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");

    // A CA file that is not there is named.
    let missing = std::path::PathBuf::from("/nonexistent/ca.crt");
    let error = match Neo4jStore::connect(&tls_settings(Some(missing)), ProjectionConfig::default()).await {
        Ok(_) => panic!("connected with a missing CA file"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("/nonexistent/ca.crt"), "{error}");
}
