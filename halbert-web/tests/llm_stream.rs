//! Streamed chat answers through the real HTTP client, from a scripted server that speaks
//! Ollama's NDJSON and the OpenAI API's SSE, with chunks split in the middle of lines.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use halbert_web::llm::client::{ChatMessage, ChatOptions, LlmClient, LlmError, MORE, Piece};
use halbert_web::llm::settings::Endpoint;
use serde_json::Value;

type Seen = Arc<Mutex<Vec<Value>>>;

/// A body sent in the given pieces, 5 ms apart, so the client reads them separately.
fn pieces(parts: Vec<&'static str>) -> Body {
    let s = futures_util::stream::unfold(parts.into_iter(), |mut it| async move {
        let next = it.next()?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        Some((
            Ok::<_, std::io::Error>(Bytes::from_static(next.as_bytes())),
            it,
        ))
    });
    Body::from_stream(s)
}

async fn ollama(State(seen): State<Seen>, Json(body): Json<Value>) -> Body {
    let model = body["model"].as_str().unwrap_or("").to_owned();
    seen.lock().expect("lock").push(body);
    match model.as_str() {
        "broken" => pieces(vec![
            "{\"message\":{\"content\":\"ok\"},\"done\":false}\n",
            "{not json\n",
        ]),
        "cut" => pieces(vec![
            "{\"message\":{\"content\":\"half\"},\"done\":false}\n",
        ]),
        // Never a newline: 64 KiB pieces for as long as the client reads (at most 64 MiB).
        "endless-line" => Body::from_stream(futures_util::stream::iter(
            (0..1024).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 64 << 10]))),
        )),
        _ => pieces(vec![
            "{\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"do",
            "ne\":false}\n{\"message\":{\"role\":\"assistant\",\"content\":\"lo\"},\"done\":false}\n{\"message\":{\"content\":\" wörld\"}",
            ",\"done\":false}\n{\"message\":{\"content\":\"\"},\"done\":true,\"prompt_eval_count\":10,\"eval_count\":5}\n",
        ]),
    }
}

async fn openai(State(seen): State<Seen>, Json(body): Json<Value>) -> Body {
    seen.lock().expect("lock").push(body);
    pieces(vec![
        ": keep-alive\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"del",
        "ta\":{\"content\":\" there\"}}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":12,\"total_tokens\":42}}\n\ndata: [DONE]\n\n",
    ])
}

async fn server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/api/chat", post(ollama))
        .route("/v1/chat/completions", post(openai))
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (url, seen)
}

fn endpoint(url: &str, provider: &str) -> Endpoint {
    Endpoint {
        id: provider.into(),
        name: provider.into(),
        url: url.into(),
        provider: provider.into(),
        api_key: Some("sk-test".into()),
        timeout_s: 10,
        context_tokens: None,
    }
}

const OPTS: ChatOptions = ChatOptions {
    temperature: 0.7,
    max_tokens: 1024,
    timeout: Duration::from_secs(10),
};

#[tokio::test]
async fn every_token_arrives_in_order_for_both_protocols() {
    let (url, seen) = server().await;
    let client = LlmClient::new().expect("client");
    let msgs = [ChatMessage::new("user", "hello")];

    let mut tokens = Vec::new();
    let r = client
        .chat_stream(
            &endpoint(&url, "ollama"),
            "llama3.1:8b",
            &msgs,
            OPTS,
            None,
            |p| {
                if let Piece::Token(t) = p {
                    tokens.push(t.to_owned())
                }
                MORE
            },
        )
        .await
        .expect("ollama");
    assert_eq!(tokens, ["Hel", "lo", " wörld"]);
    assert_eq!((r.text.as_str(), r.tokens_used), ("Hello wörld", 15));
    assert_eq!(seen.lock().expect("lock")[0]["stream"], true);

    let mut tokens = Vec::new();
    let r = client
        .chat_stream(
            &endpoint(&format!("{url}/v1"), "openai"),
            "gpt-4o-mini",
            &msgs,
            OPTS,
            None,
            |p| {
                if let Piece::Token(t) = p {
                    tokens.push(t.to_owned())
                }
                MORE
            },
        )
        .await
        .expect("openai");
    assert_eq!(tokens, ["Hi", " there"]);
    assert_eq!((r.text.as_str(), r.tokens_used), ("Hi there", 42));
    let req = seen.lock().expect("lock")[1].clone();
    assert_eq!(
        (&req["stream"], &req["stream_options"]["include_usage"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
}

/// The error of a streamed Ollama chat with `model` against the test server.
async fn stream_error(model: &str) -> LlmError {
    let (url, _) = server().await;
    let msgs = [ChatMessage::new("user", "hello")];
    LlmClient::new()
        .expect("client")
        .chat_stream(&endpoint(&url, "ollama"), model, &msgs, OPTS, None, |_| {
            MORE
        })
        .await
        .expect_err(model)
}

#[tokio::test]
async fn malformed_and_cut_streams_are_errors() {
    let e = stream_error("broken").await;
    assert!(matches!(e, LlmError::BadReply { .. }), "{e}");
    let e = stream_error("cut").await;
    assert!(
        matches!(e, LlmError::Closed { tokens: 1, .. }),
        "a body that ends early is a closed connection, not a format error: {e}"
    );
}

#[tokio::test]
async fn a_stream_without_newlines_is_cut_off_at_the_line_limit() {
    let e = stream_error("endless-line").await;
    assert!(
        matches!(&e, LlmError::BadReply { why, .. } if why.contains("longer than 1024 KiB")),
        "{e}"
    );
}

/// The scripted model server's faults, over both protocols: each is an error of its own kind,
/// never a partial answer passed off as complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_faults_are_errors_of_their_kind() {
    let (url, script) = scripted().await;
    let client = LlmClient::new().expect("client");
    let msgs = [ChatMessage::new("user", "hello")];
    for (provider, base) in [("ollama", url.clone()), ("openai", format!("{url}/v1"))] {
        let ep = endpoint(&base, provider);
        let run = |model: &'static str, timeout_ms: u64| {
            let (client, ep, msgs) = (client.clone(), ep.clone(), msgs.clone());
            async move {
                let o = ChatOptions {
                    timeout: Duration::from_millis(timeout_ms),
                    ..OPTS
                };
                client
                    .chat_stream(&ep, model, &msgs, o, None, |_| MORE)
                    .await
            }
        };
        let ok = run("numbered-5", 5_000).await.expect("a whole answer");
        assert_eq!(ok.text, "t0 t1 t2 t3 t4 ", "{provider}");
        // The same answer not streamed (config chat uses this path).
        let whole = client
            .chat(&ep, "numbered-5", &msgs, OPTS)
            .await
            .expect("a non-streamed answer");
        assert_eq!(whole.text, "t0 t1 t2 t3 t4 ", "{provider}");
        assert!(whole.tokens_used > 5, "{provider}: usage counted");
        let e = client
            .chat(&ep, "error-500", &msgs, OPTS)
            .await
            .expect_err("500");
        assert_eq!(e.status_code(), Some(500), "{provider}: {e}");
        let e = run("error-500", 5_000).await.expect_err("500");
        assert_eq!(e.status_code(), Some(500), "{provider}: {e}");
        let e = run("malformed", 5_000).await.expect_err("malformed");
        assert!(matches!(e, LlmError::BadReply { .. }), "{provider}: {e}");
        // Issue 14, item 4: a server that stops or dies mid-answer is a closed connection
        // (502 endpoint_unreachable), with the tokens it sent, never "not what openai sends".
        let e = run("cut", 5_000).await.expect_err("cut");
        assert!(matches!(e, LlmError::Closed { .. }), "{provider}: {e}");
        let e = run("reset", 5_000).await.expect_err("reset");
        assert!(matches!(e, LlmError::Closed { .. }), "{provider}: {e}");
        assert!(
            e.to_string()
                .contains("the model server closed the connection after"),
            "{provider}: {e}"
        );
        // The first token comes after 1.5 s: with 300 ms allowed, the wait is a timeout.
        let e = run("slow-first", 300).await.expect_err("slow first token");
        assert!(matches!(e, LlmError::Timeout { .. }), "{provider}: {e}");
        // 300 ms between tokens, 150 ms of silence allowed: a timeout mid-answer.
        let e = run("slow", 150).await.expect_err("stalled stream");
        assert!(matches!(e, LlmError::Timeout { .. }), "{provider}: {e}");
        // A long answer that keeps coming is not cut off by a total limit: its nine tokens,
        // 300 ms apart, take 2.7 s, far longer than the 400 ms allowed for each silence.
        let ok = run("slow", 400).await.expect("a slow but steady answer");
        assert!(
            ok.text.starts_with("Hello from the scripted model."),
            "{provider}"
        );
    }
    assert!(
        script.cancelled() >= 2,
        "timed-out streams are dropped, which the server sees"
    );
}

/// The scripted model server on 127.0.0.1:0.
async fn scripted() -> (String, halbert_scripted_llm::Script) {
    let script = halbert_scripted_llm::Script::default();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(halbert_scripted_llm::serve(
        l,
        script.clone(),
        std::future::pending(),
    ));
    (url, script)
}

/// Issue 14, items 8, 9 and 10: a tool call is announced as soon as its name arrives (long
/// before its arguments), an answer stopped at the limit says so, and the reply names the
/// model the server ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_tool_starts_and_the_model_that_ran_are_reported() {
    let (url, _) = scripted().await;
    let client = LlmClient::new().expect("client");
    let msgs = [ChatMessage::new("user", "How much disk space is left?")];
    let tools = serde_json::json!([{"type": "function", "function": {"name": "check_disk_space", "parameters": {}}}]);
    for (provider, base) in [("ollama", url.clone()), ("openai", format!("{url}/v1"))] {
        let ep = endpoint(&base, provider);
        let r = client
            .chat_stream(&ep, "length:latest", &msgs, OPTS, None, |_| MORE)
            .await
            .expect("an answer cut at the limit");
        assert!(r.truncated(), "{provider}: {}", r.finish_reason);
        let r = client
            .chat_stream(&ep, "alias", &msgs, OPTS, None, |_| MORE)
            .await
            .expect("an answer");
        assert_eq!(r.model, "scripted-real.gguf", "{provider}");
        assert!(!r.truncated());
        let t0 = std::time::Instant::now();
        let mut started = None;
        let r = client
            .chat_stream(&ep, "slow-tool", &msgs, OPTS, Some(&tools), |p| {
                if let Piece::ToolStarted(name) = p {
                    started = Some((name.to_owned(), t0.elapsed()));
                }
                MORE
            })
            .await
            .expect("a tool call");
        let (name, at) = started.expect("announced");
        assert_eq!(name, "check_disk_space", "{provider}");
        assert_eq!(r.tool_calls.len(), 1, "{provider}");
        if provider == "openai" {
            // The name streams first, the arguments 1.5 s later.
            assert!(at < Duration::from_millis(1000), "{provider}: {at:?}");
        }
        // The arguments stop halfway at the limit: still a call, flagged as cut.
        let r = client
            .chat_stream(&ep, "length-tools", &msgs, OPTS, Some(&tools), |_| MORE)
            .await
            .expect("a cut tool call");
        assert!(r.truncated() && !r.tool_calls.is_empty(), "{provider}");
    }
}

/// Issue 14, items 3 and 10: what a server says when it refuses, with the fix for a pasted
/// full URL or the wrong provider; the context window as llama.cpp and Ollama report it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_why_and_windows_are_read_from_the_server() {
    let (url, _) = scripted().await;
    let client = LlmClient::new().expect("client");
    let refusal = |base: String, provider: &'static str, model: &'static str| {
        let client = client.clone();
        async move {
            let msgs = [ChatMessage::new("user", "hello")];
            client
                .chat_stream(&endpoint(&base, provider), model, &msgs, OPTS, None, |_| {
                    MORE
                })
                .await
                .expect_err(model)
        }
    };
    let e = refusal(format!("{url}/v1"), "openai", "ctx-400").await;
    assert_eq!(
        e.to_string(),
        "endpoint openai answered HTTP 400: request (15998 tokens) exceeds the available context size (8192 tokens), try increasing it"
    );
    let e = refusal(format!("{url}/v1"), "openai", "ctx-400-openai-shape").await;
    assert!(
        e.to_string()
            .contains("This model's maximum context length is 8192 tokens"),
        "{e}"
    );
    // A pasted full URL.
    let e = refusal(
        format!("{url}/v1/chat/completions"),
        "openai",
        "scripted:8b",
    )
    .await;
    let shown = e.to_string();
    assert!(
        shown.contains(&format!(
            "{url}/v1/chat/completions/v1/chat/completions does not exist"
        )) && shown.contains(&format!("set it to the server's base address, {url}/v1")),
        "{shown}"
    );
    // The wrong provider (an OpenAI-only path answered as Ollama).
    let e = refusal(format!("{url}/v1"), "ollama", "scripted:8b").await;
    assert!(e.to_string().contains("choose provider openai"), "{e}");

    assert_eq!(
        client
            .context_window(&endpoint(&format!("{url}/v1"), "openai"), "x")
            .await,
        8192,
        "llama.cpp's /props"
    );
    assert_eq!(
        client.context_window(&endpoint(&url, "ollama"), "x").await,
        8192,
        "Ollama's num_ctx, not the trained 131072"
    );
    let mut set = endpoint(&url, "ollama");
    set.context_tokens = Some(2048);
    assert_eq!(
        client.context_window(&set, "x").await,
        2048,
        "the administrator's word wins"
    );
    let silent = endpoint(&crate_closed_url().await, "openai");
    assert_eq!(
        client.context_window(&silent, "x").await,
        halbert_web::llm::settings::DEFAULT_CONTEXT_TOKENS
    );
}

/// A URL where nothing listens.
async fn crate_closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    drop(l);
    url
}

/// A log writer the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Issue 14, item 6: every failed model call is logged at warn, with the endpoint, the model,
/// the status and the server's own words, and without the prompt. (A current-thread runtime,
/// so the subscriber set for this thread sees every task.)
#[tokio::test(flavor = "current_thread")]
async fn failed_model_calls_are_logged_with_the_servers_words_and_never_the_prompt() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (url, _) = scripted().await;
    let client = LlmClient::new().expect("client");
    let msgs = [ChatMessage::new("user", "the-prompt-words-never-logged")];
    let ep = endpoint(&format!("{url}/v1"), "openai");
    for model in ["ctx-400", "reset", "error-500"] {
        let _ = client
            .chat_stream(&ep, model, &msgs, OPTS, None, |_| MORE)
            .await
            .expect_err(model);
    }
    let dead = endpoint(&crate_closed_url().await, "ollama");
    let _ = client
        .chat_stream(&dead, "scripted:8b", &msgs, OPTS, None, |_| MORE)
        .await
        .expect_err("unreachable");
    let text = String::from_utf8(log.0.lock().expect("lock").clone()).expect("utf-8");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("a model call failed"))
        .collect();
    assert_eq!(lines.len(), 4, "one warn line per failure:\n{text}");
    assert!(lines.iter().all(|l| l.contains(" WARN ")), "{text}");
    assert!(
        lines[0].contains("endpoint=openai")
            && lines[0].contains("model=\"ctx-400\"")
            && lines[0].contains("status=400")
            && lines[0]
                .contains("upstream=\"request (15998 tokens) exceeds the available context size"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("closed the connection after"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("status=500") && lines[2].contains("scripted failure"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains("endpoint=ollama") && lines[3].contains("unreachable"),
        "{}",
        lines[3]
    );
    assert!(
        !text.contains("the-prompt-words-never-logged"),
        "the prompt stays out of the log"
    );
    assert!(!text.contains("sk-test"), "the key stays out of the log");
}

/// A window a server reported is asked again after the server fails (it may have restarted
/// with another one: found against a real llama.cpp restarted with `-c 1024`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_makes_the_window_be_asked_again() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let n_ctx = Arc::new(AtomicU64::new(8192));
    let n = n_ctx.clone();
    let app = Router::new()
        .route(
            "/props",
            axum::routing::get(move || {
                let n = n.load(Ordering::SeqCst);
                async move { Json(serde_json::json!({"default_generation_settings": {"n_ctx": n}})) }
            }),
        )
        .route(
            "/v1/chat/completions",
            post(|| async {
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    Json(serde_json::json!({"error": {"message": "request (6027 tokens) exceeds the available context size (1024 tokens)"}})),
                )
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    let client = LlmClient::new().expect("client");
    let ep = endpoint(&url, "openai");
    assert_eq!(client.context_window(&ep, "m").await, 8192);
    n_ctx.store(1024, Ordering::SeqCst);
    assert_eq!(client.context_window(&ep, "m").await, 8192, "cached");
    let msgs = [ChatMessage::new("user", "hello")];
    let _ = client
        .chat_stream(&ep, "m", &msgs, OPTS, None, |_| MORE)
        .await
        .expect_err("refused");
    assert_eq!(client.context_window(&ep, "m").await, 1024, "asked again");
}
