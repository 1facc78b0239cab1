//! A local OpenID Connect issuer for the cases a real IdP will not produce: tokens that are expired, not yet
//! valid, for another audience or issuer, or signed by a key it never published. It follows the contract an
//! issuer keeps — a discovery document at `/.well-known/openid-configuration` naming a JWKS of public keys — and
//! signs with Ed25519 keys it can rotate. The real IdP of the tests is Dex (see `tests/auth.rs`).

use std::sync::{Arc, Mutex};

use base64::Engine;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json};
use poem::{EndpointExt, Route, get, handler};
use serde_json::{Value, json};

struct Key {
    kid: String,
    signing: SigningKey,
}

#[derive(Clone)]
pub struct TestIssuer {
    pub url: String,
    keys: Arc<Mutex<Vec<Key>>>,
    /// Served key ids (a rotation replaces them).
    published: Arc<Mutex<Vec<String>>>,
    jwks_fetches: Arc<Mutex<usize>>,
}

fn new_key(n: usize) -> Key {
    let seed: [u8; 32] = rand::random();
    Key { kid: format!("test-key-{n}"), signing: SigningKey::from_bytes(&seed) }
}

fn jwk(key: &Key) -> Value {
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.signing.verifying_key().to_bytes());
    json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": key.kid, "alg": "EdDSA", "use": "sig" })
}

#[handler]
fn discovery(issuer: Data<&TestIssuer>) -> Json<Value> {
    Json(json!({
        "issuer": issuer.url,
        "jwks_uri": format!("{}/keys", issuer.url),
        "authorization_endpoint": format!("{}/auth", issuer.url),
        "token_endpoint": format!("{}/token", issuer.url),
    }))
}

#[handler]
fn jwks(issuer: Data<&TestIssuer>) -> Json<Value> {
    *issuer.jwks_fetches.lock().expect("lock") += 1;
    let keys = issuer.keys.lock().expect("lock");
    let published = issuer.published.lock().expect("lock");
    Json(json!({ "keys": keys.iter().filter(|k| published.contains(&k.kid)).map(jwk).collect::<Vec<_>>() }))
}

impl TestIssuer {
    pub async fn start() -> TestIssuer {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("a TCP address");
        let first = new_key(1);
        let issuer = TestIssuer {
            url: format!("http://{addr}/issuer"),
            published: Arc::new(Mutex::new(vec![first.kid.clone()])),
            keys: Arc::new(Mutex::new(vec![first])),
            jwks_fetches: Arc::new(Mutex::new(0)),
        };
        let app = Route::new()
            .at("/issuer/.well-known/openid-configuration", get(discovery))
            .at("/issuer/keys", get(jwks))
            .data(issuer.clone());
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        issuer
    }

    /// How often the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        *self.jwks_fetches.lock().expect("lock")
    }

    /// Replaces the published key with a new one; tokens of the old key no longer verify.
    pub fn rotate(&self) {
        let mut keys = self.keys.lock().expect("lock");
        let key = new_key(keys.len() + 1);
        *self.published.lock().expect("lock") = vec![key.kid.clone()];
        keys.push(key);
    }

    /// A key that signs but is never published.
    pub fn add_unpublished_key(&self) -> String {
        let mut keys = self.keys.lock().expect("lock");
        let key = new_key(keys.len() + 100);
        let kid = key.kid.clone();
        keys.push(key);
        kid
    }

    /// Standard claims for `subject` valid now for an hour, for audience `tekton-graph`.
    pub fn claims(&self, subject: &str, groups: &[&str]) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({ "iss": self.url, "aud": "tekton-graph", "sub": subject, "email": subject, "groups": groups,
                "iat": now, "exp": now + 3600 })
    }

    /// Signs claims with the published key (or the key named `kid`).
    pub fn sign(&self, claims: &Value, kid: Option<&str>) -> String {
        let keys = self.keys.lock().expect("lock");
        let published = self.published.lock().expect("lock")[0].clone();
        let kid = kid.unwrap_or(&published);
        let key = keys.iter().find(|k| k.kid == kid).expect("known kid");
        let der = key.signing.to_pkcs8_der().expect("pkcs8");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).expect("sign")
    }
}

/// A token with its header replaced (e.g. `{"alg":"none"}`) and the signature kept or dropped.
pub fn with_header(token: &str, header: &Value, keep_signature: bool) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string());
    let signature = if keep_signature { parts[2] } else { "" };
    format!("{header}.{}.{signature}", parts[1])
}
