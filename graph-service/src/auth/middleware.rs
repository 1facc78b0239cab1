//! Authentication and role checks around every route.
//!
//! Each request needs a role by what it does ([`Access::of`]): `POST /events` needs `ingester`, `/emit/outbox`
//! `admin`, every other route `viewer`, and health checks and static assets nothing. Unauthenticated callers get 401 with a
//! `WWW-Authenticate: Bearer` challenge, callers without the role 403; the reason goes to the audit line, never to
//! the caller.

use std::sync::Arc;

use poem::http::{Method as HttpMethod, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::login::Sessions;
use super::{AuthError, Authenticator, Principal, Role};
use tekton_graph_access::AuditRecord;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Requires(Role),
}

impl Access {
    pub fn of(method: &HttpMethod, path: &str) -> Access {
        match path {
            "/healthz" | "/readyz" => Access::Public,
            "/auth/login" | "/auth/callback" | "/auth/logout" | "/auth/signed-out" => Access::Public,
            _ if path.starts_with("/ui/assets/") => Access::Public,
            "/events" if method == HttpMethod::POST => Access::Requires(Role::Ingester),
            // What the emitters could not deliver holds other tenants' events: operators only.
            "/emit/outbox" => Access::Requires(Role::Admin),
            _ => Access::Requires(Role::Viewer),
        }
    }

    fn is_write(self) -> bool {
        self == Access::Requires(Role::Ingester) || self == Access::Requires(Role::Admin)
    }
}

/// The middleware: with an authenticator, every request is checked; without one (authentication off), every
/// caller is [`Principal::unauthenticated`].
#[derive(Clone)]
pub struct RequireAuth {
    authenticator: Option<Arc<Authenticator>>,
    sessions: Option<Arc<Sessions>>,
}

impl RequireAuth {
    /// `sessions`: the web UI's sign-in, when configured (reads may then authenticate with its cookie).
    pub fn new(authenticator: Option<Arc<Authenticator>>, sessions: Option<Arc<Sessions>>) -> Self {
        RequireAuth { authenticator, sessions }
    }
}

impl<E: Endpoint> Middleware<E> for RequireAuth {
    type Output = RequireAuthEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequireAuthEndpoint { inner, authenticator: self.authenticator.clone(), sessions: self.sessions.clone() }
    }
}

pub struct RequireAuthEndpoint<E> {
    inner: E,
    authenticator: Option<Arc<Authenticator>>,
    sessions: Option<Arc<Sessions>>,
}

fn is_read(req: &Request) -> bool {
    req.method() == HttpMethod::GET || req.method() == HttpMethod::HEAD
}

/// A browser asking for a page (not an API client): sent to sign in rather than answered 401.
fn wants_page(req: &Request) -> bool {
    is_read(req)
        && req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

fn sign_in(req: &Request) -> Response {
    let here = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let to = url::form_urlencoded::Serializer::new(String::new()).append_pair("return_to", here).finish();
    Response::builder().status(StatusCode::FOUND).header(header::LOCATION, format!("/auth/login?{to}")).finish()
}

/// The peer as `IP:PORT` (poem prints other transports with a scheme, e.g. `unix://…`).
fn remote(req: &Request) -> String {
    match req.remote_addr().as_socket_addr() {
        Some(addr) => addr.to_string(),
        None => req.remote_addr().to_string(),
    }
}

fn challenge(status: StatusCode, message: &str) -> Response {
    let mut response = (status, message.to_string()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        let value = r#"Bearer realm="tekton-graph""#;
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static(value));
    }
    response
}

impl<E: Endpoint> Endpoint for RequireAuthEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let access = Access::of(req.method(), req.uri().path());
        let action = format!("{} {}", req.method(), req.uri().path());
        let principal = match (&self.authenticator, access) {
            (_, Access::Public) => None,
            (None, _) => Some(Principal::unauthenticated()),
            (Some(auth), Access::Requires(_)) => {
                let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                // A session cookie counts for reads only: a write always needs its bearer token (no CSRF).
                let session = match (header, &self.sessions) {
                    (None, Some(sessions)) if is_read(&req) => sessions.principal(&req),
                    _ => None,
                };
                let outcome = match session {
                    Some(principal) => Ok(Principal::clone(&principal)),
                    None => auth.authenticate(header).await,
                };
                match outcome {
                    Ok(principal) => Some(principal),
                    Err(AuthError::Missing) if self.sessions.is_some() && wants_page(&req) => return Ok(sign_in(&req)),
                    Err(error) => {
                        let status = match error {
                            AuthError::Provider(_) => StatusCode::SERVICE_UNAVAILABLE,
                            _ => StatusCode::UNAUTHORIZED,
                        };
                        AuditRecord::denied(None, None, action, remote(&req), status.as_u16(), error.to_string())
                            .emit();
                        let message = if status == StatusCode::UNAUTHORIZED {
                            "authentication required: send `Authorization: Bearer <token>`"
                        } else {
                            "the identity provider cannot be reached; retry shortly"
                        };
                        return Ok(challenge(status, message));
                    }
                }
            }
        };
        let Some(principal) = principal else {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        };
        if let Access::Requires(role) = access
            && !principal.has(role)
        {
            AuditRecord::denied(
                Some(&principal.subject),
                Some(principal.method.as_str()),
                action,
                remote(&req),
                StatusCode::FORBIDDEN.as_u16(),
                format!("needs role {role}; has {:?}", principal.roles),
            )
            .emit();
            return Ok(challenge(StatusCode::FORBIDDEN, &format!("forbidden: this needs the `{role}` role")));
        }
        let principal = Arc::new(principal);
        req.extensions_mut().insert(principal.clone());
        let from = remote(&req);
        let response = self.inner.call(req).await.map(IntoResponse::into_response);
        if access.is_write() {
            let status = match &response {
                Ok(r) => r.status(),
                Err(e) => e.status(),
            };
            AuditRecord::allowed(
                Some(&principal.subject),
                Some(principal.method.as_str()),
                action,
                from,
                status.as_u16(),
            )
            .emit();
        }
        response
    }
}
