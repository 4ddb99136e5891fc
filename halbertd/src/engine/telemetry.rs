//! Telemetry streams: the journal followed from a cursor (polkit's `org.halbert.journal.read`,
//! asked once when a stream opens) and the hwmon sensors. Reading changes nothing, so neither
//! is audited; a refusal is logged like every other.

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Engine, EngineError, blocking};
use crate::exec::ExecError;
use crate::exec::follow::follow;
use crate::gate::authz::ACTION_JOURNAL;
use crate::peer::Caller;
use crate::telemetry::journal::{self, Filter, Item, PumpCounts, PumpEnd};
use crate::telemetry::{TelemetryError, hwmon};

/// Journal streams open at once, over all callers: each is a journalctl process.
pub const MAX_JOURNAL_STREAMS: usize = 16;
/// Items buffered between journalctl and a slow reader; past this the stream waits.
pub const JOURNAL_BUFFER: usize = 256;

/// What a journal stream asks for.
#[derive(Debug, Clone, Default)]
pub struct JournalFollow {
    pub after_cursor: String,
    pub severities: Vec<String>,
    pub identifiers: Vec<String>,
    pub units: Vec<String>,
}

impl From<TelemetryError> for EngineError {
    fn from(e: TelemetryError) -> Self {
        match e {
            TelemetryError::Invalid(m) => EngineError::InvalidArgument(m),
        }
    }
}

impl Engine {
    /// Opens a journal stream: entries (and progress marks) as they pass the filter, then one
    /// error if journalctl stops. The stream ends when the receiver is dropped, or when
    /// `shutdown` is cancelled.
    pub async fn follow_journal(
        &self,
        caller: &Caller,
        req: JournalFollow,
        shutdown: CancellationToken,
    ) -> Result<mpsc::Receiver<Result<Item, EngineError>>, EngineError> {
        self.check_read(caller)?;
        let filter = Filter::new(&req.severities, &req.identifiers, &req.units)?;
        let cursor = (!req.after_cursor.is_empty()).then_some(req.after_cursor.as_str());
        if let Some(c) = cursor {
            journal::check_cursor(c)?;
        }
        let details = BTreeMap::from([("purpose".to_owned(), "telemetry".to_owned())]);
        self.authz
            .check_action(caller, ACTION_JOURNAL, &details)
            .await?;
        let slot = self
            .journal_streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                EngineError::Unavailable(format!(
                    "{MAX_JOURNAL_STREAMS} journal streams are open already; try again when one ends"
                ))
            })?;
        let argv = journal::follow_argv(cursor, &filter);
        let mut reader = follow(&argv).map_err(|e| match e {
            ExecError::NotFound(_) => {
                EngineError::Unavailable("journalctl is not installed on this machine".into())
            }
            other => EngineError::Internal(other.to_string()),
        })?;
        let (tx, rx) = mpsc::channel(JOURNAL_BUFFER);
        let resumed = cursor.is_some();
        tokio::spawn(
            async move {
                let _slot = slot;
                tracing::info!(resumed, "journal stream opened");
                let mut counts = PumpCounts::default();
                let end = tokio::select! {
                    end = journal::pump(&mut reader.stdout, &filter, &tx, &mut counts) => end,
                    _ = shutdown.cancelled() => Ok(PumpEnd::Closed),
                };
                match end {
                    Ok(PumpEnd::Closed) => {}
                    Ok(PumpEnd::Eof) => {
                        let ended = reader.ended().await;
                        tracing::warn!(code = ?ended.code, reason = %ended.reason, "journalctl stopped");
                        // A well-formed cursor that this journal cannot seek to is the
                        // reader's mistake (another machine's, or a mangled one).
                        let err = if ended.reason.contains("seek to cursor") {
                            EngineError::InvalidArgument(format!(
                                "after_cursor is not a cursor of this journal ({})",
                                ended.reason
                            ))
                        } else if ended.reason.is_empty() {
                            EngineError::Unavailable("journalctl stopped".into())
                        } else {
                            EngineError::Unavailable(format!("journalctl stopped: {}", ended.reason))
                        };
                        let _ = tx.send(Err(err)).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading journalctl's output failed");
                        let _ = tx
                            .send(Err(EngineError::Unavailable(
                                "reading the journal failed".into(),
                            )))
                            .await;
                    }
                }
                tracing::info!(
                    passed = counts.passed,
                    filtered = counts.filtered,
                    unreadable = counts.unreadable,
                    "journal stream closed"
                );
            }
            .in_current_span(),
        );
        Ok(rx)
    }

    /// Every hwmon sensor now.
    pub async fn sensors(&self, caller: &Caller) -> Result<Vec<hwmon::Sensor>, EngineError> {
        self.check_read(caller)?;
        let root = self.root.clone();
        blocking(move || hwmon::read(&root)).await
    }
}
