//! The conformance suite: every test runs against every engine in `support::engines`, and the answers of all
//! engines must be equal. A failure names the engine and the query.

mod support;

use graph_service::model::ProjectionConfig;
use serde_json::{Value, json};
use support::{engines, query, query_error, schema, seed_facts};
use tekton_graph_schema::{Outcome, RunFact};

const FIRST_IMAGE: &str = "sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9";
const RERUN_IMAGE: &str = "sha256:542976ed2dad698c0dd3375a3bae2925eb8b61ff9acb822d22f2f07d806f7006";
const REPO: &str = "https://github.com/joostvdg/ingress-dns-export-controller.git";

/// Loads the seed scenario into every engine and returns each engine's answer to `q`, asserting they agree.
async fn answer_on_all_engines(facts: &[RunFact], q: &str) -> Value {
    let mut answers: Vec<(&str, Value)> = Vec::new();
    for engine in engines(ProjectionConfig::default()).await {
        engine.store.apply(facts).await.unwrap_or_else(|e| panic!("{}: apply: {e}", engine.name));
        answers.push((engine.name, query(&schema(&engine.store), q).await));
    }
    let (first_name, first) = &answers[0];
    for (name, answer) in &answers[1..] {
        assert_eq!(answer, first, "engines {first_name} and {name} disagree on {q}");
    }
    answers.remove(0).1
}

#[tokio::test]
async fn image_lineage_names_run_task_commit_and_scans() {
    let q = format!(
        r#"{{ image(digest: "ghcr.io/joostvdg/idec@{FIRST_IMAGE}") {{ digest repository tags
            builtBy {{ name status pipeline {{ name }} }} taskRun {{ name pipelineTask }}
            commit {{ sha author authorEmail message timestamp repository {{ url key }} }}
            scans {{ source vulnerabilities {{ critical high medium low unknown total }} unpatched {{ critical }}
                     pipelineRun {{ name }} taskRun {{ name }} }} }} }}"#
    );
    let data = answer_on_all_engines(&seed_facts(), &q).await;
    let image = &data["image"];
    assert_eq!(image["digest"], FIRST_IMAGE);
    assert_eq!(image["repository"], "ghcr.io/joostvdg/idec");
    assert_eq!(image["tags"], json!(["0.1.0"]));
    assert_eq!(image["builtBy"]["name"], "idec-image-builds-run-fb422");
    assert_eq!(image["builtBy"]["status"], "SUCCEEDED");
    assert_eq!(image["builtBy"]["pipeline"]["name"], "idec-image-builds");
    assert_eq!(image["taskRun"]["name"], "idec-image-builds-run-fb422-build-push");
    assert_eq!(image["taskRun"]["pipelineTask"], "build-push");
    assert_eq!(image["commit"]["sha"], "c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f901");
    assert_eq!(image["commit"]["author"], "Joost van der Griendt");
    assert_eq!(image["commit"]["authorEmail"], "me@example.com");
    assert_eq!(image["commit"]["message"], "Initial commit");
    assert_eq!(image["commit"]["repository"]["key"], "github.com/joostvdg/ingress-dns-export-controller");
    // The PipelineRun's summary and its TaskRun's detailed report are one scan; the detailed one wins.
    let scans = image["scans"].as_array().expect("scans");
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(
        scans[0]["vulnerabilities"],
        json!({"critical": 2, "high": 3, "medium": 7, "low": 12, "unknown": 0, "total": 24})
    );
    assert_eq!(scans[0]["source"], "CLAIR_SCAN_RESULT");
    assert_eq!(scans[0]["unpatched"]["critical"], 0);
    assert_eq!(scans[0]["pipelineRun"]["name"], "image-scan-run-7a483");
    assert_eq!(scans[0]["taskRun"]["name"], "image-scan-run-7a483-trivy-scan");
}

#[tokio::test]
async fn unknown_image_and_bad_digest_are_null() {
    let q = r#"{ a: image(digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000") { digest }
                 b: image(digest: "not-a-digest") { digest } }"#;
    let data = answer_on_all_engines(&seed_facts(), q).await;
    assert_eq!(data, json!({"a": null, "b": null}));
}

#[tokio::test]
async fn commit_is_found_under_any_url_spelling() {
    let sha = "0b7e1f3c9a2d4e5f60718293a4b5c6d7e8f90abc";
    for repo in [
        REPO,
        "https://GitHub.com/joostvdg/ingress-dns-export-controller",
        "git@github.com:joostvdg/ingress-dns-export-controller.git",
    ] {
        let q = format!(
            r#"{{ commit(repo: "{repo}", sha: "{sha}") {{ sha message author repository {{ url }}
                 pipelineRuns {{ name status }} images {{ digest }} }} }}"#
        );
        let data = answer_on_all_engines(&seed_facts(), &q).await;
        let commit = &data["commit"];
        assert_eq!(commit["message"], "Bump controller-runtime to v0.19", "{repo}");
        assert_eq!(commit["repository"]["url"], REPO);
        // The failed run and its re-run both built this commit; newest first.
        assert_eq!(
            commit["pipelineRuns"],
            json!([{"name": "idec-image-builds-run-5ca46-r-9f9f7", "status": "SUCCEEDED"},
                   {"name": "idec-image-builds-run-5ca46", "status": "FAILED"}])
        );
        assert_eq!(commit["images"], json!([{"digest": RERUN_IMAGE}]));
    }
}

#[tokio::test]
async fn pipeline_run_fields_tasks_previous_and_rerun() {
    let q = r#"{ pipelineRun(namespace: "idec", name: "idec-image-builds-run-5ca46-r-9f9f7") {
        uid name namespace status reason startTime completionTime durationSeconds pipeline { name }
        params { name value } results { name value }
        taskRuns { name pipelineTask status durationSeconds steps { name digest exitCode } }
        commit { sha } images { digest tags } previous { name status } rerunOf { name status }
        scans { vulnerabilities { critical } } trigger { kind eventListener trigger } } }"#;
    let data = answer_on_all_engines(&seed_facts(), q).await;
    let run = &data["pipelineRun"];
    assert_eq!(run["status"], "SUCCEEDED");
    assert_eq!(run["durationSeconds"], 231.0);
    assert_eq!(run["pipeline"]["name"], "idec-image-builds");
    assert_eq!(run["rerunOf"], json!({"name": "idec-image-builds-run-5ca46", "status": "FAILED"}));
    assert_eq!(run["previous"], json!({"name": "idec-image-builds-run-5ca46", "status": "FAILED"}));
    let tasks: Vec<&str> =
        run["taskRuns"].as_array().unwrap().iter().map(|t| t["pipelineTask"].as_str().unwrap()).collect();
    assert_eq!(tasks, ["build-push", "fetch-source", "unit-test"]);
    assert_eq!(run["images"], json!([{"digest": RERUN_IMAGE, "tags": ["0.3.0"]}]));
    assert_eq!(run["commit"]["sha"], "0b7e1f3c9a2d4e5f60718293a4b5c6d7e8f90abc");
    assert_eq!(run["trigger"], json!({"kind": "manual", "eventListener": null, "trigger": null}));
    let tags = run["params"].as_array().unwrap().iter().find(|p| p["name"] == "tags").unwrap();
    assert_eq!(tags["value"], "0.3.0,latest");
    // The build's own scans are none: scanning happens in a separate pipeline.
    assert_eq!(run["scans"], json!([]));
}

#[tokio::test]
async fn diff_against_previous_run_shows_what_changed() {
    let q = r#"{ diff(namespace: "idec", name: "idec-image-builds-run-5ca46-r-9f9f7") {
        base { name } head { name } commitChanged statusChanged durationDeltaSeconds
        commits { before { sha } after { sha } }
        params { key before after } results { key before after }
        tasks { pipelineTask change statusBefore statusAfter durationDeltaSeconds }
        images { added removed unchanged } scans { before { total } after { critical high total } delta { critical } } } }"#;
    let data = answer_on_all_engines(&seed_facts(), q).await;
    let diff = &data["diff"];
    assert_eq!(diff["base"]["name"], "idec-image-builds-run-5ca46");
    assert_eq!(diff["commitChanged"], false);
    assert_eq!(diff["statusChanged"], true);
    assert_eq!(diff["durationDeltaSeconds"], -22.0);
    assert_eq!(diff["params"], json!([]));
    let result_keys: Vec<&str> =
        diff["results"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    // The re-run was started by hand, and reported its own commit timestamps.
    assert_eq!(result_keys, ["COMMIT_TIMESTAMP", "IMAGE_DIGEST", "IMAGE_URL", "REPO_COMMIT_TIMESTAMP", "TRIGGER"]);
    assert_eq!(diff["results"][1]["before"], Value::Null);
    assert_eq!(diff["results"][1]["after"], RERUN_IMAGE);
    assert_eq!(diff["results"][4], json!({"key": "TRIGGER", "before": "git", "after": "manual"}));
    assert_eq!(
        diff["tasks"],
        json!([
            {"pipelineTask": "build-push", "change": "STATUS_CHANGED", "statusBefore": "FAILED", "statusAfter": "SUCCEEDED", "durationDeltaSeconds": -22.0},
            {"pipelineTask": "fetch-source", "change": "UNCHANGED", "statusBefore": "SUCCEEDED", "statusAfter": "SUCCEEDED", "durationDeltaSeconds": 0.0},
            {"pipelineTask": "unit-test", "change": "ADDED", "statusBefore": null, "statusAfter": "SUCCEEDED", "durationDeltaSeconds": null}
        ])
    );
    assert_eq!(diff["images"], json!({"added": [RERUN_IMAGE], "removed": [], "unchanged": []}));
    assert_eq!(diff["scans"]["before"]["total"], 0);
    assert!(diff["scans"]["after"]["total"].as_i64().unwrap() > 0);
    assert_eq!(diff["scans"]["delta"]["critical"], diff["scans"]["after"]["critical"]);
}

#[tokio::test]
async fn diff_with_explicit_base_and_commit_change() {
    let q = r#"{ diff(namespace: "idec", name: "idec-image-builds-run-4cd23", against: "idec-image-builds-run-fb422") {
        base { name } commitChanged commits { before { sha } after { sha } } params { key before after }
        images { added removed } } }"#;
    let data = answer_on_all_engines(&seed_facts(), q).await;
    let diff = &data["diff"];
    assert_eq!(diff["base"]["name"], "idec-image-builds-run-fb422");
    assert_eq!(diff["commitChanged"], true);
    assert_eq!(diff["commits"]["before"]["sha"], "c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f901");
    let keys: Vec<&str> = diff["params"].as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["revision", "tags"]);
    assert_eq!(diff["images"]["added"].as_array().unwrap().len(), 1);
    assert_eq!(diff["images"]["removed"], json!([FIRST_IMAGE]));
}

#[tokio::test]
async fn diff_of_first_run_has_no_base_and_missing_base_is_an_error() {
    for engine in engines(ProjectionConfig::default()).await {
        engine.store.apply(&seed_facts()).await.unwrap();
        let s = schema(&engine.store);
        let data = query(&s, r#"{ diff(namespace: "idec", name: "idec-image-builds-run-fb422") { base { name } commitChanged tasks { change } } }"#).await;
        assert_eq!(data["diff"]["base"], Value::Null, "{}", engine.name);
        assert_eq!(data["diff"]["commitChanged"], false);
        assert!(data["diff"]["tasks"].as_array().unwrap().iter().all(|t| t["change"] == "ADDED"));
        let err = query_error(
            &s,
            r#"{ diff(namespace: "idec", name: "idec-image-builds-run-fb422", against: "nope") { base { name } } }"#,
        )
        .await;
        assert!(err.contains("idec/nope"), "{err}");
    }
}

#[tokio::test]
async fn pipeline_runs_connection_pages_and_filters() {
    for engine in engines(ProjectionConfig::default()).await {
        engine.store.apply(&seed_facts()).await.unwrap();
        let s = schema(&engine.store);
        let mut names = Vec::new();
        let mut after = String::from("null");
        loop {
            let q = format!(
                r#"{{ pipelineRuns(first: 3, after: {after}, filter: {{ namespace: "idec", pipeline: "idec-image-builds" }}) {{ edges {{ cursor node {{ name }} }} pageInfo {{ hasNextPage endCursor }} }} }}"#
            );
            let data = query(&s, &q).await;
            let conn = &data["pipelineRuns"];
            names.extend(
                conn["edges"].as_array().unwrap().iter().map(|e| e["node"]["name"].as_str().unwrap().to_string()),
            );
            if conn["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = format!("\"{}\"", conn["pageInfo"]["endCursor"].as_str().unwrap());
        }
        assert_eq!(
            names,
            [
                "idec-image-builds-run-4cd23",
                "idec-image-builds-run-5ca46-r-9f9f7",
                "idec-image-builds-run-5ca46",
                "idec-image-builds-run-0e089",
                "idec-image-builds-run-fb422"
            ],
            "{}",
            engine.name
        );
        let failed = query(&s, r#"{ pipelineRuns(filter: { status: FAILED }) { edges { node { name } } } }"#).await;
        assert_eq!(failed["pipelineRuns"]["edges"], json!([{"node": {"name": "idec-image-builds-run-5ca46"}}]));
        let by_repo = query(&s, &format!(r#"{{ pipelineRuns(first: 100, filter: {{ repository: "{REPO}" }}) {{ edges {{ node {{ name }} }} }} }}"#)).await;
        assert_eq!(by_repo["pipelineRuns"]["edges"].as_array().unwrap().len(), 5);
        let window = query(&s, r#"{ pipelineRuns(filter: { since: "2024-05-15T11:00:00Z", until: "2024-05-15T12:00:00Z" }) { edges { node { name } } } }"#).await;
        assert_eq!(
            window["pipelineRuns"]["edges"],
            json!([{"node": {"name": "image-scan-run-77886"}}, {"node": {"name": "idec-image-builds-run-0e089"}}])
        );
        // An EventListener's eventID finds the run it started (the notifier's chain check asks this).
        let started = query(&s, r#"{ pipelineRuns(filter: { triggerEventId: "5b67bcac-35c4-a069-eaea-5326f8c8a2bb" }) { edges { node { name trigger { eventId } } } } }"#).await;
        let edges = started["pipelineRuns"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 1, "{}: {started}", engine.name);
        assert_eq!(edges[0]["node"]["trigger"]["eventId"], "5b67bcac-35c4-a069-eaea-5326f8c8a2bb", "{}", engine.name);
        let none =
            query(&s, r#"{ pipelineRuns(filter: { triggerEventId: "no-such-event" }) { edges { node { name } } } }"#)
                .await;
        assert_eq!(none["pipelineRuns"]["edges"], json!([]), "{}", engine.name);
        let err = query_error(&s, r#"{ pipelineRuns(after: "garbage") { edges { cursor } } }"#).await;
        assert!(err.contains("invalid cursor"), "{err}");
    }
}

#[tokio::test]
async fn lineage_from_image_commit_and_run_is_bounded() {
    let q = format!(
        r#"{{ l1: lineage(ref: "{FIRST_IMAGE}", depth: 1) {{ root nodes {{ id kind }} edges {{ from to kind }} }}
                         l4: lineage(ref: "{FIRST_IMAGE}") {{ nodes {{ id kind label }} edges {{ from to kind }} }}
                         c: lineage(ref: "github.com/joostvdg/ingress-dns-export-controller@c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f901", depth: 1) {{ nodes {{ id }} }}
                         r: lineage(ref: "idec/idec-image-builds-run-fb422", depth: 1) {{ nodes {{ kind }} }} }}"#
    );
    let data = answer_on_all_engines(&seed_facts(), &q).await;
    let ids = |v: &Value| -> Vec<String> {
        v["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_string()).collect()
    };
    let l1 = ids(&data["l1"]);
    assert_eq!(data["l1"]["root"], format!("image:{FIRST_IMAGE}"));
    assert!(l1.contains(&"pipelinerun:idec/idec-image-builds-run-fb422".to_string()), "{l1:?}");
    assert!(l1.contains(&"taskrun:idec/idec-image-builds-run-fb422-build-push".to_string()));
    assert!(l1.iter().any(|id| id.starts_with("scan:idec/image-scan-run-7a483/")));
    assert!(!l1.iter().any(|id| id.starts_with("commit:")), "commit is two hops away: {l1:?}");
    let l4 = ids(&data["l4"]);
    assert!(
        l4.contains(
            &"commit:github.com/joostvdg/ingress-dns-export-controller@c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f901"
                .to_string()
        )
    );
    assert!(l4.contains(&"repository:github.com/joostvdg/ingress-dns-export-controller".to_string()));
    // Edges only connect returned nodes.
    for e in data["l4"]["edges"].as_array().unwrap() {
        assert!(
            l4.contains(&e["from"].as_str().unwrap().to_string())
                && l4.contains(&e["to"].as_str().unwrap().to_string())
        );
    }
    assert!(data["l4"]["edges"].as_array().unwrap().iter().any(|e| e["kind"] == "BUILT_FROM"));
    assert!(ids(&data["c"]).contains(&"pipelinerun:idec/idec-image-builds-run-fb422".to_string()));
    let kinds: Vec<&str> = data["r"]["nodes"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap()).collect();
    for kind in ["Pipeline", "TaskRun", "Commit", "Image", "System", "Trigger"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn lineage_errors_name_the_reference() {
    for engine in engines(ProjectionConfig::default()).await {
        engine.store.apply(&seed_facts()).await.unwrap();
        let s = schema(&engine.store);
        let err = query_error(&s, r#"{ lineage(ref: "???") { root } }"#).await;
        assert!(err.contains("`???` is not a node reference"), "{err}");
        let err = query_error(&s, r#"{ lineage(ref: "idec/does-not-exist") { root } }"#).await;
        assert!(err.contains("pipelinerun:idec/does-not-exist"), "{err}");
    }
}

#[tokio::test]
async fn system_defaults_to_repository_and_follows_a_configured_label() {
    let q = r#"{ system(name: "github.com/joostvdg/ingress-dns-export-controller") { name repositories pipelines pipelineRuns(first: 2) { name } } }"#;
    let data = answer_on_all_engines(&seed_facts(), q).await;
    let system = &data["system"];
    assert_eq!(system["repositories"], json!(["github.com/joostvdg/ingress-dns-export-controller"]));
    assert_eq!(system["pipelines"], json!(["idec/idec-image-builds"]));
    assert_eq!(
        system["pipelineRuns"],
        json!([{"name": "idec-image-builds-run-4cd23"}, {"name": "idec-image-builds-run-5ca46-r-9f9f7"}])
    );

    let labelled: Vec<RunFact> = seed_facts()
        .into_iter()
        .map(|mut f| {
            f.labels.insert("app.kubernetes.io/part-of".into(), "dns".into());
            f
        })
        .collect();
    let config = ProjectionConfig { system_label: Some("app.kubernetes.io/part-of".into()) };
    for engine in engines(config).await {
        engine.store.apply(&labelled).await.unwrap();
        let data = query(&schema(&engine.store), r#"{ system(name: "dns") { pipelines } }"#).await;
        assert_eq!(
            data["system"]["pipelines"],
            json!(["idec/idec-image-builds", "idec/image-scan"]),
            "{}",
            engine.name
        );
    }
}

/// A canonical dump of what a store answers about every run: the run, its lineage, and the stats.
async fn graph_snapshot(store: &std::sync::Arc<dyn graph_service::store::GraphStore>, facts: &[RunFact]) -> Value {
    let s = schema(store);
    let mut keys: Vec<_> = facts.iter().map(|f| f.key()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let field = if key.kind == tekton_graph_schema::RunKind::PipelineRun { "pipelineRun" } else { "taskRun" };
        let prefix = if key.kind == tekton_graph_schema::RunKind::PipelineRun { "pipelinerun" } else { "taskrun" };
        let q = format!(
            r#"{{ run: {field}(namespace: "{ns}", name: "{name}") {{ uid status reason startTime completionTime params {{ name value }} results {{ name value }} images {{ digest tags builtBy {{ name }} scans {{ id critical }} }} commit {{ sha author }} }}
                 lineage(ref: "{prefix}:{ns}/{name}", depth: 2) {{ nodes {{ id label }} edges {{ from to kind }} }} }}"#,
            ns = key.namespace,
            name = key.name
        );
        out.push(query(&s, &q).await);
    }
    out.push(query(&s, "{ stats { pipelineRuns taskRuns nodes edges } }").await);
    Value::Array(out)
}

/// An older observation of a run: still running, lower resource version, no completion or results.
fn older_observation(fact: &RunFact) -> RunFact {
    let mut old = fact.clone();
    old.status.outcome = Outcome::Running;
    old.status.completion_time = None;
    old.status.reason = Some("Running".into());
    old.results.clear();
    old.supply_chain.images.clear();
    old.supply_chain.scans.clear();
    old.resource_version = Some("1".into());
    old
}

#[tokio::test]
async fn order_duplicates_and_stale_observations_do_not_change_the_graph() {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let facts = support::all_fixture_facts();
    let reference = engines(ProjectionConfig::default()).await.remove(0);
    reference.store.apply(&facts).await.unwrap();
    let expected = graph_snapshot(&reference.store, &facts).await;

    let mut noisy: Vec<RunFact> = facts.clone();
    noisy.extend(facts.iter().map(older_observation));
    noisy.extend(facts.iter().take(10).cloned());
    for seed in 0..4u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        noisy.shuffle(&mut rng);
        for engine in engines(ProjectionConfig::default()).await {
            // Apply in uneven batches, including single-fact ones.
            for chunk in noisy.chunks(1 + seed as usize * 7) {
                engine.store.apply(chunk).await.unwrap();
            }
            let got = graph_snapshot(&engine.store, &facts).await;
            assert!(got == expected, "engine {} with shuffle seed {seed} differs from an in-order load", engine.name);
        }
    }
}

/// The store itself joins a run's CDEvent observations, whichever call brings them (as two replicas would, each
/// with one event): nothing one call wrote is lost, in either order, and a repeat adds nothing.
#[tokio::test]
async fn cdevent_observations_of_one_run_are_joined_by_the_store_across_calls() {
    let started = support::cdevent_fact("cdevent-v0.4.1-pipelinerun-started.json");
    let finished = support::cdevent_fact("cdevent-v0.4.1-pipelinerun-finished-failure.json");
    assert!(started.status.start_time.is_some() && finished.status.outcome == Outcome::Failed);
    let joined = tekton_graph_schema::merge::merge_observations(&started, &finished);
    for (first, second) in [(&started, &finished), (&finished, &started)] {
        for engine in engines(ProjectionConfig::default()).await {
            for fact in [first, second] {
                let stats = engine.store.apply(std::slice::from_ref(fact)).await.expect("apply");
                assert_eq!((stats.applied, stats.ignored), (1, 0), "{}: each event adds to the run", engine.name);
            }
            let repeat = engine.store.apply(std::slice::from_ref(first)).await.expect("apply");
            assert_eq!((repeat.applied, repeat.ignored), (0, 1), "{}: a repeat", engine.name);
            let stored = engine.store.facts(&[started.key()]).await.expect("facts").remove(0);
            assert_eq!(stored.as_ref(), Some(&joined), "{}: the join of both events", engine.name);
        }
    }
}

#[tokio::test]
async fn an_older_observation_never_overwrites_a_newer_one() {
    let facts = seed_facts();
    let finished = facts.iter().find(|f| f.name == "idec-image-builds-run-fb422").unwrap().clone();
    for engine in engines(ProjectionConfig::default()).await {
        let first = engine.store.apply(std::slice::from_ref(&finished)).await.unwrap();
        assert_eq!(first.applied, 1);
        let stale = engine.store.apply(&[older_observation(&finished)]).await.unwrap();
        assert_eq!((stale.applied, stale.ignored), (0, 1), "{}", engine.name);
        let repeat = engine.store.apply(std::slice::from_ref(&finished)).await.unwrap();
        assert_eq!((repeat.applied, repeat.ignored), (0, 1));
        let data = query(
            &schema(&engine.store),
            r#"{ pipelineRun(namespace: "idec", name: "idec-image-builds-run-fb422") { status images { digest } } }"#,
        )
        .await;
        assert_eq!(data["pipelineRun"]["status"], "SUCCEEDED");
        assert_eq!(data["pipelineRun"]["images"], json!([{"digest": FIRST_IMAGE}]));
    }
}

#[tokio::test]
async fn a_newer_observation_replaces_the_edges_of_the_older() {
    let facts = seed_facts();
    let finished = facts.iter().find(|f| f.name == "idec-image-builds-run-fb422").unwrap().clone();
    for engine in engines(ProjectionConfig::default()).await {
        engine.store.apply(&[older_observation(&finished)]).await.unwrap();
        let s = schema(&engine.store);
        let before = query(&s, &format!(r#"{{ image(digest: "{FIRST_IMAGE}") {{ digest }} }}"#)).await;
        assert_eq!(before["image"], Value::Null, "running observation produced no image yet");
        engine.store.apply(std::slice::from_ref(&finished)).await.unwrap();
        let after =
            query(&s, &format!(r#"{{ image(digest: "{FIRST_IMAGE}") {{ builtBy {{ name status }} }} }}"#)).await;
        assert_eq!(
            after["image"]["builtBy"],
            json!({"name": "idec-image-builds-run-fb422", "status": "SUCCEEDED"}),
            "{}",
            engine.name
        );
    }
}

#[tokio::test]
async fn every_fixture_loads_and_answers() {
    let facts = support::all_fixture_facts();
    let data = answer_on_all_engines(
        &facts,
        "{ stats { pipelineRuns taskRuns } pipelineRuns(first: 100) { edges { node { namespace name status } } } }",
    )
    .await;
    let prs = facts
        .iter()
        .filter(|f| f.kind == tekton_graph_schema::RunKind::PipelineRun)
        .map(|f| f.key())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(data["stats"]["pipelineRuns"], prs.len());
    assert_eq!(data["pipelineRuns"]["edges"].as_array().unwrap().len(), prs.len());
    // Chains' image build from a real PipelineRun: the image leads back to git.
    let chains = support::fixture_facts("tekton/pipelinerun-v1-chains-build-push-git-image-results-taskruns.json");
    let with_image = chains.iter().find(|f| !f.supply_chain.images.is_empty()).expect("chains fixture has an image");
    let digest = &with_image.supply_chain.images[0].digest;
    let q = format!(r#"{{ image(digest: "{digest}") {{ builtBy {{ name }} commit {{ sha }} }} }}"#);
    let data = answer_on_all_engines(&facts, &q).await;
    assert!(data["image"]["builtBy"]["name"].is_string(), "{data}");
    let sha = with_image.supply_chain.source.as_ref().and_then(|s| s.commit_sha.clone());
    assert_eq!(data["image"]["commit"]["sha"].as_str().map(str::to_string), sha);
}

#[tokio::test]
async fn generated_runs_answer_alike_on_every_engine() {
    use tekton_generate::{GenerateConfig, generate};
    let config = GenerateConfig { pipeline_runs: 60, seed: 11, ..GenerateConfig::default() };
    let facts: Vec<RunFact> = generate(&config)
        .flat_map(|o| tekton_translate::translate_value(&o).expect("generated objects translate"))
        .collect();
    let builds: Vec<&RunFact> = facts
        .iter()
        .filter(|f| f.kind == tekton_graph_schema::RunKind::PipelineRun && !f.supply_chain.images.is_empty())
        .take(8)
        .collect();
    assert!(builds.len() >= 4, "the generated set has builds with images");
    let mut q = String::from("{ stats { pipelineRuns taskRuns nodes edges } ");
    q.push_str(
        "pipelineRuns(first: 50) { edges { cursor node { name status durationSeconds } } pageInfo { hasNextPage } } ",
    );
    for (i, build) in builds.iter().enumerate() {
        let digest = &build.supply_chain.images[0].digest;
        q.push_str(&format!(
            r#"i{i}: image(digest: "{digest}") {{ repository tags builtBy {{ name }} taskRun {{ name }} commit {{ sha author }} scans {{ id critical high }} }}
               d{i}: diff(namespace: "{ns}", name: "{name}") {{ base {{ name }} commitChanged statusChanged durationDeltaSeconds params {{ key before after }} tasks {{ pipelineTask change }} images {{ added removed }} scans {{ delta {{ critical high }} }} }}
               l{i}: lineage(ref: "{digest}", depth: 3) {{ nodes {{ id kind label }} edges {{ from to kind }} }} "#,
            ns = build.namespace,
            name = build.name
        ));
    }
    q.push('}');
    let data = answer_on_all_engines(&facts, &q).await;
    assert_eq!(
        data["stats"]["pipelineRuns"],
        facts.iter().filter(|f| f.kind == tekton_graph_schema::RunKind::PipelineRun).count()
    );
    assert!(data["i0"]["builtBy"]["name"].is_string(), "{}", data["i0"]);
}

#[tokio::test]
async fn outcomes_are_those_of_the_newest_observations() {
    let facts = seed_facts();
    let finished = facts.iter().find(|f| f.name == "idec-image-builds-run-fb422").unwrap().clone();
    let older = older_observation(&finished);
    assert_ne!(older.status.outcome, finished.status.outcome, "the two observations must differ to show a change");
    let mut unknown = finished.key();
    unknown.name.push_str("-never-seen");
    for engine in engines(ProjectionConfig::default()).await {
        let store = &engine.store;
        store.apply(std::slice::from_ref(&older)).await.unwrap();
        let keys = [finished.key(), unknown.clone()];
        assert_eq!(store.outcomes(&keys).await.unwrap(), vec![Some(older.status.outcome), None], "{}", engine.name);
        store.apply(&facts).await.unwrap();
        let keys: Vec<_> = facts.iter().map(RunFact::key).chain([unknown.clone()]).collect();
        let from_facts: Vec<Option<Outcome>> =
            store.facts(&keys).await.unwrap().into_iter().map(|f| f.map(|f| f.status.outcome)).collect();
        assert_eq!(store.outcomes(&keys).await.unwrap(), from_facts, "{}", engine.name);
        assert_eq!(from_facts[0], Some(facts[0].status.outcome));
        assert!(from_facts.contains(&Some(finished.status.outcome)) && from_facts.last() == Some(&None));
    }
}

#[tokio::test]
async fn the_diff_neighbourhood_is_the_walk_through_edges_in_one_call() {
    use graph_service::model::{EdgeKind, NodeId, NodeKind};
    use graph_service::store::neighbourhood;
    use tekton_generate::{GenerateConfig, generate};
    let config = GenerateConfig { pipeline_runs: 40, seed: 5, ..GenerateConfig::default() };
    let facts: Vec<RunFact> = generate(&config)
        .flat_map(|o| tekton_translate::translate_value(&o).expect("generated objects translate"))
        .collect();
    let builds: Vec<NodeId> = facts
        .iter()
        .filter(|f| f.kind == tekton_graph_schema::RunKind::PipelineRun && !f.supply_chain.images.is_empty())
        .map(|f| NodeId::run(&f.key()))
        .take(6)
        .collect();
    assert!(builds.len() >= 4, "the generated set has builds with images");
    let mut answers = Vec::new();
    for engine in engines(ProjectionConfig::default()).await {
        let store = &engine.store;
        store.apply(&facts).await.unwrap();
        for pair in builds.windows(2) {
            let one_call = store.diff_neighbourhood(pair).await.unwrap();
            let walked = neighbourhood::walk(store.as_ref(), pair).await.unwrap();
            assert_eq!(one_call, walked, "{}: {pair:?}", engine.name);
            // Every hop of the walk is there: a TaskRun's image, a scan of it, the run that reported the scan and
            // the commit's runs.
            let has =
                |kind: EdgeKind, from: NodeKind| one_call.iter().any(|e| e.kind == kind && e.from.kind() == Some(from));
            assert!(has(EdgeKind::Produced, NodeKind::TaskRun), "{}: {one_call:?}", engine.name);
            assert!(has(EdgeKind::Scanned, NodeKind::Scan), "{}: {one_call:?}", engine.name);
            assert!(has(EdgeKind::Reported, NodeKind::PipelineRun), "{}: {one_call:?}", engine.name);
            assert!(has(EdgeKind::BuiltFrom, NodeKind::PipelineRun), "{}: {one_call:?}", engine.name);
        }
        assert!(store.diff_neighbourhood(&[]).await.unwrap().is_empty(), "{}", engine.name);
        answers.push(store.diff_neighbourhood(&builds).await.unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "every engine answers alike");
}
