//! The safety gate's steps beyond the policy: the dry run of an action, holding it for a
//! person (an approval request, broadcast), a model's proposal judged by the guardrails, and a
//! held action run once a person approves it — each decision broadcast as a `decision` event.

use std::collections::BTreeMap;

use super::{Action, ActionError, Done, Gate, ServiceVerb, act, health, judge_policy};
use crate::approvals::{
    self, ApprovalError, ApprovalRequest, DecisionRecord, Execution, Outcome, Proposal, Status,
};
use crate::events::{Event, GateDecision};
use crate::simulate::{self, Simulation};
use crate::time::iso8601;

impl From<ApprovalError> for ActionError {
    fn from(e: ApprovalError) -> Self {
        let m = e.to_string();
        match e {
            ApprovalError::NotFound(_) => ActionError::NoRequest(m),
            ApprovalError::Decided { .. } | ApprovalError::Expired(_) => ActionError::Decided(m),
            ApprovalError::Invalid(_) => ActionError::Refused(m),
            ApprovalError::Log(_) | ApprovalError::Store(_) | ApprovalError::Corrupt(_) => {
                tracing::error!(error = %m, "approvals store");
                ActionError::Approvals(m)
            }
        }
    }
}

/// The dry run of `action`, where one exists (a file write, a unit job, a command).
pub async fn simulate_action(
    gate: &Gate,
    action: &Action,
    request_id: &str,
) -> Result<Option<Simulation>, ActionError> {
    let d = &gate.daemon;
    Ok(match action {
        Action::WriteFile { path, content, .. } => {
            Some(simulate::file_write(d, path, content, request_id).await?)
        }
        Action::ControlService { unit, verb } => {
            let args = serde_json::json!({"service": unit, "action": verb.as_str()});
            Some(simulate::tool(d, "service_control", &args, request_id).await?)
        }
        Action::RecoveryRestart { unit } => Some(simulate::service_restart(d, unit).await?),
        Action::RunCommand { command, .. } => Some(simulate::command_result(command, None)),
        Action::EnterSafeMode { .. }
        | Action::ExitSafeMode
        | Action::RestoreFile { .. }
        | Action::Rollback { .. } => None,
    })
}

/// An action to hold for a person.
#[derive(Debug, Clone)]
pub struct Held {
    pub action: Action,
    pub task: Option<String>,
    pub reasoning: String,
    pub confidence: f64,
    pub requested_by: String,
    pub simulation: Option<Simulation>,
}

/// A one-line description of an action, for requests and decisions.
pub fn describe(a: &Action) -> String {
    match a {
        Action::EnterSafeMode { .. } => "Enter safe mode".into(),
        Action::ExitSafeMode => "Exit safe mode".into(),
        Action::WriteFile { path, .. } => format!("Write {path}"),
        Action::RestoreFile { path, .. } => format!("Restore a backup of {path}"),
        Action::ControlService { unit, verb } => {
            let v = match verb {
                ServiceVerb::Start => "Start",
                ServiceVerb::Stop => "Stop",
                ServiceVerb::Restart => "Restart",
            };
            format!("{v} {unit}")
        }
        Action::RunCommand { command, .. } => format!("Run {command}"),
        Action::Rollback { path, .. } => format!("Roll back {path}"),
        Action::RecoveryRestart { unit } => format!("Restart {unit} (recovery)"),
    }
}

/// Records `h` as a pending request (with, for a file, the version the dry run saw, so that
/// approving it later writes only over that version) and broadcasts it.
pub async fn hold(
    gate: &Gate,
    mut h: Held,
    request_id: &str,
) -> Result<ApprovalRequest, ActionError> {
    let mut state = BTreeMap::new();
    match &mut h.action {
        // A version the proposer pinned (config chat reads the file first) needs no second read.
        Action::WriteFile {
            version: Some(v), ..
        } => {
            state.insert("file_version".into(), v.clone());
        }
        Action::WriteFile { path, version, .. } => match gate.daemon.read_file(path).await {
            Ok(f) => {
                state.insert("file_version".into(), f.version.clone());
                version.get_or_insert(f.version);
            }
            Err(crate::daemon::DaemonError::NotFound(_)) => {
                state.insert("file_version".into(), "absent".into());
            }
            Err(e) => return Err(e.into()),
        },
        Action::ControlService { unit, .. } | Action::RecoveryRestart { unit } => {
            if let Ok(s) = gate.daemon.service_status(unit).await {
                state.insert("active_state".into(), s.active_state);
                state.insert("sub_state".into(), s.sub_state);
            }
        }
        _ => {}
    }
    let approvals = gate.approvals.clone();
    let p = Proposal {
        task: h.task.unwrap_or_else(|| describe(&h.action)),
        action: h.action,
        reasoning: h.reasoning,
        confidence: h.confidence,
        requested_by: h.requested_by,
        simulation: h.simulation,
        system_state: state,
    };
    let r = blocking(move || approvals.create(p)).await??;
    tracing::info!(approval = %r.id, action = r.action.kind(), request_id, "held for approval");
    gate.feed
        .broadcast(&Event::ApprovalRequest(Box::new(r.clone())));
    Ok(r)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ActionError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ActionError::Approvals(format!("worker task failed: {e}")))
}

/// Acts, then for a config write with `rollback`, runs the health gate on its unit.
pub async fn act_checked(
    gate: &Gate,
    action: Action,
    rollback: bool,
    request_id: &str,
) -> Result<Done, ActionError> {
    let watch = match (&action, rollback) {
        (Action::WriteFile { path, unit, .. }, true) => Some((
            path.clone(),
            unit.clone().or_else(|| health::unit_for(path)),
        )),
        _ => None,
    };
    let done = act(gate, action, request_id).await?;
    let Some((path, unit)) = watch else {
        return Ok(done);
    };
    let mut f = done.file_done()?;
    f.health = Some(health::watch(gate, &path, unit.as_deref(), &f.written, request_id).await);
    Ok(Done::File(f))
}

/// What came of a model's proposal.
#[derive(Debug, Clone)]
pub enum Proposed {
    /// Held for a person.
    Pending(Box<ApprovalRequest>),
    /// Run at once: the policy opts the tool in and the confidence reaches the threshold.
    Ran(Box<Done>),
    /// The guardrails or the policy refused it; nothing was held or run.
    Refused(String),
}

fn broadcast_decision(
    gate: &Gate,
    a: &Action,
    confidence: f64,
    outcome: Outcome,
    reasoning: &str,
    request_id: &str,
) {
    gate.feed
        .broadcast(&Event::Decision(crate::events::DecisionData::Gate(
            GateDecision {
                request_id: request_id.to_owned(),
                action: describe(a),
                kind: a.kind().to_owned(),
                confidence,
                outcome: outcome.as_str().to_owned(),
                reasoning: reasoning.to_owned(),
            },
        )));
}

/// A model proposes `action`: the user's policy, the guardrails' confidence thresholds, the
/// dry run, then — unless the policy opts the tool in to running without a person
/// (`approvals: [auto]`) and the confidence reaches `confidence_threshold` — an approval
/// request. Every outcome is broadcast as a `decision` event.
pub async fn propose(
    gate: &Gate,
    action: Action,
    task: Option<String>,
    reasoning: String,
    confidence: f64,
    request_id: &str,
) -> Result<Proposed, ActionError> {
    let d = match judge_policy(gate, &action, request_id) {
        Ok(d) => d,
        Err(ActionError::Denied(d)) => {
            let why = format!("the policy denies it ({}): {}", d.rule, d.reason);
            broadcast_decision(
                gate,
                &action,
                confidence,
                Outcome::Refused,
                &why,
                request_id,
            );
            return Ok(Proposed::Refused(why));
        }
        Err(e) => return Err(e),
    };
    let auto_allowed = d.as_ref().is_some_and(|d| {
        d.approvals_needed.iter().all(|a| a == "auto") && !d.approvals_needed.is_empty()
    });
    let outcome = approvals::judge(
        confidence,
        gate.guardrails.confidence_threshold,
        auto_allowed,
    );
    if outcome == Outcome::Refused {
        let why = format!(
            "confidence {confidence:.2} is below {:.2}: proposals that unsure are refused",
            approvals::APPROVAL_THRESHOLD
        );
        broadcast_decision(gate, &action, confidence, outcome, &why, request_id);
        return Ok(Proposed::Refused(why));
    }
    let sim = simulate_action(gate, &action, request_id).await?;
    if outcome == Outcome::Auto && sim.as_ref().is_none_or(|s| s.success) {
        broadcast_decision(gate, &action, confidence, outcome, &reasoning, request_id);
        let done = act_checked(gate, action, true, request_id).await?;
        return Ok(Proposed::Ran(Box::new(done)));
    }
    broadcast_decision(
        gate,
        &action,
        confidence,
        Outcome::ApprovalRequired,
        &reasoning,
        request_id,
    );
    let r = hold(
        gate,
        Held {
            action,
            task,
            reasoning,
            confidence,
            requested_by: "model".into(),
            simulation: sim,
        },
        request_id,
    )
    .await?;
    Ok(Proposed::Pending(Box::new(r)))
}

/// An approved request and what came of its action.
#[derive(Debug, Clone)]
pub struct Approved {
    pub request: ApprovalRequest,
    pub decision: DecisionRecord,
    pub result: Result<Done, ActionError>,
}

/// Approves request `id` for `by` and runs its action exactly as held (a file only over the
/// version its dry run saw: a changed file is a conflict). The policy is asked again (it may
/// have changed since), and halbertd still judges (polkit, safe mode): an approval is not a
/// grant. What came of it is recorded on the request.
pub async fn approve(
    gate: &Gate,
    id: &str,
    by: &str,
    request_id: &str,
) -> Result<Approved, ActionError> {
    let (approvals, i, b) = (gate.approvals.clone(), id.to_owned(), by.to_owned());
    let (req, decision) =
        blocking(move || approvals.decide(&i, Status::Approved, "approved", &b)).await??;
    gate.feed
        .broadcast(&Event::ApprovalDecision(decision.clone()));
    // What a model proposed is always watched after it is applied; a person's held action as
    // their policy says.
    let result = match judge_policy(gate, &req.action, request_id) {
        Ok(d) => {
            let rollback = req.requested_by == "model" || d.is_some_and(|d| d.rollback_required);
            act_checked(gate, req.action.clone(), rollback, request_id).await
        }
        Err(e) => Err(e),
    };
    let e = Execution {
        ok: result.is_ok(),
        detail: match &result {
            Ok(d) => done_summary(d),
            Err(e) => e.to_string(),
        },
        health: match &result {
            Ok(Done::File(f)) => f.health.as_ref().map(|h| h.verdict().to_owned()),
            _ => None,
        },
        finished_at: iso8601(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or_default(),
    };
    let (approvals, i) = (gate.approvals.clone(), id.to_owned());
    let request = blocking(move || approvals.finish(&i, e)).await??;
    Ok(Approved {
        request,
        decision,
        result,
    })
}

fn done_summary(d: &Done) -> String {
    match d {
        Done::SafeMode(_) => "safe mode changed".into(),
        Done::File(f) => match &f.health {
            Some(h) => format!("wrote {}; {}", f.written.path, h.summary()),
            None => format!("wrote {}", f.written.path),
        },
        Done::Service(s) => s.message.clone(),
        Done::Command(c) => format!("exit code {}", c.exit_code),
    }
}

/// Rejects request `id`; nothing runs.
pub async fn reject(
    gate: &Gate,
    id: &str,
    reason: &str,
    by: &str,
) -> Result<(ApprovalRequest, DecisionRecord), ActionError> {
    let (approvals, i, r, b) = (
        gate.approvals.clone(),
        id.to_owned(),
        reason.to_owned(),
        by.to_owned(),
    );
    let out = blocking(move || approvals.decide(&i, Status::Rejected, &r, &b)).await??;
    gate.feed.broadcast(&Event::ApprovalDecision(out.1.clone()));
    Ok(out)
}

/// Marks requests past their time expired, broadcasting each decision.
pub async fn expire(gate: &Gate) -> Result<Vec<ApprovalRequest>, ActionError> {
    let approvals = gate.approvals.clone();
    let (pending, expired) = blocking(move || approvals.pending()).await??;
    for d in &expired {
        gate.feed.broadcast(&Event::ApprovalDecision(d.clone()));
    }
    Ok(pending)
}
