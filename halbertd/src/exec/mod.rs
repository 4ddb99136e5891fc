//! The one place halbertd spawns processes. Commands are argv vectors (never shell strings), run
//! with a clean environment, no stdin, a timeout that kills the whole process group, and capped
//! output.

pub mod follow;
pub mod terminal;
mod tools;
pub mod validate;
pub use tools::{ExecTools, RecordedTools, ToolError, ToolFuture, ToolOutput, Tools};

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Processes spawned since start (benchmarks report it per scan).
static SPAWNED: AtomicU64 = AtomicU64::new(0);

pub fn spawned() -> u64 {
    SPAWNED.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    /// Bytes kept of stdout and of stderr each; the rest is read and dropped.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_output: 4 << 20,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("empty command")]
    Empty,
    #[error("{0} is not installed")]
    NotFound(String),
    #[error("cannot start {argv0}: {source}")]
    Spawn {
        argv0: String,
        source: std::io::Error,
    },
    #[error("{argv0} did not finish within {after:?} and was killed")]
    Timeout { argv0: String, after: Duration },
    /// The identity asked for cannot be taken (halbertd is not root).
    #[error("{0}")]
    Identity(String),
    #[error("reading the output of {argv0}: {source}")]
    Io {
        argv0: String,
        source: std::io::Error,
    },
}

/// The fixed search path for tools; the caller's environment is never inherited.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Finds `name` on [`PATH`] (a name with a `/` is taken as it is).
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    if name.contains('/') {
        let p = std::path::PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    PATH.split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}

async fn read_capped(
    mut r: impl AsyncRead + Unpin,
    cap: usize,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok((kept, truncated));
        }
        let room = cap.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        truncated |= n > room;
    }
}

/// Starts `argv` the one way commands start here: found on [`PATH`], a clean environment, no
/// stdin, stdout and stderr piped, its own process group (so a timeout or a drop kills
/// whatever it started too), killed when dropped.
fn spawn<S: AsRef<str>>(argv: &[S]) -> Result<tokio::process::Child, ExecError> {
    let (argv0, args) = argv.split_first().ok_or(ExecError::Empty)?;
    let argv0 = argv0.as_ref();
    let program = which(argv0).ok_or_else(|| ExecError::NotFound(argv0.to_owned()))?;
    let child = tokio::process::Command::new(&program)
        .args(args.iter().map(AsRef::as_ref))
        .env_clear()
        .env("PATH", PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ExecError::Spawn {
            argv0: argv0.to_owned(),
            source,
        })?;
    SPAWNED.fetch_add(1, Ordering::Relaxed);
    Ok(child)
}

/// Runs `argv` to completion within `limits`.
pub async fn run(argv: &[&str], limits: Limits) -> Result<Output, ExecError> {
    let (&argv0, _) = argv.split_first().ok_or(ExecError::Empty)?;
    let started = Instant::now();
    let mut child = spawn(argv)?;
    let pgid = child.id().map(|p| nix::unistd::Pid::from_raw(p as i32));
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let io = |source| ExecError::Io {
        argv0: argv0.to_owned(),
        source,
    };
    let work = async {
        let out = async {
            match stdout {
                Some(s) => read_capped(s, limits.max_output).await,
                None => Ok((Vec::new(), false)),
            }
        };
        let err = async {
            match stderr {
                Some(s) => read_capped(s, limits.max_output).await,
                None => Ok((Vec::new(), false)),
            }
        };
        let (out, err) = tokio::join!(out, err);
        let status = child.wait().await;
        (out, err, status)
    };
    match tokio::time::timeout(limits.timeout, work).await {
        Ok((out, err, status)) => {
            let ((stdout, t1), (stderr, t2)) = (out.map_err(io)?, err.map_err(io)?);
            let status = status.map_err(io)?;
            Ok(Output {
                code: status.code(),
                stdout,
                stderr,
                truncated: t1 || t2,
                elapsed: started.elapsed(),
            })
        }
        Err(_) => {
            if let Some(pg) = pgid {
                let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
            }
            Err(ExecError::Timeout {
                argv0: argv0.to_owned(),
                after: limits.timeout,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_argv_and_caps_output() {
        let o = run(&["printf", "%s", "hello; rm -rf /"], Limits::default())
            .await
            .expect("printf");
        assert!(o.success());
        assert_eq!(
            o.stdout_text(),
            "hello; rm -rf /",
            "arguments are never interpreted by a shell"
        );
        let o = run(
            &["head", "-c", "100000", "/dev/zero"],
            Limits {
                max_output: 1000,
                ..Limits::default()
            },
        )
        .await
        .expect("head");
        assert_eq!((o.stdout.len(), o.truncated), (1000, true));
    }

    #[tokio::test]
    async fn timeout_kills_the_process_group() {
        let t0 = Instant::now();
        let e = run(
            &["sleep", "30"],
            Limits {
                timeout: Duration::from_millis(300),
                ..Limits::default()
            },
        )
        .await
        .expect_err("timeout");
        assert!(matches!(e, ExecError::Timeout { .. }), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn missing_tool_is_named() {
        let e = run(&["halbert-no-such-tool"], Limits::default())
            .await
            .expect_err("missing");
        assert_eq!(e.to_string(), "halbert-no-such-tool is not installed");
    }
}
