//! Who may do what, in the parts every service of the product shares: the [`Role`]s and static bearer tokens from
//! a file ([`tokens`]), and the [`audit`] line. graph-service adds OpenID Connect, TokenReview and scopes on top; the notifier uses these.

pub mod audit;
pub mod tokens;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use audit::AuditRecord;
pub use tokens::{StaticTokens, TokenEntry, TokenFileError};

/// What a caller may do. `admin` includes the other two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// GraphQL reads and the web UI.
    Viewer,
    /// `POST /events`.
    Ingester,
    /// Settings, retention, notifier rules.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "ingester" => Some(Role::Ingester),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Ingester => "ingester",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
