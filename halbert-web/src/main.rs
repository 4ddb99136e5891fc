//! halbert-web's entry point. Start-up order matters: resolve dirs, bind the listener, read
//! the config and the token — then Landlock, before any thread exists — then sled and the
//! tokio runtime.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use halbert_web::api::router;
use halbert_web::config::{Dirs, GuardrailsConfig};
use halbert_web::guard::Guard;
use halbert_web::sandbox::{self, Policy};
use tokio_util::sync::CancellationToken;

const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// Threads for blocking work (see the runtime's construction in `main`).
const BLOCKING_THREADS: usize = 8;

/// The bearer token for non-loopback use: created with `--new-token`, else read from the state
/// dir (which must keep it private).
fn load_token(dirs: &Dirs, create: bool) -> Result<Option<String>> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = dirs.state.join("token");
    if create {
        let mut raw = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        std::io::Write::write_all(&mut f, token.as_bytes())?;
        f.sync_all()?;
        return Ok(Some(token));
    }
    match std::fs::metadata(&path) {
        Ok(m) => {
            if m.permissions().mode() & 0o077 != 0 {
                bail!(
                    "{} is readable by others; fix with chmod 600 or create a new one with --new-token",
                    path.display()
                );
            }
            let t = std::fs::read_to_string(&path)?.trim().to_owned();
            if t.len() < 32 {
                bail!(
                    "{} holds no usable token; create one with --new-token",
                    path.display()
                );
            }
            Ok(Some(t))
        }
        Err(_) => Ok(None),
    }
}

fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter =
        || EnvFilter::try_from_env("HALBERT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Under systemd (JOURNAL_STREAM set) log natively to journald; at a terminal, to stderr.
    let journald = std::env::var_os("JOURNAL_STREAM")
        .and_then(|_| tracing_journald::layer().ok())
        .map(|l| {
            l.with_syslog_identifier("halbert-web".into())
                .with_field_prefix(Some("HALBERT".into()))
        });
    match journald {
        Some(l) => tracing_subscriber::registry()
            .with(l.with_filter(filter()))
            .init(),
        None => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    // Colours only for a terminal, not for a log file or a pipe.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_filter(filter()),
            )
            .init(),
    }
}

/// Every connection is a descriptor, and the soft limit (often 1024) is far below what the
/// connection caps allow; the hard limit (the unit's `LimitNOFILE`) is the real bound.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(error = %e, soft, hard, "cannot raise the descriptor limit");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the descriptor limit"),
    }
}

#[allow(clippy::print_stdout)]
fn main() -> Result<()> {
    // clap answers --help and --version on stdout and a usage mistake with exit status 2.
    let args = halbert_web::cli::Cli::parse();
    init_logging();
    raise_fd_limit();
    let dirs = Dirs::from_env()?;
    dirs.ensure_state()?;
    // Landlock can only grant a directory that exists: the config dir is made now, so that an
    // ingestion.yml the user writes later is readable without a restart.
    if let Err(e) = dirs.ensure_config() {
        tracing::warn!(error = %e, "the config directory cannot be created; files put there later need a restart");
    }
    let guardrails = GuardrailsConfig::load(&GuardrailsConfig::file(&dirs))?;

    // One plain line at start when halbertd cannot be reached (not in group halbert, halbertd
    // not running), instead of a gRPC error on every request; the dashboard and /api/health say
    // the same, and halbert-web keeps running so that it serves as soon as the cause is fixed.
    if let Err(e) = halbert_web::daemon::probe(&args.socket) {
        eprintln!("halbert-web: {e}");
    }

    let loopback = args.host.is_loopback();
    let token = load_token(&dirs, args.new_token)?;
    let token = match (loopback, token) {
        (true, _) => None,
        (false, Some(t)) => Some(t),
        (false, None) => bail!(
            "refusing to listen on {} without a bearer token: that would expose this user's Halbert to the network. \
             Start once with --new-token to create one",
            args.host
        ),
    };
    let port = args
        .port
        .unwrap_or_else(|| halbert_web::cli::default_port(nix::unistd::getuid().as_raw()));
    let addr = SocketAddr::new(args.host, port);
    let std_listener = std::net::TcpListener::bind(addr).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "port {port} on {} is in use (another halbert-web, or another program): pass --port N",
                args.host
            )
        } else {
            anyhow::Error::new(e).context(format!("binding {addr}"))
        }
    })?;
    std_listener.set_nonblocking(true)?;
    let bound = std_listener.local_addr()?;

    let policy = Policy {
        read_only: [
            "/proc",
            "/sys",
            "/etc",
            "/usr",
            "/lib",
            "/lib64",
            "/dev/urandom",
            "/dev/null",
        ]
        .into_iter()
        .map(PathBuf::from)
        .chain([dirs.config.clone()])
        // The embedding model's files, when they are somewhere of the user's choosing.
        .chain(std::env::var_os("HALBERT_MODEL_DIR").map(PathBuf::from))
        .chain([args.man_root.clone()])
        .collect(),
        read_write: vec![dirs.state.clone()],
    };
    let sandbox = sandbox::apply(args.sandbox, &policy).context("applying the Landlock sandbox")?;
    tracing::info!(
        landlock_abi = sandbox.abi,
        enforcement = sandbox.enforcement,
        "sandbox"
    );

    let mut stores = halbert_web::app::Stores::open(&dirs.state)?;
    stores.approvals = std::sync::Arc::new(
        halbert_web::approvals::Approvals::open(&stores.db)?
            .with_lifetime(args.approval_lifetime_s),
    );
    let opts = halbert_web::app::Options {
        daemon_socket: args.socket.clone(),
        status_interval_ms: args.status_interval_ms,
        guardrails,
        sandbox,
        settle: Duration::from_secs(args.settle_s),
        ingestion_config: halbert_web::ingestion::config::IngestionConfig::file(&dirs),
        man_root: args.man_root.clone(),
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Store work (sled, fsync) runs on blocking threads. tokio's default allows 512, and
        // every thread that ever ran keeps its touched stack and its own malloc arena, so a
        // burst of concurrent writes left RSS high for good (182 MiB after 100,000 appends
        // from 100 clients, against 37 MiB for the same data written from one thread). Sled
        // serializes its writers anyway; a few threads lose nothing.
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let shutdown = CancellationToken::new();
        let state = halbert_web::app::build(opts, stores, shutdown.clone());
        let workers = state.workers.clone();
        let guard = Arc::new(Guard::new(bound, &args.allowed_hosts, token.clone()));
        let app = router(state, guard);

        let shown = if bound.ip().is_unspecified() { SocketAddr::new([127, 0, 0, 1].into(), bound.port()) } else { bound };
        println!("Halbert is running at http://{shown}/  (API docs: http://{shown}/docs)");
        // The token itself is never printed: under systemd stdout goes to the journal, which
        // group adm can read.
        if token.is_some() {
            println!("requests need Authorization: Bearer <token>, the token is in {} (mode 0600)", dirs.state.join("token").display());
        }
        tracing::info!(listen = %bound, daemon_socket = %args.socket.display(), "halbert-web serving");

        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            tracing::info!("shutting down");
            stop.cancel();
        });
        halbert_web::server::serve(listener, app, shutdown.clone().cancelled_owned()).await?;
        if !workers.shutdown(SHUTDOWN_DEADLINE).await {
            tracing::warn!(deadline = ?SHUTDOWN_DEADLINE, "workers did not stop in time");
        }
        Ok::<_, anyhow::Error>(())
    })
}
