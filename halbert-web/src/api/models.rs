//! `/api/settings/endpoints*`, `/api/settings/assign/{role}`, `/api/settings/{role}/clear` and
//! `/api/models/loaded`: model endpoints, role assignments and what is loaded.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use crate::bounds::{self, Bounded, Kind};

use super::views::{EndpointInput, LoadedModel};
use super::{ApiError, ApiJson, AppState, Code, ErrorBody, blocking};
use crate::llm::client::{PROBE_TIMEOUT, same_model};
use crate::llm::settings::{Endpoint, MASK, ModelSettings, ROLES, SettingsError};

/// A saved endpoint as the API shows it: the key is never returned.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub provider: String,
    /// `"***"` when a key is stored, else null.
    pub api_key: Option<String>,
    /// Seconds to wait for an answer to start, and for each silence while it streams.
    pub timeout_s: u64,
    /// The context window set for the endpoint's models, in tokens; null: what the server
    /// says, else 4096.
    pub context_tokens: Option<u32>,
}

fn masked(e: &Endpoint) -> EndpointView {
    EndpointView {
        id: e.id.clone(),
        name: e.name.clone(),
        url: e.url.clone(),
        provider: e.provider.clone(),
        api_key: e.api_key.as_ref().map(|_| MASK.to_owned()),
        timeout_s: e.timeout_s,
        context_tokens: e.context_tokens,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    pub endpoints: Vec<EndpointView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointDeleted {
    pub deleted: bool,
    pub id: String,
    /// Roles that used the endpoint and are now unassigned.
    pub cleared_roles: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelList {
    pub endpoint_id: String,
    pub endpoint_name: String,
    pub models: Vec<String>,
    pub count: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    pub success: bool,
    pub message: String,
    pub status_code: Option<u16>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    #[schema(max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub endpoint_id: String,
    /// Not blank (it is trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub model: String,
}

impl Bounded for AssignRequest {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text(
            "endpoint_id",
            &self.endpoint_id,
            bounds::ID_CHARS,
            Kind::Line,
        )?;
        bounds::text("model", &self.model, bounds::NAME_CHARS, Kind::Line)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    pub role: String,
    pub endpoint_id: String,
    /// The endpoint's URL.
    pub endpoint: String,
    pub provider: String,
    pub model: String,
    /// The endpoint's name.
    pub name: String,
    pub enabled: bool,
    /// On assignment: the endpoint does not list the model (some servers accept any name, so
    /// it is saved all the same), or its list could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RoleCleared)]
pub struct Cleared {
    pub status: String,
    pub role: String,
    pub cleared: bool,
}

fn endpoint_of(s: &ModelSettings, id: &str) -> Result<Endpoint, ApiError> {
    s.endpoint(id)
        .cloned()
        .ok_or_else(|| SettingsError::UnknownEndpoint(id.to_owned()).into())
}

fn check_role(role: &str) -> Result<(), ApiError> {
    if ROLES.contains(&role) {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::NotFound,
            format!("no role {role:?}; roles are guide, specialist and vision"),
        ))
    }
}

/// Saved endpoints (keys masked).
#[utoipa::path(get, path = "/api/settings/endpoints", tag = "models", responses((status = 200, body = EndpointList)))]
pub async fn list(State(st): State<AppState>) -> Json<EndpointList> {
    Json(EndpointList {
        endpoints: st.models.get().endpoints.iter().map(masked).collect(),
    })
}

/// Save or update an endpoint. Its key is stored with mode 0600 and never returned.
#[utoipa::path(post, path = "/api/settings/endpoints", tag = "models", request_body = EndpointInput,
    responses((status = 200, body = EndpointView), (status = 422, body = ErrorBody)))]
pub async fn save(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<EndpointInput>,
) -> Result<Json<EndpointView>, ApiError> {
    let m = st.models.clone();
    Ok(Json(masked(
        &blocking(move || m.save_endpoint(req.into())).await??,
    )))
}

/// Delete an endpoint; roles using it are cleared (and memory's embedder, when it was this
/// endpoint's, goes back to the automatic choice).
#[utoipa::path(delete, path = "/api/settings/endpoints/{id}", tag = "models",
    responses((status = 200, body = EndpointDeleted), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EndpointDeleted>, ApiError> {
    let (m, id2) = (st.models.clone(), id.clone());
    let cleared = blocking(move || m.delete_endpoint(&id2)).await??;
    if cleared.contains(&"embedding") {
        // Memory cannot keep embedding with a server it no longer knows.
        crate::memory::embed::change(
            &st.memory,
            &st.models,
            &st.llm,
            &st.model_dirs,
            crate::memory::embed::Requested::Auto,
        )
        .await?;
        crate::app::spawn_reembed(&st.workers, &st.memory, &st.feed);
    }
    Ok(Json(EndpointDeleted {
        deleted: true,
        id,
        cleared_roles: cleared.into_iter().map(str::to_owned).collect(),
    }))
}

/// The models an endpoint offers.
#[utoipa::path(get, path = "/api/settings/endpoints/{id}/models", tag = "models",
    responses((status = 200, body = ModelList), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn models(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ModelList>, ApiError> {
    let ep = endpoint_of(&st.models.get(), &id)?;
    let models = st.llm.list_models(&ep, PROBE_TIMEOUT).await?;
    Ok(Json(ModelList {
        endpoint_id: ep.id,
        endpoint_name: ep.name,
        count: models.len(),
        models,
    }))
}

/// Probe an endpoint (the model listing call, with its key, 10 s).
#[utoipa::path(post, path = "/api/settings/endpoints/{id}/test", tag = "models",
    responses((status = 200, body = TestResult), (status = 404, body = ErrorBody)))]
pub async fn test(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TestResult>, ApiError> {
    let ep = endpoint_of(&st.models.get(), &id)?;
    Ok(Json(match st.llm.list_models(&ep, PROBE_TIMEOUT).await {
        Ok(m) => TestResult {
            success: true,
            message: format!("connected: {} models", m.len()),
            status_code: Some(200),
        },
        Err(e) => TestResult {
            success: false,
            status_code: e.status_code(),
            message: e.to_string(),
        },
    }))
}

/// Assign a model of a saved endpoint to a role.
#[utoipa::path(post, path = "/api/settings/assign/{role}", tag = "models", request_body = AssignRequest,
    params(("role" = super::schema::ModelRole, Path)),
    responses((status = 200, body = RoleView), (status = 404, body = ErrorBody, description = "Unknown role or endpoint"), (status = 422, body = ErrorBody)))]
pub async fn assign(
    State(st): State<AppState>,
    Path(role): Path<String>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> Result<Json<RoleView>, ApiError> {
    check_role(&role)?;
    let (m, r2, eid, model) = (
        st.models.clone(),
        role.clone(),
        req.endpoint_id.clone(),
        req.model.clone(),
    );
    blocking(move || m.assign(&r2, &eid, &model)).await??;
    let ep = endpoint_of(&st.models.get(), &req.endpoint_id)?;
    let model = req.model.trim().to_owned();
    let warning = st.llm.model_warning(&ep, &model).await;
    Ok(Json(RoleView {
        role,
        endpoint_id: ep.id,
        endpoint: ep.url,
        provider: ep.provider,
        model,
        name: ep.name,
        enabled: true,
        warning,
    }))
}

/// Clear a role's assignment (`/api/settings/guide/clear`, also for specialist and vision).
#[utoipa::path(post, path = "/api/settings/{role}/clear", tag = "models",
    params(("role" = super::schema::ModelRole, Path)),
    responses((status = 200, body = Cleared), (status = 404, body = ErrorBody)))]
pub async fn clear(
    State(st): State<AppState>,
    Path(role): Path<String>,
) -> Result<Json<Cleared>, ApiError> {
    check_role(&role)?;
    let (m, r2) = (st.models.clone(), role.clone());
    blocking(move || m.clear(&r2)).await??;
    Ok(Json(Cleared {
        status: "ok".into(),
        role,
        cleared: true,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoadedView {
    /// What the guide's endpoint has loaded (Ollama); empty for OpenAI-compatible servers.
    pub loaded_models: Vec<LoadedModel>,
    pub configured_model: Option<String>,
    /// null when the endpoint cannot tell (OpenAI-compatible) or no guide is assigned.
    pub configured_loaded: Option<bool>,
    pub endpoint: Option<String>,
    pub specialist_model: Option<String>,
    pub specialist_endpoint: Option<String>,
    pub specialist_loaded: Option<bool>,
    pub vision_model: Option<String>,
    pub vision_endpoint: Option<String>,
    pub vision_loaded: Option<bool>,
    /// Endpoints that could not be asked, with why.
    pub errors: Vec<String>,
}

/// Which models are loaded, compared by exact name (`llama3.1` means `llama3.1:latest`).
#[utoipa::path(get, path = "/api/models/loaded", tag = "models", responses((status = 200, body = LoadedView)))]
pub async fn loaded(State(st): State<AppState>) -> Json<LoadedView> {
    let s = st.models.get();
    let mut errors = Vec::new();
    let mut per_role = Vec::new();
    let mut guide_loaded = Vec::new();
    for role in ROLES {
        let Some(a) = s.role(role) else {
            per_role.push((None, None, None));
            continue;
        };
        let ep = s.endpoint(&a.endpoint_id);
        let state = match ep {
            Some(ep) => match st.llm.loaded(ep).await {
                Ok(Some(list)) => {
                    let on = list.iter().any(|m| same_model(&m.name, &a.model));
                    if role == "guide" {
                        guide_loaded = list;
                    }
                    Some(on)
                }
                Ok(None) => None,
                Err(e) => {
                    errors.push(e.to_string());
                    None
                }
            },
            None => None,
        };
        per_role.push((Some(a.model.clone()), ep.map(|e| e.url.clone()), state));
    }
    let [g, sp, v]: [(Option<String>, Option<String>, Option<bool>); 3] =
        per_role.try_into().unwrap_or_default();
    Json(LoadedView {
        loaded_models: super::views::all(guide_loaded),
        configured_model: g.0,
        endpoint: g.1,
        configured_loaded: g.2,
        specialist_model: sp.0,
        specialist_endpoint: sp.1,
        specialist_loaded: sp.2,
        vision_model: v.0,
        vision_endpoint: v.1,
        vision_loaded: v.2,
        errors,
    })
}

/// How chat messages are routed between the guide and the specialist.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Messages scoring at least this (0 to 1) go to the specialist under `auto`.
    #[schema(minimum = 0, maximum = 1)]
    pub complexity_threshold: f64,
    #[schema(value_type = crate::api::schema::Strategy)]
    pub strategy: String,
}

impl Bounded for RoutingSettings {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("strategy", &self.strategy, bounds::WORD_CHARS, Kind::Line)
    }
}

fn routing_view(s: &ModelSettings) -> RoutingSettings {
    RoutingSettings {
        complexity_threshold: s.complexity_threshold(),
        strategy: s.strategy().as_str().into(),
    }
}

/// The routing of chat messages (default: `auto` with threshold 0.5).
#[utoipa::path(get, path = "/api/settings/routing", tag = "models",
    responses((status = 200, body = RoutingSettings)))]
pub async fn routing(State(st): State<AppState>) -> Json<RoutingSettings> {
    Json(routing_view(&st.models.get()))
}

/// Sets the routing of chat messages; the `decision` event of every chat names the outcome.
#[utoipa::path(put, path = "/api/settings/routing", tag = "models", request_body = RoutingSettings,
    responses((status = 200, body = RoutingSettings),
        (status = 422, body = ErrorBody, description = "Threshold outside 0..1 or an unknown strategy")))]
pub async fn set_routing(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<RoutingSettings>,
) -> Result<Json<RoutingSettings>, ApiError> {
    let m = st.models.clone();
    blocking(move || m.set_routing(req.complexity_threshold, &req.strategy)).await??;
    Ok(Json(routing_view(&st.models.get())))
}
