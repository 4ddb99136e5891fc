//! `/api/settings/simulate/*`: what an action would do, without doing it. Today
//! `POST /api/settings/simulate/command` (the command analyzer, [`crate::simulate::command`]);
//! the other dry runs come with the rest of the safety gate.

use axum::Json;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, ErrorBody};
use crate::bounds::{self, Bounded};
use crate::simulate::command::{self, Severity};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// A shell line, as typed at the terminal. It is never run.
    #[schema(
        min_length = 1,
        max_length = 8192,
        pattern = r"^[^\u0000]*\S[^\u0000]*$"
    )]
    pub command: String,
    /// A flag the program takes for a dry run (`--dry-run`); it only goes into
    /// `commands_to_run`.
    #[serde(default)]
    #[schema(max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub dry_run_flag: Option<String>,
}

impl Bounded for CommandRequest {
    fn check_bounds(&self) -> Result<(), String> {
        if self.command.chars().count() > 8192 {
            return Err("command is longer than 8192 characters".into());
        }
        if bounds::blank(&self.command) || self.command.contains('\0') {
            return Err("command is empty or contains a NUL character".into());
        }
        bounds::opt_line("dry_run_flag", &self.dry_run_flag, 64)
    }
}

/// One change an action makes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeView {
    /// `command` here.
    #[serde(rename = "type")]
    pub kind: String,
    pub command: String,
    /// The programs it would start.
    pub programs: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Simulation {
    /// Whether the analysis could be made (a line a shell would not take is `false`, with
    /// `error`).
    pub success: bool,
    pub action: String,
    pub changes: Vec<ChangeView>,
    /// What could do harm, destructive first.
    pub warnings: Vec<String>,
    /// Whether Halbert could undo it (never, for a command).
    pub reversible: bool,
    pub rollback_strategy: String,
    /// Unknown for a command.
    pub estimated_duration_s: Option<f64>,
    /// What would be run, with the dry-run flag when one was given. Nothing is run.
    pub commands_to_run: Vec<String>,
    /// `destructive` when a warning is of that kind, else `warning` or `none`.
    pub risk: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SimulationResult {
    pub status: String,
    pub simulation: Simulation,
}

/// What a command would start and what in it can destroy, read as a shell reads it. The
/// command is never run.
#[utoipa::path(post, path = "/api/settings/simulate/command", tag = "simulation", request_body = CommandRequest,
    responses(
        (status = 200, body = SimulationResult),
        (status = 422, body = ErrorBody, description = "An empty command, a NUL in it, or a dry-run flag out of its bounds"),
    ))]
pub async fn command(
    ApiJson(req): ApiJson<CommandRequest>,
) -> Result<Json<SimulationResult>, ApiError> {
    let line = req.command.trim().to_owned();
    let to_run = match req
        .dry_run_flag
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        Some(flag) => format!("{line} {flag}"),
        None => line.clone(),
    };
    let simulation = match command::analyze(&line) {
        Ok(mut a) => {
            a.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
            let risk = match a.findings.first().map(|f| f.severity) {
                Some(Severity::Destructive) => "destructive",
                Some(Severity::Warning) => "warning",
                None => "none",
            };
            Simulation {
                success: true,
                action: format!("Run command: {line}"),
                changes: vec![ChangeView {
                    kind: "command".into(),
                    command: line.clone(),
                    programs: a.programs,
                }],
                warnings: a.findings.into_iter().map(|f| f.text).collect(),
                reversible: false,
                rollback_strategy: "none: Halbert cannot undo what a command does".into(),
                estimated_duration_s: None,
                commands_to_run: vec![to_run],
                risk: risk.into(),
                error: None,
            }
        }
        Err(e) => Simulation {
            success: false,
            action: format!("Run command: {line}"),
            changes: Vec::new(),
            warnings: Vec::new(),
            reversible: false,
            rollback_strategy: String::new(),
            estimated_duration_s: None,
            commands_to_run: Vec::new(),
            risk: "unknown".into(),
            error: Some(format!("not a line a shell would take: {e}")),
        },
    };
    Ok(Json(SimulationResult {
        status: "ok".into(),
        simulation,
    }))
}
