//! halbert-web: Halbert's unprivileged per-user process. Serves the REST/WebSocket API, /docs
//! and the dashboard on 127.0.0.1:8000, and reaches halbertd only through `daemon` (gRPC on
//! its Unix socket). See ARCHITECTURE.md.
//!
//! `app` builds the state and workers (for `main` and the tests alike); `server` accepts
//! connections and learns who is calling; `guard` decides whether a request may be answered;
//! `api` is the HTTP transport; `actions` is the one way a route changes anything. The rest is domain: `chat` (a turn, from routing to the
//! answer), `llm`, `memory`, `store`, `feed`, `events`, `daemon`, `config`, `sandbox`, `time`.

pub mod actions;
pub mod api;
pub mod app;
pub mod approvals;
pub mod bounds;
pub mod chat;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod events;
pub mod feed;
pub mod guard;
pub mod history;
pub mod ingestion;
pub mod knowledge;
pub mod llm;
pub mod memory;
pub mod policy;
pub mod recovery;
pub mod sandbox;
pub mod server;
pub mod simulate;
pub mod store;
pub mod terminal;
pub mod time;
