//! Splitting a file's text into documents.
//!
//! Files in the wild hold one JSON object, a JSON array, several concatenated JSON values (`kubectl get -w -o json`)
//! or multi-document YAML. JSON is tried first when the text starts like JSON, because serde_json's error messages
//! (line and column of the first bad byte) are more useful than YAML's for a file that was meant to be JSON.

use serde::Deserialize;
use serde_json::Value;

use crate::error::DocumentError;

/// Splits `text` into its documents. Empty documents (blank text, a stray `---`, a YAML `null`) are skipped, so
/// document numbers in errors count non-empty documents from 1. A syntax error ends the file: neither parser can
/// find the start of the next document after one.
pub fn parse_documents(text: &str) -> Vec<Result<Value, DocumentError>> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') { parse_json_stream(trimmed) } else { parse_yaml(trimmed) }
}

fn parse_json_stream(text: &str) -> Vec<Result<Value, DocumentError>> {
    let mut documents = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let document = documents.len() + 1;
        match value {
            Ok(Value::Null) => {}
            Ok(value) => documents.push(Ok(value)),
            Err(e) => {
                documents.push(Err(DocumentError::Json { document, reason: e.to_string() }));
                break;
            }
        }
    }
    documents
}

fn parse_yaml(text: &str) -> Vec<Result<Value, DocumentError>> {
    let mut documents = Vec::new();
    for deserializer in serde_yaml_ng::Deserializer::from_str(text) {
        let document = documents.len() + 1;
        match Value::deserialize(deserializer) {
            Ok(Value::Null) => {}
            Ok(value) => documents.push(Ok(value)),
            Err(e) => {
                documents.push(Err(DocumentError::Yaml { document, reason: e.to_string() }));
                break;
            }
        }
    }
    documents
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(docs: Vec<Result<Value, DocumentError>>) -> Vec<Value> {
        docs.into_iter().map(|d| d.expect("document parses")).collect()
    }

    #[test]
    fn multi_document_yaml_skips_empty_documents() {
        let text = "---\nkind: TaskRun\n---\n\n---\n# only a comment\n---\nkind: PipelineRun\n...\n";
        assert_eq!(ok(parse_documents(text)), vec![json!({"kind": "TaskRun"}), json!({"kind": "PipelineRun"})]);
    }

    #[test]
    fn json_object_array_and_stream() {
        assert_eq!(ok(parse_documents(" {\"a\": 1}\n")), vec![json!({"a": 1})]);
        assert_eq!(ok(parse_documents("[{\"a\": 1}, {\"b\": 2}]")), vec![json!([{"a": 1}, {"b": 2}])]);
        assert_eq!(ok(parse_documents("{\"a\": 1}\n{\"b\": 2}\n")), vec![json!({"a": 1}), json!({"b": 2})]);
    }

    #[test]
    fn empty_text_has_no_documents() {
        assert!(parse_documents("").is_empty());
        assert!(parse_documents("\n---\n").is_empty());
    }

    #[test]
    fn bad_json_names_document_and_reason() {
        let docs = parse_documents("{\"a\": 1}\n{\"b\": }");
        assert_eq!(docs.len(), 2);
        let err = docs[1].clone().unwrap_err();
        assert_eq!(err.document(), 2);
        let msg = err.to_string();
        assert!(msg.starts_with("document 2: invalid JSON: expected value at line 2"), "{msg}");
    }

    #[test]
    fn bad_yaml_names_document_and_reason() {
        let docs = parse_documents("kind: TaskRun\n---\nkind: [unclosed\n");
        assert!(docs[0].is_ok());
        let msg = docs[1].clone().unwrap_err().to_string();
        assert!(msg.starts_with("document 2: invalid YAML:"), "{msg}");
    }
}
