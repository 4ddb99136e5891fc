//! The minimal page at `/` (live status over /ws) and its assets, compiled into the binary.

use super::Code;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ErrorBody};

const INDEX: &str = include_str!("../../static/index.html");
const APP_JS: &str = include_str!("../../static/app.js");
const STYLE: &str = include_str!("../../static/style.css");

/// Only our own scripts, styles and WebSocket; never framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn page(ct: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ct),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The dashboard.
#[utoipa::path(get, path = "/", tag = "system",
    responses((status = 200, content_type = "text/html", body = String, description = "The dashboard page")))]
pub async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// The dashboard's scripts and styles.
#[utoipa::path(get, path = "/static/{file}", tag = "system",
    params(("file" = String, Path, description = "An asset of the dashboard")),
    responses(
        (status = 200, body = String, description = "The asset (JavaScript or CSS)"),
        (status = 404, body = ErrorBody, description = "No such asset"),
    ))]
pub async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    match file.as_str() {
        "app.js" => Ok(page("text/javascript; charset=utf-8", APP_JS)),
        "style.css" => Ok(page("text/css; charset=utf-8", STYLE)),
        _ => Err(ApiError::new(Code::NotFound, "no such asset")),
    }
}
