//! `harvester`: observes Tekton runs and sends them as facts (CloudEvents) to a sink.
//!
//! Data flows one way: a source (`sources/`: file replay today, a Kubernetes watch later) emits raw objects, the
//! pure `tekton-translate` crate turns them into facts, and a sink (`sinks/`: stdout or HTTP) delivers them.
//! `topology` wires the three; `report` owns what the user sees on stderr.

mod report;
mod sinks;
mod sources;
mod topology;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::sinks::{Sink, SinkConfig};
use crate::sources::file::FileSourceConfig;

#[derive(Debug, Parser)]
#[command(name = "harvester", version, about = "Turns Tekton runs into supply-chain facts and sends them to a sink")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replays PipelineRuns and TaskRuns from files, folders or stdin (JSON, kubectl Lists, multi-document YAML).
    ///
    /// Exits 1 if any file, document or batch failed; the others are still sent.
    Replay {
        #[command(flatten)]
        source: FileSourceConfig,
        #[command(flatten)]
        sink: SinkConfig,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_env("HARVESTER_LOG").unwrap_or_else(|_| EnvFilter::new("warn")))
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    match cli.command {
        Command::Replay { source, sink } => runtime.block_on(async {
            let sink = Sink::build(&sink).context("setting up the sink")?;
            let reporter = topology::replay(&source, sink).await.context("replay stopped")?;
            reporter.finish();
            Ok(if reporter.errors() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }),
    }
}
