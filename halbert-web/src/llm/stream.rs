//! Decoding streamed chat answers: Ollama's NDJSON (one JSON object per line) and the OpenAI
//! API's server-sent events (`data: {...}` lines, ending with `data: [DONE]`). Chunks from the
//! network split lines and UTF-8 sequences anywhere; [`Lines`] puts them back together.

use serde_json::Value;

/// The longest line a stream may send (an NDJSON object or an SSE `data:` line). Real
/// lines are a token or a tool call, well under a kilobyte; without a bound, a server that
/// never sends a newline would grow our memory for as long as it talks.
pub const MAX_LINE: usize = 1 << 20;

/// Whole lines out of arbitrary byte chunks.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// How far `buf` is known to hold no newline, so each byte is looked at once.
    scanned: usize,
}

impl Lines {
    /// Adds a chunk and returns the lines it completed (without their `\n` / `\r\n`), or an
    /// error once a line is longer than [`MAX_LINE`].
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, String> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.buf[start + self.scanned..]
            .iter()
            .position(|&b| b == b'\n')
        {
            let end = start + self.scanned + nl;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if line.len() > MAX_LINE {
                return Err(too_long());
            }
            out.push(String::from_utf8_lossy(line).into_owned());
            start = end + 1;
            self.scanned = 0;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > MAX_LINE {
            return Err(too_long());
        }
        Ok(out)
    }

    /// What is left when the stream ends (a last line without a newline).
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        self.scanned = 0;
        let s = String::from_utf8_lossy(&rest).trim().to_owned();
        (!s.is_empty()).then_some(s)
    }
}

fn too_long() -> String {
    format!("the stream sent a line longer than {} KiB", MAX_LINE >> 10)
}

/// One decoded event of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Token(String),
    /// A whole tool call (Ollama sends each call complete, arguments as an object).
    ToolCall {
        name: String,
        arguments: Value,
    },
    /// A piece of a tool call (OpenAI streams calls by index: the id and name first, then the
    /// arguments as fragments of a JSON string).
    ToolCallPiece {
        index: usize,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// The stream says it is complete; with the token count when the server sent one.
    Done {
        tokens_used: Option<u64>,
    },
    /// Why the model stopped (`stop`, `length`, `tool_calls`): OpenAI's `finish_reason`,
    /// Ollama's `done_reason`.
    Finish(String),
    /// The model the server says it ran (the name asked for may be an alias, or ignored).
    Model(String),
}

/// The model a line names, when it names one.
fn model_of(v: &Value, out: &mut Vec<Event>) {
    if let Some(m) = v["model"].as_str()
        && !m.is_empty()
    {
        out.push(Event::Model(m.to_owned()));
    }
}

/// Decodes one NDJSON line of Ollama's `/api/chat` stream.
pub fn ollama_line(line: &str) -> Result<Vec<Event>, String> {
    if line.trim().is_empty() {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_str(line).map_err(|e| format!("malformed stream line: {e}"))?;
    if let Some(err) = v["error"].as_str() {
        return Err(format!("the model reported an error: {err}"));
    }
    let mut out = Vec::new();
    model_of(&v, &mut out);
    if let Some(t) = v["message"]["content"].as_str()
        && !t.is_empty()
    {
        out.push(Event::Token(t.to_owned()));
    }
    for c in v["message"]["tool_calls"].as_array().into_iter().flatten() {
        let name = c["function"]["name"]
            .as_str()
            .ok_or("a tool call without a function name")?;
        // Some servers send the arguments as a JSON string even on Ollama's protocol.
        let arguments = match &c["function"]["arguments"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            other => other.clone(),
        };
        out.push(Event::ToolCall {
            name: name.to_owned(),
            arguments,
        });
    }
    if v["done"].as_bool() == Some(true) {
        if let Some(r) = v["done_reason"].as_str() {
            out.push(Event::Finish(r.to_owned()));
        }
        let tokens = match (v["prompt_eval_count"].as_u64(), v["eval_count"].as_u64()) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        out.push(Event::Done {
            tokens_used: tokens,
        });
    }
    Ok(out)
}

/// Decodes one line of an OpenAI-compatible SSE stream (`stream_options.include_usage` on).
pub fn openai_line(line: &str) -> Result<Vec<Event>, String> {
    let Some(data) = line.strip_prefix("data:").map(str::trim) else {
        // Comments (`:`), `event:` and `id:` lines and blank separators carry no tokens.
        return Ok(Vec::new());
    };
    if data == "[DONE]" {
        return Ok(vec![Event::Done { tokens_used: None }]);
    }
    let v: Value =
        serde_json::from_str(data).map_err(|e| format!("malformed stream event: {e}"))?;
    if let Some(err) = v["error"]["message"].as_str() {
        return Err(format!("the model reported an error: {err}"));
    }
    let mut out = Vec::new();
    model_of(&v, &mut out);
    if let Some(t) = v["choices"][0]["delta"]["content"].as_str()
        && !t.is_empty()
    {
        out.push(Event::Token(t.to_owned()));
    }
    for c in v["choices"][0]["delta"]["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let index = c["index"].as_u64().unwrap_or(0) as usize;
        out.push(Event::ToolCallPiece {
            index,
            id: c["id"].as_str().map(str::to_owned),
            name: c["function"]["name"].as_str().map(str::to_owned),
            arguments: c["function"]["arguments"].as_str().unwrap_or("").to_owned(),
        });
    }
    if let Some(r) = v["choices"][0]["finish_reason"].as_str() {
        out.push(Event::Finish(r.to_owned()));
    }
    if let Some(n) = v["usage"]["total_tokens"].as_u64() {
        // The usage chunk comes last, just before [DONE].
        out.push(Event::Done {
            tokens_used: Some(n),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_survive_any_chunking() {
        let text = "{\"a\":\"é\"}\r\n{\"b\":2}\n{\"c\":3}";
        let bytes = text.as_bytes();
        for split in 1..bytes.len() {
            let mut l = Lines::default();
            let mut got = l.push(&bytes[..split]).expect("short lines");
            got.extend(l.push(&bytes[split..]).expect("short lines"));
            got.extend(l.finish());
            assert_eq!(
                got,
                vec!["{\"a\":\"é\"}", "{\"b\":2}", "{\"c\":3}"],
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_line_longer_than_the_limit_is_an_error_however_it_arrives() {
        let mut l = Lines::default();
        let piece = vec![b'x'; 64 << 10];
        let mut err = None;
        for _ in 0..(MAX_LINE / piece.len() + 1) {
            if let Err(e) = l.push(&piece) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(
            err.as_deref(),
            Some("the stream sent a line longer than 1024 KiB")
        );
        // One chunk holding a whole over-long line.
        let mut big = vec![b'y'; MAX_LINE + 1];
        big.push(b'\n');
        assert!(Lines::default().push(&big).is_err());
        // A line of exactly the limit is fine.
        let mut ok = vec![b'z'; MAX_LINE];
        ok.extend_from_slice(b"\r\nnext\n");
        let got = Lines::default().push(&ok).expect("at the limit");
        assert_eq!((got[0].len(), got[1].as_str()), (MAX_LINE, "next"));
    }

    #[test]
    fn ollama_and_openai_events() {
        assert_eq!(
            ollama_line(r#"{"message":{"role":"assistant","content":"Hel"},"done":false}"#),
            Ok(vec![Event::Token("Hel".into())])
        );
        assert_eq!(
            ollama_line(
                r#"{"message":{"role":"assistant","content":""},"done":true,"prompt_eval_count":10,"eval_count":5}"#
            ),
            Ok(vec![Event::Done {
                tokens_used: Some(15)
            }])
        );
        assert!(ollama_line("{not json").is_err());
        assert!(
            ollama_line(r#"{"error":"model 'x' not found"}"#)
                .expect_err("an error line")
                .contains("not found")
        );
        assert_eq!(
            openai_line(r#"data: {"choices":[{"index":0,"delta":{"content":"lo"}}]}"#),
            Ok(vec![Event::Token("lo".into())])
        );
        assert_eq!(
            openai_line(r#"data: {"choices":[],"usage":{"total_tokens":42}}"#),
            Ok(vec![Event::Done {
                tokens_used: Some(42)
            }])
        );
        assert_eq!(
            openai_line("data: [DONE]"),
            Ok(vec![Event::Done { tokens_used: None }])
        );
        assert_eq!(openai_line(": keep-alive"), Ok(vec![]));
        assert_eq!(
            openai_line(
                r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_1","type":"function","function":{"name":"get_system_load","arguments":""}}]}}]}"#
            ),
            Ok(vec![Event::ToolCallPiece {
                index: 1,
                id: Some("call_1".into()),
                name: Some("get_system_load".into()),
                arguments: String::new()
            }])
        );
        assert_eq!(
            ollama_line(
                r#"{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"read_journal","arguments":{"unit":"cron"}}}]},"done":false}"#
            ),
            Ok(vec![Event::ToolCall {
                name: "read_journal".into(),
                arguments: serde_json::json!({"unit": "cron"})
            }])
        );
        assert!(openai_line("data: {oops").is_err());
    }

    /// Truncation and the model that ran, as both protocols say them (issue 14, items 9, 10).
    #[test]
    fn finish_reasons_and_the_model_that_ran() {
        assert_eq!(
            openai_line(
                r#"data: {"model":"smollm2-135m.gguf","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#
            ),
            Ok(vec![
                Event::Model("smollm2-135m.gguf".into()),
                Event::Finish("length".into())
            ])
        );
        assert_eq!(
            ollama_line(
                r#"{"model":"llama3.1:8b","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","eval_count":5}"#
            ),
            Ok(vec![
                Event::Model("llama3.1:8b".into()),
                Event::Finish("length".into()),
                Event::Done {
                    tokens_used: Some(5)
                }
            ])
        );
        assert_eq!(
            openai_line(
                r#"data: {"model":"","choices":[{"index":0,"delta":{},"finish_reason":null}]}"#
            ),
            Ok(vec![]),
            "an empty model and a null reason say nothing"
        );
    }
}
