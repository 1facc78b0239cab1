//! The `graph-service` binary: serve the graph, run the demo, or print the GraphQL SDL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use graph_service::model::ProjectionConfig;
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
    /// Serve POST /events, /graphql (GraphiQL) and /healthz over the embedded store.
    Serve(ServeArgs),
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
            serve(Arc::new(store), args.common.listen).await
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
            serve(Arc::new(store), args.common.listen).await
        }
        Command::Schema => {
            print!("{}", graph_service::api::sdl());
            Ok(())
        }
    }
}

async fn serve(store: Arc<dyn GraphStore>, listen: SocketAddr) -> anyhow::Result<()> {
    tracing::info!(%listen, "serving");
    Server::new(TcpListener::bind(listen))
        .run_with_graceful_shutdown(
            graph_service::server::app(store),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
            None,
        )
        .await
        .context("HTTP server failed")
}
