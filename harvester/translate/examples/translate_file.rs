//! Prints the facts translated from a file as pretty JSON, one document after another.
//!
//! ```sh
//! cargo run -p tekton-translate --example translate_file -- testdata/tekton/taskrun-v1-lighthouse-succeeded-steps.yaml
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: translate_file PATH");
        return ExitCode::FAILURE;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for (index, document) in tekton_translate::parse_documents(&text).into_iter().enumerate() {
        let facts = document.map_err(|e| e.to_string()).and_then(|doc| {
            tekton_translate::translate_value(&doc).map_err(|e| format!("document {}: {e}", index + 1))
        });
        match facts {
            Ok(facts) => facts.iter().for_each(|f| println!("{}", serde_json::to_string_pretty(f).unwrap_or_default())),
            Err(reason) => {
                eprintln!("error: {path}: {reason}");
                failed = true;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
