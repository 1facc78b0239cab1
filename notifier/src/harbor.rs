//! Harbor's `Default` webhook payload, turned into the event Harbor sends in its `CloudEvents` payload format:
//! the same `type` names (`harbor.artifact.pushed`, `harbor.scan.completed`, …) and `data` = `event_data`, so one
//! rule serves both formats. The `Default` format has no id: ours is a hash of the body, so a redelivered webhook
//! is recognised as the same event.

use chrono::DateTime;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::event::{DecodeError, Incoming};

/// The CloudEvents type of a `Default` payload's `type` (Harbor's own mapping).
pub fn cloudevents_type(default_type: &str) -> Option<&'static str> {
    Some(match default_type {
        "PUSH_ARTIFACT" => "harbor.artifact.pushed",
        "PULL_ARTIFACT" => "harbor.artifact.pulled",
        "DELETE_ARTIFACT" => "harbor.artifact.deleted",
        "SCANNING_COMPLETED" => "harbor.scan.completed",
        "SCANNING_FAILED" => "harbor.scan.failed",
        "SCANNING_STOPPED" => "harbor.scan.stopped",
        "QUOTA_EXCEED" => "harbor.quota.exceed",
        "QUOTA_WARNING" => "harbor.quota.warning",
        "REPLICATION" => "harbor.replication.status.changed",
        "TAG_RETENTION" => "harbor.tag_retention.finished",
        _ => return None,
    })
}

pub fn from_default(value: &Value, body: &[u8]) -> Result<Incoming, DecodeError> {
    let default_type = value["type"].as_str().ok_or_else(|| DecodeError::Harbor("`type` is not a string".into()))?;
    let ty = cloudevents_type(default_type)
        .ok_or_else(|| DecodeError::Harbor(format!("unknown event type `{default_type}`")))?;
    let data = value["event_data"].clone();
    if !data.is_object() {
        return Err(DecodeError::Harbor("`event_data` is not an object".into()));
    }
    let time = match &value["occur_at"] {
        Value::Null => None,
        Value::Number(n) => Some(
            n.as_i64()
                .and_then(|secs| DateTime::from_timestamp(secs, 0))
                .ok_or_else(|| DecodeError::Harbor(format!("`occur_at` {n} is not a Unix time in seconds")))?,
        ),
        other => return Err(DecodeError::Harbor(format!("`occur_at` is not a number: {other}"))),
    };
    let project = data["repository"]["namespace"].as_str().unwrap_or("unknown");
    let subject = data["repository"]["repo_full_name"].as_str().map(str::to_string);
    let mut extensions = std::collections::BTreeMap::new();
    if let Some(operator) = value["operator"].as_str() {
        extensions.insert("operator".to_string(), operator.to_string());
    }
    Ok(Incoming {
        id: hex::encode(&Sha256::digest(body)[..16]),
        ty: ty.to_string(),
        source: format!("/harbor/projects/{project}"),
        subject,
        time,
        data,
        extensions,
    })
}
