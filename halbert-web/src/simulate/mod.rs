//! Simulation: what an action would do, found without doing it — the one shape
//! ([`Simulation`]) the simulate routes answer with, approvals hold and the gate checks.
//!
//! - a file write: the unified diff current → proposed ([`diff`]) and the real validator for
//!   that kind of file, run by halbertd on a private copy ([`file_write`]);
//! - a command: the analyzer's programs and destructive patterns ([`command`]); never run;
//! - a service restart: the steps, the units systemd stops with it, the units whose restart
//!   cuts off the admin, and the downtime its last start took ([`service_restart`]);
//! - a tool by name, `write_config`'s merge ([`merge`]) and `schedule_cron` among them
//!   ([`tool`]).

pub mod command;
pub mod cron;
pub mod diff;
pub mod merge;

use halbert_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::daemon::{Daemon, DaemonError};

/// The result of a dry run (the contract's fields, plus `validation` and the earlier
/// version's extras).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Simulation {
    /// Whether the action would go through: false when the validator rejects the file, the
    /// line is not one a shell would take, or the tool is unknown (then `error` says why).
    pub success: bool,
    pub action: String,
    pub changes: Vec<Change>,
    /// What could do harm or surprise, the worst first.
    pub warnings: Vec<String>,
    /// Whether Halbert can undo it.
    pub reversible: bool,
    pub rollback_strategy: String,
    /// Null when nothing tells (a command).
    pub estimated_duration_s: Option<f64>,
    /// What would be run, with a dry-run flag when one was given. Nothing is run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands_to_run: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected_services: Vec<String>,
    /// `destructive`, `warning`, `none` or `unknown`.
    pub risk: String,
    /// The validator's verdict, for a file write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    /// Tool-specific results (`write_config`: `{diff, applied}`; `schedule_cron`: `{entry,
    /// installed, diff}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub outputs: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One change an action makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    /// `file_create`, `file_modify`, `command`, `service_stop`, `service_start`,
    /// `crontab_modify`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Unified diff, current → proposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The programs a command would start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

impl Simulation {
    /// A simulation of `action` that says nothing yet: no changes, no warnings, not reversible,
    /// risk `none`; each dry run fills in what it found.
    fn of(action: String) -> Self {
        Self {
            success: true,
            action,
            changes: Vec::new(),
            warnings: Vec::new(),
            reversible: false,
            rollback_strategy: String::new(),
            estimated_duration_s: None,
            commands_to_run: Vec::new(),
            affected_files: Vec::new(),
            affected_services: Vec::new(),
            risk: "none".into(),
            validation: None,
            outputs: None,
            error: None,
        }
    }
}

impl Change {
    fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            path: None,
            diff: None,
            command: None,
            programs: None,
            unit: None,
        }
    }
}

/// What the validator for a file's kind said of the proposed content (run by halbertd on a
/// private copy, sandboxed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Validation {
    /// `sshd`, `visudo`, `nginx`, `systemd-analyze`, `yaml`, ...; empty when none applies.
    pub validator: String,
    /// `passed`, `failed`, `not_installed`, `no_validator` or `timed_out`.
    pub status: String,
    /// As run, on the private copy.
    pub argv: Vec<String>,
    pub exit_code: Option<i32>,
    pub output: String,
    pub duration_ms: f64,
    /// `transient-unit` (sandboxed), `direct` (no systemd), `halbertd` (a syntax check) or
    /// `none`.
    pub runner: String,
}

impl Validation {
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "timed_out")
    }
}

impl From<pb::FileValidation> for Validation {
    fn from(v: pb::FileValidation) -> Self {
        Self {
            validator: v.validator,
            status: v.verdict,
            argv: v.argv,
            exit_code: v.exit_code,
            output: v.output,
            duration_ms: v.duration_us as f64 / 1000.0,
            runner: v.runner,
        }
    }
}

/// The dry run of writing `content` to `path`: the diff against what is there now (a new
/// file is all `+`) and the validator's verdict on it.
pub async fn file_write(
    daemon: &Daemon,
    path: &str,
    content: &str,
    request_id: &str,
) -> Result<Simulation, DaemonError> {
    let current = match daemon.read_file(path).await {
        Ok(f) => Some(f.content),
        Err(DaemonError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let validation: Validation = daemon
        .validate_file(path, content.to_owned(), request_id)
        .await?
        .into();
    Ok(file_write_result(
        path,
        current.as_deref(),
        content,
        validation,
    ))
}

/// The simulation of a write from its parts (the diff is made here).
pub fn file_write_result(
    path: &str,
    current: Option<&str>,
    content: &str,
    validation: Validation,
) -> Simulation {
    let diff = diff::unified(
        current.unwrap_or_default(),
        content,
        if current.is_some() { path } else { "/dev/null" },
        path,
    );
    let mut change = Change::new(if current.is_some() {
        "file_modify"
    } else {
        "file_create"
    });
    change.path = Some(path.to_owned());
    change.diff = Some(diff.clone());
    let mut warnings = Vec::new();
    let failed = validation.failed();
    let validation_name = validation.validator.clone();
    match validation.status.as_str() {
        "failed" => warnings.push(format!(
            "{} rejects the proposed content{}: {}",
            validation.validator,
            validation
                .exit_code
                .map_or_else(String::new, |c| format!(" (exit {c})")),
            first_lines(&validation.output, 6)
        )),
        "timed_out" => warnings.push(format!(
            "{} did not finish, so the content was not validated",
            validation.validator
        )),
        "not_installed" => warnings.push(format!(
            "{} is not installed here, so the content was not validated",
            validation.validator
        )),
        "no_validator" => {
            warnings.push("no validator knows this kind of file; review the diff".into())
        }
        _ => {}
    }
    if diff.is_empty() {
        warnings.push("the proposed content is the same as the current content".into());
    }
    Simulation {
        success: !failed,
        changes: vec![change],
        risk: if failed {
            "destructive"
        } else if warnings.is_empty() {
            "none"
        } else {
            "warning"
        }
        .into(),
        warnings,
        reversible: true,
        rollback_strategy: if current.is_some() {
            format!("Restore {path} from the backup taken before the write")
        } else {
            format!("Remove {path} (it does not exist yet)")
        },
        estimated_duration_s: Some(0.1),
        affected_files: vec![path.to_owned()],
        validation: Some(validation),
        error: failed.then(|| format!("{} rejects the proposed content", validation_name)),
        ..Simulation::of(format!("Write file: {path}"))
    }
}

fn first_lines(s: &str, n: usize) -> String {
    let v: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).take(n).collect();
    v.join(" | ")
}

/// Units whose restart cuts off the person doing it, or Halbert itself.
const CUTS_OFF: &[(&str, &str)] = &[
    ("ssh.service", "remote shells (sshd) go down with it"),
    ("sshd.service", "remote shells (sshd) go down with it"),
    (
        "dbus.service",
        "the system bus goes down: logins, polkit and halbertd lose it",
    ),
    (
        "dbus-broker.service",
        "the system bus goes down: logins, polkit and halbertd lose it",
    ),
    (
        "NetworkManager.service",
        "the network may drop, and remote sessions with it",
    ),
    (
        "systemd-networkd.service",
        "the network may drop, and remote sessions with it",
    ),
    (
        "networking.service",
        "the network may drop, and remote sessions with it",
    ),
    (
        "systemd-resolved.service",
        "name resolution stops while it restarts",
    ),
    (
        "polkit.service",
        "authorization stops while it restarts: actions are refused",
    ),
    (
        "halbertd.service",
        "Halbert's own daemon: the dashboard loses it until it is back",
    ),
    (
        "halbertd.socket",
        "Halbert's own daemon: the dashboard loses it until it is back",
    ),
];

/// The plan of restarting `unit`: stop → start, what systemd stops with it, warnings for units
/// whose restart cuts off the admin, and the downtime its last start took.
pub async fn service_restart(daemon: &Daemon, unit: &str) -> Result<Simulation, DaemonError> {
    let plan = daemon.service_plan(unit).await?;
    Ok(restart_result(&plan))
}

pub fn restart_result(plan: &pb::ServicePlan) -> Simulation {
    let u = &plan.unit;
    let mut stop = Change::new("service_stop");
    stop.unit = Some(u.clone());
    let mut start = Change::new("service_start");
    start.unit = Some(u.clone());
    let mut warnings = Vec::new();
    let mut cut = false;
    for (name, why) in CUTS_OFF {
        if u == name || plan.dependents.iter().any(|d| d.unit == *name) {
            warnings.push(format!("restarting {u} affects {name}: {why}"));
            cut = true;
        }
    }
    let active: Vec<&str> = plan
        .dependents
        .iter()
        .filter(|d| d.active_state == "active")
        .map(|d| d.unit.as_str())
        .collect();
    if !active.is_empty() {
        warnings.push(format!(
            "systemd also stops and starts {} unit(s) with it: {}",
            active.len(),
            active.join(", ")
        ));
    }
    if plan.active_state != "active" {
        warnings.push(format!(
            "{u} is {} now; a restart starts it",
            if plan.active_state.is_empty() {
                "in an unknown state"
            } else {
                &plan.active_state
            }
        ));
    }
    let estimate = plan.last_start_us.map(|us| us as f64 / 1e6);
    if estimate.is_none() {
        warnings.push(format!(
            "systemd has no record of {u}'s last start, so the downtime is not known"
        ));
    }
    let mut affected = vec![u.clone()];
    affected.extend(plan.dependents.iter().map(|d| d.unit.clone()));
    Simulation {
        success: true,
        action: format!("Restart service: {u}"),
        changes: vec![stop, start],
        risk: if cut {
            "destructive"
        } else if warnings.is_empty() {
            "none"
        } else {
            "warning"
        }
        .into(),
        warnings,
        reversible: true,
        rollback_strategy: format!("Start {u} again if it does not come back"),
        estimated_duration_s: estimate,
        commands_to_run: Vec::new(),
        affected_files: Vec::new(),
        affected_services: affected,
        validation: None,
        outputs: None,
        error: None,
    }
}

/// A simulation that could not be made, with why.
pub fn refused(action: String, error: String) -> Simulation {
    Simulation {
        success: false,
        risk: "unknown".into(),
        error: Some(error),
        ..Simulation::of(action)
    }
}

/// The dry run of `line` as the analyzer reads it (never run); `flag` only goes into
/// `commands_to_run`.
pub fn command_result(line: &str, flag: Option<&str>) -> Simulation {
    let line = line.trim();
    let to_run = match flag.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => format!("{line} {f}"),
        None => line.to_owned(),
    };
    match command::analyze(line) {
        Ok(mut a) => {
            a.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
            let risk = match a.findings.first().map(|f| f.severity) {
                Some(command::Severity::Destructive) => "destructive",
                Some(command::Severity::Warning) => "warning",
                None => "none",
            };
            let mut c = Change::new("command");
            c.command = Some(line.to_owned());
            c.programs = Some(a.programs);
            Simulation {
                changes: vec![c],
                warnings: a.findings.into_iter().map(|f| f.text).collect(),
                rollback_strategy: "none: Halbert cannot undo what a command does".into(),
                commands_to_run: vec![to_run],
                risk: risk.into(),
                ..Simulation::of(format!("Run command: {line}"))
            }
        }
        Err(e) => refused(
            format!("Run command: {line}"),
            format!("not a line a shell would take: {e}"),
        ),
    }
}

/// Why a tool's arguments were refused.
fn arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, String> {
    args.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("args.{key} is required (a non-empty string)"))
}

/// The tools `POST /api/settings/simulate/tool` knows.
pub const SIM_TOOLS: &[&str] = &[
    "write_config",
    "schedule_cron",
    "service_control",
    "restart_service",
    "terminal",
    "terminal_root",
];

/// Dispatches a dry run by tool name; an unknown tool or bad arguments are
/// `success: false` with `error`, while halbertd's refusals are errors.
pub async fn tool(
    daemon: &Daemon,
    name: &str,
    args: &Value,
    request_id: &str,
) -> Result<Simulation, DaemonError> {
    let bad = |e: String| Ok(refused(format!("Tool: {name}"), e));
    match name {
        "write_config" => {
            let path = match arg(args, "path") {
                Ok(p) => p.to_owned(),
                Err(e) => return bad(e),
            };
            let current = match daemon.read_file(&path).await {
                Ok(f) => Some(f.content),
                Err(DaemonError::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            let proposed = match (args.get("content"), args.get("changes")) {
                (Some(Value::String(c)), None) => c.clone(),
                (None, Some(changes)) => {
                    let Some(kind) = merge::kind_of(&path) else {
                        return bad(format!("{path}: changes merge into YAML, JSON, INI files and systemd units; give content for other files"));
                    };
                    match merge::merge(kind, current.as_deref().unwrap_or_default(), changes) {
                        Ok(t) => t,
                        Err(e) => return bad(format!("{path}: {e}")),
                    }
                }
                _ => return bad("write_config takes args.path and either args.content (a string) or args.changes".into()),
            };
            let validation: Validation = daemon
                .validate_file(&path, proposed.clone(), request_id)
                .await?
                .into();
            let mut s = file_write_result(&path, current.as_deref(), &proposed, validation);
            let diff = s
                .changes
                .first()
                .and_then(|c| c.diff.clone())
                .unwrap_or_default();
            s.outputs = Some(serde_json::json!({"diff": diff, "applied": false}));
            Ok(s)
        }
        "schedule_cron" => {
            let (n, sch, cmd) = match (
                arg(args, "name"),
                arg(args, "schedule"),
                arg(args, "command"),
            ) {
                (Ok(n), Ok(s), Ok(c)) => (n, s, c),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return bad(e),
            };
            let current = daemon.crontab().await?;
            Ok(match cron::schedule(&current, n, sch, cmd) {
                Ok(plan) => cron::result(&plan, cmd),
                Err(e) => refused(format!("Schedule cron job: {n}"), e),
            })
        }
        "service_control" | "restart_service" => {
            let unit = match args
                .get("service")
                .or_else(|| args.get("unit"))
                .and_then(Value::as_str)
            {
                Some(u) if !u.trim().is_empty() => u.to_owned(),
                _ => return bad("args.service is required (a unit name)".into()),
            };
            let verb = args
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or("restart");
            match verb {
                "restart" => service_restart(daemon, &unit).await,
                "start" | "stop" => {
                    let plan = daemon.service_plan(&unit).await?;
                    let mut s = restart_result(&plan);
                    s.action = format!(
                        "{} service: {}",
                        if verb == "start" { "Start" } else { "Stop" },
                        plan.unit
                    );
                    s.changes.retain(|c| {
                        c.kind
                            == if verb == "start" {
                                "service_start"
                            } else {
                                "service_stop"
                            }
                    });
                    Ok(s)
                }
                other => bad(format!(
                    "args.action must be start, stop or restart, not {other:?}"
                )),
            }
        }
        "terminal" | "terminal_root" => match arg(args, "command") {
            Ok(c) => {
                let line = if name == "terminal_root" {
                    format!("sudo {c}")
                } else {
                    c.to_owned()
                };
                Ok(command_result(
                    &line,
                    args.get("dry_run_flag").and_then(Value::as_str),
                ))
            }
            Err(e) => bad(e),
        },
        other => bad(format!(
            "unknown tool {other:?}; known: {}",
            SIM_TOOLS.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation(
        validator: &str,
        status: &str,
        exit_code: Option<i32>,
        output: &str,
    ) -> Validation {
        Validation {
            validator: validator.into(),
            status: status.into(),
            argv: Vec::new(),
            exit_code,
            output: output.into(),
            duration_ms: 0.0,
            runner: "halbertd".into(),
        }
    }

    /// A rejection names the validator and its first lines; an exit code only where a program
    /// ran (a syntax check once said "exit none").
    #[test]
    fn a_rejection_says_who_rejected_and_how() {
        let s = file_write_result(
            "/etc/a.json",
            Some("{}\n"),
            "{\n",
            validation("json", "failed", None, "EOF while parsing"),
        );
        assert!(!s.success);
        assert_eq!(
            s.warnings,
            ["json rejects the proposed content: EOF while parsing"]
        );
        assert_eq!(
            s.error.as_deref(),
            Some("json rejects the proposed content")
        );
        let s = file_write_result(
            "/etc/ssh/sshd_config",
            Some("Port 22\n"),
            "Bogus yes\n",
            validation(
                "sshd",
                "failed",
                Some(255),
                "line 1: Bad configuration option: Bogus\n\nterminating",
            ),
        );
        assert_eq!(
            s.warnings,
            [
                "sshd rejects the proposed content (exit 255): line 1: Bad configuration option: Bogus | terminating"
            ]
        );
        let s = file_write_result(
            "/etc/x",
            None,
            "a\n",
            validation("", "no_validator", None, ""),
        );
        assert!(s.success && s.changes[0].kind == "file_create", "{s:?}");
        assert_eq!(
            s.warnings,
            ["no validator knows this kind of file; review the diff"]
        );
    }
}
