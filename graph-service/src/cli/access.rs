//! Flags for who may call the service and the limits of its HTTP edge.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Args};

use crate::auth::{Authenticator, LoginConfig, OidcConfig, OidcVerifier, Policy, StaticTokens, TokenReviewer};
use crate::edge::{EdgeConfig, EdgeLimits, GraphqlLimits};

/// Authentication: OIDC bearer tokens, static tokens from a file, and the policy mapping callers to roles.
#[derive(Args, Debug, Clone, Default)]
pub struct AuthArgs {
    /// OpenID Connect issuer URL (as in tokens' `iss`); its discovery document names the signing keys.
    #[arg(long, env = "GRAPH_SERVICE_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Accepted token audiences (client ids), comma-separated.
    #[arg(long, env = "GRAPH_SERVICE_OIDC_AUDIENCE", value_delimiter = ',', requires = "oidc_issuer")]
    pub oidc_audience: Vec<String>,
    /// Claim holding the caller's groups.
    #[arg(long, env = "GRAPH_SERVICE_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// Claim naming the caller in the policy and the audit log (`sub` when a token lacks it).
    #[arg(long, env = "GRAPH_SERVICE_OIDC_SUBJECT_CLAIM", default_value = "email")]
    pub oidc_subject_claim: String,
    /// Accepted signing algorithms (asymmetric only), comma-separated.
    #[arg(
        long,
        env = "GRAPH_SERVICE_OIDC_ALGORITHMS",
        default_value = "RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,EdDSA"
    )]
    pub oidc_algorithms: String,
    /// The web UI's OpenID client id (default: the first --oidc-audience). Sign-in is on when a client secret is
    /// given too.
    #[arg(long, env = "GRAPH_SERVICE_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// File holding the UI client's secret; else the environment variable GRAPH_SERVICE_OIDC_CLIENT_SECRET.
    #[arg(long, env = "GRAPH_SERVICE_OIDC_CLIENT_SECRET_FILE", requires = "oidc_issuer")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Where the issuer sends browsers back after sign-in (default: http://LISTEN/auth/callback).
    #[arg(long, env = "GRAPH_SERVICE_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,
    /// Accept Kubernetes ServiceAccount tokens, reviewed by the API server (TokenReview; in the cluster through
    /// graph-service's own ServiceAccount, elsewhere through KUBECONFIG).
    #[arg(long, env = "GRAPH_SERVICE_KUBE_TOKEN_REVIEW")]
    pub kube_token_review: bool,
    /// Audiences a ServiceAccount token must be for (default: the API server's own), comma-separated.
    #[arg(long, env = "GRAPH_SERVICE_KUBE_TOKEN_AUDIENCE", value_delimiter = ',', requires = "kube_token_review")]
    pub kube_token_audience: Vec<String>,
    /// File of static bearer tokens: `<token|sha256:hex> <role>[,<role>] <name>` per line.
    #[arg(long, env = "GRAPH_SERVICE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Policy file (YAML) mapping groups and subjects to roles and scopes.
    #[arg(long, env = "GRAPH_SERVICE_AUTH_POLICY")]
    pub auth_policy: Option<PathBuf>,
    /// Serve without authentication on a non-loopback address. Everyone reaching the port may read everything
    /// and write facts; only for networks where that is already true.
    #[arg(long, env = "GRAPH_SERVICE_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
}

/// How the service authenticates, as decided at start-up.
pub struct AuthSetup {
    pub authenticator: Option<Arc<Authenticator>>,
    /// Why authentication is off, when it is.
    pub off_reason: Option<String>,
    /// The web UI's sign-in, when configured.
    pub login: Option<LoginConfig>,
}

impl AuthArgs {
    fn configured(&self) -> bool {
        self.oidc_issuer.is_some() || self.token_file.is_some() || self.kube_token_review
    }

    /// Authentication for a server listening on `listen`. Without an auth configuration, only the demo (sample
    /// data), a loopback address or `--insecure-no-auth` may serve; anything else refuses to start.
    pub async fn setup(&self, listen: SocketAddr, demo: bool) -> anyhow::Result<AuthSetup> {
        if !self.configured() {
            if self.auth_policy.is_some() {
                anyhow::bail!(
                    "--auth-policy needs --oidc-issuer, --token-file or --kube-token-review to know who calls"
                );
            }
            let reason = if listen.ip().is_loopback() {
                "loopback"
            } else if demo {
                tracing::warn!(%listen, "the demo serves its sample data without authentication");
                "demo"
            } else if self.insecure_no_auth {
                tracing::warn!(%listen, "serving WITHOUT authentication on a non-loopback address (--insecure-no-auth)");
                "insecure-no-auth"
            } else {
                anyhow::bail!(
                    "refusing to serve {listen} without authentication: give --oidc-issuer, --token-file and/or \
                     --kube-token-review (with --auth-policy), listen on a loopback address, or pass --insecure-no-auth"
                );
            };
            return Ok(AuthSetup { authenticator: None, off_reason: Some(reason.into()), login: None });
        }
        let tokens =
            self.token_file.as_deref().map(StaticTokens::load).transpose().context("loading the token file")?;
        let oidc = match &self.oidc_issuer {
            Some(issuer) => {
                if self.oidc_audience.is_empty() {
                    anyhow::bail!("--oidc-issuer needs --oidc-audience (the client ids tokens are issued for)");
                }
                let mut config = OidcConfig::new(issuer.clone(), self.oidc_audience.clone());
                config.algorithms = OidcConfig::parse_algorithms(&self.oidc_algorithms).map_err(anyhow::Error::msg)?;
                config.groups_claim = self.oidc_groups_claim.clone();
                config.subject_claim = self.oidc_subject_claim.clone();
                Some(OidcVerifier::new(config).map_err(|e| anyhow::anyhow!("{e}"))?)
            }
            None => None,
        };
        let kube = if self.kube_token_review {
            let reviewer = TokenReviewer::from_environment(self.kube_token_audience.clone())
                .await
                .map_err(|e| anyhow::anyhow!("--kube-token-review: {e}"))?;
            Some(reviewer)
        } else {
            None
        };
        let policy = self.auth_policy.as_deref().map(Policy::load).transpose()?.unwrap_or_default();
        tracing::info!(
            oidc = self.oidc_issuer.as_deref().unwrap_or("-"),
            static_tokens = tokens.as_ref().map_or(0, StaticTokens::len),
            kube_token_review = self.kube_token_review,
            policy_rules = policy.rules.len(),
            "authentication on"
        );
        let login = self.login(listen)?;
        let authenticator = Some(Arc::new(Authenticator { tokens, oidc, kube, policy }));
        Ok(AuthSetup { authenticator, off_reason: None, login })
    }

    fn login(&self, listen: SocketAddr) -> anyhow::Result<Option<LoginConfig>> {
        let from_env = std::env::var("GRAPH_SERVICE_OIDC_CLIENT_SECRET").ok().filter(|s| !s.is_empty());
        let secret = match (&self.oidc_client_secret_file, from_env) {
            (Some(_), Some(_)) => anyhow::bail!("give the OIDC client secret once: its file or its variable"),
            (Some(file), None) => std::fs::read_to_string(file)
                .with_context(|| format!("reading the OIDC client secret from {}", file.display()))?
                .trim()
                .to_string(),
            (None, Some(secret)) => secret,
            (None, None) => return Ok(None),
        };
        let Some(client_id) = self.oidc_client_id.clone().or_else(|| self.oidc_audience.first().cloned()) else {
            anyhow::bail!("the UI sign-in needs --oidc-client-id (or --oidc-audience)");
        };
        let redirect_url = self.oidc_redirect_url.clone().unwrap_or_else(|| format!("http://{listen}/auth/callback"));
        Ok(Some(LoginConfig { client_id, client_secret: secret, redirect_url }))
    }
}

/// Limits of the HTTP edge and the GraphQL endpoint.
#[derive(Args, Debug, Clone)]
pub struct EdgeArgs {
    /// A request still running after this many seconds is answered 503.
    #[arg(long, env = "GRAPH_SERVICE_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// Requests served at once; more get 503 with Retry-After.
    #[arg(long, env = "GRAPH_SERVICE_MAX_CONCURRENT_REQUESTS", default_value_t = 256)]
    pub max_concurrent_requests: usize,
    /// Largest `POST /graphql` body.
    #[arg(long, env = "GRAPH_SERVICE_GRAPHQL_MAX_BODY_BYTES", default_value_t = GraphqlLimits::default().max_body_bytes)]
    pub graphql_max_body_bytes: usize,
    #[arg(long, env = "GRAPH_SERVICE_GRAPHQL_MAX_DEPTH", default_value_t = GraphqlLimits::default().max_depth)]
    pub graphql_max_depth: usize,
    /// Largest query complexity: each field costs 1, a list field `first` times what it selects.
    #[arg(long, env = "GRAPH_SERVICE_GRAPHQL_MAX_COMPLEXITY", default_value_t = GraphqlLimits::default().max_complexity)]
    pub graphql_max_complexity: usize,
    #[arg(long, env = "GRAPH_SERVICE_GRAPHQL_MAX_ALIASES", default_value_t = GraphqlLimits::default().max_aliases)]
    pub graphql_max_aliases: usize,
    /// Most operations in one batch request.
    #[arg(long, env = "GRAPH_SERVICE_GRAPHQL_MAX_BATCH", default_value_t = GraphqlLimits::default().max_batch)]
    pub graphql_max_batch: usize,
    #[arg(long, env = "GRAPH_SERVICE_GRAPHQL_TIMEOUT_SECONDS", default_value_t = 10)]
    pub graphql_timeout_seconds: u64,
    /// Answer introspection queries.
    #[arg(long, env = "GRAPH_SERVICE_GRAPHQL_INTROSPECTION", default_value_t = true, action = ArgAction::Set)]
    pub graphql_introspection: bool,
    /// Serve GraphiQL on `GET /graphql`.
    #[arg(long, env = "GRAPH_SERVICE_GRAPHIQL", default_value_t = true, action = ArgAction::Set)]
    pub graphiql: bool,
}

impl EdgeArgs {
    pub fn config(&self) -> EdgeConfig {
        EdgeConfig {
            http: EdgeLimits {
                request_timeout: Duration::from_secs(self.request_timeout_seconds),
                max_concurrent: self.max_concurrent_requests,
            },
            graphql: GraphqlLimits {
                max_body_bytes: self.graphql_max_body_bytes,
                max_batch: self.graphql_max_batch,
                max_depth: self.graphql_max_depth,
                max_complexity: self.graphql_max_complexity,
                max_aliases: self.graphql_max_aliases,
                timeout: Duration::from_secs(self.graphql_timeout_seconds),
                introspection: self.graphql_introspection,
                graphiql: self.graphiql,
            },
        }
    }
}
