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
