//! A chat turn: pick the model (`routing`), gather what the question needs from the machine
//! (`context`, `tools`), build the prompt, scrub secrets (`redact`), get the answer
//! (`assistant`), and pull proposed file edits out of it (`edits`). `turn` is the streamed
//! chat of `POST /api/chat/send`, `config` the config-file chat of `POST /api/chat/config`;
//! the API only turns requests into their inputs and their answers into responses.

pub mod assistant;
pub mod budget;
pub mod config;
pub mod context;
pub mod edits;
pub mod redact;
pub mod routing;
pub mod tools;
pub mod turn;

use std::sync::Arc;

use crate::daemon::Daemon;
use crate::feed::StatusFeed;
use crate::llm::client::{LlmClient, LlmError};
use crate::llm::settings::Settings;
use crate::memory::Memory;
use crate::store::rules::{RuleError, Rules};

/// What a turn works with: handles onto the shared stores and clients (cheap to clone).
#[derive(Debug, Clone)]
pub struct Chat {
    pub daemon: Daemon,
    pub memory: Memory,
    pub rules: Rules,
    pub models: Arc<Settings>,
    pub llm: LlmClient,
    pub feed: Arc<StatusFeed>,
    /// Where the model's proposals go: the safety gate holds them for approval.
    pub gate: crate::actions::Gate,
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The question itself is not acceptable (empty, unknown persona, bad request id).
    #[error("{0}")]
    Invalid(String),
    /// No model is assigned to the role the question needs.
    #[error("{0}")]
    NoModel(&'static str),
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error("internal error (see the log)")]
    Internal,
}

/// Store work (sled, fsync) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ChatError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        ChatError::Internal
    })
}

/// The administrator's enabled rules as a delimited block, highest priority first.
fn rules_block(rules: &[crate::store::rules::Rule]) -> String {
    if rules.is_empty() {
        return String::new();
    }
    let mut p = String::from("Rules from the administrator (follow them):\n---\n");
    for r in rules {
        p.push_str(&format!(
            "• [{}] ({}) {}\n",
            r.priority.to_uppercase(),
            r.category,
            r.text
        ));
    }
    p.push_str("---\n");
    p
}

/// The endpoint of an assignment; a role whose endpoint vanished counts as unassigned.
fn endpoint_of(
    settings: &crate::llm::settings::ModelSettings,
    a: &crate::llm::settings::Assignment,
) -> Result<crate::llm::settings::Endpoint, ChatError> {
    settings
        .endpoint(&a.endpoint_id)
        .cloned()
        .ok_or(ChatError::NoModel("the assigned endpoint no longer exists"))
}
