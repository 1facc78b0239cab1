//! The `graph-service` binary: serve the graph, run the demo, or print the GraphQL SDL.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use graph_service::cli::{Cli, Command};
use graph_service::ingest::Ingestor;
use graph_service::model::ProjectionConfig;
use graph_service::source::{Shutdown, SourceConfig, SourceContext};
use graph_service::store::GraphStore;
use graph_service::store::embedded::EmbeddedStore;
use graph_service::store::neo4j::Neo4jStore;
use poem::Server;
use poem::listener::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let telemetry = tekton_graph_telemetry::logging::init(cli.log_format, "RUST_LOG", "info", "graph-service");
    let result = run(cli.command).await;
    // The exporter's last spans are sent from the runtime this thread belongs to: let the others run meanwhile.
    tokio::task::block_in_place(|| telemetry.shutdown());
    result
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let store = args.open_store().await?;
            let app = args.common.app_config(false).await?;
            let ingestor = args.events.ingestor(store, &args.data_dir)?;
            let recovered = ingestor.recover_emissions().await.context("recovering the emission outbox")?;
            if recovered > 0 {
                tracing::info!(events = recovered, "queued the events of changes a crash left unsent");
            }
            serve(Arc::new(ingestor), args.common.listen, app, args.source.config()?).await
        }
        Command::Demo(args) => {
            let app = args.common.app_config(true).await?;
            let config = args.common.projection();
            let store = match &args.data_dir {
                Some(dir) => EmbeddedStore::open(dir, config)?,
                None => EmbeddedStore::in_memory(config),
            };
            let facts = graph_service::demo::sample_facts().map_err(anyhow::Error::msg)?;
            let stats = store.apply(&facts).await?;
            let url = format!("http://{}", args.common.listen);
            println!("tekton-graph demo: loaded {} facts ({} runs)", facts.len(), stats.applied);
            println!("Web UI:   {url}/");
            println!("GraphiQL: {url}/graphql");
            println!("Where did this image come from?\n  {}", graph_service::demo::EXAMPLE_IMAGE_QUERY);
            println!("What changed since the previous run?\n  {}", graph_service::demo::EXAMPLE_DIFF_QUERY);
            println!(
                "Try: curl -s {url}/graphql -H 'content-type: application/json' -d '{{\"query\":\"{{ stats {{ pipelineRuns taskRuns }} }}\"}}'"
            );
            serve(Arc::new(Ingestor::new(Arc::new(store))), args.common.listen, app, None).await
        }
        Command::Schema => {
            print!("{}", graph_service::api::sdl());
            Ok(())
        }
        Command::Cypher(args) => {
            let statement = args.statement()?;
            let store = Neo4jStore::connect(&args.neo4j.config(&args.uri)?, ProjectionConfig::default())
                .await
                .with_context(|| format!("connecting to Neo4j at {}", args.uri))?;
            let rows = store.read_only(&statement, args.params.into_iter().collect()).await?;
            for row in rows {
                println!("{row}");
            }
            Ok(())
        }
    }
}

/// Serves HTTP and, when configured, runs the Kafka or RabbitMQ source next to it. Ctrl-C or SIGTERM stops both; a source that
/// stops on its own (it cannot subscribe) stops the server too.
async fn serve(
    ingestor: Arc<Ingestor>,
    listen: SocketAddr,
    app: graph_service::server::AppConfig,
    source: Option<SourceConfig>,
) -> anyhow::Result<()> {
    let (trigger, shutdown) = Shutdown::new();
    let source = source.map(|config| {
        let cx = SourceContext { ingest: ingestor.clone(), shutdown: shutdown.clone() };
        tokio::spawn(config.run(cx))
    });
    let has_source = source.is_some();
    let source = async move {
        match source {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    };
    tracing::info!(%listen, "serving");
    let server = Server::new(TcpListener::bind(listen)).run_with_graceful_shutdown(
        graph_service::server::app_with_config(ingestor, app),
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
    result.context("source task failed")?.context("source stopped")
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
