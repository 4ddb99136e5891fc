//! One answer of the assistant, with or without tools: the two-call protocol of
//! docs/decisions.md §7. Call 1 streams with the tools offered; when the model asks for
//! tools, each call is validated and answered by halbertd, and call 2 streams the answer from
//! the results. A model that prints its tool call as text instead of making one (JSON, fenced
//! JSON, `<tool_call>` tags) has it read as the call it is; markup never reaches a person as
//! an answer. Transport-free: tokens and decisions go to a sink.

use std::time::Instant;

use serde_json::{Value, json};

use crate::chat::redact::Scrubber;
use crate::chat::tools;
use crate::daemon::Daemon;
use crate::events::Step;
use crate::llm::client::{
    ChatMessage, ChatOptions, ChatReply, Flow, LlmClient, LlmError, MORE, Piece, ToolCall,
};
use crate::llm::settings::Endpoint;

/// What the assistant reports while it works.
#[derive(Debug)]
pub enum Emit<'a> {
    Token(&'a str),
    /// The model started writing a call of this tool (its arguments are still coming).
    ToolStarted(&'a str),
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
    /// The last call's `finish_reason` (`length`: the answer was cut off at the limit).
    pub finish_reason: String,
    /// The model the server says it ran, when it said.
    pub model: String,
}

/// The openings of the textual tool-call formats models print when they do not (or cannot)
/// make a real call: bare or fenced JSON, Hermes/Qwen `<tool_call>` tags, Llama 3's
/// `<|python_tag|>` and Mistral's `[TOOL_CALLS]`.
const CALL_OPENINGS: &[&str] = &[
    "{",
    "[",
    "```",
    "<tool_call>",
    "<|python_tag|>",
    "[TOOL_CALLS]",
];

/// One call in any of the JSON shapes models print: `{"name", "arguments"|"parameters"}`,
/// `{"function": {...}}` or OpenAI's `{"type": "function", "function": {...}}`.
fn call_of(v: &Value) -> Option<(String, Value)> {
    let f = v.get("function").filter(|f| f.is_object()).unwrap_or(v);
    let name = f.get("name")?.as_str()?.to_owned();
    let args = f
        .get("arguments")
        .or_else(|| f.get("parameters"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    // OpenAI's shape carries the arguments as a JSON string.
    let args = match args {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        other => other,
    };
    (!name.is_empty()).then_some((name, args))
}

/// The calls in one JSON text: an object, an array of them, or `{"tool_calls": [...]}`.
fn calls_in_json(text: &str) -> Option<Vec<(String, Value)>> {
    let v: Value = serde_json::from_str(text.trim()).ok()?;
    let list = match &v {
        Value::Array(a) => a.clone(),
        Value::Object(o) if o.contains_key("tool_calls") => o["tool_calls"].as_array()?.clone(),
        other => vec![other.clone()],
    };
    let calls: Option<Vec<_>> = list.iter().map(call_of).collect();
    calls.filter(|c| !c.is_empty())
}

/// The tool calls a model printed as text instead of making them, in any of the formats of
/// [`CALL_OPENINGS`]; `None` when the text is anything else (an answer that merely starts with
/// a brace or a code block).
pub fn textual_calls(text: &str) -> Option<Vec<ToolCall>> {
    let t = text.trim();
    let found = if t.contains("<tool_call>") {
        // One or more tagged calls; a last one may lack its closing tag (cut at the limit, or
        // the model stopped there). Text outside the tags must be blank.
        let mut calls = Vec::new();
        let mut rest = t;
        while let Some(i) = rest.find("<tool_call>") {
            if !rest[..i].trim().is_empty() {
                return None;
            }
            let after = &rest[i + "<tool_call>".len()..];
            let (inner, next) = match after.find("</tool_call>") {
                Some(j) => (&after[..j], &after[j + "</tool_call>".len()..]),
                None => (after, ""),
            };
            calls.extend(calls_in_json(inner)?);
            rest = next;
        }
        (rest.trim().is_empty() && !calls.is_empty()).then_some(calls)?
    } else if let Some(r) = t
        .strip_prefix("<|python_tag|>")
        .or_else(|| t.strip_prefix("[TOOL_CALLS]"))
    {
        calls_in_json(r)?
    } else {
        let unfenced = t
            .strip_prefix("```json")
            .or_else(|| t.strip_prefix("```"))
            .and_then(|r| r.trim_end().strip_suffix("```"))
            .unwrap_or(t);
        calls_in_json(unfenced)?
    };
    Some(
        found
            .into_iter()
            .enumerate()
            .map(|(i, (name, arguments))| ToolCall {
                id: format!("call_text_{i}"),
                name,
                arguments,
            })
            .collect(),
    )
}

/// What of a streamed answer a person is shown: the start is held back while it may still be
/// a tool call printed as text (see [`CALL_OPENINGS`]), and everything released passes the
/// [`Markup`] filter. While it holds, the name of a call is reported (when `announce`) as soon
/// as it can be read, so a person sees that a tool call is being written.
#[derive(Debug, Default)]
struct Holdback {
    held: String,
    open: bool,
    started: bool,
    /// Report a printed call's name (call 1, where it may run); call 2 cannot run calls.
    announce: bool,
    markup: Markup,
}

impl Holdback {
    fn announcing() -> Self {
        Self {
            announce: true,
            ..Self::default()
        }
    }

    fn push(&mut self, t: &str, sink: &mut impl FnMut(Emit<'_>)) {
        if self.open {
            self.show(t, sink);
            return;
        }
        self.held.push_str(t);
        let start = self.held.trim_start();
        if could_be_call(start) {
            if self.announce
                && !self.started
                && let Some(name) = name_in(start)
            {
                self.started = true;
                sink(Emit::ToolStarted(name));
            }
            return;
        }
        self.open = true;
        let held = std::mem::take(&mut self.held);
        self.show(&held, sink);
    }

    fn show(&mut self, t: &str, sink: &mut impl FnMut(Emit<'_>)) {
        let shown = self.markup.pass(t);
        if !shown.is_empty() {
            sink(Emit::Token(&shown));
        }
    }

    /// The held start, when the stream ended while it was held: the printed calls in it.
    fn printed_calls(&self) -> Option<Vec<ToolCall>> {
        (!self.open).then(|| textual_calls(&self.held)).flatten()
    }

    /// The end of the stream: what is still held is shown (it merely started like a call, as
    /// a code block does), and the filter's tail.
    fn finish(&mut self, sink: &mut impl FnMut(Emit<'_>)) {
        let held = std::mem::take(&mut self.held);
        self.show(&held, sink);
        let tail = self.markup.finish();
        if !tail.is_empty() {
            sink(Emit::Token(&tail));
        }
    }
}

/// The longest text held back while it may be a printed call: printed calls are short, and
/// an answer that opens with a JSON document should not wait for its end to be shown.
const MAX_HELD: usize = 4096;

/// Whether the start of an answer may still turn out to be a printed tool call.
fn could_be_call(start: &str) -> bool {
    if start.is_empty() {
        return true;
    }
    if start.len() > MAX_HELD {
        return false;
    }
    let tagged = |start: &str| {
        CALL_OPENINGS
            .iter()
            .filter(|o| o.len() > 1 && !o.starts_with('`'))
            .any(|o| o.starts_with(start) || start.starts_with(o))
    };
    if tagged(start) {
        return true;
    }
    if start.starts_with(['{', '[']) {
        // A call's JSON goes on with a key (`{"`) or an object (`[{`); "[1] First, …" and
        // "{x} is …" are answers, streamed at once.
        let next = start[1..].trim_start().chars().next();
        let want = if start.starts_with('{') { '"' } else { '{' };
        return next.is_none_or(|c| c == want);
    }
    if let Some(fenced) = start.strip_prefix("```") {
        // A fence may hold a call only if it is untagged or tagged json/tool_call and what
        // follows its first line opens JSON or a tag; a ```bash block streams at once.
        let (tag, body) = match fenced.split_once('\n') {
            Some((tag, body)) => (tag.trim(), Some(body.trim_start())),
            None => (fenced.trim(), None),
        };
        let tagged = ["json", "tool_call"]
            .iter()
            .any(|t| t.starts_with(tag) || tag == *t);
        return tagged
            && body.is_none_or(|b| b.is_empty() || b.starts_with(['{', '[']) || could_be_call(b));
    }
    false
}

/// The value of the first `"name": "..."` in text being written, once its closing quote came.
fn name_in(text: &str) -> Option<&str> {
    let at = text.find("\"name\"")? + "\"name\"".len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    let name = &rest[..end];
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(name)
}

/// Drops tool markup — `<tool_call>…</tool_call>`, and the `<tool_response>…</tool_response>`
/// a model echoes back (SmolLM2 under a Qwen template did, against a real llama.cpp) — from a
/// stream of text wherever it starts, so markup never reaches a person as an answer.
#[derive(Debug, Default)]
struct Markup {
    /// Text that may be the start of a tag, or the inside of one.
    pending: String,
    /// The closing tag awaited, while inside a tagged part.
    inside: Option<&'static str>,
}

/// The tagged parts dropped: (opening, closing).
const TAGS: &[(&str, &str)] = &[
    ("<tool_call>", "</tool_call>"),
    ("<tool_response>", "</tool_response>"),
];

impl Markup {
    /// The part of `t` (with what was pending) that is safe to show now.
    fn pass(&mut self, t: &str) -> String {
        self.pending.push_str(t);
        let mut out = String::new();
        loop {
            if let Some(close) = self.inside {
                match self.pending.find(close) {
                    Some(j) => {
                        self.pending.drain(..j + close.len());
                        self.inside = None;
                    }
                    None => return out,
                }
                continue;
            }
            let first = TAGS
                .iter()
                .filter_map(|(open, close)| self.pending.find(open).map(|i| (i, *open, *close)))
                .min_by_key(|(i, _, _)| *i);
            match first {
                Some((i, open, close)) => {
                    out.push_str(&self.pending[..i]);
                    self.pending.drain(..i + open.len());
                    self.inside = Some(close);
                }
                None => {
                    // Keep back a tail that may be the start of a tag.
                    let len = self.pending.len();
                    let keep = TAGS
                        .iter()
                        .filter_map(|(open, _)| {
                            (1..open.len()).rev().find(|&n| {
                                len >= n
                                    && self.pending.is_char_boundary(len - n)
                                    && open.starts_with(&self.pending[len - n..])
                            })
                        })
                        .max()
                        .unwrap_or(0);
                    let cut = len - keep;
                    out.push_str(&self.pending[..cut]);
                    self.pending.drain(..cut);
                    return out;
                }
            }
        }
    }

    /// What is left at the end: a partial tag that never became one is text; an unclosed
    /// tagged part is dropped.
    fn finish(&mut self) -> String {
        if self.inside.is_some() {
            self.pending.clear();
            return String::new();
        }
        std::mem::take(&mut self.pending)
    }
}

/// The text of an answer without tool-call markup.
pub fn without_markup(text: &str) -> String {
    let mut m = Markup::default();
    let mut out = m.pass(text);
    out.push_str(&m.finish());
    out
}

impl Answer {
    fn plain(r: ChatReply, tokens_used: u64) -> Self {
        Self {
            text: r.text,
            tokens_used,
            tool_calls: Vec::new(),
            suggestions: Vec::new(),
            finish_reason: r.finish_reason,
            model: r.model,
        }
    }
}

/// What a person sees when a model answers with nothing but a tool call it could not make.
const ONLY_A_CALL: &str = "(The model answered with a tool call instead of an answer, so there is nothing to show. Asking again, or assigning a model that supports tools, usually helps.)";

/// One streamed call without tools, every piece of text to `sink` with any tool-call markup
/// taken out; an answer that is nothing but a printed call is replaced by a note saying so.
async fn stream_plain(
    turn: &Turn<'_>,
    messages: &[ChatMessage],
    sink: &mut impl FnMut(Emit<'_>),
) -> Result<ChatReply, LlmError> {
    let mut hold = Holdback::default();
    let mut r = turn
        .llm
        .chat_stream(turn.endpoint, turn.model, messages, turn.opts, None, |p| {
            if let Piece::Token(t) = p {
                hold.push(t, sink);
            }
            MORE
        })
        .await?;
    let text = without_markup(&r.text);
    if hold.printed_calls().is_some() || (text.trim().is_empty() && !r.text.trim().is_empty()) {
        sink(Emit::Token(ONLY_A_CALL));
        r.text = ONLY_A_CALL.to_owned();
        return Ok(r);
    }
    hold.finish(sink);
    r.text = text;
    Ok(r)
}

/// Answers `messages`, streaming the text to `sink`.
pub async fn answer(
    turn: &Turn<'_>,
    mut messages: Vec<ChatMessage>,
    mut sink: impl FnMut(Emit<'_>),
) -> Result<Answer, LlmError> {
    if !turn.tools {
        let r = stream_plain(turn, &messages, &mut sink).await?;
        let tokens = r.tokens_used;
        return Ok(Answer::plain(r, tokens));
    }

    let defs = tools::definitions();
    let mut hold = Holdback::announcing();
    // A model that keeps starting calls (SmolLM2 started 33 in one answer against a real
    // llama.cpp) is stopped once it starts one more than may run: those before are complete.
    let mut started = 0;
    let mut first = turn
        .llm
        .chat_stream(
            turn.endpoint,
            turn.model,
            &messages,
            turn.opts,
            Some(&defs),
            |p| {
                match p {
                    Piece::Token(t) => hold.push(t, &mut sink),
                    Piece::ToolStarted(name) => {
                        started += 1;
                        if started > tools::MAX_CALLS {
                            return Flow::Break(());
                        }
                        sink(Emit::ToolStarted(name))
                    }
                }
                MORE
            },
        )
        .await?;

    if first.tool_calls.is_empty() {
        match hold.printed_calls() {
            Some(calls) => {
                // The model printed its calls instead of making them: they are read as the
                // calls they are (validated like any other), never shown as the answer.
                sink(Emit::Step(Step::ToolFallback {
                    reasoning: "the model wrote its tool call as text instead of making one; it was read as a call".into(),
                }));
                first.text = String::new();
                first.tool_calls = calls;
            }
            None => {
                hold.finish(&mut sink);
                first.text = without_markup(&first.text);
                let tokens = first.tokens_used;
                return Ok(Answer::plain(first, tokens));
            }
        }
    }

    if first.halted() && first.tool_calls.len() > tools::MAX_CALLS {
        tracing::info!(
            started,
            "the model kept starting tool calls; the first {} run",
            tools::MAX_CALLS
        );
        // The last one was only starting when the stream was stopped.
        first.tool_calls.truncate(tools::MAX_CALLS);
    }
    // Text the model streamed before its calls is part of the answer; held-back text is not.
    let streamed = if hold.open {
        hold.finish(&mut sink);
        without_markup(&first.text)
    } else {
        String::new()
    };
    // Arguments cut off at the token limit may be valid JSON that says less than the model
    // meant (a path cut short): such calls are refused, not run.
    let cut = first.truncated().then(|| {
        "the arguments were cut off at the token limit (finish_reason: length)".to_owned()
    });
    let (records, suggestions, results) =
        run_calls(turn, &first.tool_calls, cut.as_deref(), &mut sink).await;
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
        finish_reason: second.finish_reason,
        model: second.model,
    })
}

/// Validates and runs each call; returns the records, the suggested actions and, per call, the
/// result text for the model.
async fn run_calls(
    turn: &Turn<'_>,
    calls: &[ToolCall],
    refuse: Option<&str>,
    sink: &mut impl FnMut(Emit<'_>),
) -> (Vec<ToolRecord>, Vec<Value>, Vec<String>) {
    let mut records = Vec::new();
    let mut suggestions = Vec::new();
    let mut results = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let t0 = Instant::now();
        let parsed = if let Some(why) = refuse {
            Err(why.to_owned())
        } else if i >= tools::MAX_CALLS {
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

    /// The textual tool-call formats models print (issue 14, item 7), and answers that only
    /// look like them.
    #[test]
    fn printed_tool_calls_are_read_in_every_common_format() {
        let names = |t: &str| {
            textual_calls(t).map(|c| {
                c.into_iter()
                    .map(|c| format!("{}{}", c.name, c.arguments))
                    .collect::<Vec<_>>()
            })
        };
        let want = Some(vec![
            r#"get_service_status{"service_name":"cron"}"#.to_owned(),
        ]);
        for text in [
            r#"{"name": "get_service_status", "arguments": {"service_name": "cron"}}"#,
            "```json\n{\"name\": \"get_service_status\", \"parameters\": {\"service_name\": \"cron\"}}\n```",
            "```\n{\"name\": \"get_service_status\", \"arguments\": {\"service_name\": \"cron\"}}\n```",
            "<tool_call>\n{\"name\": \"get_service_status\", \"arguments\": {\"service_name\": \"cron\"}}\n</tool_call>",
            "<tool_call>{\"name\": \"get_service_status\", \"arguments\": {\"service_name\": \"cron\"}}",
            r#"<|python_tag|>{"name": "get_service_status", "parameters": {"service_name": "cron"}}"#,
            r#"[TOOL_CALLS] [{"name": "get_service_status", "arguments": {"service_name": "cron"}}]"#,
            r#"[{"type": "function", "function": {"name": "get_service_status", "arguments": "{\"service_name\": \"cron\"}"}}]"#,
            r#"{"tool_calls": [{"function": {"name": "get_service_status", "arguments": {"service_name": "cron"}}}]}"#,
        ] {
            assert_eq!(names(text), want, "{text}");
        }
        assert_eq!(
            names("<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>")
                .map(|v| v.len()),
            Some(2)
        );
        assert_eq!(names("{\"volume\": 3}"), None);
        assert_eq!(names("The disk is fine."), None);
        assert_eq!(
            names("Sure: <tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>"),
            None,
            "prose around a tag is an answer (its markup is stripped when shown)"
        );
        assert_eq!(names("```bash\nsystemctl status cron\n```"), None);
    }

    #[test]
    fn markup_never_reaches_the_answer_however_it_is_split() {
        let text = "Cron is up. <tool_call>{\"name\": \"x\", \"arguments\": {}}</tool_call> It ran at 10:00 <b>ok</b>.";
        let want = "Cron is up.  It ran at 10:00 <b>ok</b>.";
        assert_eq!(without_markup(text), want);
        for split in 1..text.len() {
            if !text.is_char_boundary(split) {
                continue;
            }
            let mut m = Markup::default();
            let mut out = m.pass(&text[..split]);
            out.push_str(&m.pass(&text[split..]));
            out.push_str(&m.finish());
            assert_eq!(out, want, "split at {split}");
        }
        assert_eq!(
            without_markup("a <tool_ca"),
            "a <tool_ca",
            "not a tag after all"
        );
        assert_eq!(
            without_markup("a <tool_call>{\"name\""),
            "a ",
            "an unclosed call is dropped"
        );
    }

    #[test]
    fn a_call_being_written_is_announced_by_name() {
        let mut started = Vec::new();
        let mut h = Holdback::announcing();
        for t in [
            "<tool_",
            "call>\n{\"na",
            "me\": \"read_jou",
            "rnal\", \"argu",
            "ments\": {}}",
        ] {
            h.push(t, &mut |e| match e {
                Emit::ToolStarted(n) => started.push(n.to_owned()),
                Emit::Token(t) => panic!("markup shown: {t}"),
                Emit::Step(_) => {}
            });
        }
        assert_eq!(
            started,
            ["read_journal"],
            "once, as soon as the name is whole"
        );
        // An answer that opened as prose has its markup filtered too (call 1 as call 2).
        let mut shown = String::new();
        let mut h = Holdback::announcing();
        let mut sink = |e: Emit<'_>| {
            if let Emit::Token(t) = e {
                shown.push_str(t)
            }
        };
        for t in [
            "Checking. <tool_",
            "call>{\"name\": \"x\"}</tool_call> Done.",
        ] {
            h.push(t, &mut sink);
        }
        h.finish(&mut sink);
        assert_eq!(shown, "Checking.  Done.");
        assert!(could_be_call("```"));
        assert!(could_be_call("```js"));
        assert!(!could_be_call("```bash\n"));
        assert!(!could_be_call("```json\nThe answer"));
        assert!(!could_be_call("To check"));
        assert!(could_be_call("{ \"na"));
        assert!(could_be_call("[ {"));
        assert!(!could_be_call("[1] First, check the unit"));
        assert!(!could_be_call("{x} is a placeholder"));
        assert!(could_be_call("[TO"), "the start of [TOOL_CALLS]");
        assert!(could_be_call("<|python"));
        assert!(!could_be_call(&format!("{{{}", "x".repeat(MAX_HELD))));
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
