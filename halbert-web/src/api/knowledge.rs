//! `/api/settings/knowledge/*`: the index of this machine's manual pages in memory
//! (`self_knowledge_all`, see [`crate::knowledge`]) — its status, and a refresh on demand.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::error::Code;
use super::{ApiError, AppState, ErrorBody, blocking};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KnowledgeStatus {
    /// A job is indexing now.
    pub running: bool,
    /// Pages looked at by the current (or last) job, of `total`.
    pub done: usize,
    pub total: usize,
    /// Pages the job read again because they were new or changed, and pages it forgot.
    pub changed: usize,
    pub removed: usize,
    /// Pages in the index, and the memory entries they gave.
    pub pages: usize,
    pub entries: usize,
    /// The index was built once: it is brought up to date by itself after package changes.
    pub built: bool,
    /// When the last complete run ended, ISO 8601 UTC.
    pub last_run: Option<String>,
    pub last_error: Option<String>,
    /// Where the pages are read from.
    pub man_root: String,
    /// The manual's sections indexed.
    pub sections: Vec<String>,
}

fn knowledge(st: &AppState) -> Result<crate::knowledge::Knowledge, ApiError> {
    st.knowledge.clone().ok_or_else(|| {
        ApiError::new(
            Code::StorageError,
            "the manual-page index cannot be opened (see the log)",
        )
    })
}

async fn view(k: crate::knowledge::Knowledge) -> Result<KnowledgeStatus, ApiError> {
    let s = blocking(move || k.status()).await?;
    Ok(KnowledgeStatus {
        running: s.progress.running,
        done: s.progress.done,
        total: s.progress.total,
        changed: s.progress.changed,
        removed: s.progress.removed,
        pages: s.pages,
        entries: s.entries,
        built: s.built,
        last_run: s.last_run.and_then(crate::time::iso8601),
        last_error: s.progress.last_error,
        man_root: s.man_root.display().to_string(),
        sections: crate::knowledge::SECTIONS.map(str::to_owned).to_vec(),
    })
}

/// The manual-page index: progress of a job, what is indexed, when it last ran.
#[utoipa::path(get, path = "/api/settings/knowledge/status", tag = "memory",
    responses((status = 200, body = KnowledgeStatus), (status = 500, body = ErrorBody)))]
pub async fn status(State(st): State<AppState>) -> Result<Json<KnowledgeStatus>, ApiError> {
    Ok(Json(view(knowledge(&st)?).await?))
}

/// Index this machine's manual pages (sections 1, 5, 8) now, in the background: pages new or
/// changed since the last run are read, pages gone are forgotten. Progress on /ws as
/// `knowledge_index`. 202 when a job was started, 200 when one was already running.
#[utoipa::path(post, path = "/api/settings/knowledge/refresh", tag = "memory",
    responses((status = 202, body = KnowledgeStatus, description = "Started"),
        (status = 200, body = KnowledgeStatus, description = "A job was already running"),
        (status = 500, body = ErrorBody)))]
pub async fn refresh(
    State(st): State<AppState>,
) -> Result<(StatusCode, Json<KnowledgeStatus>), ApiError> {
    let k = knowledge(&st)?;
    let started = k.start(&st.workers, crate::app::knowledge_report(&st.feed));
    let code = if started {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(view(k).await?)))
}
