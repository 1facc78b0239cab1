//! Neo4j-only behaviour: the read-only Cypher path, and the exploration queries in `cypher/explore/` against the
//! seed scenario in a real Neo4j.

mod support;

use graph_service::model::ProjectionConfig;
use graph_service::store::neo4j::Neo4jStore;
use serde_json::{Map, Value, json};

async fn seeded() -> (support::Engine, Neo4jStore) {
    let engine = support::neo4j_engine(ProjectionConfig::default()).await;
    engine.store.apply(&support::seed_facts()).await.expect("apply");
    let reader = Neo4jStore::connect(&support::neo4j_settings(), ProjectionConfig::default()).await.expect("connect");
    (engine, reader)
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn explore(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cypher/explore").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn read_only_cypher_answers_reads_and_neo4j_refuses_writes() {
    let (_engine, reader) = seeded().await;
    let rows = reader
        .read_only(
            "MATCH (r:PipelineRun {status: $status}) RETURN r.name AS name ORDER BY name",
            params(json!({"status": "Failed"})),
        )
        .await
        .expect("read");
    assert_eq!(rows, vec![json!({"name": "idec-image-builds-run-5ca46"})]);
    let err = reader.read_only("CREATE (n:Intruder) RETURN n", Map::new()).await.expect_err("a write must be refused");
    let text = err.to_string();
    assert!(text.to_lowercase().contains("read") || text.contains("AccessMode"), "{text}");
    let count = reader.read_only("MATCH (n:Intruder) RETURN count(n) AS n", Map::new()).await.unwrap();
    assert_eq!(count, vec![json!({"n": 0})]);
}

#[tokio::test]
async fn trace_image_names_run_commit_and_scans() {
    let (_engine, reader) = seeded().await;
    let digest = "sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9";
    let rows = reader.read_only(&explore("trace_image.cypher"), params(json!({"digest": digest}))).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["pipelineRun"], "idec-image-builds-run-fb422");
    assert_eq!(row["commit"], "c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f901");
    assert_eq!(row["author"], "Joost van der Griendt");
    assert_eq!(row["repository"], "github.com/joostvdg/ingress-dns-export-controller");
    assert_eq!(row["critical"], 2);
    let mut producers: Vec<String> = serde_json::from_value(row["producedBy"].clone()).unwrap();
    producers.sort();
    assert_eq!(producers, ["idec-image-builds-run-fb422", "idec-image-builds-run-fb422-build-push"]);
}

#[tokio::test]
async fn runs_of_commit_lists_the_failed_run_and_its_rerun() {
    let (_engine, reader) = seeded().await;
    let p = json!({"repository": "github.com/joostvdg/ingress-dns-export-controller", "sha": "0b7e1f3c9a2d4e5f60718293a4b5c6d7e8f90abc"});
    let rows = reader.read_only(&explore("runs_of_commit.cypher"), params(p)).await.unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["pipelineRun"].as_str().unwrap()).collect();
    assert_eq!(names, ["idec-image-builds-run-5ca46-r-9f9f7", "idec-image-builds-run-5ca46"]);
    assert_eq!(rows[0]["images"], json!(["sha256:542976ed2dad698c0dd3375a3bae2925eb8b61ff9acb822d22f2f07d806f7006"]));
    assert_eq!(rows[1]["images"], json!([]));
}

#[tokio::test]
async fn failing_tasks_since_a_date() {
    let (_engine, reader) = seeded().await;
    let rows = reader
        .read_only(&explore("failing_tasks_this_week.cypher"), params(json!({"since": "2024-05-15T00:00:00Z"})))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["task"], "build-push");
    assert_eq!(rows[0]["failures"], 1);
    // "This week" (no $since) finds nothing in 2024 data.
    let recent =
        reader.read_only(&explore("failing_tasks_this_week.cypher"), params(json!({"since": null}))).await.unwrap();
    assert_eq!(recent, Vec::<Value>::new());
}

#[tokio::test]
async fn critical_images_and_the_systems_that_ship_them() {
    let (_engine, reader) = seeded().await;
    let rows = reader
        .read_only(&explore("critical_images_and_systems.cypher"), params(json!({"minCritical": 1})))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        assert!(row["critical"].as_i64().unwrap() >= 1);
        assert_eq!(row["systems"], json!(["github.com/joostvdg/ingress-dns-export-controller"]), "{row}");
    }
    let first = rows
        .iter()
        .find(|r| r["image"] == "sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9")
        .expect("first image has 2 critical");
    assert_eq!(first["builtBy"], json!(["idec-image-builds-run-fb422"]));
    let none = reader
        .read_only(&explore("critical_images_and_systems.cypher"), params(json!({"minCritical": 1000})))
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn duration_regressions_compare_with_the_previous_run() {
    let (_engine, reader) = seeded().await;
    let rows =
        reader.read_only(&explore("duration_regressions.cypher"), params(json!({"factor": 1.05}))).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["previousRun"], "idec-image-builds-run-5ca46-r-9f9f7");
    assert_eq!(rows[0]["run"], "idec-image-builds-run-4cd23");
    assert_eq!(rows[0]["previousSeconds"], 231.0);
    assert_eq!(rows[0]["seconds"], 253.0);
}

#[tokio::test]
async fn cypher_command_prints_rows_and_refuses_writes() {
    let (_engine, _reader) = seeded().await;
    let settings = support::neo4j_settings();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_graph-service"))
            .arg("cypher")
            .args(args)
            .args(["--uri", &settings.uri])
            .env("NEO4J_PASSWORD", &settings.password)
            .output()
            .expect("run graph-service cypher")
    };
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cypher/explore/duration_regressions.cypher");
    let out = run(&["--file", file.to_str().unwrap(), "--param", "factor=1.05"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["run"], "idec-image-builds-run-4cd23");
    let out = run(&["CREATE (n:Intruder) RETURN n"]);
    assert!(!out.status.success(), "a write must fail");
    let count = run(&["MATCH (n:Intruder) RETURN count(n) AS n"]);
    assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), r#"{"n":0}"#);
}
