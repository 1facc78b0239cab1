//! The `graph-service` binary: serve the graph, run the demo, or print the GraphQL SDL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use graph_service::model::ProjectionConfig;
use graph_service::source::kafka::{KafkaOption, KafkaSource, KafkaSourceConfig};
use graph_service::source::{Shutdown, SourceContext};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use poem::Server;
use poem::listener::TcpListener;

#[derive(Parser)]
#[command(version, about = "Tekton supply-chain graph: ingest facts, answer GraphQL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve POST /events, /graphql (GraphiQL) and /healthz over the embedded store; optionally consume a Kafka topic.
    Serve(Box<ServeArgs>),
    /// Serve with bundled sample data preloaded (in memory unless --data-dir is given).
    Demo(DemoArgs),
    /// Print the GraphQL SDL.
    Schema,
}

#[derive(Args)]
struct ServeArgs {
    /// Where the embedded store keeps its data (created if missing).
    #[arg(long, env = "GRAPH_SERVICE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    source: SourceArgs,
}

#[derive(Args)]
struct SourceArgs {
    /// Also consume fact CloudEvents from Kafka: `kafka://HOST:PORT[,HOST:PORT…]/TOPIC?group=NAME&dlq=TOPIC`
    /// (defaults: group `tekton-graph`, dead-letter topic `<TOPIC>.dlq`).
    #[arg(long, env = "GRAPH_SERVICE_SOURCE", value_parser = parse_source)]
    source: Option<KafkaSourceConfig>,
    /// Most Kafka messages per batch (one store write, one offset commit).
    #[arg(long, env = "GRAPH_SERVICE_KAFKA_BATCH_SIZE", default_value_t = KafkaSourceConfig::DEFAULT_BATCH_SIZE,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    kafka_batch_size: usize,
    /// How long a Kafka batch waits for more messages after its first one, in milliseconds.
    #[arg(long, env = "GRAPH_SERVICE_KAFKA_BATCH_WAIT_MS", default_value_t = 200)]
    kafka_batch_wait_ms: u64,
    /// A librdkafka setting for the Kafka source, e.g. `security.protocol=SASL_SSL` (repeatable; values are never
    /// printed).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = KafkaOption::parse, requires = "source")]
    kafka_options: Vec<KafkaOption>,
}

fn parse_source(url: &str) -> Result<KafkaSourceConfig, String> {
    KafkaSourceConfig::from_url(url).map_err(|e| e.to_string())
}

impl SourceArgs {
    fn config(&self) -> Option<KafkaSourceConfig> {
        self.source.clone().map(|mut config| {
            config.batch_size = self.kafka_batch_size;
            config.batch_wait = Duration::from_millis(self.kafka_batch_wait_ms);
            config.options = self.kafka_options.clone();
            config
        })
    }
}

#[derive(Args)]
struct DemoArgs {
    /// Keep the demo graph on disk here instead of in memory.
    #[arg(long, env = "GRAPH_SERVICE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct CommonArgs {
    /// Address to listen on.
    #[arg(long, env = "GRAPH_SERVICE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Label whose value names a run's System (default: the run's repository).
    #[arg(long, env = "GRAPH_SERVICE_SYSTEM_LABEL")]
    system_label: Option<String>,
}

impl CommonArgs {
    fn projection(&self) -> ProjectionConfig {
        ProjectionConfig { system_label: self.system_label.clone() }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            let store = EmbeddedStore::open(&args.data_dir, args.common.projection())
                .with_context(|| format!("opening store in {}", args.data_dir.display()))?;
            serve(Arc::new(store), args.common.listen, args.source.config()).await
        }
        Command::Demo(args) => {
            let config = args.common.projection();
            let store = match &args.data_dir {
                Some(dir) => EmbeddedStore::open(dir, config)?,
                None => EmbeddedStore::in_memory(config),
            };
            let facts = graph_service::demo::sample_facts().map_err(anyhow::Error::msg)?;
            let stats = store.apply(&facts).await?;
            let url = format!("http://{}", args.common.listen);
            println!("tekton-graph demo: loaded {} facts ({} runs)", facts.len(), stats.applied);
            println!("GraphiQL: {url}/graphql");
            println!("Where did this image come from?\n  {}", graph_service::demo::EXAMPLE_IMAGE_QUERY);
            println!("What changed since the previous run?\n  {}", graph_service::demo::EXAMPLE_DIFF_QUERY);
            println!(
                "Try: curl -s {url}/graphql -H 'content-type: application/json' -d '{{\"query\":\"{{ stats {{ pipelineRuns taskRuns }} }}\"}}'"
            );
            serve(Arc::new(store), args.common.listen, None).await
        }
        Command::Schema => {
            print!("{}", graph_service::api::sdl());
            Ok(())
        }
    }
}

/// Serves HTTP and, when configured, runs the Kafka source next to it. Ctrl-C or SIGTERM stops both; a source that
/// stops on its own (it cannot subscribe) stops the server too.
async fn serve(
    store: Arc<dyn GraphStore>,
    listen: SocketAddr,
    source: Option<KafkaSourceConfig>,
) -> anyhow::Result<()> {
    let (trigger, shutdown) = Shutdown::new();
    let source = match source {
        Some(config) => {
            let source = KafkaSource::new(&config).context("setting up the Kafka source")?;
            let cx = SourceContext { store: store.clone(), shutdown: shutdown.clone() };
            Some(tokio::spawn(source.run(cx)))
        }
        None => None,
    };
    let has_source = source.is_some();
    let source = async move {
        match source {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    };
    tracing::info!(%listen, "serving");
    let server = Server::new(TcpListener::bind(listen)).run_with_graceful_shutdown(
        graph_service::server::app(store),
        {
            let shutdown = shutdown.clone();
            async move { shutdown.wait().await }
        },
        None,
    );
    tokio::pin!(server, source);
    let signals = termination();
    tokio::pin!(signals);
    loop {
        tokio::select! {
            _ = &mut signals, if !shutdown.is_triggered() => {
                tracing::info!("shutting down");
                trigger.trigger();
            }
            served = &mut server => {
                trigger.trigger();
                if has_source {
                    source_result(source.await)?;
                }
                return served.context("HTTP server failed");
            }
            consumed = &mut source => {
                trigger.trigger();
                let served = server.await;
                source_result(consumed)?;
                return served.context("HTTP server failed");
            }
        }
    }
}

fn source_result(
    result: Result<Result<(), graph_service::source::SourceError>, tokio::task::JoinError>,
) -> anyhow::Result<()> {
    result.context("Kafka source task failed")?.context("Kafka source stopped")
}

/// Ctrl-C, or SIGTERM on Unix.
async fn termination() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
