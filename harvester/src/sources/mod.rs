//! Sources observe Tekton objects and emit them, with where they came from, into the topology's channel.
//!
//! Two sources share one shape: a config struct (clap `Args`) and a `run(…, sender)` that emits [`SourceItem`]s
//! until it is done or the receiver is dropped. File replay (`file`) emits texts, to be split into documents; the
//! Kubernetes watch (`kube`) emits objects already parsed by the API client.

pub mod file;
pub mod kube;

use chrono::{DateTime, Utc};

/// One unit of input: the text of a file (or stdin), or one watched object.
#[derive(Debug)]
pub struct SourceItem {
    /// Where the input came from, as shown in error messages: a path, `<stdin>`, or `PipelineRun NS/NAME`.
    pub origin: String,
    pub payload: Result<Payload, SourceError>,
}

#[derive(Debug)]
pub enum Payload {
    /// A file's text: JSON, concatenated JSON or multi-document YAML.
    Text(String),
    /// One object from the API server. `deleted_at` is set when the watch saw it deleted: its facts carry it.
    Object { object: serde_json::Value, deleted_at: Option<DateTime<Utc>> },
}

/// Why a source could not read an input.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a file or folder")]
    NotAFile,
    /// The watch failed (it retries with backoff by itself); the message names the API call and the reason.
    #[error("{0}")]
    Watch(String),
    #[error("cannot encode the object as JSON: {0}")]
    Encode(String),
}
