//! A scripted model server, the one stand-in the tests use: it speaks Ollama's `/api/chat`
//! (NDJSON streaming and not), `/api/tags` and `/api/ps`, and the OpenAI API's
//! `/v1/chat/completions` (SSE streaming and not) and `/v1/models`, byte for byte as those
//! servers do. What it answers depends on the model name, so one endpoint serves every case:
//!
//! | model name contains | behaviour |
//! |---|---|
//! | `numbered-N` | N tokens `t0 `, `t1 `, … (order and loss are checkable) |
//! | `slow-first` | the first token after 1.5 s |
//! | `slow` | 300 ms between tokens (for cancellation tests) |
//! | `error-500` | HTTP 500 with an error body |
//! | `malformed` | a broken JSON chunk after two tokens |
//! | `cut` | the connection ends after two tokens, without the final chunk |
//! | `reset` | the connection is aborted after two tokens (the server died mid-answer) |
//! | `text-tool` | prints a tool call as JSON text instead of making one |
//! | `tagged-tool` | prints a tool call in `<tool_call>` tags (Hermes/Qwen) instead of making one |
//! | `slow-tool` | a tool call whose arguments take 1.5 s after its name (a CPU model writing it) |
//! | `length` | stops at the token limit: `finish_reason: "length"` (`done_reason` on Ollama); a tool call's arguments are cut off |
//! | `ctx-400` | HTTP 400 with llama.cpp's context-overflow body (OpenAI: OpenAI's `context_length_exceeded` body) |
//! | `ctx-N` | refuses, as `ctx-400` does, a prompt over N tokens (at 4 characters a token) |
//! | `runaway` | with tools offered, ten calls of `get_system_load`, and tool results echoed in `<tool_response>` tags before the answer (as SmolLM2 does) |
//! | `alias` | the answers name another model (`scripted-real.gguf`), as llama.cpp names its file |
//! | `edit-broken` | config chat: prose claiming the change, and a block missing its `=======` divider |
//! | `edit-chatty` | config chat: the edit block, then paragraphs of talk (to be cut off) |
//! | anything else | a short answer; with `tools` offered, tool calls chosen from the question; for config chat (a system prompt with the SEARCH/REPLACE protocol and the file in a fence), one edit block appending `# Added by Halbert` after the file's last line |
//!
//! Embeddings (Ollama `POST /api/embed`, OpenAI `POST /v1/embeddings`): a model whose name
//! contains `embed` answers 64 numbers per text, from a small table of admin topics (disk space,
//! ssh logins, web servers, failing drives: "disk is full" and "No space left on device" land
//! together) plus hashed words; any other model is refused as Ollama and llama.cpp refuse a
//! chat model (`does not support embeddings`).
//!
//! `GET /scripted/stats` answers `{"requests", "cancelled"}` for tests outside the process.
//! `GET /props` answers as llama.cpp does (`n_ctx` 8192) and `POST /api/show` as Ollama does
//! (a trained context of 131072 and `num_ctx 8192`), for context-window discovery.
//!
//! With `tools` in the request and no tool results yet, the question picks the call: "space"
//! or "disk" → `check_disk_space`, "load"/"cpu"/"memory" → `get_system_load`, a
//! `<name>.service` with "log"/"journal"/"error" → `read_journal`, with other words →
//! `get_service_status`, "network"/"ip address" → `get_network_info`, "process <name>" →
//! `check_process`, and "restart" adds `suggest_action`. With tool results in the request the
//! answer quotes them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// What the server saw: every chat request body, and how many streams ended early because
/// the client went away.
#[derive(Debug, Clone, Default)]
pub struct Script {
    requests: Arc<Mutex<Vec<Value>>>,
    cancelled: Arc<AtomicUsize>,
}

impl Script {
    pub fn requests(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Records a chat request; returns its model name.
    fn record(&self, body: &Value) -> String {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(body.clone());
        body["model"].as_str().unwrap_or("").to_owned()
    }
}

/// The models `/api/tags` and `/v1/models` list.
pub const MODELS: &[&str] = &[
    "scripted:8b",
    "scripted:70b",
    "scripted-vision:latest",
    "numbered-20:latest",
    "slow:latest",
    "scripted-embed:latest",
];

pub fn router(script: Script) -> Router {
    Router::new()
        .route("/api/chat", post(ollama_chat))
        .route("/api/tags", get(tags))
        .route("/api/ps", get(ps))
        .route(
            "/api/version",
            get(|| async { Json(json!({"version": "0.12.0-scripted"})) }),
        )
        .route("/v1/chat/completions", post(openai_chat))
        .route("/v1/models", get(models))
        .route("/api/embed", post(ollama_embed))
        .route("/v1/embeddings", post(openai_embed))
        .route(
            "/props",
            get(|| async {
                Json(json!({"default_generation_settings": {"n_ctx": 8192}, "total_slots": 1,
                            "model_path": "/models/scripted.gguf"}))
            }),
        )
        .route(
            "/api/show",
            post(|| async {
                Json(json!({"parameters": "num_ctx                        8192\nstop \"<|eot_id|>\"",
                            "model_info": {"general.architecture": "llama", "llama.context_length": 131072}}))
            }),
        )
        // Not part of either protocol: what the tests driving the server from outside the
        // process (a browser test) check, e.g. that a Stop closed the stream.
        .route(
            "/scripted/stats",
            get(|State(s): State<Script>| async move {
                Json(json!({"requests": s.requests().len(), "cancelled": s.cancelled()}))
            }),
        )
        .with_state(script)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    script: Script,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Tokens are small writes; without TCP_NODELAY they wait for ACKs and arrive in bursts.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(script))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn tags() -> Json<Value> {
    Json(json!({"models": MODELS.iter().map(|m| json!({
        "name": m, "model": m, "modified_at": "2026-11-01T10:00:00Z", "size": 4_920_753_328u64,
        "digest": "0123456789abcdef", "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"}
    })).collect::<Vec<_>>()}))
}

async fn ps() -> Json<Value> {
    Json(json!({"models": [{
        "name": "scripted:8b", "model": "scripted:8b", "size": 6_654_289_920u64,
        "size_vram": 6_654_289_920u64, "expires_at": "2026-11-28T20:00:00Z",
        "details": {"family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"}
    }]}))
}

async fn models() -> Json<Value> {
    Json(
        json!({"object": "list", "data": MODELS.iter().map(|m| json!({
        "id": m, "object": "model", "created": 1_764_000_000, "owned_by": "scripted"
    })).collect::<Vec<_>>()}),
    )
}

/// Numbers per text of the scripted embedding model.
pub const EMBED_DIM: usize = 64;

/// Admin topics: a text mentioning any of a topic's words gets that topic's dimension.
const TOPICS: &[&[&str]] = &[
    &[
        "disk",
        "full",
        "space",
        "filesystem",
        "storage",
        "quota",
        "enospc",
    ],
    &[
        "ssh",
        "sshd",
        "login",
        "log in",
        "publickey",
        "authentication",
        "denied",
    ],
    &["web", "nginx", "apache", "http", "site"],
    &["drive", "smart", "sector", "dying", "failing", "i/o error"],
];

/// The scripted model's vector for `text`: topics weigh 4, each word 1 (hashed into the
/// dimensions after the topics').
fn scripted_vector(text: &str) -> Vec<f64> {
    let lower = text.to_lowercase();
    let mut v = vec![0.0; EMBED_DIM];
    for (i, words) in TOPICS.iter().enumerate() {
        if words.iter().any(|w| lower.contains(w)) {
            v[i] += 4.0;
        }
    }
    for w in lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = w.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        v[TOPICS.len() + (h % (EMBED_DIM - TOPICS.len()) as u64) as usize] += 1.0;
    }
    v
}

/// The texts of an embedding request (`input`: one string or a list), or why not.
fn embed_inputs(body: &Value) -> Result<Vec<String>, String> {
    match &body["input"] {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "input must be strings".to_owned())
            })
            .collect(),
        _ => Err("invalid input type".into()),
    }
}

async fn ollama_embed(Json(body): Json<Value>) -> Response {
    let model = body["model"].as_str().unwrap_or("").to_owned();
    if !model.contains("embed") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("\"{model}\" does not support embeddings")})),
        )
            .into_response();
    }
    match embed_inputs(&body) {
        Ok(texts) => Json(json!({
            "model": model,
            "embeddings": texts.iter().map(|t| scripted_vector(t)).collect::<Vec<_>>(),
            "total_duration": 1_000_000, "load_duration": 0, "prompt_eval_count": texts.len()
        }))
        .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

async fn openai_embed(Json(body): Json<Value>) -> Response {
    let model = body["model"].as_str().unwrap_or("").to_owned();
    if !model.contains("embed") {
        // llama.cpp's answer when the server was not started for embeddings.
        return (
            StatusCode::NOT_IMPLEMENTED,
            Json(json!({"error": {"code": 501, "type": "not_supported_error",
                "message": "This server does not support embeddings. Start it with `--embeddings`"}})),
        )
            .into_response();
    }
    match embed_inputs(&body) {
        Ok(texts) => Json(json!({
            "object": "list", "model": model,
            // Listed last to first: the index, not the order, says which text each is.
            "data": texts.iter().enumerate().rev().map(|(i, t)| json!({
                "object": "embedding", "index": i, "embedding": scripted_vector(t)
            })).collect::<Vec<_>>(),
            "usage": {"prompt_tokens": texts.len(), "total_tokens": texts.len()}
        }))
        .into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"message": e, "type": "invalid_request_error"}})),
        )
            .into_response(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Malformed,
    Cut,
    Reset,
    Length,
}

/// What to answer: text tokens or tool calls, with timing and an optional fault.
#[derive(Debug)]
struct Plan {
    tokens: Vec<String>,
    calls: Vec<(String, Value)>,
    first_delay: Duration,
    delay: Duration,
    fault: Option<Fault>,
    prompt_tokens: u64,
    /// Before each tool call's arguments (a slow model writing them).
    tool_delay: Duration,
}

fn last_user(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            // OpenAI's content parts: the text part.
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        })
        .unwrap_or_default()
}

fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
    out.retain(|w| !w.is_empty());
    out
}

/// The tool calls a question asks for.
fn choose_calls(question: &str) -> Vec<(String, Value)> {
    let q = question.to_lowercase();
    let tokens: Vec<&str> = q
        .split(|c: char| !(c.is_alphanumeric() || "._-@".contains(c)))
        .filter(|w| !w.is_empty())
        .collect();
    let unit = tokens
        .iter()
        .find(|w| w.ends_with(".service") && w.len() > 8)
        .map(|w| w.to_string());
    let mut calls = Vec::new();
    if q.contains("space") || q.contains("disk") {
        calls.push(("check_disk_space".into(), json!({"path": "/"})));
    }
    if q.contains("load") || q.contains("cpu") || q.contains("memory") {
        calls.push(("get_system_load".into(), json!({})));
    }
    if let Some(u) = &unit {
        if q.contains("log") || q.contains("journal") || q.contains("error") {
            calls.push(("read_journal".into(), json!({"unit": u, "lines": 5})));
        } else {
            calls.push(("get_service_status".into(), json!({"service_name": u})));
        }
    }
    if q.contains("network") || q.contains("ip address") {
        calls.push(("get_network_info".into(), json!({})));
    }
    if let Some(i) = tokens.iter().position(|w| *w == "process")
        && let Some(name) = tokens.get(i + 1)
    {
        calls.push(("check_process".into(), json!({"process_name": name})));
    }
    if q.contains("restart")
        && let Some(u) = &unit
    {
        calls.push((
            "suggest_action".into(),
            json!({"action": "restart_service", "service_name": u, "reason": "it failed"}),
        ));
    }
    calls
}

fn plan(body: &Value) -> Plan {
    let model = body["model"].as_str().unwrap_or("");
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt_tokens = messages
        .iter()
        .map(|m| {
            m["content"]
                .as_str()
                .map_or(1, |c| c.split_whitespace().count() as u64)
        })
        .sum();
    let mut p = Plan {
        tokens: Vec::new(),
        calls: Vec::new(),
        first_delay: Duration::ZERO,
        delay: Duration::from_millis(2),
        fault: None,
        prompt_tokens,
        tool_delay: Duration::ZERO,
    };
    if model.contains("slow-tool") {
        p.tool_delay = Duration::from_millis(1500);
    }
    if model.contains("slow-tool") {
        // Only the tool call is slow.
    } else if model.contains("slow-first") {
        p.first_delay = Duration::from_millis(1500);
    } else if model.contains("slow") {
        p.delay = Duration::from_millis(300);
    }
    if model.contains("malformed") {
        p.fault = Some(Fault::Malformed);
    } else if model.contains("cut") {
        p.fault = Some(Fault::Cut);
    } else if model.contains("reset") {
        p.fault = Some(Fault::Reset);
    } else if model.contains("length") {
        p.fault = Some(Fault::Length);
    }
    if let Some(n) = model
        .split_once("numbered-")
        .map(|(_, rest)| rest.split(':').next().unwrap_or("20"))
    {
        let n: usize = n.parse().unwrap_or(20);
        p.tokens = (0..n).map(|i| format!("t{i} ")).collect();
        return p;
    }
    if let Some(edit) = config_edit(&messages) {
        let edit = if model.contains("edit-broken") {
            // What a small model wrote: the claim, and a block without its divider.
            let (_, block) = edit.split_once('\n').unwrap_or_default();
            let block = block.replace("=======\n", "");
            format!("The new line is added at the end of the file.\n{block}")
        } else if model.contains("edit-chatty") {
            format!(
                "{edit}\n{}",
                "This comment documents the change for the next reader. ".repeat(60)
            )
        } else {
            edit
        };
        p.tokens = words(&edit);
        return p;
    }
    let tool_results: Vec<&Value> = messages.iter().filter(|m| m["role"] == "tool").collect();
    let question = last_user(&messages);
    if body.get("tools").is_some() && tool_results.is_empty() {
        let calls = choose_calls(&question);
        if model.contains("text-tool") || model.contains("tagged-tool") {
            if let Some((name, args)) = calls.first() {
                let mut text = json!({"name": name, "arguments": args}).to_string();
                if model.contains("tagged-tool") {
                    text = format!("<tool_call>\n{text}\n</tool_call>");
                }
                let mid = text.len() / 2;
                p.tokens = vec![text[..mid].to_owned(), text[mid..].to_owned()];
                return p;
            }
        } else if model.contains("runaway") {
            p.calls = vec![("get_system_load".to_owned(), json!({})); 10];
            return p;
        } else if !calls.is_empty() {
            p.calls = calls;
            return p;
        }
    }
    let text = if tool_results.is_empty() {
        format!(
            "Hello from the scripted model. You asked: {}",
            question.chars().take(80).collect::<String>()
        )
    } else {
        let quoted: Vec<String> = tool_results
            .iter()
            .map(|m| {
                m["content"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(400)
                    .collect()
            })
            .collect();
        if model.contains("runaway") {
            format!(
                "<tool_response>\n{}\n</tool_response>\nThe load is shown above.",
                quoted.join("\n")
            )
        } else {
            format!("From the tools: {}", quoted.join(" | "))
        }
    };
    p.tokens = words(&text);
    p
}

/// Config chat: an edit block that appends a comment after the last line of the file quoted in
/// the system prompt (`File: <path>` then a fenced block).
fn config_edit(messages: &[Value]) -> Option<String> {
    let system = messages.first()?["content"].as_str()?;
    if !system.contains("<<<<<<< SEARCH") {
        return None;
    }
    let after = system.split_once("\nFile: ")?.1;
    let body = after.split_once("\n```\n")?.1;
    let file = body.rsplit_once("\n```")?.0;
    let last = file.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(format!(
        "I'll add a comment at the end of the file.\n<<<<<<< SEARCH\n{last}\n=======\n{last}\n# Added by Halbert\n>>>>>>> REPLACE\n"
    ))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Counts the stream as cancelled if it is dropped before its last frame went out.
struct Watch {
    script: Script,
    finished: bool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.finished {
            self.script.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Sends `frames` with their delays; the body ends after the last.
fn stream(script: Script, frames: Vec<(Duration, String)>, content_type: &'static str) -> Response {
    let n = frames.len();
    let st = futures_util::stream::unfold(
        (
            0usize,
            frames,
            Watch {
                script,
                finished: false,
            },
        ),
        move |(i, frames, mut watch)| async move {
            if i >= n {
                return None;
            }
            let (delay, frame) = frames[i].clone();
            tokio::time::sleep(delay).await;
            // The last frame is out: the stream ran to its end.
            watch.finished = i + 1 == n;
            Some((
                Ok::<_, std::io::Error>(Bytes::from(frame)),
                (i + 1, frames, watch),
            ))
        },
    );
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(st),
    )
        .into_response()
}

fn delays(p: &Plan, count: usize) -> impl Iterator<Item = Duration> + '_ {
    (0..count).map(move |i| if i == 0 { p.first_delay } else { p.delay })
}

/// The refusal of a prompt longer than the context, in llama.cpp's shape or OpenAI's.
fn context_error(openai_shape: bool, prompt: u64, n_ctx: u64) -> Response {
    let body = if openai_shape {
        json!({"error": {"message": format!("This model's maximum context length is {n_ctx} tokens. However, your messages resulted in {prompt} tokens. Please reduce the length of the messages."),
                         "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
    } else {
        json!({"error": {"code": 400, "message": format!("request ({prompt} tokens) exceeds the available context size ({n_ctx} tokens), try increasing it"),
                         "type": "exceed_context_size_error", "n_prompt_tokens": prompt, "n_ctx": n_ctx}})
    };
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `ctx-400` and `ctx-N`: the refusal a prompt gets, if it gets one.
fn refuses_context(model: &str, body: &Value, openai: bool) -> Option<Response> {
    let chars: usize = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["content"].as_str().map_or(0, str::len))
        .sum();
    let prompt = (chars / 4) as u64;
    if model.contains("ctx-400") {
        return Some(context_error(openai, 15998, 8192));
    }
    let n: u64 = model
        .split_once("ctx-")?
        .1
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    (prompt > n).then(|| context_error(openai, prompt, n))
}

/// The model the answers name: `alias` models are reported under another name.
fn reported(model: &str) -> String {
    if model.contains("alias") {
        "scripted-real.gguf".into()
    } else {
        model.to_owned()
    }
}

/// A body that sends `frames` and then fails, which aborts the connection mid-answer.
fn reset_after(frames: Vec<String>, content_type: &'static str) -> Response {
    let items: Vec<Result<Bytes, std::io::Error>> = frames
        .into_iter()
        .map(|f| Ok(Bytes::from(f)))
        .chain(std::iter::once(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "scripted: the server died",
        ))))
        .collect();
    let st = futures_util::stream::unfold(items.into_iter(), |mut it| async move {
        let next = it.next()?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        Some((next, it))
    });
    (
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(st),
    )
        .into_response()
}

fn server_error(openai: bool) -> Response {
    let body = if openai {
        json!({"error": {"message": "scripted failure", "type": "server_error"}})
    } else {
        json!({"error": "scripted failure"})
    };
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

async fn ollama_chat(State(s): State<Script>, Json(body): Json<Value>) -> Response {
    let asked = s.record(&body);
    if asked.contains("error-500") {
        return server_error(false);
    }
    if let Some(r) = refuses_context(&asked, &body, false) {
        return r;
    }
    let model = reported(&asked);
    let p = plan(&body);
    let reason = if p.fault == Some(Fault::Length) {
        "length"
    } else {
        "stop"
    };
    let eval = p.tokens.len() as u64 + p.calls.len() as u64;
    let calls: Vec<Value> = p
        .calls
        .iter()
        .map(|(n, a)| json!({"function": {"name": n, "arguments": a}}))
        .collect();
    if body["stream"] == false {
        let mut msg = json!({"role": "assistant", "content": p.tokens.concat()});
        if !calls.is_empty() {
            msg["tool_calls"] = json!(calls);
        }
        return Json(json!({
            "model": model, "created_at": now(), "message": msg, "done": true,
            "done_reason": reason, "prompt_eval_count": p.prompt_tokens, "eval_count": eval,
        }))
        .into_response();
    }
    let mut lines: Vec<String> = p
        .tokens
        .iter()
        .map(|t| {
            json!({"model": model, "created_at": now(),
                   "message": {"role": "assistant", "content": t}, "done": false})
            .to_string()
        })
        .collect();
    if !calls.is_empty() {
        lines.push(
            json!({"model": model, "created_at": now(),
                   "message": {"role": "assistant", "content": "", "tool_calls": calls}, "done": false})
            .to_string(),
        );
    }
    match p.fault {
        Some(Fault::Malformed) => {
            lines.truncate(2);
            lines.push("{\"message\": {\"content\": \"bro".into());
        }
        Some(Fault::Cut) => lines.truncate(2),
        Some(Fault::Reset) => {
            lines.truncate(2);
            return reset_after(
                lines.into_iter().map(|l| l + "\n").collect(),
                "application/x-ndjson",
            );
        }
        None | Some(Fault::Length) => lines.push(
            json!({"model": model, "created_at": now(),
                   "message": {"role": "assistant", "content": ""}, "done": true,
                   "done_reason": reason, "prompt_eval_count": p.prompt_tokens, "eval_count": eval})
            .to_string(),
        ),
    }
    let n_calls = usize::from(!calls.is_empty());
    let n_lines = lines.len();
    let frames = delays(&p, lines.len())
        .zip(lines)
        .enumerate()
        .map(|(i, (d, l))| {
            // Ollama sends a call whole, so a slow call is a long wait before its line.
            let tool_line = n_calls == 1 && i == n_lines - 2;
            (if tool_line { d + p.tool_delay } else { d }, l + "\n")
        })
        .collect();
    stream(s, frames, "application/x-ndjson")
}

async fn openai_chat(State(s): State<Script>, Json(body): Json<Value>) -> Response {
    let asked = s.record(&body);
    if asked.contains("error-500") {
        return server_error(true);
    }
    if let Some(r) = refuses_context(&asked, &body, asked.contains("openai-shape")) {
        return r;
    }
    let model = reported(&asked);
    let p = plan(&body);
    let completion = p.tokens.len() as u64 + p.calls.len() as u64;
    let usage = json!({"prompt_tokens": p.prompt_tokens, "completion_tokens": completion,
                       "total_tokens": p.prompt_tokens + completion});
    let finish = if p.fault == Some(Fault::Length) {
        "length"
    } else if p.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let id = format!("chatcmpl-{}", now());
    if body["stream"] != true {
        let calls: Vec<Value> = p
            .calls
            .iter()
            .enumerate()
            .map(|(i, (n, a))| {
                json!({"id": format!("call_{i}"), "type": "function",
                                      "function": {"name": n, "arguments": a.to_string()}})
            })
            .collect();
        let mut msg = json!({"role": "assistant", "content": if calls.is_empty() { json!(p.tokens.concat()) } else { Value::Null }});
        if !calls.is_empty() {
            msg["tool_calls"] = json!(calls);
        }
        return Json(json!({
            "id": id, "object": "chat.completion", "created": now(), "model": model,
            "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
            "usage": usage,
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Option<&str>| {
        format!(
            "data: {}\n\n",
            json!({"id": id, "object": "chat.completion.chunk", "created": now(), "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    events.extend(p.tokens.iter().map(|t| chunk(json!({"content": t}), None)));
    for (i, (name, args)) in p.calls.iter().enumerate() {
        // As OpenAI does: the id and name first, then the arguments in pieces.
        events.push(chunk(
            json!({"tool_calls": [{"index": i, "id": format!("call_{i}"), "type": "function",
                                   "function": {"name": name, "arguments": ""}}]}),
            None,
        ));
        let a = args.to_string();
        let mid = a.len() / 2;
        // At the limit, the arguments stop halfway.
        let pieces: &[&str] = if p.fault == Some(Fault::Length) {
            &[&a[..mid]]
        } else {
            &[&a[..mid], &a[mid..]]
        };
        for piece in pieces {
            events.push(chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                None,
            ));
        }
    }
    match p.fault {
        Some(Fault::Malformed) => {
            events.truncate(3);
            events.push("data: {\"choices\": [{\"delta\": {\"content\": \"bro\n\n".into());
        }
        Some(Fault::Cut) => events.truncate(3),
        Some(Fault::Reset) => {
            events.truncate(3);
            return reset_after(events, "text/event-stream");
        }
        None | Some(Fault::Length) => {
            events.push(chunk(json!({}), Some(finish)));
            if body["stream_options"]["include_usage"] == true {
                events.push(format!(
                    "data: {}\n\n",
                    json!({"id": id, "object": "chat.completion.chunk", "created": now(),
                           "model": model, "choices": [], "usage": usage})
                ));
            }
            events.push("data: [DONE]\n\n".into());
        }
    }
    // A slow tool call: the wait is between its name and its arguments.
    let first_args = 1 + p.tokens.len() + 1;
    let frames = delays(&p, events.len())
        .zip(events)
        .enumerate()
        .map(|(i, (d, e))| {
            let slow = !p.calls.is_empty() && i == first_args;
            (if slow { d + p.tool_delay } else { d }, e)
        })
        .collect();
    stream(s, frames, "text/event-stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_pick_tools() {
        let names = |q: &str| -> Vec<String> { choose_calls(q).into_iter().map(|c| c.0).collect() };
        assert_eq!(names("How much disk space is left?"), ["check_disk_space"]);
        assert_eq!(names("is cron.service running?"), ["get_service_status"]);
        assert_eq!(names("show the logs of cron.service"), ["read_journal"]);
        assert_eq!(
            names("restart nginx.service please"),
            ["get_service_status", "suggest_action"]
        );
        assert_eq!(names("is the process sshd alive"), ["check_process"]);
        assert!(names("write a poem").is_empty());
    }

    #[test]
    fn config_chat_gets_an_edit_block() {
        let system = "You edit files.\n\nFile: /etc/x.conf\n```\na = 1\nb = 2\n\n```\n\nAnswer with blocks:\n<<<<<<< SEARCH\n...";
        let edit = config_edit(&[json!({"role": "system", "content": system})]).expect("an edit");
        assert!(
            edit.ends_with(
                "<<<<<<< SEARCH\nb = 2\n=======\nb = 2\n# Added by Halbert\n>>>>>>> REPLACE\n"
            ),
            "{edit}"
        );
        assert!(config_edit(&[json!({"role": "system", "content": "You are Halbert."})]).is_none());
    }
}
