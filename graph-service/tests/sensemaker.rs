//! The Sensemaker against the embedded in-memory store and the real seed fixture (four builds of idec — the third
//! fails and is re-run — each followed by a scan): which events it derives, that they are CDEvents an independent
//! SDK reads, that their GraphQL links answer, de-duplication, retries, and a real HTTP receiver.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cloudevents::{AttributesReader, Data, Event};
use graph_service::model::ProjectionConfig;
use graph_service::sensemaker::rules::{
    ARTIFACT_PUBLISHED, PIPELINERUN_FINISHED, RUN_REGRESSED, VULNERABILITIES_INCREASED, image_purl,
};
use graph_service::sensemaker::{
    Change, EmitError, EmitOutbox, Emitter, OutboxCounts, Sensemaker, SensemakerConfig, emitter_from_url,
};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use serde_json::{Value, json};
use tekton_graph_schema::{Outcome, RunFact, RunKind};

const NS: &str = "idec";
const IMAGE_1: &str = "sha256:b29e0ef986b98535b9cbad3ef3399b2f5dbcfca775f304586e3d5c53f0e6e0e9";
const IMAGE_2: &str = "sha256:9fdc3c53eeee79e8ff22c02804e0b64bb848d449569c5a18ee8f56386ac59a41";
const IMAGE_3: &str = "sha256:542976ed2dad698c0dd3375a3bae2925eb8b61ff9acb822d22f2f07d806f7006";
const IMAGE_4: &str = "sha256:89d338489794809d87f4708ba3d394cc31a2d26eb55a9403aff0a5367c8f856c";
const REPOSITORY: &str = "ghcr.io/joostvdg/idec";

fn test_config() -> SensemakerConfig {
    SensemakerConfig {
        public_url: "https://graph.example.org/".into(),
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..Default::default()
    }
}

fn memory() -> EmitOutbox {
    EmitOutbox::in_memory().expect("in-memory outbox")
}

async fn store_with(facts: &[RunFact]) -> Arc<dyn GraphStore> {
    let store: Arc<dyn GraphStore> = Arc::new(EmbeddedStore::in_memory(ProjectionConfig::default()));
    store.apply(facts).await.expect("apply");
    store
}

fn all_new(facts: &[RunFact]) -> Vec<Change> {
    facts.iter().map(|f| Change { before: None, after: f.clone(), trace: None }).collect()
}

fn data(event: &Event) -> Value {
    match event.data() {
        Some(Data::Json(v)) => v.clone(),
        other => panic!("event {} has no JSON data: {other:?}", event.id()),
    }
}

fn of_type<'a>(events: &'a [Event], ty: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.ty() == ty).collect()
}

fn subjects(events: &[&Event]) -> BTreeSet<String> {
    events.iter().map(|e| e.subject().expect("subject").to_string()).collect()
}

fn seed_run(name: &str) -> RunFact {
    support::seed_facts()
        .into_iter()
        .find(|f| f.kind == RunKind::PipelineRun && f.name == name)
        .unwrap_or_else(|| panic!("no PipelineRun {name} in the seed fixture"))
}

/// The whole fixture learned in one apply: every event kind appears, with the concrete subjects and data.
#[tokio::test]
async fn the_seed_fixture_learned_at_once() {
    let facts = support::seed_facts();
    let store = store_with(&facts).await;
    let sensemaker = Sensemaker::new(test_config(), vec![], memory());
    let events = sensemaker.derive(store.as_ref(), &all_new(&facts)).await.expect("derive");

    let finished = of_type(&events, PIPELINERUN_FINISHED);
    let expected_runs = [
        "idec-image-builds-run-fb422",
        "image-scan-run-7a483",
        "idec-image-builds-run-0e089",
        "image-scan-run-77886",
        "idec-image-builds-run-5ca46",
        "idec-image-builds-run-5ca46-r-9f9f7",
        "image-scan-run-dd611",
        "idec-image-builds-run-4cd23",
        "image-scan-run-eb24b",
    ];
    assert_eq!(subjects(&finished), expected_runs.iter().map(|r| format!("{NS}/{r}")).collect());
    let outcomes: BTreeMap<String, String> = finished
        .iter()
        .map(|e| (e.subject().unwrap().to_string(), data(e)["subject"]["content"]["outcome"].as_str().unwrap().into()))
        .collect();
    assert_eq!(outcomes["idec/idec-image-builds-run-5ca46"], "failure");
    assert_eq!(outcomes.values().filter(|o| *o == "success").count(), expected_runs.len() - 1);
    let failed = finished.iter().find(|e| e.subject() == Some("idec/idec-image-builds-run-5ca46")).unwrap();
    let failed = data(failed);
    assert_eq!(
        failed["subject"]["content"],
        json!({
            "outcome": "failure",
            "pipelineName": "idec-image-builds",
            "url": "https://graph.example.org/graphql",
            "errors": "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1",
        })
    );
    assert_eq!(failed["context"]["version"], "0.4.1");
    assert_eq!(failed["context"]["source"], "/tekton-graph");
    assert_eq!(failed["context"]["timestamp"], "2024-05-15T12:04:13Z");
    assert_eq!(failed["subject"]["type"], "pipelineRun");

    let published = of_type(&events, ARTIFACT_PUBLISHED);
    let purls: BTreeSet<String> =
        [IMAGE_1, IMAGE_2, IMAGE_3, IMAGE_4].iter().map(|d| image_purl(d, Some(REPOSITORY))).collect();
    assert_eq!(subjects(&published), purls, "one event per image though run and TaskRun both report it");
    assert!(purls.contains(&format!("pkg:oci/idec@sha256%3A{}?repository_url={REPOSITORY}", &IMAGE_1[7..])));

    let regressed = of_type(&events, RUN_REGRESSED);
    assert_eq!(regressed.len(), 1, "only the failing third build regressed");
    let regression = data(regressed[0]);
    assert_eq!(regressed[0].subject(), Some("idec/idec-image-builds-run-5ca46"));
    assert_eq!(regression["previous"]["name"], "idec-image-builds-run-0e089");
    assert_eq!(regression["previous"]["outcome"], "Succeeded");
    assert_eq!(regression["run"]["outcome"], "Failed");
    assert_eq!(regression["reasons"], json!(["status"]));
    assert_eq!(regression["durationSeconds"], json!({ "before": 253.0, "after": 253.0 }));

    // Scans: image 1 2C/3H, image 2 1C/4H, image 3 (the re-run's; build 3 made none) 0C/3H, image 4 0C/4H.
    let increased = of_type(&events, VULNERABILITIES_INCREASED);
    let by_image: BTreeMap<String, Value> =
        increased.iter().map(|e| (data(e)["image"]["digest"].as_str().unwrap().to_string(), data(e))).collect();
    assert_eq!(by_image.keys().cloned().collect::<BTreeSet<_>>(), BTreeSet::from([IMAGE_2.into(), IMAGE_4.into()]));
    let second = &by_image[IMAGE_2];
    assert_eq!(second["previousImage"]["digest"], IMAGE_1);
    assert_eq!(second["before"], json!({ "critical": 2, "high": 3, "medium": 7, "low": 12, "unknown": 0 }));
    assert_eq!(second["after"], json!({ "critical": 1, "high": 4, "medium": 7, "low": 12, "unknown": 0 }));
    assert_eq!(second["increased"], json!(["high"]));
    assert_eq!(second["image"]["builtBy"]["name"], "idec-image-builds-run-0e089");
    // Image 4's previous build is the re-run (the failed build has no image to compare with).
    let fourth = &by_image[IMAGE_4];
    assert_eq!(fourth["previousImage"]["digest"], IMAGE_3);
    assert_eq!(fourth["previousImage"]["builtBy"]["name"], "idec-image-builds-run-5ca46-r-9f9f7");
    assert_eq!((fourth["before"]["high"].clone(), fourth["after"]["high"].clone()), (json!(3), json!(4)));
    let diff = fourth["links"].as_array().unwrap().iter().find(|l| l["rel"] == "diff").unwrap()["query"].clone();
    assert!(diff.as_str().unwrap().contains(r#"against: "idec-image-builds-run-5ca46-r-9f9f7""#), "{diff}");
    let fourth_event = increased.iter().find(|e| data(e)["image"]["digest"] == IMAGE_4).unwrap();
    assert_eq!(fourth_event.subject(), Some(image_purl(IMAGE_4, Some(REPOSITORY)).as_str()));

    assert_eq!(events.len(), 9 + 4 + 1 + 2);
    assert_links_answer(&store, &events).await;
    assert_cdevents_parse(&events);
}

/// Every GraphQL link of every event is a valid query that answers on this store.
async fn assert_links_answer(store: &Arc<dyn GraphStore>, events: &[Event]) {
    let schema = support::schema(store);
    for event in events {
        let data = data(event);
        let links = match data.get("customData") {
            Some(custom) => custom["links"].clone(),
            None => data["links"].clone(),
        };
        let links = links.as_array().unwrap_or_else(|| panic!("{} has no links", event.ty())).clone();
        assert!(!links.is_empty());
        for link in links {
            assert_eq!(link["graphql"], "https://graph.example.org/graphql");
            let answer = support::query(&schema, link["query"].as_str().expect("query")).await;
            let root = answer.as_object().and_then(|o| o.values().next()).expect("one root field");
            assert!(!root.is_null(), "{} link {} found nothing", event.ty(), link["rel"]);
        }
    }
}

/// The CDEvents are what the `cdevents-sdk` crate (an independent implementation of the spec) reads.
fn assert_cdevents_parse(events: &[Event]) {
    for event in events.iter().filter(|e| e.ty().starts_with("dev.cdevents.")) {
        let cdevent: cdevents_sdk::CDEvent =
            serde_json::from_value(data(event)).unwrap_or_else(|e| panic!("{} is not a CDEvent: {e}", event.id()));
        assert_eq!(cdevent.ty(), event.ty());
        assert_eq!(cdevent.version(), "0.4.1");
        assert_eq!(cdevent.id().as_str(), event.id());
        assert_eq!(cdevent.subject().id().as_str(), event.subject().unwrap());
    }
}

/// Facts arriving one by one in fixture order imply the same events as the whole fixture at once.
#[tokio::test]
async fn streamed_facts_imply_the_same_events() {
    let facts = support::seed_facts();
    let batch = {
        let store = store_with(&facts).await;
        Sensemaker::new(test_config(), vec![], memory()).derive(store.as_ref(), &all_new(&facts)).await.expect("derive")
    };
    let store = store_with(&[]).await;
    let sensemaker = Sensemaker::new(test_config(), vec![], memory());
    let mut streamed = BTreeSet::new();
    for fact in &facts {
        let before = store.facts(&[fact.key()]).await.expect("facts").pop().flatten();
        if store.apply(std::slice::from_ref(fact)).await.expect("apply").applied == 0 {
            continue;
        }
        let change = Change { before, after: fact.clone(), trace: None };
        let events = sensemaker.derive(store.as_ref(), &[change]).await.expect("derive");
        streamed.extend(events.iter().map(|e| e.id().to_string()));
    }
    assert_eq!(streamed, batch.iter().map(|e| e.id().to_string()).collect::<BTreeSet<_>>());
}

#[tokio::test]
async fn finished_once_when_a_run_becomes_final() {
    let facts = support::seed_facts();
    let store = store_with(&facts).await;
    let sensemaker = Sensemaker::new(test_config(), vec![], memory());
    let done = seed_run("idec-image-builds-run-fb422");
    let mut running = done.clone();
    running.status.outcome = Outcome::Running;
    running.status.completion_time = None;
    running.supply_chain.images.clear();

    let change = Change { before: Some(running), after: done.clone(), trace: None };
    let events = sensemaker.derive(store.as_ref(), &[change]).await.expect("derive");
    let types: Vec<&str> = events.iter().map(|e| e.ty()).collect();
    assert_eq!(types, vec![PIPELINERUN_FINISHED, ARTIFACT_PUBLISHED], "the first build has no previous run");

    // A later observation of the finished run (seen deleted from the cluster) implies nothing new.
    let mut deleted = done.clone();
    deleted.deleted_at = "2024-05-16T00:00:00Z".parse().ok();
    let change = Change { before: Some(done), after: deleted, trace: None };
    assert!(sensemaker.derive(store.as_ref(), &[change]).await.expect("derive").is_empty());
}

#[tokio::test]
async fn a_slow_run_is_a_duration_regression() {
    let facts = support::seed_facts();
    let store = store_with(&facts).await;
    let mut slow = seed_run("idec-image-builds-run-4cd23");
    slow.name = "idec-image-builds-run-slow1".into();
    slow.uid = Some("slow1".into());
    slow.children.clear();
    slow.supply_chain.images.clear();
    slow.status.start_time = "2024-05-15T14:00:00Z".parse().ok();
    slow.status.completion_time = "2024-05-15T14:10:00Z".parse().ok();
    store.apply(std::slice::from_ref(&slow)).await.expect("apply");

    let sensemaker = Sensemaker::new(test_config(), vec![], memory());
    let events = sensemaker.derive(store.as_ref(), &all_new(std::slice::from_ref(&slow))).await.expect("derive");
    let regressed = of_type(&events, RUN_REGRESSED);
    assert_eq!(regressed.len(), 1);
    let data = data(regressed[0]);
    assert_eq!(data["reasons"], json!(["duration"]));
    assert_eq!(data["previous"]["name"], "idec-image-builds-run-4cd23");
    assert_eq!(data["durationSeconds"], json!({ "before": 253.0, "after": 600.0 }));

    // The next run is compared with the slow one: faster, no regression.
    let mut bit_slower = slow_variant(&slow, "2024-05-15T15:00:00Z", "2024-05-15T15:06:00Z");
    bit_slower.name = "idec-image-builds-run-slow2".into();
    store.apply(std::slice::from_ref(&bit_slower)).await.expect("apply");
    let events = sensemaker.derive(store.as_ref(), &all_new(&[bit_slower])).await.expect("derive");
    assert!(of_type(&events, RUN_REGRESSED).is_empty(), "360 s after 600 s is faster");
}

fn slow_variant(run: &RunFact, start: &str, end: &str) -> RunFact {
    let mut run = run.clone();
    run.status.start_time = start.parse().ok();
    run.status.completion_time = end.parse().ok();
    run
}

/// A critical finding appearing in a re-scan of the newest image is an increase of both severities.
#[tokio::test]
async fn a_rescan_with_more_findings_is_an_increase() {
    let facts = support::seed_facts();
    let store = store_with(&facts).await;
    let mut rescan = seed_run("image-scan-run-eb24b");
    rescan.name = "image-scan-run-rescan".into();
    rescan.children.clear();
    rescan.status.start_time = "2024-05-16T08:00:00Z".parse().ok();
    rescan.status.completion_time = "2024-05-16T08:01:00Z".parse().ok();
    for scan in &mut rescan.supply_chain.scans {
        scan.critical = 1;
        scan.high = 6;
    }
    assert!(rescan.supply_chain.scans.iter().any(|s| s.image_digest.as_deref() == Some(IMAGE_4)));
    store.apply(std::slice::from_ref(&rescan)).await.expect("apply");

    let events = Sensemaker::new(test_config(), vec![], memory())
        .derive(store.as_ref(), &all_new(&[rescan]))
        .await
        .expect("derive");
    let increased = of_type(&events, VULNERABILITIES_INCREASED);
    assert_eq!(increased.len(), 1);
    let data = data(increased[0]);
    assert_eq!(data["increased"], json!(["critical", "high"]));
    assert_eq!((data["after"]["critical"].clone(), data["after"]["high"].clone()), (json!(1), json!(6)));
    assert_eq!(data["previousImage"]["digest"], IMAGE_3);
    assert_eq!(increased[0].time().map(|t| t.to_rfc3339()), Some("2024-05-16T08:01:00+00:00".into()));
}

/// Records what it is sent; fails the first `fail_first` calls with `failure`.
struct Recorder {
    events: Mutex<Vec<Event>>,
    calls: AtomicUsize,
    /// How many calls were made, for waiting on them.
    tried: tokio::sync::watch::Sender<usize>,
    fail_first: usize,
    failure: fn() -> EmitError,
}

impl Recorder {
    fn new(fail_first: usize, failure: fn() -> EmitError) -> Arc<Self> {
        let tried = tokio::sync::watch::channel(0).0;
        Arc::new(Recorder { events: Mutex::new(Vec::new()), calls: AtomicUsize::new(0), tried, fail_first, failure })
    }
}

/// The emitter handed to the Sensemaker; the test keeps another handle to look at what it got.
struct Shared(Arc<Recorder>);

#[async_trait]
impl Emitter for Shared {
    async fn emit(&self, events: &[Event]) -> Result<(), EmitError> {
        let this = &self.0;
        let call = this.calls.fetch_add(1, Ordering::SeqCst);
        this.tried.send_replace(call + 1);
        if call < this.fail_first {
            return Err((this.failure)());
        }
        this.events.lock().unwrap().extend_from_slice(events);
        Ok(())
    }

    fn describe(&self) -> String {
        "recorder".into()
    }
}

#[tokio::test]
async fn repeated_changes_are_sent_once_with_stable_ids() {
    let facts = support::seed_facts();
    let store = store_with(&facts).await;
    let changes = all_new(&facts);
    let recorder = Recorder::new(0, || EmitError::Transport("unused".into()));
    let sensemaker = Sensemaker::new(test_config(), vec![Box::new(Shared(recorder.clone()))], memory());

    let first = sensemaker.derive(store.as_ref(), &changes).await.expect("derive");
    assert_eq!(first, sensemaker.derive(store.as_ref(), &changes).await.expect("derive"), "deterministic");
    assert_eq!(sensemaker.observe(store.as_ref(), &changes).await.expect("observe"), first.len());
    assert_eq!(sensemaker.observe(store.as_ref(), &changes).await.expect("observe"), 0, "recently sent");
    sensemaker.flush().await.expect("flush");
    let sent = recorder.events.lock().unwrap().clone();
    assert_eq!(sent, first);

    // Another process (no memory of what was sent) derives the same ids: consumers can de-duplicate.
    let other = Sensemaker::new(test_config(), vec![], memory());
    let ids = |events: &[Event]| events.iter().map(|e| e.id().to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&other.derive(store.as_ref(), &changes).await.expect("derive")), ids(&first));
}

#[tokio::test]
async fn transient_failures_are_retried_until_sent_and_permanent_refusals_kept_with_the_reason() {
    let facts = support::seed_facts();
    let store = store_with(&facts).await;
    let changes = all_new(&facts[..1]);

    let flaky = Recorder::new(2, || EmitError::Rejected { status: 503, body: "busy".into() });
    let sensemaker = Sensemaker::new(test_config(), vec![Box::new(Shared(flaky.clone()))], memory());
    assert_eq!(sensemaker.observe(store.as_ref(), &changes).await.expect("observe"), 2);
    sensemaker.flush().await.expect("flush");
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 3, "two 503s, then the batch went through");
    assert_eq!(flaky.events.lock().unwrap().len(), 2);
    assert_eq!(sensemaker.outbox().counts().expect("counts"), OutboxCounts::default());

    let refusing = Recorder::new(usize::MAX, || EmitError::Rejected { status: 400, body: "no".into() });
    let sensemaker = Sensemaker::new(test_config(), vec![Box::new(Shared(refusing.clone()))], memory());
    assert_eq!(sensemaker.observe(store.as_ref(), &changes).await.expect("ingest does not fail"), 2);
    sensemaker.flush().await.expect("flush");
    assert_eq!(refusing.calls.load(Ordering::SeqCst), 3, "the batch once, then each event alone; no retries");
    let dead = sensemaker.outbox().dead("recorder").expect("dead");
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.iter().all(|d| d.reason.contains("400") && d.reason.contains("no")), "{dead:?}");
    assert_eq!(sensemaker.outbox().counts().expect("counts").pending, 0);
}

/// The outbox outlives the process: events queued while the sink was down are sent by the next process, and an
/// intent a crash left between apply and events is settled only when its apply happened.
#[tokio::test]
async fn the_outbox_survives_a_restart_and_recovers_intents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("emit-outbox.redb");
    let facts = support::seed_facts();
    let store = store_with(&facts).await;
    let changes = all_new(&facts);

    let down = Recorder::new(usize::MAX, || EmitError::Transport("connection refused".into()));
    let sensemaker =
        Sensemaker::new(test_config(), vec![Box::new(Shared(down.clone()))], EmitOutbox::open(&path).unwrap());
    let expected = sensemaker.derive(store.as_ref(), &changes[..4]).await.expect("derive");
    assert_eq!(sensemaker.observe(store.as_ref(), &changes[..4]).await.expect("observe"), expected.len());
    // A crash after the intent of an apply that happened (the seed facts are stored) and of one that did not.
    sensemaker.intend(&changes[4..6]).await.expect("intend").expect("an intent");
    let mut never = changes[6].clone();
    never.after.deleted_at = Some(chrono::Utc::now()); // newer than what the store holds: never applied
    sensemaker.intend(&[never.clone()]).await.expect("intend");
    // The sink was tried, and retried, while down.
    let mut tried = down.tried.subscribe();
    tokio::time::timeout(Duration::from_secs(30), tried.wait_for(|calls| *calls >= 2))
        .await
        .expect("in time")
        .expect("tried twice");
    sensemaker.stop().await;
    assert!(down.events.lock().unwrap().is_empty());

    let up = Recorder::new(0, || EmitError::Transport("unused".into()));
    let sensemaker =
        Sensemaker::new(test_config(), vec![Box::new(Shared(up.clone()))], EmitOutbox::open(&path).unwrap());
    let recovered = sensemaker.recover(store.as_ref()).await.expect("recover");
    let from_intent = sensemaker.derive(store.as_ref(), &changes[4..6]).await.expect("derive");
    assert_eq!(recovered, from_intent.len());
    sensemaker.flush().await.expect("flush");
    let ids = |events: &[Event]| events.iter().map(|e| e.id().to_string()).collect::<BTreeSet<_>>();
    let mut wanted = ids(&expected);
    wanted.extend(ids(&from_intent));
    assert_eq!(ids(&up.events.lock().unwrap()), wanted, "the queued events and the applied intent's, not the other");
    assert_eq!(sensemaker.outbox().counts().expect("counts"), OutboxCounts::default(), "both intents are gone");
}

/// A real HTTP receiver that refuses the first request with 503 and records the accepted ones.
#[tokio::test]
async fn the_http_emitter_posts_structured_events() {
    use poem::http::StatusCode;
    use poem::listener::{Acceptor, Listener, TcpListener};
    use poem::web::Data as PoemData;
    use poem::{EndpointExt, Request, Route, handler, post};

    type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    #[handler]
    async fn receive(
        req: &Request,
        body: Vec<u8>,
        received: PoemData<&Received>,
        hits: PoemData<&Arc<AtomicUsize>>,
    ) -> StatusCode {
        if hits.fetch_add(1, Ordering::SeqCst) == 0 {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let content_type = req.content_type().unwrap_or_default().to_string();
        received.lock().unwrap().push((content_type, body));
        StatusCode::ACCEPTED
    }

    let received: Received = Arc::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Route::new().at("/events", post(receive)).data(received.clone()).data(hits.clone());
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("socket address");
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));

    let facts = support::seed_facts();
    let store = store_with(&facts).await;
    let changes = all_new(&facts);
    let emitter = emitter_from_url(&format!("http://{addr}/events"), &[]).expect("emitter");
    assert_eq!(emitter.describe(), format!("http://{addr}/events"));
    let sensemaker = Sensemaker::new(test_config(), vec![emitter], memory());
    let expected = sensemaker.derive(store.as_ref(), &changes).await.expect("derive");
    let sent = sensemaker.observe(store.as_ref(), &changes).await.expect("observe");
    tokio::time::timeout(Duration::from_secs(30), sensemaker.flush()).await.expect("in time").expect("flush");
    server.abort();

    assert_eq!(sent, expected.len());
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), expected.len(), "one POST per event, after the refused first try");
    let events: Vec<Event> = received
        .iter()
        .map(|(content_type, body)| {
            assert_eq!(content_type, "application/cloudevents+json");
            serde_json::from_slice(body).expect("a structured CloudEvent")
        })
        .collect();
    assert_eq!(events, expected);
}

/// `GET /emit/outbox` shows an operator what the emitters could not deliver, with the receiver's answer; it is for
/// admins only (dead events hold every tenant's runs).
#[tokio::test]
async fn dead_events_are_listed_for_admins_only() {
    use graph_service::auth::{Authenticator, StaticTokens};
    use graph_service::ingest::Ingestor;
    use graph_service::server::{AppConfig, app_with_config};
    use poem::http::StatusCode;
    use poem::test::TestClient;

    let facts = support::seed_facts();
    let store = store_with(&facts).await;
    let refusing = Recorder::new(usize::MAX, || EmitError::Rejected { status: 422, body: "unknown type".into() });
    let sensemaker = Sensemaker::new(test_config(), vec![Box::new(Shared(refusing.clone()))], memory());
    assert_eq!(sensemaker.observe(store.as_ref(), &all_new(&facts[..1])).await.expect("observe"), 2);
    sensemaker.flush().await.expect("flush");

    let tokens = StaticTokens::parse("viewer-token-0000000001 viewer ops\nadmin-token-00000000001 admin root\n")
        .expect("tokens");
    let authenticator = Authenticator { tokens: Some(tokens), ..Authenticator::default() };
    let config = AppConfig { authenticator: Some(Arc::new(authenticator)), ..AppConfig::default() };
    let ingestor = Arc::new(Ingestor::new(store.clone()).with_sensemaker(sensemaker));
    let client = TestClient::new(app_with_config(ingestor, config));
    let get = |token: &'static str, query: &'static str| {
        let client = &client;
        async move {
            let response = client
                .get(format!("/emit/outbox{query}"))
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await;
            let status = response.0.status();
            (status, response.0.into_body().into_string().await.expect("body"))
        }
    };
    assert_eq!(get("viewer-token-0000000001", "").await.0, StatusCode::FORBIDDEN, "a viewer may not read them");
    let (status, body) = get("admin-token-00000000001", "?limit=1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["dead"], 2, "{body}");
    assert_eq!(body["pending"], 0);
    let listed = body["sinks"][0]["dead"].as_array().expect("dead events");
    assert_eq!((body["sinks"][0]["sink"].as_str(), listed.len()), (Some("recorder"), 1), "limit 1: {body}");
    assert!(listed[0]["reason"].as_str().is_some_and(|r| r.contains("422") && r.contains("unknown type")), "{body}");
    assert!(listed[0]["event"]["id"].is_string(), "the event itself, to replay: {body}");
    let (status, body) = get("admin-token-00000000001", "?limit=0").await;
    assert_eq!((status, body.as_str()), (StatusCode::BAD_REQUEST, "`limit` must be 1–1000, not 0"));
}
