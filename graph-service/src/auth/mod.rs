//! Who is calling and what they may do.
//!
//! A request is authenticated by a bearer token — a JWT from the OpenID Connect issuer ([`oidc`]) or a static token
//! from a file ([`tokens`]) — and the [`policy`] maps who they are (subject, groups) to roles and a scope. The
//! [`middleware`] asks every route for the role it needs and writes the [`audit`] line; resolvers and pages see the
//! [`Principal`] in their request data.

pub mod kube;
pub mod login;
pub mod middleware;
pub mod oidc;
pub mod policy;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

pub use kube::TokenReviewer;
pub use login::{LoginConfig, Sessions};
pub use middleware::{Access, RequireAuth};
pub use oidc::{OidcConfig, OidcVerifier};
pub use policy::{Grant, Policy, PolicyError, Rule};
pub use tekton_graph_access::{Role, StaticTokens, TokenFileError, audit, tokens};

/// Which runs a caller may see: everything, or the runs some grant allows (a run in an allowed namespace, or of an
/// allowed System, as the grant says).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Scope {
    /// `None`: everything.
    pub grants: Option<Vec<Grant>>,
}

impl Scope {
    pub fn everything() -> Self {
        Scope { grants: None }
    }

    pub fn is_everything(&self) -> bool {
        self.grants.is_none()
    }

    /// What the caller may see as one [`Visibility`] (the union of the grants); `None`: everything.
    pub fn visibility(&self) -> Option<crate::store::Visibility> {
        let grants = self.grants.as_ref()?;
        let mut visible = crate::store::Visibility::default();
        for grant in grants {
            visible.namespaces.extend(grant.namespaces.iter().cloned());
            visible.systems.extend(grant.systems.iter().cloned());
        }
        Some(visible)
    }

    /// True when some grant allows a run in `namespace` belonging to `system`.
    pub fn allows(&self, namespace: &str, system: Option<&str>) -> bool {
        self.visibility().is_none_or(|v| v.allows(namespace, system))
    }
}

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Method {
    Oidc,
    StaticToken,
    /// A Kubernetes ServiceAccount token, reviewed by the API server.
    Kubernetes,
    /// Authentication is off (demo, loopback, or `--insecure-no-auth`).
    None,
}

impl Method {
    /// As serialized (the audit line's `auth`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Oidc => "oidc",
            Method::StaticToken => "staticToken",
            Method::Kubernetes => "kubernetes",
            Method::None => "none",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub subject: String,
    pub groups: Vec<String>,
    pub roles: BTreeSet<Role>,
    pub scope: Scope,
    pub method: Method,
}

impl Principal {
    /// The caller when authentication is off: every role, everything in scope.
    pub fn unauthenticated() -> Self {
        Principal {
            subject: "anonymous".into(),
            groups: Vec::new(),
            roles: [Role::Viewer, Role::Ingester, Role::Admin].into(),
            scope: Scope::everything(),
            method: Method::None,
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }
}

/// Why a request was not authenticated. The message is for logs and the audit line; callers get a generic 401.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    Malformed,
    #[error("unknown static token")]
    UnknownToken,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("the identity provider cannot be reached: {0}")]
    Provider(String),
}

/// Everything that authenticates callers; `None` fields are not configured.
#[derive(Default)]
pub struct Authenticator {
    pub tokens: Option<StaticTokens>,
    pub oidc: Option<OidcVerifier>,
    /// Kubernetes ServiceAccount tokens, reviewed by the API server.
    pub kube: Option<TokenReviewer>,
    pub policy: Policy,
}

/// The unverified `iss` of a JWT: only to pick who verifies it, never to trust it.
fn claimed_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(String::from)
}

impl Authenticator {
    /// The caller of a request with `authorization` (the header's value, if any).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Malformed)?;
        // A JWT has three dot-separated parts; a static token is opaque. A JWT goes to the OIDC issuer it names, or
        // else to the Kubernetes API server (ServiceAccount tokens are JWTs of the cluster's own issuer).
        let is_jwt = token.split('.').count() == 3;
        let for_oidc = self
            .oidc
            .as_ref()
            .filter(|o| self.kube.is_none() || claimed_issuer(token).as_deref() == Some(o.config().issuer.as_str()));
        if is_jwt
            && for_oidc.is_none()
            && let Some(kube) = &self.kube
        {
            let identity = kube.review(token).await?;
            let (roles, scope) = self.policy.resolve(&identity.subject, &identity.groups);
            let scope = scope.unwrap_or(Scope { grants: Some(Vec::new()) });
            let (subject, groups) = (identity.subject, identity.groups);
            return Ok(Principal { subject, groups, roles, scope, method: Method::Kubernetes });
        }
        if is_jwt && let Some(oidc) = for_oidc {
            let identity = oidc.verify(token).await?;
            let (roles, scope) = self.policy.resolve(&identity.subject, &identity.groups);
            let scope = scope.unwrap_or(Scope { grants: Some(Vec::new()) });
            let (subject, groups) = (identity.subject, identity.groups);
            return Ok(Principal { subject, groups, roles, scope, method: Method::Oidc });
        }
        match &self.tokens {
            Some(tokens) => {
                let entry = tokens.find(token).ok_or(AuthError::UnknownToken)?;
                // A static token carries its roles; the policy may add roles and scope its subject.
                let (mut roles, scope) = self.policy.resolve(&entry.subject, &[]);
                roles.extend(entry.roles.iter().copied());
                let scope = scope.unwrap_or_else(Scope::everything);
                Ok(Principal {
                    subject: entry.subject.clone(),
                    groups: Vec::new(),
                    roles,
                    scope,
                    method: Method::StaticToken,
                })
            }
            None if self.oidc.is_some() || self.kube.is_some() => Err(AuthError::Invalid("not a JWT".into())),
            None => Err(AuthError::UnknownToken),
        }
    }
}

/// The caller [`RequireAuth`] set on a request (`None` where no authentication layer ran).
pub fn caller(extensions: &poem::http::Extensions) -> Option<Arc<Principal>> {
    extensions.get::<Arc<Principal>>().cloned()
}
