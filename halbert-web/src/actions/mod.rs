//! Everything a person (or, later, a model) may ask Halbert to change, as one type
//! ([`Action`]), and the one function every mutating route calls ([`perform`]). halbert-web
//! decides here, before halbertd is asked; today that is nothing beyond passing the request on
//! with its request id, and the approval and policy checks of the safety gate hook in here, so
//! that no route reaches the daemon's mutating calls on its own.

use halbert_proto::v1 as pb;

use crate::daemon::{Daemon, DaemonError};

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
        }
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

/// Performs `action` through halbertd; `request_id` ties its audit record to the request.
pub async fn perform(
    daemon: &Daemon,
    action: Action,
    request_id: &str,
) -> Result<Done, DaemonError> {
    tracing::info!(action = action.kind(), request_id, "performing");
    match action {
        Action::EnterSafeMode { reason } => daemon
            .enter_safe_mode(reason, request_id)
            .await
            .map(Done::SafeMode),
        Action::ExitSafeMode => daemon.exit_safe_mode(request_id).await.map(Done::SafeMode),
        Action::WriteFile {
            path,
            content,
            version,
        } => daemon
            .write_file(&path, content, version, request_id)
            .await
            .map(Done::File),
        Action::RestoreFile { path, backup_id } => daemon
            .restore_file(&path, &backup_id, request_id)
            .await
            .map(Done::File),
        Action::ControlService { unit, verb } => daemon
            .control_service(&unit, verb.pb(), request_id)
            .await
            .map(Done::Service),
        Action::RunCommand { command, timeout_s } => daemon
            .execute(&command, timeout_s, request_id)
            .await
            .map(Done::Command),
    }
}
