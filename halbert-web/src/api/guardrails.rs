//! `/api/settings/guardrails/*`: safe mode and the guardrail settings.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, AppState, ErrorBody, RequestId};
use crate::actions::{Action, perform};
use crate::config::GuardrailsConfig;
use crate::time::iso8601;
use halbert_proto::v1 as pb;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GuardrailsStatus {
    /// Always `ok` on success.
    pub status: String,
    pub safe_mode_active: bool,
    pub config: super::views::GuardrailsConfig,
    /// Why safe mode is on (absent when it is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When safe mode was entered, ISO 8601 UTC (absent when it is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Uid of whoever last changed safe mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_by_uid: Option<u32>,
    /// On enter/exit: whether this call changed anything (a repeated call does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterSafeModeRequest {
    /// Shown to everyone whose change safe mode refuses. Default "Manual activation".
    #[serde(default)]
    #[schema(max_length = 500, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub reason: Option<String>,
}

impl crate::bounds::Bounded for EnterSafeModeRequest {
    fn check_bounds(&self) -> Result<(), String> {
        // halbertd decides what a reason may be (500 characters, one line); the same bound
        // here answers a longer one without asking it, and is what the description states.
        crate::bounds::opt_line("reason", &self.reason, 500)
    }
}

fn view(cfg: GuardrailsConfig, s: pb::GuardrailsState, changed: Option<bool>) -> GuardrailsStatus {
    let active = s.safe_mode_active;
    GuardrailsStatus {
        status: "ok".into(),
        safe_mode_active: active,
        config: cfg.into(),
        reason: active.then_some(s.reason),
        since: if active { iso8601(s.since_unix) } else { None },
        changed_by_uid: (s.changed_by_uid != 0 || active).then_some(s.changed_by_uid),
        changed,
    }
}

/// Safe mode and guardrail settings.
#[utoipa::path(get, path = "/api/settings/guardrails/status", tag = "guardrails",
    responses(
        (status = 200, body = GuardrailsStatus),
        (status = 403, body = ErrorBody, description = "Refused by the web guard, or not in group halbert"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn status(State(st): State<AppState>) -> Result<Json<GuardrailsStatus>, ApiError> {
    let s = st.daemon.guardrails().await?;
    Ok(Json(view(st.guardrails, s, None)))
}

/// Enter safe mode: halbertd then refuses every change until it is exited. Idempotent: a
/// second call keeps the first reason and answers `changed: false`. Needs polkit action
/// `org.halbert.guardrails.manage`.
#[utoipa::path(post, path = "/api/settings/guardrails/safe-mode/enter", tag = "guardrails",
    request_body = EnterSafeModeRequest,
    responses(
        (status = 200, body = GuardrailsStatus),
        (status = 400, body = ErrorBody, description = "Malformed JSON"),
        (status = 403, body = ErrorBody, description = "polkit refused org.halbert.guardrails.manage (named in `action`)"),
        (status = 422, body = ErrorBody, description = "Wrong field types, or a reason that is too long or has control characters"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn enter(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    ApiJson(req): ApiJson<EnterSafeModeRequest>,
) -> Result<Json<GuardrailsStatus>, ApiError> {
    let reason = req
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "Manual activation".into());
    let ch = perform(&st.gate, Action::EnterSafeMode { reason }, &rid.0)
        .await?
        .safe_mode()?;
    Ok(Json(view(
        st.guardrails,
        ch.state.unwrap_or_default(),
        Some(ch.changed),
    )))
}

/// Exit safe mode. Idempotent. Needs polkit action `org.halbert.guardrails.manage`.
#[utoipa::path(post, path = "/api/settings/guardrails/safe-mode/exit", tag = "guardrails",
    responses(
        (status = 200, body = GuardrailsStatus),
        (status = 403, body = ErrorBody, description = "polkit refused org.halbert.guardrails.manage (named in `action`)"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn exit(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
) -> Result<Json<GuardrailsStatus>, ApiError> {
    let ch = perform(&st.gate, Action::ExitSafeMode, &rid.0)
        .await?
        .safe_mode()?;
    Ok(Json(view(
        st.guardrails,
        ch.state.unwrap_or_default(),
        Some(ch.changed),
    )))
}
