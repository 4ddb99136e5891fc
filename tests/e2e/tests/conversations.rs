//! Conversations and AI rules through halbert-web's HTTP API (no halbertd needed).

use crate::util::start_web;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_round_trip_and_fifty_concurrent_appends_lose_nothing() {
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 1000).await;
    let c = reqwest::Client::new();

    let (status, conv) = w
        .post(
            "/api/conversations",
            json!({"name": "Troubleshooting disk", "persona": "guide"}),
        )
        .await;
    assert_eq!(status, 201, "{conv}");
    let id = conv["id"].as_str().expect("id").to_owned();
    assert_eq!(
        (conv["name"].as_str(), conv["persona"].as_str()),
        (Some("Troubleshooting disk"), Some("guide"))
    );
    assert_eq!(
        conv["messages"][0]["role"], "assistant",
        "a new conversation opens with a greeting"
    );
    assert!(
        conv["messages"][0]["content"]
            .as_str()
            .expect("greeting")
            .contains("@storage")
    );

    let url = w.url(&format!("/api/conversations/{id}/messages"));
    let sends = (0..50).map(|i| {
        let (c, url) = (c.clone(), url.clone());
        tokio::spawn(async move { c.post(&url).json(&json!({"role": "user", "content": format!("message {i}"), "mentions": ["@storage"]})).send().await })
    });
    for s in futures_util::future::join_all(sends).await {
        assert_eq!(s.expect("join").expect("send").status().as_u16(), 201);
    }
    let full: Value = c
        .get(w.url(&format!("/api/conversations/{id}")))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let msgs = full["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 51, "greeting + 50 appends, none lost");
    let mut seen: Vec<String> = msgs[1..]
        .iter()
        .map(|m| m["content"].as_str().expect("content").to_owned())
        .collect();
    seen.sort();
    let mut want: Vec<String> = (0..50).map(|i| format!("message {i}")).collect();
    want.sort();
    assert_eq!(seen, want);

    let list: Value = c
        .get(w.url("/api/conversations"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let item = &list["conversations"][0];
    assert_eq!(
        (item["id"].as_str(), item["message_count"].as_u64()),
        (Some(id.as_str()), Some(51))
    );
    assert!(
        item["preview"]
            .as_str()
            .expect("preview")
            .starts_with("message ")
    );

    let (status, body) = w
        .patch(
            &format!("/api/conversations/{id}"),
            json!({"name": "Disk, solved"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Bad ids never reach the store; unknown ones are 404; bad roles 422.
    assert_eq!(
        c.get(w.url("/api/conversations/..%2F..%2Fetc"))
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        c.get(w.url("/api/conversations/not-a-uuid"))
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        c.get(w.url(&format!("/api/conversations/{}", uuid_like())))
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        404
    );
    let r = c
        .post(&url)
        .json(&json!({"role": "root", "content": "x"}))
        .send()
        .await
        .expect("bad role");
    assert_eq!(r.status().as_u16(), 422);
    let r = c
        .delete(w.url(&format!("/api/conversations/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"deleted": true, "id": id})
    );
    assert_eq!(
        c.get(w.url(&format!("/api/conversations/{id}")))
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        404
    );
    w.shutdown().await;
}

fn uuid_like() -> &'static str {
    "00000000-0000-4000-8000-000000000000"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_rules_crud_with_validation() {
    let nowhere = tempfile::tempdir().expect("tempdir");
    let w = start_web(&nowhere.path().join("no-halbertd.sock"), 1000).await;
    let c = reqwest::Client::new();
    let (status, rule) = w
        .post(
            "/api/settings/ai-rules",
            json!({"text": "bcachefs requires kernel 6.8 or earlier", "category": "storage"}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(
        (
            rule["priority"].as_str(),
            rule["enabled"].as_bool(),
            rule["category"].as_str()
        ),
        (Some("high"), Some(true), Some("storage"))
    );
    let id = rule["id"].as_str().expect("id").to_owned();

    for bad in [
        json!({"text": ""}),
        json!({"text": "x", "priority": "urgent"}),
        json!({"text": "x", "category": "a b"}),
        json!({"text": 5}),
    ] {
        let r = c
            .post(w.url("/api/settings/ai-rules"))
            .json(&bad)
            .send()
            .await
            .expect("bad");
        assert_eq!(r.status().as_u16(), 422, "{bad}");
    }
    let r = c
        .put(w.url(&format!("/api/settings/ai-rules/{id}")))
        .json(&json!({"enabled": false, "priority": "low"}))
        .send()
        .await
        .expect("update");
    let upd: Value = r.json().await.expect("json");
    assert_eq!(
        (
            upd["enabled"].as_bool(),
            upd["priority"].as_str(),
            upd["text"].as_str()
        ),
        (
            Some(false),
            Some("low"),
            Some("bcachefs requires kernel 6.8 or earlier")
        )
    );
    assert_eq!(
        c.put(w.url("/api/settings/ai-rules/rule-404"))
            .json(&json!({"enabled": true}))
            .send()
            .await
            .expect("404")
            .status()
            .as_u16(),
        404
    );
    let list: Value = c
        .get(w.url("/api/settings/ai-rules"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["rules"].as_array().expect("rules").len(), 1);
    assert_eq!(
        c.delete(w.url(&format!("/api/settings/ai-rules/{id}")))
            .send()
            .await
            .expect("delete")
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        c.delete(w.url(&format!("/api/settings/ai-rules/{id}")))
            .send()
            .await
            .expect("delete")
            .status()
            .as_u16(),
        404
    );
    w.shutdown().await;
}
