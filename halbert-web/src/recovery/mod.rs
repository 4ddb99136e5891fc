//! Recovery: rolling a file back, restarting a unit, raising an alert, each kept in the
//! person's recovery log with its outcome, under limits that stop a recovery loop from doing
//! harm (restarting a crashing unit forever, walking a file back past every good version).
//!
//! The limits, persisted in the per-user database and enforced here, before halbertd is asked:
//! - `throttle_minutes`: two recovery actions on the same file or unit at least this far apart.
//! - `max_restart_attempts` within `backoff_minutes`: restarts of one unit through recovery in
//!   any window of that length; past it, refused until the oldest leaves the window.
//! - `max_rollback_depth`: consecutive rollbacks of one file step one backup further back each
//!   (the first restores the content before the last write, the second the one before that);
//!   a chain goes on while the file is as the previous rollback left it, and stops at the depth.
//!
//! A refusal names its limit. Every change still goes through [`crate::actions::perform`] and
//! halbertd's own checks (polkit, safe mode, audit).

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::actions::{Action, ActionError, Gate, perform};
use crate::daemon::DaemonError;
use crate::store::log::{Log, LogError};

/// Recovery actions and alerts kept.
pub const ACTIONS_CAP: usize = 500;
pub const ALERTS_CAP: usize = 200;
pub const SEVERITIES: [&str; 4] = ["info", "warning", "error", "critical"];
/// The label halbertd gives the backup it takes before a restore.
const BEFORE_RESTORE: &str = "before restore";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_rollback_depth: u32,
    pub max_restart_attempts: u32,
    pub backoff_minutes: u32,
    pub throttle_minutes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rollback_depth: 5,
            max_restart_attempts: 3,
            backoff_minutes: 10,
            throttle_minutes: 1,
        }
    }
}

/// The bounds of each limit, checked on every change.
pub const LIMIT_RANGES: [(&str, u32, u32); 4] = [
    ("max_rollback_depth", 1, 50),
    ("max_restart_attempts", 1, 100),
    ("backoff_minutes", 0, 1440),
    ("throttle_minutes", 0, 1440),
];

impl Limits {
    fn get(&self, name: &str) -> u32 {
        match name {
            "max_rollback_depth" => self.max_rollback_depth,
            "max_restart_attempts" => self.max_restart_attempts,
            "backoff_minutes" => self.backoff_minutes,
            _ => self.throttle_minutes,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        for (name, lo, hi) in LIMIT_RANGES {
            let v = self.get(name);
            if !(lo..=hi).contains(&v) {
                return Err(format!("{name} must be between {lo} and {hi}, not {v}"));
            }
        }
        Ok(())
    }
}

/// A change of some limits; the others keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsPatch {
    pub max_rollback_depth: Option<u32>,
    pub max_restart_attempts: Option<u32>,
    pub backoff_minutes: Option<u32>,
    pub throttle_minutes: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Rollback,
    RestartService,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// halbertd acted, and it did not work (a failed restart job).
    Failed,
    /// halbertd refused (polkit, safe mode, no such file or unit).
    Refused,
    /// A limit refused it before halbertd was asked.
    Limited,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryAction {
    pub kind: Kind,
    /// The file or the unit.
    pub target: String,
    pub outcome: Outcome,
    pub message: String,
    /// Unix seconds.
    pub at: i64,
    /// Rollback: the backup written back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_restored: Option<String>,
    /// Rollback: the backup halbertd took of the content it replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_made: Option<String>,
    /// Rollback: how far back this one went (1 = the content before the last write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// The limit that refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub message: String,
    pub severity: String,
    pub at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Store(#[from] LogError),
    #[error("{detail}")]
    Limited { limit: &'static str, detail: String },
    #[error("{0}")]
    NoBackup(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<DaemonError> for RecoveryError {
    fn from(e: DaemonError) -> Self {
        RecoveryError::Action(e.into())
    }
}

impl From<sled::Error> for RecoveryError {
    fn from(e: sled::Error) -> Self {
        RecoveryError::Store(LogError::Store(e))
    }
}

/// What a rollback did.
#[derive(Debug, Clone)]
pub struct RolledBack {
    pub path: String,
    pub backup_restored: String,
    pub backup_made: Option<String>,
    pub depth: u32,
    pub version: String,
}

#[derive(Debug)]
pub struct Recovery {
    settings: sled::Tree,
    actions: Log<RecoveryAction>,
    alerts: Log<Alert>,
    /// One recovery decision at a time, so two requests cannot both pass a limit that only
    /// one of them may.
    deciding: Mutex<()>,
}

const LIMITS_KEY: &[u8] = b"limits";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The unit a name means, as halbertd reads it (`nginx` is nginx.service), so that the limits
/// count `nginx` and `nginx.service` as one unit.
pub fn unit_key(name: &str) -> String {
    const TYPES: [&str; 11] = [
        "service",
        "socket",
        "target",
        "device",
        "mount",
        "automount",
        "swap",
        "timer",
        "path",
        "slice",
        "scope",
    ];
    let n = name.trim();
    let typed = n
        .rsplit_once('.')
        .is_some_and(|(stem, t)| !stem.is_empty() && TYPES.contains(&t));
    if typed {
        n.to_owned()
    } else {
        format!("{n}.service")
    }
}

impl Recovery {
    pub fn open(db: &sled::Db) -> Result<Self, LogError> {
        Ok(Self {
            settings: db.open_tree("recovery/settings")?,
            actions: Log::open(db, "recovery/actions", ACTIONS_CAP)?,
            alerts: Log::open(db, "recovery/alerts", ALERTS_CAP)?,
            deciding: Mutex::new(()),
        })
    }

    pub fn limits(&self) -> Result<Limits, RecoveryError> {
        Ok(match self.settings.get(LIMITS_KEY)? {
            Some(v) => serde_json::from_slice(&v).map_err(LogError::Corrupt)?,
            None => Limits::default(),
        })
    }

    pub async fn set_limits(&self, patch: LimitsPatch) -> Result<Limits, RecoveryError> {
        let _one = self.deciding.lock().await;
        let mut l = self.limits()?;
        let fields = [
            (&mut l.max_rollback_depth, patch.max_rollback_depth),
            (&mut l.max_restart_attempts, patch.max_restart_attempts),
            (&mut l.backoff_minutes, patch.backoff_minutes),
            (&mut l.throttle_minutes, patch.throttle_minutes),
        ];
        for (field, new) in fields {
            if let Some(v) = new {
                *field = v;
            }
        }
        l.check().map_err(RecoveryError::Invalid)?;
        self.settings.insert(
            LIMITS_KEY,
            serde_json::to_vec(&l).map_err(LogError::Corrupt)?,
        )?;
        self.settings.flush()?;
        Ok(l)
    }

    pub fn actions(&self, n: usize) -> Result<Vec<RecoveryAction>, RecoveryError> {
        Ok(self.actions.newest(n)?)
    }

    pub fn alerts(&self, n: usize) -> Result<Vec<Alert>, RecoveryError> {
        Ok(self.alerts.newest(n)?)
    }

    pub fn alert(&self, message: String, severity: String) -> Result<Alert, RecoveryError> {
        let a = Alert {
            id: format!("alert-{}", uuid::Uuid::new_v4().simple()),
            message,
            severity,
            at: now(),
        };
        self.alerts.append(&a)?;
        Ok(a)
    }

    /// Refuses when the last action on `target` is more recent than the throttle allows.
    fn throttled(&self, l: &Limits, kind: Kind, target: &str, t: i64) -> Result<(), RecoveryError> {
        let window = i64::from(l.throttle_minutes) * 60;
        if window == 0 {
            return Ok(());
        }
        let recent = self.actions.newest_while(|a| t - a.at < window)?;
        if let Some(a) = recent
            .iter()
            .find(|a| a.target == target && a.outcome != Outcome::Limited)
        {
            let wait = window - (t - a.at);
            return Err(self.limited(kind, target, "throttle_minutes", format!(
                "a recovery action on {target} ran {} s ago; throttle_minutes ({}) allows the next in {wait} s",
                t - a.at,
                l.throttle_minutes
            ))?);
        }
        Ok(())
    }

    /// Records a refusal by `limit` and hands back the error to answer with.
    fn limited(
        &self,
        kind: Kind,
        target: &str,
        limit: &'static str,
        detail: String,
    ) -> Result<RecoveryError, RecoveryError> {
        self.actions.append(&RecoveryAction {
            kind,
            target: target.to_owned(),
            outcome: Outcome::Limited,
            message: detail.clone(),
            at: now(),
            backup_restored: None,
            backup_made: None,
            depth: None,
            limit: Some(limit.to_owned()),
        })?;
        Ok(RecoveryError::Limited { limit, detail })
    }

    fn record_refusal(
        &self,
        kind: Kind,
        target: &str,
        e: &dyn std::fmt::Display,
    ) -> Result<(), LogError> {
        self.actions.append(&RecoveryAction {
            kind,
            target: target.to_owned(),
            outcome: Outcome::Refused,
            message: e.to_string(),
            at: now(),
            backup_restored: None,
            backup_made: None,
            depth: None,
            limit: None,
        })
    }

    /// Restores the newest backup of `path` taken by a write (one further back for each
    /// consecutive rollback), after halbertd backs up the current content.
    pub async fn rollback(
        &self,
        gate: &Gate,
        path: &str,
        request_id: &str,
    ) -> Result<RolledBack, RecoveryError> {
        let _one = self.deciding.lock().await;
        let l = self.limits()?;
        let t = now();
        self.throttled(&l, Kind::Rollback, path, t)?;
        let backups = match gate.daemon.file_backups(path).await {
            Ok(b) => b.backups,
            Err(e) => {
                self.record_refusal(Kind::Rollback, path, &e)?;
                return Err(e.into());
            }
        };
        // The chain goes on while the newest backup is the one the last rollback took: any
        // write since would have taken a newer one.
        let last = self
            .actions
            .newest(ACTIONS_CAP)?
            .into_iter()
            .find(|a| a.kind == Kind::Rollback && a.target == path && a.outcome == Outcome::Ok);
        let depth = match (&last, backups.first()) {
            (Some(a), Some(newest)) if a.backup_made.as_deref() == Some(&newest.backup_id) => {
                a.depth.unwrap_or(1) + 1
            }
            _ => 1,
        };
        if depth > l.max_rollback_depth {
            return Err(self.limited(
                Kind::Rollback,
                path,
                "max_rollback_depth",
                format!(
                    "{path} was rolled back {} times in a row; max_rollback_depth ({}) allows no further step back (edit or restore it in the editor instead)",
                    depth - 1,
                    l.max_rollback_depth
                ),
            )?);
        }
        let written: Vec<_> = backups
            .iter()
            .filter(|b| b.label != BEFORE_RESTORE)
            .collect();
        let Some(target) = written.get(depth as usize - 1) else {
            let detail = if depth == 1 {
                format!("{path} has no backup to roll back to")
            } else {
                format!("{path} has no backup older than the one the last rollback restored")
            };
            self.record_refusal(Kind::Rollback, path, &detail)?;
            return Err(RecoveryError::NoBackup(detail));
        };
        let action = Action::Rollback {
            path: path.to_owned(),
            backup_id: target.backup_id.clone(),
        };
        let w = match perform(gate, action, request_id)
            .await
            .and_then(|d| d.file().map_err(ActionError::from))
        {
            Ok(w) => w,
            Err(e) => {
                self.record_refusal(Kind::Rollback, path, &e)?;
                return Err(e.into());
            }
        };
        let made = Some(w.backup_id.clone()).filter(|b| !b.is_empty());
        self.actions.append(&RecoveryAction {
            kind: Kind::Rollback,
            target: path.to_owned(),
            outcome: Outcome::Ok,
            message: format!("restored {} (step {depth} back)", target.backup_id),
            at: t,
            backup_restored: Some(target.backup_id.clone()),
            backup_made: made.clone(),
            depth: Some(depth),
            limit: None,
        })?;
        Ok(RolledBack {
            path: w.path,
            backup_restored: target.backup_id.clone(),
            backup_made: made,
            depth,
            version: w.version,
        })
    }

    /// Restarts `service`, within the attempt limit.
    pub async fn restart(
        &self,
        gate: &Gate,
        service: &str,
        request_id: &str,
    ) -> Result<halbert_proto::v1::ServiceControlResult, RecoveryError> {
        let _one = self.deciding.lock().await;
        let l = self.limits()?;
        let unit = unit_key(service);
        let t = now();
        self.throttled(&l, Kind::RestartService, &unit, t)?;
        let window = i64::from(l.backoff_minutes) * 60;
        let attempts: Vec<RecoveryAction> = self
            .actions
            .newest_while(|a| t - a.at < window)?
            .into_iter()
            .filter(|a| {
                a.kind == Kind::RestartService
                    && a.target == unit
                    && matches!(a.outcome, Outcome::Ok | Outcome::Failed)
            })
            .collect();
        if attempts.len() >= l.max_restart_attempts as usize {
            let oldest = attempts.last().map_or(t, |a| a.at);
            return Err(self.limited(
                Kind::RestartService,
                &unit,
                "max_restart_attempts",
                format!(
                    "{unit} was restarted {} times in the last {} minutes (max_restart_attempts {}, backoff_minutes {}); the next attempt is allowed in {} s",
                    attempts.len(),
                    l.backoff_minutes,
                    l.max_restart_attempts,
                    l.backoff_minutes,
                    window - (t - oldest)
                ),
            )?);
        }
        let action = Action::RecoveryRestart { unit: unit.clone() };
        let r = match perform(gate, action, request_id)
            .await
            .and_then(|d| d.service().map_err(ActionError::from))
        {
            Ok(r) => r,
            Err(e) => {
                self.record_refusal(Kind::RestartService, &unit, &e)?;
                return Err(e.into());
            }
        };
        self.actions.append(&RecoveryAction {
            kind: Kind::RestartService,
            target: unit,
            outcome: if r.success {
                Outcome::Ok
            } else {
                Outcome::Failed
            },
            message: r.message.clone(),
            at: t,
            backup_restored: None,
            backup_made: None,
            depth: None,
            limit: None,
        })?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_keys_match_halbertd() {
        assert_eq!(unit_key("nginx"), "nginx.service");
        assert_eq!(unit_key("nginx.service"), "nginx.service");
        assert_eq!(unit_key("cups.socket"), "cups.socket");
        assert_eq!(unit_key("a.b"), "a.b.service");
    }

    #[test]
    fn limits_are_checked_and_persist() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path().join("db")).expect("db");
        let r = Recovery::open(&db).expect("open");
        assert_eq!(r.limits().expect("limits"), Limits::default());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let bad = rt.block_on(r.set_limits(LimitsPatch {
            max_restart_attempts: Some(0),
            ..LimitsPatch::default()
        }));
        assert!(matches!(bad, Err(RecoveryError::Invalid(_))), "{bad:?}");
        let l = rt
            .block_on(r.set_limits(LimitsPatch {
                throttle_minutes: Some(0),
                ..LimitsPatch::default()
            }))
            .expect("set");
        assert_eq!(l.throttle_minutes, 0);
        assert_eq!(l.max_restart_attempts, 3, "the others keep their value");
        drop(r);
        let r = Recovery::open(&db).expect("reopen");
        assert_eq!(r.limits().expect("limits").throttle_minutes, 0);
    }
}
