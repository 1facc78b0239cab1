//! Small renderers shared by pages: status badges, durations, times, short SHAs and digests, values.

use maud::{Markup, html};
use serde_json::Value;

/// A status badge from a GraphQL enum name (`SUCCEEDED`, `TIMED_OUT`, …).
pub fn status(name: &str) -> Markup {
    let lower = name.to_ascii_lowercase();
    let label = match lower.as_str() {
        "timed_out" => "Timed out".to_string(),
        "not_observed" => "Not observed".to_string(),
        "" => "—".to_string(),
        other => {
            let mut c = other.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        }
    };
    html! { span class={ "badge status-" (lower) } { (label) } }
}

/// Seconds as `1h 2m`, `3m 4s`, `5.2s`.
pub fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite()) else { return "—".into() };
    let sign = if s < 0.0 { "−" } else { "" };
    let s = s.abs();
    if s < 60.0 {
        return format!("{sign}{}s", (s * 10.0).round() / 10.0);
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 { format!("{sign}{h}h {m}m") } else { format!("{sign}{m}m {sec}s") }
}

/// A signed duration change, `+12s` / `−3s`.
pub fn delta(seconds: Option<f64>) -> Markup {
    match seconds {
        Some(d) if d > 0.0 => html! { span.delta-up { "+" (duration(Some(d))) } },
        Some(d) if d < 0.0 => html! { span.delta-down { (duration(Some(d))) } },
        Some(_) => html! { span.muted { "±0" } },
        None => html! { span.muted { "—" } },
    }
}

/// An RFC 3339 time as `2024-05-15 10:00:05 UTC`.
pub fn time(text: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) if text.is_empty() => "—".into(),
        Err(_) => text.to_string(),
    }
}

/// The first `n` characters (never a byte slice: names may hold any Unicode).
pub fn prefix(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// `sha256:abcdef012345…` shortened for tables.
pub fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", prefix(hex, 12))
}

/// A param or result value: strings as they are, arrays and objects as compact JSON.
pub fn value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// A signed count change for vulnerabilities: more is worse.
pub fn count_delta(n: i64) -> Markup {
    match n {
        n if n > 0 => html! { span.delta-up { "+" (n) } },
        n if n < 0 => html! { span.delta-down { (n) } },
        _ => html! { span.muted { "0" } },
    }
}
