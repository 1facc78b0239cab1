//! `--sink -`: one structured-mode CloudEvent (JSON) per line, for piping into `jq` or a file.

use std::io::{BufWriter, Stdout, Write};

use cloudevents::Event;

use super::SinkError;

pub struct StdoutSink {
    out: BufWriter<Stdout>,
}

impl StdoutSink {
    pub fn new() -> Self {
        StdoutSink { out: BufWriter::new(std::io::stdout()) }
    }

    pub fn push(&mut self, event: &Event) -> Result<usize, SinkError> {
        // Encode first, so that a closed stdout is reported as such and not as an encoding error.
        let mut line = serde_json::to_vec(event).map_err(SinkError::Encode)?;
        line.push(b'\n');
        self.out.write_all(&line).map_err(SinkError::Stdout)?;
        Ok(1)
    }

    pub fn flush(&mut self) -> Result<usize, SinkError> {
        self.out.flush().map_err(SinkError::Stdout)?;
        Ok(0)
    }
}
