//! The HTTP side of model endpoints: listing models (Ollama `/api/tags`, OpenAI `/v1/models`)
//! and what Ollama has loaded (`/api/ps`). API keys go in `Authorization: Bearer` and nowhere
//! else — never into logs or errors.

use std::time::Duration;

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

/// The error for a refused request, with the server's word on why; logged at warn with the
/// endpoint and the model (never the prompt, never the key).
async fn refused(ep: &Endpoint, model: &str, resp: reqwest::Response) -> LlmError {
    let code = resp.status().as_u16();
    let excerpt = error_excerpt(&error_body(resp, Duration::from_secs(2)).await);
    tracing::warn!(endpoint = %ep.id, model, status = code, upstream = %excerpt, "the model server refused the request");
    LlmError::Status {
        endpoint: ep.id.clone(),
        code,
        excerpt,
    }
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
}

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
        Ok(Self { http })
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
            return Err(refused(ep, "", resp).await);
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

#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub text: String,
    /// Ollama: prompt_eval_count + eval_count; OpenAI: usage.total_tokens.
    pub tokens_used: u64,
    /// The tools the model asked for (only when tools were offered).
    pub tool_calls: Vec<ToolCall>,
}

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
            let model = body["model"].as_str().unwrap_or_default();
            return Err(refused(ep, model, resp).await);
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
                tool_calls: Vec::new(),
            })
        } else {
            let text = v["choices"][0]["message"]["content"]
                .as_str()
                .ok_or_else(|| bad("no choices[0].message.content"))?;
            Ok(ChatReply {
                text: text.to_owned(),
                tokens_used: v["usage"]["total_tokens"].as_u64().unwrap_or(0),
                tool_calls: Vec::new(),
            })
        }
    }

    /// A streamed answer: `on_token` gets every piece of text in order as it arrives; the full
    /// reply is returned at the end, with the tool calls the model made when `tools` were
    /// offered. Dropping the future closes the connection, which cancels the generation
    /// upstream.
    pub async fn chat_stream(
        &self,
        ep: &Endpoint,
        model: &str,
        messages: &[ChatMessage],
        o: ChatOptions,
        tools: Option<&Value>,
        mut on_token: impl FnMut(&str),
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
        let mut reply = ChatReply {
            text: String::new(),
            tokens_used: 0,
            tool_calls: Vec::new(),
        };
        // OpenAI's calls by index: id, name, and the argument text as it accumulates.
        let mut pieces: Vec<(String, String, String)> = Vec::new();
        let mut done = false;
        let mut handle = |line: String, reply: &mut ChatReply, done: &mut bool| {
            for ev in decode(&line).map_err(bad)? {
                match ev {
                    Event::Token(t) => {
                        on_token(&t);
                        reply.text.push_str(&t);
                    }
                    Event::ToolCall { name, arguments } => reply.tool_calls.push(ToolCall {
                        id: format!("call_{}", reply.tool_calls.len()),
                        name,
                        arguments,
                    }),
                    Event::ToolCallPiece {
                        index,
                        id,
                        name,
                        arguments,
                    } => {
                        if index > 64 {
                            return Err(bad(format!("tool call index {index} is out of range")));
                        }
                        if pieces.len() <= index {
                            pieces.resize(index + 1, Default::default());
                        }
                        let p = &mut pieces[index];
                        if let Some(id) = id {
                            p.0 = id;
                        }
                        if let Some(n) = name {
                            p.1.push_str(&n);
                        }
                        p.2.push_str(&arguments);
                        if p.2.len() > MAX_TOOL_ARGUMENTS {
                            return Err(bad(format!(
                                "tool call {index} has arguments longer than {} KiB",
                                MAX_TOOL_ARGUMENTS >> 10
                            )));
                        }
                    }
                    Event::Done { tokens_used } => {
                        reply.tokens_used = tokens_used.unwrap_or(reply.tokens_used);
                        *done = true;
                    }
                }
            }
            Ok::<(), LlmError>(())
        };
        while let Some(chunk) = tokio::time::timeout(o.timeout, resp.chunk())
            .await
            .map_err(|_| LlmError::Timeout {
                endpoint: ep.id.clone(),
                after: o.timeout,
            })?
            .map_err(|e| self.transport_error(ep, e, o.timeout))?
        {
            for line in lines.push(&chunk).map_err(bad)? {
                handle(line, &mut reply, &mut done)?;
            }
            if reply.text.len() > MAX_ANSWER {
                return Err(bad(format!(
                    "the answer is longer than {} MiB",
                    MAX_ANSWER >> 20
                )));
            }
        }
        if let Some(line) = lines.finish() {
            handle(line, &mut reply, &mut done)?;
        }
        if !done {
            return Err(bad("the stream ended before the answer was complete".into()));
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
