//! `harvester`: observes Tekton runs and sends them as facts (CloudEvents) to a sink.
//!
//! Data flows one way: a source (`sources/`: file replay, Kubernetes watch) emits raw objects, the pure
//! `tekton-translate` crate turns them into facts, and a sink (`sinks/`: stdout, HTTP or Kafka) delivers them.
//! `topology` wires the three; `report` owns what the user sees on stderr.

mod metrics;
mod report;
mod sinks;
mod sources;
mod topology;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use tekton_graph_telemetry::metrics::listen;

use crate::sinks::{Sink, SinkConfig};
use crate::sources::file::FileSourceConfig;
use crate::sources::kube::{KubeSource, KubeSourceConfig};

#[derive(Debug, Parser)]
#[command(name = "harvester", version, about = "Turns Tekton runs into supply-chain facts and sends them to a sink")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How diagnostic log lines look on stderr: `text`, or `json` (one object per line). `HARVESTER_LOG` filters
    /// them (default `warn`); progress and error lines for the user are plain text either way.
    #[arg(long, global = true, env = "HARVESTER_LOG_FORMAT", value_enum, default_value_t)]
    log_format: tekton_graph_telemetry::logging::LogFormat,
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
        /// Serve Prometheus metrics at `http://ADDR/metrics` (`127.0.0.1:9464`; port 0 picks a free one). Off
        /// unless given; an address other than loopback needs --metrics-token-file.
        #[arg(long, env = "HARVESTER_METRICS_LISTEN")]
        metrics_listen: Option<std::net::SocketAddr>,
        /// A file holding the bearer token `/metrics` asks for (Prometheus: `authorization.credentials_file`).
        #[arg(long, env = "HARVESTER_METRICS_TOKEN_FILE")]
        metrics_token_file: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = {
        let _inside = runtime.enter();
        tekton_graph_telemetry::logging::init(cli.log_format, "HARVESTER_LOG", "warn", "harvester")
    };
    let code = match run(&runtime, cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    // Outside the runtime, whose threads still send the last spans.
    telemetry.shutdown();
    code
}

fn run(runtime: &tokio::runtime::Runtime, cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay { source, sink } => runtime.block_on(async {
            let sink = Sink::build(&sink).context("setting up the sink")?;
            let reporter = topology::replay(&source, sink).await.context("replay stopped")?;
            reporter.finish();
            Ok(if reporter.errors() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }),
        Command::Watch { source, sink, linger_ms, metrics_listen, metrics_token_file } => runtime.block_on(async {
            let metrics = Arc::new(metrics::HarvesterMetrics::new());
            let metrics_server = match metrics_listen {
                Some(addr) => {
                    let token = match &metrics_token_file {
                        Some(path) => Some(read_token(path)?),
                        None => None,
                    };
                    let server = listen(addr, metrics.registry().clone(), token).await?;
                    eprintln!("metrics on http://{}/metrics", server.addr());
                    Some(server)
                }
                None => None,
            };
            let sink = Sink::build(&sink).context("setting up the sink")?;
            let source = KubeSource::connect(&source).await.context("connecting to Kubernetes")?;
            for target in source.targets() {
                eprintln!("watching {}", target.describe());
            }
            let options = topology::WatchOptions { linger: Duration::from_millis(linger_ms) };
            let reporter =
                topology::watch(source, sink, options, metrics, shutdown_signal()).await.context("watch stopped")?;
            reporter.finish_watch();
            if let Some(server) = metrics_server {
                server.stop();
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// The metrics token: the file's first line, which must not be empty.
fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading --metrics-token-file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    anyhow::ensure!(!token.is_empty(), "--metrics-token-file {}: the file is empty", path.display());
    Ok(token)
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
