//! `/api/chat/config` against a scripted server speaking Ollama's `/api/chat` and the OpenAI
//! `/v1/chat/completions` formats (streamed, as config chat asks).

use std::sync::{Arc, Mutex};

use crate::util::start_web;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

const ANSWER: &str = "I'll raise the timeout.\n<<<<<<< SEARCH\nTimeoutStartSec=30\n=======\nTimeoutStartSec=90\n>>>>>>> REPLACE\n<<<<<<< SEARCH\nNoSuchLine=1\n=======\nNoSuchLine=2\n>>>>>>> REPLACE\n";

/// `text` in pieces of a few characters: config chat streams, so each piece is its own line
/// (NDJSON) or event (SSE).
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(7).map(|c| c.iter().collect()).collect()
}

async fn scripted() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let app = Router::new()
        .route(
            "/api/chat",
            post(move |Json(body): Json<Value>| async move {
                s1.lock().expect("lock").push(body);
                let mut lines: Vec<String> = pieces(ANSWER)
                    .into_iter()
                    .map(|p| json!({"model": "llama3.1:8b", "message": {"role": "assistant", "content": p}, "done": false}).to_string() + "\n")
                    .collect();
                lines.push(json!({"model": "llama3.1:8b", "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "prompt_eval_count": 300, "eval_count": 42}).to_string() + "\n");
                lines.concat()
            }),
        )
        .route(
            "/v1/chat/completions",
            post(move |Json(body): Json<Value>| async move {
                s2.lock().expect("lock").push(body);
                let mut events: Vec<String> = pieces(ANSWER)
                    .into_iter()
                    .map(|p| format!("data: {}\n\n", json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]})))
                    .collect();
                events.push(format!("data: {}\n\n", json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})));
                events.push(format!("data: {}\n\n", json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": {"total_tokens": 512}})));
                events.push("data: [DONE]\n\n".into());
                events.concat()
            }),
        );
    let url = crate::util::serve_scripted(app).await;
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_chat_applies_the_models_edits() {
    let (llm, seen) = scripted().await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 1000).await;
    let c = reqwest::Client::new();
    let file = "[Unit]\r\nDescription=app\r\n\r\n[Service]\r\nTimeoutStartSec=30\r\n";
    let body = json!({"message": "Give it more time to start", "file_path": "/etc/systemd/system/app.service", "file_content": file,
        "history": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "hello"}], "images": []});

    let r = c
        .post(w.url("/api/chat/config"))
        .json(&body)
        .send()
        .await
        .expect("no model");
    assert_eq!(r.status().as_u16(), 409);
    assert_eq!(
        r.json::<Value>().await.expect("json")["detail"],
        "no guide model configured"
    );

    crate::util::use_model(&w, "ollama", "ollama", &llm, "llama3.1:8b").await;
    c.post(w.url("/api/settings/ai-rules"))
        .json(&json!({"text": "keep comments", "category": "config"}))
        .send()
        .await
        .expect("rule");
    let r = c
        .post(w.url("/api/chat/config"))
        .json(&body)
        .send()
        .await
        .expect("chat");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        v["proposed_content"],
        "[Unit]\r\nDescription=app\r\n\r\n[Service]\r\nTimeoutStartSec=90\r\n",
        "CRLF kept"
    );
    assert_eq!(
        v["summary"],
        "Applied 1 of 2 edit block(s): 1 line changed from line 5 (1 block's SEARCH text was not found in the file)."
    );
    assert_eq!(v["applied"], 1);
    assert_eq!(v["malformed"], json!([]));
    assert_eq!(v["response"], ANSWER, "the model's own text, whole");
    assert_eq!(v["edit_blocks"].as_array().expect("blocks").len(), 2);
    assert_eq!(
        v["unapplied"],
        json!([{"index": 1, "reason": "the SEARCH text was not found in the file"}])
    );
    assert_eq!(
        (
            v["debug"]["model_type"].as_str(),
            v["debug"]["tokens_used"].as_u64(),
            v["debug"]["redacted"].as_bool()
        ),
        (Some("guide"), Some(342), Some(false))
    );

    let req = seen.lock().expect("lock").last().cloned().expect("request");
    assert_eq!(
        (req["model"].as_str(), req["stream"].as_bool()),
        (Some("llama3.1:8b"), Some(true))
    );
    let msgs = req["messages"].as_array().expect("messages");
    let system = msgs[0]["content"].as_str().expect("system");
    assert!(
        system.contains("/etc/systemd/system/app.service")
            && system.contains("TimeoutStartSec=30")
            && system.contains("[HIGH] (config) keep comments"),
        "{system}"
    );
    assert_eq!(
        msgs.iter()
            .map(|m| m["role"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["system", "user", "assistant", "user"],
        "roles normalized"
    );
    assert_eq!(req["options"]["temperature"], 0.2);

    // A specialist, when assigned, is preferred; here an OpenAI-compatible one.
    c.post(w.url("/api/settings/endpoints")).json(&json!({"id": "oai", "name": "OAI", "url": format!("{llm}/v1"), "provider": "openai", "api_key": "sk-x"})).send().await.expect("ep");
    c.post(w.url("/api/settings/assign/specialist"))
        .json(&json!({"endpoint_id": "oai", "model": "gpt-4o-mini"}))
        .send()
        .await
        .expect("assign");
    let v: Value = c
        .post(w.url("/api/chat/config"))
        .json(&body)
        .send()
        .await
        .expect("chat")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            v["debug"]["model_type"].as_str(),
            v["debug"]["model_used"].as_str(),
            v["debug"]["tokens_used"].as_u64()
        ),
        (Some("specialist"), Some("gpt-4o-mini"), Some(512))
    );
    // Sized to the file (a few lines), not a fixed 4,096.
    assert_eq!(
        seen.lock().expect("lock").last().expect("req")["max_tokens"],
        1024
    );

    // The endpoint goes away: 502 naming it, not a 200 with an apology.
    c.post(w.url("/api/settings/specialist/clear"))
        .send()
        .await
        .expect("clear");
    let dead_url = crate::util::closed_port_url().await;
    c.post(w.url("/api/settings/endpoints"))
        .json(&json!({"id": "ollama", "name": "Ollama", "url": dead_url, "provider": "ollama"}))
        .send()
        .await
        .expect("ep");
    let r = c
        .post(w.url("/api/chat/config"))
        .json(&body)
        .send()
        .await
        .expect("chat");
    assert_eq!(r.status().as_u16(), 502);
    assert!(
        r.json::<Value>().await.expect("json")["detail"]
            .as_str()
            .expect("detail")
            .contains("ollama")
    );
    w.shutdown().await;
}
