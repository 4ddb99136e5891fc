//! The API's views of domain types: the same JSON, with the OpenAPI schemas the contract is
//! described by. Domain types carry no schema, so a change to the store or the chat engine
//! cannot change the published description unnoticed; each view converts from (or, for
//! request bodies, into) its domain type here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::bounds::Bounded;
use crate::chat::{assistant, edits};
use crate::llm::{client, settings};
use crate::store::{conversations as conv, rules};
use crate::{config, memory};

/// Every element of `v` as its view.
pub fn all<T, V: From<T>>(v: Vec<T>) -> Vec<V> {
    v.into_iter().map(V::from).collect()
}

/// A message of a conversation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// ISO 8601 UTC.
    pub timestamp: String,
    pub mentions: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub tool_calls: Vec<Value>,
}

impl From<conv::Message> for Message {
    fn from(m: conv::Message) -> Self {
        Self {
            id: m.id,
            role: m.role,
            content: m.content,
            timestamp: m.timestamp,
            mentions: m.mentions,
            tool_calls: m.tool_calls,
        }
    }
}

/// A conversation's record, without its messages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub persona: String,
    pub message_count: u64,
    /// The last message, cut to 50 characters.
    pub preview: String,
}

impl From<conv::Summary> for Summary {
    fn from(s: conv::Summary) -> Self {
        Self {
            id: s.id,
            name: s.name,
            created_at: s.created_at,
            updated_at: s.updated_at,
            persona: s.persona,
            message_count: s.message_count,
            preview: s.preview,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Conversation {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub persona: String,
    pub messages: Vec<Message>,
}

impl From<conv::Conversation> for Conversation {
    fn from(c: conv::Conversation) -> Self {
        Self {
            id: c.id,
            name: c.name,
            created_at: c.created_at,
            updated_at: c.updated_at,
            persona: c.persona,
            messages: c.messages.into_iter().map(Message::from).collect(),
        }
    }
}

/// A standing instruction for the assistant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rule {
    pub id: String,
    pub text: String,
    /// `high`, `medium` or `low`.
    pub priority: String,
    pub category: String,
    pub enabled: bool,
}

impl From<rules::Rule> for Rule {
    fn from(r: rules::Rule) -> Self {
        Self {
            id: r.id,
            text: r.text,
            priority: r.priority,
            category: r.category,
            enabled: r.enabled,
        }
    }
}

/// A new rule. Defaults: priority `high`, category `general`, enabled.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    /// Not blank (it is trimmed).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub text: String,
    #[serde(default)]
    #[schema(value_type = Option<super::schema::Priority>)]
    pub priority: Option<String>,
    /// Letters, digits, `-` or `_`.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,50}$")]
    pub category: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl From<NewRule> for rules::RuleInput {
    fn from(r: NewRule) -> Self {
        Self {
            text: Some(r.text),
            priority: r.priority,
            category: r.category,
            enabled: r.enabled,
            rule: None,
        }
    }
}

impl Bounded for NewRule {
    fn check_bounds(&self) -> Result<(), String> {
        rules::RuleInput::from(self.clone()).check_bounds()
    }
}

/// A change to a rule; absent fields keep their value.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleChange {
    /// Not blank (it is trimmed).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub text: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<super::schema::Priority>)]
    pub priority: Option<String>,
    /// Letters, digits, `-` or `_`.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_-]{1,50}$")]
    pub category: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl From<RuleChange> for rules::RuleInput {
    fn from(r: RuleChange) -> Self {
        Self {
            text: r.text,
            priority: r.priority,
            category: r.category,
            enabled: r.enabled,
            rule: None,
        }
    }
}

impl Bounded for RuleChange {
    fn check_bounds(&self) -> Result<(), String> {
        rules::RuleInput::from(self.clone()).check_bounds()
    }
}

/// What a client may send to save a model endpoint.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// Lower-case letters, digits and `-`; made from the name when absent. Saving an existing
    /// id updates it.
    #[schema(pattern = r"^[a-z0-9-]{1,64}$")]
    pub id: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Base URL, e.g. `http://localhost:11434` or `https://api.openai.com/v1`.
    #[schema(max_length = 2048, pattern = r"^https?://")]
    pub url: String,
    /// `ollama` or `openai` (any OpenAI-compatible server).
    #[schema(value_type = super::schema::Provider)]
    pub provider: String,
    /// `"***"` keeps the stored key; `null` or absent removes it.
    #[schema(max_length = 4096, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub api_key: Option<String>,
    /// 1 to 3600 seconds; default 180.
    #[serde(default, deserialize_with = "crate::bounds::whole_number")]
    #[schema(minimum = 1, maximum = 3600)]
    pub timeout_s: Option<u64>,
    /// The models' context window in tokens, 512 to 2097152; absent or null: what the server
    /// says (llama.cpp's `/props`, Ollama's `/api/show`), else 4096. Chat trims what it adds
    /// to a prompt (page context, discovery, memory, history) to fit.
    #[serde(default, deserialize_with = "crate::bounds::whole_number")]
    #[schema(minimum = 512, maximum = 2097152)]
    pub context_tokens: Option<u32>,
}

impl From<EndpointInput> for settings::EndpointInput {
    fn from(e: EndpointInput) -> Self {
        Self {
            id: e.id,
            name: e.name,
            url: e.url,
            provider: e.provider,
            api_key: e.api_key,
            timeout_s: e.timeout_s,
            context_tokens: e.context_tokens,
        }
    }
}

impl Bounded for EndpointInput {
    fn check_bounds(&self) -> Result<(), String> {
        settings::EndpointInput::from(self.clone()).check_bounds()
    }
}

/// A model Ollama holds in memory.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoadedModel {
    pub name: String,
    pub size: Option<u64>,
    pub size_vram: Option<u64>,
    pub expires_at: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<client::LoadedModel> for LoadedModel {
    fn from(m: client::LoadedModel) -> Self {
        Self {
            name: m.name,
            size: m.size,
            size_vram: m.size_vram,
            expires_at: m.expires_at,
            details: m.details,
        }
    }
}

/// A metadata value: text, a number or a flag.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Number(f64),
    Flag(bool),
}

impl From<memory::Scalar> for Scalar {
    fn from(s: memory::Scalar) -> Self {
        match s {
            memory::Scalar::Text(t) => Scalar::Text(t),
            memory::Scalar::Number(n) => Scalar::Number(n),
            memory::Scalar::Flag(f) => Scalar::Flag(f),
        }
    }
}

/// A remembered entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Entry {
    pub id: String,
    pub content: String,
    pub metadata: BTreeMap<String, Scalar>,
}

impl From<memory::Entry> for Entry {
    fn from(e: memory::Entry) -> Self {
        Self {
            id: e.id,
            content: e.content,
            metadata: e.metadata.into_iter().map(|(k, v)| (k, v.into())).collect(),
        }
    }
}

/// One SEARCH/REPLACE block the model proposed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EditBlock {
    pub search: String,
    pub replace: String,
}

impl From<edits::EditBlock> for EditBlock {
    fn from(b: edits::EditBlock) -> Self {
        Self {
            search: b.search,
            replace: b.replace,
        }
    }
}

/// A block whose SEARCH text was not found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unapplied {
    /// 0-based position of the block in `edit_blocks`.
    pub index: usize,
    pub reason: String,
}

/// A block of the model's answer that could not be read as an edit (a marker missing, an
/// empty SEARCH, a block that changes nothing).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Malformed {
    /// 1-based line of the model's answer where the block starts.
    pub line: usize,
    pub reason: String,
}

impl From<edits::Malformed> for Malformed {
    fn from(m: edits::Malformed) -> Self {
        Self {
            line: m.line,
            reason: m.reason,
        }
    }
}

impl From<edits::Unapplied> for Unapplied {
    fn from(u: edits::Unapplied) -> Self {
        Self {
            index: u.index,
            reason: u.reason,
        }
    }
}

/// A read-only tool the model called for an answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ToolRecord {
    pub tool: String,
    #[schema(value_type = Object)]
    pub arguments: Value,
    pub ok: bool,
    pub duration_ms: u64,
}

impl From<assistant::ToolRecord> for ToolRecord {
    fn from(t: assistant::ToolRecord) -> Self {
        Self {
            tool: t.tool,
            arguments: t.arguments,
            ok: t.ok,
            duration_ms: t.duration_ms,
        }
    }
}

/// `guardrails.yml`: how sure a model must be to act alone, and its CPU budget.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct GuardrailsConfig {
    /// Confidence at or above which a proposed action may run without approval (0.5–1.0).
    pub confidence_threshold: f64,
    /// Confidence at or above which a proposed action may become an approval request; below
    /// it the proposal is refused (fixed at 0.5).
    pub approval_threshold: f64,
    /// CPU share, in percent of all cores, a running task may use (1–100).
    pub cpu_budget: u32,
}

impl From<config::GuardrailsConfig> for GuardrailsConfig {
    fn from(c: config::GuardrailsConfig) -> Self {
        Self {
            confidence_threshold: c.confidence_threshold,
            approval_threshold: crate::approvals::APPROVAL_THRESHOLD,
            cpu_budget: c.cpu_budget,
        }
    }
}
