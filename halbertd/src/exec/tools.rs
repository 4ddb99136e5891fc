//! The seam between code that runs external tools and the runner: [`Tools`], with
//! [`ExecTools`] (this module's [`run`](super::run)) in production and [`RecordedTools`]
//! (outputs recorded from real machines, `tests/fixtures/hosts/*/tools/`) in tests.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What a tool printed; or why it could not run.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub code: Option<i32>,
    pub stdout: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ToolError {
    #[error("{0} is not installed")]
    Missing(String),
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Timeout(String),
}

pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = Result<ToolOutput, ToolError>> + Send + 'a>>;

/// Runs external tools for scanners: halbertd's `exec/` in production, recorded outputs in
/// tests (the tree's `tools/` folder).
pub trait Tools: Send + Sync + std::fmt::Debug {
    fn run<'a>(&'a self, argv: &'a [&'a str], timeout: Duration) -> ToolFuture<'a>;
}

/// The production [`Tools`]: halbertd's exec module.
#[derive(Debug, Default)]
pub struct ExecTools;

impl Tools for ExecTools {
    fn run<'a>(&'a self, argv: &'a [&'a str], timeout: Duration) -> ToolFuture<'a> {
        Box::pin(async move {
            let limits = super::Limits {
                timeout,
                ..Default::default()
            };
            match super::run(argv, limits).await {
                Ok(o) => Ok(ToolOutput {
                    code: o.code,
                    stdout: o.stdout_text(),
                }),
                Err(super::ExecError::NotFound(n)) => Err(ToolError::Missing(n)),
                Err(e @ super::ExecError::Timeout { .. }) => Err(ToolError::Timeout(e.to_string())),
                Err(e) => Err(ToolError::Failed(e.to_string())),
            }
        })
    }
}

/// Recorded tool outputs: `<dir>/<argv joined by spaces>.out` (and an optional `.code`). A
/// missing recording means the tool is not installed on that machine.
#[derive(Debug)]
pub struct RecordedTools {
    pub dir: std::path::PathBuf,
}

impl Tools for RecordedTools {
    fn run<'a>(&'a self, argv: &'a [&'a str], _timeout: Duration) -> ToolFuture<'a> {
        Box::pin(async move {
            let base = argv.join(" ").replace('/', "_");
            let file = |ext: &str| self.dir.join(format!("{base}.{ext}"));
            let out = std::fs::read_to_string(file("out"))
                .map_err(|_| ToolError::Missing(argv[0].to_owned()))?;
            let code = std::fs::read_to_string(file("code"))
                .ok()
                .and_then(|c| c.trim().parse().ok())
                .or(Some(0));
            Ok(ToolOutput { code, stdout: out })
        })
    }
}
