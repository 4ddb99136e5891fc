//! halbert-web: Halbert's unprivileged per-user process. Serves the REST/WebSocket API, /docs
//! and the page on 127.0.0.1:8000, and reaches halbertd only through `daemon` (gRPC on its
//! Unix socket). See ARCHITECTURE.md.

pub mod ai_rules;
pub mod api;
pub mod assistant;
pub mod bounds;
pub mod config;
pub mod context;
pub mod conversations;
pub mod daemon;
pub mod edits;
pub mod feed;
pub mod guard;
pub mod llm;
pub mod memory;
pub mod peer_uid;
pub mod redact;
pub mod routing;
pub mod sandbox;
pub mod server;
pub mod store;
pub mod tools;
