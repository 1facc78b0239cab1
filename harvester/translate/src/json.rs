//! Small accessors over `serde_json::Value`. Tekton objects come from many producers (API server, Chains test
//! data, Results records, dashboards), so every field is optional and every lookup is a path walk.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::TranslateError;

/// Walks `path` through nested objects.
pub(crate) fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key)).filter(|v| !v.is_null())
}

/// A non-empty string at `path` (trimmed of surrounding whitespace, which results often carry).
pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// The array at `path`, or an empty slice.
pub(crate) fn array_at<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// An object of scalars (labels, annotations) as strings; numbers and booleans are stringified because YAML
/// producers sometimes forget the quotes.
pub(crate) fn string_map(value: &Value, path: &[&str]) -> BTreeMap<String, String> {
    let Some(map) = at(value, path).and_then(Value::as_object) else { return BTreeMap::new() };
    map.iter().filter_map(|(k, v)| scalar_string(v).map(|s| (k.clone(), s))).collect()
}

pub(crate) fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses an optional RFC 3339 time. A present but malformed value is an error: silently dropping it would
/// change how observations are ranked.
pub(crate) fn time_at(value: &Value, path: &[&str], field: &str) -> Result<Option<DateTime<Utc>>, TranslateError> {
    let Some(raw) = at(value, path) else { return Ok(None) };
    let bad = || TranslateError::BadTime { field: field.to_string(), value: display_value(raw) };
    let text = raw.as_str().ok_or_else(bad)?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| bad())
}

/// An optional integer (e.g. `metadata.generation`).
pub(crate) fn i64_at(value: &Value, path: &[&str], field: &str) -> Result<Option<i64>, TranslateError> {
    match at(value, path) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| TranslateError::BadField {
            field: field.to_string(),
            expected: "an integer",
            found: display_value(v),
        }),
    }
}

/// An optional string field (e.g. `metadata.name`). A number is taken as its text (unquoted YAML such as
/// `resourceVersion: 1567`); an object or array is an error.
pub(crate) fn string_field(value: &Value, path: &[&str], field: &str) -> Result<Option<String>, TranslateError> {
    match at(value, path) {
        None => Ok(None),
        Some(v @ (Value::String(_) | Value::Number(_))) => {
            Ok(scalar_string(v).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        }
        Some(v) => {
            Err(TranslateError::BadField { field: field.to_string(), expected: "a string", found: display_value(v) })
        }
    }
}

/// A short rendering of a value for error messages.
pub(crate) fn display_value(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 { format!("{}…", text.chars().take(80).collect::<String>()) } else { text }
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) use tekton_graph_schema::canonical::canonical_json;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn times_parse_or_fail_loudly() {
        let v = json!({"t": "2024-05-15T09:45:00+02:00", "bad": "xyz", "empty": ""});
        assert_eq!(time_at(&v, &["t"], "t").unwrap().unwrap().to_rfc3339(), "2024-05-15T07:45:00+00:00");
        assert_eq!(time_at(&v, &["empty"], "empty").unwrap(), None);
        assert_eq!(time_at(&v, &["missing"], "missing").unwrap(), None);
        let err = time_at(&v, &["bad"], "status.startTime").unwrap_err();
        assert_eq!(err.to_string(), "status.startTime `xyz` is not an RFC 3339 time");
    }
}
