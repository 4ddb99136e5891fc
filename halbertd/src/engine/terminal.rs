//! The terminal through the gate: what a person typed runs as that person (polkit
//! `org.halbert.exec.self`, allowed by default) or, after `sudo `, as root (polkit
//! `org.halbert.exec.root`); refused in safe mode; audited with the argv, the uid it ran as,
//! the exit code and the duration, never the output.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Acted, Engine, EngineError, Mutation};
use crate::exec::terminal::{self, RunAs, ShellLine, ShellRun};
use crate::gate::authz::{ACTION_EXEC_ROOT, ACTION_EXEC_SELF};
use crate::peer::Caller;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// Bytes kept of stdout and of stderr each.
pub const MAX_OUTPUT: usize = 1 << 20;
/// The longest command line taken (bytes).
pub const MAX_COMMAND: usize = 8192;

/// A command's run, as the caller hears of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    pub output: String,
    pub error: String,
    /// The shell's exit code; 128 + n when signal n ended it; -1 when it timed out.
    pub exit_code: i32,
    pub truncated: bool,
    pub duration_ms: u64,
    pub as_root: bool,
}

/// What the line asks for: the shell line and whether it runs as root.
fn parse(command: &str) -> Result<(String, bool), String> {
    if command.len() > MAX_COMMAND {
        return Err(format!("command is longer than {MAX_COMMAND} bytes"));
    }
    if command.contains('\0') {
        return Err("command contains a NUL byte".into());
    }
    let c = command.trim();
    if c.is_empty() {
        return Err("command is empty".into());
    }
    let Some(rest) = c
        .strip_prefix("sudo")
        .filter(|r| r.is_empty() || r.starts_with([' ', '\t']))
    else {
        return Ok((c.to_owned(), false));
    };
    let rest = rest.trim_start();
    if rest.is_empty() {
        return Err("sudo needs a command after it".into());
    }
    if rest.starts_with('-') {
        return Err("sudo options are not taken here: Halbert runs what follows `sudo ` as root, after polkit".into());
    }
    Ok((rest.to_owned(), true))
}

fn answer(r: ShellRun, timeout: Duration, as_root: bool) -> CommandRun {
    let mut error = String::from_utf8_lossy(&r.stderr).into_owned();
    let mut note = |s: String| {
        if !error.is_empty() && !error.ends_with('\n') {
            error.push('\n');
        }
        error.push_str(&s);
    };
    let exit_code = if r.timed_out {
        note(format!(
            "timed out after {} s; the command and every process it started were stopped",
            timeout.as_secs()
        ));
        -1
    } else if let Some(sig) = r.signal {
        note(format!("ended by signal {sig}"));
        128 + sig
    } else {
        r.exit_code.unwrap_or(-1)
    };
    if r.truncated {
        note(format!(
            "output beyond {} MiB per stream was dropped",
            MAX_OUTPUT >> 20
        ));
    }
    CommandRun {
        output: String::from_utf8_lossy(&r.stdout).into_owned(),
        error,
        exit_code,
        truncated: r.truncated,
        duration_ms: u64::try_from(r.elapsed.as_millis()).unwrap_or(u64::MAX),
        as_root,
    }
}

impl Engine {
    /// Runs what `caller` typed. `timeout` defaults to 30 s and is at most 300 s.
    pub async fn execute(
        self: &Arc<Self>,
        caller: &Caller,
        command: &str,
        timeout: Option<Duration>,
        request_id: &str,
    ) -> Result<CommandRun, EngineError> {
        let parsed = parse(command);
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let bad_timeout = (timeout.is_zero() || timeout > MAX_TIMEOUT)
            .then(|| format!("timeout_s must be between 1 and {}", MAX_TIMEOUT.as_secs()));
        let (line, as_root) = parsed
            .clone()
            .unwrap_or_else(|_| (command.to_owned(), false));
        let run_as = if as_root {
            RunAs::Root
        } else {
            RunAs::User {
                uid: caller.uid,
                gid: caller.gid,
                groups: caller.groups.clone(),
            }
        };
        let argv = serde_json::to_string(&terminal::shell_argv(&line)).unwrap_or_default();
        let m = Mutation {
            rpc: "Terminal.Execute",
            caller,
            request_id,
            action: if as_root {
                ACTION_EXEC_ROOT
            } else {
                ACTION_EXEC_SELF
            },
            details: BTreeMap::from([
                ("command".to_owned(), line.clone()),
                ("argv".to_owned(), argv),
                ("run_as_uid".to_owned(), run_as.uid().to_string()),
                ("timeout_s".to_owned(), timeout.as_secs().to_string()),
            ]),
            allowed_in_safe_mode: false,
            dry_run: false,
            tool: Some((
                if as_root { "terminal_root" } else { "terminal" },
                crate::gate::policy::Inputs {
                    path: None,
                    name: line.split_whitespace().next().map(str::to_owned),
                },
            )),
            invalid: parsed.err().or(bad_timeout),
        };
        let l = ShellLine {
            line,
            run_as,
            timeout,
            max_output: MAX_OUTPUT,
        };
        self.mutate_async(m, move |e, _uid| async move {
            let run = e.run_line(&l).await?;
            let runner = run.runner;
            let a = answer(run, l.timeout, as_root);
            let summary = format!(
                "ran a command as uid {}: exit {}",
                l.run_as.uid(),
                a.exit_code
            );
            let acted = if a.exit_code == -1 {
                Acted::failed(a.clone(), summary)
            } else {
                Acted::change(a.clone(), true, summary)
            };
            Ok(acted
                .with("exit_code", a.exit_code.to_string())
                .with("duration_ms", a.duration_ms.to_string())
                .with("truncated", a.truncated.to_string())
                .with("runner", runner))
        })
        .await
    }

    /// In a transient unit where systemd answers and halbertd is root (only root may start
    /// system units without asking); directly otherwise (`make dev`, where halbertd runs as the
    /// developer and can only run commands as that same user).
    async fn run_line(&self, l: &ShellLine) -> Result<ShellRun, EngineError> {
        let root = nix::unistd::geteuid().is_root();
        match self.systemd().await {
            Ok(sd) if root && sd.runs_transient_units() => terminal::in_unit(&sd, l)
                .await
                .map_err(|e| EngineError::Unavailable(format!("cannot start the command: {e}"))),
            _ => terminal::direct(l).await.map_err(|e| match e {
                crate::exec::ExecError::Identity(m) => EngineError::Unavailable(m),
                other => EngineError::Internal(other.to_string()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_is_a_prefix_word_and_takes_no_options() {
        assert_eq!(parse("  id -u "), Ok(("id -u".into(), false)));
        assert_eq!(parse("sudo id -u"), Ok(("id -u".into(), true)));
        assert_eq!(parse("sudo\tid"), Ok(("id".into(), true)));
        assert_eq!(
            parse("sudoedit /etc/x"),
            Ok(("sudoedit /etc/x".into(), false))
        );
        assert!(parse("sudo").is_err());
        assert!(parse("sudo   ").is_err());
        assert!(parse("sudo -u bob id").is_err());
        assert!(parse("   ").is_err());
        assert!(parse("a\0b").is_err());
        assert!(parse(&"x".repeat(MAX_COMMAND + 1)).is_err());
    }

    #[test]
    fn a_timeout_is_minus_one_with_the_reason() {
        let r = ShellRun {
            stdout: b"partial".to_vec(),
            stderr: b"warn".to_vec(),
            timed_out: true,
            ..ShellRun::default()
        };
        let a = answer(r, Duration::from_secs(2), false);
        assert_eq!(a.exit_code, -1);
        assert_eq!(a.output, "partial");
        assert!(
            a.error.starts_with("warn\ntimed out after 2 s"),
            "{}",
            a.error
        );
        let killed = ShellRun {
            signal: Some(9),
            ..ShellRun::default()
        };
        assert_eq!(answer(killed, DEFAULT_TIMEOUT, false).exit_code, 137);
    }
}
