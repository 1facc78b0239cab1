//! Bearer JWTs from an OpenID Connect issuer.
//!
//! The issuer's discovery document (`/.well-known/openid-configuration`) names its JWKS; keys are cached by `kid`
//! and fetched again when a token names an unknown `kid` (at most once per [`OidcConfig::min_refresh`]) or when the
//! cache is older than [`OidcConfig::keys_ttl`], so a key rotation is picked up without a restart. Only asymmetric
//! algorithms of the allow-list are accepted (never `none`, never HS* — a public key is not a shared secret);
//! `exp` is required, `nbf` and `iat` are checked, each with a small leeway.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::AuthError;

/// Algorithms accepted by default: the asymmetric ones.
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Issuer URL exactly as it appears in tokens' `iss`.
    pub issuer: String,
    /// Accepted `aud` values (the client ids tokens are issued for).
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    /// Claim with the caller's groups (a list of strings, or one string).
    pub groups_claim: String,
    /// Claim naming the caller; `sub` when absent from a token.
    pub subject_claim: String,
    pub leeway: Duration,
    pub keys_ttl: Duration,
    pub min_refresh: Duration,
    pub http_timeout: Duration,
}

impl OidcConfig {
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Self {
        OidcConfig {
            issuer: issuer.into(),
            audiences,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            groups_claim: "groups".into(),
            subject_claim: "email".into(),
            leeway: Duration::from_secs(30),
            keys_ttl: Duration::from_secs(300),
            min_refresh: Duration::from_secs(5),
            http_timeout: Duration::from_secs(5),
        }
    }

    /// Parses an algorithm allow-list such as `RS256,ES256`; symmetric algorithms and unknown names are refused.
    pub fn parse_algorithms(list: &str) -> Result<Vec<Algorithm>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| {
                let alg = Algorithm::from_str(name).map_err(|_| format!("unknown JWT algorithm `{name}`"))?;
                if DEFAULT_ALGORITHMS.contains(&alg) {
                    Ok(alg)
                } else {
                    Err(format!("`{name}` is a shared-secret algorithm; only asymmetric ones verify an issuer"))
                }
            })
            .collect()
    }
}

/// Who a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub groups: Vec<String>,
}

/// The endpoints discovery found.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched: Instant,
}

pub struct OidcVerifier {
    config: OidcConfig,
    http: reqwest::Client,
    discovery: RwLock<Option<Discovery>>,
    keys: RwLock<Option<Keys>>,
    refreshing: Mutex<()>,
    /// Tokens verified lately, by their SHA-256: a caller sends the same token with every request, and checking
    /// its signature each time was most of what authentication added (benches/auth_overhead.rs).
    verified: std::sync::Mutex<HashMap<[u8; 32], Verified>>,
}

/// A verified token, reused until the earlier of its `exp` and [`VERIFIED_TTL`] from its check.
#[derive(Clone)]
struct Verified {
    identity: Identity,
    claims: Value,
    until: Instant,
}

/// How long a verified token is reused without checking its signature again.
pub const VERIFIED_TTL: Duration = Duration::from_secs(30);
/// Most remembered tokens; the memory is cleared when full.
const MAX_VERIFIED: usize = 10_000;

impl OidcVerifier {
    pub fn new(config: OidcConfig) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .build()
            .map_err(|e| AuthError::Provider(e.to_string()))?;
        Ok(OidcVerifier {
            config,
            http,
            discovery: RwLock::new(None),
            keys: RwLock::new(None),
            refreshing: Mutex::new(()),
            verified: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The discovery document (fetched once; the issuer must be the configured one).
    pub async fn discovery(&self) -> Result<Discovery, AuthError> {
        if let Some(d) = self.discovery.read().await.as_ref() {
            return Ok(d.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
        let found: Discovery = self.get_json(&url).await?;
        if found.issuer != self.config.issuer {
            return Err(AuthError::Provider(format!(
                "discovery at {url} names issuer {} instead of {}",
                found.issuer, self.config.issuer
            )));
        }
        *self.discovery.write().await = Some(found.clone());
        Ok(found)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, AuthError> {
        let response = self.http.get(url).send().await.map_err(|e| AuthError::Provider(format!("{url}: {e}")))?;
        let response = response.error_for_status().map_err(|e| AuthError::Provider(format!("{url}: {e}")))?;
        response.json().await.map_err(|e| AuthError::Provider(format!("{url}: {e}")))
    }

    /// Fetches the JWKS again unless another caller just did (or, for `force: false`, the cache is fresh).
    async fn refresh(&self, force: bool) -> Result<(), AuthError> {
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(keys) = self.keys.read().await.as_ref() {
            let age = keys.fetched.elapsed();
            if age < self.config.min_refresh || (!force && age < self.config.keys_ttl) {
                return Ok(());
            }
        }
        let discovery = self.discovery().await?;
        let set: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = &jwk.common.key_id else { continue };
            // Symmetric (`oct`) keys are never trusted: an issuer's keys are public.
            match DecodingKey::from_jwk(jwk) {
                Ok(key) if key.family() != jsonwebtoken::AlgorithmFamily::Hmac => {
                    by_kid.insert(kid.clone(), key);
                }
                Ok(_) => tracing::warn!(%kid, "ignoring a symmetric key in the issuer's JWKS"),
                Err(e) => tracing::warn!(%kid, error = %e, "ignoring a JWKS key that cannot be used"),
            }
        }
        tracing::info!(keys = by_kid.len(), jwks = %discovery.jwks_uri, "fetched the issuer's signing keys");
        *self.keys.write().await = Some(Keys { by_kid, fetched: Instant::now() });
        Ok(())
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        self.refresh(false).await?;
        if let Some(key) = self.keys.read().await.as_ref().and_then(|k| k.by_kid.get(kid).cloned()) {
            return Ok(key);
        }
        // An unknown kid: the issuer may have rotated its keys.
        self.refresh(true).await?;
        let keys = self.keys.read().await;
        keys.as_ref()
            .and_then(|k| k.by_kid.get(kid).cloned())
            .ok_or_else(|| AuthError::Invalid(format!("no signing key `{kid}` at the issuer")))
    }

    /// Verifies a token and returns who it names.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        Ok(self.verify_claims(token).await?.0)
    }

    /// Verifies a token and returns who it names and all its claims (the login checks `nonce`).
    pub async fn verify_claims(&self, token: &str) -> Result<(Identity, Value), AuthError> {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.remembered().get(&key).filter(|v| v.until > Instant::now()).cloned() {
            return Ok((hit.identity, hit.claims));
        }
        let (identity, claims) = self.check(token).await?;
        let now = jsonwebtoken::get_current_timestamp();
        let left = claims.get("exp").and_then(Value::as_u64).map_or(0, |exp| exp.saturating_sub(now));
        let until = Instant::now() + VERIFIED_TTL.min(Duration::from_secs(left));
        let mut remembered = self.remembered();
        if remembered.len() >= MAX_VERIFIED {
            remembered.clear();
        }
        remembered.insert(key, Verified { identity: identity.clone(), claims: claims.clone(), until });
        Ok((identity, claims))
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Verified>> {
        self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The full check of a token: header, key, signature, claims.
    async fn check(&self, token: &str) -> Result<(Identity, Value), AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(format!("header: {e}")))?;
        if !self.config.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!("algorithm {:?} is not allowed", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| AuthError::Invalid("the token names no key (`kid`)".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&self.config.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(iat) = claims.get("iat").and_then(Value::as_u64)
            && iat > now + self.config.leeway.as_secs()
        {
            return Err(AuthError::Invalid("the token was issued in the future (`iat`)".into()));
        }
        let subject = claims
            .get(&self.config.subject_claim)
            .or_else(|| claims.get("sub"))
            .and_then(Value::as_str)
            .ok_or_else(|| AuthError::Invalid("the token names no subject".into()))?
            .to_string();
        let groups = match claims.get(&self.config.groups_claim) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(String::from).collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok((Identity { subject, groups }, claims))
    }
}
