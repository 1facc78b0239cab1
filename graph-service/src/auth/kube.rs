//! In-cluster callers (the harvester's ServiceAccount) authenticate with their Kubernetes token: the API server
//! says who it belongs to (TokenReview), as Tekton Results does. Decisions are cached briefly by the token's hash,
//! so a busy harvester costs the API server one review per token per [`REVIEW_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};

use super::AuthError;
use super::oidc::Identity;

/// How long a decision (either way) is reused.
pub const REVIEW_TTL: Duration = Duration::from_secs(10);
/// Most cached decisions; the cache is cleared when full (an attacker's random tokens cannot grow it).
const MAX_CACHED: usize = 10_000;

/// Decisions by token hash: when made, and who (`None`: refused).
type Decisions = HashMap<[u8; 32], (Instant, Option<Identity>)>;

pub struct TokenReviewer {
    client: kube::Client,
    /// Audiences the token must be for (empty: the API server's own).
    audiences: Vec<String>,
    cache: Mutex<Decisions>,
}

impl TokenReviewer {
    pub fn new(client: kube::Client, audiences: Vec<String>) -> Self {
        TokenReviewer { client, audiences, cache: Mutex::new(HashMap::new()) }
    }

    /// A client from the environment: in the cluster its ServiceAccount, else `KUBECONFIG` / `~/.kube/config`.
    pub async fn from_environment(audiences: Vec<String>) -> Result<Self, AuthError> {
        let client = kube::Client::try_default().await.map_err(|e| AuthError::Provider(format!("Kubernetes: {e}")))?;
        Ok(Self::new(client, audiences))
    }

    /// Who a token belongs to, per the API server.
    pub async fn review(&self, token: &str) -> Result<Identity, AuthError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((at, decision)) = self.lock().get(&key).cloned()
            && at.elapsed() < REVIEW_TTL
        {
            return decision.ok_or_else(|| AuthError::Invalid("the API server did not authenticate the token".into()));
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: (!self.audiences.is_empty()).then(|| self.audiences.clone()),
            },
            ..TokenReview::default()
        };
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| AuthError::Provider(format!("TokenReview: {e}")))?;
        let status = answer.status.unwrap_or_default();
        let decision = match (status.authenticated, status.user) {
            (Some(true), Some(user)) => {
                user.username.map(|subject| Identity { subject, groups: user.groups.unwrap_or_default() })
            }
            _ => None,
        };
        let mut cache = self.lock();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), decision.clone()));
        decision.ok_or_else(|| {
            let reason = status.error.unwrap_or_else(|| "not authenticated".into());
            AuthError::Invalid(format!("the API server refused the token: {reason}"))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Decisions> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
