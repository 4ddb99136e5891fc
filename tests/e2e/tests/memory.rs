//! `/api/chat/memory/*` end to end: conversation messages are remembered as they are appended,
//! searched by distance, paged, deleted and cleared; deleting a conversation forgets it; and
//! chat quotes what it remembers as data.

use crate::util::{start_scripted_llm, start_web, use_model};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_remembered_searched_and_forgotten() {
    let (llm, script) = start_scripted_llm().await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 60_000).await;
    let (_, stats) = w.get("/api/chat/memory/stats").await;
    assert_eq!(stats["memory_events"], 0);
    assert_eq!(stats["chromadb_available"], true);

    let (_, conv) = w.post("/api/conversations", json!({})).await;
    let cid = conv["id"].as_str().expect("id").to_owned();
    for (role, content, page) in [
        (
            "user",
            "Why is my bcachefs pool failing to mount?",
            "storage",
        ),
        (
            "assistant",
            "The bcachefs pool failed to mount because device sdb is missing.",
            "storage",
        ),
        (
            "user",
            "How do I restart nginx after changing its config?",
            "services",
        ),
    ] {
        let (status, _) = w
            .post(
                &format!("/api/conversations/{cid}/messages"),
                json!({"role": role, "content": content, "page": page}),
            )
            .await;
        assert_eq!(status, 201);
    }

    let (_, stats) = w.get("/api/chat/memory/stats").await;
    assert_eq!(stats["memory_events"], 3, "{stats}");
    assert_eq!(
        stats["collections"],
        json!({"self_conversations": 3, "self_hwmon": 0, "self_journald": 0, "self_knowledge_all": 0})
    );
    let (_, cols) = w.get("/api/chat/memory/collections").await;
    assert_eq!(cols["collections"].as_array().expect("list").len(), 4);
    assert!(
        cols["collections"]
            .as_array()
            .expect("list")
            .iter()
            .all(|c| c["known"] == true)
    );

    let (status, found) = w
        .post(
            "/api/chat/memory/query",
            json!({"query": "bcachefs mount failure", "k": 3}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let results = found["results"].as_array().expect("results");
    assert_eq!(found["count"], 3);
    assert!(
        results[0]["content"]
            .as_str()
            .expect("content")
            .contains("bcachefs")
    );
    assert!(
        results[1]["content"]
            .as_str()
            .expect("content")
            .contains("bcachefs")
    );
    assert!(
        results[2]["content"]
            .as_str()
            .expect("content")
            .contains("nginx"),
        "farthest last"
    );
    let d: Vec<f64> = results
        .iter()
        .map(|r| r["distance"].as_f64().expect("distance"))
        .collect();
    assert!(
        d.windows(2).all(|p| p[0] <= p[1]),
        "ascending distance: {d:?}"
    );
    assert_eq!(results[0]["conversation_id"], cid.as_str());
    assert_eq!(results[0]["metadata"]["page"], "storage");
    assert!(["user", "assistant"].contains(&results[0]["role"].as_str().expect("role")));

    let (_, page) = w
        .get("/api/chat/memory/entries/self_conversations?limit=2&offset=0")
        .await;
    assert_eq!(
        (page["count"].as_u64(), page["total"].as_u64()),
        (Some(2), Some(3))
    );
    let (_, rest) = w
        .get("/api/chat/memory/entries/self_conversations?limit=2&offset=2")
        .await;
    assert_eq!(rest["count"], 1);
    let ids: Vec<String> = page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .chain(rest["entries"].as_array().expect("entries"))
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(
        ids.iter().all(|i| i.starts_with(&format!("conv:{cid}:"))),
        "{ids:?}"
    );
    assert_eq!(
        page["entries"][0]["metadata"]["timestamp"]
            .as_str()
            .map(|t| t.len()),
        Some(10)
    );

    // Chat quotes what it remembers, as labelled data.
    use_model(&w, "local", "ollama", &llm, "scripted:8b").await;
    let (status, _) = w
        .post(
            "/api/chat/send",
            json!({"message": "is my bcachefs pool still failing to mount?", "debug": true}),
        )
        .await;
    assert_eq!(status, 200);
    let system = script.requests().last().expect("request")["messages"][0]["content"]
        .as_str()
        .expect("system")
        .to_owned();
    assert!(
        system.contains("<data label=\"memory\"") && system.contains("device sdb is missing"),
        "{system}"
    );

    // Deleting one entry, then several, then clearing.
    let (_, del) = w
        .delete(&format!(
            "/api/chat/memory/entry/self_conversations/{}",
            ids[0]
        ))
        .await;
    assert_eq!(del, json!({"status": "ok", "deleted": true}));
    let (_, del) = w
        .delete(&format!(
            "/api/chat/memory/entry/self_conversations/{}",
            ids[0]
        ))
        .await;
    assert_eq!(del["deleted"], false, "already gone");
    let (_, del) = w
        .post(
            "/api/chat/memory/delete/self_conversations",
            json!({"entry_ids": [ids[1], "nope"]}),
        )
        .await;
    assert_eq!(del, json!({"status": "ok", "deleted": 1}));
    let (_, cleared) = w
        .post("/api/chat/memory/clear/self_conversations", json!({}))
        .await;
    assert_eq!(cleared, json!({"status": "ok", "cleared": true}));
    let (_, page) = w.get("/api/chat/memory/entries/self_conversations").await;
    assert_eq!(page["total"], 0);

    // Mistakes are 4xx.
    for (status, body) in [
        w.get("/api/chat/memory/entries/nope").await,
        w.post("/api/chat/memory/clear/nope", json!({})).await,
        w.post(
            "/api/chat/memory/query",
            json!({"query": "x", "collection": "nope"}),
        )
        .await,
        w.delete("/api/chat/memory/entry/nope/x").await,
    ] {
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("unknown_collection")),
            "{body}"
        );
    }
    for (status, body) in [
        w.post("/api/chat/memory/query", json!({"query": "x", "k": 0}))
            .await,
        w.post("/api/chat/memory/query", json!({"query": "  "}))
            .await,
        w.get("/api/chat/memory/entries/self_conversations?limit=0")
            .await,
    ] {
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("validation_failed")),
            "{body}"
        );
    }

    // 50 concurrent appends: 50 entries, none overwritten; deleting the conversation forgets them.
    let appends: Vec<_> = (0..50)
        .map(|i| {
            let (c, url) = (
                w.http.clone(),
                w.url(&format!("/api/conversations/{cid}/messages")),
            );
            tokio::spawn(async move {
                c.post(url)
                    .json(&json!({"role": "user", "content": format!("message {i}")}))
                    .send()
                    .await
                    .expect("append")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for a in appends {
        assert_eq!(a.await.expect("join"), 201);
    }
    let (_, page) = w
        .get("/api/chat/memory/entries/self_conversations?limit=500")
        .await;
    assert_eq!(page["total"], 50);
    let (status, _) = w.delete(&format!("/api/conversations/{cid}")).await;
    assert_eq!(status, 200);
    let (_, stats) = w.get("/api/chat/memory/stats").await;
    assert_eq!(
        stats["memory_events"], 0,
        "a deleted conversation is forgotten"
    );
    w.shutdown().await;
}

/// An endpoint's embedding model chosen in settings: a chat model is refused with the server's
/// own words and nothing changes; an embedding model is probed, used by every search and for
/// new entries, and the entries stored before are embedded again with progress on /ws; and
/// deleting the endpoint puts memory back on the automatic choice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoints_embedding_model_is_chosen_in_settings() {
    use crate::util::{ws_connect, ws_next_of};
    let (llm, _script) = start_scripted_llm().await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 60_000).await;
    for (id, provider) in [("o", "ollama"), ("a", "openai")] {
        let (status, body) = w
            .post(
                "/api/settings/endpoints",
                json!({"id": id, "name": id, "url": llm, "provider": provider}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, conv) = w.post("/api/conversations", json!({})).await;
    let cid = conv["id"].as_str().expect("id").to_owned();
    let lines = [
        "write failed: No space left on device (/var/log/syslog)",
        "sshd[812]: Permission denied (publickey) for alice",
        "nginx.service: Failed with result exit-code",
    ];
    for l in lines {
        let (status, _) = w
            .post(
                &format!("/api/conversations/{cid}/messages"),
                json!({"role": "assistant", "content": l}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (_, before) = w.get("/api/settings/embedding").await;
    assert_eq!(before["kind"], "auto", "{before}");
    assert_eq!(before["embedding"], "hashed-words-512");

    // Chat models cannot embed: each server's refusal is passed on, and nothing changes.
    for (endpoint, words) in [("o", "does not support embeddings"), ("a", "--embeddings")] {
        let (status, body) = w
            .post(
                "/api/settings/embedding",
                json!({"kind": "endpoint", "endpoint_id": endpoint, "model": "scripted:8b"}),
            )
            .await;
        assert_eq!(status, 502, "{body}");
        assert!(
            body["detail"].as_str().expect("detail").contains(words),
            "{body}"
        );
    }
    let (_, still) = w.get("/api/settings/embedding").await;
    assert_eq!(still["embedding"], "hashed-words-512", "{still}");
    // Mistakes of the caller.
    for (bad, code) in [
        (json!({"kind": "endpoint", "endpoint_id": "a"}), 422),
        (
            json!({"kind": "endpoint", "endpoint_id": "nope", "model": "m"}),
            404,
        ),
        (json!({"kind": "bogus"}), 422),
        (
            json!({"kind": "endpoint", "endpoint_id": "a", "model": "  "}),
            422,
        ),
    ] {
        let (status, body) = w.post("/api/settings/embedding", bad.clone()).await;
        assert_eq!(status, code, "{bad} → {body}");
        assert!(body["code"].is_string(), "{body}");
    }

    let mut ws = ws_connect(&w).await;
    let (status, chosen) = w
        .post(
            "/api/settings/embedding",
            json!({"kind": "endpoint", "endpoint_id": "a", "model": "scripted-embed:latest"}),
        )
        .await;
    assert_eq!(status, 200, "{chosen}");
    assert_eq!(chosen["kind"], "endpoint");
    assert_eq!(chosen["embedding"], "scripted-embed:latest@a");
    assert_eq!(chosen["embedding_dim"], 64);
    assert!(
        chosen["embedding_note"]
            .as_str()
            .expect("note")
            .contains("sent to that server"),
        "{chosen}"
    );
    // The three messages are embedded again by the endpoint, with progress on /ws.
    loop {
        let ev = ws_next_of(&mut ws, "memory_reembed").await["data"].clone();
        if ev["collection"] == "self_conversations" && ev["done"] == ev["total"] {
            assert_eq!(ev["total"], 3, "{ev}");
            assert_eq!(ev["embedder"], "scripted-embed:latest@a");
            break;
        }
    }
    let (_, stats) = w.get("/api/chat/memory/stats").await;
    assert_eq!(stats["embedding"], "scripted-embed:latest@a", "{stats}");
    assert_eq!(stats["embedding_pending"], 0, "{stats}");
    // Searches use the endpoint's vectors: the paraphrases find their lines.
    for (q, want) in [
        ("disk is full", lines[0]),
        ("can't log in over ssh", lines[1]),
    ] {
        let (status, found) = w
            .post("/api/chat/memory/query", json!({"query": q, "k": 1}))
            .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["results"][0]["content"], want, "{q}: {found}");
    }
    // New entries are embedded by the endpoint too.
    let (status, _) = w
        .post(
            &format!("/api/conversations/{cid}/messages"),
            json!({"role": "user", "content": "is the web site down?"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, found) = w
        .post(
            "/api/chat/memory/query",
            json!({"query": "apache http", "k": 2}),
        )
        .await;
    let top: Vec<&str> = found["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["content"].as_str())
        .collect();
    assert!(top.contains(&"is the web site down?"), "{found}");

    // The endpoint goes: memory goes back to the automatic choice and embeds again.
    let (status, del) = w.delete("/api/settings/endpoints/a").await;
    assert_eq!(status, 200, "{del}");
    assert!(
        del["cleared_roles"]
            .as_array()
            .expect("roles")
            .contains(&json!("embedding")),
        "{del}"
    );
    let (_, after) = w.get("/api/settings/embedding").await;
    assert_eq!(after["kind"], "auto", "{after}");
    assert_eq!(after["embedding"], "hashed-words-512", "{after}");
    w.shutdown().await;
}

/// The machine's manual pages (fixture pages captured from Debian): indexed on demand in the
/// background with progress on /ws, searchable in `self_knowledge_all`, quoted by chat with
/// the page's name; a second request while a job runs does not start another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_pages_are_indexed_and_quoted_with_their_names() {
    use crate::util::{ws_connect, ws_next_of};
    let (llm, script) = start_scripted_llm().await;
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 60_000).await;
    let (status, st) = w.get("/api/settings/knowledge/status").await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(
        (st["built"].as_bool(), st["pages"].as_u64()),
        (Some(false), Some(0))
    );
    assert_eq!(st["sections"], json!(["1", "5", "8"]));

    let mut ws = ws_connect(&w).await;
    let (status, started) = w.post("/api/settings/knowledge/refresh", json!({})).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["running"], true);
    let done = loop {
        let ev = ws_next_of(&mut ws, "knowledge_index").await["data"].clone();
        if ev["running"] == false {
            break ev;
        }
    };
    assert_eq!(
        (done["done"].as_u64(), done["total"].as_u64()),
        (Some(6), Some(6)),
        "{done}"
    );
    let (_, st) = w.get("/api/settings/knowledge/status").await;
    assert_eq!(st["built"], true, "{st}");
    assert_eq!(st["pages"], 6);
    assert!(
        st["last_run"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{st}"
    );
    let (_, stats) = w.get("/api/chat/memory/stats").await;
    assert_eq!(
        stats["collections"]["self_knowledge_all"], st["entries"],
        "{stats}"
    );

    let (status, found) = w
        .post(
            "/api/chat/memory/query",
            json!({"query": "StrictHostKeyChecking known_hosts", "k": 1, "collection": "self_knowledge_all"}),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        found["results"][0]["metadata"]["page"], "ssh_config(5)",
        "{found}"
    );

    // Chat quotes the excerpts as labelled data, each with its page.
    use_model(&w, "local", "ollama", &llm, "scripted:8b").await;
    let (status, _) = w
        .post(
            "/api/chat/send",
            json!({"message": "what does StrictHostKeyChecking do with known_hosts?"}),
        )
        .await;
    assert_eq!(status, 200);
    let system = script.requests().last().expect("request")["messages"][0]["content"]
        .as_str()
        .expect("system")
        .to_owned();
    assert!(
        system.contains("<data label=\"manuals\" source=\"this machine's manual pages\">")
            && system.contains("[ssh_config(5)] ssh_config(5) — DESCRIPTION: ")
            && system.contains("cite its page"),
        "{system}"
    );

    // Nothing changed: a second run reads no page again.
    let (status, _) = w.post("/api/settings/knowledge/refresh", json!({})).await;
    assert_eq!(status, 202);
    let again = loop {
        let ev = ws_next_of(&mut ws, "knowledge_index").await["data"].clone();
        if ev["running"] == false {
            break ev;
        }
    };
    assert_eq!(again["changed"], 0, "{again}");
    w.shutdown().await;
}
