//! What the user sees on stderr: one `error: …` line per problem, a progress bar when stderr is a terminal
//! (replay) or a counters line now and then (watch), and a summary line at the end. Diagnostics (retries, debug
//! detail) go through `tracing` instead.

use std::fmt::Display;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::metrics::HarvesterMetrics;

pub struct Reporter {
    bar: ProgressBar,
    facts: usize,
    files: usize,
    errors: usize,
    /// Watched objects, and how many of them were deletions.
    objects: u64,
    deletions: u64,
    /// A batch was lost since the last successful delivery.
    lost: bool,
    /// Counters at the last progress line, to stay quiet while nothing happens.
    last_progress: (usize, u64, usize),
    /// The same counts for `/metrics` (a watch's `--metrics-listen`).
    metrics: Arc<HarvesterMetrics>,
}

impl Reporter {
    /// A reporter for `files` inputs; the bar is hidden unless stderr is a terminal, so logs and pipes stay clean.
    pub fn new(files: usize) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(files as u64);
            let style = ProgressStyle::with_template("{bar:30} {pos}/{len} files, {msg} facts sent")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_message("0");
        Reporter::with_bar(bar, Arc::default())
    }

    /// A reporter for a watch: no bar (a watch has no end to show), progress as plain lines; counts go to
    /// `metrics` too.
    pub fn watching(metrics: Arc<HarvesterMetrics>) -> Self {
        Reporter::with_bar(ProgressBar::hidden(), metrics)
    }

    fn with_bar(bar: ProgressBar, metrics: Arc<HarvesterMetrics>) -> Self {
        Reporter {
            bar,
            facts: 0,
            files: 0,
            errors: 0,
            objects: 0,
            deletions: 0,
            lost: false,
            last_progress: (0, 0, 0),
            metrics,
        }
    }

    pub fn error(&mut self, message: impl Display) {
        self.errors += 1;
        self.metrics.error();
        self.bar.suspend(|| eprintln!("error: {message}"));
    }

    pub fn facts_sent(&mut self, count: usize) {
        self.facts += count;
        self.metrics.facts_sent(count);
        self.bar.set_message(self.facts.to_string());
    }

    /// Notes a lost batch of `count` facts; [`Reporter::take_loss`] tells (once) whether one happened.
    pub fn facts_lost(&mut self, count: usize) {
        self.lost = true;
        self.metrics.facts_lost(count);
    }

    /// The watch of `target` failed (it restarts by itself).
    pub fn watch_failed(&mut self, target: &str) {
        self.metrics.watch_error(target);
    }

    /// Every watch restarts to recover a lost batch.
    pub fn relisted(&mut self) {
        self.metrics.relisted();
    }

    pub fn take_loss(&mut self) -> bool {
        std::mem::take(&mut self.lost)
    }

    pub fn file_done(&mut self) {
        self.files += 1;
        self.bar.inc(1);
    }

    pub fn object_seen(&mut self, deletion: bool) {
        self.objects += 1;
        self.deletions += u64::from(deletion);
        self.metrics.object(deletion);
    }

    /// The end of a watcher's (re-)list: how many objects it listed and how long that took.
    pub fn listed(&mut self, origin: &str, objects: u64, elapsed: Duration) {
        self.metrics.listed(origin, elapsed);
        eprintln!("listed {objects} {origin} in {:.1} s", elapsed.as_secs_f64());
    }

    /// A counters line, unless nothing changed since the last one.
    pub fn progress(&mut self) {
        let now = (self.facts, self.objects, self.errors);
        if now != self.last_progress {
            self.last_progress = now;
            eprintln!("{}", self.watch_summary("watching:"));
        }
    }

    pub fn errors(&self) -> usize {
        self.errors
    }

    fn watch_summary(&self, prefix: &str) -> String {
        format!(
            "{prefix} {} objects seen ({} deletions), {} facts sent ({} errors)",
            self.objects, self.deletions, self.facts, self.errors
        )
    }

    /// Clears the bar and prints the summary line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        eprintln!("replayed {} facts from {} files ({} errors)", self.facts, self.files, self.errors);
    }

    /// The summary line of a watch that was stopped.
    pub fn finish_watch(&self) {
        eprintln!("{}", self.watch_summary("stopped watching:"));
    }
}

/// An error with its sources: client libraries' own messages ("error sending request") hide the cause.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
