//! Helpers shared by the integration tests: reading the fixtures in `testdata/`.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use tekton_graph_schema::{RunFact, RunKind};

/// The fixture folders, relative to the workspace's `testdata/`.
pub const FIXTURE_DIRS: &[&str] = &["tekton", "seed-conventions", "cloudevents"];

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Every fixture file, as `dir/file`, sorted.
pub fn fixture_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in FIXTURE_DIRS {
        let entries = std::fs::read_dir(testdata().join(dir)).expect("fixture folder exists");
        for entry in entries {
            let name = entry.expect("readable folder").file_name().to_string_lossy().into_owned();
            files.push(format!("{dir}/{name}"));
        }
    }
    files.sort();
    files
}

/// All facts of a fixture file; panics with the reason if any document fails.
pub fn facts(file: &str) -> Vec<RunFact> {
    let text = std::fs::read_to_string(testdata().join(file)).expect("fixture is readable");
    let mut facts = Vec::new();
    for (i, document) in tekton_translate::parse_documents(&text).into_iter().enumerate() {
        let document = document.unwrap_or_else(|e| panic!("{file}: {e}"));
        let translated = tekton_translate::translate_value(&document);
        facts.extend(translated.unwrap_or_else(|e| panic!("{file}: document {}: {e}", i + 1)));
    }
    facts
}

/// The only fact of a fixture file.
pub fn single(file: &str) -> RunFact {
    let mut all = facts(file);
    assert_eq!(all.len(), 1, "{file}: expected one fact");
    all.remove(0)
}

pub fn find<'a>(facts: &'a [RunFact], kind: RunKind, name: &str) -> &'a RunFact {
    facts.iter().find(|f| f.kind == kind && f.name == name).unwrap_or_else(|| panic!("no {kind:?} {name}"))
}

pub fn time(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().expect("test time is RFC 3339")
}
