//! Tool calling end to end, over both wire protocols: the scripted model asks for tools,
//! halbert-web validates the calls, halbertd (on the workstation fixture tree) answers them,
//! and the second call's answer streams on /ws after `decision` events for each call.

use std::time::Duration;

use crate::util::{
    channel, start_daemon_on_tree, start_scripted_llm, start_web, use_model, ws_connect,
};
use futures_util::StreamExt;
use halbert_proto::v1::{self as pb, discovery_client::DiscoveryClient};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

/// What /ws carried for one request: decisions, tokens in order, and the completion.
#[derive(Debug, Default)]
struct Seen {
    decisions: Vec<Value>,
    tokens: Vec<String>,
    complete: Option<Value>,
}

async fn ask(
    w: &crate::util::Web,
    ws: &mut (impl StreamExt<Item = Result<tungstenite::Message, tungstenite::Error>> + Unpin),
    rid: &str,
    message: &str,
) -> (u16, Value, Seen) {
    let post = tokio::spawn({
        let url = w.url("/api/chat/send");
        let body = json!({"message": message, "request_id": rid});
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("send");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    });
    let mut seen = Seen::default();
    while seen.complete.is_none() {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event in time")
            .expect("open")
            .expect("ok");
        let tungstenite::Message::Text(t) = m else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).expect("json");
        if v["data"]["request_id"] != rid {
            continue;
        }
        match v["type"].as_str() {
            Some("decision") => seen.decisions.push(v["data"].clone()),
            Some("chat_token") if v["data"]["done"] == false => seen
                .tokens
                .push(v["data"]["token"].as_str().expect("token").into()),
            Some("chat_complete") => seen.complete = Some(v["data"].clone()),
            _ => {}
        }
    }
    let (status, body) = post.await.expect("join");
    (status, body, seen)
}

fn tool_decisions(seen: &Seen) -> Vec<(String, bool)> {
    seen.decisions
        .iter()
        .filter(|d| d["action"] == "tool_call")
        .map(|d| {
            (
                d["tool"].as_str().expect("tool").to_owned(),
                d["ok"].as_bool().expect("ok"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_answer_from_halbertd_over_both_protocols() {
    let (llm, script) = start_scripted_llm().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = start_daemon_on_tree(dir, &crate::util::fixture("workstation")).await;
    let mut s = DiscoveryClient::new(channel(&d.socket))
        .scan(pb::ScanRequest {
            types: vec![pb::DiscoveryType::Network as i32],
        })
        .await
        .expect("scan")
        .into_inner();
    while s.message().await.expect("event").is_some() {}
    let w = start_web(&d.socket, 60_000).await;
    let mut ws = ws_connect(&w).await;

    for (provider, url) in [("ollama", llm.clone()), ("openai", format!("{llm}/v1"))] {
        use_model(&w, provider, provider, &url, "scripted:8b").await;
        let before = script.requests().len();
        let rid = format!("{provider}-disk");
        let (status, body, seen) = ask(
            &w,
            &mut ws,
            &rid,
            "How much disk space is left, and what is the system load?",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            tool_decisions(&seen),
            [
                ("check_disk_space".to_owned(), true),
                ("get_system_load".to_owned(), true)
            ],
            "{provider}: one decision per call"
        );
        assert_eq!(
            seen.decisions[0]["action"], "route",
            "the routing decision comes first"
        );
        let text = body["response"].as_str().expect("response");
        assert!(text.starts_with("From the tools: "), "{text}");
        assert!(
            text.contains(r#""mountpoint":"/""#),
            "disk result quoted: {text}"
        );
        assert!(
            text.contains(r#""1m":1.25"#),
            "load from the tree's /proc/loadavg: {text}"
        );
        assert_eq!(
            seen.tokens.concat(),
            text,
            "{provider}: every token, in order"
        );
        assert_eq!(seen.complete.expect("complete")["response"], text);
        let calls: Vec<&str> = body["tool_calls"]
            .as_array()
            .expect("tool_calls")
            .iter()
            .map(|c| c["tool"].as_str().expect("tool"))
            .collect();
        assert_eq!(calls, ["check_disk_space", "get_system_load"]);

        // Call 1 offered the tools; call 2 carried the calls and one result per call.
        let reqs = script.requests();
        assert_eq!(reqs.len() - before, 2, "{provider}: two model calls");
        let (first, second) = (&reqs[before], &reqs[before + 1]);
        assert_eq!(first["tools"].as_array().expect("tools").len(), 8);
        assert!(second.get("tools").is_none(), "call 2 offers no tools");
        let msgs = second["messages"].as_array().expect("messages");
        let assistant = msgs
            .iter()
            .find(|m| m["role"] == "assistant" && m.get("tool_calls").is_some())
            .expect("the assistant's calls are sent back");
        let results: Vec<&Value> = msgs.iter().filter(|m| m["role"] == "tool").collect();
        assert_eq!(results.len(), 2);
        let first_result: Value =
            serde_json::from_str(results[0]["content"].as_str().expect("content")).expect("json");
        assert_eq!(first_result["source"], "halbertd", "labelled data");
        if provider == "openai" {
            assert_eq!(assistant["tool_calls"][0]["id"], "call_0");
            assert!(
                assistant["tool_calls"][0]["function"]["arguments"].is_string(),
                "OpenAI arguments are a JSON string"
            );
            assert_eq!(results[1]["tool_call_id"], "call_1");
        } else {
            assert_eq!(
                assistant["tool_calls"][0]["function"]["arguments"],
                json!({"path": "/"})
            );
            assert_eq!(results[1]["tool_name"], "get_system_load");
        }
    }

    // The journal of a unit, read through halbertd's journalctl (recorded on this tree).
    let (status, body, seen) = ask(
        &w,
        &mut ws,
        "journal",
        "show the recent errors in the logs of cron.service",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tool_decisions(&seen), [("read_journal".to_owned(), true)]);
    let text = body["response"].as_str().expect("response");
    assert!(
        text.contains("repository /mnt/backup/borg is locked") && text.contains("\"err\""),
        "{text}"
    );

    // Processes from the tree's procfs.
    let (_, body, seen) = ask(&w, &mut ws, "proc", "check if the process sshd is alive").await;
    assert_eq!(tool_decisions(&seen), [("check_process".to_owned(), true)]);
    let text = body["response"].as_str().expect("response");
    assert!(
        text.contains(r#""pid":812"#) && text.contains(r#""running":true"#),
        "{text}"
    );

    // Network interfaces from discovery.
    let (_, body, seen) = ask(&w, &mut ws, "net", "what is the network status?").await;
    assert_eq!(
        tool_decisions(&seen),
        [("get_network_info".to_owned(), true)]
    );
    assert!(
        body["response"]
            .as_str()
            .expect("response")
            .contains("\"interfaces\""),
        "{body}"
    );

    // A tool that cannot be answered here (no system bus on this host) is reported to the
    // model and in the decision; the chat still answers, and nothing is suggested.
    let (status, body, seen) = ask(
        &w,
        &mut ws,
        "svc",
        "check if cron.service is running, and restart it if not",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        tool_decisions(&seen),
        [
            ("get_service_status".to_owned(), false),
            ("suggest_action".to_owned(), false)
        ]
    );
    assert!(
        seen.decisions[1]["reasoning"]
            .as_str()
            .expect("reasoning")
            .contains("system bus"),
        "{:?}",
        seen.decisions
    );
    assert_eq!(body["suggested_actions"], json!([]));
    assert!(
        body["response"]
            .as_str()
            .expect("response")
            .contains("system bus is not reachable")
    );
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_printed_as_text_is_read_as_the_call_it_is() {
    let (llm, script) = start_scripted_llm().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = start_daemon_on_tree(dir, &crate::util::fixture("workstation")).await;
    let w = start_web(&d.socket, 60_000).await;
    let mut ws = ws_connect(&w).await;
    use_model(&w, "ollama", "ollama", &llm, "text-tool").await;
    let (status, body, seen) = ask(&w, &mut ws, "txt", "how much disk space is left?").await;
    assert_eq!(status, 200);
    assert!(
        seen.decisions
            .iter()
            .any(|d| d["action"] == "tool_fallback"),
        "{:?}",
        seen.decisions
    );
    assert_eq!(
        tool_decisions(&seen),
        [("check_disk_space".to_owned(), true)],
        "the printed call is run, answered by halbertd"
    );
    let text = body["response"].as_str().expect("response");
    assert!(text.starts_with("From the tools: "), "{text}");
    assert!(text.contains("/dev/nvme0n1p2"), "{text}");
    assert!(
        seen.tokens.iter().all(|t| !t.contains("\"name\"")),
        "the printed tool call never reaches the user: {:?}",
        seen.tokens
    );
    assert_eq!(seen.tokens.concat(), text);
    let reqs = script.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[0].get("tools").is_some() && reqs[1].get("tools").is_none());
    assert_eq!(
        reqs[1]["messages"]
            .as_array()
            .expect("messages")
            .last()
            .expect("last")["role"],
        "tool",
        "call 2 answers from the call's result"
    );

    // A message that asks nothing a tool answers goes out in one call, without tools.
    use_model(&w, "ollama", "ollama", &llm, "scripted:8b").await;
    let (_, _, seen) = ask(&w, &mut ws, "plain", "write a haiku about autumn").await;
    assert!(tool_decisions(&seen).is_empty());
    let reqs = script.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[2].get("tools").is_none());
    w.shutdown().await;
    d.shutdown().await;
}
