//! `/api/settings/policy*`: the user's policy (what Halbert may do for this user), read,
//! replaced whole, one tool's `allow` set or its entry removed. Every action is judged by it
//! in [`crate::actions::perform`].

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, AppState, Code, ErrorBody};
use crate::bounds::Bounded;
use crate::policy::Policy;
use crate::policy::PolicyError;

/// A policy as the API shows and takes it (`policy.yml`'s schema).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// What a tool without its own `allow` gets (default true).
    #[serde(default = "yes")]
    pub default_allow: bool,
    /// Per tool: write_config, restore_backup, service_control, terminal, terminal_root,
    /// rollback, restart_service, schedule_cron (other names, 1 to 64 printable characters,
    /// are kept and match nothing). At most 100.
    #[serde(default)]
    #[schema(schema_with = tools_schema)]
    pub tools: BTreeMap<String, ToolRuleDoc>,
}

fn yes() -> bool {
    true
}

/// `tools`: a map from tool names (1 to 64 printable characters) to their rules. Written out
/// because the derive cannot state what the keys may be.
fn tools_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some(r"^[^\u0000-\u001F\u007F-\u009F]+$"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(name))
        .additional_properties(Some(AdditionalProperties::RefOr(
            utoipa::openapi::Ref::from_schema_name("ToolRuleDoc").into(),
        )))
        .build()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolRuleDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<bool>,
    #[serde(default)]
    pub simulation_required: bool,
    #[serde(default)]
    pub rollback_required: bool,
    #[serde(default)]
    #[schema(max_items = 100, value_type = Vec<super::schema::PolicyEntry>)]
    pub approvals: Vec<String>,
    #[serde(default)]
    pub conditions: ConditionsDoc,
}

/// Every non-empty condition must hold; the first that fails denies and is named.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionsDoc {
    /// User names.
    #[serde(default)]
    #[schema(max_items = 100, value_type = Vec<super::schema::PolicyEntry>)]
    pub users: Vec<String>,
    /// Host name globs.
    #[serde(default)]
    #[schema(max_items = 100, value_type = Vec<super::schema::PolicyEntry>)]
    pub hosts: Vec<String>,
    /// Local time windows `HH:MM-HH:MM` (`22:00-06:00` wraps midnight).
    #[serde(default)]
    #[schema(max_items = 100, value_type = Vec<super::schema::HoursWindow>)]
    pub hours_allow: Vec<String>,
    /// Absolute path globs (`*` within a segment, `**` across) the path must match.
    #[serde(default)]
    #[schema(max_items = 100, value_type = Vec<super::schema::PathGlob>)]
    pub paths_allow: Vec<String>,
    /// Absolute path globs the path must not match.
    #[serde(default)]
    #[schema(max_items = 100, value_type = Vec<super::schema::PathGlob>)]
    pub paths_deny: Vec<String>,
    /// Globs for the action's name (a unit, a command's program).
    #[serde(default)]
    #[schema(max_items = 100, value_type = Vec<super::schema::PolicyEntry>)]
    pub names_allow: Vec<String>,
}

/// The view and the domain type have the same serde shape (the view exists to carry the
/// OpenAPI schema), so one converts into the other through it instead of field by field.
fn convert<A: Serialize, B: serde::de::DeserializeOwned>(a: &A) -> Result<B, String> {
    serde_json::to_value(a)
        .and_then(serde_json::from_value)
        .map_err(|e| e.to_string())
}

impl TryFrom<&PolicyDoc> for Policy {
    type Error = String;
    fn try_from(d: &PolicyDoc) -> Result<Self, String> {
        convert(d)
    }
}

impl TryFrom<&Policy> for PolicyDoc {
    type Error = String;
    fn try_from(p: &Policy) -> Result<Self, String> {
        convert(p)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// `ok`, or `error` when the file does not load (then every action is denied, and
    /// `error` says why; a POST replaces it).
    pub status: String,
    pub policy: Option<PolicyDoc>,
    /// Where it is kept.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The system-wide policy halbertd judges every change by, for every user: read-only here
    /// (it is root's file). Its denials name rules as `system:tools.…`.
    pub system: SystemPolicyView,
}

/// The administrator's layer, as halbertd reports it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SystemPolicyView {
    /// Always true: only root changes it, on disk.
    pub read_only: bool,
    /// Where halbertd reads it (empty when halbertd cannot be asked).
    pub path: String,
    /// The policy in force; null when it does not load or cannot be read.
    pub policy: Option<PolicyDoc>,
    /// Why there is no policy to show: then halbertd refuses every change (a file that does
    /// not load), or halbertd could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

async fn system_view(st: &AppState) -> SystemPolicyView {
    let (path, policy, error) = match st.daemon.system_policy().await {
        Ok(v) if v.error.is_empty() => {
            let doc = serde_json::from_str::<Policy>(&v.policy_json)
                .map_err(|e| e.to_string())
                .and_then(|p| PolicyDoc::try_from(&p));
            match doc {
                Ok(d) => (v.path, Some(d), None),
                Err(e) => (
                    v.path,
                    None,
                    Some(format!("halbertd's answer is not a policy: {e}")),
                ),
            }
        }
        Ok(v) => (v.path, None, Some(v.error)),
        Err(e) => (String::new(), None, Some(e.to_string())),
    };
    SystemPolicyView {
        read_only: true,
        path,
        policy,
        error,
    }
}

async fn view(st: &AppState) -> PolicyView {
    let mut v = user_view(st);
    v.system = system_view(st).await;
    v
}

fn user_view(st: &AppState) -> PolicyView {
    let path = st.policy.path().display().to_string();
    let system = SystemPolicyView {
        read_only: true,
        path: String::new(),
        policy: None,
        error: None,
    };
    match st.policy.get() {
        Ok(p) => match PolicyDoc::try_from(&p) {
            Ok(doc) => PolicyView {
                status: "ok".into(),
                policy: Some(doc),
                path,
                error: None,
                system,
            },
            Err(e) => PolicyView {
                status: "error".into(),
                policy: None,
                path,
                error: Some(format!("the policy cannot be shown: {e}")),
                system,
            },
        },
        Err(e) => PolicyView {
            status: "error".into(),
            policy: None,
            path,
            error: Some(e),
            system,
        },
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Invalid(m) => super::invalid(m),
            PolicyError::NoEntry(_) => ApiError::new(Code::NotFound, e.to_string()),
            PolicyError::Io { .. } => {
                tracing::error!(error = %e, "writing the policy");
                ApiError::new(
                    Code::StorageError,
                    "the policy could not be written (see the log)",
                )
            }
        }
    }
}

/// The user's policy, and beside it the system-wide one (read-only).
#[utoipa::path(get, path = "/api/settings/policy", tag = "policy", responses((status = 200, body = PolicyView)))]
pub async fn get(State(st): State<AppState>) -> Json<PolicyView> {
    Json(view(&st).await)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRequest {
    pub policy: PolicyDoc,
}

impl Bounded for ReplaceRequest {
    fn check_bounds(&self) -> Result<(), String> {
        Policy::try_from(&self.policy)?.validate()
    }
}

/// Replace the whole policy. It is validated first: a bad one is 422 naming the field, and
/// the old one stays in force.
#[utoipa::path(post, path = "/api/settings/policy", tag = "policy", request_body = ReplaceRequest,
    responses(
        (status = 200, body = PolicyView),
        (status = 422, body = ErrorBody, description = "A field out of its form or bounds (named)"),
    ))]
pub async fn replace(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<ReplaceRequest>,
) -> Result<Json<PolicyView>, ApiError> {
    let policy = Policy::try_from(&req.policy).map_err(super::invalid)?;
    let store = st.policy.clone();
    super::blocking(move || store.replace(policy)).await??;
    Ok(Json(view(&st).await))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolRequest {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$"
    )]
    pub tool: String,
    pub allow: bool,
}

impl Bounded for ToolRequest {
    fn check_bounds(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Set one tool's `allow`, keeping the rest of its entry.
#[utoipa::path(post, path = "/api/settings/policy/tool", tag = "policy", request_body = ToolRequest,
    responses(
        (status = 200, body = PolicyView),
        (status = 422, body = ErrorBody, description = "Not a tool name"),
    ))]
pub async fn set_tool(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<ToolRequest>,
) -> Result<Json<PolicyView>, ApiError> {
    let store = st.policy.clone();
    super::blocking(move || store.set_allow(&req.tool, req.allow)).await??;
    Ok(Json(view(&st).await))
}

/// Remove one tool's entry, so that `default_allow` applies to it.
#[utoipa::path(delete, path = "/api/settings/policy/tool/{tool_name}", tag = "policy",
    params(("tool_name" = String, Path, max_length = 64)),
    responses(
        (status = 200, body = PolicyView),
        (status = 404, body = ErrorBody, description = "The policy has no entry for it"),
    ))]
pub async fn remove_tool(
    State(st): State<AppState>,
    Path(tool): Path<String>,
) -> Result<Json<PolicyView>, ApiError> {
    let store = st.policy.clone();
    super::blocking(move || store.remove(&tool)).await??;
    Ok(Json(view(&st).await))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_and_the_policy_convert_both_ways_unchanged() {
        let p: Policy = serde_norway::from_str(
            "default_allow: false\ntools:\n  service_control:\n    allow: true\n    simulation_required: true\n    approvals: [admin]\n    conditions:\n      users: [alice]\n      hosts: ['web-*']\n      hours_allow: ['22:00-06:00']\n      paths_allow: ['/etc/**']\n      paths_deny: ['/etc/shadow']\n      names_allow: ['hb-*']\n  terminal: {}\n",
        )
        .expect("yaml");
        let doc = PolicyDoc::try_from(&p).expect("to the view");
        assert_eq!(Policy::try_from(&doc).expect("back"), p);
        assert_eq!(
            PolicyDoc::try_from(&Policy::default()).map(|d| d.default_allow),
            Ok(true)
        );
    }
}
