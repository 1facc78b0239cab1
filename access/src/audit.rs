//! The audit trail: one JSON line (tracing target `audit`) for every write and every denied request — who, what,
//! when, from where, and the outcome.

use chrono::Utc;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord<'a> {
    pub time: String,
    /// `allowed` or `denied`.
    pub decision: &'a str,
    /// The caller's subject, when known.
    pub subject: Option<&'a str>,
    /// How the caller authenticated (`oidc`, `staticToken`, `kubernetes`).
    pub auth: Option<&'a str>,
    /// `METHOD /path`.
    pub action: String,
    pub remote: String,
    /// The HTTP status answered.
    pub status: u16,
    /// Why a request was denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl<'a> AuditRecord<'a> {
    /// A request that was let through and answered `status`.
    pub fn allowed(
        subject: Option<&'a str>,
        auth: Option<&'a str>,
        action: String,
        remote: String,
        status: u16,
    ) -> Self {
        AuditRecord { time: Self::now(), decision: "allowed", subject, auth, action, remote, status, reason: None }
    }

    /// A request that was refused with `status`, and why.
    pub fn denied(
        subject: Option<&'a str>,
        auth: Option<&'a str>,
        action: String,
        remote: String,
        status: u16,
        reason: String,
    ) -> Self {
        AuditRecord {
            time: Self::now(),
            decision: "denied",
            subject,
            auth,
            action,
            remote,
            status,
            reason: Some(reason),
        }
    }

    pub fn now() -> String {
        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    pub fn emit(&self) {
        match serde_json::to_string(self) {
            Ok(line) => tracing::info!(target: "audit", "{line}"),
            Err(e) => tracing::error!(target: "audit", error = %e, "cannot write an audit record"),
        }
    }
}
