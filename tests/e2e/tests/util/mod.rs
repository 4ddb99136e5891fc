//! The end-to-end tests' helpers: halbertd in-process (shared with halbertd's own tests),
//! halbert-web built by the same `app::build` as the real process and served on port 0, the
//! scripted model server, and clients for HTTP and `/ws`.

#![allow(dead_code)]

#[path = "../../../../halbertd/tests/common/mod.rs"]
mod daemon;

pub use daemon::*;

use std::path::Path;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// halbert-web serving on 127.0.0.1:0 against a daemon socket.
pub struct Web {
    pub addr: std::net::SocketAddr,
    pub feed: Arc<halbert_web::feed::StatusFeed>,
    /// A client for [`Web::call`] (one, so connections are reused).
    pub http: reqwest::Client,
    pub stop: CancellationToken,
    pub workers: halbert_workers::Workers,
    pub task: JoinHandle<std::io::Result<()>>,
    _db_dir: tempfile::TempDir,
}

impl Web {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One JSON request: the status and the JSON body of the answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut r = self.http.request(method, self.url(path));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("send");
        (r.status().as_u16(), r.json().await.expect("json"))
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
        assert!(
            self.workers
                .shutdown(std::time::Duration::from_secs(5))
                .await,
            "workers must stop in time"
        );
    }
}

pub async fn start_web(socket: &Path, status_interval_ms: u32) -> Web {
    start_web_with(
        socket,
        status_interval_ms,
        "127.0.0.1:0",
        halbert_web::server::Limits::default(),
    )
    .await
}

/// As [`start_web`], listening on `bind` with `limits`.
pub async fn start_web_with(
    socket: &Path,
    status_interval_ms: u32,
    bind: &str,
    limits: halbert_web::server::Limits,
) -> Web {
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let db_dir = tempfile::tempdir().expect("tempdir");
    let stores = halbert_web::app::Stores::open(db_dir.path()).expect("stores");
    let opts = halbert_web::app::Options {
        daemon_socket: socket.to_owned(),
        status_interval_ms,
        guardrails: halbert_web::config::GuardrailsConfig::default(),
        sandbox: halbert_web::sandbox::Outcome {
            abi: 0,
            enforcement: "off",
        },
        settle: std::time::Duration::from_secs(2),
        ingestion_config: db_dir.path().join("ingestion.yml"),
        man_root: man_root(),
    };
    let state = halbert_web::app::build(opts, stores, stop.clone());
    let (feed, workers) = (state.feed.clone(), state.workers.clone());
    let guard = Arc::new(halbert_web::guard::Guard::new(addr, &[], None));
    let task = tokio::spawn(halbert_web::server::serve_with(
        listener,
        halbert_web::api::router(state, guard),
        limits,
        stop.clone().cancelled_owned(),
    ));
    Web {
        addr,
        feed,
        http: reqwest::Client::new(),
        stop,
        workers,
        task,
        _db_dir: db_dir,
    }
}

/// The manual pages the tests' halbert-web indexes: the fixture pages captured from a Debian
/// machine (`tests/fixtures/man`).
pub fn man_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/man")
}

/// Serves a scripted model server (the one stand-in the tests allow) on 127.0.0.1:0; returns
/// its base URL. The task ends with the test's runtime.
pub async fn serve_scripted(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    // As a model server would: small streamed writes go out at once (TCP_NODELAY).
    let l = axum::serve::ListenerExt::tap_io(l, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    url
}

/// A URL on which nothing listens (a port that was just free).
pub async fn closed_port_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    drop(l);
    url
}

/// The scripted model server (`tests/scripted-llm`) on 127.0.0.1:0: its base URL and what it saw.
#[allow(dead_code)]
pub async fn start_scripted_llm() -> (String, halbert_scripted_llm::Script) {
    let script = halbert_scripted_llm::Script::default();
    let url = serve_scripted(halbert_scripted_llm::router(script.clone())).await;
    (url, script)
}

/// Registers `url` as endpoint `id` of `provider` and assigns `model` to the guide role.
#[allow(dead_code)]
pub async fn use_model(w: &Web, id: &str, provider: &str, url: &str, model: &str) {
    let (status, body) = w
        .post(
            "/api/settings/endpoints",
            serde_json::json!({"id": id, "name": id, "url": url, "provider": provider}),
        )
        .await;
    assert_eq!(status, 200, "endpoint: {body}");
    let (status, body) = w
        .post(
            "/api/settings/assign/guide",
            serde_json::json!({"endpoint_id": id, "model": model}),
        )
        .await;
    assert_eq!(status, 200, "assign: {body}");
}

/// A same-origin WebSocket client on `/ws`.
#[allow(dead_code)]
pub async fn ws_connect(
    w: &Web,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/ws", w.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "origin",
        format!("http://{}", w.addr).parse().expect("origin"),
    );
    let before = w.feed.clients();
    let ws = tokio_tungstenite::connect_async(req).await.expect("ws").0;
    // The server subscribes the client to the feed just after the handshake: wait for that, so
    // no event sent right after connecting is missed.
    for _ in 0..500 {
        if w.feed.clients() > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        w.feed.clients() > before,
        "the websocket client was never subscribed"
    );
    ws
}

/// The next `/ws` message of type `kind` (others are skipped), within 10 s.
#[allow(dead_code)]
pub async fn ws_next_of(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    kind: &str,
) -> serde_json::Value {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} message within 10 s"))
            .expect("open")
            .expect("ok");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            let v: serde_json::Value = serde_json::from_str(&t).expect("json");
            if v["type"] == kind {
                return v;
            }
        }
    }
}
