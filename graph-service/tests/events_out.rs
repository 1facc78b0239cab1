//! Events out, end to end: facts posted to `POST /events` of a graph-service whose ingestor has a sensemaker
//! emitting to a real HTTP receiver, on every engine. A repeat of the same facts emits nothing new.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cloudevents::{AttributesReader, Event};
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::sensemaker::{EmitOutbox, Sensemaker, SensemakerConfig, emitter_from_url};
use graph_service::server::app_with;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::test::TestClient;
use poem::web::Data;
use poem::{EndpointExt, Route, handler, post};
use serde_json::Value;
use tekton_graph_schema::envelope::{STRUCTURED_CONTENT_TYPE, to_cloudevent};

type Received = Arc<Mutex<Vec<Event>>>;

#[handler]
fn receive(body: Vec<u8>, received: Data<&Received>) -> StatusCode {
    match serde_json::from_slice::<Event>(&body) {
        Ok(event) => {
            received.lock().expect("lock").push(event);
            StatusCode::ACCEPTED
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

/// A CloudEvents receiver on a free port: its `/events` URL and what it got.
async fn receiver() -> (String, Received, tokio::task::JoinHandle<std::io::Result<()>>) {
    let received: Received = Arc::default();
    let app = Route::new().at("/events", post(receive)).data(received.clone());
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("socket address");
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}/events"), received, server)
}

fn count_by_type(events: &[Event]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for event in events {
        *counts.entry(event.ty().to_string()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn what_the_graph_learns_is_emitted_once() {
    let facts = support::seed_facts();
    let mut answers = Vec::new();
    for engine in support::engines(ProjectionConfig::default()).await {
        let (url, received, server) = receiver().await;
        let emitter = emitter_from_url(&url, &[]).expect("HTTP emitter");
        let outbox = EmitOutbox::in_memory().expect("outbox");
        let sensemaker = Sensemaker::new(SensemakerConfig::default(), vec![emitter], outbox);
        let ingestor = Arc::new(Ingestor::new(engine.store.clone()).with_sensemaker(sensemaker));
        let cli = TestClient::new(app_with(ingestor.clone()).map_to_response());

        // One fact per request, as a watch delivers them.
        let mut emitted = 0;
        for fact in &facts {
            let event = serde_json::to_vec(&to_cloudevent(fact).expect("event")).expect("JSON");
            let resp = cli.post("/events").content_type(STRUCTURED_CONTENT_TYPE).body(event).send().await;
            resp.assert_status(StatusCode::ACCEPTED);
            let report: Value =
                serde_json::from_str(&resp.0.into_body().into_string().await.expect("body")).expect("report");
            emitted += report["emitted"].as_u64().expect("emitted count");
        }
        ingestor.sensemaker().expect("a sensemaker").flush().await.expect("all sent");
        let first = received.lock().expect("lock").clone();
        assert_eq!(first.len() as u64, emitted, "{}: the report counts what the receiver got", engine.name);
        let counts = count_by_type(&first);
        assert_eq!(counts.get("dev.cdevents.pipelinerun.finished.0.2.0"), Some(&9), "{}: {counts:?}", engine.name);
        assert_eq!(counts.get("dev.cdevents.artifact.published.0.2.0"), Some(&4), "{}: {counts:?}", engine.name);
        assert_eq!(counts.get("dev.tektongraph.run.regressed.v1"), Some(&1), "{}: {counts:?}", engine.name);
        let regressed = first.iter().find(|e| e.ty() == "dev.tektongraph.run.regressed.v1").expect("regression");
        assert_eq!(regressed.subject(), Some("idec/idec-image-builds-run-5ca46"), "{}", engine.name);

        // The same facts again: the store ignores them, so nothing is emitted.
        for fact in &facts {
            let event = serde_json::to_vec(&to_cloudevent(fact).expect("event")).expect("JSON");
            cli.post("/events")
                .content_type(STRUCTURED_CONTENT_TYPE)
                .body(event)
                .send()
                .await
                .assert_status(StatusCode::ACCEPTED);
        }
        ingestor.sensemaker().expect("a sensemaker").flush().await.expect("all sent");
        assert_eq!(received.lock().expect("lock").len(), first.len(), "{}: a repeat emits nothing", engine.name);
        server.abort();
        let mut ids: Vec<String> = first.iter().map(|e| e.id().to_string()).collect();
        ids.sort();
        answers.push((engine.name, ids));
    }
    for (name, ids) in &answers[1..] {
        assert_eq!(ids, &answers[0].1, "{name} emitted other events than {}", answers[0].0);
    }
}
