//! Everything a person or a model may ask Halbert to change, as one type ([`Action`]), and
//! the gate every change passes: [`perform`] for what a person asks, [`gate::propose`] for
//! what a model proposes, [`gate::approve`] for a held action a person approves. halbert-web
//! decides here, before halbertd is asked: the user's policy ([`crate::policy`]) by the
//! action's tool name and inputs, the dry run ([`crate::simulate`]), the guardrails'
//! confidence thresholds and approvals ([`crate::approvals`]); after a config write, the
//! health gate ([`health`]) watches the unit and rolls back a change that breaks it. No route
//! reaches halbertd's mutating calls another way.

pub mod gate;
pub mod health;

use std::sync::Arc;

use halbert_proto::v1 as pb;

use crate::daemon::{Daemon, DaemonError};
use crate::policy::PolicyStore;
use crate::policy::{Decision, Inputs};

/// What every action passes: the user's policy, the dry run and approvals, then halbertd;
/// with what the health gate needs to watch a change and to tell about a rollback.
#[derive(Debug, Clone)]
pub struct Gate {
    pub daemon: Daemon,
    pub policy: Arc<PolicyStore>,
    pub approvals: Arc<crate::approvals::Approvals>,
    pub feed: Arc<crate::feed::StatusFeed>,
    pub recovery: Arc<crate::recovery::Recovery>,
    pub guardrails: crate::config::GuardrailsConfig,
    /// How long the health gate watches a unit after a change.
    pub settle: std::time::Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ActionError {
    /// The user's policy does not allow it.
    #[error("{}", .0.reason)]
    Denied(Decision),
    /// The dry run says it would fail (a validator rejects the file): nothing was done.
    #[error("{}", .0.error.clone().unwrap_or_else(|| "the dry run rejects the action".into()))]
    Rejected(Box<crate::simulate::Simulation>),
    /// Held for a person's decision; the request says which.
    #[error("held for approval as request {}", .0.id)]
    ApprovalRequired(Box<crate::approvals::ApprovalRequest>),
    /// The guardrails refuse a proposal (its confidence is too low).
    #[error("{0}")]
    Refused(String),
    /// No approval request has that id.
    #[error("{0}")]
    NoRequest(String),
    /// The request was decided already, or expired.
    #[error("{0}")]
    Decided(String),
    /// The approvals store failed (the text is for the log).
    #[error("{0}")]
    Approvals(String),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// A change someone asked for: the one shape routes, chat's suggestions and approvals use,
/// serialized the same everywhere (`{"type": "write_file", "path": ...}`). A model produces
/// one only through typed, validated fields — never a shell string built from what it saw.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    EnterSafeMode {
        reason: String,
    },
    ExitSafeMode,
    /// Replace a configuration file; with `version`, only if it is still at that version.
    /// `unit` names the service the file belongs to when the path does not tell (the health
    /// gate restarts and watches it).
    WriteFile {
        path: String,
        content: String,
        #[serde(default)]
        version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
    },
    /// Write one of a file's own backups back.
    RestoreFile {
        path: String,
        backup_id: String,
    },
    /// Start, stop or restart a systemd unit.
    ControlService {
        unit: String,
        verb: ServiceVerb,
    },
    /// Run what a person typed at the terminal, as that person (`sudo ` as root). Only a
    /// person's own typing becomes this action: model output never does.
    RunCommand {
        command: String,
        timeout_s: u32,
    },
    /// Recovery: write back the backup a rollback chose.
    Rollback {
        path: String,
        backup_id: String,
    },
    /// Recovery: restart a unit (counted against recovery's limits before it gets here).
    RecoveryRestart {
        unit: String,
    },
}

/// A job on a unit.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ServiceVerb {
    Start,
    Stop,
    Restart,
}

impl ServiceVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceVerb::Start => "start",
            ServiceVerb::Stop => "stop",
            ServiceVerb::Restart => "restart",
        }
    }

    fn pb(self) -> pb::ServiceVerb {
        match self {
            ServiceVerb::Start => pb::ServiceVerb::Start,
            ServiceVerb::Stop => pb::ServiceVerb::Stop,
            ServiceVerb::Restart => pb::ServiceVerb::Restart,
        }
    }
}

impl Action {
    /// The unit job a button or a suggestion with id `start`, `stop` or `restart` names.
    pub fn unit_job(id: &str, unit: &str) -> Option<Action> {
        let verb = match id {
            "start" => ServiceVerb::Start,
            "stop" => ServiceVerb::Stop,
            "restart" => ServiceVerb::Restart,
            _ => return None,
        };
        Some(Action::ControlService {
            unit: unit.to_owned(),
            verb,
        })
    }

    /// A short name for logs and approvals.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::EnterSafeMode { .. } => "enter_safe_mode",
            Action::ExitSafeMode => "exit_safe_mode",
            Action::WriteFile { .. } => "write_file",
            Action::RestoreFile { .. } => "restore_file",
            Action::ControlService { verb, .. } => match verb {
                ServiceVerb::Start => "start_service",
                ServiceVerb::Stop => "stop_service",
                ServiceVerb::Restart => "restart_service",
            },
            Action::RunCommand { .. } => "run_command",
            Action::Rollback { .. } => "rollback",
            Action::RecoveryRestart { .. } => "recovery_restart",
        }
    }

    /// The policy's name for it and what its conditions look at; `None` for safe mode, the
    /// emergency brake, which no user policy may take away.
    pub fn tool(&self) -> Option<(&'static str, Inputs)> {
        let path = |p: &str| Inputs {
            path: Some(p.to_owned()),
            name: None,
        };
        let name = |n: String| Inputs {
            path: None,
            name: Some(n),
        };
        Some(match self {
            Action::EnterSafeMode { .. } | Action::ExitSafeMode => return None,
            Action::WriteFile { path: p, .. } => ("write_config", path(p)),
            Action::RestoreFile { path: p, .. } => ("restore_backup", path(p)),
            Action::Rollback { path: p, .. } => ("rollback", path(p)),
            Action::ControlService { unit, .. } => {
                ("service_control", name(crate::recovery::unit_key(unit)))
            }
            Action::RecoveryRestart { unit } => {
                ("restart_service", name(crate::recovery::unit_key(unit)))
            }
            Action::RunCommand { command, .. } => {
                let mut words = command.split_whitespace();
                let first = words.next().unwrap_or_default();
                if first == "sudo" {
                    let program = words.next().unwrap_or_default().to_owned();
                    ("terminal_root", name(program))
                } else {
                    ("terminal", name(first.to_owned()))
                }
            }
        })
    }
}

/// A file written, and what the health gate made of it when it watched the unit.
#[derive(Debug, Clone)]
pub struct FileDone {
    pub written: pb::FileWritten,
    pub health: Option<health::Health>,
}

/// What halbertd answered to an action.
#[derive(Debug, Clone)]
pub enum Done {
    SafeMode(pb::SafeModeChange),
    File(FileDone),
    Service(pb::ServiceControlResult),
    Command(pb::ExecuteResult),
}

impl Done {
    /// The safe-mode answer; any other answer to a safe-mode action is a fault.
    pub fn safe_mode(self) -> Result<pb::SafeModeChange, DaemonError> {
        match self {
            Done::SafeMode(ch) => Ok(ch),
            other => Err(unexpected(&other)),
        }
    }

    /// The file answer; any other answer to a file action is a fault.
    pub fn file(self) -> Result<pb::FileWritten, DaemonError> {
        self.file_done().map(|f| f.written)
    }

    /// The file answer with the health gate's verdict.
    pub fn file_done(self) -> Result<FileDone, DaemonError> {
        match self {
            Done::File(f) => Ok(f),
            other => Err(unexpected(&other)),
        }
    }
}

impl Done {
    /// The unit job's answer; any other answer to a service action is a fault.
    pub fn service(self) -> Result<pb::ServiceControlResult, DaemonError> {
        match self {
            Done::Service(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    /// The command's answer; any other answer to a command is a fault.
    pub fn command(self) -> Result<pb::ExecuteResult, DaemonError> {
        match self {
            Done::Command(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(d: &Done) -> DaemonError {
    DaemonError::Failed(format!("an unexpected answer to the action: {d:?}"))
}

/// Performs what a person asked for, through the one gate: the user's policy (a denial
/// names the rule) → the dry run when the policy requires one (a failing validator stops it)
/// → an approval request when the policy names approvals for the tool → halbertd (the
/// system-wide policy, polkit, safe mode, the audit) → for a config write the policy wants
/// rolled back on failure, the health gate. A person's own click is not held for their own
/// approval unless their policy says so.
pub async fn perform(gate: &Gate, action: Action, request_id: &str) -> Result<Done, ActionError> {
    let d = judge_policy(gate, &action, request_id)?;
    if let Some(d) = &d {
        let needs_person = d.approvals_needed.iter().any(|a| a != "auto");
        if d.simulation_required || needs_person {
            let sim = gate::simulate_action(gate, &action, request_id).await?;
            if let Some(s) = sim.as_ref().filter(|s| !s.success) {
                return Err(ActionError::Rejected(Box::new(s.clone())));
            }
            if needs_person {
                let r = gate::hold(
                    gate,
                    gate::Held {
                        action,
                        task: None,
                        reasoning: format!("the policy's {} asks for approval", d.rule),
                        confidence: 1.0,
                        requested_by: crate::policy::context_now().user,
                        simulation: sim,
                    },
                    request_id,
                )
                .await?;
                return Err(ActionError::ApprovalRequired(Box::new(r)));
            }
        }
    }
    let rollback = d.as_ref().is_some_and(|d| d.rollback_required);
    gate::act_checked(gate, action, rollback, request_id).await
}

/// The user's policy on `action`: `None` for safe mode (which no policy may take away).
fn judge_policy(
    gate: &Gate,
    action: &Action,
    request_id: &str,
) -> Result<Option<Decision>, ActionError> {
    let Some((tool, inputs)) = action.tool() else {
        return Ok(None);
    };
    let d = gate
        .policy
        .decide(tool, &inputs, &crate::policy::context_now());
    if !d.allow {
        tracing::warn!(action = action.kind(), tool, rule = %d.rule, reason = %d.reason, request_id, "denied by the user's policy");
        return Err(ActionError::Denied(d));
    }
    Ok(Some(d))
}

/// Sends `action` to halbertd, nothing else: the gate's last step.
async fn act(gate: &Gate, action: Action, request_id: &str) -> Result<Done, ActionError> {
    tracing::info!(action = action.kind(), request_id, "performing");
    let daemon = &gate.daemon;
    Ok(match action {
        Action::EnterSafeMode { reason } => daemon
            .enter_safe_mode(reason, request_id)
            .await
            .map(Done::SafeMode)?,
        Action::ExitSafeMode => daemon
            .exit_safe_mode(request_id)
            .await
            .map(Done::SafeMode)?,
        Action::WriteFile {
            path,
            content,
            version,
            ..
        } => daemon
            .write_file(&path, content, version, request_id)
            .await
            .map(|written| {
                Done::File(FileDone {
                    written,
                    health: None,
                })
            })?,
        Action::RestoreFile { path, backup_id } | Action::Rollback { path, backup_id } => daemon
            .restore_file(&path, &backup_id, "", request_id)
            .await
            .map(|written| {
                Done::File(FileDone {
                    written,
                    health: None,
                })
            })?,
        Action::ControlService { unit, verb } => daemon
            .control_service(&unit, verb.pb(), "", request_id)
            .await
            .map(Done::Service)?,
        Action::RecoveryRestart { unit } => daemon
            .control_service(&unit, pb::ServiceVerb::Restart, "", request_id)
            .await
            .map(Done::Service)?,
        Action::RunCommand { command, timeout_s } => daemon
            .execute(&command, timeout_s, request_id)
            .await
            .map(Done::Command)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_tool_and_safe_mode_none() {
        let t = |a: Action| a.tool().map(|(t, i)| (t, i.path, i.name));
        assert_eq!(t(Action::ExitSafeMode), None);
        assert_eq!(
            t(Action::RunCommand {
                command: "  sudo  systemctl restart x".into(),
                timeout_s: 0
            }),
            Some(("terminal_root", None, Some("systemctl".into())))
        );
        assert_eq!(
            t(Action::RunCommand {
                command: "sudoedit /etc/x".into(),
                timeout_s: 0
            }),
            Some(("terminal", None, Some("sudoedit".into())))
        );
        assert_eq!(
            t(Action::ControlService {
                unit: "nginx".into(),
                verb: ServiceVerb::Stop
            }),
            Some(("service_control", None, Some("nginx.service".into())))
        );
        assert_eq!(
            t(Action::Rollback {
                path: "/etc/a".into(),
                backup_id: "a.bak.1".into()
            }),
            Some(("rollback", Some("/etc/a".into()), None))
        );
        for (tool, _) in [
            Action::WriteFile {
                path: "/e".into(),
                content: String::new(),
                version: None,
                unit: None,
            },
            Action::RestoreFile {
                path: "/e".into(),
                backup_id: String::new(),
            },
            Action::RecoveryRestart { unit: "u".into() },
        ]
        .into_iter()
        .filter_map(|a| a.tool())
        {
            assert!(crate::policy::TOOLS.contains(&tool), "{tool} is documented");
        }
    }
}
