//! Conversations, in the per-user sled database: one tree of conversation records and one of
//! messages keyed by conversation id + a database-wide monotonic sequence number, so concurrent
//! appends never overwrite each other and a conversation's messages read back in order. Every
//! appended message is also remembered in the `self_conversations` memory collection, and
//! forgotten there when its conversation is deleted.

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("invalid conversation id: ids are UUIDs")]
    BadId,
    #[error("no conversation with id {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Store(#[from] sled::Error),
    #[error("stored conversation data is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error(transparent)]
    Memory(#[from] crate::memory::MemoryError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// ISO 8601 UTC.
    pub timestamp: String,
    pub mentions: Vec<String>,
    pub tool_calls: Vec<serde_json::Value>,
}

/// A conversation's record, without its messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
    pub persona: String,
    pub messages: Vec<Message>,
}

pub const PERSONAS: [&str; 2] = ["guide", "coder"];
const MAX_NAME: usize = 200;
const MAX_CONTENT: usize = 200_000;

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

use crate::time::iso8601_at as iso;

/// Only canonical UUIDs reach the database.
pub fn parse_id(id: &str) -> Result<uuid::Uuid, ConversationError> {
    let u = uuid::Uuid::parse_str(id).map_err(|_| ConversationError::BadId)?;
    if u.hyphenated().to_string() != id {
        return Err(ConversationError::BadId);
    }
    Ok(u)
}

fn preview(content: &str) -> String {
    let mut p: String = content.chars().take(50).collect();
    if content.chars().count() > 50 {
        p.push('…');
    }
    p
}

#[derive(Debug, Clone)]
pub struct Conversations {
    db: sled::Db,
    meta: sled::Tree,
    messages: sled::Tree,
    memory: crate::memory::Memory,
}

impl Conversations {
    /// Messages are remembered in `memory` as they are appended.
    pub fn open(db: &sled::Db, memory: crate::memory::Memory) -> Result<Self, ConversationError> {
        Ok(Self {
            db: db.clone(),
            meta: db.open_tree("conversations")?,
            messages: db.open_tree("conversation_messages")?,
            memory,
        })
    }

    fn get_meta(&self, id: &uuid::Uuid) -> Result<Summary, ConversationError> {
        let raw = self
            .meta
            .get(id.as_bytes())?
            .ok_or_else(|| ConversationError::NotFound(id.to_string()))?;
        Ok(serde_json::from_slice(&raw)?)
    }

    /// Creates a conversation that starts with the assistant's greeting.
    pub fn create(
        &self,
        name: Option<String>,
        persona: Option<String>,
        ai_name: &str,
    ) -> Result<Conversation, ConversationError> {
        let persona = persona.unwrap_or_else(|| "guide".into());
        if !PERSONAS.contains(&persona.as_str()) {
            return Err(ConversationError::Invalid(format!(
                "persona must be guide or coder, not {persona:?}"
            )));
        }
        let t = now();
        let name = match name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
            Some(n) if n.chars().count() > MAX_NAME => {
                return Err(ConversationError::Invalid(
                    "name is longer than 200 characters".into(),
                ));
            }
            Some(n) => n,
            None => t
                .format(&time::macros::format_description!(
                    "Chat [month repr:short] [day], [hour repr:12]:[minute] [period]"
                ))
                .unwrap_or_else(|_| "Chat".into()),
        };
        let id = uuid::Uuid::new_v4();
        let meta = Summary {
            id: id.to_string(),
            name,
            created_at: iso(t),
            updated_at: iso(t),
            persona,
            message_count: 0,
            preview: String::new(),
        };
        self.meta
            .insert(id.as_bytes(), serde_json::to_vec(&meta)?)?;
        let greeting = format!(
            "Hi, I'm {ai_name}, the assistant of this machine. Ask me about its backups, services or disks — \
             and mention things with @, for example @storage or @service."
        );
        // The greeting is boilerplate: stored with the conversation, not remembered.
        self.push(&id.to_string(), "assistant", &greeting, vec![], None)?;
        self.get(&id.to_string())
    }

    /// Appends a message (and remembers it, with the dashboard page it was written on); safe
    /// under concurrent appends to the same conversation.
    pub fn append(
        &self,
        id: &str,
        role: &str,
        content: &str,
        mentions: Vec<String>,
        page: &str,
    ) -> Result<Message, ConversationError> {
        self.push(id, role, content, mentions, Some(page))
    }

    fn push(
        &self,
        id: &str,
        role: &str,
        content: &str,
        mentions: Vec<String>,
        remember_on_page: Option<&str>,
    ) -> Result<Message, ConversationError> {
        let uid = parse_id(id)?;
        if !["user", "assistant"].contains(&role) {
            return Err(ConversationError::Invalid(format!(
                "role must be user or assistant, not {role:?}"
            )));
        }
        if content.trim().is_empty() {
            return Err(ConversationError::Invalid(
                "content must not be empty".into(),
            ));
        }
        if content.chars().count() > MAX_CONTENT {
            return Err(ConversationError::Invalid(
                "content is longer than 200000 characters".into(),
            ));
        }
        self.get_meta(&uid)?;
        let seq = self.db.generate_id()?;
        let t = now();
        let msg = Message {
            id: format!("msg-{seq}"),
            role: role.into(),
            content: content.into(),
            timestamp: iso(t),
            mentions,
            tool_calls: vec![],
        };
        let mut key = uid.as_bytes().to_vec();
        key.extend_from_slice(&seq.to_be_bytes());
        self.messages.insert(key, serde_json::to_vec(&msg)?)?;
        // The record's count, time and preview are updated atomically (compare-and-swap loop).
        let mut failed = None;
        self.meta.update_and_fetch(uid.as_bytes(), |old| {
            let old = old?;
            match serde_json::from_slice::<Summary>(old) {
                Ok(mut m) => {
                    m.message_count += 1;
                    m.updated_at = iso(t);
                    m.preview = preview(content);
                    serde_json::to_vec(&m).ok()
                }
                Err(e) => {
                    failed = Some(e.to_string());
                    Some(old.to_vec())
                }
            }
        })?;
        if let Some(e) = failed {
            return Err(ConversationError::Invalid(format!(
                "conversation record unreadable: {e}"
            )));
        }
        if let Some(page) = remember_on_page {
            self.memory
                .remember_message(&uid.to_string(), role, content, page)?;
        }
        // Durable before the client hears it was stored.
        self.db.flush()?;
        Ok(msg)
    }

    pub fn get(&self, id: &str) -> Result<Conversation, ConversationError> {
        let uid = parse_id(id)?;
        let m = self.get_meta(&uid)?;
        let messages = self
            .messages
            .scan_prefix(uid.as_bytes())
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect::<Result<Vec<Message>, ConversationError>>()?;
        Ok(Conversation {
            id: m.id,
            name: m.name,
            created_at: m.created_at,
            updated_at: m.updated_at,
            persona: m.persona,
            messages,
        })
    }

    /// Newest activity first.
    pub fn list(&self) -> Result<Vec<Summary>, ConversationError> {
        let mut v = self
            .meta
            .iter()
            .values()
            .map(|r| Ok(serde_json::from_slice(&r?)?))
            .collect::<Result<Vec<Summary>, ConversationError>>()?;
        v.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then(b.created_at.cmp(&a.created_at))
        });
        Ok(v)
    }

    pub fn rename(&self, id: &str, name: &str) -> Result<Summary, ConversationError> {
        let uid = parse_id(id)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(ConversationError::Invalid(
                "name must be 1 to 200 characters".into(),
            ));
        }
        self.get_meta(&uid)?;
        let updated = self.meta.update_and_fetch(uid.as_bytes(), |old| {
            let mut m: Summary = serde_json::from_slice(old?).ok()?;
            m.name = name.to_owned();
            serde_json::to_vec(&m).ok()
        })?;
        let raw = updated.ok_or_else(|| ConversationError::NotFound(id.to_owned()))?;
        self.db.flush()?;
        Ok(serde_json::from_slice(&raw)?)
    }

    pub fn delete(&self, id: &str) -> Result<(), ConversationError> {
        let uid = parse_id(id)?;
        self.meta
            .remove(uid.as_bytes())?
            .ok_or_else(|| ConversationError::NotFound(id.to_owned()))?;
        for k in self.messages.scan_prefix(uid.as_bytes()).keys() {
            self.messages.remove(k?)?;
        }
        self.memory
            .delete_prefix(crate::memory::CONVERSATIONS, &format!("conv:{uid}:"))?;
        self.db.flush()?;
        Ok(())
    }
}
