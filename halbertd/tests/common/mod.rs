//! Starting halbertd (and halbert-web) in-process for tests: servers on a tempdir socket and
//! port 0, stopped through their shutdown futures.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use halbertd::engine::Engine;
use halbertd::host::HostRoot;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/hosts")
        .join(name)
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub engine: Arc<Engine>,
    pub stop: CancellationToken,
    pub task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Daemon {
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub async fn shutdown(self) -> tempfile::TempDir {
        self.stop.cancel();
        let _ = self.task.await;
        self.dir
    }
}

/// Starts halbertd on `<dir>/halbertd.sock` with its state in `<dir>/state`.
pub async fn start_daemon_in(dir: tempfile::TempDir, root: HostRoot) -> Daemon {
    let engine = Arc::new(Engine::open(&dir.path().join("state"), root).expect("engine"));
    serve_engine(dir, engine)
}

/// Starts halbertd on a copy of a fixture tree, with the tree's recorded tool outputs.
pub async fn start_daemon_on_tree(dir: tempfile::TempDir, tree: &Path) -> Daemon {
    let tools = Arc::new(halbertd::exec::RecordedTools {
        dir: tree.join("tools"),
    });
    let engine = Arc::new(
        Engine::open_with_tools(&dir.path().join("state"), HostRoot::new(tree), tools)
            .expect("engine"),
    );
    serve_engine(dir, engine)
}

/// A copy of a fixture tree (symlinks kept) that a test may change.
pub fn copy_tree(name: &str, into: &Path) -> PathBuf {
    let to = into.join(name);
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixture(name))
        .arg(&to)
        .status()
        .expect("cp");
    assert!(ok.success());
    to
}

fn serve_engine(dir: tempfile::TempDir, engine: Arc<Engine>) -> Daemon {
    let socket = dir.path().join("halbertd.sock");
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket).expect("bind");
    let stop = CancellationToken::new();
    let task = tokio::spawn(halbertd::server::serve(
        listener,
        engine.clone(),
        stop.clone().cancelled_owned(),
    ));
    Daemon {
        dir,
        socket,
        engine,
        stop,
        task,
    }
}

/// Every audit record under a state dir, in chain order.
pub fn audit_records(state_dir: &Path) -> Vec<serde_json::Value> {
    halbertd::gate::audit::log_files(&state_dir.join("audit"))
        .expect("audit files")
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("read")
                .lines()
                .map(|l| serde_json::from_str(l).expect("json"))
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

pub async fn start_daemon(root: HostRoot) -> Daemon {
    start_daemon_in(tempfile::tempdir().expect("tempdir"), root).await
}

/// A raw gRPC channel to a daemon's socket.
pub fn channel(socket: &Path) -> Channel {
    let path = socket.to_owned();
    Endpoint::from_static("http://halbertd.test").connect_with_connector_lazy(tower::service_fn(
        move |_| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        },
    ))
}

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
    use halbert_web::api::{AppState, router};
    let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let workers = halbert_workers::Workers::new(stop.clone());
    let daemon = halbert_web::daemon::Daemon::new(socket);
    let feed = Arc::new(halbert_web::feed::StatusFeed::default());
    {
        let (feed, daemon) = (feed.clone(), daemon.clone());
        workers.spawn("status-feed", move |t| async move {
            feed.run(daemon, status_interval_ms, t).await
        });
    }
    let db_dir = tempfile::tempdir().expect("tempdir");
    let db = halbert_web::store::open(db_dir.path()).expect("db");
    let state = AppState {
        conversations: halbert_web::conversations::Conversations::open(&db).expect("conversations"),
        memory: halbert_web::memory::Memory::open(&db),
        rules: halbert_web::ai_rules::Rules::open(&db).expect("rules"),
        models: Arc::new(
            halbert_web::llm::settings::Settings::open(db_dir.path()).expect("models"),
        ),
        llm: halbert_web::llm::client::LlmClient::new().expect("http client"),
        daemon,
        guardrails: halbert_web::config::GuardrailsConfig::default(),
        feed: feed.clone(),
        workers: workers.clone(),
        shutdown: stop.clone(),
        sandbox: halbert_web::sandbox::Outcome {
            abi: 0,
            enforcement: "off",
        },
        db,
    };
    let guard = Arc::new(halbert_web::guard::Guard::new(addr, &[], None));
    let task = tokio::spawn(halbert_web::server::serve_with(
        listener,
        router(state, guard),
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
