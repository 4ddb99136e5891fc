//! HTTP transport: routes, the JSON error shape, request spans and the OpenAPI document.
//! Handlers translate between HTTP and [`Daemon`](crate::daemon::Daemon) calls and decide
//! nothing themselves.

mod approvals;
mod chat;
mod conversations;
mod discovery;
mod docs;
mod editor;
pub mod error;
mod guardrails;
mod health;
mod ingestion;
mod knowledge;
mod memory;
mod models;
mod pages;
mod policy;
mod recovery;
mod rules;
pub mod schema;
mod services;
mod simulate;
mod status;
mod terminal;
pub mod views;
pub mod ws;

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
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
    /// The user's policy and halbertd: what every change passes (`actions::perform`).
    pub gate: crate::actions::Gate,
    pub policy: Arc<crate::policy::PolicyStore>,
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
    pub terminal: crate::terminal::Terminal,
    pub recovery: Arc<crate::recovery::Recovery>,
    pub models: Arc<crate::llm::settings::Settings>,
    pub llm: crate::llm::client::LlmClient,
    /// Telemetry ingestion (`/api/settings/ingestion/*`).
    pub ingestion: Arc<crate::ingestion::Ingestion>,
    /// Where the local embedding model is looked for.
    pub model_dirs: Arc<[std::path::PathBuf]>,
    /// The manual-page index; none when its trees could not be opened (said in the log).
    pub knowledge: Option<crate::knowledge::Knowledge>,
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
    // Every body of this API is a JSON object; serde would also take a struct written as an
    // array (`[null, null]`), which the description does not allow.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => invalid("the body must be a JSON object"),
                Err(e) => ApiError::new(
                    Code::InvalidJson,
                    format!("the body is not valid JSON: {e}"),
                ),
            },
        );
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

/// A numeric query parameter: absent is `default`; a non-number is a mistake in the form
/// (400 `invalid_query`), a number out of `lo..=hi` a mistake in the value (422).
pub fn query_number(
    name: &str,
    raw: Option<&str>,
    lo: u32,
    hi: u32,
    default: u32,
) -> Result<u32, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let n: u64 = raw.trim().parse().map_err(|_| {
        ApiError::new(
            Code::InvalidQuery,
            format!("{name} must be a whole number, not {raw:?}"),
        )
    })?;
    u32::try_from(n)
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| invalid(format!("{name} must be between {lo} and {hi}")))
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
    let body = ApiError::new(Code::for_status(status), detail).body();
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

/// Every route, registered through the OpenAPI router: a handler without its `#[utoipa::path]`
/// cannot be added, so no route exists that `/openapi.json` does not describe. Returns the
/// routes and the finished description.
fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;
    let (router, mut api) = OpenApiRouter::with_openapi(<ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(guardrails::status))
        .routes(routes!(guardrails::enter))
        .routes(routes!(guardrails::exit))
        .routes(routes!(health::health))
        .routes(routes!(status::history))
        .routes(routes!(discovery::summary))
        .routes(routes!(discovery::scan))
        .routes(routes!(discovery::mentions))
        .routes(routes!(discovery::list))
        .routes(routes!(discovery::get_item))
        .routes(routes!(conversations::list, conversations::create))
        .routes(routes!(
            conversations::get,
            conversations::rename,
            conversations::delete
        ))
        .routes(routes!(conversations::append))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::update, rules::delete))
        .routes(routes!(models::list, models::save))
        .routes(routes!(models::delete))
        .routes(routes!(models::models))
        .routes(routes!(models::test))
        .routes(routes!(models::routing, models::set_routing))
        .routes(routes!(models::assign))
        .routes(routes!(models::clear))
        .routes(routes!(models::loaded))
        .routes(routes!(chat::config))
        .routes(routes!(chat::send))
        .routes(routes!(memory::stats))
        .routes(routes!(memory::query))
        .routes(routes!(memory::collections))
        .routes(routes!(memory::entries))
        .routes(routes!(memory::delete_entry))
        .routes(routes!(memory::delete_entries))
        .routes(routes!(memory::clear))
        .routes(routes!(memory::embedding, memory::set_embedding))
        .routes(routes!(knowledge::status))
        .routes(routes!(knowledge::refresh))
        .routes(routes!(ingestion::status))
        .routes(routes!(ingestion::start))
        .routes(routes!(ingestion::stop))
        .routes(routes!(editor::read, editor::write))
        .routes(routes!(editor::backups))
        .routes(routes!(editor::restore))
        .routes(routes!(services::get))
        .routes(routes!(services::start))
        .routes(routes!(services::stop))
        .routes(routes!(services::restart))
        .routes(routes!(services::logs))
        .routes(routes!(terminal::execute))
        .routes(routes!(terminal::history))
        .routes(routes!(policy::get, policy::replace))
        .routes(routes!(policy::set_tool))
        .routes(routes!(policy::remove_tool))
        .routes(routes!(approvals::pending))
        .routes(routes!(approvals::history))
        .routes(routes!(approvals::get))
        .routes(routes!(approvals::approve))
        .routes(routes!(approvals::reject))
        .routes(routes!(simulate::command))
        .routes(routes!(simulate::file_write))
        .routes(routes!(simulate::service_restart))
        .routes(routes!(simulate::tool))
        .routes(routes!(recovery::status))
        .routes(routes!(recovery::set_limits))
        .routes(routes!(recovery::rollback))
        .routes(routes!(recovery::restart_service))
        .routes(routes!(recovery::alert))
        .routes(routes!(ws::upgrade))
        .routes(routes!(pages::index))
        .routes(routes!(pages::asset))
        .split_for_parts();
    docs::common_responses(&mut api);
    (router, api)
}

/// The description of the API, exactly as `/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().1
}

/// The whole application: API routes, /ws, /docs, the page, behind the guard.
pub fn router(state: AppState, guard: Arc<Guard>) -> Router {
    let (routes, api) = routes();
    let app = routes
        .fallback(not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                Code::MethodNotAllowed,
                "this route does not accept that method",
            )
        })
        .with_state(state);
    app.merge(docs::router(api))
        .layer(middleware::from_fn_with_state(guard, guarded))
        .layer(middleware::from_fn(request_span))
        .layer(middleware::from_fn(json_errors))
}
