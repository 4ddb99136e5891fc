//! Approvals: an action held until a person decides. What a model proposes (chat's
//! `suggest_action`) always becomes a request here, carrying its dry run, and never runs
//! before a person approves it; so does a person's own action when their policy names
//! `approvals` for its tool. Requests are kept per user in the sled database (flushed before
//! an answer names them), broadcast as `approval_request`, and decided once: approve runs the
//! held action exactly as simulated through the gate (halbertd's polkit check, safe mode and
//! audit still stand: an approval is not a grant), reject records the reason, and a request
//! past `expires_at` is `expired`. Every decision is broadcast as `approval_decision` and kept
//! in the history.
//!
//! The guardrails judge a model's proposal by its confidence first ([`judge`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::actions::Action;
use crate::simulate::Simulation;
use crate::store::log::{Log, LogError};
use crate::time::iso8601;

/// Below this confidence a model's proposal is refused outright.
pub const APPROVAL_THRESHOLD: f64 = 0.5;
/// How long a request waits for a person.
pub const DEFAULT_LIFETIME_S: i64 = 3600;
/// Decisions kept in the history.
pub const HISTORY_CAP: usize = 1000;
/// Requests kept (decided ones beyond this go, oldest first).
pub const KEEP: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        }
    }
}

/// What came of an approved action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Execution {
    pub ok: bool,
    /// What halbertd answered, or why it refused.
    pub detail: String,
    /// For a config write whose unit was watched: `kept` or `rolled_back`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// ISO 8601 UTC.
    pub finished_at: String,
}

/// One held action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalRequest {
    pub id: String,
    /// What it is for, in a line.
    pub task: String,
    pub action: Action,
    /// Why it was proposed (the model's words, quoted).
    pub reasoning: String,
    /// 0–1; a person's own action is 1.
    pub confidence: f64,
    /// `low`, `medium`, `high` or `critical`, from the dry run.
    pub risk_level: String,
    /// Facts at the time of the request (the unit's state, the file's version).
    pub system_state: BTreeMap<String, String>,
    pub affected_resources: Vec<String>,
    pub simulation_result: Option<Simulation>,
    /// ISO 8601 UTC.
    pub requested_at: String,
    pub expires_at: String,
    pub status: Status,
    #[serde(default)]
    pub approved_at: Option<String>,
    #[serde(default)]
    pub rejected_at: Option<String>,
    #[serde(default)]
    pub rejection_reason: Option<String>,
    /// `model` (chat) or the user whose policy asked for approval.
    pub requested_by: String,
    #[serde(default)]
    pub approved_by: Option<String>,
    #[serde(default)]
    pub result: Option<Execution>,
    /// Unix seconds (for expiry; the ISO fields say the same).
    #[serde(default)]
    pub expires_unix: i64,
}

/// A decision, as kept in the history and broadcast as `approval_decision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionRecord {
    pub request_id: String,
    pub approved: bool,
    /// `approved`, `rejected` or `expired`.
    pub status: Status,
    pub reason: String,
    pub conditions: Vec<String>,
    pub decided_by: String,
    /// ISO 8601 UTC.
    pub decided_at: String,
    /// The action's kind, for a history that is read without the request.
    pub action: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no approval request {0}")]
    NotFound(String),
    #[error("approval request {id} is already {status}")]
    Decided { id: String, status: &'static str },
    #[error("approval request {0} expired before it was decided")]
    Expired(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("database: {0}")]
    Store(#[from] sled::Error),
    #[error("a stored request is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// How the guardrails judge a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// May run without a person: only where the user's policy opts the tool in
    /// (`approvals: [auto]`) and the confidence reaches `confidence_threshold`.
    Auto,
    ApprovalRequired,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Auto => "auto",
            Outcome::ApprovalRequired => "approval_required",
            Outcome::Refused => "refused",
        }
    }
}

/// Confidence ≥ `threshold` runs without approval only where `auto_allowed`; ≥
/// [`APPROVAL_THRESHOLD`] needs approval; below, or not a number in 0–1, is refused.
pub fn judge(confidence: f64, threshold: f64, auto_allowed: bool) -> Outcome {
    if !(0.0..=1.0).contains(&confidence) || confidence < APPROVAL_THRESHOLD {
        Outcome::Refused
    } else if confidence >= threshold && auto_allowed {
        Outcome::Auto
    } else {
        Outcome::ApprovalRequired
    }
}

/// The risk level of a dry run.
pub fn risk_level(sim: Option<&Simulation>) -> String {
    match sim.map(|s| s.risk.as_str()) {
        Some("destructive") => "high",
        Some("warning") => "medium",
        Some("none") => "low",
        _ => "medium",
    }
    .into()
}

/// What a new request says, before it gets an id and its times.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub task: String,
    pub action: Action,
    pub reasoning: String,
    pub confidence: f64,
    pub requested_by: String,
    pub simulation: Option<Simulation>,
    pub system_state: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Approvals {
    db: sled::Db,
    requests: sled::Tree,
    history: Log<DecisionRecord>,
    lifetime_s: i64,
    /// Decisions are made one at a time, so a request is decided once.
    lock: Mutex<()>,
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Approvals {
    pub fn open(db: &sled::Db) -> Result<Self, ApprovalError> {
        Ok(Self {
            db: db.clone(),
            requests: db.open_tree("approvals/requests")?,
            history: Log::open(db, "approvals/history", HISTORY_CAP)?,
            lifetime_s: DEFAULT_LIFETIME_S,
            lock: Mutex::new(()),
        })
    }

    /// Requests made from now on expire after `s` seconds (tests).
    pub fn with_lifetime(mut self, s: i64) -> Self {
        self.lifetime_s = s;
        self
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(&self, r: &ApprovalRequest) -> Result<(), ApprovalError> {
        self.requests
            .insert(r.id.as_bytes(), serde_json::to_vec(r)?)?;
        self.db.flush()?;
        Ok(())
    }

    fn get(&self, id: &str) -> Result<ApprovalRequest, ApprovalError> {
        match self.requests.get(id.as_bytes())? {
            Some(v) => Ok(serde_json::from_slice(&v)?),
            None => Err(ApprovalError::NotFound(id.to_owned())),
        }
    }

    /// Records a new pending request (flushed before it returns).
    pub fn create(&self, p: Proposal) -> Result<ApprovalRequest, ApprovalError> {
        if !(0.0..=1.0).contains(&p.confidence) {
            return Err(ApprovalError::Invalid(
                "confidence must be between 0 and 1".into(),
            ));
        }
        let now = now_unix();
        let mut affected: Vec<String> = Vec::new();
        if let Some(s) = &p.simulation {
            affected.extend(s.affected_files.iter().cloned());
            affected.extend(s.affected_services.iter().cloned());
        }
        if affected.is_empty()
            && let Some((_, inputs)) = p.action.tool()
        {
            affected.extend(inputs.path.into_iter().chain(inputs.name));
        }
        let r = ApprovalRequest {
            id: uuid::Uuid::new_v4().simple().to_string(),
            task: p.task,
            risk_level: risk_level(p.simulation.as_ref()),
            action: p.action,
            reasoning: p.reasoning,
            confidence: p.confidence,
            system_state: p.system_state,
            affected_resources: affected,
            simulation_result: p.simulation,
            requested_at: iso8601(now).unwrap_or_default(),
            expires_at: iso8601(now + self.lifetime_s).unwrap_or_default(),
            expires_unix: now + self.lifetime_s,
            status: Status::Pending,
            approved_at: None,
            rejected_at: None,
            rejection_reason: None,
            requested_by: p.requested_by,
            approved_by: None,
            result: None,
        };
        let _g = self.guard();
        self.put(&r)?;
        self.trim()?;
        Ok(r)
    }

    /// Drops the oldest decided requests beyond [`KEEP`].
    fn trim(&self) -> Result<(), ApprovalError> {
        let n = self.requests.len();
        if n <= KEEP {
            return Ok(());
        }
        let mut decided: Vec<(i64, String)> = Vec::new();
        for v in self.requests.iter().values() {
            let r: ApprovalRequest = serde_json::from_slice(&v?)?;
            if r.status != Status::Pending {
                decided.push((r.expires_unix, r.id));
            }
        }
        decided.sort();
        for (_, id) in decided.into_iter().take(n - KEEP) {
            self.requests.remove(id.as_bytes())?;
        }
        Ok(())
    }

    /// Marks every pending request past its time `expired`; returns their decisions.
    pub fn expire_due(&self) -> Result<Vec<DecisionRecord>, ApprovalError> {
        let now = now_unix();
        let _g = self.guard();
        let mut out = Vec::new();
        for v in self.requests.iter().values() {
            let mut r: ApprovalRequest = serde_json::from_slice(&v?)?;
            if r.status == Status::Pending && r.expires_unix <= now {
                out.push(self.decide_locked(
                    &mut r,
                    Status::Expired,
                    "expired before anyone decided",
                    "halbert-web",
                )?);
            }
        }
        Ok(out)
    }

    /// Pending requests, oldest first (expired ones are marked so first).
    pub fn pending(&self) -> Result<(Vec<ApprovalRequest>, Vec<DecisionRecord>), ApprovalError> {
        let expired = self.expire_due()?;
        let mut v: Vec<ApprovalRequest> = self
            .requests
            .iter()
            .values()
            .map(|v| Ok(serde_json::from_slice::<ApprovalRequest>(&v?)?))
            .filter(|r: &Result<ApprovalRequest, ApprovalError>| {
                r.as_ref().map_or(true, |r| r.status == Status::Pending)
            })
            .collect::<Result<_, ApprovalError>>()?;
        v.sort_by(|a, b| a.requested_at.cmp(&b.requested_at));
        Ok((v, expired))
    }

    /// Decisions, newest first.
    pub fn history(&self, n: usize) -> Result<Vec<DecisionRecord>, ApprovalError> {
        Ok(self.history.newest(n)?)
    }

    pub fn request(&self, id: &str) -> Result<ApprovalRequest, ApprovalError> {
        self.get(id)
    }

    fn decide_locked(
        &self,
        r: &mut ApprovalRequest,
        status: Status,
        reason: &str,
        by: &str,
    ) -> Result<DecisionRecord, ApprovalError> {
        let now = iso8601(now_unix()).unwrap_or_default();
        r.status = status;
        match status {
            Status::Approved => {
                r.approved_at = Some(now.clone());
                r.approved_by = Some(by.to_owned());
            }
            Status::Rejected | Status::Expired => {
                r.rejected_at = Some(now.clone());
                r.rejection_reason = Some(reason.to_owned());
            }
            Status::Pending => {}
        }
        self.put(r)?;
        let d = DecisionRecord {
            request_id: r.id.clone(),
            approved: status == Status::Approved,
            status,
            reason: reason.to_owned(),
            conditions: Vec::new(),
            decided_by: by.to_owned(),
            decided_at: now,
            action: r.action.kind().to_owned(),
        };
        self.history.append(&d)?;
        Ok(d)
    }

    /// Decides a pending request: `Approved` (the caller then runs the action) or
    /// `Rejected`. An unknown id, a decided request and an expired one are errors; the one
    /// found expired is recorded so first.
    pub fn decide(
        &self,
        id: &str,
        status: Status,
        reason: &str,
        by: &str,
    ) -> Result<(ApprovalRequest, DecisionRecord), ApprovalError> {
        let _g = self.guard();
        let mut r = self.get(id)?;
        if r.status != Status::Pending {
            return Err(ApprovalError::Decided {
                id: id.to_owned(),
                status: r.status.as_str(),
            });
        }
        if r.expires_unix <= now_unix() {
            self.decide_locked(
                &mut r,
                Status::Expired,
                "expired before anyone decided",
                "halbert-web",
            )?;
            return Err(ApprovalError::Expired(id.to_owned()));
        }
        let d = self.decide_locked(&mut r, status, reason, by)?;
        Ok((r, d))
    }

    /// Records what came of an approved request's action.
    pub fn finish(&self, id: &str, e: Execution) -> Result<ApprovalRequest, ApprovalError> {
        let _g = self.guard();
        let mut r = self.get(id)?;
        r.result = Some(e);
        self.put(&r)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ServiceVerb;

    fn proposal() -> Proposal {
        Proposal {
            task: "Restart hb-web".into(),
            action: Action::ControlService {
                unit: "hb-web.service".into(),
                verb: ServiceVerb::Restart,
            },
            reasoning: "it failed".into(),
            confidence: 0.7,
            requested_by: "model".into(),
            simulation: None,
            system_state: BTreeMap::new(),
        }
    }

    #[test]
    fn decided_once_persisted_and_in_the_history() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path().join("db")).expect("db");
        let a = Approvals::open(&db).expect("open");
        let r = a.create(proposal()).expect("create");
        assert_eq!(r.affected_resources, ["hb-web.service"]);
        assert_eq!(a.pending().expect("pending").0.len(), 1);
        let (r2, d) = a
            .decide(&r.id, Status::Approved, "", "alice")
            .expect("approve");
        assert_eq!(
            (r2.status, d.approved, d.decided_by.as_str()),
            (Status::Approved, true, "alice")
        );
        assert!(matches!(
            a.decide(&r.id, Status::Rejected, "no", "alice"),
            Err(ApprovalError::Decided {
                status: "approved",
                ..
            })
        ));
        assert!(matches!(
            a.decide("nope", Status::Approved, "", "a"),
            Err(ApprovalError::NotFound(_))
        ));
        drop(a);
        let a = Approvals::open(&db).expect("reopen");
        assert_eq!(a.request(&r.id).expect("kept").status, Status::Approved);
        assert!(a.pending().expect("pending").0.is_empty());
        let h = a.history(10).expect("history");
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].request_id, r.id);
    }

    #[test]
    fn past_its_time_a_request_is_expired_and_cannot_be_approved() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path().join("db")).expect("db");
        let a = Approvals::open(&db).expect("open").with_lifetime(0);
        let r = a.create(proposal()).expect("create");
        assert!(matches!(
            a.decide(&r.id, Status::Approved, "", "alice"),
            Err(ApprovalError::Expired(_))
        ));
        assert_eq!(a.request(&r.id).expect("r").status, Status::Expired);
        let r = a.create(proposal()).expect("create");
        let (pending, expired) = a.pending().expect("pending");
        assert!(pending.is_empty());
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].request_id, r.id);
        assert_eq!(expired[0].status, Status::Expired);
    }

    #[test]
    fn confidence_thresholds() {
        assert_eq!(judge(0.49, 0.8, true), Outcome::Refused);
        assert_eq!(judge(0.5, 0.8, true), Outcome::ApprovalRequired);
        assert_eq!(judge(0.79, 0.8, true), Outcome::ApprovalRequired);
        assert_eq!(judge(0.8, 0.8, true), Outcome::Auto);
        assert_eq!(judge(0.95, 0.8, false), Outcome::ApprovalRequired);
        assert_eq!(judge(f64::NAN, 0.8, true), Outcome::Refused);
        assert_eq!(judge(1.5, 0.8, true), Outcome::Refused);
    }
}
