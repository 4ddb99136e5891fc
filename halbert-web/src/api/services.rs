//! `/api/services/{name}…`: one unit's state, its journal, and start/stop/restart through
//! [`crate::actions::perform`] (halbertd asks polkit `org.halbert.service.manage`, refuses in
//! safe mode, waits for the job and audits it).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use halbert_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery, AppState, ErrorBody, RequestId};
use crate::actions::{Action, ServiceVerb, perform};
use crate::time::iso8601;

/// A unit name as the API takes it: systemd's characters, not starting with `-` or `.`, at
/// most 247 so that the `.service` halbertd adds keeps it within systemd's 255.
pub const UNIT_MAX: usize = 247;

/// The rule of the `pattern` the unit-name fields carry in the description (attributes need
/// it written out; a test checks every copy against this one), checked here so that the API
/// refuses exactly what its description says. halbertd checks again, and is more lenient
/// with what models write (it trims).
pub fn check_unit(name: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || ":_.\\@-".contains(c);
    if name.is_empty()
        || name.len() > UNIT_MAX
        || name.starts_with(['-', '.'])
        || !name.chars().all(ok)
    {
        return Err(format!(
            "{name:?} is not a unit name: letters, digits and :_.\\@- only, not starting with - or ., at most {UNIT_MAX} characters"
        ));
    }
    Ok(())
}

/// The most journal entries one request reads.
pub const MAX_LOG_LINES: u32 = 1000;
pub const DEFAULT_LOG_LINES: u32 = 100;

/// A unit, now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceView {
    /// The full unit name (`nginx` is `nginx.service`).
    pub service_name: String,
    pub description: String,
    /// loaded, not-found, masked or error.
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// The unit file's state: enabled, disabled, static, masked, or empty.
    pub enabled: String,
    /// The last run's result: success, exit-code, signal, timeout…
    pub result: String,
    /// 0 when it has no main process.
    pub main_pid: u32,
    /// Bytes; absent when not accounted.
    pub memory_bytes: Option<u64>,
    /// When it last became active, ISO 8601 UTC; absent if never.
    pub since: Option<String>,
    pub restarts: u32,
    pub unit_file_path: String,
}

/// The state of one unit, read from systemd now (no scan needed).
#[utoipa::path(get, path = "/api/services/{name}", tag = "services",
    params(("name" = String, Path, max_length = 247, pattern = r"^[A-Za-z0-9:_\\@][A-Za-z0-9:_.\\@-]{0,246}$", description = "A unit name; `nginx` means nginx.service")),
    responses(
        (status = 200, body = ServiceView),
        (status = 404, body = ErrorBody, description = "systemd knows no such unit"),
        (status = 422, body = ErrorBody, description = "Not a unit name"),
        (status = 503, body = ErrorBody, description = "halbertd or systemd is unreachable"),
    ))]
pub async fn get(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ServiceView>, ApiError> {
    check_unit(&name).map_err(super::invalid)?;
    let s = st.daemon.service_status(&name).await?;
    Ok(Json(ServiceView {
        service_name: s.unit,
        description: s.description,
        load_state: s.load_state,
        active_state: s.active_state,
        sub_state: s.sub_state,
        enabled: s.unit_file_state,
        result: s.result,
        main_pid: s.main_pid,
        memory_bytes: (s.memory_bytes > 0).then_some(s.memory_bytes),
        since: (s.active_enter_unix > 0)
            .then(|| iso8601(s.active_enter_unix))
            .flatten(),
        restarts: s.restarts,
        unit_file_path: s.fragment_path,
    }))
}

/// What came of a job on a unit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceActionResult {
    pub service_name: String,
    /// start, stop or restart.
    pub action: String,
    /// Whether the job ended `done`.
    pub success: bool,
    pub message: String,
    /// systemd's job result: done, failed, canceled, timeout, dependency, skipped; `running`
    /// when it had not ended after 90 s; `refused` when systemd would not queue it.
    pub job_result: String,
    /// The unit's state after the job.
    pub active_state: String,
    pub sub_state: String,
}

/// Runs one job on a unit; shared by the three routes, and by recovery.
pub async fn control(
    st: &AppState,
    name: String,
    verb: ServiceVerb,
    rid: &str,
) -> Result<ServiceActionResult, ApiError> {
    check_unit(&name).map_err(super::invalid)?;
    let action = Action::ControlService { unit: name, verb };
    let r = perform(&st.gate, action, rid).await?.service()?;
    Ok(action_result(r, verb))
}

/// halbertd's answer to a job, as the API shows it.
pub fn action_result(r: pb::ServiceControlResult, verb: ServiceVerb) -> ServiceActionResult {
    ServiceActionResult {
        service_name: r.unit,
        action: verb.as_str().to_owned(),
        success: r.success,
        message: r.message,
        job_result: r.job_result,
        active_state: r.active_state,
        sub_state: r.sub_state,
    }
}

macro_rules! job_route {
    ($fn:ident, $verb:ident, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[doc = ""]
        #[doc = "Needs polkit `org.halbert.service.manage` (details `unit`, `verb`); refused in safe mode (423). The answer comes when systemd's job has ended: a failed job is `success: false` with systemd's result, not an error."]
        #[utoipa::path(post, path = $path, tag = "services",
            params(("name" = String, Path, max_length = 247, pattern = r"^[A-Za-z0-9:_\\@][A-Za-z0-9:_.\\@-]{0,246}$", description = "A unit name; `nginx` means nginx.service")),
            responses(
                (status = 200, body = ServiceActionResult),
                (status = 403, body = ErrorBody, description = "polkit refused org.halbert.service.manage"),
                (status = 404, body = ErrorBody, description = "No such unit"),
                (status = 422, body = ErrorBody, description = "Not a unit name"),
                (status = 423, body = ErrorBody, description = "Safe mode is on"),
                (status = 503, body = ErrorBody, description = "halbertd or systemd is unreachable"),
            ))]
        pub async fn $fn(
            State(st): State<AppState>,
            Extension(rid): Extension<RequestId>,
            Path(name): Path<String>,
        ) -> Result<Json<ServiceActionResult>, ApiError> {
            control(&st, name, ServiceVerb::$verb, &rid.0).await.map(Json)
        }
    };
}

job_route!(start, Start, "/api/services/{name}/start", "Start a unit.");
job_route!(stop, Stop, "/api/services/{name}/stop", "Stop a unit.");
job_route!(
    restart,
    Restart,
    "/api/services/{name}/restart",
    "Restart a unit."
);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// How many of the newest entries (1–1000, default 100).
    #[serde(default)]
    #[param(value_type = u32, required = false, minimum = 1, maximum = 1000)]
    pub lines: Option<String>,
}

/// One journal entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    /// ISO 8601 UTC, with microseconds.
    pub ts: String,
    /// 0 (emerg) to 7 (debug).
    pub priority: u32,
    pub pid: u32,
    pub message: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogsView {
    pub service_name: String,
    /// Oldest first.
    pub lines: Vec<LogEntry>,
}

fn micros_iso(us: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.format(&f).unwrap_or_default()
}

/// The unit's newest journal entries. Needs polkit `org.halbert.journal.read` (logs carry
/// more than status does).
#[utoipa::path(get, path = "/api/services/{name}/logs", tag = "services",
    params(("name" = String, Path, max_length = 247, pattern = r"^[A-Za-z0-9:_\\@][A-Za-z0-9:_.\\@-]{0,246}$", description = "A unit name; `nginx` means nginx.service"), LogsQuery),
    responses(
        (status = 200, body = LogsView),
        (status = 400, body = ErrorBody, description = "`lines` is not a number (`invalid_query`)"),
        (status = 403, body = ErrorBody, description = "polkit refused org.halbert.journal.read"),
        (status = 422, body = ErrorBody, description = "Not a unit name, or `lines` out of 1–1000"),
        (status = 503, body = ErrorBody, description = "halbertd or the journal is unreachable"),
    ))]
pub async fn logs(
    State(st): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> Result<Json<LogsView>, ApiError> {
    check_unit(&name).map_err(super::invalid)?;
    let n = super::query_number(
        "lines",
        q.lines.as_deref(),
        1,
        MAX_LOG_LINES,
        DEFAULT_LOG_LINES,
    )?;
    let j = st.daemon.journal_tail(&name, n, "").await?;
    Ok(Json(LogsView {
        service_name: j.unit,
        lines: j
            .lines
            .into_iter()
            .map(|l| LogEntry {
                ts: micros_iso(l.timestamp_unix_us),
                priority: l.priority,
                pid: l.pid,
                message: l.message,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Code;

    const UNIT_PATTERN: &str = r"^[A-Za-z0-9:_\\@][A-Za-z0-9:_.\\@-]{0,246}$";

    #[test]
    fn every_unit_name_field_carries_the_one_pattern() {
        let doc = serde_json::to_value(crate::api::openapi()).expect("json");
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for op in item.as_object().expect("item").values() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["name"] == "name" && path.starts_with("/api/services/") {
                        assert_eq!(p["schema"]["pattern"], UNIT_PATTERN, "{path}");
                        seen += 1;
                    }
                }
            }
        }
        assert_eq!(seen, 5, "get, start, stop, restart, logs");
        let body = &doc["components"]["schemas"]["RestartRequest"]["properties"]["service"];
        assert_eq!(body["pattern"], UNIT_PATTERN);
    }

    #[test]
    fn line_counts() {
        let n = |s: Option<&str>| {
            super::super::query_number("lines", s, 1, MAX_LOG_LINES, DEFAULT_LOG_LINES)
        };
        assert_eq!(n(None).ok(), Some(100));
        assert_eq!(n(Some("1000")).ok(), Some(1000));
        let code = |s: &str| n(Some(s)).err().map(|e| e.code);
        assert_eq!(code("abc"), Some(Code::InvalidQuery));
        assert_eq!(code("1.5"), Some(Code::InvalidQuery));
        assert_eq!(code("-1"), Some(Code::InvalidQuery));
        assert_eq!(code("0"), Some(Code::ValidationFailed));
        assert_eq!(code("1001"), Some(Code::ValidationFailed));
        assert_eq!(code("99999999999999"), Some(Code::ValidationFailed));
    }

    #[test]
    fn unit_names_as_the_description_says() {
        let re = regex::Regex::new(UNIT_PATTERN).expect("pattern");
        for (name, ok) in [
            ("nginx", true),
            ("getty@tty1.service", true),
            ("a\\x2db.mount", true),
            (&"a".repeat(247) as &str, true),
            (&"a".repeat(248), false),
            ("-x", false),
            (".x", false),
            ("a b", false),
            ("Chat Dec 01, 01:46 PM", false),
            ("", false),
        ] {
            assert_eq!(check_unit(name).is_ok(), ok, "{name:?}");
            assert_eq!(
                re.is_match(name),
                ok,
                "the pattern and the check agree on {name:?}"
            );
        }
    }

    #[test]
    fn journal_times_keep_microseconds() {
        assert_eq!(micros_iso(1_500_000), "1970-01-01T00:00:01.500000Z");
    }
}
