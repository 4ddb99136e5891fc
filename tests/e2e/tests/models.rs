//! Model endpoints and role assignments through halbert-web, against a scripted server that
//! speaks Ollama's and the OpenAI API's wire formats (the one stand-in the tests allow).

use crate::util::start_web;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

async fn scripted_llm() -> String {
    let app = Router::new()
        .route("/api/tags", get(|| async { Json(json!({"models": [{"name": "llama3.1:8b"}, {"name": "llama3.1:70b"}, {"name": "qwen2.5:7b"}]})) }))
        .route(
            "/api/ps",
            get(|| async {
                Json(json!({"models": [{"name": "llama3.1:8b", "model": "llama3.1:8b", "size": 5_000_000_000u64, "size_vram": 4_900_000_000u64,
                    "expires_at": "2026-11-28T19:00:00Z", "details": {"family": "llama", "parameter_size": "8.0B"}}]}))
            }),
        )
        .route(
            "/v1/models",
            get(|headers: HeaderMap| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test") {
                    return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "Incorrect API key provided"}})));
                }
                (StatusCode::OK, Json(json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})))
            }),
        );
    crate::util::serve_scripted(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_models_assignments_and_loaded() {
    let llm = scripted_llm().await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 1000).await;
    let c = reqwest::Client::new();
    let post = |path: &str, body: Value| c.post(w.url(path)).json(&body).send();
    async fn status_of(
        r: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    ) -> u16 {
        r.await.expect("answered").status().as_u16()
    }

    let r = post(
        "/api/settings/endpoints",
        json!({"id": "local-ollama", "name": "Local Ollama", "url": llm, "provider": "ollama"}),
    )
    .await
    .expect("save");
    assert_eq!(r.status().as_u16(), 200);
    let r = post("/api/settings/endpoints", json!({"name": "OpenAI test", "url": format!("{llm}/v1"), "provider": "openai", "api_key": "sk-test"})).await.expect("save");
    let saved: Value = r.json().await.expect("json");
    assert_eq!(
        (saved["id"].as_str(), saved["api_key"].as_str()),
        (Some("openai-test"), Some("***"))
    );
    let listing = c
        .get(w.url("/api/settings/endpoints"))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("text");
    assert!(
        !listing.contains("sk-test"),
        "keys are never returned: {listing}"
    );
    assert!(listing.contains("\"api_key\":\"***\""));

    let m: Value = c
        .get(w.url("/api/settings/endpoints/local-ollama/models"))
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert_eq!(
        m,
        json!({"endpoint_id": "local-ollama", "endpoint_name": "Local Ollama", "models": ["llama3.1:8b", "llama3.1:70b", "qwen2.5:7b"], "count": 3})
    );
    let m: Value = c
        .get(w.url("/api/settings/endpoints/openai-test/models"))
        .send()
        .await
        .expect("models")
        .json()
        .await
        .expect("json");
    assert_eq!(
        m["models"],
        json!(["gpt-4o-mini"]),
        "the key went along as a bearer token"
    );

    // "***" keeps the stored key; a wrong key fails the probe with the server's status.
    post("/api/settings/endpoints", json!({"id": "openai-test", "name": "OpenAI test", "url": format!("{llm}/v1"), "provider": "openai", "api_key": "***"})).await.expect("resave");
    let t: Value = c
        .post(w.url("/api/settings/endpoints/openai-test/test"))
        .send()
        .await
        .expect("test")
        .json()
        .await
        .expect("json");
    assert_eq!(t["success"], true, "{t}");
    post("/api/settings/endpoints", json!({"id": "openai-test", "name": "OpenAI test", "url": format!("{llm}/v1"), "provider": "openai", "api_key": "sk-wrong"})).await.expect("resave");
    let t: Value = c
        .post(w.url("/api/settings/endpoints/openai-test/test"))
        .send()
        .await
        .expect("test")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (t["success"].as_bool(), t["status_code"].as_u64()),
        (Some(false), Some(401))
    );
    assert!(!t.to_string().contains("sk-wrong"));

    // An endpoint nobody listens on: 502 naming it, and the probe says why.
    let dead_url = crate::util::closed_port_url().await;
    post(
        "/api/settings/endpoints",
        json!({"id": "gone", "name": "Gone", "url": dead_url, "provider": "ollama"}),
    )
    .await
    .expect("save");
    let (status, e) = w.get("/api/settings/endpoints/gone/models").await;
    assert_eq!(status, 502, "{e}");
    assert_eq!(e["code"], "endpoint_unreachable");
    assert!(
        e["detail"].as_str().expect("detail").contains("gone"),
        "{e}"
    );
    assert_eq!(
        c.get(w.url("/api/settings/endpoints/nope/models"))
            .send()
            .await
            .expect("404")
            .status()
            .as_u16(),
        404
    );

    // Assignments; loaded models compare exact names.
    let r = post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "local-ollama", "model": "llama3.1:70b"}),
    )
    .await
    .expect("assign");
    let role: Value = r.json().await.expect("json");
    assert_eq!(
        (
            role["endpoint"].as_str(),
            role["provider"].as_str(),
            role["model"].as_str()
        ),
        (Some(llm.as_str()), Some("ollama"), Some("llama3.1:70b"))
    );
    let l: Value = c
        .get(w.url("/api/models/loaded"))
        .send()
        .await
        .expect("loaded")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (
            l["configured_model"].as_str(),
            l["configured_loaded"].as_bool()
        ),
        (Some("llama3.1:70b"), Some(false)),
        "8b being loaded does not make 70b loaded"
    );
    assert_eq!(l["loaded_models"][0]["name"], "llama3.1:8b");
    post(
        "/api/settings/assign/guide",
        json!({"endpoint_id": "local-ollama", "model": "llama3.1:8b"}),
    )
    .await
    .expect("assign");
    post(
        "/api/settings/assign/specialist",
        json!({"endpoint_id": "openai-test", "model": "gpt-4o-mini"}),
    )
    .await
    .expect("assign");
    let l: Value = c
        .get(w.url("/api/models/loaded"))
        .send()
        .await
        .expect("loaded")
        .json()
        .await
        .expect("json");
    assert_eq!(l["configured_loaded"], true);
    assert_eq!(
        (l["specialist_model"].as_str(), &l["specialist_loaded"]),
        (Some("gpt-4o-mini"), &Value::Null),
        "OpenAI-compatible servers cannot tell"
    );

    for (path, body, want) in [
        (
            "/api/settings/assign/guide",
            json!({"endpoint_id": "nope", "model": "m"}),
            404,
        ),
        (
            "/api/settings/assign/boss",
            json!({"endpoint_id": "local-ollama", "model": "m"}),
            404,
        ),
        (
            "/api/settings/assign/guide",
            json!({"endpoint_id": "local-ollama", "model": ""}),
            422,
        ),
    ] {
        assert_eq!(status_of(post(path, body)).await, want, "{path}");
    }
    let r: Value = c
        .post(w.url("/api/settings/specialist/clear"))
        .send()
        .await
        .expect("clear")
        .json()
        .await
        .expect("json");
    assert_eq!(r["cleared"], true);
    let r: Value = c
        .delete(w.url("/api/settings/endpoints/local-ollama"))
        .send()
        .await
        .expect("delete")
        .json()
        .await
        .expect("json");
    assert_eq!(
        r["cleared_roles"],
        json!(["guide"]),
        "deleting an endpoint clears the roles using it"
    );
    let l: Value = c
        .get(w.url("/api/models/loaded"))
        .send()
        .await
        .expect("loaded")
        .json()
        .await
        .expect("json");
    assert_eq!(l["configured_model"], Value::Null);

    for bad in [
        json!({"name": "x", "url": "ftp://host", "provider": "ollama"}),
        json!({"name": "x", "url": llm, "provider": "llamafile"}),
        json!({"name": "", "url": llm, "provider": "ollama"}),
    ] {
        assert_eq!(
            post("/api/settings/endpoints", bad.clone())
                .await
                .expect("bad")
                .status()
                .as_u16(),
            422,
            "{bad}"
        );
    }
    w.shutdown().await;
}
