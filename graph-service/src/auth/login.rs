//! Web UI sign-in: the OpenID Connect authorization-code flow with PKCE against the same issuer that signs bearer
//! tokens, ending in a session cookie (`HttpOnly`, `SameSite=Lax`, `Secure` behind https).
//!
//! A session only authenticates reads (GET and HEAD): every route that writes takes a bearer token, so a forged
//! cross-site request cannot use the cookie (CSRF), and logout is a POST that a `Lax` cookie does not follow from
//! another site. Sessions live in memory and end with their id token's `exp`, at logout, or at a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use poem::http::{StatusCode, header};
use poem::web::{Data, Query};
use poem::{IntoResponse, Request, Response, handler};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{AuthError, Authenticator, Method, Principal, Scope};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "tekton_graph_session";
/// A sign-in must come back from the issuer within this time.
const PENDING_TTL: Duration = Duration::from_secs(600);

/// The UI's OpenID client.
#[derive(Debug, Clone)]
pub struct LoginConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Where the issuer sends the browser back: this service's `/auth/callback`.
    pub redirect_url: String,
}

impl LoginConfig {
    fn secure_cookie(&self) -> bool {
        self.redirect_url.starts_with("https://")
    }
}

struct Pending {
    verifier: String,
    nonce: String,
    return_to: String,
    created: Instant,
}

struct Session {
    principal: Arc<Principal>,
    expires: Instant,
}

/// Sign-ins under way and signed-in sessions.
pub struct Sessions {
    pub config: LoginConfig,
    pending: Mutex<HashMap<String, Pending>>,
    sessions: Mutex<HashMap<String, Session>>,
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Only local paths: never an open redirect to another site.
fn local_path(path: Option<&str>) -> String {
    match path {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_string(),
        _ => "/".into(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sessions {
    pub fn new(config: LoginConfig) -> Self {
        Sessions { config, pending: Mutex::new(HashMap::new()), sessions: Mutex::new(HashMap::new()) }
    }

    /// The caller of a session cookie, if it is live.
    pub fn principal(&self, req: &Request) -> Option<Arc<Principal>> {
        let id = cookie(req, SESSION_COOKIE)?;
        let mut sessions = lock(&self.sessions);
        let session = sessions.get(&id)?;
        if session.expires <= Instant::now() {
            sessions.remove(&id);
            return None;
        }
        Some(session.principal.clone())
    }

    fn cookie(&self, id: &str, max_age: u64) -> String {
        let secure = if self.config.secure_cookie() { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
    }
}

fn cookie(req: &Request, name: &str) -> Option<String> {
    let header = req.headers().get(header::COOKIE)?.to_str().ok()?;
    header.split(';').filter_map(|c| c.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
}

fn redirect(to: &str) -> Response {
    Response::builder().status(StatusCode::FOUND).header(header::LOCATION, to).finish()
}

fn refused(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

#[derive(Deserialize)]
pub struct LoginParams {
    return_to: Option<String>,
}

/// `GET /auth/login`: to the issuer, with a one-time state, a nonce and a PKCE challenge.
#[handler]
pub async fn login(
    Query(params): Query<LoginParams>,
    sessions: Data<&Arc<Sessions>>,
    auth: Data<&Arc<Authenticator>>,
) -> Response {
    let Some(oidc) = &auth.oidc else { return refused(StatusCode::NOT_FOUND, "sign-in needs --oidc-issuer") };
    let discovery = match oidc.discovery().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "sign-in: the issuer cannot be reached");
            return refused(StatusCode::SERVICE_UNAVAILABLE, "the identity provider cannot be reached; retry shortly");
        }
    };
    let Some(endpoint) = discovery.authorization_endpoint else {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "the identity provider has no authorization endpoint");
    };
    let (state, verifier, nonce) = (random_token(), random_token(), random_token());
    let config = &sessions.config;
    let url = match url::Url::parse_with_params(
        &endpoint,
        [
            ("response_type", "code"),
            ("client_id", config.client_id.as_str()),
            ("redirect_uri", config.redirect_url.as_str()),
            ("scope", "openid email profile groups"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge_of(&verifier).as_str()),
            ("code_challenge_method", "S256"),
        ],
    ) {
        Ok(url) => url,
        Err(e) => return refused(StatusCode::SERVICE_UNAVAILABLE, &format!("bad authorization endpoint: {e}")),
    };
    let mut pending = lock(&sessions.pending);
    pending.retain(|_, p| p.created.elapsed() < PENDING_TTL);
    let return_to = local_path(params.return_to.as_deref());
    pending.insert(state, Pending { verifier, nonce, return_to, created: Instant::now() });
    redirect(url.as_str())
}

#[derive(Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
}

/// `GET /auth/callback`: the code for tokens, the id token verified (nonce included), a session.
#[handler]
pub async fn callback(
    Query(params): Query<CallbackParams>,
    sessions: Data<&Arc<Sessions>>,
    auth: Data<&Arc<Authenticator>>,
) -> Response {
    if let Some(error) = params.error {
        return refused(StatusCode::UNAUTHORIZED, &format!("sign-in failed at the identity provider: {error}"));
    }
    let (Some(code), Some(state)) = (params.code, params.state) else {
        return refused(StatusCode::BAD_REQUEST, "the callback needs `code` and `state`");
    };
    let Some(pending) = lock(&sessions.pending).remove(&state) else {
        return refused(StatusCode::BAD_REQUEST, "unknown or used sign-in state; start again at /auth/login");
    };
    if pending.created.elapsed() >= PENDING_TTL {
        return refused(StatusCode::BAD_REQUEST, "the sign-in took too long; start again at /auth/login");
    }
    match finish(&sessions, &auth, &code, &pending).await {
        Ok((id, max_age)) => {
            let mut response = redirect(&pending.return_to);
            if let Ok(value) = header::HeaderValue::from_str(&sessions.cookie(&id, max_age)) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in refused");
            refused(StatusCode::UNAUTHORIZED, "sign-in failed: the identity provider's answer was not accepted")
        }
    }
}

async fn finish(
    sessions: &Sessions,
    auth: &Authenticator,
    code: &str,
    pending: &Pending,
) -> Result<(String, u64), AuthError> {
    let oidc = auth.oidc.as_ref().ok_or_else(|| AuthError::Provider("no issuer".into()))?;
    let discovery = oidc.discovery().await?;
    let endpoint = discovery.token_endpoint.ok_or_else(|| AuthError::Provider("no token endpoint".into()))?;
    let config = &sessions.config;
    let response = reqwest::Client::new()
        .post(&endpoint)
        .basic_auth(&config.client_id, Some(&config.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", config.redirect_url.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ])
        .send()
        .await
        .map_err(|e| AuthError::Provider(format!("{endpoint}: {e}")))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        return Err(AuthError::Invalid(format!("the token endpoint answered {status}: {body}")));
    }
    let tokens: TokenResponse = response.json().await.map_err(|e| AuthError::Invalid(e.to_string()))?;
    let (identity, claims) = oidc.verify_claims(&tokens.id_token).await?;
    if claims.get("nonce").and_then(|n| n.as_str()) != Some(pending.nonce.as_str()) {
        return Err(AuthError::Invalid("the id token's nonce is not this sign-in's".into()));
    }
    let (roles, scope) = auth.policy.resolve(&identity.subject, &identity.groups);
    let principal = Principal {
        subject: identity.subject,
        groups: identity.groups,
        roles,
        scope: scope.unwrap_or(Scope { grants: Some(Vec::new()) }),
        method: Method::Oidc,
    };
    let now = jsonwebtoken::get_current_timestamp();
    let max_age = claims.get("exp").and_then(|e| e.as_u64()).map_or(3600, |exp| exp.saturating_sub(now)).max(1);
    let id = random_token();
    tracing::info!(subject = %principal.subject, "signed in");
    let session = Session { principal: Arc::new(principal), expires: Instant::now() + Duration::from_secs(max_age) };
    lock(&sessions.sessions).insert(id.clone(), session);
    Ok((id, max_age))
}

/// `POST /auth/logout`: ends the session and clears the cookie.
#[handler]
pub fn logout(req: &Request, sessions: Data<&Arc<Sessions>>) -> Response {
    if let Some(id) = cookie(req, SESSION_COOKIE) {
        lock(&sessions.sessions).remove(&id);
    }
    let mut response = redirect("/auth/signed-out");
    if let Ok(value) = header::HeaderValue::from_str(&sessions.cookie("", 0)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /auth/signed-out`.
#[handler]
pub fn signed_out() -> poem::web::Html<String> {
    poem::web::Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"color-scheme\" content=\"light dark\"><title>Signed out · tekton-graph</title><link rel=\"stylesheet\" href=\"/ui/assets/app.css\"></head>\
         <body><main><h1>Signed out</h1><p><a href=\"/auth/login\">Sign in again</a></p></main></body></html>"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path(Some("/runs/ci/a?x=1")), "/runs/ci/a?x=1");
        for bad in ["https://evil.example.com/", "//evil.example.com", "/\\evil", "runs"] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn the_pkce_challenge_is_the_s256_of_the_verifier() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
