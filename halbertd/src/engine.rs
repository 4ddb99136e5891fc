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

use crate::audit::{self, AuditLog, CallerRef, Entry, Outcome, RefusalLimiter, Verification};
use crate::authz::{ACTION_GUARDRAILS, ACTION_JOURNAL, Authority, AuthzError, Health};
use crate::discovery::store::{Progress, Store, TypeState, TypeSummary};
use crate::discovery::{ExecTools, Item, Kind, ScanCtx, Tools};
use crate::guardrails::{Guardrails, GuardrailsError, SafeModeState};
use crate::host::HostRoot;
use crate::inspect::{self, InspectError};
use crate::peer::Caller;
use crate::status::{Snapshot, StatusReader};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("permission denied: {reason}")]
    PermissionDenied {
        action: Option<String>,
        reason: String,
    },
    #[error("refused: safe mode is active ({reason})")]
    SafeMode { reason: String },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    /// A source the request needs is missing (no system bus, no journalctl); said plainly.
    #[error("{0}")]
    Unavailable(String),
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
    /// Only the guardrails action itself may run while safe mode is on.
    pub allowed_in_safe_mode: bool,
    /// What is wrong with the request, found before anything else looks at it.
    pub invalid: Option<String>,
}

/// What an action reports back to the gate for the audit record.
#[derive(Debug)]
pub struct Acted<T> {
    pub value: T,
    /// [`Outcome::Ok`] or [`Outcome::Unchanged`].
    pub outcome: Outcome,
    pub summary: String,
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
        }
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
    watchers: AtomicUsize,
    host_info: std::sync::OnceLock<inspect::host::HostInfo>,
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
        crate::statefile::ensure_private_dir(state_dir)
            .map_err(|e| OpenError::StateDir(state_dir.to_owned(), e))?;
        let status = StatusReader::new(root.clone());
        let ddir = state_dir.join("discovery");
        let discovery = Store::open(&ddir).map_err(|e| OpenError::Discovery(ddir.clone(), e))?;
        // Take the first CPU sample now, so the first status has a baseline that is not the
        // average since boot. A failure here shows up again, with context, in the first RPC.
        let _ = status.read();
        let engine = Self {
            status,
            root,
            tools,
            discovery,
            guardrails: Guardrails::load(state_dir)?,
            audit: AuditLog::open(&state_dir.join("audit"))?,
            refusals: RefusalLimiter::default(),
            authz: Authority::new(),
            watchers: AtomicUsize::new(0),
            host_info: std::sync::OnceLock::new(),
            changed: tokio::sync::Notify::new(),
        };
        engine.reconcile();
        Ok(engine)
    }

    /// Records the end of every action that was interrupted (halbertd killed between its
    /// intent record and its outcome), with the state found now, so that every change on
    /// disk has a record saying who asked for it and what came of it. A record that cannot be
    /// written (a full disk) does not keep halbertd from starting: its intent stays without an
    /// outcome, and the next start tries again.
    fn reconcile(&self) {
        for d in self.audit.take_dangling() {
            let sm = self.guardrails.get();
            let found = if sm.active {
                format!("safe mode is on ({})", sm.reason)
            } else {
                "safe mode is off".into()
            };
            let mut entry = d.entry;
            entry
                .details
                .insert("safe_mode_active_after".into(), sm.active.to_string());
            entry.outcome = Outcome::Interrupted;
            entry.error = Some("halbertd stopped before the action reported its outcome".into());
            entry.summary = format!("{} interrupted; at start-up {found}", entry.rpc);
            entry.intent = Some(d.hash);
            tracing::warn!(rpc = %entry.rpc, caller_uid = entry.caller.uid, "recording an action interrupted by a stop of halbertd");
            if let Err(e) = self.audit.append(&entry, now()) {
                tracing::error!(error = %e, rpc = %entry.rpc, "cannot record the interrupted action now; the next start tries again");
            }
        }
    }

    /// Writes one `suppressed` record per uid whose refusals the rate limit held back since
    /// the last call (halbertd calls it periodically and at shutdown).
    pub async fn flush_suppressed(self: &Arc<Self>) {
        for (uid, held) in self.refusals.take_all() {
            if let Err(e) = self.audit(audit::suppressed_entry(uid, &held)).await {
                tracing::error!(error = %e, uid, "cannot record suppressed refusals");
            }
        }
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

    pub async fn status(self: &Arc<Self>, caller: &Caller) -> Result<StatusView, EngineError> {
        self.check_read(caller)?;
        let me = self.clone();
        let snapshot = blocking(move || me.status.read())
            .await?
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(StatusView {
            snapshot,
            authorization: self.authz.health().await,
            safe_mode_active: self.guardrails.get().active,
            timestamp_unix_ms: (now().unix_timestamp_nanos() / 1_000_000) as i64,
        })
    }

    pub fn guardrails(&self, caller: &Caller) -> Result<SafeModeState, EngineError> {
        self.check_read(caller)?;
        Ok(self.guardrails.get())
    }

    pub async fn enter_safe_mode(
        self: &Arc<Self>,
        caller: &Caller,
        reason: String,
        request_id: &str,
    ) -> Result<(SafeModeState, bool), EngineError> {
        let m = Mutation {
            rpc: "Guardrails.EnterSafeMode",
            caller,
            request_id,
            action: ACTION_GUARDRAILS,
            invalid: crate::guardrails::validate_reason(&reason)
                .err()
                .map(|e| e.to_string()),
            details: BTreeMap::from([
                ("operation".into(), "enter".into()),
                ("reason".into(), reason.clone()),
            ]),
            allowed_in_safe_mode: true,
        };
        self.mutate(m, move |e: &Engine, uid| {
            let (st, changed) = e
                .guardrails
                .enter(&reason, uid, now().unix_timestamp())
                .map_err(guardrails_err)?;
            let summary = if changed {
                format!("safe mode entered: {}", st.reason)
            } else {
                "safe mode was already active".into()
            };
            Ok(Acted::change((st, changed), changed, summary))
        })
        .await
    }

    pub async fn exit_safe_mode(
        self: &Arc<Self>,
        caller: &Caller,
        request_id: &str,
    ) -> Result<(SafeModeState, bool), EngineError> {
        let m = Mutation {
            rpc: "Guardrails.ExitSafeMode",
            caller,
            request_id,
            action: ACTION_GUARDRAILS,
            details: BTreeMap::from([("operation".into(), "exit".into())]),
            allowed_in_safe_mode: true,
            invalid: None,
        };
        self.mutate(m, move |e: &Engine, uid| {
            let (st, changed) = e
                .guardrails
                .exit(uid, now().unix_timestamp())
                .map_err(guardrails_err)?;
            let summary = if changed {
                "safe mode exited"
            } else {
                "safe mode was not active"
            };
            Ok(Acted::change((st, changed), changed, summary.into()))
        })
        .await
    }

    pub fn discovery_list(&self, caller: &Caller, kind: Kind) -> Result<TypeState, EngineError> {
        self.check_read(caller)?;
        Ok(self.discovery.list(kind))
    }

    pub fn discovery_get(&self, caller: &Caller, id: &str) -> Result<Item, EngineError> {
        self.check_read(caller)?;
        self.discovery
            .get(id)
            .ok_or_else(|| EngineError::NotFound(format!("no discovery with id {id:?}")))
    }

    pub fn discovery_summary(&self, caller: &Caller) -> Result<Vec<TypeSummary>, EngineError> {
        self.check_read(caller)?;
        Ok(self.discovery.summary())
    }

    /// Scans `kinds` (reading the system only, so no polkit action), reporting progress.
    pub async fn discovery_scan(
        &self,
        caller: &Caller,
        kinds: &[Kind],
        progress: &tokio::sync::mpsc::UnboundedSender<Progress>,
    ) -> Result<(), EngineError> {
        self.check_read(caller)?;
        self.scan_now(kinds, progress).await;
        Ok(())
    }

    /// Types that were never scanned (nothing persisted for them).
    pub fn never_scanned(&self) -> Vec<Kind> {
        self.discovery
            .summary()
            .into_iter()
            .filter(|t| t.last_scan_ms == 0)
            .map(|t| t.kind)
            .collect()
    }

    /// halbertd's own scans (at start and periodically), with nobody to report progress to.
    pub async fn scan_now(
        &self,
        kinds: &[Kind],
        progress: &tokio::sync::mpsc::UnboundedSender<Progress>,
    ) {
        let ctx = ScanCtx::new(
            self.root.clone(),
            self.tools.clone(),
            self.authz.bus().await,
        );
        self.discovery.scan(kinds, &ctx, progress).await;
    }

    /// One unit's live state from systemd.
    pub async fn service_status(
        &self,
        caller: &Caller,
        unit: &str,
    ) -> Result<inspect::units::ServiceState, EngineError> {
        self.check_read(caller)?;
        let unit = inspect::unit_name(unit)?;
        let bus = self.system_bus().await?;
        Ok(inspect::units::service_status(&bus, &unit).await?)
    }

    /// Running services whose name contains `filter`: at most 100, and how many matched.
    pub async fn running_services(
        &self,
        caller: &Caller,
        filter: &str,
    ) -> Result<(Vec<inspect::units::RunningService>, usize), EngineError> {
        self.check_read(caller)?;
        let filter = inspect::search_term(filter, "filter")?;
        let bus = self.system_bus().await?;
        Ok(inspect::units::running_services(&bus, &filter).await?)
    }

    /// A unit's newest journal lines. Reading logs for someone needs polkit's
    /// `org.halbert.journal.read`; it changes nothing, so it is not audited.
    pub async fn journal_tail(
        &self,
        caller: &Caller,
        unit: &str,
        lines: u32,
        filter: &str,
    ) -> Result<(String, Vec<inspect::journal::JournalLine>), EngineError> {
        self.check_read(caller)?;
        let unit = inspect::unit_name(unit)?;
        let filter = inspect::search_term(filter, "filter")?;
        let details = BTreeMap::from([("unit".to_owned(), unit.clone())]);
        self.authz
            .check_action(caller, ACTION_JOURNAL, &details)
            .await?;
        let lines = inspect::journal::tail(self.tools.as_ref(), &unit, lines, &filter).await?;
        Ok((unit, lines))
    }

    /// Processes whose command name contains `name`: at most 20, and how many matched.
    pub async fn processes(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<(Vec<inspect::procs::ProcessInfo>, usize), EngineError> {
        self.check_read(caller)?;
        let name = inspect::search_term(name, "name")?;
        if name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "name must not be empty".into(),
            ));
        }
        let root = self.root.clone();
        blocking(move || inspect::procs::find(&root, &name)).await
    }

    /// Distribution, kernel, architecture and package manager. Read once: none of them changes
    /// while halbertd runs (a kernel or distribution upgrade comes with a reboot or a restart),
    /// and every chat asks.
    pub async fn host_info(&self, caller: &Caller) -> Result<inspect::host::HostInfo, EngineError> {
        self.check_read(caller)?;
        if let Some(h) = self.host_info.get() {
            return Ok(h.clone());
        }
        let root = self.root.clone();
        let h = blocking(move || inspect::host::read(&root)).await?;
        Ok(self.host_info.get_or_init(|| h).clone())
    }

    async fn system_bus(&self) -> Result<zbus::Connection, EngineError> {
        self.authz
            .bus()
            .await
            .ok_or_else(|| EngineError::Unavailable("the system bus is not reachable".into()))
    }

    pub async fn verify_audit(&self, caller: &Caller) -> Result<Verification, EngineError> {
        self.check_read(caller)?;
        let dir = self.audit.dir().to_owned();
        blocking(move || audit::verify(&dir))
            .await?
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// The gate of every mutation: validate → authorize → safe mode → intent → act →
    /// outcome. Refusals (invalid, denied, refused) are audited too, rate-limited per uid;
    /// an authorized action is preceded by an fsync'd intent record, so that a change that
    /// survives a crash always has its record. `act` runs on a blocking thread and gets the
    /// caller's uid.
    pub async fn mutate<T, F>(self: &Arc<Self>, m: Mutation<'_>, act: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine, u32) -> Result<Acted<T>, EngineError> + Send + 'static,
    {
        // Nothing the caller sent reaches polkit or the log uncapped.
        let mut details = audit::cap_details(m.details);
        let record = |details: &BTreeMap<String, String>,
                      outcome: Outcome,
                      error: Option<String>,
                      summary: String| Entry {
            rpc: m.rpc.to_owned(),
            request_id: m.request_id.to_owned(),
            caller: CallerRef {
                uid: m.caller.uid,
                pid: m.caller.pid,
                comm: m.caller.comm.clone(),
            },
            action: Some(m.action.to_owned()),
            details: details.clone(),
            outcome,
            error,
            summary,
            intent: None,
        };
        if let Some(problem) = m.invalid {
            let summary = format!("{} rejected as invalid", m.rpc);
            let entry = record(&details, Outcome::Invalid, None, summary);
            return Err(self
                .refused(entry, EngineError::InvalidArgument(problem))
                .await);
        }
        let grant = match self.authz.check_action(m.caller, m.action, &details).await {
            Ok(g) => g,
            Err(e) => {
                let entry = record(&details, Outcome::Denied, None, format!("{} denied", m.rpc));
                return Err(self.refused(entry, EngineError::from(e)).await);
            }
        };
        details.insert("granted_by".into(), grant.as_str().into());
        if !m.allowed_in_safe_mode
            && let Err(reason) = self.guardrails.check_mutation_allowed()
        {
            let summary = format!("{} refused in safe mode", m.rpc);
            let entry = record(&details, Outcome::Refused, None, summary);
            return Err(self.refused(entry, EngineError::SafeMode { reason }).await);
        }
        let intent = self
            .audit(record(
                &details,
                Outcome::Intent,
                None,
                format!("{} starting", m.rpc),
            ))
            .await?;
        let me = self.clone();
        let uid = m.caller.uid;
        let result = blocking(move || act(&me, uid)).await.and_then(|r| r);
        let mut entry = match &result {
            Ok(a) => record(&details, a.outcome, None, a.summary.clone()),
            Err(e) => record(
                &details,
                Outcome::Failed,
                Some(e.to_string()),
                format!("{} failed", m.rpc),
            ),
        };
        entry.intent = Some(intent);
        let state_changed = entry.outcome == Outcome::Ok;
        self.audit(entry).await?;
        if state_changed {
            self.changed.notify_one();
        }
        tracing::info!(
            rpc = m.rpc,
            caller_uid = m.caller.uid,
            caller_pid = m.caller.pid,
            action = m.action,
            granted_by = grant.as_str(),
            ok = result.is_ok(),
            "mutation"
        );
        result.map(|a| a.value)
    }

    /// Audits a refusal (with `err` as its error) and hands back the error to answer with,
    /// or the audit failure if the record could not be written.
    async fn refused(self: &Arc<Self>, mut entry: Entry, err: EngineError) -> EngineError {
        entry.error = Some(err.to_string());
        match self.audit_refusal(entry).await {
            Ok(()) => err,
            Err(audit) => audit,
        }
    }

    /// Audits a refusal unless the caller's uid is over its rate; a held-back count is written
    /// as one `suppressed` record before the next refusal that is written.
    async fn audit_refusal(self: &Arc<Self>, e: Entry) -> Result<(), EngineError> {
        let admitted = self.refusals.admit(
            e.caller.uid,
            e.outcome,
            now().unix_timestamp(),
            std::time::Instant::now(),
        );
        match admitted {
            Err(()) => Ok(()),
            Ok(held) => {
                if let Some(h) = held {
                    self.audit(audit::suppressed_entry(e.caller.uid, &h))
                        .await?;
                }
                self.audit(e).await.map(drop)
            }
        }
    }

    async fn audit(self: &Arc<Self>, e: Entry) -> Result<String, EngineError> {
        let me = self.clone();
        match blocking(move || me.audit.append(&e, now())).await? {
            Ok(hash) => Ok(hash),
            Err(err) => {
                tracing::error!(error = %err, "audit append failed");
                Err(EngineError::AuditFailed)
            }
        }
    }
}

fn guardrails_err(e: GuardrailsError) -> EngineError {
    match e {
        GuardrailsError::InvalidReason(r) => EngineError::InvalidArgument(r.to_owned()),
        other => EngineError::Internal(other.to_string()),
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
