//! The embedded store keeps its facts across restarts.

mod support;

use std::sync::Arc;

use graph_service::model::ProjectionConfig;
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use support::{query, schema, seed_facts};

#[tokio::test]
async fn graph_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let q = r#"{ stats { pipelineRuns taskRuns nodes edges } diff(namespace: "idec", name: "idec-image-builds-run-4cd23") { base { name } images { added } } }"#;
    let before = {
        let store: Arc<dyn GraphStore> =
            Arc::new(EmbeddedStore::open(dir.path(), ProjectionConfig::default()).unwrap());
        store.apply(&seed_facts()).await.unwrap();
        query(&schema(&store), q).await
    };
    assert_eq!(before["stats"]["pipelineRuns"], 9);
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::open(dir.path(), ProjectionConfig::default()).unwrap());
    let after = query(&schema(&store), q).await;
    assert_eq!(after, before);
    // Re-applying after the restart changes nothing.
    let stats = store.apply(&seed_facts()).await.unwrap();
    assert_eq!(stats.applied, 0);
}

#[tokio::test]
async fn a_corrupt_row_is_reported_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path(), ProjectionConfig::default()).unwrap();
        store.apply(&seed_facts()[..1]).await.unwrap();
    }
    let db = redb::Database::open(dir.path().join("graph.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("facts_v1");
        let mut table = txn.open_table(def).unwrap();
        table.insert("PipelineRun/idec/broken", b"{not json".as_slice()).unwrap();
    }
    txn.commit().unwrap();
    drop(db);
    let err = EmbeddedStore::open(dir.path(), ProjectionConfig::default()).err().expect("corrupt row must fail");
    assert!(err.to_string().contains("PipelineRun/idec/broken"), "{err}");
}
