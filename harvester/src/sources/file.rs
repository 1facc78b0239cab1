//! Replays files: `PATH...` are files, folders (searched recursively for `*.json`, `*.yaml`, `*.yml`) or `-`
//! for stdin. Folder contents are sorted so that a replay is deterministic.

use std::path::{Path, PathBuf};

use clap::Args;
use tokio::sync::mpsc;

use super::{Payload, SourceError, SourceItem};

const EXTENSIONS: &[&str] = &["json", "yaml", "yml"];
/// How `-` appears in messages.
pub const STDIN_ORIGIN: &str = "<stdin>";

#[derive(Debug, Clone, Args)]
pub struct FileSourceConfig {
    /// Files or folders to replay (folders are searched recursively for *.json, *.yaml, *.yml); `-` reads stdin.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
}

/// An input found by [`discover`]: a file, stdin, or a path that could not be used (reported when its turn comes,
/// so that errors appear in input order).
#[derive(Debug)]
pub enum Input {
    File(PathBuf),
    Stdin,
    Unreadable(PathBuf, SourceError),
}

impl Input {
    pub fn origin(&self) -> String {
        match self {
            Input::File(path) | Input::Unreadable(path, _) => path.display().to_string(),
            Input::Stdin => STDIN_ORIGIN.to_string(),
        }
    }
}

/// Expands the configured paths into inputs, before reading any, so the number of files is known up front.
pub fn discover(config: &FileSourceConfig) -> Vec<Input> {
    let mut inputs = Vec::new();
    for path in &config.paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => match files_under(path) {
                Ok(files) => inputs.extend(files.into_iter().map(Input::File)),
                Err(e) => inputs.push(Input::Unreadable(path.clone(), e.into())),
            },
            Ok(meta) if meta.is_file() => inputs.push(Input::File(path.clone())),
            Ok(_) => inputs.push(Input::Unreadable(path.clone(), SourceError::NotAFile)),
            Err(e) => inputs.push(Input::Unreadable(path.clone(), e.into())),
        }
    }
    inputs
}

/// Files with a known extension under `dir`, recursively, sorted by path.
fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if has_known_extension(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn has_known_extension(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    ext.is_some_and(|ext| EXTENSIONS.contains(&ext.as_str()))
}

/// Reads the inputs in order and emits them. Stops early when the receiver is gone.
pub async fn run(inputs: Vec<Input>, out: mpsc::Sender<SourceItem>) {
    for input in inputs {
        let origin = input.origin();
        let payload = read(input).await.map(Payload::Text);
        if out.send(SourceItem { origin, payload }).await.is_err() {
            return;
        }
    }
}

async fn read(input: Input) -> Result<String, SourceError> {
    match input {
        Input::File(path) => Ok(tokio::fs::read_to_string(&path).await?),
        // Blocking read on a blocking thread: tokio's own stdin needs a feature the workspace does not enable.
        Input::Stdin => tokio::task::spawn_blocking(|| std::io::read_to_string(std::io::stdin()))
            .await
            .map_err(std::io::Error::other)?
            .map_err(SourceError::from),
        Input::Unreadable(_, e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_searched_recursively_and_sorted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/nested")).expect("mkdir");
        for file in ["b/nested/z.yml", "b/a.JSON", "a.yaml", "notes.md", "c.txt"] {
            std::fs::write(root.join(file), "{}").expect("write");
        }
        let config = FileSourceConfig { paths: vec![root.to_path_buf(), "-".into(), root.join("missing.json")] };
        let origins: Vec<_> = discover(&config).iter().map(Input::origin).collect();
        let expected: Vec<String> = ["a.yaml", "b/a.JSON", "b/nested/z.yml"]
            .iter()
            .map(|f| root.join(f).display().to_string())
            .chain([STDIN_ORIGIN.to_string(), root.join("missing.json").display().to_string()])
            .collect();
        assert_eq!(origins, expected);
    }
}
