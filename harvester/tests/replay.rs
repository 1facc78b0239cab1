//! Runs the built `harvester replay` binary against the fixtures in `testdata/`, with the stdout sink and with
//! the HTTP sink pointed at a tiny local server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;

use serde_json::Value;
use tekton_graph_schema::envelope::{self, BATCH_CONTENT_TYPE, PIPELINERUN_FACT_TYPE, TASKRUN_FACT_TYPE};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// The folders of Tekton run fixtures. testdata/ also holds other inputs (CRDs, CDEvents) that are not runs.
const RUN_FOLDERS: &[&str] = &["tekton", "seed-conventions", "cloudevents"];

const SEED_LIST: &str = "seed-conventions/list-v1-idec-builds-scans-rerun.json";

/// Runs `harvester replay ARGS...` with a clean environment and optional stdin.
fn harvester(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_harvester"));
    command.arg("replay").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for var in ["HARVESTER_SINK", "HARVESTER_SINK_TOKEN", "HARVESTER_BATCH_SIZE", "HARVESTER_SINK_RETRIES"] {
        command.env_remove(var);
    }
    command.envs(envs.iter().copied());
    let mut child = command.spawn().expect("harvester starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin.unwrap_or_default().as_bytes()).expect("stdin accepts input");
    drop(input);
    child.wait_with_output().expect("harvester finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The number of facts the library makes of every file under `dir`: what the binary must emit.
fn expected_fact_count(dir: &Path) -> usize {
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("folder").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut count = 0;
    for path in files {
        if path.is_dir() {
            count += expected_fact_count(&path);
        } else if path.extension().is_some_and(|e| e == "json" || e == "yaml" || e == "yml") {
            let content = std::fs::read_to_string(&path).expect("readable");
            for doc in tekton_translate::parse_documents(&content) {
                count += tekton_translate::translate_value(&doc.expect("valid document")).expect("translates").len();
            }
        }
    }
    count
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

#[test]
fn replay_testdata_to_stdout_emits_one_cloudevent_per_fact() {
    let dirs: Vec<PathBuf> = RUN_FOLDERS.iter().map(|folder| testdata().join(folder)).collect();
    let mut args: Vec<&str> = dirs.iter().map(|dir| path_arg(dir)).collect();
    args.extend(["--sink", "-"]);
    let out = harvester(&args, &[], None);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let expected: usize = dirs.iter().map(|dir| expected_fact_count(dir)).sum();
    assert_eq!(expected, 58);
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), expected);
    for line in &lines {
        let json: Value = serde_json::from_str(line).expect("each line is JSON");
        assert_eq!(json["specversion"], "1.0");
        let ty = json["type"].as_str().unwrap_or_default();
        assert!(ty == PIPELINERUN_FACT_TYPE || ty == TASKRUN_FACT_TYPE, "{ty}");
        let event: cloudevents::Event = serde_json::from_str(line).expect("a structured CloudEvent");
        let fact = envelope::from_cloudevent(&event).expect("carries a valid fact");
        assert_eq!(json["subject"], fact.key().to_string());
    }
    assert!(stderr.contains("replayed 58 facts from 26 files (0 errors)"), "{stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");
}

#[test]
fn stdin_and_env_selected_stdout_sink() {
    let list = std::fs::read_to_string(testdata().join(SEED_LIST)).expect("fixture");
    let out = harvester(&["-"], &[("HARVESTER_SINK", "-")], Some(&list));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 27);
    assert!(text(&out.stderr).contains("replayed 27 facts from 1 files (0 errors)"));
}

#[test]
fn bad_files_are_reported_and_the_good_ones_still_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good =
        std::fs::read_to_string(testdata().join("tekton/taskrun-v1-lighthouse-succeeded-steps.yaml")).expect("fixture");
    std::fs::write(dir.path().join("a-good.yaml"), &good).expect("write");
    std::fs::write(dir.path().join("b-bad.json"), "{\"kind\": \"TaskRun\",\n \"metadata\": }").expect("write");
    std::fs::write(
        dir.path().join("c-pod.yaml"),
        format!("{good}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\n"),
    )
    .expect("write");
    let list = r#"{"kind": "List", "items": [
        {"kind": "TaskRun", "metadata": {"name": "ok"}},
        {"kind": "TaskRun", "metadata": {"name": "late"}, "status": {"startTime": "xyz"}}]}"#;
    std::fs::write(dir.path().join("d-list.json"), list).expect("write");

    let out = harvester(&[path_arg(dir.path())], &[], None);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let file = |name: &str| dir.path().join(name).display().to_string();
    assert!(
        stderr.contains(&format!("error: {}: document 1: invalid JSON: expected value at line 2", file("b-bad.json"))),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: {}: document 2: object of kind `Pod` is not a PipelineRun or TaskRun",
            file("c-pod.yaml")
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: {}: document 1: item 2: status.startTime `xyz` is not an RFC 3339 time",
            file("d-list.json")
        )),
        "{stderr}"
    );
    assert!(stderr.contains("replayed 2 facts from 4 files (3 errors)"), "{stderr}");
    // The good TaskRun, from a-good.yaml and from the good first document of c-pod.yaml.
    let names: Vec<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON")["data"]["name"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(names, vec!["jenkins-x-jx-pr-7463-boot-vault-9mbgb-17-build-2jnvr"; 2]);
}

#[test]
fn missing_path_and_unsupported_sink() {
    let out = harvester(&["/definitely/not/here.json"], &[], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error: /definitely/not/here.json: No such file or directory"),
        "{}",
        text(&out.stderr)
    );

    let out = harvester(&[path_arg(&testdata()), "--sink", "mqtt://broker:1883/facts"], &[], None);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(text(&out.stderr).contains("unsupported sink `mqtt://broker:1883/facts`"), "{}", text(&out.stderr));
    // A Kafka URL without a topic is a usage error too.
    let out = harvester(&[path_arg(&testdata()), "--sink", "kafka://broker:9092"], &[], None);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

// ---- HTTP sink ----

/// A request as the test server saw it.
struct Request {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Serves one canned response per connection, in order, then stops listening. Returns the URL and the
/// requests it received.
fn serve(responses: Vec<(u16, &'static str)>) -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("address"));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for (status, reply) in responses {
            let Ok((stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).expect("request line");
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("header line");
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim().to_string(), value.trim().to_string()));
                }
            }
            let length = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            let mut stream = reader.into_inner();
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
            stream.write_all(response.as_bytes()).expect("response");
            let _ = tx.send(Request { request_line: request_line.trim_end().to_string(), headers, body });
        }
    });
    (url, rx)
}

#[test]
fn http_sink_posts_cloudevent_batches() {
    let (url, requests) = serve(vec![(202, ""), (202, "")]);
    let seed = testdata().join(SEED_LIST);
    let out = harvester(
        &[path_arg(&seed), "--sink", &url, "--batch-size", "20"],
        &[("HARVESTER_SINK_TOKEN", "s3cret")],
        None,
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("replayed 27 facts from 1 files (0 errors)"), "{stderr}");
    assert!(out.stdout.is_empty());
    let requests: Vec<Request> = requests.iter().take(2).collect();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.request_line, "POST /events HTTP/1.1");
            assert_eq!(r.header("content-type"), Some(BATCH_CONTENT_TYPE));
            assert_eq!(r.header("authorization"), Some("Bearer s3cret"));
            let events: Vec<cloudevents::Event> = serde_json::from_slice(&r.body).expect("a JSON array of CloudEvents");
            for event in &events {
                envelope::from_cloudevent(event).expect("each event carries a fact");
            }
            events.len()
        })
        .collect();
    assert_eq!(sizes, vec![20, 7]);
}

#[test]
fn http_sink_reports_a_rejected_batch_with_the_reason() {
    let reason = "event `abc`: data is not a valid run fact: unknown field `bogus`";
    let (url, requests) = serve(vec![(400, reason)]);
    let seed = testdata().join(SEED_LIST);
    let out = harvester(&[path_arg(&seed), "--sink", &url], &[], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("error: sink: batch of 27 events rejected: HTTP 400 Bad Request: {reason}")),
        "{stderr}"
    );
    assert!(stderr.contains("replayed 0 facts from 1 files (1 errors)"), "{stderr}");
    assert_eq!(requests.iter().count(), 1, "a 400 is not retried");
}

#[test]
fn http_sink_retries_server_errors() {
    let (url, requests) = serve(vec![(503, "warming up"), (200, "")]);
    let file = testdata().join("tekton/taskrun-v1-lighthouse-running-steps.yaml");
    let out = harvester(&[path_arg(&file), "--sink", &url], &[], None);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("replayed 1 facts from 1 files (0 errors)"), "{stderr}");
    let bodies: Vec<Vec<u8>> = requests.iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1], "the same batch is sent again");
}

#[test]
fn http_sink_unreachable_is_reported() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let file = testdata().join("tekton/taskrun-v1-lighthouse-running-steps.yaml");
    let url = format!("http://127.0.0.1:{port}/events");
    let out = harvester(&[path_arg(&file), "--sink", &url, "--sink-retries", "1"], &[], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: sink: batch of 1 events not delivered: error sending request"), "{stderr}");
}
