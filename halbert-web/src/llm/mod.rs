//! Language-model endpoints: the saved endpoints and role assignments ([`settings`]) and the
//! HTTP client that speaks to Ollama and OpenAI-compatible servers ([`client`]).

pub mod client;
pub mod settings;
pub mod stream;
