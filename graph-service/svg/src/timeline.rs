//! A Gantt chart of a PipelineRun: one row per TaskRun with its steps indented below, on a shared time
//! axis relative to the earliest start, so waiting, parallelism and the slow step are visible at a glance.

use maud::{Markup, html};

use crate::Status;
use crate::common::{MAX_NODES, count, num, safe_href, truncate};

/// One row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    pub href: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// `None` while still running: drawn up to `now_ms`.
    pub end_ms: Option<i64>,
    pub status: Status,
    /// 0 for a TaskRun, 1 for one of its steps (deeper values indent further).
    pub depth: u8,
}

const LABEL_W: f64 = 240.0;
const CHART_W: f64 = 720.0;
const RIGHT_PAD: f64 = 40.0;
const AXIS_H: f64 = 30.0;
const ROW_H: f64 = 22.0;
const INDENT: f64 = 14.0;
/// Average glyph width at the 12 px label font, to fit labels in the label column.
const CHAR_W: f64 = 6.6;
/// Tick spacing candidates in ms; past a day, multiples of 1, 2, 5 × 10^k days.
const STEPS: [i128; 27] = [
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
    900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];
const DAY: i128 = 86_400_000;
const MAX_TICKS: i128 = 8;

/// Renders the rows in input order (callers put each TaskRun's steps right after it) as
/// `<svg id="timeline">`. Times may be in any order or nonsensical: an end before its start is drawn as an
/// instant, a running bar that started after `now_ms` likewise. More than [`MAX_NODES`] rows: the first are
/// drawn, with a note.
pub fn render_timeline(bars: &[Bar], now_ms: i64) -> Markup {
    if bars.is_empty() {
        return empty();
    }
    let shown = &bars[..bars.len().min(MAX_NODES)];
    // i128 so that any pair of i64 times subtracts without overflow.
    let start = |b: &Bar| i128::from(b.start_ms);
    let end = |b: &Bar| i128::from(b.end_ms.unwrap_or(now_ms)).max(start(b));
    let t0 = shown.iter().map(start).min().unwrap_or(0);
    let t1 = shown.iter().map(end).max().unwrap_or(t0);
    let span = (t1 - t0).max(1);
    let step = tick_step(span);
    let domain = (span + step - 1) / step * step;
    let x_of = |t: i128| LABEL_W + ((t - t0) as f64 / domain as f64) * CHART_W;

    let rows = shown.len() as f64;
    let note = (bars.len() > shown.len()).then(|| format!("Showing {} of {} rows", shown.len(), bars.len()));
    let chart_bottom = AXIS_H + rows * ROW_H + 6.0;
    let width = LABEL_W + CHART_W + RIGHT_PAD;
    let height = chart_bottom + if note.is_some() { 26.0 } else { 8.0 };
    let any_running = shown.iter().any(|b| b.end_ms.is_none());
    let now = i128::from(now_ms);

    let tasks = bars.iter().filter(|b| b.depth == 0).count();
    let steps = bars.len() - tasks;
    let total = bars.iter().map(end).max().unwrap_or(0) - bars.iter().map(start).min().unwrap_or(0);
    let summary = format!(
        "Timeline: {}, {}, {} in total",
        count(tasks, "task run", "task runs"),
        count(steps, "step", "steps"),
        duration(total)
    );

    html! {
        svg xmlns="http://www.w3.org/2000/svg" id="timeline" class="timeline" role="img"
            aria-labelledby="timeline-title" viewBox={ "0 0 " (num(width)) " " (num(height)) }
            width=(num(width)) height=(num(height)) {
            title id="timeline-title" { (summary) }
            g class="axis" {
                line class="axis-line" x1=(num(LABEL_W)) y1=(num(AXIS_H)) x2=(num(LABEL_W + CHART_W)) y2=(num(AXIS_H))
                    fill="none" {}
                @for i in 0..=(domain / step) {
                    @let x = LABEL_W + (i * step) as f64 / domain as f64 * CHART_W;
                    g class="tick" {
                        line class="tick-line" x1=(num(x)) y1=(num(AXIS_H - 4.0)) x2=(num(x)) y2=(num(chart_bottom))
                            fill="none" {}
                        text class="tick-label" x=(num(x)) y=(num(AXIS_H - 10.0)) text-anchor="middle" font-size="11" {
                            (offset_label(i * step, step))
                        }
                    }
                }
            }
            g class="bars" {
                @for (i, bar) in shown.iter().enumerate() {
                    @let y = AXIS_H + i as f64 * ROW_H;
                    @let (s, e) = (start(bar), end(bar));
                    @let running = bar.end_ms.is_none();
                    g class=(format!("bar status-{} depth-{}{}", bar.status.css(), bar.depth, if running { " running" } else { "" })) {
                        title {
                            (bar.label) ": " (duration(e - s)) ", " (bar.status.label()) @if running { ", still running" }
                        }
                        @if let Some(href) = safe_href(bar.href.as_deref()) {
                            a href=(href) { (row(bar, y, x_of(s), x_of(e))) }
                        } @else {
                            (row(bar, y, x_of(s), x_of(e)))
                        }
                    }
                }
            }
            @if any_running && now >= t0 && now <= t0 + domain {
                line class="now" x1=(num(x_of(now))) y1=(num(AXIS_H)) x2=(num(x_of(now))) y2=(num(chart_bottom))
                    fill="none" {}
            }
            @if let Some(note) = &note {
                text class="truncated" x="8" y=(num(height - 10.0)) font-size="12" { (note) }
            }
        }
    }
}

/// The label and the bar of one row whose top is at `y`.
fn row(bar: &Bar, y: f64, x0: f64, x1: f64) -> Markup {
    let indent = 8.0 + f64::from(bar.depth.min(4)) * INDENT;
    let chars = ((LABEL_W - indent - 12.0) / CHAR_W) as usize;
    let (bar_y, bar_h) = if bar.depth == 0 { (y + 4.0, 14.0) } else { (y + 6.0, 10.0) };
    html! {
        text class="bar-label" x=(num(indent)) y=(num(y + 15.0)) font-size=(if bar.depth == 0 { "12" } else { "11" }) {
            (truncate(&bar.label, chars))
        }
        rect class="bar-rect" x=(num(x0)) y=(num(bar_y)) width=(num((x1 - x0).max(2.0))) height=(num(bar_h))
            rx="2" ry="2" {}
    }
}

/// The smallest candidate step giving at most [`MAX_TICKS`] intervals.
fn tick_step(span: i128) -> i128 {
    if let Some(&s) = STEPS.iter().find(|&&s| span <= s * MAX_TICKS) {
        return s;
    }
    let mut days = 1i128;
    loop {
        for m in [1, 2, 5] {
            let s = DAY * days * m;
            if span <= s * MAX_TICKS {
                return s;
            }
        }
        days *= 10;
    }
}

/// A tick label: offset from the first start in d/h/m/s, or ms and fractional seconds when the ticks are
/// finer than a second.
fn offset_label(ms: i128, step: i128) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    if step >= 1000 || ms % 1000 == 0 {
        return clock(ms / 1000);
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = format!("{}.{:03}", ms / 1000, ms % 1000);
    format!("{}s", secs.trim_end_matches('0'))
}

/// Whole seconds as "1d2h", "1h", "1m30s", "45s", skipping zero parts.
fn clock(total_secs: i128) -> String {
    let (d, h, m, s) = (total_secs / 86_400, total_secs / 3600 % 24, total_secs / 60 % 60, total_secs % 60);
    let mut out = String::new();
    for (v, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
        }
    }
    if out.is_empty() { "0s".to_owned() } else { out }
}

/// A duration for tooltips: "350ms", "4.2s", "42s", "1m23s", "2h5m".
fn duration(ms: i128) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 10_000 {
        format!("{}.{}s", ms / 1000, ms % 1000 / 100)
    } else {
        clock(ms / 1000)
    }
}

/// The picture before any TaskRun started.
fn empty() -> Markup {
    html! {
        svg xmlns="http://www.w3.org/2000/svg" id="timeline" class="timeline empty" role="img"
            aria-labelledby="timeline-title" viewBox="0 0 320 60" width="320" height="60" {
            title id="timeline-title" { "Timeline: no task runs" }
            text class="empty-note" x="16" y="34" font-size="13" { "No task runs to show" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(clock(0), "0s");
        assert_eq!(clock(30), "30s");
        assert_eq!(clock(60), "1m");
        assert_eq!(clock(90), "1m30s");
        assert_eq!(clock(3600), "1h");
        assert_eq!(clock(5400), "1h30m");
        assert_eq!(clock(90_000), "1d1h");
        assert_eq!(offset_label(0, 30_000), "0s");
        assert_eq!(offset_label(90_000, 30_000), "1m30s");
        assert_eq!(offset_label(200, 100), "200ms");
        assert_eq!(offset_label(1500, 500), "1.5s");
        assert_eq!(offset_label(2000, 500), "2s");
        assert_eq!(duration(350), "350ms");
        assert_eq!(duration(4_250), "4.2s");
        assert_eq!(duration(83_000), "1m23s");
        assert_eq!(duration(-5), "0ms");
    }

    #[test]
    fn tick_steps_bound_the_tick_count() {
        for span in [1i128, 7, 999, 1000, 59_000, 61_000, 3_600_000, 100 * DAY, i128::from(i64::MAX) * 2] {
            let step = tick_step(span);
            let ticks = (span + step - 1) / step;
            assert!((1..=MAX_TICKS).contains(&ticks), "span {span}: step {step} gives {ticks} ticks");
        }
        assert_eq!(tick_step(90_000), 15_000);
    }
}
