//! HTTP transport: routes, the JSON error shape, request spans and the OpenAPI document.
//! Handlers translate between HTTP and [`Daemon`](crate::daemon::Daemon) calls and decide
//! nothing themselves.

mod chat;
mod conversations;
mod discovery;
mod docs;
pub mod error;
mod guardrails;
mod health;
mod memory;
mod models;
mod pages;
mod rules;
pub mod views;
pub mod ws;

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::bounds::Bounded;
use crate::config::GuardrailsConfig;
use crate::daemon::Daemon;
use crate::feed::StatusFeed;
use crate::guard::{ClientConn, Guard};
use crate::sandbox;
use halbert_workers::Workers;

pub use docs::ApiDoc;
pub use error::{ApiError, Code, ErrorBody, invalid};

/// Everything handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub daemon: Daemon,
    pub guardrails: GuardrailsConfig,
    pub feed: Arc<StatusFeed>,
    pub workers: Workers,
    pub shutdown: CancellationToken,
    pub sandbox: sandbox::Outcome,
    /// The per-user database (conversations, settings and memory build on it).
    pub db: sled::Db,
    pub conversations: crate::store::conversations::Conversations,
    pub memory: crate::memory::Memory,
    pub rules: crate::store::rules::Rules,
    pub models: Arc<crate::llm::settings::Settings>,
    pub llm: crate::llm::client::LlmClient,
}

/// Runs store work (sled, fsync) off the async runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        ApiError::new(Code::Internal, "internal error (see the log)")
    })
}

/// A JSON body whose problems come back in the [`ErrorBody`] shape: malformed JSON is 400,
/// well-formed JSON of the wrong shape or types is 422, another content type is 415.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// Decodes a JSON body the way [`ApiJson`] does; for handlers whose body is optional.
pub fn decode_json<T: DeserializeOwned + Bounded>(
    headers: &axum::http::HeaderMap,
    bytes: &[u8],
) -> Result<T, ApiError> {
    let v: T = decode_unbounded(headers, bytes)?;
    v.check_bounds().map_err(invalid)?;
    Ok(v)
}

fn decode_unbounded<T: DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    bytes: &[u8],
) -> Result<T, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "the body must be application/json",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => invalid(format!("invalid request body: {e}")),
            _ => ApiError::new(
                Code::InvalidJson,
                format!("the body is not valid JSON: {e}"),
            ),
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned + Bounded> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        decode_json(&headers, &bytes).map(ApiJson)
    }
}

/// A body that could not be read: 413 when it is over the limit, else 400.
pub fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(Code::PayloadTooLarge, "the body is larger than 2 MiB")
    } else {
        ApiError::new(Code::BadRequest, e.body_text())
    }
}

/// Query parameters whose problems are 422 in the [`ErrorBody`] shape (axum's own `Query`
/// answers 400 in plain text).
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| invalid(format!("invalid query parameters: {}", e.body_text())))
    }
}

/// The last line of defence for the error shape: any 4xx/5xx that is not JSON yet (a
/// rejection by an extractor such as a path with `%ff`, or a WebSocket request without
/// `Upgrade`) is rewritten to `{"detail", "code"}` with its status kept.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let body = ErrorBody {
        detail,
        code: Code::for_status(status).as_str().to_owned(),
        action: None,
    };
    let fresh = (status, Json(body)).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, fresh.into_body())
}

/// One span per request, with a request id that is also returned as `x-request-id`.
async fn request_span(mut req: Request, next: Next) -> Response {
    let id = crate::chat::turn::new_request_id();
    let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| tracing::debug!(status = resp.status().as_u16(), "answered"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// The id of the current request, passed on to halbertd for the audit record.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Runs [`Guard::check`] before every route; a refusal is answered here and logged.
async fn guarded(
    axum::extract::State(g): axum::extract::State<Arc<Guard>>,
    axum::extract::ConnectInfo(conn): axum::extract::ConnectInfo<ClientConn>,
    req: Request,
    next: Next,
) -> Response {
    match g.check(&conn, req.method(), req.uri(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(r) => {
            tracing::warn!(remote = %conn.remote, client_uid = ?conn.uid, path = %req.uri().path(), refusal = ?r, "request refused by the web guard");
            ApiError::from(r).into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, "no such route")
}

/// The whole application: API routes, /ws, /docs, the page, behind the guard.
pub fn router(state: AppState, guard: Arc<Guard>) -> Router {
    let api = Router::new()
        .route("/api/settings/guardrails/status", get(guardrails::status))
        .route(
            "/api/settings/guardrails/safe-mode/enter",
            post(guardrails::enter),
        )
        .route(
            "/api/settings/guardrails/safe-mode/exit",
            post(guardrails::exit),
        )
        .route("/api/health", get(health::health))
        .route("/api/discovery", get(discovery::summary))
        .route("/api/discovery/scan", post(discovery::scan))
        .route("/api/discovery/mentions", get(discovery::mentions))
        .route("/api/discovery/{type}", get(discovery::list))
        .route("/api/discovery/{type}/{id}", get(discovery::get_item))
        .route(
            "/api/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route(
            "/api/conversations/{id}",
            get(conversations::get)
                .patch(conversations::rename)
                .delete(conversations::delete),
        )
        .route(
            "/api/conversations/{id}/messages",
            post(conversations::append),
        )
        .route(
            "/api/settings/ai-rules",
            get(rules::list).post(rules::create),
        )
        .route(
            "/api/settings/ai-rules/{id}",
            axum::routing::put(rules::update).delete(rules::delete),
        )
        .route(
            "/api/settings/endpoints",
            get(models::list).post(models::save),
        )
        .route(
            "/api/settings/endpoints/{id}",
            axum::routing::delete(models::delete),
        )
        .route("/api/settings/endpoints/{id}/models", get(models::models))
        .route("/api/settings/endpoints/{id}/test", post(models::test))
        .route(
            "/api/settings/routing",
            get(models::routing).put(models::set_routing),
        )
        .route("/api/settings/assign/{role}", post(models::assign))
        .route("/api/settings/{role}/clear", post(models::clear))
        .route("/api/models/loaded", get(models::loaded))
        .route("/api/chat/config", post(chat::config))
        .route("/api/chat/send", post(chat::send))
        .route("/api/chat/memory/stats", get(memory::stats))
        .route("/api/chat/memory/query", post(memory::query))
        .route("/api/chat/memory/collections", get(memory::collections))
        .route(
            "/api/chat/memory/entries/{collection}",
            get(memory::entries),
        )
        .route(
            "/api/chat/memory/entry/{collection}/{entry_id}",
            axum::routing::delete(memory::delete_entry),
        )
        .route(
            "/api/chat/memory/delete/{collection}",
            post(memory::delete_entries),
        )
        .route("/api/chat/memory/clear/{collection}", post(memory::clear))
        .route("/ws", get(ws::upgrade))
        .route("/", get(pages::index))
        .route("/static/{file}", get(pages::asset))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                Code::MethodNotAllowed,
                "this route does not accept that method",
            )
        })
        .with_state(state);
    api.merge(docs::router())
        .layer(middleware::from_fn_with_state(guard, guarded))
        .layer(middleware::from_fn(request_span))
        .layer(middleware::from_fn(json_errors))
}
