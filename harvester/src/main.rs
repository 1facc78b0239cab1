//! `harvester`: observes Tekton runs and sends them as facts (CloudEvents) to a sink.
//!
//! Data flows one way: a source (`sources/`: file replay, Kubernetes watch) emits raw objects, the pure
//! `tekton-translate` crate turns them into facts, and a sink (`sinks/`: stdout, HTTP or Kafka) delivers them.
//! `topology` wires the three; `report` owns what the user sees on stderr.

mod report;
mod sinks;
mod sources;
mod topology;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::sinks::{Sink, SinkConfig};
use crate::sources::file::FileSourceConfig;
use crate::sources::kube::{KubeSource, KubeSourceConfig};

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
    /// Watches PipelineRuns and TaskRuns in Kubernetes (tekton.dev/v1, else v1beta1) until SIGINT or SIGTERM.
    ///
    /// Lists the existing runs first, then sends every change; a deleted run is sent once more, marked deleted.
    /// Errors are reported and the watch goes on; on a signal the sink is flushed and the exit code is 0.
    Watch {
        #[command(flatten)]
        source: KubeSourceConfig,
        #[command(flatten)]
        sink: SinkConfig,
        /// Longest time a fact waits for its batch to fill before it is sent, in milliseconds.
        #[arg(long, env = "HARVESTER_LINGER_MS", default_value_t = 100)]
        linger_ms: u64,
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
        Command::Watch { source, sink, linger_ms } => runtime.block_on(async {
            let sink = Sink::build(&sink).context("setting up the sink")?;
            let source = KubeSource::connect(&source).await.context("connecting to Kubernetes")?;
            for target in source.targets() {
                eprintln!("watching {}", target.describe());
            }
            let options = topology::WatchOptions { linger: Duration::from_millis(linger_ms) };
            let reporter = topology::watch(source, sink, options, shutdown_signal()).await.context("watch stopped")?;
            reporter.finish_watch();
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// Completes on SIGINT or SIGTERM (what Kubernetes sends before killing a pod).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down: flushing the sink");
}
