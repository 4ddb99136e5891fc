//! Starting halbertd in-process for tests: the server on a tempdir socket, stopped through its
//! shutdown future. halbertd's own tests use it, and so does the end-to-end crate
//! (`tests/e2e/tests/util`), which adds halbert-web on top.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use halbertd::engine::Engine;
use halbertd::host::HostRoot;
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

/// The workspace's top directory (this file is compiled into more than one package).
pub fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("tests/fixtures/hosts").is_dir() {
        assert!(
            dir.pop(),
            "no tests/fixtures/hosts above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    dir
}

pub fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/hosts").join(name)
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

/// As [`start_daemon`], with `sd` answering every systemd question (and no transient units,
/// so the terminal runs commands directly).
pub async fn start_daemon_with_systemd(root: HostRoot, sd: halbertd::systemd::Systemd) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Arc::new(
        Engine::open(&dir.path().join("state"), root)
            .expect("engine")
            .with_systemd(sd),
    );
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
