//! Request deadline, concurrency limit and panic containment, as one poem middleware around every route.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use poem::http::StatusCode;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use tokio::sync::Semaphore;

use super::RETRY_AFTER_SECONDS;

/// Limits on every HTTP request.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// A request still running after this is answered 503 (its work is dropped).
    pub request_timeout: Duration,
    /// Requests served at once; more are refused with 503 and `Retry-After` rather than queued.
    pub max_concurrent: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits { request_timeout: Duration::from_secs(30), max_concurrent: 256 }
    }
}

/// The middleware.
#[derive(Clone)]
pub struct Limited {
    limits: EdgeLimits,
    permits: Arc<Semaphore>,
}

impl Limited {
    pub fn new(limits: EdgeLimits) -> Self {
        let permits = Arc::new(Semaphore::new(limits.max_concurrent.max(1)));
        Limited { limits, permits }
    }
}

impl<E: Endpoint> Middleware<E> for Limited {
    type Output = LimitedEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        LimitedEndpoint { inner, limits: self.limits.clone(), permits: self.permits.clone() }
    }
}

pub struct LimitedEndpoint<E> {
    inner: E,
    limits: EdgeLimits,
    permits: Arc<Semaphore>,
}

impl<E: Endpoint> Endpoint for LimitedEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            tracing::warn!(path = %req.uri().path(), "refused a request: the server is at its concurrency limit");
            return Ok(busy("the server is at its concurrency limit; retry shortly"));
        };
        let path = req.uri().path().to_string();
        // The deadline covers producing the response; a streamed body (the live updates) outlives it.
        let call = std::panic::AssertUnwindSafe(self.inner.call(req)).catch_unwind();
        let outcome = tokio::time::timeout(self.limits.request_timeout, call).await.ok();
        let response = match outcome {
            None => {
                tracing::warn!(%path, timeout_seconds = self.limits.request_timeout.as_secs_f64(), "request timed out");
                busy(&format!("the request took longer than {:?}", self.limits.request_timeout))
            }
            Some(Err(panic)) => {
                tracing::error!(%path, panic = panic_message(&panic), "a handler panicked; answered 500");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
            Some(Ok(Ok(response))) => response.into_response(),
            Some(Ok(Err(error))) => error.into_response(),
        };
        drop(permit);
        Ok(response)
    }
}

fn busy(message: &str) -> Response {
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header("retry-after", RETRY_AFTER_SECONDS.to_string())
        .body(message.to_string())
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(not a string)".into())
}

#[cfg(test)]
mod tests {
    use poem::test::TestClient;
    use poem::{EndpointExt, Route, get, handler};

    use super::*;

    #[handler]
    fn explode() -> &'static str {
        panic!("a bug reached from input")
    }

    #[handler]
    fn fine() -> &'static str {
        "fine"
    }

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_and_the_server_goes_on() {
        let app =
            Route::new().at("/explode", get(explode)).at("/fine", get(fine)).with(Limited::new(EdgeLimits::default()));
        let cli = TestClient::new(app);
        let resp = cli.get("/explode").send().await;
        resp.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        resp.assert_text("internal error").await;
        for _ in 0..3 {
            cli.get("/fine").send().await.assert_text("fine").await;
        }
        // The panic released its permit: a limit of 1 still serves.
        let one = Route::new()
            .at("/explode", get(explode))
            .at("/fine", get(fine))
            .with(Limited::new(EdgeLimits { max_concurrent: 1, ..EdgeLimits::default() }));
        let cli = TestClient::new(one);
        cli.get("/explode").send().await.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        cli.get("/fine").send().await.assert_status_is_ok();
    }
}
