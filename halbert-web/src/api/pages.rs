//! The dashboard: the page built from `halbert-web/ui` (Vite + TypeScript + Preact, `make ui`)
//! and embedded into the binary at compile time, served with a strict CSP. A binary built
//! before the page was built still starts and answers `/` with a page saying how to build it.

use axum::extract::Path;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::{ApiError, Code, ErrorBody};

/// `ui/dist`: `index.html` and its hashed scripts and styles under `static/`. Missing when the
/// front end was not built; the routes below say so instead of failing the build.
#[derive(RustEmbed)]
#[folder = "ui/dist"]
#[allow_missing = true]
struct Assets;

/// Only our own scripts, styles and WebSocket; never framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What `/` answers when the front end was not built into this binary.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Halbert</title></head>\
<body><h1>Halbert</h1><p>This halbert-web was built without its dashboard. Build it with <code>make ui</code> \
(or <code>npm ci &amp;&amp; npm run build</code> in <code>halbert-web/ui</code>), then rebuild halbert-web.</p>\
<p>The API works meanwhile: <a href=\"/docs\">API documentation</a>.</p></body></html>";

fn page(ct: &'static str, cache: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, ct),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// The dashboard.
#[utoipa::path(get, path = "/", tag = "system",
    responses((status = 200, content_type = "text/html", body = String, description = "The dashboard page")))]
pub async fn index() -> Response {
    match Assets::get("index.html") {
        Some(f) => page("text/html; charset=utf-8", "no-cache", f.data.into_owned()),
        None => page(
            "text/html; charset=utf-8",
            "no-cache",
            NOT_BUILT.as_bytes().to_vec(),
        ),
    }
}

/// The dashboard's scripts and styles. Their names carry a hash of their content, so they are
/// cached for good; a new build has new names.
#[utoipa::path(get, path = "/static/{file}", tag = "system",
    params(("file" = String, Path, description = "An asset of the dashboard")),
    responses(
        (status = 200, body = String, description = "The asset (JavaScript or CSS)"),
        (status = 404, body = ErrorBody, description = "No such asset"),
    ))]
pub async fn asset(headers: HeaderMap, Path(file): Path<String>) -> Result<Response, ApiError> {
    let ct = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("woff2") => "font/woff2",
        _ => return Err(ApiError::new(Code::NotFound, "no such asset")),
    };
    // A name with a path separator never names a built asset.
    if file.contains('/') || file.contains('\\') {
        return Err(ApiError::new(Code::NotFound, "no such asset"));
    }
    // The build keeps a gzip copy of each asset (ui/gzip.mjs): sent as it is to a browser that
    // takes gzip, so nothing is compressed per request.
    let gz = accepts_gzip(&headers)
        .then(|| Assets::get(&format!("static/{file}.gz")))
        .flatten();
    let gzipped = gz.is_some();
    let f = gz
        .or_else(|| Assets::get(&format!("static/{file}")))
        .ok_or_else(|| ApiError::new(Code::NotFound, "no such asset"))?;
    let mut r = page(
        ct,
        "public, max-age=31536000, immutable",
        f.data.into_owned(),
    );
    let h = r.headers_mut();
    h.insert(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    if gzipped {
        h.insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    Ok(r)
}

/// Whether `Accept-Encoding` takes gzip (and does not refuse it with `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let refused = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built page loads only files, never inline code, so the CSP above holds for it.
    #[test]
    fn the_built_page_has_no_inline_code() {
        let Some(f) = Assets::get("index.html") else {
            // Built without the front end: `/` serves NOT_BUILT, which has no script at all.
            assert!(!NOT_BUILT.contains("<script"));
            return;
        };
        let html = String::from_utf8(f.data.into_owned()).expect("utf-8");
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().unwrap_or("");
            assert!(
                open.contains("src=\"/static/"),
                "inline or foreign script: <script{open}>"
            );
        }
        assert!(!html.contains("style=\""), "inline style in index.html");
    }

    #[test]
    fn gzip_only_where_it_is_accepted() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, v.parse().expect("header"));
            m
        };
        assert!(accepts_gzip(&h("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(&h("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(&h("*")));
        assert!(!accepts_gzip(&h("gzip;q=0, br")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    /// Every built script and style has its gzip copy, and a browser that takes gzip gets it.
    #[tokio::test]
    async fn built_assets_are_sent_gzipped_to_who_takes_it() {
        let names: Vec<String> = Assets::iter()
            .filter(|n| n.starts_with("static/") && (n.ends_with(".js") || n.ends_with(".css")))
            .map(|n| n.trim_start_matches("static/").to_owned())
            .collect();
        // Built without the front end there is nothing to send; built with it, there are
        // scripts and styles (else this test would pass by checking nothing).
        assert_eq!(
            Assets::get("index.html").is_some(),
            !names.is_empty(),
            "{names:?}"
        );
        for name in names {
            assert!(
                Assets::get(&format!("static/{name}.gz")).is_some(),
                "{name} has no .gz beside it: ui/gzip.mjs did not run"
            );
            let mut accept = HeaderMap::new();
            accept.insert(header::ACCEPT_ENCODING, "gzip".parse().expect("header"));
            let r = asset(accept, Path(name.clone())).await.expect("asset");
            assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip", "{name}");
            let body = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .expect("body");
            assert_eq!(&body[..2], &[0x1f, 0x8b], "{name}: a gzip stream");
            let r = asset(HeaderMap::new(), Path(name.clone()))
                .await
                .expect("asset");
            assert!(
                r.headers().get(header::CONTENT_ENCODING).is_none(),
                "{name}"
            );
        }
    }
}
