//! The audit trail as an operator reads it: the real binary, serving with static tokens, writes one JSON line
//! (tracing target `audit`) for every write and every refusal — and none for an allowed read.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const VIEWER: &str = "viewer-token-0123456789abcdef";
const INGESTER: &str = "ingester-token-0123456789abcdef";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The audit records in a log: the JSON after the `audit:` target of each line.
fn audit_records(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| line.contains("audit:"))
        .map(|line| {
            let json = &line[line.find('{').unwrap_or_else(|| panic!("no JSON in {line}"))..];
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
        })
        .collect()
}

#[tokio::test]
async fn every_write_and_every_refusal_leaves_one_json_audit_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{VIEWER} viewer ops\n{INGESTER} ingester harvester\n")).expect("tokens");
    let log_path = dir.path().join("graph-service.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let address = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_graph-service"))
        .args(["serve", "--listen", &address, "--token-file"])
        .arg(&tokens)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start graph-service");
    let http = reqwest::Client::new();
    let base = format!("http://{address}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "graph-service did not answer on {address}");
        assert!(child.try_wait().expect("child").is_none(), "graph-service exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut fact = support::seed_facts().remove(0);
    fact.name = "audited-run".into();
    let body = serde_json::to_vec(&tekton_graph_schema::envelope::to_cloudevent(&fact).expect("event")).expect("json");
    let post = |token: Option<&str>| {
        let mut req = http
            .post(format!("{base}/events"))
            .header("content-type", tekton_graph_schema::envelope::STRUCTURED_CONTENT_TYPE)
            .body(body.clone());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    assert_eq!(post(None).await.expect("post").status(), 401);
    assert_eq!(post(Some(VIEWER)).await.expect("post").status(), 403);
    assert_eq!(post(Some(INGESTER)).await.expect("post").status(), 202);
    let read =
        http.post(format!("{base}/graphql")).bearer_auth(VIEWER).body(r#"{"query":"{ stats { pipelineRuns } }"}"#);
    assert_eq!(read.header("content-type", "application/json").send().await.expect("read").status(), 200);

    // Each line is written as the request is answered: wait for the three, then stop the server.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let records = loop {
        let mut text = String::new();
        std::fs::File::open(&log_path).expect("log").read_to_string(&mut text).expect("read log");
        let records = audit_records(&text);
        if records.len() >= 3 || tokio::time::Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().expect("stop graph-service");
    child.wait().expect("reap");

    assert_eq!(records.len(), 3, "two refusals and one write, no line for the read: {records:#?}");
    let field = |i: usize, k: &str| records[i][k].clone();
    assert_eq!([field(0, "decision"), field(1, "decision"), field(2, "decision")], ["denied", "denied", "allowed"]);
    assert_eq!([field(0, "status"), field(1, "status"), field(2, "status")], [401, 403, 202]);
    assert_eq!(
        [field(0, "subject"), field(1, "subject"), field(2, "subject")],
        [Value::Null, "ops".into(), "harvester".into()]
    );
    for record in &records {
        assert_eq!(record["action"], "POST /events");
        assert!(record["remote"].as_str().is_some_and(|r| r.starts_with("127.0.0.1")), "{record}");
        let time = record["time"].as_str().expect("time");
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
    }
    assert!(records[1]["reason"].as_str().is_some_and(|r| r.contains("ingester")), "{}", records[1]);
}
