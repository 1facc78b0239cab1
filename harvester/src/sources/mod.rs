//! Sources observe Tekton objects and emit them, with where they came from, into the topology's channel.
//!
//! Only file replay exists today. A Kubernetes watch source and an HTTP (Tekton CloudEvents) source fit the same
//! shape: a config struct, and a `run(config, sender)` that emits [`SourceItem`]s until it is done or the
//! receiver is dropped. A watch would emit parsed objects; a variant of [`Payload`] would carry them.

pub mod file;

/// One unit of input: the text of a file (or stdin), to be split into documents and translated.
#[derive(Debug)]
pub struct SourceItem {
    /// Where the input came from, as shown in error messages: a path, or `<stdin>`.
    pub origin: String,
    pub payload: Result<Payload, SourceError>,
}

#[derive(Debug)]
pub enum Payload {
    Text(String),
}

/// Why a source could not read an input.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a file or folder")]
    NotAFile,
}
