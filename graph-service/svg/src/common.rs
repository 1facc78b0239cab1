//! Helpers the renderers share: number formatting, text truncation, link and class sanitising, edge curves.

use std::fmt::Write as _;

/// The most nodes (or timeline rows) one picture draws; past it a browser struggles and nobody can read it.
pub const MAX_NODES: usize = 300;
/// The most edges one picture draws, for the same reason.
pub const MAX_EDGES: usize = 1500;

/// Formats a coordinate with at most one decimal so output is compact and identical across platforms.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_owned();
    }
    let rounded = (v * 10.0).round() / 10.0;
    let mut s = format!("{rounded:.1}");
    if s.ends_with(".0") {
        s.truncate(s.len() - 2);
    }
    if s == "-0" { "0".to_owned() } else { s }
}

/// Shortens `s` to at most `max` chars, the last being an ellipsis. Counts chars, never bytes, so
/// multi-byte names cannot be cut inside a character.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    let max = max.max(1);
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Keeps a link only if it is relative or http(s): hrefs are built from cluster data, and a
/// `javascript:` URL would run in the page even though the text around it is escaped.
pub(crate) fn safe_href(href: Option<&str>) -> Option<&str> {
    let h = href?.trim();
    if h.is_empty() || h.chars().any(|c| c.is_control()) {
        return None;
    }
    let lower = h.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(h);
    }
    // Relative (`/x`, `x/y`, `?q`, `#f`, `./x`): no scheme before the first `/`, `?` or `#`.
    let head = h.split(['/', '?', '#']).next().unwrap_or("");
    if head.contains(':') || h.starts_with("//") { None } else { Some(h) }
}

/// Turns free text (a node kind) into one CSS class token: lowercase ASCII letters, digits and `-`.
/// Maud escapes attribute values, but a space would still split the value into several classes.
pub(crate) fn class_token(s: &str) -> String {
    let t: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(40).collect();
    if t.is_empty() { "unknown".to_owned() } else { t }
}

/// "1 task" / "3 tasks".
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A smooth path through `points`: cubic segments whose control points are pulled horizontally, so the
/// tangent is horizontal at every point and consecutive segments join without a kink.
pub(crate) fn curve(points: &[(f64, f64)]) -> String {
    let mut d = String::new();
    let Some(&(x0, y0)) = points.first() else { return d };
    let _ = write!(d, "M{},{}", num(x0), num(y0));
    for w in points.windows(2) {
        let ((px, py), (qx, qy)) = (w[0], w[1]);
        let dx = (qx - px) / 2.0;
        let _ = write!(d, " C{},{} {},{} {},{}", num(px + dx), num(py), num(qx - dx), num(qy), num(qx), num(qy));
    }
    d
}

/// The `d` of an edge between two boxes of half-size `(hw, hh)` centred at `from` and `to`, through the
/// layout's waypoints. Forward edges leave the right side and enter the left; backward edges (cycles)
/// leave left and enter right, so the arrow shows which way they point; edges within one column bulge
/// out to the right; a self-loop is a small arc on top of the node.
pub(crate) fn edge_path(from: (f64, f64), to: (f64, f64), waypoints: &[(f64, f64)], hw: f64, hh: f64) -> String {
    let (sx, sy) = from;
    let (tx, ty) = to;
    if (sx - tx).abs() < 0.5 && (sy - ty).abs() < 0.5 {
        let (x1, x2, top) = (sx + hw - 44.0, sx + hw - 14.0, sy - hh);
        return format!(
            "M{},{} C{},{} {},{} {},{}",
            num(x1),
            num(top),
            num(x1),
            num(top - 30.0),
            num(x2),
            num(top - 30.0),
            num(x2),
            num(top)
        );
    }
    if (sx - tx).abs() < 0.5 {
        let (x, bulge) = (sx + hw, sx + hw + 40.0);
        return format!(
            "M{},{} C{},{} {},{} {},{}",
            num(x),
            num(sy),
            num(bulge),
            num(sy),
            num(bulge),
            num(ty),
            num(x),
            num(ty)
        );
    }
    let mut pts = Vec::with_capacity(waypoints.len() + 2);
    if tx > sx {
        pts.push((sx + hw, sy));
        pts.extend_from_slice(waypoints);
        pts.push((tx - hw, ty));
    } else {
        pts.push((sx - hw, sy));
        pts.extend_from_slice(waypoints);
        pts.push((tx + hw, ty));
    }
    curve(&pts)
}

/// Ids in input order with later duplicates dropped: edges address nodes by id, so a second node with the
/// same id would be ambiguous. Returns the kept input positions and the id → kept-position map.
pub(crate) fn dedupe_ids<'a>(
    ids: impl Iterator<Item = &'a str>,
) -> (Vec<usize>, std::collections::HashMap<&'a str, usize>) {
    let mut keep = Vec::new();
    let mut map = std::collections::HashMap::new();
    for (i, id) in ids.enumerate() {
        if !map.contains_key(id) {
            map.insert(id, keep.len());
            keep.push(i);
        }
    }
    (keep, map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn num_is_compact() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.25), "1.3");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(-12.5), "-12.5");
    }

    #[test]
    fn truncate_counts_chars() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("ääääää", 3), "ää…");
        assert_eq!(truncate("🦀🦀🦀🦀", 2), "🦀…");
        assert_eq!(truncate("abc", 0), "…");
    }

    #[test]
    fn hrefs_keep_relative_and_http_only() {
        assert_eq!(safe_href(Some("/runs/a?x=1")), Some("/runs/a?x=1"));
        assert_eq!(safe_href(Some("runs/a")), Some("runs/a"));
        assert_eq!(safe_href(Some("#x")), Some("#x"));
        assert_eq!(safe_href(Some("https://e.x/a")), Some("https://e.x/a"));
        assert_eq!(safe_href(Some("/a?next=http://x")), Some("/a?next=http://x"));
        assert_eq!(safe_href(Some("javascript:alert(1)")), None);
        assert_eq!(safe_href(Some(" JavaScript:alert(1)")), None);
        assert_eq!(safe_href(Some("data:text/html,x")), None);
        assert_eq!(safe_href(Some("//evil.example")), None);
        assert_eq!(safe_href(Some("java\nscript:x")), None);
        assert_eq!(safe_href(Some("")), None);
        assert_eq!(safe_href(None), None);
    }

    #[test]
    fn class_tokens_are_single_tokens() {
        assert_eq!(class_token("PipelineRun"), "pipelinerun");
        assert_eq!(class_token("a b<c>"), "a-b-c-");
        assert_eq!(class_token(""), "unknown");
    }

    #[test]
    fn curves_are_smooth_cubics() {
        assert_eq!(curve(&[]), "");
        assert_eq!(curve(&[(0.0, 0.0), (10.0, 20.0)]), "M0,0 C5,0 5,20 10,20");
    }
}
