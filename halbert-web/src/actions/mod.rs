//! Everything a person (or, later, a model) may ask Halbert to change, as one type
//! ([`Action`]), and the one function every mutating route calls ([`perform`]). halbert-web
//! decides here, before halbertd is asked: the user's policy ([`crate::policy`]) judges each
//! action by its tool name and inputs, and a denial names the rule. The approvals of the
//! safety gate hook in here too, so that no route reaches the daemon's mutating calls on its
//! own.

use std::sync::Arc;

use halbert_proto::v1 as pb;

use crate::daemon::{Daemon, DaemonError};
use crate::policy::store::PolicyStore;
use crate::policy::{Context, Decision, Inputs};

/// What every action passes: the user's policy, then halbertd.
#[derive(Debug, Clone)]
pub struct Gate {
    pub daemon: Daemon,
    pub policy: Arc<PolicyStore>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ActionError {
    /// The user's policy does not allow it.
    #[error("{}", .0.reason)]
    Denied(Decision),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// A change someone asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    EnterSafeMode {
        reason: String,
    },
    ExitSafeMode,
    /// Replace a configuration file; with `version`, only if it is still at that version.
    WriteFile {
        path: String,
        content: String,
        version: Option<String>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// A short name for logs and, later, approvals.
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

/// What halbertd answered to an action.
#[derive(Debug, Clone)]
pub enum Done {
    SafeMode(pb::SafeModeChange),
    File(pb::FileWritten),
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
        match self {
            Done::File(w) => Ok(w),
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

/// Performs `action`: the user's policy first, then halbertd; `request_id` ties its audit
/// record to the request.
pub async fn perform(gate: &Gate, action: Action, request_id: &str) -> Result<Done, ActionError> {
    if let Some((tool, inputs)) = action.tool() {
        let d = gate.policy.decide(tool, &inputs, &Context::now());
        if !d.allow {
            tracing::warn!(action = action.kind(), tool, rule = %d.rule, reason = %d.reason, request_id, "denied by the user's policy");
            return Err(ActionError::Denied(d));
        }
    }
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
        } => daemon
            .write_file(&path, content, version, request_id)
            .await
            .map(Done::File)?,
        Action::RestoreFile { path, backup_id } | Action::Rollback { path, backup_id } => daemon
            .restore_file(&path, &backup_id, request_id)
            .await
            .map(Done::File)?,
        Action::ControlService { unit, verb } => daemon
            .control_service(&unit, verb.pb(), request_id)
            .await
            .map(Done::Service)?,
        Action::RecoveryRestart { unit } => daemon
            .control_service(&unit, pb::ServiceVerb::Restart, request_id)
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
