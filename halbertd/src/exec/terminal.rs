//! What a person typed at the terminal: `/bin/sh -c line`, as that person or (after `sudo `)
//! as root. A person at a terminal types shell, so this is the one place a shell line runs;
//! nothing built from observed data or model output comes here.
//!
//! Under systemd the line runs in a transient service of its own ([`in_unit`]): its own
//! cgroup, `User=` the caller, stdout and stderr through pipes halbertd reads. Stopping the
//! unit kills everything the line started, however it forked. Without systemd (`make dev`)
//! it runs directly ([`direct`]) in its own process group, with the caller's uid, gid and
//! groups set before `exec`.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use super::{ExecError, PATH, SPAWNED};
use crate::systemd::{Iface, JobEnd, Systemd, SystemdError, Transient, Verb, prop, unit_path};

/// The shell a typed line runs in.
pub const SHELL: &str = "/bin/sh";

/// The argv that runs `line`: `/bin/sh -c line`.
pub fn shell_argv(line: &str) -> Vec<String> {
    vec![SHELL.into(), "-c".into(), line.into()]
}

/// Who the line runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    Root,
    User {
        uid: u32,
        gid: u32,
        groups: Vec<u32>,
    },
}

impl RunAs {
    pub fn uid(&self) -> u32 {
        match self {
            RunAs::Root => 0,
            RunAs::User { uid, .. } => *uid,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ShellLine {
    pub line: String,
    pub run_as: RunAs,
    pub timeout: Duration,
    /// Bytes kept of stdout and of stderr each.
    pub max_output: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ShellRun {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The shell's exit code; `None` when it did not exit by itself.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub truncated: bool,
    pub elapsed: Duration,
    /// `transient-unit` or `direct`.
    pub runner: &'static str,
}

/// How long, after the line ended and its unit was stopped, the pipes may take to close.
const DRAIN: Duration = Duration::from_secs(3);
/// How long stopping the unit may take (systemd's own stop timeout is 90 s; this one waits
/// for SIGTERM and then SIGKILL of a shell tree, which takes milliseconds).
const STOP_WAIT: Duration = Duration::from_secs(20);

/// Reads `r` until its end, or until `stop` is cancelled, keeping the first `cap` bytes.
async fn read_until(
    mut r: impl AsyncRead + Unpin,
    cap: usize,
    stop: CancellationToken,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = vec![0u8; 16384];
    loop {
        let n = tokio::select! {
            n = r.read(&mut buf) => n,
            () = stop.cancelled() => return (kept, truncated),
        };
        match n {
            Ok(0) | Err(_) => return (kept, truncated),
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), ExecError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| ExecError::Spawn {
        argv0: SHELL.into(),
        source: std::io::Error::from(e),
    })
}

fn receiver(fd: OwnedFd) -> Result<tokio::net::unix::pipe::Receiver, ExecError> {
    tokio::net::unix::pipe::Receiver::from_owned_fd(fd).map_err(|source| ExecError::Io {
        argv0: SHELL.into(),
        source,
    })
}

/// Runs `l` in a transient unit of `sd`.
pub async fn in_unit(sd: &Systemd, l: &ShellLine) -> Result<ShellRun, SystemdError> {
    let u = UnitRun {
        description: format!("Halbert: a command typed by uid {}", l.run_as.uid()),
        argv: shell_argv(&l.line),
        uid: match l.run_as {
            RunAs::Root => None,
            RunAs::User { uid, .. } => Some(uid),
        },
        timeout: l.timeout,
        max_output: l.max_output,
        sandbox: false,
        writable: Vec::new(),
    };
    argv_in_unit(sd, &u).await
}

/// One argv to run in a transient unit of its own.
#[derive(Debug, Clone)]
pub struct UnitRun {
    pub description: String,
    /// The program (an absolute path) and its arguments.
    pub argv: Vec<String>,
    /// Root when `None`.
    pub uid: Option<u32>,
    pub timeout: Duration,
    /// Bytes kept of stdout and of stderr each.
    pub max_output: usize,
    /// No network, a read-only file system, no new privileges (validators; see
    /// [`crate::systemd::Transient::sandbox`]).
    pub sandbox: bool,
    /// What stays writable in the sandbox.
    pub writable: Vec<String>,
}

/// Runs `u` in a transient unit of `sd`: its own cgroup, stopped (with whatever it left
/// running) and reset afterwards.
pub async fn argv_in_unit(sd: &Systemd, u: &UnitRun) -> Result<ShellRun, SystemdError> {
    let started = Instant::now();
    let io = |e: ExecError| SystemdError::Call {
        call: "StartTransientUnit",
        reason: e.to_string(),
    };
    let (out_r, out_w) = pipe().map_err(io)?;
    let (err_r, err_w) = pipe().map_err(io)?;
    let stop = CancellationToken::new();
    let out = tokio::spawn(read_until(
        receiver(out_r).map_err(io)?,
        u.max_output,
        stop.clone(),
    ));
    let err = tokio::spawn(read_until(
        receiver(err_r).map_err(io)?,
        u.max_output,
        stop.clone(),
    ));
    let name = format!("halbert-run-{}.service", uuid::Uuid::new_v4().simple());
    let t = Transient {
        description: u.description.clone(),
        name: name.clone(),
        argv: u.argv.clone(),
        uid: u.uid,
        stdout: out_w,
        stderr: err_w,
        start_timeout: u.timeout + Duration::from_secs(30),
        sandbox: u.sandbox,
        writable: u.writable.clone(),
    };
    let end = sd.start_transient(&t, u.timeout).await;
    // systemd holds its own copies of the write ends now; ours must go, or the readers
    // would never see the end of the output.
    drop(t);
    let end = match end {
        Ok(end) => end,
        Err(e) => {
            stop.cancel();
            return Err(e);
        }
    };
    let mut run = ShellRun {
        runner: "transient-unit",
        timed_out: end == JobEnd::StillRunning,
        ..ShellRun::default()
    };
    let mut active = false;
    let path = unit_path(&name);
    if let Ok(p) = sd.properties(&path, Iface::Unit).await {
        active = matches!(
            prop::<String>(&p, "ActiveState").as_deref(),
            Some("active" | "activating" | "reloading" | "deactivating")
        );
    }
    if !run.timed_out
        && let Ok(p) = sd.properties(&path, Iface::Service).await
    {
        // ExecMainCode is a waitid() si_code: CLD_EXITED (1), CLD_KILLED (2), CLD_DUMPED (3).
        let status = prop::<i32>(&p, "ExecMainStatus");
        match prop::<i32>(&p, "ExecMainCode") {
            Some(1) => run.exit_code = status,
            Some(2 | 3) => run.signal = status,
            _ => {}
        }
    }
    // Stopping the unit ends whatever the line left running (a backgrounded child, a timed
    // out tree). A unit whose processes had to be killed ends up failed, and a failed
    // transient unit stays until it is reset; either way it goes now.
    if active && let Err(e) = sd.unit_job(Verb::Stop, &name, STOP_WAIT).await {
        tracing::warn!(unit = %name, error = %e, "stopping the command's unit");
    }
    if let Err(e) = sd.reset_failed(&name).await {
        tracing::debug!(unit = %name, error = %e, "reset-failed of the command's unit");
    }
    Ok(finish(run, out, err, stop, started).await)
}

/// Takes what the readers got: they end with the pipes, or [`DRAIN`] after the command ended
/// if something still holds a pipe open.
async fn finish(
    mut run: ShellRun,
    out: tokio::task::JoinHandle<(Vec<u8>, bool)>,
    err: tokio::task::JoinHandle<(Vec<u8>, bool)>,
    stop: CancellationToken,
    started: Instant,
) -> ShellRun {
    let drain = tokio::spawn({
        let stop = stop.clone();
        async move {
            tokio::time::sleep(DRAIN).await;
            stop.cancel();
        }
    });
    let ((stdout, t1), (stderr, t2)) =
        (out.await.unwrap_or_default(), err.await.unwrap_or_default());
    drain.abort();
    run.stdout = stdout;
    run.stderr = stderr;
    run.truncated = t1 || t2;
    run.elapsed = started.elapsed();
    run
}

/// Runs `l` directly: its own process group, the identity of `l.run_as` set before `exec`
/// (which needs halbertd to be root, unless it already runs as that user).
pub async fn direct(l: &ShellLine) -> Result<ShellRun, ExecError> {
    let started = Instant::now();
    let me = nix::unistd::geteuid().as_raw();
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(l.run_as.uid()))
        .ok()
        .flatten();
    let home = user
        .as_ref()
        .map(|u| u.dir.clone())
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| "/".into());
    let argv = shell_argv(&l.line);
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", PATH)
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .env("HOME", &home)
        .current_dir(&home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(u) = &user {
        cmd.env("USER", &u.name).env("LOGNAME", &u.name);
    }
    let target = l.run_as.uid();
    if target != me {
        if me != 0 {
            return Err(ExecError::Identity(format!(
                "halbertd runs as uid {me}, so it cannot run a command as uid {target}"
            )));
        }
        let (gid, groups) = match &l.run_as {
            RunAs::Root => (0, vec![0]),
            RunAs::User { gid, groups, .. } => (*gid, groups.clone()),
        };
        let groups: Vec<nix::unistd::Gid> =
            groups.into_iter().map(nix::unistd::Gid::from_raw).collect();
        let (gid, uid) = (
            nix::unistd::Gid::from_raw(gid),
            nix::unistd::Uid::from_raw(target),
        );
        // All three in this order, in one closure: std's own uid/gid setting runs before
        // pre_exec closures, and setgroups(2) needs the privilege that setuid(2) gives up.
        // SAFETY: between fork and exec only async-signal-safe calls run (three plain system
        // calls), and the vector was allocated before the fork.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setgroups(&groups).map_err(std::io::Error::from)?;
                nix::unistd::setgid(gid).map_err(std::io::Error::from)?;
                nix::unistd::setuid(uid).map_err(std::io::Error::from)?;
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
        argv0: SHELL.into(),
        source,
    })?;
    SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pgid = child.id().map(|p| nix::unistd::Pid::from_raw(p as i32));
    let stop = CancellationToken::new();
    let missing = || ExecError::Io {
        argv0: SHELL.into(),
        source: std::io::Error::other("the child's output pipe is missing"),
    };
    let out = tokio::spawn(read_until(
        child.stdout.take().ok_or_else(missing)?,
        l.max_output,
        stop.clone(),
    ));
    let err = tokio::spawn(read_until(
        child.stderr.take().ok_or_else(missing)?,
        l.max_output,
        stop.clone(),
    ));
    let mut run = ShellRun {
        runner: "direct",
        ..ShellRun::default()
    };
    match tokio::time::timeout(l.timeout, child.wait()).await {
        Ok(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            run.exit_code = status.code();
            run.signal = status.signal();
        }
        Ok(Err(source)) => {
            return Err(ExecError::Io {
                argv0: SHELL.into(),
                source,
            });
        }
        Err(_) => run.timed_out = true,
    }
    // Whatever the shell left in its group goes with it, timed out or not, so that nothing
    // typed at the terminal outlives its answer (as stopping its unit does under systemd).
    if let Some(pg) = pgid {
        let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
    }
    let _ = child.wait().await;
    Ok(finish(run, out, err, stop, started).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> RunAs {
        RunAs::User {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            groups: vec![],
        }
    }

    fn line(s: &str, timeout_ms: u64, cap: usize) -> ShellLine {
        ShellLine {
            line: s.into(),
            run_as: me(),
            timeout: Duration::from_millis(timeout_ms),
            max_output: cap,
        }
    }

    #[tokio::test]
    async fn runs_shell_and_splits_the_streams() {
        let r = direct(&line("echo out; echo err >&2; exit 3", 10_000, 1024))
            .await
            .expect("run");
        assert_eq!(
            (r.stdout.as_slice(), r.stderr.as_slice(), r.exit_code),
            (&b"out\n"[..], &b"err\n"[..], Some(3))
        );
        assert!(!r.timed_out && !r.truncated);
    }

    #[tokio::test]
    async fn a_timeout_kills_the_tree_and_keeps_what_was_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("child");
        let l = format!(
            "echo started; sleep 1000 & echo $! >{}; wait",
            pidfile.display()
        );
        let r = direct(&line(&l, 500, 1024)).await.expect("run");
        assert!(r.timed_out);
        assert_eq!(r.exit_code, None);
        assert_eq!(r.stdout, b"started\n");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid")
            .trim()
            .parse()
            .expect("a pid");
        // Dead, or a zombie nobody has reaped yet (a container's PID 1 may not reap).
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
                .unwrap_or(false)
        };
        for _ in 0..100 {
            if !alive() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !alive(),
            "the backgrounded sleep {pid} outlived the timeout"
        );
    }

    #[tokio::test]
    async fn output_is_capped_and_says_so() {
        let r = direct(&line("head -c 100000 /dev/zero", 10_000, 1000))
            .await
            .expect("run");
        assert_eq!(
            (r.stdout.len(), r.truncated, r.exit_code),
            (1000, true, Some(0))
        );
    }

    #[tokio::test]
    async fn another_identity_is_set_before_exec_or_refused() {
        let mut l = line("id -u; id -g; id -G", 10_000, 100);
        l.run_as = RunAs::User {
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        };
        if nix::unistd::geteuid().is_root() {
            let r = direct(&l).await.expect("run as nobody");
            assert_eq!(String::from_utf8_lossy(&r.stdout), "65534\n65534\n65534\n");
        } else {
            let e = direct(&l).await.expect_err("not root");
            assert!(matches!(e, ExecError::Identity(_)), "{e}");
        }
    }
}
