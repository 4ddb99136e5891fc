//! `/api/settings/recovery/*`: roll a file back, restart a unit, raise an alert, and the
//! recovery log with its limits (see [`crate::recovery`] for what each limit means).

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::services::ServiceActionResult;
use super::{ApiError, ApiJson, AppState, ErrorBody, RequestId};
use crate::bounds::{self, Bounded, Kind as Text};
use crate::events::{AlertData, Event};
use crate::recovery::{Limits, LimitsPatch, SEVERITIES};
use crate::time::iso8601;

/// The recovery limits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LimitsView {
    /// Consecutive rollbacks of one file, each one backup further back (1–50, default 5).
    pub max_rollback_depth: u32,
    /// Restarts of one unit through recovery within `backoff_minutes` (1–100, default 3).
    pub max_restart_attempts: u32,
    /// The window of `max_restart_attempts`, in minutes (0–1440, default 10).
    pub backoff_minutes: u32,
    /// The least time between two recovery actions on the same file or unit, in minutes
    /// (0–1440, default 1; 0 turns it off).
    pub throttle_minutes: u32,
}

fn limits_view(l: Limits) -> LimitsView {
    LimitsView {
        max_rollback_depth: l.max_rollback_depth,
        max_restart_attempts: l.max_restart_attempts,
        backoff_minutes: l.backoff_minutes,
        throttle_minutes: l.throttle_minutes,
    }
}

/// One recovery action and its outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionView {
    /// `rollback` or `restart_service`.
    pub action: String,
    /// The file or the unit.
    pub target: String,
    /// `ok`, `failed` (halbertd acted, it did not work), `refused` (by halbertd: polkit,
    /// safe mode, no such file or unit) or `limited` (by a limit, named in `limit`).
    pub outcome: String,
    pub message: String,
    /// ISO 8601 UTC.
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_restored: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    pub id: String,
    pub message: String,
    /// info, warning, error or critical.
    pub severity: String,
    /// ISO 8601 UTC.
    pub timestamp: Option<String>,
}

fn alert_view(a: crate::recovery::Alert) -> AlertView {
    AlertView {
        timestamp: iso8601(a.at),
        id: a.id,
        message: a.message,
        severity: a.severity,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryStatus {
    pub limits: LimitsView,
    /// The newest 50, newest first.
    pub recent_actions: Vec<ActionView>,
    /// The newest 20, newest first.
    pub alerts: Vec<AlertView>,
}

fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Recent recovery actions with their outcomes, the alerts, and the limits.
#[utoipa::path(get, path = "/api/settings/recovery/status", tag = "recovery",
    responses((status = 200, body = RecoveryStatus)))]
pub async fn status(State(st): State<AppState>) -> Result<Json<RecoveryStatus>, ApiError> {
    let r = st.recovery.clone();
    let (limits, actions, alerts) = super::blocking(move || {
        Ok::<_, crate::recovery::RecoveryError>((r.limits()?, r.actions(50)?, r.alerts(20)?))
    })
    .await??;
    Ok(Json(RecoveryStatus {
        limits: limits_view(limits),
        recent_actions: actions
            .into_iter()
            .map(|a| ActionView {
                action: enum_name(&a.kind),
                outcome: enum_name(&a.outcome),
                timestamp: iso8601(a.at),
                target: a.target,
                message: a.message,
                backup_restored: a.backup_restored,
                depth: a.depth,
                limit: a.limit,
            })
            .collect(),
        alerts: alerts.into_iter().map(alert_view).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsRequest {
    #[schema(minimum = 1, maximum = 50)]
    #[serde(default, deserialize_with = "bounds::whole_number")]
    pub max_rollback_depth: Option<u32>,
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "bounds::whole_number")]
    pub max_restart_attempts: Option<u32>,
    #[schema(minimum = 0, maximum = 1440)]
    #[serde(default, deserialize_with = "bounds::whole_number")]
    pub backoff_minutes: Option<u32>,
    #[schema(minimum = 0, maximum = 1440)]
    #[serde(default, deserialize_with = "bounds::whole_number")]
    pub throttle_minutes: Option<u32>,
}

impl Bounded for LimitsRequest {
    fn check_bounds(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Change some of the recovery limits (the others keep their value).
#[utoipa::path(put, path = "/api/settings/recovery/limits", tag = "recovery", request_body = LimitsRequest,
    responses(
        (status = 200, body = LimitsView),
        (status = 422, body = ErrorBody, description = "A limit out of its range"),
    ))]
pub async fn set_limits(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<LimitsRequest>,
) -> Result<Json<LimitsView>, ApiError> {
    let patch = LimitsPatch {
        max_rollback_depth: req.max_rollback_depth,
        max_restart_attempts: req.max_restart_attempts,
        backoff_minutes: req.backoff_minutes,
        throttle_minutes: req.throttle_minutes,
    };
    Ok(Json(limits_view(st.recovery.set_limits(patch).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    #[schema(
        max_length = 4096,
        pattern = r"^(/(?!\.\.?(/|$))[^/\u0000-\u001F\u007F-\u009F]{1,255})+$"
    )]
    pub file_path: String,
}

impl Bounded for RollbackRequest {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("file_path", &self.file_path, bounds::PATH_CHARS, Text::Line)?;
        if !self.file_path.starts_with('/') {
            return Err("file_path must be absolute".into());
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RollbackResult {
    pub status: String,
    pub success: bool,
    pub message: String,
    pub file_path: String,
    /// The backup written back.
    pub backup_restored: String,
    /// The backup of the content it replaced (restore it to undo the rollback).
    pub backup_id: Option<String>,
    /// How far back this rollback went: 1 is the content before the last write.
    pub depth: u32,
    /// The file's version now.
    pub version: String,
}

/// Roll a file back: the newest backup taken by a write is restored (one further back for
/// each consecutive rollback, up to `max_rollback_depth`), after a backup of the current
/// content. Needs polkit `org.halbert.config.write`; refused in safe mode (423).
#[utoipa::path(post, path = "/api/settings/recovery/rollback", tag = "recovery", request_body = RollbackRequest,
    responses(
        (status = 200, body = RollbackResult),
        (status = 403, body = ErrorBody, description = "polkit refused org.halbert.config.write, or the path is not one Halbert changes"),
        (status = 404, body = ErrorBody, description = "No backup to roll back to"),
        (status = 422, body = ErrorBody, description = "Not an absolute path"),
        (status = 423, body = ErrorBody, description = "Safe mode is on"),
        (status = 429, body = ErrorBody, description = "A limit refused it (`limit_reached`, the limit in `limit`)"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn rollback(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<RollbackRequest>,
) -> Result<Json<RollbackResult>, ApiError> {
    let r = st
        .recovery
        .rollback(&st.gate, &req.file_path, &rid.0)
        .await?;
    Ok(Json(RollbackResult {
        status: "ok".into(),
        success: true,
        message: format!(
            "rolled {} back to {} (step {} back)",
            r.path, r.backup_restored, r.depth
        ),
        file_path: r.path,
        backup_restored: r.backup_restored,
        backup_id: r.backup_made,
        depth: r.depth,
        version: r.version,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartRequest {
    /// A unit name; `nginx` means nginx.service.
    #[schema(
        min_length = 1,
        max_length = 247,
        pattern = r"^[A-Za-z0-9:_\\@][A-Za-z0-9:_.\\@-]{0,246}$"
    )]
    pub service: String,
}

impl Bounded for RestartRequest {
    fn check_bounds(&self) -> Result<(), String> {
        super::services::check_unit(&self.service)
    }
}

/// Restart a unit as recovery: as `POST /api/services/{name}/restart`, counted against
/// `max_restart_attempts` and `throttle_minutes`.
#[utoipa::path(post, path = "/api/settings/recovery/restart-service", tag = "recovery", request_body = RestartRequest,
    responses(
        (status = 200, body = ServiceActionResult),
        (status = 403, body = ErrorBody, description = "polkit refused org.halbert.service.manage"),
        (status = 404, body = ErrorBody, description = "No such unit"),
        (status = 422, body = ErrorBody, description = "Not a unit name"),
        (status = 423, body = ErrorBody, description = "Safe mode is on"),
        (status = 429, body = ErrorBody, description = "A limit refused it (`limit_reached`, the limit in `limit`)"),
        (status = 503, body = ErrorBody, description = "halbertd or systemd is unreachable"),
    ))]
pub async fn restart_service(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<RestartRequest>,
) -> Result<Json<ServiceActionResult>, ApiError> {
    let r = st.recovery.restart(&st.gate, &req.service, &rid.0).await?;
    Ok(Json(super::services::action_result(
        r,
        crate::actions::ServiceVerb::Restart,
    )))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRequest {
    /// Not blank; no control characters but tab and newlines.
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub message: String,
    /// info, warning (default), error or critical.
    #[serde(default)]
    #[schema(value_type = Option<super::schema::Severity>)]
    pub severity: Option<String>,
}

impl Bounded for AlertRequest {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("message", &self.message, 1000, Text::Text)?;
        if self.message.trim().is_empty() {
            return Err("message is empty".into());
        }
        match &self.severity {
            Some(s) if !SEVERITIES.contains(&s.as_str()) => {
                Err(format!("severity must be one of {}", SEVERITIES.join(", ")))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertResult {
    pub status: String,
    pub alert: AlertView,
}

/// Raise an alert: kept in the recovery log and sent to every `/ws` client as `alert`.
#[utoipa::path(post, path = "/api/settings/recovery/alert", tag = "recovery", request_body = AlertRequest,
    responses(
        (status = 200, body = AlertResult),
        (status = 422, body = ErrorBody, description = "An empty message or an unknown severity"),
    ))]
pub async fn alert(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<AlertRequest>,
) -> Result<Json<AlertResult>, ApiError> {
    let r = st.recovery.clone();
    let severity = req.severity.unwrap_or_else(|| "warning".into());
    let a = super::blocking(move || r.alert(req.message, severity)).await??;
    st.feed.broadcast(&Event::Alert(AlertData {
        id: a.id.clone(),
        message: a.message.clone(),
        severity: a.severity.clone(),
        timestamp: iso8601(a.at).unwrap_or_default(),
    }));
    Ok(Json(AlertResult {
        status: "ok".into(),
        alert: alert_view(a),
    }))
}
