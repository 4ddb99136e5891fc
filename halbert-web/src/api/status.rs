//! `GET /api/status/history`: the `system_status` samples halbert-web kept (the last hour at
//! full rate, the last 24 hours as one-minute means), in buckets, for the dashboard's charts.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery, AppState, ErrorBody};
use crate::history::{COARSE_SPAN_S, Series};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusHistoryQuery {
    /// ISO 8601 UTC, e.g. `2026-12-01T10:00:00Z`; default one hour ago. Samples older than
    /// 24 hours are not kept.
    #[serde(default)]
    #[param(required = false, max_length = 64, format = DateTime)]
    pub since: Option<String>,
    /// Bucket width in seconds, 1 to 3600 (default 5). Further back than the last hour the
    /// samples are one-minute means, so the step is then at least 60.
    #[serde(default)]
    #[param(value_type = u32, required = false, minimum = 1, maximum = 3600)]
    pub step: Option<String>,
}

/// One sensor's temperature in each bucket.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemperatureSeries {
    /// The chip and its label, e.g. `coretemp Package id 0`.
    pub sensor: String,
    /// °C; `null` in a bucket where the sensor reported nothing.
    pub celsius: Vec<Option<f64>>,
}

/// Samples as columns (what chart libraries take), oldest first; every column has one value
/// per entry of `timestamps`. A bucket without samples is left out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusHistory {
    pub status: String,
    /// The step used, in seconds.
    pub step: i64,
    /// Each bucket's start, in Unix seconds.
    pub timestamps: Vec<i64>,
    pub cpu_percent: Vec<f64>,
    pub memory_percent: Vec<f64>,
    pub swap_percent: Vec<f64>,
    pub load_one: Vec<f64>,
    /// Usage of `/`; `null` where unknown.
    pub disk_percent: Vec<Option<f64>>,
    pub temperatures: Vec<TemperatureSeries>,
}

impl From<Series> for StatusHistory {
    fn from(s: Series) -> Self {
        Self {
            status: "ok".into(),
            step: s.step,
            timestamps: s.timestamps,
            cpu_percent: s.cpu_percent,
            memory_percent: s.memory_percent,
            swap_percent: s.swap_percent,
            load_one: s.load_one,
            disk_percent: s.disk_percent,
            temperatures: s
                .temperatures
                .into_iter()
                .map(|(sensor, celsius)| TemperatureSeries { sensor, celsius })
                .collect(),
        }
    }
}

/// The status history, for charts over the last hour (full rate) or day (one-minute means).
#[utoipa::path(get, path = "/api/status/history", tag = "system", params(StatusHistoryQuery),
    responses(
        (status = 200, body = StatusHistory),
        (status = 400, body = ErrorBody, description = "`step` is not a number (`invalid_query`)"),
        (status = 422, body = ErrorBody, description = "`since` is not an ISO 8601 time, or `step` is out of 1–3600"),
    ))]
pub async fn history(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<StatusHistoryQuery>,
) -> Result<Json<StatusHistory>, ApiError> {
    let step = super::query_number("step", q.step.as_deref(), 1, 3600, 5)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let since = match q.since.as_deref() {
        None => now - 3600,
        Some(raw) => {
            time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    super::invalid(format!(
                        "since must be an ISO 8601 time such as 2026-12-01T10:00:00Z, not {raw:?}"
                    ))
                })?
                .unix_timestamp()
                // Nothing older is kept; asking for more is not a mistake.
                .max(now - COARSE_SPAN_S)
        }
    };
    Ok(Json(
        st.feed.history().query(since, i64::from(step), now).into(),
    ))
}
