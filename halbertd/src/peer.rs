//! Caller identity from the kernel: SO_PEERCRED at accept time, a pidfd for the peer process
//! (SO_PEERPIDFD, else `pidfd_open`), and per RPC the process's comm, groups and start time
//! read from `/proc` — then the pidfd is checked again, so a process that exited and whose pid
//! was reused in the meantime is never mistaken for the caller.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;

/// Who is at the other end of a connection, as the kernel said when it was accepted.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub uid: u32,
    pub gid: u32,
    /// 0 when the peer is outside our PID namespace (e.g. the host talking into a container).
    pub pid: i32,
    pub pidfd: Option<Arc<OwnedFd>>,
}

/// The caller of one RPC, resolved when the RPC arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
    pub comm: String,
    /// Supplementary groups of the process (from `/proc/<pid>/status`).
    pub groups: Vec<u32>,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22), which polkit uses
    /// to tell a process from a later one with the same pid.
    pub start_time: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("the calling process exited before it could be identified")]
    Gone,
    #[error("cannot read the caller's process information: {0}")]
    Proc(String),
}

/// A pidfd for the peer: on Linux ≥ 6.5 the one the kernel took at connect time
/// (SO_PEERPIDFD), else one opened now.
fn peer_pidfd(stream: &UnixStream, pid: i32) -> Option<OwnedFd> {
    if let Ok(fd) = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerPidfd) {
        return Some(fd);
    }
    if pid <= 0 {
        return None;
    }
    // Older kernels: a pidfd opened now refers to the process holding `pid` now; it is checked
    // against the start time read later, which is as good as polkit's own subject check.
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd >= 0 {
        // SAFETY: as above, a new descriptor we own.
        Some(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
    } else {
        None
    }
}

/// A Unix stream together with its peer's credentials, for tonic's `Connected`.
#[derive(Debug)]
pub struct PeerStream {
    inner: UnixStream,
    info: PeerInfo,
}

impl PeerStream {
    pub fn new(inner: UnixStream) -> std::io::Result<Self> {
        let cred = inner.peer_cred()?;
        let pid = cred.pid().unwrap_or(0);
        let pidfd = peer_pidfd(&inner, pid).map(Arc::new);
        Ok(Self {
            info: PeerInfo {
                uid: cred.uid(),
                gid: cred.gid(),
                pid,
                pidfd,
            },
            inner,
        })
    }
}

impl tonic::transport::server::Connected for PeerStream {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Reads the pid a pidfd refers to (`Pid:` in its fdinfo); -1 once the process has exited.
fn pidfd_pid(fd: &OwnedFd) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Parses `/proc/<pid>/stat`: returns (comm, start time). comm may contain spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // After ")": field 3 (state) is index 0, so field 22 (starttime) is index 19.
    let start = stat
        .get(close + 1..)?
        .split_ascii_whitespace()
        .nth(19)?
        .parse()
        .ok()?;
    Some((comm, start))
}

/// Parses the `Groups:` line of `/proc/<pid>/status`.
pub fn parse_status_groups(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_ascii_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Resolves the caller of an RPC. `proc` is the procfs mount (always the real `/proc` outside
/// tests: this is the kernel's word about a live process, not host inventory).
pub fn resolve(info: &PeerInfo, proc: &std::path::Path) -> Result<Caller, PeerError> {
    if info.pid <= 0 {
        // The peer lives in another PID namespace: only its uid/gid are known.
        return Ok(Caller {
            uid: info.uid,
            gid: info.gid,
            pid: 0,
            comm: String::new(),
            groups: Vec::new(),
            start_time: 0,
        });
    }
    let dir: PathBuf = proc.join(info.pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).map_err(|_| PeerError::Gone)?;
    let status = std::fs::read_to_string(dir.join("status")).map_err(|_| PeerError::Gone)?;
    let (comm, start_time) =
        parse_stat(&stat).ok_or_else(|| PeerError::Proc("unparsable stat".into()))?;
    if let Some(fd) = &info.pidfd
        && pidfd_pid(fd) != Some(info.pid)
    {
        return Err(PeerError::Gone);
    }
    Ok(Caller {
        uid: info.uid,
        gid: info.gid,
        pid: info.pid,
        comm,
        groups: parse_status_groups(&status),
        start_time,
    })
}

/// The user name of `uid` from the user database, or the number when it has none (what the
/// policies' `users` condition compares with).
pub fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let s = "1234 (we ird) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat(s), Some(("we ird) (x)".to_owned(), 98765)));
    }

    #[test]
    fn groups_line() {
        let s = "Name:\tbash\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 27 1001 \nNgid:\t0\n";
        assert_eq!(parse_status_groups(s), vec![4, 24, 27, 1001]);
    }

    #[tokio::test]
    async fn identifies_a_real_peer() {
        let (a, _b) = UnixStream::pair().expect("pair");
        let p = PeerStream::new(a).expect("peer");
        assert_eq!(p.info.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(p.info.pid, std::process::id() as i32);
        let c = resolve(&p.info, std::path::Path::new("/proc")).expect("resolve");
        assert!(!c.comm.is_empty());
        assert!(c.start_time > 0);
    }
}
