//! The engine: halbertd's capabilities as plain async methods on [`Engine`], with no knowledge
//! of gRPC. `rpc/` translates requests into these calls and results back.
//!
//! Every mutation goes through [`Engine::mutate`]: validate → authorize (polkit) → safe-mode
//! check → intent record → act → outcome record, each record fsync'd before the next step and
//! before the caller hears the outcome.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::discovery::store::Store;
use crate::exec::{ExecTools, Tools};
use crate::gate::audit::{self, AuditLog, Outcome, RefusalLimiter};
use crate::gate::authz::{Authority, AuthzError, Health};
use crate::gate::safe_mode::{Guardrails, GuardrailsError, SafeModeState};
use crate::host::HostRoot;
use crate::host::bus::SystemBus;
use crate::inspect::InspectError;
use crate::peer::Caller;
use crate::status::{Snapshot, StatusReader};
use crate::systemd::Systemd;

mod discovery;
mod files;
mod gate;
mod inspect;
mod safe_mode;
mod services;
mod simulate;
mod status;
mod telemetry;
mod terminal;

pub use files::FileRead;
pub use services::ServiceControl;
pub use simulate::{RestartPlan, Validation, Verdict};
pub use telemetry::{JournalFollow, MAX_JOURNAL_STREAMS};
pub use terminal::CommandRun;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("permission denied: {reason}")]
    PermissionDenied {
        action: Option<String>,
        reason: String,
    },
    /// The system-wide policy forbids it; `rule` names what decided.
    #[error("{reason}")]
    PolicyDenied { rule: String, reason: String },
    #[error("refused: safe mode is active ({reason})")]
    SafeMode { reason: String },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    /// A source the request needs is missing (no system bus, no journalctl); said plainly.
    #[error("{0}")]
    Unavailable(String),
    /// The resource changed since the caller read it; `current` is its version now.
    #[error("{detail}")]
    Conflict { detail: String, current: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotText(String),
    /// A directory, FIFO or device where a regular file was asked for.
    #[error("{0}")]
    NotRegular(String),
    /// A path outside what halbertd serves or changes (or on its deny list).
    #[error("{0}")]
    PathRefused(String),
    /// The text is for the log only; clients get a generic message.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("the audit record could not be written")]
    AuditFailed,
}

impl From<InspectError> for EngineError {
    fn from(e: InspectError) -> Self {
        match e {
            InspectError::Invalid(m) => EngineError::InvalidArgument(m),
            InspectError::NotFound(m) => EngineError::NotFound(m),
            InspectError::Unavailable(m) => EngineError::Unavailable(m),
        }
    }
}

impl From<crate::files::FileError> for EngineError {
    fn from(e: crate::files::FileError) -> Self {
        use crate::files::{FileError as F, PathError};
        let m = e.to_string();
        match e {
            F::Path(PathError::Syntax(_)) => EngineError::InvalidArgument(m),
            F::NotRegular(_) => EngineError::NotRegular(m),
            F::Path(_) => EngineError::PathRefused(m),
            F::NotFound(_) | F::NoBackup { .. } => EngineError::NotFound(m),
            F::TooLarge { .. } => EngineError::TooLarge(m),
            F::Binary(_) => EngineError::NotText(m),
            F::Conflict { current, .. } => EngineError::Conflict { detail: m, current },
            F::Changed(_) => EngineError::Conflict {
                detail: m,
                current: String::new(),
            },
            F::Unsupported(_) => EngineError::Unavailable(m),
            F::Io { .. } => EngineError::Internal(m),
        }
    }
}

impl From<AuthzError> for EngineError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Denied { action, reason } => EngineError::PermissionDenied {
                action: Some(action),
                reason,
            },
            AuthzError::NotReader(reason) => EngineError::PermissionDenied {
                action: None,
                reason,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("state directory {0}: {1}")]
    StateDir(PathBuf, std::io::Error),
    #[error(transparent)]
    Guardrails(#[from] GuardrailsError),
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    #[error("discovery state in {0}: {1}")]
    Discovery(PathBuf, std::io::Error),
}

/// A status snapshot plus halbertd's own health.
#[derive(Debug, Clone)]
pub struct StatusView {
    pub snapshot: Snapshot,
    pub authorization: Health,
    pub safe_mode_active: bool,
    pub timestamp_unix_ms: i64,
}

/// One mutation request, as the gate sees it.
#[derive(Debug)]
pub struct Mutation<'a> {
    pub rpc: &'static str,
    pub caller: &'a Caller,
    pub request_id: &'a str,
    pub action: &'static str,
    /// Capped by the gate (see [`audit::cap_details`]) before polkit or the log sees them.
    pub details: BTreeMap<String, String>,
    /// Only the guardrails action itself may run while safe mode is on (and dry runs, which
    /// change nothing).
    pub allowed_in_safe_mode: bool,
    /// A dry run: authorized and audited like a change, with no intent record (it changes
    /// nothing a crash could leave half done).
    pub dry_run: bool,
    /// What is wrong with the request, found before anything else looks at it.
    pub invalid: Option<String>,
    /// The system-wide policy's name for the action and what its conditions look at; `None`
    /// for safe mode, the emergency brake, which no policy may take away.
    pub tool: Option<(&'static str, crate::gate::policy::Inputs)>,
}

/// What an action reports back to the gate for the audit record.
#[derive(Debug)]
pub struct Acted<T> {
    pub value: T,
    /// [`Outcome::Ok`], [`Outcome::Unchanged`] or [`Outcome::Failed`].
    pub outcome: Outcome,
    pub summary: String,
    /// Facts known only after acting (hashes, a backup id), added to the outcome record.
    pub details: BTreeMap<String, String>,
}

impl<T> Acted<T> {
    /// The result of an idempotent action: `ok` if it changed something, else `unchanged`.
    pub fn change(value: T, changed: bool, summary: String) -> Self {
        let outcome = if changed {
            Outcome::Ok
        } else {
            Outcome::Unchanged
        };
        Self {
            value,
            outcome,
            summary,
            details: BTreeMap::new(),
        }
    }

    /// An action that ran and did not succeed (a failed systemd job): the caller gets `value`,
    /// which says so, and the record says `failed`.
    pub fn failed(value: T, summary: String) -> Self {
        Self {
            value,
            outcome: Outcome::Failed,
            summary,
            details: BTreeMap::new(),
        }
    }

    /// Adds a fact to the outcome record.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

#[derive(Debug)]
pub struct Engine {
    status: StatusReader,
    root: HostRoot,
    tools: Arc<dyn Tools>,
    discovery: Store,
    guardrails: Guardrails,
    audit: AuditLog,
    refusals: RefusalLimiter,
    authz: Authority,
    /// The administrator's rules for everyone (`/etc/halbert/policy.yml`).
    system_policy: crate::gate::policy::SystemPolicy,
    /// Configuration files (`files/`), the one writer outside the state dir.
    files: Arc<crate::files::Files>,
    /// Where dry runs stage their private copies (under the state dir).
    validate_dir: PathBuf,
    bus: Arc<SystemBus>,
    /// Stands in for systemd on the bus in unit tests ([`Engine::with_systemd`]).
    systemd: Option<Systemd>,
    /// PID 1 on the current bus connection, kept so that its job subscription is made once.
    pid1: std::sync::Mutex<Option<Arc<crate::systemd::Pid1>>>,
    watchers: AtomicUsize,
    /// Journal streams open (each a journalctl process), at most
    /// [`telemetry::MAX_JOURNAL_STREAMS`].
    journal_streams: Arc<tokio::sync::Semaphore>,
    host_info: std::sync::OnceLock<crate::inspect::host::HostInfo>,
    /// Woken after every mutation that changed something, so the daemon can refresh its
    /// one-line status for systemd at once.
    changed: tokio::sync::Notify,
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Internal(format!("worker task failed: {e}")))
}

impl Engine {
    pub fn open(state_dir: &Path, root: HostRoot) -> Result<Self, OpenError> {
        Self::open_with_tools(state_dir, root, Arc::new(ExecTools))
    }

    /// As [`Engine::open`], with the tool runner discovery uses (recorded outputs in tests).
    pub fn open_with_tools(
        state_dir: &Path,
        root: HostRoot,
        tools: Arc<dyn Tools>,
    ) -> Result<Self, OpenError> {
        Self::open_with(state_dir, root, tools, crate::files::Policy::default())
    }

    /// As [`Engine::open`], with the tool runner and the config editor's path policy (from
    /// halbertd's config file).
    pub fn open_with(
        state_dir: &Path,
        root: HostRoot,
        tools: Arc<dyn Tools>,
        policy: crate::files::Policy,
    ) -> Result<Self, OpenError> {
        crate::host::statefile::ensure_private_dir(state_dir)
            .map_err(|e| OpenError::StateDir(state_dir.to_owned(), e))?;
        let status = StatusReader::new(root.clone());
        let ddir = state_dir.join("discovery");
        let discovery = Store::open(&ddir).map_err(|e| OpenError::Discovery(ddir.clone(), e))?;
        // Take the first CPU sample now, so the first status has a baseline that is not the
        // average since boot. A failure here shows up again, with context, in the first RPC.
        let _ = status.read();
        let bus = Arc::new(SystemBus::new());
        // Private copies a dry run left behind when halbertd was killed during it.
        let _ = std::fs::remove_dir_all(state_dir.join("validate"));
        let backups = state_dir.join("backups");
        let files = Arc::new(
            crate::files::Files::open(root.clone(), policy, backups.clone())
                .map_err(|e| OpenError::StateDir(backups, e))?,
        );
        let engine = Self {
            status,
            root,
            tools,
            discovery,
            guardrails: Guardrails::load(state_dir)?,
            audit: AuditLog::open(&state_dir.join("audit"))?,
            refusals: RefusalLimiter::default(),
            authz: Authority::new(bus.clone()),
            system_policy: crate::gate::policy::SystemPolicy::new(
                crate::gate::policy::DEFAULT_PATH.into(),
            ),
            files,
            validate_dir: state_dir.join("validate"),
            bus,
            systemd: None,
            pid1: std::sync::Mutex::new(None),
            watchers: AtomicUsize::new(0),
            journal_streams: Arc::new(tokio::sync::Semaphore::new(MAX_JOURNAL_STREAMS)),
            host_info: std::sync::OnceLock::new(),
            changed: tokio::sync::Notify::new(),
        };
        engine.reconcile();
        Ok(engine)
    }

    pub fn safe_mode(&self) -> SafeModeState {
        self.guardrails.get()
    }

    pub async fn authorization_health(&self) -> Health {
        self.authz.health().await
    }

    /// Resolves after the next mutation that changed state.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Number of open `WatchStatus` streams.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Counts a watch stream for as long as the returned guard lives.
    pub fn watch_guard(self: &Arc<Self>) -> WatchGuard {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        WatchGuard(self.clone())
    }

    pub fn check_read(&self, caller: &Caller) -> Result<(), EngineError> {
        Ok(self.authz.check_read(caller)?)
    }

    /// Judges mutations by the system-wide policy at `path` instead of
    /// [`crate::gate::policy::DEFAULT_PATH`] (halbertd's config file, tests).
    pub fn with_system_policy(mut self, path: PathBuf) -> Self {
        self.system_policy = crate::gate::policy::SystemPolicy::new(path);
        self
    }

    /// Answers every systemd question from `sd` instead of PID 1 on the system bus (unit
    /// tests with [`crate::systemd::sim::SimSystemd`]).
    pub fn with_systemd(mut self, sd: Systemd) -> Self {
        self.systemd = Some(sd);
        self
    }

    /// systemd: the simulated one when set, else PID 1 over the shared system bus.
    pub(crate) async fn systemd(&self) -> Result<Systemd, EngineError> {
        if let Some(sd) = &self.systemd {
            return Ok(sd.clone());
        }
        let conn = self
            .bus
            .get()
            .await
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let mut pid1 = self.pid1.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pid1.as_ref().filter(|p| p.is_on(&conn)) {
            return Ok(Systemd::Bus(p.clone()));
        }
        let p = Arc::new(crate::systemd::Pid1::new(conn));
        *pid1 = Some(p.clone());
        Ok(Systemd::Bus(p))
    }
}

/// Decrements the watcher count when a `WatchStatus` stream ends.
#[derive(Debug)]
pub struct WatchGuard(Arc<Engine>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}
