//! Long-running readers such as `journalctl --follow`: started like every other command here
//! (an argv, a clean environment, no stdin, its own process group), their output handed over as
//! a stream to read at the consumer's pace, and killed with their group when dropped, so a
//! client that goes away never leaves one behind.

use tokio::io::BufReader;
use tokio::process::{Child, ChildStdout};

use super::{ExecError, read_capped};

/// Bytes of standard error kept, for saying why it stopped.
const STDERR_KEPT: usize = 4096;

/// A running reader; its standard output is [`Follower::stdout`].
#[derive(Debug)]
pub struct Follower {
    child: Child,
    pub stdout: BufReader<ChildStdout>,
    stderr: tokio::task::JoinHandle<Vec<u8>>,
    pgid: Option<nix::unistd::Pid>,
}

/// How a reader ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// The first line of what it wrote to standard error, if anything.
    pub reason: String,
}

/// Starts `argv`.
pub fn follow(argv: &[String]) -> Result<Follower, ExecError> {
    let argv0 = argv.first().ok_or(ExecError::Empty)?;
    let mut child = super::spawn(argv)?;
    let pgid = child.id().map(|p| nix::unistd::Pid::from_raw(p as i32));
    let stdout = child.stdout.take().ok_or_else(|| ExecError::Io {
        argv0: argv0.clone(),
        source: std::io::Error::other("no standard output"),
    })?;
    let stderr = child.stderr.take();
    let stderr = tokio::spawn(async move {
        match stderr {
            Some(s) => read_capped(s, STDERR_KEPT)
                .await
                .map(|(b, _)| b)
                .unwrap_or_default(),
            None => Vec::new(),
        }
    });
    Ok(Follower {
        child,
        stdout: BufReader::new(stdout),
        stderr,
        pgid,
    })
}

impl Follower {
    /// Waits for the reader to exit (its output has ended) and says how.
    pub async fn ended(mut self) -> Ended {
        let code = self.child.wait().await.ok().and_then(|s| s.code());
        let err = (&mut self.stderr).await.unwrap_or_default();
        let reason = String::from_utf8_lossy(&err)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        Ended { code, reason }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        // kill_on_drop ends the reader itself; the group takes anything it started.
        if let Some(pg) = self.pgid {
            let _ = nix::sys::signal::killpg(pg, nix::sys::signal::Signal::SIGKILL);
        }
        self.stderr.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn output_is_read_as_it_comes_and_the_end_is_told() {
        let mut f = follow(&argv(&["printf", "one\\ntwo\\n"])).expect("printf");
        let mut lines = Vec::new();
        let mut l = String::new();
        while f.stdout.read_line(&mut l).await.expect("read") > 0 {
            lines.push(std::mem::take(&mut l));
        }
        assert_eq!(lines, ["one\n", "two\n"]);
        assert_eq!(f.ended().await.code, Some(0));

        let f = follow(&argv(&["ls", "/nonexistent-halbert"])).expect("ls");
        let end = f.ended().await;
        assert_ne!(end.code, Some(0));
        assert!(end.reason.contains("nonexistent-halbert"), "{end:?}");

        assert!(matches!(
            follow(&argv(&["no-such-tool-halbert"])),
            Err(ExecError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn dropping_it_kills_the_reader() {
        let f = follow(&argv(&["sleep", "600"])).expect("sleep");
        let pid = f.child.id().expect("running");
        drop(f);
        // The kernel reaps it once the runtime's orphan queue does; it is gone or a zombie.
        let mut gone = false;
        for _ in 0..100 {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let st = state.rsplit(") ").next().and_then(|r| r.chars().next());
            if state.is_empty() || st == Some('Z') {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(gone, "sleep {pid} still runs");
    }
}
