//! Schema-only types: what the OpenAPI description says a field may hold, where the Rust type
//! is a plain string validated by `bounds` and the domain. They exist so that the description
//! states every constraint the server enforces (an enum, a pattern, a length), and a client
//! generated from it sends only what is accepted. Nothing is decoded into them.
//!
//! The patterns: a *line* has no control character (`char::is_control`, U+0000–U+001F and
//! U+007F–U+009F); *text* allows tab and line breaks besides; *non-blank* has at least one
//! character that is not white space (the server trims before it checks emptiness).

use utoipa::ToSchema;

/// `guide` or `coder`: the prompt template, not the model.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Persona {
    Guide,
    Coder,
}

/// Who wrote a message.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
}

/// A model role.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ModelRole {
    Guide,
    Specialist,
    Vision,
}

/// How chat messages are routed to the guide or the specialist.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum Strategy {
    Auto,
    GuideOnly,
    SpecialistPreferred,
}

/// A rule's priority.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Priority {
    High,
    Medium,
    Low,
}

/// One entry of a policy list: 1 to 512 characters, none of them a control character.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, min_length = 1, max_length = 512, pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$")]
pub struct PolicyEntry(pub String);

/// A local time window `HH:MM-HH:MM`; `22:00-06:00` wraps midnight, the end is excluded.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")]
pub struct HoursWindow(pub String);

/// An absolute path glob: `*` within a segment, `**` across.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, min_length = 1, max_length = 512, pattern = r"^/[^\u0000-\u001F\u007F-\u009F]*$")]
pub struct PathGlob(pub String);

/// An alert's severity.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

/// The protocol a model endpoint speaks.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Provider {
    Ollama,
    Openai,
}

/// One of the eight discovery types.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum DiscoveryType {
    Storage,
    Service,
    Network,
    Container,
    Gpu,
    Sharing,
    Security,
    Backup,
}

/// An `@mention`: `@<type>`, `@<id>` or `@terminal`; one line of at most 128 characters.
#[derive(Debug, ToSchema)]
#[schema(max_length = 128, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
pub struct Mention(pub String);

/// An id in a list: one line of at most 256 characters.
#[derive(Debug, ToSchema)]
#[schema(max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
pub struct ListId(pub String);

/// An earlier turn sent with a chat request.
#[derive(Debug, ToSchema)]
pub struct HistoryTurn {
    /// `user`, or anything else for the assistant; one line of at most 32 characters.
    #[schema(max_length = 32, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub role: String,
    /// At most 32,000 characters.
    #[schema(
        max_length = 32000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub content: String,
}

/// `Upgrade` of a WebSocket handshake.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum WsUpgrade {
    Websocket,
}

/// `Connection` of a WebSocket handshake.
#[derive(Debug, ToSchema)]
pub enum WsConnection {
    Upgrade,
}

/// `Sec-WebSocket-Version` of a WebSocket handshake.
#[derive(Debug, ToSchema)]
pub enum WsVersion {
    #[schema(rename = "13")]
    V13,
}

/// `Sec-WebSocket-Key`: 16 random bytes in base64.
#[derive(Debug, ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9+/]{22}==$")]
pub struct WsKey(pub String);
