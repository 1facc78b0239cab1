//! What the user sees on stderr: one `error: …` line per problem, a progress bar when stderr is a terminal,
//! and a summary line at the end. Diagnostics (retries, debug detail) go through `tracing` instead.

use std::fmt::Display;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Reporter {
    bar: ProgressBar,
    facts: usize,
    files: usize,
    errors: usize,
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
        Reporter { bar, facts: 0, files: 0, errors: 0 }
    }

    pub fn error(&mut self, message: impl Display) {
        self.errors += 1;
        self.bar.suspend(|| eprintln!("error: {message}"));
    }

    pub fn facts_sent(&mut self, count: usize) {
        self.facts += count;
        self.bar.set_message(self.facts.to_string());
    }

    pub fn file_done(&mut self) {
        self.files += 1;
        self.bar.inc(1);
    }

    pub fn errors(&self) -> usize {
        self.errors
    }

    /// Clears the bar and prints the summary line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        eprintln!("replayed {} facts from {} files ({} errors)", self.facts, self.files, self.errors);
    }
}
