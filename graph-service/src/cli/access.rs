//! Flags for who may call the service and the limits of its HTTP edge.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgAction, Args};

use crate::auth::{Authenticator, OidcConfig, OidcVerifier, Policy, StaticTokens};
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
}

impl AuthArgs {
    fn configured(&self) -> bool {
        self.oidc_issuer.is_some() || self.token_file.is_some()
    }

    /// Authentication for a server listening on `listen`. Without an auth configuration, only the demo (sample
    /// data), a loopback address or `--insecure-no-auth` may serve; anything else refuses to start.
    pub fn setup(&self, listen: SocketAddr, demo: bool) -> anyhow::Result<AuthSetup> {
        if !self.configured() {
            if self.auth_policy.is_some() {
                anyhow::bail!("--auth-policy needs --oidc-issuer or --token-file to know who is calling");
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
                    "refusing to serve {listen} without authentication: give --oidc-issuer and/or --token-file \
                     (with --auth-policy), listen on a loopback address, or pass --insecure-no-auth"
                );
            };
            return Ok(AuthSetup { authenticator: None, off_reason: Some(reason.into()) });
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
        let policy = self.auth_policy.as_deref().map(Policy::load).transpose()?.unwrap_or_default();
        tracing::info!(
            oidc = self.oidc_issuer.as_deref().unwrap_or("-"),
            static_tokens = tokens.as_ref().map_or(0, StaticTokens::len),
            policy_rules = policy.rules.len(),
            "authentication on"
        );
        Ok(AuthSetup { authenticator: Some(Arc::new(Authenticator { tokens, oidc, policy })), off_reason: None })
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
