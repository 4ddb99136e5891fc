//! Chat against the behaviours of real model servers (issue 14), from the scripted server:
//! streams that break off, refusals with the server's own words, printed and slow tool calls,
//! answers stopped at the token limit, small context windows, and config chat's broken and
//! chatty answers. Every request's events end with exactly one `chat_complete` or
//! `chat_error`.

use std::time::Duration;

use crate::util::{start_scripted_llm, start_web, use_model, ws_connect};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Every `/ws` event of one request id, in order, up to its closing event and for 300 ms
/// after it (a second closing event would be a defect).
async fn events_of(ws: &mut Ws, rid: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut closed = false;
    loop {
        let m = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(m) => m.expect("open").expect("ok"),
            Err(_) if closed => return out,
            Err(_) => panic!("{rid}: no closing event within 20 s; saw {out:?}"),
        };
        let tungstenite::Message::Text(t) = m else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).expect("json");
        if v["data"]["request_id"] != rid {
            continue;
        }
        if matches!(v["type"].as_str(), Some("chat_complete" | "chat_error")) && !closed {
            closed = true;
            deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        }
        out.push(v);
    }
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

fn closing(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| matches!(e["type"].as_str(), Some("chat_complete" | "chat_error")))
        .collect()
}

fn text_of(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "chat_token")
        .filter_map(|e| e["data"]["token"].as_str())
        .collect()
}

/// POSTs `body` to `path` while reading the request's events.
async fn run(
    w: &crate::util::Web,
    ws: &mut Ws,
    path: &str,
    mut body: Value,
    rid: &str,
) -> (u16, Value, Vec<Value>) {
    body["request_id"] = json!(rid);
    let post = tokio::spawn({
        let (url, http) = (w.url(path), w.http.clone());
        async move {
            let r = http.post(url).json(&body).send().await.expect("send");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    });
    let events = events_of(ws, rid).await;
    let (status, answer) = post.await.expect("join");
    (status, answer, events)
}

/// Item 5: an answer that fails after it began ends with one `chat_error` carrying the HTTP
/// code and the detail the POST returns; a client that goes away ends it with `cancelled`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_ends_with_exactly_one_closing_event() {
    let (llm, _script) = start_scripted_llm().await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 60_000).await;
    let mut ws = ws_connect(&w).await;
    use_model(&w, "real", "openai", &format!("{llm}/v1"), "scripted:8b").await;

    for (model, status, code, says) in [
        (
            "reset",
            502,
            "endpoint_unreachable",
            "the model server closed the connection after 2 tokens",
        ),
        ("cut", 502, "endpoint_unreachable", "closed the connection"),
        (
            "ctx-400",
            502,
            "endpoint_error",
            "answered HTTP 400: request (15998 tokens) exceeds the available context size (8192 tokens)",
        ),
        (
            "error-500",
            502,
            "endpoint_error",
            "answered HTTP 500: scripted failure",
        ),
    ] {
        w.post(
            "/api/settings/assign/guide",
            json!({"endpoint_id": "real", "model": model}),
        )
        .await;
        let rid = format!("fail-{model}");
        let (got, body, events) = run(
            &w,
            &mut ws,
            "/api/chat/send",
            json!({"message": "hello there"}),
            &rid,
        )
        .await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{model}: {body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{model}: {body}"
        );
        let ends = closing(&events);
        assert_eq!(ends.len(), 1, "{model}: {:?}", kinds(&events));
        assert_eq!(ends[0]["type"], "chat_error", "{model}");
        assert_eq!(ends[0]["data"]["code"], code, "{model}");
        assert_eq!(ends[0]["data"]["detail"], body["detail"], "{model}");
        assert_eq!(kinds(&events)[0], "decision", "{model}: it began");
    }

    // The client goes away mid-answer.
    w.post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "real", "model": "slow"}),
    )
    .await;
    let rid = "gone-away";
    let post = tokio::spawn({
        let (url, http) = (w.url("/api/chat/send"), w.http.clone());
        async move {
            http.post(url)
                .json(&json!({"message": "count slowly", "request_id": rid}))
                .send()
                .await
        }
    });
    // Its first token, then the client leaves.
    loop {
        let v = crate::util::ws_next_of(&mut ws, "chat_token").await;
        if v["data"]["request_id"] == rid {
            break;
        }
    }
    post.abort();
    let events = events_of(&mut ws, rid).await;
    let ends = closing(&events);
    assert_eq!(ends.len(), 1, "{:?}", kinds(&events));
    assert_eq!(
        (ends[0]["type"].as_str(), ends[0]["data"]["code"].as_str()),
        (Some("chat_error"), Some("cancelled"))
    );

    // A whole answer ends with chat_complete alone.
    w.post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "real", "model": "scripted:8b"}),
    )
    .await;
    let (got, _, events) = run(
        &w,
        &mut ws,
        "/api/chat/send",
        json!({"message": "hello"}),
        "whole",
    )
    .await;
    assert_eq!(got, 200);
    let ends = closing(&events);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0]["type"], "chat_complete");
    w.shutdown().await;
}

/// Items 7, 8 and 9: tools are offered for ordinary wording; a call printed in `<tool_call>`
/// tags is run as a call and never shown; a call being written is announced before it is
/// complete; an answer or a call cut at the token limit is flagged, and such a call refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_as_real_models_make_them() {
    let (llm, script) = start_scripted_llm().await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 60_000).await;
    let mut ws = ws_connect(&w).await;
    use_model(&w, "real", "openai", &format!("{llm}/v1"), "scripted:8b").await;

    // "Is cron running?" names no tool phrase; the words alone make it a question for them.
    let before = script.requests().len();
    let (got, _, _) = run(
        &w,
        &mut ws,
        "/api/chat/send",
        json!({"message": "Is cron running?"}),
        "cron",
    )
    .await;
    assert_eq!(got, 200);
    assert!(
        script.requests()[before].get("tools").is_some(),
        "tools offered for \"Is cron running?\""
    );

    for model in ["tagged-tool", "text-tool"] {
        w.post(
            "/api/settings/assign/guide",
            json!({"endpoint_id": "real", "model": model}),
        )
        .await;
        let rid = format!("printed-{model}");
        let (got, body, events) = run(
            &w,
            &mut ws,
            "/api/chat/send",
            json!({"message": "How much disk space is left?"}),
            &rid,
        )
        .await;
        assert_eq!(got, 200, "{body}");
        let shown = text_of(&events);
        for markup in ["<tool_call>", "\"arguments\""] {
            assert!(!shown.contains(markup), "{model}: markup shown: {shown}");
            assert!(
                !body["response"].as_str().unwrap_or("").contains(markup),
                "{model}: {body}"
            );
        }
        let actions: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == "decision")
            .filter_map(|e| e["data"]["action"].as_str())
            .collect();
        assert_eq!(actions, ["route", "tool_fallback", "tool_call"], "{model}");
        assert_eq!(
            body["tool_calls"][0]["tool"], "check_disk_space",
            "{model}: run as a call"
        );
        assert!(
            events.iter().any(
                |e| e["type"] == "tool_call_started" && e["data"]["tool"] == "check_disk_space"
            ),
            "{model}: {:?}",
            kinds(&events)
        );
    }

    // A model that keeps starting calls is stopped after the sixth; the result it echoes in
    // <tool_response> tags is not shown.
    w.post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "real", "model": "runaway"}),
    )
    .await;
    let cancelled = script.cancelled();
    let (got, body, events) = run(
        &w,
        &mut ws,
        "/api/chat/send",
        json!({"message": "What is the load?"}),
        "runaway",
    )
    .await;
    assert_eq!(got, 200, "{body}");
    assert_eq!(
        body["tool_calls"].as_array().map(Vec::len),
        Some(6),
        "{body}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "tool_call_started")
            .count(),
        6
    );
    assert!(script.cancelled() > cancelled, "the stream was stopped");
    assert_eq!(body["response"], "\nThe load is shown above.");
    assert!(!text_of(&events).contains("tool_response"));

    // A slow call: announced as soon as its name streams, long before its decision.
    w.post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "real", "model": "slow-tool"}),
    )
    .await;
    let (got, _, events) = run(
        &w,
        &mut ws,
        "/api/chat/send",
        json!({"message": "How much disk space is left?"}),
        "slow-call",
    )
    .await;
    assert_eq!(got, 200);
    let k = kinds(&events);
    let started = k
        .iter()
        .position(|k| *k == "tool_call_started")
        .expect("started");
    let call = events
        .iter()
        .position(|e| e["data"]["action"] == "tool_call")
        .expect("the call's decision");
    assert!(started < call, "{k:?}");
    assert_eq!(events[started]["data"]["tool"], "check_disk_space");

    // Cut at the limit: the answer says so, and a cut call is refused, not run.
    w.post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "real", "model": "length"}),
    )
    .await;
    let (got, body, events) = run(
        &w,
        &mut ws,
        "/api/chat/send",
        json!({"message": "hello"}),
        "cut-answer",
    )
    .await;
    assert_eq!(got, 200);
    assert_eq!(body["debug"]["truncated"], true, "{body}");
    assert_eq!(closing(&events)[0]["data"]["debug"]["truncated"], true);
    let (got, body, events) = run(
        &w,
        &mut ws,
        "/api/chat/send",
        json!({"message": "How much disk space is left?", "debug": true}),
        "cut-call",
    )
    .await;
    assert_eq!(got, 200, "{body}");
    let refused = events
        .iter()
        .find(|e| e["data"]["action"] == "tool_call")
        .expect("the call's decision");
    assert_eq!(refused["data"]["ok"], false);
    assert!(
        refused["data"]["reasoning"]
            .as_str()
            .is_some_and(|r| r.contains("cut off at the token limit")),
        "{refused}"
    );
    assert_eq!(body["debug"]["finish_reason"], "length");

    // The model the server ran, and a name the server does not list.
    let (got, body) = w
        .post(
            "/api/settings/assign/guide",
            json!({"endpoint_id": "real", "model": "alias"}),
        )
        .await;
    assert_eq!(got, 200, "saved all the same");
    assert!(
        body["warning"]
            .as_str()
            .is_some_and(|m| m.contains("does not list a model called \"alias\"")),
        "{body}"
    );
    let (_, body, _) = run(
        &w,
        &mut ws,
        "/api/chat/send",
        json!({"message": "hello"}),
        "alias",
    )
    .await;
    assert_eq!(body["debug"]["model_used"], "scripted-real.gguf");
    let (_, body) = w
        .post(
            "/api/settings/assign/guide",
            json!({"endpoint_id": "real", "model": "scripted:8b"}),
        )
        .await;
    assert!(body.get("warning").is_none(), "{body}");
    w.shutdown().await;
}

/// Item 3: what chat adds to a prompt is trimmed to the model's window, so a model with a
/// small one answers instead of refusing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_is_trimmed_to_the_models_window() {
    let (llm, script) = start_scripted_llm().await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 60_000).await;
    let mut ws = ws_connect(&w).await;
    // The scripted model refuses prompts over 2,048 tokens, as llama.cpp would.
    let (got, body) = w
        .post(
            "/api/settings/endpoints",
            json!({"id": "small", "name": "small", "url": format!("{llm}/v1"), "provider": "openai", "context_tokens": 2048}),
        )
        .await;
    assert_eq!(
        (got, body["context_tokens"].as_u64()),
        (200, Some(2048)),
        "{body}"
    );
    w.post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "small", "model": "ctx-2048"}),
    )
    .await;
    let history: Vec<Value> = (0..6)
        .map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("turn {i}: {}", "older words ".repeat(160))}))
        .collect();
    let body = json!({"message": "What am I looking at?", "current_page": "editor",
        "page_context": "line of the file\n".repeat(470), "history": history, "debug": true});
    let (got, answer, _) = run(&w, &mut ws, "/api/chat/send", body, "small-window").await;
    assert_eq!(got, 200, "{answer}");
    let trimmed: Vec<&str> = answer["debug"]["context_trimmed"]
        .as_array()
        .expect("trimmed")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(trimmed.contains(&"page (cut)"), "{trimmed:?}");
    assert!(
        trimmed.iter().any(|t| t.starts_with("history (")),
        "{trimmed:?}"
    );
    assert_eq!(answer["debug"]["context_window"], 2048);
    let sent = script.requests().last().cloned().expect("a request");
    let system = sent["messages"][0]["content"].as_str().expect("system");
    assert!(
        system.contains("[… cut to fit the model's context window]"),
        "the model is told the page is partial"
    );

    // Bounds: the context_tokens setting and page_context.
    let (got, _) = w
        .post(
            "/api/settings/endpoints",
            json!({"id": "small", "name": "small", "url": format!("{llm}/v1"), "provider": "openai", "context_tokens": 100}),
        )
        .await;
    assert_eq!(got, 422);
    let (got, body) = w
        .post(
            "/api/chat/send",
            json!({"message": "hi", "page_context": "x".repeat(8001)}),
        )
        .await;
    assert_eq!(
        (got, body["code"].as_str()),
        (422, Some("validation_failed"))
    );
    w.shutdown().await;
}

/// Items 1 and 2: config chat streams like chat; a block missing a marker is reported and the
/// summary says nothing applied (not the model's "the new line is added"); a model that keeps
/// talking after its blocks is stopped; a slow model is not cut off by a total limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_chat_says_what_it_applied() {
    let (llm, script) = start_scripted_llm().await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 60_000).await;
    let mut ws = ws_connect(&w).await;
    let file = "[global]\n   workgroup = WG\n   server string = nas\n";
    let ask = json!({"message": "Add a comment at the end", "file_path": "/etc/samba/smb.conf", "file_content": file});

    use_model(&w, "real", "openai", &format!("{llm}/v1"), "edit-broken").await;
    let (got, v, events) = run(&w, &mut ws, "/api/chat/config", ask.clone(), "broken-edit").await;
    assert_eq!(got, 200, "{v}");
    assert_eq!(v["applied"], 0);
    assert_eq!(v["proposed_content"], file);
    assert_eq!(
        v["summary"],
        "No change was made: the model's answer holds no complete edit block (1 broken block or stray marker, the first: the block has no ======= divider between SEARCH and REPLACE)."
    );
    assert!(
        v["malformed"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no ======= divider")),
        "{v}"
    );
    assert!(
        v["response"]
            .as_str()
            .is_some_and(|r| r.starts_with("The new line is added")),
        "the model's claim stays the model's text: {v}"
    );
    assert!(v.get("approval_id").is_none());
    assert_eq!(
        text_of(&events),
        v["response"].as_str().expect("text"),
        "streamed"
    );
    assert_eq!(closing(&events).len(), 1);
    assert_eq!(closing(&events)[0]["type"], "chat_complete");
    assert_eq!(v["request_id"], "broken-edit");

    // A chatty model: the edit applies and the talk after it is not waited for.
    w.post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "real", "model": "edit-chatty"}),
    )
    .await;
    let cancelled = script.cancelled();
    let (got, v, _) = run(&w, &mut ws, "/api/chat/config", ask.clone(), "chatty-edit").await;
    assert_eq!(got, 200, "{v}");
    assert_eq!(v["applied"], 1);
    assert_eq!(v["debug"]["stopped_early"], true);
    assert_eq!(v["proposed_content"], format!("{file}# Added by Halbert\n"));
    assert!(
        v["summary"].as_str().is_some_and(
            |s| s.starts_with("Applied 1 of 1 edit block(s): 1 line added from line 4")
        ),
        "{v}"
    );
    for _ in 0..50 {
        if script.cancelled() > cancelled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        script.cancelled() > cancelled,
        "the generation was stopped upstream"
    );

    // A slow model (300 ms between tokens, seconds in all) within a 1 s silence limit.
    w.post(
        "/api/settings/endpoints",
        json!({"id": "real", "name": "real", "url": format!("{llm}/v1"), "provider": "openai", "timeout_s": 1}),
    )
    .await;
    w.post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "real", "model": "slow"}),
    )
    .await;
    let t0 = std::time::Instant::now();
    let (got, v, _) = run(&w, &mut ws, "/api/chat/config", ask, "slow-edit").await;
    assert_eq!(got, 200, "{v}");
    assert_eq!(v["applied"], 1);
    assert!(
        t0.elapsed() > Duration::from_secs(1),
        "longer than the limit, yet whole"
    );
    w.shutdown().await;
}
