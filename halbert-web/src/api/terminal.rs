//! `/api/terminal/*`: run what the person typed (as that person, `sudo ` as root after polkit)
//! and their history. Runs go through [`crate::actions::perform`] via [`crate::terminal`].

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, ApiQuery, AppState, ErrorBody, RequestId};
use crate::bounds::{self, Bounded};
use crate::time::iso8601;

/// The longest command taken (halbertd's own limit is 8192 bytes).
pub const MAX_COMMAND_CHARS: usize = 8192;
pub const MAX_TIMEOUT_S: u32 = 300;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// A shell line, run by `/bin/sh -c` as you; `sudo ` first runs the rest as root (polkit
    /// `org.halbert.exec.root`).
    #[schema(
        min_length = 1,
        max_length = 8192,
        pattern = r"^[^\u0000]*\S[^\u0000]*$"
    )]
    pub command: String,
    /// Seconds, 1–300 (default 30). On timeout every process the command started is killed.
    #[serde(default, deserialize_with = "bounds::whole_number")]
    #[schema(minimum = 1, maximum = 300)]
    pub timeout_s: Option<u32>,
}

impl Bounded for ExecuteRequest {
    fn check_bounds(&self) -> Result<(), String> {
        if self.command.chars().count() > MAX_COMMAND_CHARS {
            return Err(format!(
                "command is longer than {MAX_COMMAND_CHARS} characters"
            ));
        }
        if bounds::blank(&self.command) {
            return Err("command is empty".into());
        }
        if self.command.contains('\0') {
            return Err("command contains a NUL character".into());
        }
        match self.timeout_s {
            Some(t) if !(1..=MAX_TIMEOUT_S).contains(&t) => {
                Err(format!("timeout_s must be between 1 and {MAX_TIMEOUT_S}"))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExecuteResult {
    /// stdout, at most 1 MiB.
    pub output: String,
    /// stderr, at most 1 MiB, and what Halbert has to add (a timeout, dropped output).
    pub error: String,
    /// The shell's exit code; -1 on timeout; 128+n when signal n ended it.
    pub exit_code: i32,
    /// Output beyond 1 MiB per stream was dropped.
    pub truncated: bool,
    pub duration_ms: u64,
}

/// Run a command as yourself. Needs polkit `org.halbert.exec.self` (allowed by default), or
/// `org.halbert.exec.root` after `sudo `; refused in safe mode (423). A command that fails is
/// still a 200, with its exit code.
#[utoipa::path(post, path = "/api/terminal/execute", tag = "terminal", request_body = ExecuteRequest,
    responses(
        (status = 200, body = ExecuteResult),
        (status = 403, body = ErrorBody, description = "polkit refused (the action is named)"),
        (status = 422, body = ErrorBody, description = "An empty command, `sudo` without one or with options, or a timeout out of 1–300"),
        (status = 423, body = ErrorBody, description = "Safe mode is on"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn execute(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<ExecuteRequest>,
) -> Result<Json<ExecuteResult>, ApiError> {
    let r = st
        .terminal
        .run(&st.gate, req.command, req.timeout_s.unwrap_or(0), &rid.0)
        .await?;
    Ok(Json(ExecuteResult {
        output: r.output,
        error: r.error,
        exit_code: r.exit_code,
        truncated: r.truncated,
        duration_ms: r.duration_ms,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// How many runs, newest first (1–500, default 50).
    #[serde(default)]
    #[param(value_type = u32, required = false, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryItem {
    pub command: String,
    pub exit_code: i32,
    pub duration_ms: u64,
    /// Run after `sudo `.
    pub as_root: bool,
    /// ISO 8601 UTC.
    pub timestamp: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    /// Newest first.
    pub history: Vec<HistoryItem>,
}

/// Your commands, newest first (the last 500 are kept; the output is not).
#[utoipa::path(get, path = "/api/terminal/history", tag = "terminal", params(HistoryQuery),
    responses(
        (status = 200, body = HistoryView),
        (status = 400, body = ErrorBody, description = "`limit` is not a number (`invalid_query`)"),
        (status = 422, body = ErrorBody, description = "`limit` out of 1–500"),
    ))]
pub async fn history(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryView>, ApiError> {
    let n = super::query_number("limit", q.limit.as_deref(), 1, 500, 50)? as usize;
    let t = st.terminal.clone();
    let items = super::blocking(move || t.history(n)).await??;
    Ok(Json(HistoryView {
        history: items
            .into_iter()
            .map(|h| HistoryItem {
                timestamp: iso8601(h.at),
                command: h.command,
                exit_code: h.exit_code,
                duration_ms: h.duration_ms,
                as_root: h.as_root,
            })
            .collect(),
    }))
}
