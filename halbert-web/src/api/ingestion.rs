//! `/api/settings/ingestion/*`: telemetry ingestion's status, start and stop (see
//! [`crate::ingestion`]).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::error::Code;
use super::{ApiError, AppState, ErrorBody};
use crate::ingestion::{IngestionError, IngestionStatus as Status};

/// The contract's fields (`running` … `config_path`), then the counters a person needs to
/// trust what ingestion does.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestionStatus {
    pub running: bool,
    /// When it was started, ISO 8601 UTC (absent when it is not running).
    pub started_at: Option<String>,
    /// Journal events stored since halbert-web started.
    pub journald_events: u64,
    /// hwmon events stored: hourly summaries per sensor and limit crossings.
    pub hwmon_events: u64,
    /// The journal's time of the newest journal event stored, ISO 8601 UTC.
    pub last_journald_event: Option<String>,
    /// The time of the newest sensor reading, ISO 8601 UTC.
    pub last_hwmon_event: Option<String>,
    pub errors: u64,
    /// The user's ingestion.yml.
    pub config_path: String,
    /// Sensor readings taken.
    pub hwmon_readings: u64,
    /// Journal events dropped by the rate limit (per identifier and severity).
    pub dropped_rate_limited: u64,
    /// Things replaced by redaction (secrets, addresses, home paths…).
    pub redacted: u64,
    /// Events refused by validation.
    pub invalid: u64,
    /// Events read again after a restart and found stored already (not stored twice).
    pub duplicates: u64,
    /// The newest error, if any.
    pub last_error: Option<String>,
    /// A journal cursor is saved: a start resumes there.
    pub cursor_saved: bool,
}

impl From<Status> for IngestionStatus {
    fn from(s: Status) -> Self {
        Self {
            running: s.running,
            started_at: s.started_at,
            journald_events: s.journald_events,
            hwmon_events: s.hwmon_events,
            last_journald_event: s.last_journald_event,
            last_hwmon_event: s.last_hwmon_event,
            errors: s.errors,
            config_path: s.config_path,
            hwmon_readings: s.hwmon_readings,
            dropped_rate_limited: s.dropped_rate_limited,
            redacted: s.redacted,
            invalid: s.invalid,
            duplicates: s.duplicates,
            last_error: s.last_error,
            cursor_saved: s.cursor_saved,
        }
    }
}

impl From<IngestionError> for ApiError {
    fn from(e: IngestionError) -> Self {
        match e {
            IngestionError::Config(m) => ApiError::new(Code::ValidationFailed, m),
            // Not the request's fault: the file's permissions, which the detail names.
            IngestionError::ConfigUnreadable(m) => ApiError::new(Code::Internal, m),
            IngestionError::Daemon(d) => d.into(),
            IngestionError::Store(s) => {
                tracing::error!(error = %s, "ingestion store");
                ApiError::new(
                    Code::StorageError,
                    "the per-user database failed (see the log)",
                )
            }
        }
    }
}

/// Whether ingestion runs, what it has stored, what it dropped or redacted, and its errors.
#[utoipa::path(get, path = "/api/settings/ingestion/status", tag = "ingestion",
    responses((status = 200, body = IngestionStatus)))]
pub async fn status(State(st): State<AppState>) -> Json<IngestionStatus> {
    Json(st.ingestion.status().await.into())
}

/// Starts collecting this machine's journal and sensors into memory, as `ingestion.yml`
/// (`config_path`) says, and keeps it running across restarts of halbert-web until stopped.
/// Reading the system journal needs polkit action `org.halbert.journal.read`; a refusal is a
/// 403 naming it. Starting what runs already changes nothing.
#[utoipa::path(post, path = "/api/settings/ingestion/start", tag = "ingestion",
    responses(
        (status = 200, body = IngestionStatus),
        (status = 403, body = ErrorBody, description = "polkit refused org.halbert.journal.read, or not in group halbert"),
        (status = 422, body = ErrorBody, description = "ingestion.yml is not valid: the detail names the field"),
        (status = 500, body = ErrorBody, description = "ingestion.yml cannot be read (its permissions)"),
        (status = 503, body = ErrorBody, description = "halbertd is unreachable, or cannot read the journal"),
    ))]
pub async fn start(State(st): State<AppState>) -> Result<Json<IngestionStatus>, ApiError> {
    Ok(Json(st.ingestion.start().await?.into()))
}

/// Stops collecting, after the journal's place is saved (the next start resumes there).
#[utoipa::path(post, path = "/api/settings/ingestion/stop", tag = "ingestion",
    responses((status = 200, body = IngestionStatus)))]
pub async fn stop(State(st): State<AppState>) -> Result<Json<IngestionStatus>, ApiError> {
    Ok(Json(st.ingestion.stop().await?.into()))
}
