//! `/api/settings/ai-rules*`: standing instructions for the assistant.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::conversations::Deleted;
use super::views::{NewRule, Rule, RuleChange, all};
use super::{ApiError, ApiJson, AppState, ErrorBody, blocking};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleList {
    /// High priority first.
    pub rules: Vec<Rule>,
}

/// All rules, high priority first.
#[utoipa::path(get, path = "/api/settings/ai-rules", tag = "ai-rules", responses((status = 200, body = RuleList)))]
pub async fn list(State(st): State<AppState>) -> Result<Json<RuleList>, ApiError> {
    let r = st.rules.clone();
    Ok(Json(RuleList {
        rules: all(blocking(move || r.list()).await??),
    }))
}

/// Create a rule (defaults: priority high, category general, enabled).
#[utoipa::path(post, path = "/api/settings/ai-rules", tag = "ai-rules", request_body = NewRule,
    responses((status = 201, body = Rule), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<NewRule>,
) -> Result<(StatusCode, Json<Rule>), ApiError> {
    let r = st.rules.clone();
    Ok((
        StatusCode::CREATED,
        Json(blocking(move || r.create(req.into())).await??.into()),
    ))
}

/// Update a rule; absent fields keep their value.
#[utoipa::path(put, path = "/api/settings/ai-rules/{id}", tag = "ai-rules", request_body = RuleChange,
    responses((status = 200, body = Rule), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RuleChange>,
) -> Result<Json<Rule>, ApiError> {
    let r = st.rules.clone();
    Ok(Json(
        blocking(move || r.update(&id, req.into())).await??.into(),
    ))
}

/// Delete a rule.
#[utoipa::path(delete, path = "/api/settings/ai-rules/{id}", tag = "ai-rules",
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let r = st.rules.clone();
    let id2 = id.clone();
    blocking(move || r.delete(&id2)).await??;
    Ok(Json(Deleted { deleted: true, id }))
}
