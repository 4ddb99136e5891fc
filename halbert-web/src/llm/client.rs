//! The HTTP side of model endpoints: listing models (Ollama `/api/tags`, OpenAI `/v1/models`),
//! what Ollama has loaded (`/api/ps`), embeddings (`/api/embed`, `/v1/embeddings`) and chat.
//! API keys go in `Authorization: Bearer` and nowhere else — never into logs or errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::settings::Endpoint;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("endpoint {endpoint} ({url}) is unreachable: {why}")]
    Unreachable {
        endpoint: String,
        url: String,
        why: String,
    },
    #[error("endpoint {endpoint} did not answer within {after:?}")]
    Timeout { endpoint: String, after: Duration },
    /// `excerpt` is the server's own word on why (its error message, bounded and on one line):
    /// "HTTP 400" alone hides "request (15998 tokens) exceeds the available context size".
    #[error("endpoint {endpoint} answered HTTP {code}{}", excerpt_suffix(.excerpt))]
    Status {
        endpoint: String,
        code: u16,
        excerpt: String,
    },
    /// The stream broke off before the answer was complete: the server died or the
    /// connection was cut. Reported as unreachable, since the server is gone, not confused.
    #[error(
        "endpoint {endpoint}: the model server closed the connection after {tokens} tokens, before the answer was complete"
    )]
    Closed { endpoint: String, tokens: usize },
    #[error("endpoint {endpoint} sent an answer that is not what {provider} sends: {why}")]
    BadReply {
        endpoint: String,
        provider: String,
        why: String,
    },
}

fn excerpt_suffix(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!(": {excerpt}")
    }
}

/// The most of an error body kept: enough for any server's sentence about what went wrong.
pub const EXCERPT_CHARS: usize = 300;
/// The most of an error body read to find that sentence.
const ERROR_BODY_BYTES: usize = 16 << 10;

/// The server's message in an error body: OpenAI's and llama.cpp's `{"error": {"message"}}`,
/// Ollama's `{"error": "..."}`, else the text itself; on one line, without control characters,
/// at most [`EXCERPT_CHARS`].
pub fn error_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| match &v["error"] {
            Value::String(m) => Some(m.clone()),
            Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
            _ => v.get("detail").and_then(Value::as_str).map(str::to_owned),
        })
        .unwrap_or_else(|| text.into_owned());
    let one_line: String = message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    match one_line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Reads at most [`ERROR_BODY_BYTES`] of a refused request's body, within `limit`.
async fn error_body(mut resp: reqwest::Response, limit: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    let read = async {
        while body.len() < ERROR_BODY_BYTES {
            match resp.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
    body.truncate(ERROR_BODY_BYTES);
    body
}

/// The error for a refused request, with the server's word on why.
async fn refused(resp: reqwest::Response, ep: &Endpoint) -> LlmError {
    let code = resp.status().as_u16();
    let tried = resp.url().to_string();
    let mut excerpt = error_excerpt(&error_body(resp, Duration::from_secs(2)).await);
    if code == 404 {
        excerpt = not_found_hint(ep, &tried, &excerpt);
    }
    LlmError::Status {
        endpoint: ep.id.clone(),
        code,
        excerpt,
    }
}

/// Every failure of a model call is logged once, at warn, with the endpoint, the model, the
/// HTTP status and the server's own words where there are any — never the prompt or the key:
/// an administrator reading the journal after "the assistant is broken" finds why.
fn logged<T>(ep: &Endpoint, model: &str, r: Result<T, LlmError>) -> Result<T, LlmError> {
    if let Err(e) = &r {
        let (status, upstream) = match e {
            LlmError::Status { code, excerpt, .. } => (Some(*code), excerpt.as_str()),
            _ => (None, ""),
        };
        tracing::warn!(endpoint = %ep.id, model, status, upstream, error = %e, "a model call failed");
    }
    r
}

/// The paths people paste with a base URL, which make every request 404.
const API_PATHS: &[&str] = &[
    "/chat/completions",
    "/completions",
    "/models",
    "/api/chat",
    "/api/generate",
    "/api/tags",
];

/// A 404 names the URL tried and what most likely fixes it: a full API path pasted as the base
/// URL, or the other provider's protocol. An unknown model is a 404 on Ollama too, and its
/// message already says so.
fn not_found_hint(ep: &Endpoint, tried: &str, excerpt: &str) -> String {
    let said = if excerpt.is_empty() {
        String::new()
    } else {
        format!(" ({excerpt})")
    };
    if excerpt.to_lowercase().contains("model") {
        return excerpt.to_owned();
    }
    let fix = if let Some(p) = API_PATHS.iter().find(|p| ep.url.ends_with(*p)) {
        format!(
            "the endpoint's URL ends in the API path {p}: set it to the server's base address, {}",
            ep.url.trim_end_matches(p)
        )
    } else if ep.provider == "ollama" {
        "if this server speaks the OpenAI API (llama.cpp, vLLM, LM Studio), choose provider openai"
            .to_owned()
    } else {
        "if this server is Ollama, choose provider ollama; otherwise check that the URL is the API's base (often ending in /v1)".to_owned()
    };
    format!("{tried} does not exist{said}; {fix}")
}

impl LlmError {
    pub fn status_code(&self) -> Option<u16> {
        match self {
            LlmError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A model Ollama holds in memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadedModel {
    pub name: String,
    pub size: Option<u64>,
    pub size_vram: Option<u64>,
    pub expires_at: Option<String>,
    pub details: Value,
}

#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    /// Context windows the servers reported, per (endpoint URL, model), with when they were
    /// asked: a prompt is sized against them on every turn, and asking each time would cost a
    /// round trip per question.
    windows: Arc<Mutex<Windows>>,
}

/// Per (endpoint URL, model): when the server was asked, and what it said.
type Windows = HashMap<(String, String), (Instant, Option<u32>)>;

/// How long a server's word on a model's context window is trusted (the model may be
/// reloaded with another window).
const WINDOW_TTL: Duration = Duration::from_secs(300);

/// Listing and probing calls; generation has its own, longer limits.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// A streamed answer longer than this is not an answer (a whole book is about 1 MiB).
pub const MAX_ANSWER: usize = 8 << 20;
/// The JSON arguments of one streamed tool call.
pub const MAX_TOOL_ARGUMENTS: usize = 256 << 10;

impl LlmClient {
    /// The client. Where the system has no CA certificates (a minimal install), it still
    /// starts: plain-HTTP endpoints (a local Ollama) work and HTTPS ones fail verification with
    /// a clear error, instead of halbert-web refusing to run.
    pub fn new() -> Result<Self, String> {
        // reqwest is built without a default crypto provider (no C build); ring is installed
        // once per process. A second install is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .user_agent(concat!("halbert/", env!("CARGO_PKG_VERSION")))
        };
        let http = match builder().build() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no usable system CA certificates: HTTPS model endpoints will fail verification");
                builder()
                    .tls_certs_only(std::iter::empty())
                    .build()
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))?
            }
        };
        Ok(Self {
            http,
            windows: Arc::default(),
        })
    }

    fn url(ep: &Endpoint, ollama_path: &str, openai_path: &str) -> String {
        if ep.provider == "ollama" {
            format!("{}{ollama_path}", ep.url)
        } else if ep.url.ends_with("/v1") {
            format!("{}{openai_path}", ep.url)
        } else {
            format!("{}/v1{openai_path}", ep.url)
        }
    }

    async fn get_json(
        &self,
        ep: &Endpoint,
        url: &str,
        timeout: Duration,
    ) -> Result<Value, LlmError> {
        let mut req = self.http.get(url).timeout(timeout);
        if let Some(k) = &ep.api_key {
            req = req.bearer_auth(k);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(ep, e, timeout))?;
        if !resp.status().is_success() {
            return logged(ep, "", Err(refused(resp, ep).await));
        }
        resp.json().await.map_err(|e| LlmError::BadReply {
            endpoint: ep.id.clone(),
            provider: ep.provider.clone(),
            why: e.to_string(),
        })
    }

    /// The model names the endpoint offers.
    pub async fn list_models(
        &self,
        ep: &Endpoint,
        timeout: Duration,
    ) -> Result<Vec<String>, LlmError> {
        let v = self
            .get_json(ep, &Self::url(ep, "/api/tags", "/models"), timeout)
            .await?;
        let (list, key) = if ep.provider == "ollama" {
            (&v["models"], "name")
        } else {
            (&v["data"], "id")
        };
        let arr = list.as_array().ok_or_else(|| LlmError::BadReply {
            endpoint: ep.id.clone(),
            provider: ep.provider.clone(),
            why: "no model list".into(),
        })?;
        Ok(arr
            .iter()
            .filter_map(|m| m[key].as_str().map(str::to_owned))
            .collect())
    }

    /// Why assigning `model` of `ep` may not work, if it may not: the endpoint does not list
    /// it, or its list cannot be read. A warning, not a refusal: some servers (llama.cpp)
    /// list a file path and accept any name.
    pub async fn model_warning(&self, ep: &Endpoint, model: &str) -> Option<String> {
        match self.list_models(ep, PROBE_TIMEOUT).await {
            Ok(list) => {
                let offered = list.iter().any(|m| {
                    if ep.provider == "ollama" {
                        same_model(m, model)
                    } else {
                        m == model
                    }
                });
                (!offered).then(|| {
                    let some: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
                    format!(
                        "endpoint {} does not list a model called {model:?} (it lists {}{}); saved anyway, since some servers accept any name",
                        ep.id,
                        if some.is_empty() { "none".to_owned() } else { some.join(", ") },
                        if list.len() > 5 { ", …" } else { "" }
                    )
                })
            }
            Err(e) => Some(format!(
                "the models of endpoint {} could not be listed, so {model:?} is unchecked: {e}",
                ep.id
            )),
        }
    }

    /// What Ollama has loaded (`/api/ps`); OpenAI-compatible servers cannot say.
    pub async fn loaded(&self, ep: &Endpoint) -> Result<Option<Vec<LoadedModel>>, LlmError> {
        if ep.provider != "ollama" {
            return Ok(None);
        }
        let v = self
            .get_json(ep, &format!("{}/api/ps", ep.url), PROBE_TIMEOUT)
            .await?;
        Ok(Some(
            v["models"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| LoadedModel {
                    name: m["name"]
                        .as_str()
                        .or(m["model"].as_str())
                        .unwrap_or("")
                        .to_owned(),
                    size: m["size"].as_u64(),
                    size_vram: m["size_vram"].as_u64(),
                    expires_at: m["expires_at"].as_str().map(str::to_owned),
                    details: m["details"].clone(),
                })
                .collect(),
        ))
    }
}

impl LlmClient {
    /// Embeds `texts` with `model` on `ep`: Ollama's `POST /api/embed`, OpenAI's
    /// `POST /v1/embeddings`. One vector per text, in the texts' order, all of one length.
    pub async fn embed(
        &self,
        ep: &Endpoint,
        model: &str,
        texts: &[&str],
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        let timeout = ep.timeout();
        let url = Self::url(ep, "/api/embed", "/embeddings");
        let mut req = self
            .http
            .post(&url)
            .timeout(timeout)
            .json(&serde_json::json!({"model": model, "input": texts}));
        if let Some(k) = &ep.api_key {
            req = req.bearer_auth(k);
        }
        let r = async {
            let resp = req
                .send()
                .await
                .map_err(|e| self.transport_error(ep, e, timeout))?;
            if !resp.status().is_success() {
                return Err(refused(resp, ep).await);
            }
            let v: Value = resp
                .json()
                .await
                .map_err(|e| self.transport_error(ep, e, timeout))?;
            embeddings(ep, &v, texts.len())
        }
        .await;
        logged(ep, model, r)
    }
}

/// The vectors of an embedding answer, checked: one per text, numbers only, all one length.
fn embeddings(ep: &Endpoint, v: &Value, count: usize) -> Result<Vec<Vec<f32>>, LlmError> {
    let bad = |why: String| LlmError::BadReply {
        endpoint: ep.id.clone(),
        provider: ep.provider.clone(),
        why,
    };
    let rows: Vec<&Value> = if ep.provider == "ollama" {
        v["embeddings"]
            .as_array()
            .ok_or_else(|| bad("no \"embeddings\" list".into()))?
            .iter()
            .collect()
    } else {
        let mut data: Vec<&Value> = v["data"]
            .as_array()
            .ok_or_else(|| bad("no \"data\" list".into()))?
            .iter()
            .collect();
        // OpenAI gives each vector its input's index; a server may send them out of order.
        data.sort_by_key(|d| d["index"].as_u64().unwrap_or(u64::MAX));
        data.into_iter().map(|d| &d["embedding"]).collect()
    };
    if rows.len() != count {
        return Err(bad(format!("{} vectors for {count} texts", rows.len())));
    }
    let mut out = Vec::with_capacity(count);
    for r in rows {
        let nums = r
            .as_array()
            .ok_or_else(|| bad("a vector that is not a list of numbers".into()))?;
        let vec: Option<Vec<f32>> = nums.iter().map(|n| n.as_f64().map(|f| f as f32)).collect();
        let vec = vec
            .filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()))
            .ok_or_else(|| bad("a vector that is not a list of numbers".into()))?;
        if out.first().is_some_and(|f: &Vec<f32>| f.len() != vec.len()) {
            return Err(bad("vectors of different lengths".into()));
        }
        out.push(vec);
    }
    Ok(out)
}

impl LlmClient {
    /// The context window, in tokens, that prompts for `model` on `ep` must fit: the
    /// administrator's `context_tokens`, else what the server says, else
    /// [`DEFAULT_CONTEXT_TOKENS`](super::settings::DEFAULT_CONTEXT_TOKENS).
    pub async fn context_window(&self, ep: &Endpoint, model: &str) -> u32 {
        if let Some(c) = ep.context_tokens {
            return c;
        }
        let key = (ep.url.clone(), model.to_owned());
        let cached = self
            .windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|(at, _)| at.elapsed() < WINDOW_TTL)
            .map(|(_, w)| *w);
        let window = match cached {
            Some(w) => w,
            None => {
                let w = self.server_window(ep, model).await;
                self.windows
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, (Instant::now(), w));
                w
            }
        };
        window.unwrap_or(super::settings::DEFAULT_CONTEXT_TOKENS)
    }

    /// What the server says of the window: llama.cpp's `GET /props` (`n_ctx` of its slots),
    /// Ollama's `POST /api/show` (a `num_ctx` the model is set to, else the smaller of its
    /// trained length and Ollama's default window, which it runs with unless told). Other
    /// servers do not say (`None`).
    async fn server_window(&self, ep: &Endpoint, model: &str) -> Option<u32> {
        let limit = Duration::from_secs(3);
        let n = |v: &Value| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
        };
        if ep.provider == "ollama" {
            let req = self
                .http
                .post(format!("{}/api/show", ep.url))
                .json(&serde_json::json!({"model": model}));
            let v = probe(ep, req, limit).await?;
            let set = v["parameters"].as_str().and_then(|p| {
                p.lines().find_map(|l| {
                    let mut w = l.split_whitespace();
                    (w.next() == Some("num_ctx")).then(|| w.next()?.parse::<u32>().ok())?
                })
            });
            let trained = v["model_info"].as_object().and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.ends_with(".context_length"))
                    .and_then(|(_, v)| n(v))
            });
            return set.or_else(|| trained.map(|t| t.min(super::settings::DEFAULT_CONTEXT_TOKENS)));
        }
        let base = ep.url.strip_suffix("/v1").unwrap_or(&ep.url);
        let v = probe(ep, self.http.get(format!("{base}/props")), limit).await?;
        n(&v["default_generation_settings"]["n_ctx"]).or_else(|| n(&v["n_ctx"]))
    }
}

/// The JSON answer of an optional probe (with the endpoint's key), or `None` for any failure:
/// a server that does not answer it simply does not say.
async fn probe(ep: &Endpoint, mut req: reqwest::RequestBuilder, limit: Duration) -> Option<Value> {
    if let Some(k) = &ep.api_key {
        req = req.bearer_auth(k);
    }
    let resp = req
        .timeout(limit)
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?;
    resp.json().await.ok()
}

/// A tool call the model made: `id` is the OpenAI call id (Ollama has none).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

/// One message of a chat request. `images` are raw base64 (no `data:` prefix). An assistant
/// message may carry the model's `tool_calls`; a `tool` message answers one of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    pub images: Vec<String>,
    pub tool_calls: Vec<ToolCall>,
    /// For role `tool`: the call answered (OpenAI's id) and the tool's name (Ollama).
    pub tool_call_id: Option<String>,
    pub tool_name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            images: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
        }
    }

    /// The answer to one tool call.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Self {
        let mut m = Self::new("tool", content);
        m.tool_call_id = Some(call.id.clone());
        m.tool_name = Some(call.name.clone());
        m
    }

    fn ollama_json(&self) -> Value {
        let mut v = serde_json::json!({"role": self.role, "content": self.content});
        if !self.images.is_empty() {
            v["images"] = serde_json::json!(self.images);
        }
        if !self.tool_calls.is_empty() {
            v["tool_calls"] = self
                .tool_calls
                .iter()
                .map(
                    |c| serde_json::json!({"function": {"name": c.name, "arguments": c.arguments}}),
                )
                .collect();
        }
        if let Some(n) = &self.tool_name {
            v["tool_name"] = serde_json::json!(n);
        }
        v
    }

    fn openai_json(&self) -> Value {
        let mut v = if self.images.is_empty() {
            serde_json::json!({"role": self.role, "content": self.content})
        } else {
            let mut parts = vec![serde_json::json!({"type": "text", "text": self.content})];
            parts.extend(self.images.iter().map(|i| serde_json::json!({"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{i}")}})));
            serde_json::json!({"role": self.role, "content": parts})
        };
        if !self.tool_calls.is_empty() {
            v["tool_calls"] = self
                .tool_calls
                .iter()
                .map(|c| {
                    serde_json::json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments.to_string()}})
                })
                .collect();
        }
        if let Some(id) = &self.tool_call_id {
            v["tool_call_id"] = serde_json::json!(id);
        }
        v
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ChatOptions {
    pub temperature: f64,
    pub max_tokens: u32,
    /// Non-streamed: the whole answer. Streamed: until the answer starts, and then the
    /// longest silence between two pieces.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatReply {
    pub text: String,
    /// Ollama: prompt_eval_count + eval_count; OpenAI: usage.total_tokens.
    pub tokens_used: u64,
    /// The tools the model asked for (only when tools were offered).
    pub tool_calls: Vec<ToolCall>,
    /// Why the model stopped, as the server said it (`stop`, `length`, `tool_calls`);
    /// `halted` when the caller stopped reading; empty when the server did not say.
    pub finish_reason: String,
    /// The model the server says it ran; empty when it did not say.
    pub model: String,
}

/// The `finish_reason` of an answer stopped at the token limit (both protocols say it so).
pub const LENGTH: &str = "length";
/// The `finish_reason` of a stream its caller stopped reading ([`Flow::Break`]).
pub const HALTED: &str = "halted";

impl ChatReply {
    /// The answer stopped at the token limit (`max_tokens` / `num_predict`).
    pub fn truncated(&self) -> bool {
        self.finish_reason == LENGTH
    }

    /// The caller stopped reading the stream.
    pub fn halted(&self) -> bool {
        self.finish_reason == HALTED
    }

    /// The model the server says it ran, else the one asked for.
    pub fn model_or(&self, asked: &str) -> String {
        if self.model.is_empty() {
            asked.to_owned()
        } else {
            self.model.clone()
        }
    }
}

/// What a streamed answer reports while it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// The next piece of the answer's text.
    Token(&'a str),
    /// The model started writing a call of this tool; its arguments are still to come.
    ToolStarted(&'a str),
}

/// Whether to keep reading a stream: `Break` ends it there (the connection is closed, which
/// stops the generation) and the answer so far is the reply, with `finish_reason: halted`.
pub type Flow = std::ops::ControlFlow<()>;

/// Keep reading.
pub const MORE: Flow = std::ops::ControlFlow::Continue(());

impl LlmClient {
    /// URL and body of a chat request in the endpoint's own protocol, offering `tools` when
    /// given (the same JSON shape works for both protocols).
    fn chat_request(
        ep: &Endpoint,
        model: &str,
        messages: &[ChatMessage],
        o: ChatOptions,
        stream: bool,
        tools: Option<&Value>,
    ) -> (String, Value) {
        let (url, mut body) = if ep.provider == "ollama" {
            let msgs: Vec<Value> = messages.iter().map(ChatMessage::ollama_json).collect();
            let body = serde_json::json!({"model": model, "messages": msgs, "stream": stream,
                "options": {"temperature": o.temperature, "num_predict": o.max_tokens}});
            (format!("{}/api/chat", ep.url), body)
        } else {
            let msgs: Vec<Value> = messages.iter().map(ChatMessage::openai_json).collect();
            let mut body = serde_json::json!({"model": model, "messages": msgs, "stream": stream, "temperature": o.temperature, "max_tokens": o.max_tokens});
            if stream {
                // The token count arrives in a last chunk before [DONE].
                body["stream_options"] = serde_json::json!({"include_usage": true});
            }
            (Self::url(ep, "", "/chat/completions"), body)
        };
        if let Some(t) = tools {
            body["tools"] = t.clone();
        }
        (url, body)
    }

    /// Sends a chat request. `whole` bounds the entire exchange (a non-streamed answer); a
    /// streamed one has no total limit, only `timeout` for the answer to start (here) and for
    /// each silence between chunks (in [`Self::chat_stream`]), so a long answer that keeps
    /// coming is never cut off.
    async fn send_chat(
        &self,
        ep: &Endpoint,
        url: &str,
        body: &Value,
        timeout: Duration,
        whole: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let mut req = self.http.post(url).json(body);
        if whole {
            req = req.timeout(timeout);
        }
        if let Some(k) = &ep.api_key {
            req = req.bearer_auth(k);
        }
        let timed_out = || LlmError::Timeout {
            endpoint: ep.id.clone(),
            after: timeout,
        };
        let resp = tokio::time::timeout(timeout, req.send())
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| self.transport_error(ep, e, timeout))?;
        if !resp.status().is_success() {
            return Err(refused(resp, ep).await);
        }
        Ok(resp)
    }

    /// One complete (non-streamed) answer, in the endpoint's own protocol.
    pub async fn chat(
        &self,
        ep: &Endpoint,
        model: &str,
        messages: &[ChatMessage],
        o: ChatOptions,
    ) -> Result<ChatReply, LlmError> {
        let r = self.chat_once(ep, model, messages, o).await;
        self.forget_window_on_failure(ep, &r);
        logged(ep, model, r)
    }

    /// A failed call may mean the server restarted, perhaps with another context window (or
    /// it says the prompt exceeds the window it has): the next turn asks it again.
    fn forget_window_on_failure<T>(&self, ep: &Endpoint, r: &Result<T, LlmError>) {
        if r.is_err() {
            self.windows
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(url, _), _| url != &ep.url);
        }
    }

    async fn chat_once(
        &self,
        ep: &Endpoint,
        model: &str,
        messages: &[ChatMessage],
        o: ChatOptions,
    ) -> Result<ChatReply, LlmError> {
        let (url, body) = Self::chat_request(ep, model, messages, o, false, None);
        let resp = self.send_chat(ep, &url, &body, o.timeout, true).await?;
        let v: Value = resp
            .json()
            .await
            .map_err(|e| self.transport_error(ep, e, o.timeout))?;
        let bad = |why: &str| LlmError::BadReply {
            endpoint: ep.id.clone(),
            provider: ep.provider.clone(),
            why: why.into(),
        };
        if ep.provider == "ollama" {
            let text = v["message"]["content"]
                .as_str()
                .ok_or_else(|| bad("no message.content"))?;
            let tokens = v["prompt_eval_count"].as_u64().unwrap_or(0)
                + v["eval_count"].as_u64().unwrap_or(0);
            Ok(ChatReply {
                text: text.to_owned(),
                tokens_used: tokens,
                finish_reason: v["done_reason"].as_str().unwrap_or_default().to_owned(),
                model: v["model"].as_str().unwrap_or_default().to_owned(),
                ..ChatReply::default()
            })
        } else {
            let text = v["choices"][0]["message"]["content"]
                .as_str()
                .ok_or_else(|| bad("no choices[0].message.content"))?;
            Ok(ChatReply {
                text: text.to_owned(),
                tokens_used: v["usage"]["total_tokens"].as_u64().unwrap_or(0),
                finish_reason: v["choices"][0]["finish_reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                model: v["model"].as_str().unwrap_or_default().to_owned(),
                ..ChatReply::default()
            })
        }
    }

    /// A streamed answer: `on_piece` gets every piece of text in order as it arrives, and
    /// the name of each tool call as soon as the model starts writing it; the full reply is
    /// returned at the end, with the tool calls the model made when `tools` were offered.
    /// `on_piece` may end the stream early ([`Flow::Break`]). Dropping the future closes the
    /// connection, which cancels the generation upstream.
    ///
    /// A stream that breaks off (the server died, the connection was reset, the body ended
    /// without its final chunk) is [`LlmError::Closed`] with the tokens received, not a
    /// format error: what the server sent was fine, there just was not all of it.
    pub async fn chat_stream(
        &self,
        ep: &Endpoint,
        model: &str,
        messages: &[ChatMessage],
        o: ChatOptions,
        tools: Option<&Value>,
        on_piece: impl FnMut(Piece<'_>) -> Flow,
    ) -> Result<ChatReply, LlmError> {
        let r = self
            .stream_once(ep, model, messages, o, tools, on_piece)
            .await;
        self.forget_window_on_failure(ep, &r);
        logged(ep, model, r)
    }

    async fn stream_once(
        &self,
        ep: &Endpoint,
        model: &str,
        messages: &[ChatMessage],
        o: ChatOptions,
        tools: Option<&Value>,
        mut on_piece: impl FnMut(Piece<'_>) -> Flow,
    ) -> Result<ChatReply, LlmError> {
        use super::stream::Event;
        let (url, body) = Self::chat_request(ep, model, messages, o, true, tools);
        let mut resp = self.send_chat(ep, &url, &body, o.timeout, false).await?;
        let decode = if ep.provider == "ollama" {
            super::stream::ollama_line
        } else {
            super::stream::openai_line
        };
        let bad = |why: String| LlmError::BadReply {
            endpoint: ep.id.clone(),
            provider: ep.provider.clone(),
            why,
        };
        let mut lines = super::stream::Lines::default();
        let mut reply = ChatReply::default();
        // OpenAI's calls by index: id, name, and the argument text as it accumulates.
        let mut pieces: Vec<(String, String, String)> = Vec::new();
        let mut done = false;
        let mut tokens = 0usize;
        let mut handle = |line: String, reply: &mut ChatReply, done: &mut bool| {
            let mut flow = MORE;
            for ev in decode(&line).map_err(bad)? {
                match ev {
                    Event::Token(t) => {
                        tokens += 1;
                        reply.text.push_str(&t);
                        if on_piece(Piece::Token(&t)).is_break() {
                            flow = Flow::Break(());
                        }
                    }
                    Event::ToolCall { name, arguments } => {
                        if on_piece(Piece::ToolStarted(&name)).is_break() {
                            flow = Flow::Break(());
                        }
                        reply.tool_calls.push(ToolCall {
                            id: format!("call_{}", reply.tool_calls.len()),
                            name,
                            arguments,
                        })
                    }
                    Event::ToolCallPiece {
                        index,
                        id,
                        name,
                        arguments,
                    } => {
                        if index > 64 {
                            return Err(bad(format!("tool call {index} is out of range")));
                        }
                        if pieces.len() <= index {
                            pieces.resize(index + 1, Default::default());
                        }
                        let p = &mut pieces[index];
                        if let Some(id) = id {
                            p.0 = id;
                        }
                        if let Some(n) = name {
                            let first = p.1.is_empty();
                            p.1.push_str(&n);
                            if first
                                && !p.1.is_empty()
                                && on_piece(Piece::ToolStarted(&p.1)).is_break()
                            {
                                flow = Flow::Break(());
                            }
                        }
                        p.2.push_str(&arguments);
                        if p.2.len() > MAX_TOOL_ARGUMENTS {
                            return Err(bad(format!(
                                "tool call {index} has arguments longer than {} KiB",
                                MAX_TOOL_ARGUMENTS >> 10
                            )));
                        }
                    }
                    Event::Finish(r) => reply.finish_reason = r,
                    Event::Model(m) => reply.model = m,
                    Event::Done { tokens_used } => {
                        reply.tokens_used = tokens_used.unwrap_or(reply.tokens_used);
                        *done = true;
                    }
                }
            }
            Ok::<Flow, LlmError>(flow)
        };
        let mut halted = false;
        'read: loop {
            let next = tokio::time::timeout(o.timeout, resp.chunk())
                .await
                .map_err(|_| LlmError::Timeout {
                    endpoint: ep.id.clone(),
                    after: o.timeout,
                })?;
            let chunk = match next {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(self.transport_error(ep, e, o.timeout)),
                // Whatever the body error (reset, closed mid-chunk), the server stopped
                // sending before the answer was complete.
                Err(e) => {
                    tracing::debug!(error = %e, "the model's stream broke off");
                    break;
                }
            };
            for line in lines.push(&chunk).map_err(bad)? {
                if handle(line, &mut reply, &mut done)?.is_break() {
                    halted = true;
                    break 'read;
                }
            }
            if reply.text.len() > MAX_ANSWER {
                return Err(bad(format!(
                    "the answer is longer than {} MiB",
                    MAX_ANSWER >> 20
                )));
            }
        }
        if !halted && let Some(line) = lines.finish() {
            // The line is complete: the server sent its last line without a newline. The
            // stream is over, so a wish to stop reading changes nothing.
            let _ = handle(line, &mut reply, &mut done)?;
        }
        if halted {
            reply.finish_reason = HALTED.into();
        } else if !done {
            return Err(LlmError::Closed {
                endpoint: ep.id.clone(),
                tokens,
            });
        }
        for (i, (id, name, args)) in pieces.into_iter().enumerate() {
            if name.is_empty() {
                return Err(bad(format!("tool call {i} has no function name")));
            }
            // Arguments that are not JSON are kept as text; the tool's validation refuses them.
            let arguments = if args.trim().is_empty() {
                Value::Object(Default::default())
            } else {
                serde_json::from_str(&args).unwrap_or(Value::String(args))
            };
            reply.tool_calls.push(ToolCall {
                id: if id.is_empty() {
                    format!("call_{i}")
                } else {
                    id
                },
                name,
                arguments,
            });
        }
        Ok(reply)
    }

    fn transport_error(&self, ep: &Endpoint, e: reqwest::Error, timeout: Duration) -> LlmError {
        if e.is_timeout() {
            return LlmError::Timeout {
                endpoint: ep.id.clone(),
                after: timeout,
            };
        }
        if e.is_decode() {
            return LlmError::BadReply {
                endpoint: ep.id.clone(),
                provider: ep.provider.clone(),
                why: e.to_string(),
            };
        }
        let mut why = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            why = s.to_string();
            src = s.source();
        }
        LlmError::Unreachable {
            endpoint: ep.id.clone(),
            url: ep.url.clone(),
            why,
        }
    }
}

/// Exact model-name comparison; a bare name means `:latest`.
pub fn same_model(a: &str, b: &str) -> bool {
    let full = |s: &str| {
        if s.contains(':') {
            s.to_owned()
        } else {
            format!("{s}:latest")
        }
    };
    full(a) == full(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_exactly() {
        assert!(same_model("llama3.1", "llama3.1:latest"));
        assert!(same_model("llama3.1:8b", "llama3.1:8b"));
        assert!(
            !same_model("llama3.1:8b", "llama3.1:70b"),
            "no prefix matching"
        );
        assert!(!same_model("llama3.1", "llama3.1:8b"));
    }

    /// Embedding answers are checked, not trusted: one vector per text, in the inputs' order
    /// (OpenAI's `index`), numbers only, all of one length.
    #[test]
    fn embedding_answers_are_checked() {
        let ep = |provider: &str| Endpoint {
            id: "e".into(),
            name: "e".into(),
            url: "http://127.0.0.1:1".into(),
            provider: provider.into(),
            api_key: None,
            timeout_s: 5,
            context_tokens: None,
        };
        let (o, a) = (ep("ollama"), ep("openai"));
        let v = serde_json::json!({"embeddings": [[1.0, 0.0], [0.0, 2.0]]});
        assert_eq!(embeddings(&o, &v, 2).expect("ok")[1], vec![0.0, 2.0]);
        let v = serde_json::json!({"data": [
            {"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [1.0, 0.0]}]});
        assert_eq!(embeddings(&a, &v, 2).expect("ok")[0], vec![1.0, 0.0]);
        for (ep, v, why) in [
            (
                &o,
                serde_json::json!({"embeddings": [[1.0]]}),
                "1 vectors for 2 texts",
            ),
            (
                &o,
                serde_json::json!({"embeddings": [[1.0], [1.0, 2.0]]}),
                "different lengths",
            ),
            (
                &o,
                serde_json::json!({"embeddings": [["x"], [1.0]]}),
                "not a list of numbers",
            ),
            (
                &o,
                serde_json::json!({"embedding": [1.0]}),
                "no \"embeddings\"",
            ),
            (
                &a,
                serde_json::json!({"embeddings": [[1.0], [1.0]]}),
                "no \"data\"",
            ),
        ] {
            let e = embeddings(ep, &v, 2).expect_err("bad").to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    /// What a refused request says, from the bodies real servers send (issue 14, item 3).
    #[test]
    fn a_refusal_keeps_the_servers_own_words() {
        let llama = br#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":15998,"n_ctx":8192}}"#;
        assert_eq!(
            error_excerpt(llama),
            "the request exceeds the available context size, try increasing it"
        );
        let openai = br#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error"}}"#;
        assert_eq!(
            error_excerpt(openai),
            "This model's maximum context length is 8192 tokens."
        );
        assert_eq!(
            error_excerpt(br#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(
            error_excerpt(b"Bad Gateway\n\n  upstream\tdown"),
            "Bad Gateway upstream down"
        );
        assert_eq!(error_excerpt(b""), "");
        let long = "x".repeat(1000);
        let e = error_excerpt(long.as_bytes());
        assert_eq!(
            e.chars().count(),
            EXCERPT_CHARS + 1,
            "cut, with an ellipsis"
        );
        let shown = LlmError::Status {
            endpoint: "real".into(),
            code: 400,
            excerpt: error_excerpt(llama),
        }
        .to_string();
        assert_eq!(
            shown,
            "endpoint real answered HTTP 400: the request exceeds the available context size, try increasing it"
        );
        assert_eq!(
            LlmError::Status {
                endpoint: "real".into(),
                code: 500,
                excerpt: String::new()
            }
            .to_string(),
            "endpoint real answered HTTP 500"
        );
    }
}
