//! One answer of the assistant, with or without tools: the two-call protocol of
//! docs/decisions.md §7. Call 1 streams with the tools offered; when the model asks for
//! tools, each call is validated and answered by halbertd, and call 2 streams the answer from
//! the results. A model that prints a tool call as text instead of making one gets a plain
//! generation without tools. Transport-free: tokens and decisions go to a sink.

use std::time::Instant;

use serde_json::{Value, json};

use crate::chat::redact::Scrubber;
use crate::chat::tools;
use crate::daemon::Daemon;
use crate::events::Step;
use crate::llm::client::{ChatMessage, ChatOptions, ChatReply, LlmClient, LlmError, ToolCall};
use crate::llm::settings::Endpoint;

/// What the assistant reports while it works.
#[derive(Debug)]
pub enum Emit<'a> {
    Token(&'a str),
    /// A step worth telling the client about (a tool call, a fallback).
    Step(Step),
}

/// One model call's inputs.
#[derive(Debug)]
pub struct Turn<'a> {
    pub llm: &'a LlmClient,
    pub daemon: &'a Daemon,
    pub endpoint: &'a Endpoint,
    pub model: &'a str,
    pub opts: ChatOptions,
    /// Offer the tools (the message asks something they answer).
    pub tools: bool,
    /// How tool results are treated before they go to the model (redacted when it is
    /// elsewhere), the same as the rest of the prompt.
    pub scrub: Scrubber,
}

/// A tool call as it is reported back in the response.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ToolRecord {
    pub tool: String,
    pub arguments: Value,
    pub ok: bool,
    pub duration_ms: u64,
}

#[derive(Debug)]
pub struct Answer {
    pub text: String,
    pub tokens_used: u64,
    pub tool_calls: Vec<ToolRecord>,
    pub suggestions: Vec<Value>,
}

/// Whether text the model wrote is a tool call printed as JSON rather than made.
fn looks_like_tool_json(text: &str) -> bool {
    let t = text
        .trim()
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```")
        .trim();
    let Ok(v) = serde_json::from_str::<Value>(t) else {
        return false;
    };
    let one = |v: &Value| {
        v.get("name").is_some_and(Value::is_string)
            && (v.get("arguments").is_some() || v.get("parameters").is_some())
            || v.get("function").is_some()
            || v.get("tool_calls").is_some()
    };
    match &v {
        Value::Array(a) => a.first().is_some_and(one),
        other => one(other),
    }
}

/// Holds back the start of call 1's text while it may still be a tool call printed as JSON;
/// anything else streams at once.
#[derive(Debug, Default)]
struct Holdback {
    held: String,
    open: bool,
}

impl Holdback {
    fn push(&mut self, t: &str, sink: &mut impl FnMut(Emit<'_>)) {
        if self.open {
            sink(Emit::Token(t));
            return;
        }
        self.held.push_str(t);
        let start = self.held.trim_start();
        let maybe_json = start.is_empty()
            || start.starts_with(['{', '['])
            || "```json".starts_with(start)
            || start.starts_with("```json");
        if maybe_json {
            return;
        }
        self.open = true;
        sink(Emit::Token(&std::mem::take(&mut self.held)));
    }
}

impl Answer {
    fn plain(text: String, tokens_used: u64) -> Self {
        Self {
            text,
            tokens_used,
            tool_calls: Vec::new(),
            suggestions: Vec::new(),
        }
    }
}

/// One streamed call without tools, every piece to `sink`.
async fn stream_plain(
    turn: &Turn<'_>,
    messages: &[ChatMessage],
    sink: &mut impl FnMut(Emit<'_>),
) -> Result<ChatReply, LlmError> {
    turn.llm
        .chat_stream(turn.endpoint, turn.model, messages, turn.opts, None, |t| {
            sink(Emit::Token(t))
        })
        .await
}

/// Answers `messages`, streaming the text to `sink`.
pub async fn answer(
    turn: &Turn<'_>,
    mut messages: Vec<ChatMessage>,
    mut sink: impl FnMut(Emit<'_>),
) -> Result<Answer, LlmError> {
    if !turn.tools {
        let r = stream_plain(turn, &messages, &mut sink).await?;
        return Ok(Answer::plain(r.text, r.tokens_used));
    }

    let defs = tools::definitions();
    let mut hold = Holdback::default();
    let first = turn
        .llm
        .chat_stream(
            turn.endpoint,
            turn.model,
            &messages,
            turn.opts,
            Some(&defs),
            |t| hold.push(t, &mut sink),
        )
        .await?;

    if first.tool_calls.is_empty() {
        if !hold.open && looks_like_tool_json(&hold.held) {
            sink(Emit::Step(Step::ToolFallback {
                reasoning: "the model wrote a tool call as text instead of making one; answering without tools".into(),
            }));
            let second = stream_plain(turn, &messages, &mut sink).await?;
            return Ok(Answer::plain(
                second.text,
                first.tokens_used + second.tokens_used,
            ));
        }
        if !hold.open && !hold.held.is_empty() {
            // Text that merely started like JSON (a code block, say) is the answer.
            sink(Emit::Token(&hold.held));
        }
        return Ok(Answer::plain(first.text, first.tokens_used));
    }

    // Text the model streamed before its calls is part of the answer; held-back text is not.
    let streamed = if hold.open {
        first.text.clone()
    } else {
        String::new()
    };
    let (records, suggestions, results) = run_calls(turn, &first.tool_calls, &mut sink).await;
    let mut assistant = ChatMessage::new("assistant", first.text);
    assistant.tool_calls = first.tool_calls.clone();
    messages.push(assistant);
    for (call, content) in first.tool_calls.iter().zip(results) {
        messages.push(ChatMessage::tool_result(call, content));
    }
    // Call 2 gets no tools: the model answers from what it has.
    let second = stream_plain(turn, &messages, &mut sink).await?;
    Ok(Answer {
        text: streamed + &second.text,
        tokens_used: first.tokens_used + second.tokens_used,
        tool_calls: records,
        suggestions,
    })
}

/// Validates and runs each call; returns the records, the suggested actions and, per call, the
/// result text for the model.
async fn run_calls(
    turn: &Turn<'_>,
    calls: &[ToolCall],
    sink: &mut impl FnMut(Emit<'_>),
) -> (Vec<ToolRecord>, Vec<Value>, Vec<String>) {
    let mut records = Vec::new();
    let mut suggestions = Vec::new();
    let mut results = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let t0 = Instant::now();
        let parsed = if i >= tools::MAX_CALLS {
            Err(format!(
                "at most {} tool calls per answer",
                tools::MAX_CALLS
            ))
        } else {
            tools::parse(&call.name, &call.arguments)
        };
        let (result, ok, reasoning) = match parsed {
            Ok(tool) => {
                let out = tools::run(turn.daemon, &tool).await;
                if let Some(s) = out.suggestion {
                    suggestions.push(s);
                }
                let why = if out.ok {
                    "read-only tool answered by halbertd".to_owned()
                } else {
                    format!(
                        "the tool failed: {}",
                        out.result["error"].as_str().unwrap_or("")
                    )
                };
                (out.result, out.ok, why)
            }
            Err(e) => (
                json!({"error": format!("refused: {e}")}),
                false,
                format!("arguments refused: {e}"),
            ),
        };
        let duration_ms = t0.elapsed().as_millis() as u64;
        sink(Emit::Step(Step::ToolCall {
            tool: call.name.clone(),
            arguments: call.arguments.clone(),
            ok,
            duration_ms,
            reasoning,
        }));
        records.push(ToolRecord {
            tool: call.name.clone(),
            arguments: call.arguments.clone(),
            ok,
            duration_ms,
        });
        // The result is data from halbertd, labelled as such (docs/decisions.md §5).
        let text = json!({"source": "halbertd", "tool": call.name, "result": result}).to_string();
        results.push(turn.scrub.apply(&text));
    }
    (records, suggestions, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_json_printed_as_text_is_recognised() {
        assert!(looks_like_tool_json(
            r#"{"name": "get_system_load", "arguments": {}}"#
        ));
        assert!(looks_like_tool_json(
            "```json\n{\"name\": \"check_disk_space\", \"parameters\": {\"path\": \"/\"}}\n```"
        ));
        assert!(looks_like_tool_json(r#"[{"function": {"name": "x"}}]"#));
        assert!(!looks_like_tool_json("{\"volume\": 3}"));
        assert!(!looks_like_tool_json("The disk is fine."));
    }

    #[test]
    fn prose_streams_at_once_and_json_is_held() {
        let mut out = Vec::new();
        let mut h = Holdback::default();
        for t in ["  ", "The ", "disk"] {
            h.push(t, &mut |e| {
                if let Emit::Token(t) = e {
                    out.push(t.to_owned())
                }
            });
        }
        assert_eq!(out, vec!["  The ", "disk"]);
        let mut out = Vec::new();
        let mut h = Holdback::default();
        for t in ["{\"name\"", ": \"x\"}"] {
            h.push(t, &mut |e| {
                if let Emit::Token(t) = e {
                    out.push(t.to_owned())
                }
            });
        }
        assert!(out.is_empty());
        assert_eq!(h.held, "{\"name\": \"x\"}");
    }
}
