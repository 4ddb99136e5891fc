//! `/api/settings/simulate/*`: what an action would do, without doing it — a file write (the
//! diff and the real validator on a private copy, run by halbertd), a command (the analyzer;
//! never run), a service restart (the plan from systemd) and a tool by name. The domain is
//! [`crate::simulate`]; these handlers only translate.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, AppState, ErrorBody, RequestId};
use crate::bounds::{self, Bounded, Kind};
use crate::simulate::{self, Simulation};

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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SimulationResult {
    pub status: String,
    pub simulation: Simulation,
}

fn ok(simulation: Simulation) -> Json<SimulationResult> {
    Json(SimulationResult {
        status: "ok".into(),
        simulation,
    })
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
    Ok(ok(simulate::command_result(
        &req.command,
        req.dry_run_flag.as_deref(),
    )))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileWriteRequest {
    #[schema(
        max_length = 4096,
        pattern = r"^(/(?!\.\.?(/|$))[^/\u0000-\u001F\u007F-\u009F]{1,255})+$"
    )]
    pub path: String,
    /// The whole proposed content, at most 524,288 characters.
    #[schema(max_length = 524288)]
    pub content: String,
}

impl Bounded for FileWriteRequest {
    fn check_bounds(&self) -> Result<(), String> {
        super::editor::check_file_body(&self.path, &self.content)
    }
}

/// The dry run of a file write: the unified diff current → proposed (a new file is all `+`)
/// and the verdict of the real validator for that kind of file (`sshd -t`, `visudo -c`,
/// `nginx -t`, `systemd-analyze verify`, ...), which halbertd runs sandboxed on a private copy.
/// The live file is never touched. A validator that is not installed is said so.
#[utoipa::path(post, path = "/api/settings/simulate/file-write", tag = "simulation", request_body = FileWriteRequest,
    responses(
        (status = 200, body = SimulationResult, description = "`success` is false when the validator rejects the content"),
        (status = 403, body = ErrorBody, description = "polkit refused org.halbert.config.write for the path, or the path is not one halbertd writes"),
        (status = 404, body = ErrorBody, description = "The file's directory does not exist"),
        (status = 422, body = ErrorBody, description = "A path or content out of its bounds"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn file_write(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<FileWriteRequest>,
) -> Result<Json<SimulationResult>, ApiError> {
    super::editor::check_path(&req.path)?;
    Ok(ok(simulate::file_write(
        &st.daemon,
        &req.path,
        &req.content,
        &rid.0,
    )
    .await?))
}

/// The plan of a restart: stop → start, the units systemd stops with it, warnings for units
/// whose restart cuts off the admin (sshd, dbus, networking, halbertd itself) and the downtime
/// its last start took. Nothing is restarted.
#[utoipa::path(post, path = "/api/settings/simulate/service-restart", tag = "simulation", request_body = super::recovery::RestartRequest,
    responses(
        (status = 200, body = SimulationResult),
        (status = 404, body = ErrorBody, description = "No such unit"),
        (status = 422, body = ErrorBody, description = "Not a unit name"),
        (status = 503, body = ErrorBody, description = "halbertd or systemd is unreachable"),
    ))]
pub async fn service_restart(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<super::recovery::RestartRequest>,
) -> Result<Json<SimulationResult>, ApiError> {
    Ok(ok(
        simulate::service_restart(&st.daemon, &req.service).await?
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SimulateToolRequest)]
pub struct ToolRequest {
    /// write_config, schedule_cron, service_control, restart_service, terminal or
    /// terminal_root; another name is `success: false`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$"
    )]
    pub tool: String,
    /// The tool's arguments: write_config `{path, content}` or `{path, changes}`;
    /// schedule_cron `{name, schedule, command}`; service_control `{service, action}`;
    /// terminal `{command, dry_run_flag?}`.
    #[schema(value_type = Object)]
    pub args: serde_json::Value,
}

impl Bounded for ToolRequest {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("tool", &self.tool, 64, Kind::Line)?;
        if self.tool.is_empty() {
            return Err("tool must not be empty".into());
        }
        if !self.args.is_object() {
            return Err("args must be an object".into());
        }
        let size = serde_json::to_string(&self.args).map_or(0, |s| s.len());
        if size > 600_000 {
            return Err("args are larger than 600,000 bytes".into());
        }
        Ok(())
    }
}

/// A tool's dry run, dispatched by name. `write_config` merges `changes` into the file (YAML
/// and JSON deeply, INI and systemd units per section and key, keeping key case and comments)
/// or takes `content`, then diffs and validates; `schedule_cron` shows the crontab before and
/// after. An unknown tool or bad arguments are `success: false` with `error`.
#[utoipa::path(post, path = "/api/settings/simulate/tool", tag = "simulation", request_body = ToolRequest,
    responses(
        (status = 200, body = SimulationResult),
        (status = 403, body = ErrorBody, description = "halbertd refused (polkit, the path rules)"),
        (status = 404, body = ErrorBody, description = "The file's directory, or the unit, does not exist"),
        (status = 422, body = ErrorBody, description = "A request out of its bounds"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn tool(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<ToolRequest>,
) -> Result<Json<SimulationResult>, ApiError> {
    Ok(ok(simulate::tool(
        &st.daemon,
        req.tool.trim(),
        &req.args,
        &rid.0,
    )
    .await?))
}
