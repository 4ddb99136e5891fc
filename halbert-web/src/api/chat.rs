//! `/api/chat/send` and `/api/chat/config`: the request and response views and the handlers,
//! which hand the question to [`crate::chat::turn`] and [`crate::chat::config`].

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::bounds::{self, Bounded, Kind};

use super::views::{EditBlock, Malformed, ToolRecord, Unapplied, all};
use super::{ApiError, ApiJson, AppState, ErrorBody};
use crate::chat::turn::{new_request_id, valid_request_id};
use crate::events::Event;
use crate::feed::StatusFeed;

/// The closing event of a chat request on `/ws`: the turn sends `chat_complete` as the last
/// thing it does; any other ending — an error, or the request's future dropped because its
/// client went away — sends `chat_error` here, so a client waiting on the request id always
/// hears how it ended, exactly once.
struct Closing {
    feed: std::sync::Arc<StatusFeed>,
    request_id: String,
    open: bool,
}

impl Closing {
    fn new(st: &AppState, request_id: &str) -> Self {
        Self {
            feed: st.feed.clone(),
            request_id: request_id.to_owned(),
            open: true,
        }
    }

    /// The turn's own outcome: on success its `chat_complete` went out already.
    fn end<T>(mut self, r: Result<T, crate::chat::ChatError>) -> Result<T, ApiError> {
        self.open = false;
        r.map_err(|e| {
            let e = ApiError::from(e);
            self.send(e.code.as_str(), &e.detail);
            e
        })
    }

    fn send(&self, code: &str, detail: &str) {
        self.feed.broadcast(&Event::ChatError {
            request_id: self.request_id.clone(),
            code: code.to_owned(),
            detail: detail.to_owned(),
        });
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if self.open {
            self.send(
                "cancelled",
                "the request was cancelled before the answer was complete (its client went away)",
            );
        }
    }
}

/// The request id a chat request's events carry: the client's when valid, else a new one. An
/// invalid one is refused by the turn; `None` here means no events can follow.
fn events_id(given: &Option<String>) -> Option<String> {
    match given {
        Some(r) if valid_request_id(r) => Some(r.clone()),
        Some(_) => None,
        None => Some(new_request_id()),
    }
}

/// The handles a chat turn works with, from the application state.
fn chat(st: &AppState) -> crate::chat::Chat {
    crate::chat::Chat {
        daemon: st.daemon.clone(),
        memory: st.memory.clone(),
        rules: st.rules.clone(),
        models: st.models.clone(),
        llm: st.llm.clone(),
        feed: st.feed.clone(),
        gate: st.gate.clone(),
    }
}

/// An earlier turn (described as `HistoryTurn`).
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryItem {
    pub role: String,
    pub content: String,
}

fn history_bounds(history: &[HistoryItem]) -> Result<(), String> {
    bounds::list("history", history, bounds::HISTORY)?;
    history.iter().try_for_each(|h| {
        bounds::text("history role", &h.role, bounds::WORD_CHARS, Kind::Line)?;
        bounds::text(
            "history content",
            &h.content,
            bounds::HISTORY_CHARS,
            Kind::Text,
        )
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigChatRequest {
    /// What to change; not blank.
    #[schema(
        min_length = 1,
        max_length = 32000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub message: String,
    #[schema(max_length = 4096, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub file_path: String,
    /// The file as the client has it: at most 524,288 characters.
    #[schema(max_length = 524288)]
    pub file_content: String,
    #[serde(default)]
    #[schema(value_type = Vec<crate::api::schema::HistoryTurn>, max_items = 50)]
    pub history: Vec<HistoryItem>,
    /// Raw base64 images, no `data:` prefix.
    #[serde(default)]
    #[schema(max_items = 4)]
    pub images: Vec<String>,
    /// Ties the streamed `/ws` events (`chat_token`, then `chat_complete` or `chat_error`) to
    /// this request; the server makes one when absent and returns it. Letters, digits, `-`,
    /// `_`; at most 64.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub request_id: Option<String>,
}

impl Bounded for ConfigChatRequest {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("message", &self.message, bounds::MESSAGE_CHARS, Kind::Text)?;
        bounds::text("file_path", &self.file_path, bounds::PATH_CHARS, Kind::Line)?;
        history_bounds(&self.history)?;
        bounds::list("images", &self.images, bounds::IMAGES)?;
        bounds::opt_line("request_id", &self.request_id, 64)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigChatDebug {
    pub model_used: String,
    /// `specialist` when one is assigned, else `guide`.
    pub model_type: String,
    pub endpoint: String,
    /// Whether secrets and personal data were redacted because the endpoint is not on this machine.
    pub redacted: bool,
    pub tokens_used: u64,
    /// The answer was cut off at the token limit: blocks after the cut are missing.
    pub truncated: bool,
    /// The generation was stopped early: the edit blocks were complete, or the answer was
    /// plainly not becoming an edit (broken block after broken block).
    pub stopped_early: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigChatResponse {
    pub response: String,
    pub edit_blocks: Vec<EditBlock>,
    /// The file with every block that applied; the unchanged file when none did.
    pub proposed_content: String,
    /// What was applied to the file ("Applied 1 of 2 edit block(s): 1 line added from line 12"), or
    /// that nothing was ("No change was made: ..."); never the model's own claim, which is in
    /// `response`.
    pub summary: String,
    /// How many blocks applied.
    pub applied: usize,
    /// Blocks whose SEARCH text was not found, by index into `edit_blocks`.
    pub unapplied: Vec<Unapplied>,
    /// Parts of the answer that looked like blocks but could not be read as edits.
    pub malformed: Vec<Malformed>,
    /// The id the streamed `/ws` events carried.
    pub request_id: String,
    /// The approval request holding the edit (see `/api/approvals`), when the file sent is the
    /// file on disk and an edit applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// Why no approval request was made, when none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_note: Option<String>,
    pub debug: ConfigChatDebug,
}

/// Ask the specialist (else the guide) for edits to a file, and apply them.
#[utoipa::path(post, path = "/api/chat/config", tag = "chat", request_body = ConfigChatRequest,
    responses(
        (status = 200, body = ConfigChatResponse),
        (status = 422, body = ErrorBody, description = "Empty message, or a file over 512 KiB"),
        (status = 502, body = ErrorBody, description = "The model endpoint is unreachable or answered an error"),
        (status = 409, body = ErrorBody, description = "No model is assigned to the role needed (`no_model`)"),
        (status = 504, body = ErrorBody, description = "The model did not answer in time"),
    ))]
pub async fn config(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<ConfigChatRequest>,
) -> Result<Json<ConfigChatResponse>, ApiError> {
    let Some(request_id) = events_id(&req.request_id) else {
        return Err(ApiError::from(crate::chat::ChatError::Invalid(
            crate::chat::turn::REQUEST_ID_RULE.into(),
        )));
    };
    let closing = Closing::new(&st, &request_id);
    let r = crate::chat::config::edit(
        &chat(&st),
        crate::chat::config::EditRequest {
            request_id: request_id.clone(),
            message: req.message,
            file_path: req.file_path,
            file_content: req.file_content,
            history: req
                .history
                .into_iter()
                .map(|h| (h.role, h.content))
                .collect(),
            images: req.images,
        },
    )
    .await;
    let e = closing.end(r)?;
    Ok(Json(ConfigChatResponse {
        response: e.response,
        edit_blocks: all(e.edit_blocks),
        proposed_content: e.proposed_content,
        summary: e.summary,
        applied: e.applied,
        unapplied: all(e.unapplied),
        malformed: all(e.malformed),
        request_id,
        approval_id: e.approval.clone().ok(),
        approval_note: e.approval.err(),
        debug: ConfigChatDebug {
            model_used: e.model_used,
            model_type: e.model_type.into(),
            endpoint: e.endpoint,
            redacted: e.redacted,
            tokens_used: e.tokens_used,
            truncated: e.truncated,
            stopped_early: e.stopped_early,
        },
    }))
}

// ---------------------------------------------------------------- /api/chat/send

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatSendRequest {
    /// The question; not blank.
    #[schema(
        min_length = 1,
        max_length = 32000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub message: String,
    /// `@…` tokens: `@<type>` (all items of a type), `@<id>` (one item), `@terminal`.
    #[serde(default)]
    #[schema(value_type = Vec<crate::api::schema::Mention>, max_items = 32)]
    pub mentions: Vec<String>,
    /// `guide` (default) or `coder`: the prompt template, not the model.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::schema::Persona>)]
    pub persona: Option<String>,
    /// Adds the extra debug fields.
    #[serde(default)]
    pub debug: bool,
    #[serde(default)]
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub current_page: Option<String>,
    #[serde(default)]
    #[schema(
        max_length = 8000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub page_context: Option<String>,
    /// Raw base64 images (no `data:` prefix); they route the message to the vision model.
    #[serde(default)]
    #[schema(max_items = 4)]
    pub images: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<crate::api::schema::HistoryTurn>, max_items = 50)]
    pub history: Vec<HistoryItem>,
    /// Ties the `/ws` events (`decision`, `chat_token`, `chat_complete`) to this request; the
    /// server makes one when absent and returns it. Letters, digits, `-`, `_`; at most 64.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,64}$")]
    pub request_id: Option<String>,
}

impl Bounded for ChatSendRequest {
    fn check_bounds(&self) -> Result<(), String> {
        bounds::text("message", &self.message, bounds::MESSAGE_CHARS, Kind::Text)?;
        bounds::mentions(&self.mentions)?;
        bounds::opt_line("persona", &self.persona, bounds::WORD_CHARS)?;
        bounds::opt_line("current_page", &self.current_page, bounds::PAGE_CHARS)?;
        if let Some(c) = &self.page_context {
            bounds::text("page_context", c, bounds::PAGE_CONTEXT_CHARS, Kind::Text)?;
        }
        bounds::list("images", &self.images, bounds::IMAGES)?;
        history_bounds(&self.history)?;
        bounds::opt_line("request_id", &self.request_id, 64)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatSendResponse {
    pub response: String,
    pub debug: crate::events::ChatDebug,
    pub request_id: String,
    /// Buttons for the user (restart a service, run a backup); nothing here has been run.
    #[schema(value_type = Vec<Object>)]
    pub suggested_actions: Vec<serde_json::Value>,
    /// The read-only tools the model used for this answer, in order.
    pub tool_calls: Vec<ToolRecord>,
}

/// Ask the assistant. Tokens stream on `/ws` as `chat_token` (then `chat_complete`) for this
/// `request_id`, after a `decision` event naming the model chosen; the answer is also returned
/// whole. A client that disconnects cancels the model's generation.
#[utoipa::path(post, path = "/api/chat/send", tag = "chat", request_body = ChatSendRequest,
    responses(
        (status = 200, body = ChatSendResponse),
        (status = 422, body = ErrorBody, description = "Empty message, unknown persona or bad request_id"),
        (status = 502, body = ErrorBody, description = "The model endpoint is unreachable or answered an error"),
        (status = 409, body = ErrorBody, description = "No model is assigned to the role needed (`no_model`)"),
        (status = 504, body = ErrorBody, description = "The model did not answer in time"),
    ))]
pub async fn send(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<ChatSendRequest>,
) -> Result<Json<ChatSendResponse>, ApiError> {
    // An invalid request id is refused by the turn before any event could carry it.
    let rid = events_id(&req.request_id);
    let closing = rid.as_deref().map(|r| Closing::new(&st, r));
    let r = crate::chat::turn::answer(
        &chat(&st),
        crate::chat::turn::Question {
            message: req.message,
            mentions: req.mentions,
            persona: req.persona,
            debug: req.debug,
            current_page: req.current_page,
            page_context: req.page_context,
            images: req.images,
            history: req
                .history
                .into_iter()
                .map(|h| (h.role, h.content))
                .collect(),
            request_id: rid.or(req.request_id),
        },
    )
    .await;
    let r = match closing {
        Some(c) => c.end(r)?,
        None => r?,
    };
    Ok(Json(ChatSendResponse {
        response: r.response,
        debug: r.debug,
        request_id: r.request_id,
        suggested_actions: r.suggested_actions,
        tool_calls: all(r.tool_calls),
    }))
}
