//! `/api/conversations*`: stored chat conversations.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::bounds::{self, Bounded, Kind};

use super::views::{Conversation, Message, Summary, all};
use super::{ApiError, ApiJson, AppState, ErrorBody, blocking};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    /// Default: "Chat <Mon DD>, <hh:mm AM/PM>" (UTC).
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub name: Option<String>,
    /// `guide` (default) or `coder`.
    #[schema(value_type = Option<crate::api::schema::Persona>)]
    pub persona: Option<String>,
}

impl Bounded for NewConversation {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::opt_line("name", &self.name, bounds::NAME_CHARS)?;
        bounds::opt_line("persona", &self.persona, bounds::WORD_CHARS)
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    #[schema(value_type = crate::api::schema::MessageRole)]
    pub role: String,
    /// Not blank.
    #[schema(
        min_length = 1,
        max_length = 200000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub content: String,
    #[serde(default)]
    #[schema(value_type = Vec<crate::api::schema::Mention>, max_items = 32)]
    pub mentions: Vec<String>,
    /// The dashboard page the message was written on (kept with its memory entry).
    #[serde(default)]
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub page: Option<String>,
}

impl Bounded for NewMessage {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("role", &self.role, bounds::WORD_CHARS, Kind::Line)?;
        bounds::text("content", &self.content, 200_000, Kind::Text)?;
        bounds::mentions(&self.mentions)?;
        bounds::opt_line("page", &self.page, bounds::PAGE_CHARS)
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// Not blank (it is trimmed).
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
}

impl Bounded for Rename {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("name", &self.name, bounds::NAME_CHARS, Kind::Line)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub deleted: bool,
    pub id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationList {
    pub conversations: Vec<Summary>,
}

fn ai_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "Halbert".into())
}

/// Conversations, most recently active first.
#[utoipa::path(get, path = "/api/conversations", tag = "conversations", responses((status = 200, body = ConversationList)))]
pub async fn list(State(st): State<AppState>) -> Result<Json<ConversationList>, ApiError> {
    let c = st.conversations.clone();
    Ok(Json(ConversationList {
        conversations: all(blocking(move || c.list()).await??),
    }))
}

/// Start a conversation; it opens with the assistant's greeting.
#[utoipa::path(post, path = "/api/conversations", tag = "conversations", request_body = NewConversation,
    responses((status = 201, body = Conversation), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<NewConversation>,
) -> Result<(StatusCode, Json<Conversation>), ApiError> {
    let c = st.conversations.clone();
    let conv = blocking(move || c.create(req.name, req.persona, &ai_name())).await??;
    Ok((StatusCode::CREATED, Json(conv.into())))
}

/// One conversation with its messages.
#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversations", params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The conversation's UUID, in lower case")),
    responses((status = 200, body = Conversation), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Conversation>, ApiError> {
    let c = st.conversations.clone();
    Ok(Json(blocking(move || c.get(&id)).await??.into()))
}

/// Rename a conversation.
#[utoipa::path(patch, path = "/api/conversations/{id}", tag = "conversations", request_body = Rename, params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The conversation's UUID, in lower case")),
    responses((status = 200, body = Summary), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rename(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Rename>,
) -> Result<Json<Summary>, ApiError> {
    let c = st.conversations.clone();
    Ok(Json(
        blocking(move || c.rename(&id, &req.name)).await??.into(),
    ))
}

/// Delete a conversation and its messages.
#[utoipa::path(delete, path = "/api/conversations/{id}", tag = "conversations", params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The conversation's UUID, in lower case")),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let c = st.conversations.clone();
    let id2 = id.clone();
    blocking(move || c.delete(&id2)).await??;
    Ok(Json(Deleted { deleted: true, id }))
}

/// Append a message. Safe under concurrent appends: every message is stored under its own key.
#[utoipa::path(post, path = "/api/conversations/{id}/messages", tag = "conversations", request_body = NewMessage, params(("id" = String, Path, format = Uuid, pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", description = "The conversation's UUID, in lower case")),
    responses((status = 201, body = Message), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn append(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let c = st.conversations.clone();
    let page = req.page.unwrap_or_default();
    let msg =
        blocking(move || c.append(&id, &req.role, &req.content, req.mentions, &page)).await??;
    Ok((StatusCode::CREATED, Json(msg.into())))
}
