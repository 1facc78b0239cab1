//! Secrets (webhook URLs, tokens, shared secrets) come from the environment or a file — never from the rule file
//! itself, so the file (or the custom resource it mirrors) can be reviewed and committed.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Where a secret is read from: `{ env: NAME }` or `{ file: PATH }`. A plain string is refused when parsed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

/// A secret's value; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("environment variable `{0}` is not set (or not UTF-8)")]
    Env(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0} is empty")]
    Empty(String),
}

impl SecretRef {
    /// Reads the secret; surrounding whitespace (a file's trailing newline) is not part of it.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let (value, origin) = match self {
            SecretRef::Env(name) => (
                std::env::var(name).map_err(|_| SecretError::Env(name.clone()))?,
                format!("environment variable `{name}`"),
            ),
            SecretRef::File(path) => (
                std::fs::read_to_string(path)
                    .map_err(|e| SecretError::File { path: path.clone(), reason: e.to_string() })?,
                format!("secret file {}", path.display()),
            ),
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError::Empty(origin));
        }
        Ok(Secret(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_files_or_env_and_never_show() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("hook");
        std::fs::write(&path, "https://hooks.example/T0/B0/x\n").expect("write");
        let secret = SecretRef::File(path.clone()).resolve().expect("read");
        assert_eq!(secret.expose(), "https://hooks.example/T0/B0/x");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        std::fs::write(&path, " \n").expect("write");
        assert!(matches!(SecretRef::File(path).resolve(), Err(SecretError::Empty(_))));
        assert_eq!(
            SecretRef::Env("NOTIFIER_TEST_UNSET_VARIABLE".into()).resolve(),
            Err(SecretError::Env("NOTIFIER_TEST_UNSET_VARIABLE".into()))
        );
        let plain: Result<SecretRef, _> = serde_yaml_ng::from_str("https://hooks.example/x");
        assert!(plain.is_err(), "a literal secret in the rule file is refused");
    }
}
