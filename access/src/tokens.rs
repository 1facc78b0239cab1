//! Static bearer tokens from a file, for the simplest setups (the harvester's `--sink-token`).
//!
//! One token per line: `<token or sha256:<hex of its SHA-256>> <role>[,<role>…] <name>`; `#` starts a comment.
//! Only the SHA-256 of each token is kept in memory, and a presented token is compared by its hash in constant
//! time against every entry. Tokens come from files only — never from flags or the repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Role;

/// Shortest token accepted in a token file: anything shorter can be guessed.
pub const MIN_TOKEN_CHARS: usize = 16;

/// One token's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    hash: [u8; 32],
    pub roles: BTreeSet<Role>,
    pub subject: String,
}

/// The tokens of a file.
#[derive(Debug, Clone, Default)]
pub struct StaticTokens {
    entries: Vec<TokenEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot read the token file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}, line {line}: {reason}")]
    Line { path: PathBuf, line: usize, reason: String },
}

impl StaticTokens {
    pub fn load(path: &Path) -> Result<Self, TokenFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TokenFileError::Read { path: path.into(), source })?;
        Self::parse(&text).map_err(|(line, reason)| TokenFileError::Line { path: path.into(), line, reason })
    }

    /// Parses a token file; an error names the line (from 1) and the reason, never the token.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut entries: Vec<TokenEntry> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [token, roles, subject] = fields[..] else {
                return Err((line_no, "expected `<token> <role>[,<role>] <name>`".into()));
            };
            let hash = match token.strip_prefix("sha256:") {
                Some(hex_hash) => {
                    let bytes =
                        hex::decode(hex_hash).map_err(|_| (line_no, "the sha256: hash is not hex".to_string()))?;
                    <[u8; 32]>::try_from(bytes.as_slice())
                        .map_err(|_| (line_no, "the sha256: hash is not 32 bytes".to_string()))?
                }
                None if token.chars().count() < MIN_TOKEN_CHARS => {
                    return Err((line_no, format!("the token is shorter than {MIN_TOKEN_CHARS} characters")));
                }
                None => hash(token),
            };
            let roles = roles
                .split(',')
                .map(|r| {
                    Role::parse(r).ok_or_else(|| (line_no, format!("unknown role `{r}` (viewer, ingester, admin)")))
                })
                .collect::<Result<BTreeSet<Role>, _>>()?;
            if entries.iter().any(|e| e.hash == hash) {
                return Err((line_no, "the same token appears twice".into()));
            }
            entries.push(TokenEntry { hash, roles, subject: subject.to_string() });
        }
        Ok(StaticTokens { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of a presented token. Every entry is compared, so the time taken says nothing about which matched.
    pub fn find(&self, token: &str) -> Option<&TokenEntry> {
        let presented = hash(token);
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        found
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_by_hash_with_their_roles() {
        let hashed = hex::encode(hash("a-second-long-secret-token"));
        let text = format!(
            "# harvester\nplain-long-secret-token-1 ingester harvester\nsha256:{hashed} viewer,admin ops # hashed\n\n"
        );
        let tokens = StaticTokens::parse(&text).expect("parsed");
        assert_eq!(tokens.len(), 2);
        let harvester = tokens.find("plain-long-secret-token-1").expect("found");
        assert_eq!((harvester.subject.as_str(), &harvester.roles), ("harvester", &[Role::Ingester].into()));
        let ops = tokens.find("a-second-long-secret-token").expect("found by hash");
        assert_eq!(ops.roles, [Role::Viewer, Role::Admin].into());
        assert!(tokens.find("plain-long-secret-token-2").is_none());
        assert!(tokens.find("").is_none());
    }

    #[test]
    fn bad_lines_name_the_line_and_reason_but_not_the_token() {
        for (text, line, reason) in [
            ("short ingester h", 1, "shorter than 16"),
            ("\nplain-long-secret-token-1 owner h", 2, "unknown role `owner`"),
            ("plain-long-secret-token-1 viewer", 1, "expected"),
            ("sha256:zz viewer h", 1, "not hex"),
            ("plain-long-secret-token-1 viewer a\nplain-long-secret-token-1 admin b", 2, "twice"),
        ] {
            let (at, why) = StaticTokens::parse(text).expect_err(text);
            assert_eq!(at, line, "{text}");
            assert!(why.contains(reason), "{text}: {why}");
            assert!(!why.contains("plain-long"), "the reason must not echo the token: {why}");
        }
    }
}
