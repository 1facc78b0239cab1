//! The command line of `graph-service`, in the library so that deployment files can be checked against it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

mod access;

pub use access::{AuthArgs, AuthSetup, EdgeArgs};

use crate::ingest::{DecodeOptions, Ingestor};
use crate::metrics::ServiceMetrics;
use crate::model::ProjectionConfig;
use crate::sensemaker::{EmitOutbox, Sensemaker, SensemakerConfig, emitter_from_url};
use crate::source::SourceConfig;
use crate::source::kafka::{KafkaOption, KafkaSourceConfig};
use crate::store::GraphStore;
use crate::store::embedded::EmbeddedStore;
use crate::store::neo4j::{Neo4jConfig, Neo4jStore};
use tekton_graph_schema::kafka::OptionsFile;

#[derive(Parser)]
#[command(version, about = "Tekton supply-chain graph: ingest facts, answer GraphQL")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines look on stderr: `text`, or `json` (one object per line). `RUST_LOG` filters them.
    #[arg(long, global = true, env = "GRAPH_SERVICE_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: tekton_graph_telemetry::logging::LogFormat,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve POST /events, /graphql (GraphiQL) and /healthz over the embedded store; optionally consume a Kafka topic.
    Serve(Box<ServeArgs>),
    /// Serve with bundled sample data preloaded (in memory unless --data-dir is given).
    Demo(Box<DemoArgs>),
    /// Print the GraphQL SDL.
    Schema,
    /// Run a Cypher statement against Neo4j in a READ transaction (Neo4j refuses writes); one JSON row per line.
    Cypher(CypherArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// Where the embedded store keeps its data (created if missing).
    #[arg(long, env = "GRAPH_SERVICE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// MiB of the embedded store's fact table kept in the process's memory; reads past it come from the operating
    /// system's page cache. The graph itself is always in memory.
    #[arg(long, env = "GRAPH_SERVICE_FACT_CACHE_MIB", default_value_t = 64)]
    pub fact_cache_mib: usize,
    /// The store: `embedded` (default; kept under --data-dir) or `neo4j://HOST:PORT` / `bolt://HOST:PORT`.
    #[arg(long, env = "GRAPH_SERVICE_STORE", default_value = "embedded", value_parser = StoreTarget::parse)]
    pub store: StoreTarget,
    #[command(flatten)]
    pub neo4j: Neo4jArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub events: EventArgs,
}

/// What comes in (unknown event types) and what goes out (the sensemaker's events).
#[derive(Args)]
pub struct EventArgs {
    /// Accept and skip CloudEvents of types this service does not read, instead of refusing them (HTTP 400, or the
    /// Kafka dead-letter topic).
    #[arg(long, env = "GRAPH_SERVICE_IGNORE_UNKNOWN_EVENTS")]
    pub ignore_unknown_events: bool,
    /// Emit what the graph learns (CDEvents `pipelinerun.finished`, `artifact.published`; run regressions; new
    /// critical/high vulnerabilities) to `http(s)://…` (one structured CloudEvent per POST) or
    /// `kafka://HOST:PORT[,HOST:PORT…]/TOPIC` or `amqp[s]://[USER@]HOST[:PORT]/VHOST?exchange=NAME&routing_key=KEY`
    /// (a RabbitMQ topic exchange, default `tekton-graph.events`, routed by event type; confirmed, persistent
    /// messages). Repeatable, or comma-separated in the environment.
    #[arg(long = "emit", value_name = "URL", env = "GRAPH_SERVICE_EMIT", value_delimiter = ',')]
    pub emit: Vec<String>,
    /// A librdkafka setting for Kafka emitters, e.g. `security.protocol=SASL_SSL` (repeatable; values never printed).
    #[arg(long = "emit-kafka-option", value_name = "KEY=VALUE", value_parser = KafkaOption::parse)]
    pub emit_kafka_options: Vec<KafkaOption>,
    /// A librdkafka properties file for Kafka emitters (where secrets such as `sasl.password` go).
    #[arg(long, env = "GRAPH_SERVICE_EMIT_KAFKA_OPTIONS_FILE", value_name = "PATH", value_parser = OptionsFile::parse)]
    pub emit_kafka_options_file: Option<OptionsFile>,
    /// Where events wait until their sinks take them (a redb file; default `<data-dir>/emit-outbox.redb`). It
    /// survives restarts: nothing learned is dropped while a receiver is down.
    #[arg(long, env = "GRAPH_SERVICE_EMIT_OUTBOX", value_name = "PATH")]
    pub emit_outbox: Option<PathBuf>,
    /// The CloudEvent `source` of emitted events.
    #[arg(long, env = "GRAPH_SERVICE_EMIT_SOURCE", default_value = "/tekton-graph")]
    pub emit_source: String,
    /// Where readers of emitted events reach this service; their GraphQL links point to `<URL>/graphql`.
    #[arg(long, env = "GRAPH_SERVICE_PUBLIC_URL", default_value = "http://localhost:8080")]
    pub public_url: String,
    /// A finished run is a duration regression when it took more than the previous run × this factor …
    #[arg(long, env = "GRAPH_SERVICE_REGRESSION_FACTOR", default_value_t = 1.5)]
    pub regression_factor: f64,
    /// … and more than the previous run + this many seconds.
    #[arg(long, env = "GRAPH_SERVICE_REGRESSION_MIN_SECONDS", default_value_t = 30.0)]
    pub regression_min_seconds: f64,
}

impl EventArgs {
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions { ignore_unknown: self.ignore_unknown_events }
    }

    /// The ingestor over `store` these settings describe, with a sensemaker when there is somewhere to emit to (its
    /// outbox under `data_dir` unless `--emit-outbox` says where). Call inside a Tokio runtime.
    pub fn ingestor(&self, store: Arc<dyn GraphStore>, data_dir: &std::path::Path) -> anyhow::Result<Ingestor> {
        let metrics = Arc::new(ServiceMetrics::new());
        let ingestor = Ingestor::new(store).with_options(self.decode_options()).with_metrics(metrics.clone());
        if self.emit.is_empty() {
            return Ok(ingestor);
        }
        let emit_options = OptionsFile::merged(&self.emit_kafka_options, self.emit_kafka_options_file.as_ref())
            .map_err(anyhow::Error::msg)?;
        let emitters = self
            .emit
            .iter()
            .map(|url| emitter_from_url(url, &emit_options).with_context(|| format!("setting up --emit {url}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for emitter in &emitters {
            tracing::info!(emitter = %emitter.describe(), "emitting what the graph learns");
        }
        let config = SensemakerConfig {
            source: self.emit_source.clone(),
            public_url: self.public_url.clone(),
            duration_factor: self.regression_factor,
            duration_min_seconds: self.regression_min_seconds,
            ..SensemakerConfig::default()
        };
        let path = self.emit_outbox.clone().unwrap_or_else(|| data_dir.join("emit-outbox.redb"));
        let outbox = EmitOutbox::open(&path)?;
        tracing::info!(outbox = %path.display(), "emission outbox open");
        Ok(ingestor.with_sensemaker(Sensemaker::with_metrics(config, emitters, outbox, metrics)))
    }
}

#[derive(Args)]
pub struct SourceArgs {
    /// Also consume fact CloudEvents from Kafka, `kafka://HOST:PORT[,HOST:PORT…]/TOPIC?group=NAME&dlq=TOPIC`
    /// (defaults: group `tekton-graph`, dead-letter topic `<TOPIC>.dlq`), or from a RabbitMQ quorum queue,
    /// `amqp[s]://[USER@]HOST[:PORT]/VHOST?queue=NAME&exchange=NAME&binding_key=KEY&dlx=NAME&delivery_limit=N`
    /// (defaults: queue and exchange `tekton-graph.facts`, binding key `#`, dead-letter exchange `<queue>.dlx` into
    /// `<queue>.dlq`, delivery limit 20; the password inline or in `password_file=PATH`, a private CA in
    /// `ca_file=PATH`).
    #[arg(long, env = "GRAPH_SERVICE_SOURCE", value_parser = parse_source)]
    pub source: Option<SourceConfig>,
    /// Most messages per batch (one store write, one offset commit or acknowledgement; for RabbitMQ also the
    /// prefetch, at most 65535).
    #[arg(long, alias = "kafka-batch-size", env = "GRAPH_SERVICE_BATCH_SIZE",
          default_value_t = KafkaSourceConfig::DEFAULT_BATCH_SIZE,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub batch_size: usize,
    /// How long a batch waits for more messages after its first one, in milliseconds.
    #[arg(long, alias = "kafka-batch-wait-ms", env = "GRAPH_SERVICE_BATCH_WAIT_MS", default_value_t = 200)]
    pub batch_wait_ms: u64,
    /// A librdkafka setting for the Kafka source, e.g. `security.protocol=SASL_SSL` (repeatable; values are never
    /// printed).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = KafkaOption::parse, requires = "source")]
    pub kafka_options: Vec<KafkaOption>,
    /// A librdkafka properties file (`KEY=VALUE` lines) for the Kafka source: where secrets such as
    /// `sasl.password` go (e.g. a mounted Secret), since flags refuse them.
    #[arg(long, env = "GRAPH_SERVICE_KAFKA_OPTIONS_FILE", value_name = "PATH", value_parser = OptionsFile::parse)]
    pub kafka_options_file: Option<OptionsFile>,
}

fn parse_source(url: &str) -> Result<SourceConfig, String> {
    SourceConfig::from_url(url).map_err(|e| e.to_string())
}

impl SourceArgs {
    pub fn config(&self) -> anyhow::Result<Option<SourceConfig>> {
        let Some(mut config) = self.source.clone() else { return Ok(None) };
        config.set_batches(self.batch_size, Duration::from_millis(self.batch_wait_ms));
        let kafka_options =
            OptionsFile::merged(&self.kafka_options, self.kafka_options_file.as_ref()).map_err(anyhow::Error::msg)?;
        match &mut config {
            SourceConfig::Kafka(kafka) => kafka.options = kafka_options,
            SourceConfig::Amqp(_) if !kafka_options.is_empty() => {
                anyhow::bail!("--kafka-option and --kafka-options-file are for a kafka:// source, not amqp://")
            }
            SourceConfig::Amqp(_) => {}
        }
        Ok(Some(config))
    }
}

/// Which engine holds the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreTarget {
    Embedded,
    /// A Bolt URI (`neo4j://…` or `bolt://…`).
    Neo4j(String),
}

impl StoreTarget {
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "embedded" => Ok(StoreTarget::Embedded),
            v if ["neo4j://", "bolt://", "neo4j+s://", "bolt+s://"].iter().any(|p| v.starts_with(p)) => {
                Ok(StoreTarget::Neo4j(v.to_string()))
            }
            other => Err(format!("unsupported store `{other}`: expected `embedded` or `neo4j://HOST:PORT`")),
        }
    }
}

/// Neo4j credentials: the password from the environment or a file (never a flag, never the repository).
#[derive(Args, Debug, Clone)]
pub struct Neo4jArgs {
    #[arg(long, env = "NEO4J_USER", default_value = "neo4j")]
    pub neo4j_user: String,
    /// File holding the password (e.g. a mounted Kubernetes secret). Else the password comes from the
    /// environment variable NEO4J_PASSWORD — never from a flag, which `ps` would show.
    #[arg(long, env = "NEO4J_PASSWORD_FILE")]
    pub neo4j_password_file: Option<PathBuf>,
    /// Database name (default: the server's default database).
    #[arg(long, env = "NEO4J_DATABASE")]
    pub neo4j_database: Option<String>,
    /// Most Bolt connections in the pool.
    #[arg(long, env = "NEO4J_MAX_CONNECTIONS", default_value_t = 8)]
    pub neo4j_max_connections: usize,
    /// PEM file of the CA that signed the server's certificate, for `neo4j+s://` (else the platform's roots).
    #[arg(long, env = "NEO4J_CA_FILE")]
    pub neo4j_ca_file: Option<PathBuf>,
}

impl Neo4jArgs {
    pub fn config(&self, uri: &str) -> anyhow::Result<Neo4jConfig> {
        let from_env = std::env::var("NEO4J_PASSWORD").ok().filter(|p| !p.is_empty());
        let password = match (&self.neo4j_password_file, from_env) {
            (Some(_), Some(_)) => {
                anyhow::bail!("give the Neo4j password once: NEO4J_PASSWORD or --neo4j-password-file")
            }
            (None, Some(p)) => p,
            (Some(file), None) => std::fs::read_to_string(file)
                .with_context(|| format!("reading the Neo4j password from {}", file.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
            (None, None) => anyhow::bail!("Neo4j needs a password: set NEO4J_PASSWORD or --neo4j-password-file"),
        };
        Ok(Neo4jConfig {
            uri: uri.to_string(),
            user: self.neo4j_user.clone(),
            password,
            database: self.neo4j_database.clone(),
            max_connections: self.neo4j_max_connections,
            ca_file: self.neo4j_ca_file.clone(),
        })
    }
}

impl ServeArgs {
    /// Opens the configured store.
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn GraphStore>> {
        let projection = self.common.projection();
        Ok(match &self.store {
            StoreTarget::Embedded => Arc::new(
                EmbeddedStore::open_with_cache(&self.data_dir, projection, self.fact_cache_mib.saturating_mul(1 << 20))
                    .with_context(|| format!("opening the embedded store in {}", self.data_dir.display()))?,
            ),
            StoreTarget::Neo4j(uri) => Arc::new(
                Neo4jStore::connect(&self.neo4j.config(uri)?, projection)
                    .await
                    .with_context(|| format!("connecting to Neo4j at {uri}"))?,
            ),
        })
    }
}

#[derive(Args)]
pub struct CypherArgs {
    /// The statement (or use --file).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub statement: Option<String>,
    /// Read the statement from a file, e.g. cypher/explore/trace_image.cypher.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// A parameter as NAME=JSON (a bare word is taken as a string), e.g. --param digest=sha256:… --param factor=1.2
    #[arg(long = "param", value_name = "NAME=JSON", value_parser = parse_param)]
    pub params: Vec<(String, serde_json::Value)>,
    /// Neo4j to ask.
    #[arg(long, env = "GRAPH_SERVICE_STORE", default_value = "neo4j://127.0.0.1:7687")]
    pub uri: String,
    #[command(flatten)]
    pub neo4j: Neo4jArgs,
}

fn parse_param(value: &str) -> Result<(String, serde_json::Value), String> {
    let (name, raw) = value.split_once('=').ok_or_else(|| format!("`{value}` is not NAME=VALUE"))?;
    let parsed = serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_string()));
    Ok((name.to_string(), parsed))
}

impl CypherArgs {
    pub fn statement(&self) -> anyhow::Result<String> {
        match (&self.statement, &self.file) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(file)) => {
                std::fs::read_to_string(file).with_context(|| format!("reading Cypher from {}", file.display()))
            }
            (None, None) => anyhow::bail!("give a statement or --file"),
        }
    }
}

#[derive(Args)]
pub struct DemoArgs {
    /// Keep the demo graph on disk here instead of in memory.
    #[arg(long, env = "GRAPH_SERVICE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct CommonArgs {
    /// Address to listen on.
    #[arg(long, env = "GRAPH_SERVICE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Label whose value names a run's System (default: the run's repository).
    #[arg(long, env = "GRAPH_SERVICE_SYSTEM_LABEL")]
    pub system_label: Option<String>,
    /// Base URL of a Tekton Dashboard: the web UI links each run to its logs there.
    #[arg(long, env = "GRAPH_SERVICE_DASHBOARD_URL")]
    pub dashboard_url: Option<String>,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub edge: EdgeArgs,
}

impl CommonArgs {
    pub fn ui(&self) -> crate::ui::UiConfig {
        crate::ui::UiConfig { dashboard_url: self.dashboard_url.clone() }
    }

    /// The HTTP surface's settings; refuses an unauthenticated non-loopback listener (see [`AuthArgs::setup`]).
    pub async fn app_config(&self, demo: bool) -> anyhow::Result<crate::server::AppConfig> {
        let auth = self.auth.setup(self.listen, demo).await?;
        Ok(crate::server::AppConfig {
            ui: self.ui(),
            edge: self.edge.config(),
            authenticator: auth.authenticator,
            auth_off_reason: auth.off_reason,
            login: auth.login,
        })
    }

    pub fn projection(&self) -> ProjectionConfig {
        ProjectionConfig { system_label: self.system_label.clone() }
    }
}
