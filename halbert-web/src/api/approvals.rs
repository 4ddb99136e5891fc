//! `/api/approvals/*`: actions held for a person — the pending ones, approve (no body: runs
//! the held action exactly as simulated), reject (`{reason}`), one request, and the history of
//! decisions. The domain is [`crate::approvals`] and [`crate::actions::gate`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery, AppState, Code, ErrorBody, RequestId, decode_json};
use crate::approvals::{ApprovalRequest, DecisionRecord};
use crate::bounds::{self, Bounded};

/// Ids are 32 lowercase hex digits.
fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::InvalidId,
            "an approval id is 32 lowercase hex digits",
        ))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PendingList {
    pub status: String,
    /// Oldest first.
    pub approvals: Vec<ApprovalRequest>,
    pub count: usize,
}

/// Requests waiting for a decision (those past `expires_at` are marked `expired` first).
#[utoipa::path(get, path = "/api/approvals/pending", tag = "approvals",
    responses((status = 200, body = PendingList)))]
pub async fn pending(State(st): State<AppState>) -> Result<Json<PendingList>, ApiError> {
    let approvals = crate::actions::gate::expire(&st.gate).await?;
    Ok(Json(PendingList {
        status: "ok".into(),
        count: approvals.len(),
        approvals,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// How many of the newest decisions (1–1000, default 100).
    #[serde(default)]
    #[param(value_type = u32, required = false, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryList {
    pub status: String,
    /// Newest first.
    pub history: Vec<DecisionRecord>,
}

/// Decisions made, newest first.
#[utoipa::path(get, path = "/api/approvals/history", tag = "approvals", params(HistoryQuery),
    responses(
        (status = 200, body = HistoryList),
        (status = 400, body = ErrorBody, description = "`limit` is not a number"),
        (status = 422, body = ErrorBody, description = "`limit` out of 1–1000"),
    ))]
pub async fn history(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryList>, ApiError> {
    let n = super::query_number("limit", q.limit.as_deref(), 1, 1000, 100)?;
    let a = st.gate.approvals.clone();
    let history = super::blocking(move || a.history(n as usize))
        .await?
        .map_err(crate::actions::ActionError::from)?;
    Ok(Json(HistoryList {
        status: "ok".into(),
        history,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    pub status: String,
    pub request: ApprovalRequest,
}

/// One request, decided or not.
#[utoipa::path(get, path = "/api/approvals/{id}", tag = "approvals",
    params(("id" = String, Path, min_length = 32, max_length = 32, pattern = "^[0-9a-f]{32}$")),
    responses(
        (status = 200, body = RequestView),
        (status = 400, body = ErrorBody, description = "Not an approval id"),
        (status = 404, body = ErrorBody, description = "No such request"),
    ))]
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    check_id(&id)?;
    let a = st.gate.approvals.clone();
    let request = super::blocking(move || a.request(&id))
        .await?
        .map_err(crate::actions::ActionError::from)?;
    Ok(Json(RequestView {
        status: "ok".into(),
        request,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Approved {
    pub status: String,
    /// The request as decided, with `result`.
    pub request: ApprovalRequest,
    pub decision: DecisionRecord,
    /// For a config write whose unit was watched: what the health gate did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::actions::health::Health>,
}

/// Approve a pending request: its action runs now, exactly as held (a file is written only
/// over the version its dry run saw; a file changed since is 409 `conflict`, not a blind
/// write). halbertd still judges it (polkit, safe mode), so an approval is not a grant: a
/// refusal there is its error here, and the request records it.
#[utoipa::path(post, path = "/api/approvals/{id}/approve", tag = "approvals",
    params(("id" = String, Path, min_length = 32, max_length = 32, pattern = "^[0-9a-f]{32}$")),
    responses(
        (status = 200, body = Approved),
        (status = 400, body = ErrorBody, description = "Not an approval id"),
        (status = 403, body = ErrorBody, description = "Approved, but refused: polkit (the action is named), or a policy"),
        (status = 404, body = ErrorBody, description = "No such request"),
        (status = 409, body = ErrorBody, description = "Decided already or expired (`already_decided`), or the file changed since the dry run (`conflict`)"),
        (status = 423, body = ErrorBody, description = "Safe mode is on"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable"),
    ))]
pub async fn approve(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<Json<Approved>, ApiError> {
    check_id(&id)?;
    let by = crate::policy::context_now().user;
    let a = crate::actions::gate::approve(&st.gate, &id, &by, &rid.0).await?;
    let done = a.result?;
    let health = match done {
        crate::actions::Done::File(f) => f.health,
        _ => None,
    };
    Ok(Json(Approved {
        status: "ok".into(),
        request: a.request,
        decision: a.decision,
        health,
    }))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Default "Rejected by the user".
    #[serde(default)]
    #[schema(max_length = 500, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub reason: Option<String>,
}

impl Bounded for RejectRequest {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::opt_line("reason", &self.reason, 500)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rejected {
    pub status: String,
    pub request: ApprovalRequest,
    pub decision: DecisionRecord,
}

/// Reject a pending request; nothing runs. The body is optional.
#[utoipa::path(post, path = "/api/approvals/{id}/reject", tag = "approvals",
    params(("id" = String, Path, min_length = 32, max_length = 32, pattern = "^[0-9a-f]{32}$")),
    request_body(content = Option<RejectRequest>, description = "Optional"),
    responses(
        (status = 200, body = Rejected),
        (status = 400, body = ErrorBody, description = "Not an approval id, or malformed JSON"),
        (status = 404, body = ErrorBody, description = "No such request"),
        (status = 409, body = ErrorBody, description = "Decided already, or expired"),
        (status = 422, body = ErrorBody, description = "A reason out of its bounds"),
    ))]
pub async fn reject(
    State(st): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Rejected>, ApiError> {
    check_id(&id)?;
    let blank = std::str::from_utf8(&body).is_ok_and(|b| matches!(b.trim(), "" | "null"));
    let req: RejectRequest = if blank {
        RejectRequest::default()
    } else {
        decode_json(&headers, &body)?
    };
    let reason = req
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "Rejected by the user".into());
    let by = crate::policy::context_now().user;
    let (request, decision) = crate::actions::gate::reject(&st.gate, &id, &reason, &by).await?;
    Ok(Json(Rejected {
        status: "ok".into(),
        request,
        decision,
    }))
}
