//! Streamed chat answers through the real HTTP client, from a scripted server that speaks
//! Ollama's NDJSON and the OpenAI API's SSE, with chunks split in the middle of lines.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use halbert_web::llm::client::{ChatMessage, ChatOptions, LlmClient, LlmError};
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
            |t| tokens.push(t.to_owned()),
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
            |t| tokens.push(t.to_owned()),
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
        .chat_stream(&endpoint(&url, "ollama"), model, &msgs, OPTS, None, |_| {})
        .await
        .expect_err(model)
}

#[tokio::test]
async fn malformed_and_cut_streams_are_errors() {
    let e = stream_error("broken").await;
    assert!(matches!(e, LlmError::BadReply { .. }), "{e}");
    let e = stream_error("cut").await;
    assert!(e.to_string().contains("ended before"), "{e}");
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
                client.chat_stream(&ep, model, &msgs, o, None, |_| {}).await
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
        let e = run("cut", 5_000).await.expect_err("cut");
        assert!(e.to_string().contains("ended before"), "{provider}: {e}");
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
