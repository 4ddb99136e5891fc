//! halbertd's entry point: argument parsing, start-up order (logging → capabilities →
//! listener → engine → serve → READY=1), signals and shutdown.

use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use halbertd::cli::{AuditCommand, Cli, Command, ServeArgs, StateArgs};
use halbertd::engine::Engine;
use halbertd::host::HostRoot;
use tokio_util::sync::CancellationToken;

/// How long running RPCs and streams get to finish after SIGTERM.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// How often every discovery type is scanned again in the background.
const RESCAN_EVERY: Duration = Duration::from_secs(15 * 60);
/// How often the one-line STATUS= summary is refreshed when nothing changed.
const STATUS_EVERY: Duration = Duration::from_secs(30);
/// How often refusals held back by the audit rate limit are summed up in one record.
const SUPPRESSED_EVERY: Duration = Duration::from_secs(60);

fn state_dir(a: &StateArgs) -> PathBuf {
    a.state_dir
        .clone()
        .or_else(|| {
            std::env::var_os("STATE_DIRECTORY")
                .map(|v| PathBuf::from(v.to_string_lossy().split(':').next().unwrap_or_default()))
        })
        .unwrap_or_else(|| PathBuf::from("/var/lib/halbert"))
}

fn main() -> Result<()> {
    // clap answers --help and --version on stdout and a usage mistake with exit status 2.
    let cli = Cli::parse();
    match cli.command {
        None => serve(&cli.serve),
        Some(Command::Serve(a)) => serve(&a),
        Some(Command::Audit(AuditCommand::Verify(s))) => {
            // `halbertd --state-dir D audit verify` means the same as the flag after `verify`.
            let s = StateArgs {
                state_dir: s.state_dir.or(cli.serve.state.state_dir),
            };
            audit_verify(&state_dir(&s))
        }
    }
}

#[allow(clippy::print_stdout)]
fn audit_verify(state_dir: &Path) -> Result<()> {
    let dir = state_dir.join("audit");
    // The journal's copy of the newest head catches what the chain cannot: records cut off
    // its end. Without a journal (make dev, a copied log) the chain is checked alone.
    let anchor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(halbertd::gate::audit::journal_head(&dir));
    let v = halbertd::gate::audit::verify_anchored(&dir, anchor.as_deref())
        .with_context(|| format!("reading {}", dir.display()))?;
    match v.broken {
        None => {
            println!(
                "audit chain OK: {} records in {} files under {}, last hash {}",
                v.records,
                v.files,
                dir.display(),
                v.last_hash
            );
            match &v.anchor {
                Some((head, _)) => println!("the journal's newest head {head} is in the chain"),
                None => println!("no audit head in the journal to compare with"),
            }
            Ok(())
        }
        Some(b) if b.line == 0 => {
            println!("audit chain BROKEN: {}", b.problem);
            println!("records verified: {}", v.records);
            std::process::exit(1);
        }
        Some(b) => {
            println!(
                "audit chain BROKEN at {}:{} (record {} of the chain): {}",
                b.file.display(),
                b.line,
                v.records + 1,
                b.problem
            );
            println!("records verified before it: {}", v.records);
            std::process::exit(1);
        }
    }
}

/// The listener: socket activation first, then `--socket`.
fn listener(a: &ServeArgs) -> Result<(std::os::unix::net::UnixListener, String)> {
    let fds: Vec<_> = sd_notify::listen_fds()
        .map(|f| f.collect())
        .unwrap_or_default();
    if let Some(&fd) = fds.first() {
        // SAFETY: systemd passed us this listening socket (LISTEN_FDS) and nothing else owns it.
        let l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
        let name = l
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            .unwrap_or_default();
        return Ok((l, format!("{name} (socket activation)")));
    }
    let Some(path) = a.socket.clone() else {
        bail!(
            "no listener: start halbertd through halbertd.socket, or pass --socket PATH for development"
        );
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            bail!("{} is in use by a running halbertd", path.display());
        }
        std::fs::remove_file(&path)
            .with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    let l = std::os::unix::net::UnixListener::bind(&path)
        .with_context(|| format!("binding {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))?;
    Ok((l, path.display().to_string()))
}

fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

fn status_line(
    engine: &Engine,
    authz: &str,
    socket: &str,
    workers: &halbert_workers::Workers,
) -> String {
    let sm = engine.safe_mode();
    let safe = if sm.active {
        format!("safe mode ON ({})", sm.reason)
    } else {
        "safe mode off".into()
    };
    // A worker that stopped on its own (discovery, audit summary) is named, so that
    // `systemctl status halbertd` shows it without a look at the journal.
    let stopped: Vec<String> = workers
        .statuses()
        .into_iter()
        .filter(|(_, state)| state != "running")
        .map(|(name, state)| format!("worker {name} {state}"))
        .collect();
    let mut line = format!(
        "serving on {socket}; {safe}; authorization {authz}; {} status streams",
        engine.watchers()
    );
    for w in stopped {
        line.push_str("; ");
        line.push_str(&w);
    }
    line
}

fn serve(a: &ServeArgs) -> Result<()> {
    let sink = halbertd::logging::init("halbertd");
    let kept = halbertd::privileges::drop_unneeded().context("dropping capabilities")?;
    let (std_listener, socket_name) = listener(a)?;
    std_listener.set_nonblocking(true)?;
    let state_dir = state_dir(&a.state);
    let root = a
        .host_root
        .clone()
        .map(HostRoot::new)
        .unwrap_or_else(HostRoot::system);
    let config_path = a
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(halbertd::config::DEFAULT_PATH));
    let config = halbertd::config::Config::load(&config_path)?;
    let engine = Arc::new(
        Engine::open_with(
            &state_dir,
            root,
            Arc::new(halbertd::exec::ExecTools),
            config.policy(),
        )
        .with_context(|| format!("opening state in {}", state_dir.display()))?
        .with_system_policy(config.policy_path()),
    );
    tracing::info!(socket = %socket_name, state_dir = %state_dir.display(), log = sink, kept_capabilities = ?kept, "halbertd starting");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::UnixListener::from_std(std_listener)?;
        let token = CancellationToken::new();
        let server = tokio::spawn(halbertd::server::serve(listener, engine.clone(), token.clone().cancelled_owned()));

        // Background work runs as named workers under the server's token, so a shutdown
        // waits for all of it within the deadline and a failed loop is logged by name.
        let workers = halbert_workers::Workers::new(token.clone());
        let authz = engine.authorization_health().await;
        let line = status_line(&engine, authz.as_str(), &socket_name, &workers);
        notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status(&line)]);
        tracing::info!(status = %line, "ready");

        // "status-line": keeps systemd's STATUS= current until shutdown.
        {
            let (engine, socket_name, all) = (engine.clone(), socket_name.clone(), workers.clone());
            workers.spawn("status-line", move |token| async move {
                loop {
                    tokio::select! {
                        _ = token.cancelled() => return Ok(()),
                        _ = engine.changed() => {}
                        _ = tokio::time::sleep(STATUS_EVERY) => {}
                    }
                    let authz = engine.authorization_health().await;
                    notify(&[sd_notify::NotifyState::Status(&status_line(&engine, authz.as_str(), &socket_name, &all))]);
                }
            });
        }

        // "audit-summary": writes what the refusal rate limit held back, once a minute and at
        // shutdown, so the log always says how much it left out.
        {
            let engine = engine.clone();
            workers.spawn("audit-summary", move |token| async move {
                loop {
                    tokio::select! {
                        _ = token.cancelled() => break,
                        _ = tokio::time::sleep(SUPPRESSED_EVERY) => {}
                    }
                    engine.flush_suppressed().await;
                }
                engine.flush_suppressed().await;
                Ok(())
            });
        }

        // "discovery": scans what was never scanned right away (a restart serves the
        // persisted results at once), then everything every RESCAN_EVERY.
        {
            let engine = engine.clone();
            workers.spawn("discovery", move |token| async move {
                let mut kinds = engine.never_scanned();
                loop {
                    if !kinds.is_empty() {
                        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                        tokio::select! {
                            _ = token.cancelled() => return Ok(()),
                            _ = engine.scan_now(&kinds, &tx) => {}
                        }
                    }
                    tokio::select! {
                        _ = token.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(RESCAN_EVERY) => {}
                    }
                    kinds = halbertd::discovery::Kind::ALL.to_vec();
                }
            });
        }

        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        }
        notify(&[sd_notify::NotifyState::Stopping]);
        let started = std::time::Instant::now();
        if !workers.shutdown(SHUTDOWN_DEADLINE).await {
            tracing::warn!(workers = ?workers.statuses(), "workers still running at the shutdown deadline");
        }
        let left = SHUTDOWN_DEADLINE.saturating_sub(started.elapsed());
        let drained = tokio::time::timeout(left, server).await;
        match drained {
            Ok(Ok(Ok(()))) => tracing::info!("halbertd stopped"),
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "server ended with an error"),
            Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
            Err(_) => tracing::warn!(deadline = ?SHUTDOWN_DEADLINE, "shutdown deadline passed; exiting with streams still open"),
        }
        Ok::<_, anyhow::Error>(())
    })
}
