//! The `notifier` binary: serve (receive events, deliver messages) or check a rule file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use notifier::Notifier;
use notifier::config::Config;
use notifier::rules::Rules;
use notifier::server::{Access, routes};
use notifier::source::SourceConfig;
use poem::Server;
use poem::listener::TcpListener;
use tekton_graph_access::StaticTokens;
use tekton_graph_kafka::{KafkaOption, Shutdown};
use tekton_graph_schema::kafka::OptionsFile;

#[derive(Parser)]
#[command(
    name = "notifier",
    version,
    about = "Turns supply-chain events into messages and pipeline triggers, by rules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines look on stderr: `text`, or `json` (one object per line). `RUST_LOG` filters them.
    #[arg(long, global = true, env = "NOTIFIER_LOG_FORMAT", value_enum, default_value_t)]
    log_format: tekton_graph_telemetry::logging::LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Receive events over HTTP and deliver what the rules ask for.
    Serve(Box<ServeArgs>),
    /// Check a rule file (references, CEL, templates) without starting; secrets are not read.
    Check {
        /// The rule file (YAML).
        #[arg(long, env = "NOTIFIER_RULES")]
        rules: PathBuf,
    },
    /// A local webhook for trying rules: prints every JSON body it receives, one per line, and answers 200.
    Receiver {
        #[arg(long, default_value = "127.0.0.1:9099")]
        listen: SocketAddr,
    },
}

#[poem::handler]
fn print_body(body: poem::web::Json<serde_json::Value>) -> &'static str {
    println!("{}", body.0);
    "ok"
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The rule file (YAML): channels, triggers, subscriptions, silences.
    #[arg(long, env = "NOTIFIER_RULES")]
    rules: PathBuf,
    /// The outbox and delivery history (SQLite file; created if missing).
    #[arg(long, env = "NOTIFIER_DB", default_value = "notifier.db")]
    db: PathBuf,
    /// Address of the HTTP listener.
    #[arg(long, env = "NOTIFIER_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Bearer tokens, one per line: `<token or sha256:HEX> <role>[,<role>] <name>` (as graph-service reads).
    #[arg(long, env = "NOTIFIER_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Serve without authentication on a non-loopback address.
    #[arg(long, env = "NOTIFIER_INSECURE_NO_AUTH")]
    insecure_no_auth: bool,
    /// Also consume events from Kafka, `kafka://HOST:PORT[,HOST:PORT…]/TOPIC?group=NAME&dlq=TOPIC` (defaults: group
    /// `tekton-graph`, dead-letter topic `<TOPIC>.dlq`; give the notifier its own group), or from RabbitMQ,
    /// `amqp[s]://[USER@]HOST[:PORT]/VHOST?queue=NAME&exchange=NAME&binding_key=KEY` (defaults: queue
    /// `tekton-graph.notifier` bound with `#` to graph-service's exchange `tekton-graph.events`, dead letters in
    /// `<queue>.dlq`; the password inline or in `password_file=PATH`).
    #[arg(long, env = "NOTIFIER_SOURCE", value_parser = parse_source)]
    source: Option<SourceConfig>,
    /// A librdkafka setting for the Kafka source, e.g. `security.protocol=SASL_SSL` (repeatable; values never printed).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = KafkaOption::parse, requires = "source")]
    kafka_options: Vec<KafkaOption>,
    /// A librdkafka properties file for the Kafka source (where secrets such as `sasl.password` go).
    #[arg(long, env = "NOTIFIER_KAFKA_OPTIONS_FILE", value_name = "PATH", value_parser = OptionsFile::parse)]
    kafka_options_file: Option<OptionsFile>,
    /// How often the rule file is read again; a change is put in force without a restart (a broken one is refused
    /// and logged, the rules in force stay). 0: never.
    #[arg(long, env = "NOTIFIER_RELOAD_SECONDS", default_value_t = 5)]
    reload_seconds: u64,
    /// Watch NotificationPolicy custom resources (tekton-graph.dev/v1alpha1) and put them in force live: `all`
    /// namespaces, or a comma-separated list.
    #[arg(long, env = "NOTIFIER_POLICIES", value_name = "all|NAMESPACE[,…]")]
    policies: Option<String>,
    /// The kubeconfig for `--policies`. Default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account.
    #[arg(long, requires = "policies")]
    kubeconfig: Option<PathBuf>,
    /// How often the Secrets that policies name are read again (a rotated Secret is put in force).
    #[arg(long, env = "NOTIFIER_POLICY_RESYNC_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    policy_resync_seconds: u64,
}

/// Reads the rule file every `every` and puts a changed one in force.
async fn reload_rules(path: PathBuf, every: std::time::Duration, notifier: Arc<Notifier>) {
    let mut last = std::fs::read_to_string(&path).ok();
    loop {
        tokio::time::sleep(every).await;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                tracing::warn!(rules = %path.display(), %error, "cannot read the rule file; keeping the rules in force");
                continue;
            }
        };
        if last.as_deref() == Some(text.as_str()) {
            continue;
        }
        last = Some(text.clone());
        let reloaded = match Config::parse(&text) {
            Ok(config) => notifier.reload_file(config).await.map_err(|e| e.to_string()),
            Err(reason) => Err(reason),
        };
        match reloaded {
            Ok(()) => tracing::info!(rules = %path.display(), "rule file reloaded"),
            Err(reason) => {
                tracing::error!(rules = %path.display(), %reason, "rule file refused; keeping the rules in force")
            }
        }
    }
}

async fn kube_client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await.context("finding a kubeconfig")?,
    };
    kube::Client::try_from(config).context("connecting to Kubernetes")
}

fn parse_source(url: &str) -> Result<SourceConfig, String> {
    SourceConfig::from_url(url).map_err(|e| e.to_string())
}

impl ServeArgs {
    fn access(&self) -> anyhow::Result<Access> {
        if let Some(path) = &self.token_file {
            let tokens = StaticTokens::load(path)?;
            anyhow::ensure!(!tokens.is_empty(), "the token file {} holds no token", path.display());
            return Ok(Access::Tokens(Arc::new(tokens)));
        }
        if self.listen.ip().is_loopback() {
            return Ok(Access::Open { reason: "loopback".into() });
        }
        if self.insecure_no_auth {
            tracing::warn!(listen = %self.listen, "serving WITHOUT authentication on a non-loopback address (--insecure-no-auth)");
            return Ok(Access::Open { reason: "insecure-no-auth".into() });
        }
        anyhow::bail!(
            "refusing to serve on {} without authentication: pass --token-file, listen on a loopback address, or pass \
             --insecure-no-auth",
            self.listen
        )
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let telemetry = tekton_graph_telemetry::logging::init(cli.log_format, "RUST_LOG", "info", "notifier");
    let result = run(cli.command).await;
    // The exporter's last spans are sent from the runtime this thread belongs to: let the others run meanwhile.
    tokio::task::block_in_place(|| telemetry.shutdown());
    result
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Check { rules } => {
            let config = Config::load(&rules)?;
            Rules::compile(&config)?;
            println!(
                "{}: {} channels, {} triggers, {} subscriptions, {} silences",
                rules.display(),
                config.channels.len(),
                config.triggers.len(),
                config.subscriptions.len(),
                config.silences.len()
            );
            Ok(())
        }
        Command::Receiver { listen } => {
            tracing::info!(%listen, "printing what is posted to any path");
            let app = poem::Route::new().at("/*path", poem::post(print_body));
            Server::new(TcpListener::bind(listen)).run(app).await.with_context(|| format!("serving on {listen}"))
        }
        Command::Serve(args) => {
            let access = args.access()?;
            let config = Config::load(&args.rules)?;
            let notifier = Notifier::start(&config, &args.db).await?;
            if args.reload_seconds > 0 {
                let every = std::time::Duration::from_secs(args.reload_seconds);
                tokio::spawn(reload_rules(args.rules.clone(), every, notifier.clone()));
            }
            if let Some(scope) = &args.policies {
                let namespaces = match scope.trim() {
                    "all" => Vec::new(),
                    list => list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect(),
                };
                anyhow::ensure!(
                    scope.trim() == "all" || !namespaces.is_empty(),
                    "--policies: name `all` or namespaces"
                );
                let client = kube_client(args.kubeconfig.as_ref()).await?;
                tracing::info!(namespaces = ?namespaces, "watching NotificationPolicies");
                let watch = notifier::policy::PolicyWatch {
                    client,
                    namespaces,
                    resync: std::time::Duration::from_secs(args.policy_resync_seconds),
                };
                tokio::spawn(notifier::policy::run(watch, notifier.clone()));
            }
            let (stop, shutdown) = Shutdown::new();
            let source = match &args.source {
                Some(source) => {
                    let options = OptionsFile::merged(&args.kafka_options, args.kafka_options_file.as_ref())
                        .map_err(anyhow::Error::msg)?;
                    let source = source.clone().with_kafka_options(options)?;
                    let notifier = notifier.clone();
                    Some(tokio::spawn(async move { notifier::source::run(&source, notifier, shutdown).await }))
                }
                None => None,
            };
            let listener = TcpListener::bind(args.listen);
            tracing::info!(listen = %args.listen, rules = %args.rules.display(), db = %args.db.display(),
                channels = config.channels.len(), triggers = config.triggers.len(), "notifier listening");
            let server = Server::new(listener).run_with_graceful_shutdown(
                routes(notifier, access),
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
                Some(std::time::Duration::from_secs(5)),
            );
            let Some(mut source) = source else {
                return server.await.with_context(|| format!("serving on {}", args.listen));
            };
            tokio::select! {
                served = server => {
                    stop.trigger();
                    source.await.context("the source task failed")?.context("the source stopped")?;
                    served.with_context(|| format!("serving on {}", args.listen))
                }
                // The source only ends by itself when it cannot subscribe: the notifier must not go on without it.
                consumed = &mut source => {
                    consumed.context("the source task failed")?.context("the source stopped")?;
                    anyhow::bail!("the source stopped")
                }
            }
        }
    }
}
