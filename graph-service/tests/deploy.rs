//! The docker-compose file and Dockerfile cannot be started here (no Docker engine), so their structure is checked:
//! services wired to each other, health-gated start order, no secrets, and commands the binaries accept.

use std::path::Path;

use clap::Parser;
use serde_yaml_ng::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
    serde_yaml_ng::from_str(&text).expect("docker-compose.yml is YAML")
}

fn command(service: &Value) -> Vec<String> {
    service["command"]
        .as_sequence()
        .expect("command as a list")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn arg<'a>(cmd: &'a [String], name: &str) -> &'a str {
    cmd.iter().find_map(|a| a.strip_prefix(&format!("--{name}="))).unwrap_or_else(|| panic!("--{name} in {cmd:?}"))
}

#[test]
fn compose_wires_harvester_kafka_graph_service_and_neo4j() {
    let doc = compose();
    let services = doc["services"].as_mapping().expect("services");
    let names: Vec<&str> = services.keys().map(|k| k.as_str().unwrap()).collect();
    for expected in ["kafka", "neo4j", "graph-service", "harvester"] {
        assert!(names.contains(&expected), "service {expected} missing: {names:?}");
    }
    // Every dependency exists; health-gated ones have a healthcheck.
    for (name, service) in services {
        if let Some(deps) = service["depends_on"].as_mapping() {
            for (dep, how) in deps {
                let dep = dep.as_str().unwrap();
                let target = &doc["services"][dep];
                assert!(target.is_mapping(), "{name:?} depends on unknown {dep}");
                if how["condition"] == "service_healthy" {
                    assert!(target["healthcheck"]["test"].is_sequence(), "{dep} needs a healthcheck");
                }
            }
        }
    }
    for long_running in ["kafka", "neo4j", "graph-service"] {
        assert!(doc["services"][long_running]["healthcheck"]["test"].is_sequence(), "{long_running} healthcheck");
    }
    let gs = command(&doc["services"]["graph-service"]);
    let hv = command(&doc["services"]["harvester"]);
    assert!(arg(&gs, "store").starts_with("neo4j://neo4j:7687"));
    let source = arg(&gs, "source");
    let sink = arg(&hv, "sink");
    assert!(source.starts_with("kafka://kafka:9092/"), "{source}");
    let topic = |url: &str| url.split('/').nth(3).unwrap().split('?').next().unwrap().to_string();
    assert_eq!(topic(source), topic(sink), "harvester and graph-service must use one topic");
    // The graph-service command is one the binary accepts, with the Neo4j store and the Kafka source.
    let cli = graph_service::cli::Cli::try_parse_from(&gs).unwrap_or_else(|e| panic!("compose command {gs:?}: {e}"));
    let graph_service::cli::Command::Serve(serve) = cli.command else { panic!("compose must run `serve`") };
    assert_eq!(serve.store, graph_service::cli::StoreTarget::Neo4j("neo4j://neo4j:7687".into()));
    assert!(serve.source.config().expect("valid Kafka settings").is_some(), "the Kafka source is configured");
    for service in ["graph-service", "harvester"] {
        assert_eq!(doc["services"][service]["build"], ".", "{service} builds from the Dockerfile");
    }
}

#[test]
fn compose_and_dockerfile_hold_no_secrets() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let doc = compose();
    for (service, key) in [("neo4j", "NEO4J_AUTH"), ("graph-service", "NEO4J_PASSWORD")] {
        let value = doc["services"][service]["environment"][key].as_str().expect(key);
        assert!(value.contains("${NEO4J_PASSWORD:?"), "{service}.{key} must come from the environment: {value}");
    }
    assert!(!text.to_lowercase().contains("password:") || text.contains("${NEO4J_PASSWORD"), "no literal passwords");
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    assert!(dockerfile.contains("-p harvester -p graph-service"), "the image builds both binaries");
    assert!(dockerfile.contains("USER "), "the image runs as a non-root user");
    assert!(!dockerfile.to_lowercase().contains("password"));
}
