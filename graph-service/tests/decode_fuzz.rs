//! The event decoders against generated hostile input: real events (our facts, Tekton's CloudEvents, CDEvents)
//! mutated at the byte and at the JSON level, through every way in (HTTP structured, binary and batch mode, Kafka
//! structured and binary). No input may panic, and every refusal must be an error that says something.
//! `FUZZ_INPUTS` sets how many (default 1 000 000, spread over the cores); `FUZZ_SEED` the seed.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;

use graph_service::ingest::{DecodeOptions, IngestError, decode_http, decode_kafka};
use http::{HeaderMap, HeaderValue};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tekton_graph_schema::envelope::{BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE, to_cloudevent};

mod support;

/// Valid structured-mode events to start from.
fn seeds() -> Vec<Value> {
    let mut out: Vec<Value> = support::all_fixture_facts()
        .iter()
        .take(12)
        .map(|f| serde_json::to_value(to_cloudevent(f).expect("event")).expect("json"))
        .collect();
    let dir = support::testdata().join("cdevents");
    for entry in std::fs::read_dir(&dir).expect("cdevents fixtures") {
        let body: Value =
            serde_json::from_slice(&std::fs::read(entry.expect("entry").path()).expect("read")).expect("json");
        let context = &body["context"];
        out.push(json!({
            "specversion": "1.0", "id": context["id"], "source": context["source"], "type": context["type"],
            "datacontenttype": "application/json", "data": body,
        }));
    }
    out
}

const STRINGS: &[&str] = &[
    "",
    "abcdefgé",
    "sha256:",
    "sha256:zz",
    "../../etc/passwd",
    "\u{0}",
    "\u{202e}evil",
    "😀😀😀",
    "-",
    "a b",
    "dev.tektongraph.fact.pipelinerun.v1",
    "dev.tekton.event.pipelinerun.successful.v1",
    "dev.cdevents.pipelinerun.finished.0.4.1",
    "9999999999999999999999",
    "NaN",
    "{",
    "[",
    "null",
];

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..9) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>() * 1e300),
        4 => json!(STRINGS[rng.random_range(0..STRINGS.len())]),
        5 => json!("é".repeat(rng.random_range(0..300))),
        6 if depth < 40 => json!([random_value(rng, depth + 1), random_value(rng, depth + 1)]),
        7 if depth < 40 => json!({ "k": random_value(rng, depth + 1) }),
        _ => json!("x".repeat(rng.random_range(0..10))),
    }
}

/// Replaces, deletes or nests one value somewhere in the document.
fn mutate_json(value: &mut Value, rng: &mut StdRng, depth: u32) {
    let stop = depth > 6 || rng.random_range(0..4) == 0;
    match value {
        Value::Object(map) if !map.is_empty() && !stop => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.random_range(0..keys.len())];
            match rng.random_range(0..6) {
                0 => {
                    map.remove(key);
                }
                1 => {
                    map.insert(key.clone(), random_value(rng, 0));
                }
                _ => mutate_json(map.get_mut(key).expect("key"), rng, depth + 1),
            }
        }
        Value::Array(items) if !items.is_empty() && !stop => {
            let i = rng.random_range(0..items.len());
            match rng.random_range(0..4) {
                0 => {
                    items.remove(i);
                }
                1 => items.push(items[i].clone()),
                _ => mutate_json(&mut items[i], rng, depth + 1),
            }
        }
        other => *other = random_value(rng, 0),
    }
}

fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut StdRng) {
    for _ in 0..rng.random_range(1..4) {
        if bytes.is_empty() {
            bytes.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..bytes.len());
        match rng.random_range(0..4) {
            0 => bytes[at] = rng.random(),
            1 => bytes.truncate(at),
            2 => bytes.insert(at, *b"{}[]\",:\\\xff\x00".get(rng.random_range(0..11)).unwrap_or(&b'x')),
            _ => {
                bytes.remove(at);
            }
        }
    }
}

/// Sends one input through one way in; a panic propagates to the caller.
fn decode_once(event: &Value, bytes: &[u8], way: u8) -> Result<(), IngestError> {
    let options = DecodeOptions::default();
    match way {
        0 => {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static(STRUCTURED_CONTENT_TYPE));
            decode_http(&headers, bytes.to_vec(), options).map(drop)
        }
        1 => {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static(BATCH_CONTENT_TYPE));
            let mut batch = b"[".to_vec();
            batch.extend_from_slice(bytes);
            batch.push(b']');
            decode_http(&headers, batch, options).map(drop)
        }
        2 => {
            // Binary mode: attributes in ce- headers (mutated as strings), the data as the body.
            let mut headers = HeaderMap::new();
            for attr in ["specversion", "id", "source", "type"] {
                let v = event[attr].as_str().map(String::from).unwrap_or_else(|| event[attr].to_string());
                if let Ok(v) = HeaderValue::from_str(&v) {
                    headers.insert(
                        http::HeaderName::from_static(match attr {
                            "specversion" => "ce-specversion",
                            "id" => "ce-id",
                            "source" => "ce-source",
                            _ => "ce-type",
                        }),
                        v,
                    );
                }
            }
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            let data = serde_json::to_vec(&event["data"]).unwrap_or_default();
            decode_http(&headers, data, options).map(drop)
        }
        3 => decode_kafka(&[("content-type", STRUCTURED_CONTENT_TYPE.as_bytes())], bytes, options).map(drop),
        _ => {
            let ty = event["type"].as_str().unwrap_or("x").as_bytes().to_vec();
            let id = event["id"].as_str().unwrap_or("x").as_bytes().to_vec();
            let headers = [
                ("ce_specversion", b"1.0".as_slice()),
                ("ce_id", id.as_slice()),
                ("ce_source", b"/fuzz".as_slice()),
                ("ce_type", ty.as_slice()),
            ];
            let data = serde_json::to_vec(&event["data"]).unwrap_or_default();
            decode_kafka(&headers, &data, options).map(drop)
        }
    }
}

/// Runs `count` generated inputs from `seed`; returns refusals by kind.
fn run(seeds: &[Value], count: usize, seed: u64) -> BTreeMap<String, usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..count {
        let mut event = seeds[rng.random_range(0..seeds.len())].clone();
        for _ in 0..rng.random_range(1..4) {
            mutate_json(&mut event, &mut rng, 0);
        }
        let mut bytes = serde_json::to_vec(&event).expect("json");
        if rng.random_range(0..3) == 0 {
            mutate_bytes(&mut bytes, &mut rng);
        }
        let way = rng.random_range(0..5u8);
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| decode_once(&event, &bytes, way)));
        match outcome {
            Err(_) => panic!(
                "input {i} (seed {seed}, way {way}) panicked the decoder: {}",
                String::from_utf8_lossy(&bytes).chars().take(2000).collect::<String>()
            ),
            Ok(Err(e)) => {
                let message = e.to_string();
                assert!(message.trim().len() >= 10, "input {i}: a refusal must say why, got {message:?}");
                // Group by the reason, without the event's own id and type.
                let reason = message.rsplit("`: ").next().unwrap_or(&message);
                let kind = reason.split(':').next().unwrap_or_default().chars().take(48).collect::<String>();
                *refusals.entry(kind).or_default() += 1;
            }
            Ok(Ok(())) => *refusals.entry("accepted".into()).or_default() += 1,
        }
    }
    refusals
}

#[test]
fn a_million_hostile_events_never_panic_the_decoders() {
    let count: usize = std::env::var("FUZZ_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20261201);
    let seeds = seeds();
    assert!(seeds.len() > 15, "{} seed events", seeds.len());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(1);
    let per_thread = count.div_ceil(threads);
    let results: Vec<BTreeMap<String, usize>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let seeds = &seeds;
                scope.spawn(move || run(seeds, per_thread, seed + t as u64))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    let mut total: BTreeMap<String, usize> = BTreeMap::new();
    for result in results {
        for (kind, n) in result {
            *total.entry(kind).or_default() += n;
        }
    }
    let inputs: usize = total.values().sum();
    eprintln!("{inputs} inputs: {total:#?}");
    assert!(inputs >= count, "{inputs} < {count}");
    // The mutations must exercise both sides: some inputs still decode, most are refused.
    let accepted = total.get("accepted").copied().unwrap_or(0);
    assert!(accepted > 0 && accepted < inputs, "accepted {accepted} of {inputs}");
}
