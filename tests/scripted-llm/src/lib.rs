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
//! | `text-tool` | prints a tool call as JSON text instead of making one |
//! | anything else | a short answer; with `tools` offered, tool calls chosen from the question; for config chat (a system prompt with the SEARCH/REPLACE protocol and the file in a fence), one edit block appending `# Added by Halbert` after the file's last line |
//!
//! `GET /scripted/stats` answers `{"requests", "cancelled"}` for tests outside the process.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Malformed,
    Cut,
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
    };
    if model.contains("slow-first") {
        p.first_delay = Duration::from_millis(1500);
    } else if model.contains("slow") {
        p.delay = Duration::from_millis(300);
    }
    if model.contains("malformed") {
        p.fault = Some(Fault::Malformed);
    } else if model.contains("cut") {
        p.fault = Some(Fault::Cut);
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
        p.tokens = words(&edit);
        return p;
    }
    let tool_results: Vec<&Value> = messages.iter().filter(|m| m["role"] == "tool").collect();
    let question = last_user(&messages);
    if body.get("tools").is_some() && tool_results.is_empty() {
        let calls = choose_calls(&question);
        if model.contains("text-tool") {
            if let Some((name, args)) = calls.first() {
                let text = json!({"name": name, "arguments": args}).to_string();
                let mid = text.len() / 2;
                p.tokens = vec![text[..mid].to_owned(), text[mid..].to_owned()];
                return p;
            }
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
        format!("From the tools: {}", quoted.join(" | "))
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

fn server_error(openai: bool) -> Response {
    let body = if openai {
        json!({"error": {"message": "scripted failure", "type": "server_error"}})
    } else {
        json!({"error": "scripted failure"})
    };
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

async fn ollama_chat(State(s): State<Script>, Json(body): Json<Value>) -> Response {
    let model = s.record(&body);
    if model.contains("error-500") {
        return server_error(false);
    }
    let p = plan(&body);
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
            "done_reason": "stop", "prompt_eval_count": p.prompt_tokens, "eval_count": eval,
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
        None => lines.push(
            json!({"model": model, "created_at": now(),
                   "message": {"role": "assistant", "content": ""}, "done": true,
                   "done_reason": "stop", "prompt_eval_count": p.prompt_tokens, "eval_count": eval})
            .to_string(),
        ),
    }
    let frames = delays(&p, lines.len())
        .zip(lines)
        .map(|(d, l)| (d, l + "\n"))
        .collect();
    stream(s, frames, "application/x-ndjson")
}

async fn openai_chat(State(s): State<Script>, Json(body): Json<Value>) -> Response {
    let model = s.record(&body);
    if model.contains("error-500") {
        return server_error(true);
    }
    let p = plan(&body);
    let completion = p.tokens.len() as u64 + p.calls.len() as u64;
    let usage = json!({"prompt_tokens": p.prompt_tokens, "completion_tokens": completion,
                       "total_tokens": p.prompt_tokens + completion});
    let finish = if p.calls.is_empty() {
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
        for piece in [&a[..mid], &a[mid..]] {
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
        None => {
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
    let frames = delays(&p, events.len()).zip(events).collect();
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
