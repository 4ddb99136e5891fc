//! Telemetry streams: the journal followed from a cursor (polkit's `org.halbert.journal.read`,
//! asked once when a stream opens) and the hwmon sensors. Reading changes nothing, so neither
//! is audited; a refusal is logged like every other.

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Engine, EngineError, blocking};
use crate::exec::follow::follow;
use crate::exec::{ExecError, Limits};
use crate::gate::authz::ACTION_JOURNAL;
use crate::peer::Caller;
use crate::telemetry::journal::{self, Filter, Item, Pump, PumpEnd};
use crate::telemetry::{TelemetryError, hwmon};

/// Journal streams open at once, over all callers: each is a journalctl process.
pub const MAX_JOURNAL_STREAMS: usize = 16;
/// Items buffered between journalctl and a slow reader; past this the stream waits.
pub const JOURNAL_BUFFER: usize = 256;
/// How long a stream waits, once it has read to the end of the journal, before reading again.
const POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// A read that goes this long without a line is cut and started again from the cursor (a
/// journalctl stuck on something; it reads to the end and exits otherwise).
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// The cursor of the newest entry in the journal, so that "from now on" has a place to resume
/// from; `None` for an empty journal.
async fn tail_cursor() -> Option<String> {
    let out = crate::exec::run(
        &[
            "journalctl",
            "--no-pager",
            "--quiet",
            "--lines=1",
            "--output=json",
            "--output-fields=PRIORITY",
        ],
        Limits {
            timeout: std::time::Duration::from_secs(10),
            max_output: 1 << 20,
        },
    )
    .await
    .ok()?;
    out.stdout
        .split(|&b| b == b'\n')
        .rev()
        .find_map(journal::parse)
        .map(|e| e.cursor)
}

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

/// The error a stream ends with when journalctl fails: a well-formed cursor this journal cannot
/// seek to is the reader's mistake (another machine's, or a mangled one); anything else is the
/// journal being unavailable, with journalctl's own words.
fn stopped(reason: &str) -> EngineError {
    if reason.contains("seek to cursor") {
        EngineError::InvalidArgument(format!(
            "after_cursor is not a cursor of this journal ({reason})"
        ))
    } else if reason.is_empty() {
        EngineError::Unavailable("journalctl stopped".into())
    } else {
        EngineError::Unavailable(format!("journalctl stopped: {reason}"))
    }
}

/// journalctl reading from just after `at` (without one, since `since_unix`) to the end.
fn spawn_reader(
    at: Option<&str>,
    since_unix: i64,
) -> Result<crate::exec::follow::Follower, EngineError> {
    follow(&journal::read_argv(at, since_unix)).map_err(|e| match e {
        ExecError::NotFound(_) => {
            EngineError::Unavailable("journalctl is not installed on this machine".into())
        }
        other => EngineError::Internal(other.to_string()),
    })
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
        let start = match cursor {
            Some(c) => Some(c.to_owned()),
            None => tail_cursor().await,
        };
        let since = time::OffsetDateTime::now_utc().unix_timestamp();
        let first = spawn_reader(start.as_deref(), since)?;
        let (tx, rx) = mpsc::channel(JOURNAL_BUFFER);
        let resumed = cursor.is_some();
        tokio::spawn(
            async move {
                let _slot = slot;
                tracing::info!(resumed, "journal stream opened");
                let mut pump = Pump::new(start);
                let mut reader = first;
                let mut reads = 1u64;
                loop {
                    let before = pump.counts;
                    let end = tokio::select! {
                        end = pump.run(&mut reader.stdout, &filter, &tx, STALL) => end,
                        _ = shutdown.cancelled() => Ok(PumpEnd::Closed),
                    };
                    match end {
                        Ok(PumpEnd::Closed) => break,
                        Ok(PumpEnd::Eof | PumpEnd::Idle) => {
                            if matches!(end, Ok(PumpEnd::Eof)) {
                                let ended = reader.ended().await;
                                if ended.code != Some(0) {
                                    tracing::warn!(code = ?ended.code, reason = %ended.reason, "journalctl failed");
                                    let _ = tx.send(Err(stopped(&ended.reason))).await;
                                    break;
                                }
                            }
                            // At the end of the journal: wait for more, unless this read
                            // brought some (a backlog is read on at once).
                            if pump.counts == before {
                                tokio::select! {
                                    () = tokio::time::sleep(POLL) => {}
                                    () = tx.closed() => break,
                                    () = shutdown.cancelled() => break,
                                }
                            }
                            reads += 1;
                            match spawn_reader(pump.cursor.as_deref(), since) {
                                Ok(r) => reader = r,
                                Err(e) => {
                                    let _ = tx.send(Err(e)).await;
                                    break;
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "reading journalctl's output failed");
                            let _ = tx
                                .send(Err(EngineError::Unavailable(
                                    "reading the journal failed".into(),
                                )))
                                .await;
                            break;
                        }
                    }
                }
                let c = pump.counts;
                tracing::info!(
                    passed = c.passed,
                    filtered = c.filtered,
                    unreadable = c.unreadable,
                    reads,
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
