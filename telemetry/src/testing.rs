//! For tests that scrape a service: check the text with a real parser (Prometheus' `promtool check metrics`,
//! which also lints names and units), and read one sample. For tests that trace: read back the spans a real
//! OpenTelemetry Collector's file exporter wrote.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `promtool check metrics` on `text`; the error holds promtool's complaints. Fails, never skips, when
/// promtool is missing (`scripts/test-tools.sh` installs it).
pub fn promtool_check(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run promtool (scripts/test-tools.sh installs it): {e}"))?;
    let mut stdin = child.stdin.take().ok_or("promtool has no stdin")?;
    stdin.write_all(text.as_bytes()).map_err(|e| format!("writing to promtool: {e}"))?;
    drop(stdin);
    let output = child.wait_with_output().map_err(|e| format!("waiting for promtool: {e}"))?;
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() && said.trim().is_empty() { Ok(()) } else { Err(format!("promtool: {said}")) }
}

/// The value of the sample `name{labels}`, if present. `labels` as in the text format, in any order
/// (`source="http",outcome="applied"`), empty for none.
pub fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let wanted = parse_labels(labels)?;
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (found_name, found_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}')?)?),
            None => (series, Vec::new()),
        };
        (found_name == name && found_labels == wanted).then(|| value.parse().ok()).flatten()
    })
}

/// [`sample`], for a sample that must be there: panics naming it, with the whole text.
pub fn value(text: &str, name: &str, labels: &str) -> f64 {
    sample(text, name, labels).unwrap_or_else(|| panic!("no sample {name}{{{labels}}} in:\n{text}"))
}

/// One exported span, as the collector's file exporter writes it (OTLP-JSON, one batch per line).
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// The resource's `service.name`.
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
}

/// Every span in the collector's file `path` so far (none while it does not exist yet).
pub fn exported_spans(path: &str) -> Vec<ExportedSpan> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut spans = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(batch) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        for resource in batch["resourceSpans"].as_array().into_iter().flatten() {
            let service = resource["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or("")
                .to_string();
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    let text = |key: &str| span[key].as_str().unwrap_or("").to_string();
                    spans.push(ExportedSpan {
                        service: service.clone(),
                        name: text("name"),
                        trace_id: text("traceId"),
                        span_id: text("spanId"),
                        parent_span_id: text("parentSpanId"),
                    });
                }
            }
        }
    }
    spans
}

/// `a="x",b="y"` as sorted pairs; quotes inside values are escaped as `\"`.
fn parse_labels(text: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => value.push(chars.next()?.1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        pairs.push((name.trim().to_string(), value));
        rest = after[end + 1..].trim_start_matches(',').trim();
    }
    pairs.sort();
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promtool_accepts_our_format_and_finds_faults() {
        let metrics = crate::metrics::Metrics::new();
        metrics.counter("test_things_total", "Things.", &["kind"]).with_label_values(&["a"]).inc_by(2);
        let text = metrics.render();
        promtool_check(&text).unwrap();
        assert_eq!(sample(&text, "test_things_total", "kind=\"a\""), Some(2.0));
        assert_eq!(sample(&text, "test_things_total", "kind=\"b\""), None);
        let two = "x_total{b=\"2\",a=\"o, \\\"k\\\"\"} 5\n";
        assert_eq!(sample(two, "x_total", "a=\"o, \\\"k\\\"\",b=\"2\""), Some(5.0), "labels in any order");
        let bad = "# TYPE test_things counter\ntest_things 1\n";
        let complaint = promtool_check(bad).unwrap_err();
        assert!(complaint.contains("_total"), "a counter without _total is linted: {complaint}");
    }
}
