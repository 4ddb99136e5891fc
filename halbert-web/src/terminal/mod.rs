//! The terminal, halbert-web's side: a person's command goes to halbertd through
//! [`crate::actions::perform`] (which runs it as that person), and the run is kept in the
//! person's history, newest first and bounded. Only the command line, its exit code and its
//! duration are kept, never the output.

use serde::{Deserialize, Serialize};

use crate::actions::{Action, ActionError, Gate, perform};
use crate::store::log::{Log, LogError};
use halbert_proto::v1 as pb;

/// Runs kept in the history.
pub const HISTORY_CAP: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub command: String,
    pub exit_code: i32,
    pub duration_ms: u64,
    pub as_root: bool,
    /// Unix seconds.
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct Terminal {
    history: Log<HistoryEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    History(#[from] LogError),
}

impl Terminal {
    pub fn open(db: &sled::Db) -> Result<Self, LogError> {
        Ok(Self {
            history: Log::open(db, "terminal/history", HISTORY_CAP)?,
        })
    }

    /// Runs `command` and records it. A command halbertd refused (polkit, safe mode) is not
    /// history: it never ran.
    pub async fn run(
        &self,
        gate: &Gate,
        command: String,
        timeout_s: u32,
        request_id: &str,
    ) -> Result<pb::ExecuteResult, TerminalError> {
        let action = Action::RunCommand {
            command: command.clone(),
            timeout_s,
        };
        let r = perform(gate, action, request_id)
            .await?
            .command()
            .map_err(ActionError::from)?;
        let entry = HistoryEntry {
            command: command.trim().to_owned(),
            exit_code: r.exit_code,
            duration_ms: r.duration_ms,
            as_root: r.as_root,
            at: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        let history = self.history.clone();
        tokio::task::spawn_blocking(move || history.append(&entry))
            .await
            .map_err(|e| LogError::Store(sled::Error::ReportableBug(e.to_string())))??;
        Ok(r)
    }

    /// At most `n` runs, newest first.
    pub fn history(&self, n: usize) -> Result<Vec<HistoryEntry>, LogError> {
        self.history.newest(n)
    }
}
