//! Runs a validator on a private copy (see `files::validate`): under systemd in a sandboxed
//! transient unit (no network sockets, the file system read-only but for what the validator
//! must write, no new privileges), else directly with the clean environment and process group
//! of [`super::run`]; a timeout either way. It judges a copy; it never sees the live file's
//! path.

use std::time::Duration;

use super::terminal::{UnitRun, argv_in_unit};
use super::{ExecError, Limits, which};
use crate::systemd::Systemd;

/// What a validator said.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The argv as run (the program resolved to its path).
    pub argv: Vec<String>,
    /// `None` when it did not exit by itself (killed at the timeout, or by a signal).
    pub exit_code: Option<i32>,
    /// stdout and stderr, in that order (validators write their findings to either).
    pub output: String,
    pub timed_out: bool,
    pub elapsed: Duration,
    /// `transient-unit` or `direct`.
    pub runner: &'static str,
}

/// Output kept of a validator's run: findings are a few lines.
const MAX_OUTPUT: usize = 64 * 1024;

/// Runs `argv`; [`ExecError::NotFound`] when its program is not installed.
pub async fn run(
    sd: Option<&Systemd>,
    argv: &[String],
    writable: &[&str],
    timeout: Duration,
) -> Result<Verdict, ExecError> {
    let (first, rest) = argv.split_first().ok_or(ExecError::Empty)?;
    let program = which(first).ok_or_else(|| ExecError::NotFound(first.clone()))?;
    let mut full = vec![program.display().to_string()];
    full.extend(rest.iter().cloned());
    let text = |out: &[u8], err: &[u8]| {
        let mut s = String::from_utf8_lossy(out).into_owned();
        if !s.is_empty() && !err.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&String::from_utf8_lossy(err));
        s
    };
    if let Some(sd) = sd {
        let u = UnitRun {
            description: format!("Halbert: validating a proposed file with {first}"),
            argv: full.clone(),
            uid: None,
            timeout,
            max_output: MAX_OUTPUT,
            sandbox: true,
            writable: writable.iter().map(|w| (*w).to_owned()).collect(),
        };
        let r = argv_in_unit(sd, &u).await.map_err(|e| ExecError::Spawn {
            argv0: first.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        return Ok(Verdict {
            argv: full,
            exit_code: r.exit_code,
            output: text(&r.stdout, &r.stderr),
            timed_out: r.timed_out,
            elapsed: r.elapsed,
            runner: r.runner,
        });
    }
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    let limits = Limits {
        timeout,
        max_output: MAX_OUTPUT,
    };
    match super::run(&refs, limits).await {
        Ok(o) => Ok(Verdict {
            argv: full,
            exit_code: o.code,
            output: text(&o.stdout, &o.stderr),
            timed_out: false,
            elapsed: o.elapsed,
            runner: "direct",
        }),
        Err(ExecError::Timeout { after, .. }) => Ok(Verdict {
            argv: full,
            exit_code: None,
            output: String::new(),
            timed_out: true,
            elapsed: after,
            runner: "direct",
        }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_directly_reports_the_code_and_output_or_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("present"), "").expect("write");
        let (present, absent) = (dir.path().join("present"), dir.path().join("absent"));
        let v = run(
            None,
            &[
                "ls".into(),
                present.display().to_string(),
                absent.display().to_string(),
            ],
            &[],
            Duration::from_secs(5),
        )
        .await
        .expect("runs");
        assert_eq!(v.exit_code, Some(2));
        assert!(
            v.output.starts_with(&format!("{}\n", present.display())),
            "{}",
            v.output
        );
        assert!(
            v.output.contains("absent"),
            "stderr follows stdout: {}",
            v.output
        );
        assert!(v.argv[0].ends_with("/ls"), "{:?}", v.argv);
        let e = run(
            None,
            &["no-such-validator-x".into()],
            &[],
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(e, Err(ExecError::NotFound(n)) if n == "no-such-validator-x"));
        let v = run(
            None,
            &["sleep".into(), "5".into()],
            &[],
            Duration::from_millis(200),
        )
        .await
        .expect("runs");
        assert!(v.timed_out && v.exit_code.is_none(), "{v:?}");
    }
}
