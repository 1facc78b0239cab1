//! Secrets (webhook URLs, tokens, shared secrets) come from the environment or a file — never from the rule file
//! itself, so the file can be reviewed and committed. A `NotificationPolicy` custom resource names keys of
//! Kubernetes Secrets in its own namespace instead, which the policy watcher reads before the policy is applied.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, de::Error as _};

/// Where a secret is read from: `{ env: NAME }`, `{ file: PATH }` (the rule file) or
/// `{ secretKeyRef: { name, key } }` (a NotificationPolicy). A plain string is refused when parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
    /// A key of a Kubernetes Secret in the namespace of the policy that names it.
    Kubernetes {
        name: String,
        key: String,
    },
    /// A value read already (a Kubernetes Secret's, by the policy watcher); never written in a file.
    Value(Secret),
}

/// The map a secret reference is written as (a map, not a tagged enum: YAML parsers read those as `!tags`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Written {
    env: Option<String>,
    file: Option<PathBuf>,
    secret_key_ref: Option<KeyRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRef {
    name: String,
    key: String,
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "a secret is `{ env: NAME }`, `{ file: PATH }` or `{ secretKeyRef: { name, key } }`, \
                                never the value itself";
        let written = Written::deserialize(deserializer).map_err(|_| D::Error::custom(EXPECTED))?;
        match (written.env, written.file, written.secret_key_ref) {
            (Some(name), None, None) => Ok(SecretRef::Env(name)),
            (None, Some(path), None) => Ok(SecretRef::File(path)),
            (None, None, Some(KeyRef { name, key })) => Ok(SecretRef::Kubernetes { name, key }),
            _ => Err(D::Error::custom(EXPECTED)),
        }
    }
}

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
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
    #[error("Kubernetes Secret `{name}` (key `{key}`) was not read: only a NotificationPolicy may name one")]
    NotRead { name: String, key: String },
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
            SecretRef::Kubernetes { name, key } => {
                return Err(SecretError::NotRead { name: name.clone(), key: key.clone() });
            }
            SecretRef::Value(secret) => (secret.0.clone(), "the Kubernetes Secret's value".to_string()),
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
        let plain = serde_yaml_ng::from_str::<SecretRef>("https://hooks.example/x").expect_err("a literal secret");
        assert!(plain.to_string().contains("never the value itself"), "{plain}");
        assert!(serde_yaml_ng::from_str::<SecretRef>("{ env: A, file: /b }").is_err(), "one source only");
        #[derive(Debug, Deserialize)]
        struct Nested {
            #[allow(dead_code)]
            token: Option<SecretRef>,
        }
        let nested: Nested = serde_yaml_ng::from_str("{ token: { file: /run/t } }").expect("nested flow map");
        assert_eq!(nested.token, Some(SecretRef::File("/run/t".into())));
    }
}
