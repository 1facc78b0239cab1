//! Error types. Every message names the reason, so a caller can print it as-is after a location prefix
//! (`FILE: document 2: …`).

/// Why a document of a file could not be read. `document` is 1-based: the position of the document among the
/// non-empty documents of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("document {document}: invalid JSON: {reason}")]
    Json { document: usize, reason: String },
    #[error("document {document}: invalid YAML: {reason}")]
    Yaml { document: usize, reason: String },
}

impl DocumentError {
    /// The 1-based number of the document the error is about.
    pub fn document(&self) -> usize {
        match self {
            DocumentError::Json { document, .. } | DocumentError::Yaml { document, .. } => *document,
        }
    }
}

/// Why a document could not be translated into facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// An item of a list or array failed; `item` is 1-based. The whole document fails with it, so that a
    /// caller never sends half of a list without noticing.
    #[error("item {item}: {error}")]
    Item { item: usize, error: Box<TranslateError> },
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("object of kind `{0}` is not a PipelineRun or TaskRun")]
    NotARun(String),
    #[error("object has no `kind` and its shape is neither a PipelineRun nor a TaskRun ({0})")]
    UnknownShape(&'static str),
    #[error("unsupported Tekton CloudEvent body `{0}`: only `taskRun` and `pipelineRun` bodies are translated")]
    UnsupportedEvent(String),
    #[error("`{kind}` has no `items` array")]
    ListWithoutItems { kind: String },
    #[error("{field} `{value}` is not an RFC 3339 time")]
    BadTime { field: String, value: String },
    #[error("{field} should be {expected}, found {found}")]
    BadField { field: String, expected: &'static str, found: String },
}

impl TranslateError {
    pub(crate) fn in_item(self, index: usize) -> Self {
        TranslateError::Item { item: index + 1, error: Box::new(self) }
    }
}
