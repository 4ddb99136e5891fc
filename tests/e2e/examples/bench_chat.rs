//! Chat streaming benchmark: the latency Halbert adds to the first token, and 200 concurrent
//! streamed chats.
//!
//!     bench_chat [--runs N] [--chats N] [--tokens N]
//!
//! Everything runs in one process, as in the end-to-end tests: the scripted model server,
//! halbertd on this machine (real /proc, /sys, /etc; discovery scanned first) and halbert-web.
//! Reported:
//! - time to the first token calling the scripted server directly (`POST /api/chat`, stream)
//!   versus through Halbert (`POST /api/chat/send`, first `chat_token` on `/ws`), p50/p90/max,
//!   and the difference at p50 (goal: at most 5 ms);
//! - N concurrent streamed chats seen by one WebSocket client: wall time, token events per
//!   second, and how many tokens were lost or out of order (must be 0).

#[path = "../tests/util/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use halbertd::host::HostRoot;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads `/ws` until `pred` accepts an event; returns it.
async fn next_event(ws: &mut Ws, mut pred: impl FnMut(&Value) -> bool) -> anyhow::Result<Value> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("websocket closed"))??;
        if let tungstenite::Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t)?;
            if pred(&v) {
                return Ok(v);
            }
        }
    }
}

#[allow(clippy::print_stdout)]
fn main() -> anyhow::Result<()> {
    let mut runs = 200usize;
    let mut chats = 200usize;
    let mut tokens = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().unwrap_or_default().parse()?,
            "--chats" => chats = args.next().unwrap_or_default().parse()?,
            "--tokens" => tokens = args.next().unwrap_or_default().parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (llm, _script) = common::start_scripted_llm().await;
        let d = common::start_daemon(HostRoot::system()).await;
        let w = common::start_web(&d.socket, 60_000).await;
        let http = reqwest::Client::new();
        // Discovery first, so every chat gathers the context a real machine gives it.
        http.post(w.url("/api/discovery/scan")).send().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let model = format!("numbered-{tokens}");
        common::use_model(&w, "ollama", "ollama", &llm, &model).await;
        let mut ws = common::ws_connect(&w).await;
        let question = "what is the weather like on the moon";

        let mut direct = Vec::with_capacity(runs);
        let mut via = Vec::with_capacity(runs);
        for i in 0..runs {
            // Directly: the scripted server's first NDJSON line.
            let t0 = Instant::now();
            let mut resp = http
                .post(format!("{llm}/api/chat"))
                .json(&json!({"model": model, "stream": true,
                              "messages": [{"role": "user", "content": question}]}))
                .send()
                .await?;
            let _first = resp.chunk().await?;
            direct.push(t0.elapsed());
            while resp.chunk().await?.is_some() {}

            // Through Halbert: context, routing, the same call, the first chat_token on /ws.
            let rid = format!("bench-{i}");
            let t0 = Instant::now();
            let post = tokio::spawn({
                let (http, url, rid) = (http.clone(), w.url("/api/chat/send"), rid.clone());
                async move {
                    http.post(url)
                        .json(&json!({"message": question, "request_id": rid}))
                        .send()
                        .await
                }
            });
            next_event(&mut ws, |v| {
                v["type"] == "chat_token" && v["data"]["request_id"] == rid.as_str()
            })
            .await?;
            via.push(t0.elapsed());
            next_event(&mut ws, |v| {
                v["type"] == "chat_complete" && v["data"]["request_id"] == rid.as_str()
            })
            .await?;
            let r = post.await??;
            anyhow::ensure!(r.status().is_success(), "chat failed: {}", r.status());
        }
        direct.sort();
        via.sort();
        println!("first token, {runs} sequential chats (ms):");
        println!(
            "  direct to the scripted server: p50 {:.2}  p90 {:.2}  max {:.2}",
            ms(pct(&direct, 0.5)),
            ms(pct(&direct, 0.9)),
            ms(pct(&direct, 1.0))
        );
        println!(
            "  through Halbert (/api/chat/send → /ws): p50 {:.2}  p90 {:.2}  max {:.2}",
            ms(pct(&via, 0.5)),
            ms(pct(&via, 0.9)),
            ms(pct(&via, 1.0))
        );
        let added = ms(pct(&via, 0.5)) - ms(pct(&direct, 0.5));
        println!(
            "  added at p50: {added:.2} ms (goal ≤ 5 ms: {:.2} of the goal)",
            added / 5.0
        );

        // Concurrent streamed chats.
        let t0 = Instant::now();
        let posts: Vec<_> = (0..chats)
            .map(|i| {
                let (http, url) = (http.clone(), w.url("/api/chat/send"));
                tokio::spawn(async move {
                    http.post(url)
                        .json(&json!({"message": question, "request_id": format!("c{i}")}))
                        .send()
                        .await
                })
            })
            .collect();
        let mut seen: HashMap<String, Vec<String>> = HashMap::new();
        let (mut complete, mut lagged) = (0, 0u64);
        while complete < chats {
            let v = next_event(&mut ws, |v| {
                matches!(
                    v["type"].as_str(),
                    Some("chat_token" | "chat_complete" | "feed_lagged")
                )
            })
            .await?;
            match v["type"].as_str() {
                Some("chat_complete") => complete += 1,
                Some("feed_lagged") => lagged += v["data"]["skipped"].as_u64().unwrap_or(0),
                _ if v["data"]["done"] == false => seen
                    .entry(v["data"]["request_id"].as_str().unwrap_or("").to_owned())
                    .or_default()
                    .push(v["data"]["token"].as_str().unwrap_or("").to_owned()),
                _ => {}
            }
        }
        let wall = t0.elapsed();
        for p in posts {
            let r = p.await??;
            anyhow::ensure!(r.status().is_success(), "chat failed: {}", r.status());
        }
        let expected: Vec<String> = (0..tokens).map(|i| format!("t{i} ")).collect();
        let bad = (0..chats)
            .filter(|i| seen.get(&format!("c{i}")) != Some(&expected))
            .count();
        println!(
            "{chats} concurrent streamed chats × {tokens} tokens: {:.0} ms wall, {:.0} token events/s, \
             {bad} chats with lost or reordered tokens, {lagged} events skipped",
            ms(wall),
            (chats * tokens) as f64 / wall.as_secs_f64()
        );
        w.shutdown().await;
        d.shutdown().await;
        anyhow::ensure!(bad == 0 && lagged == 0, "tokens were lost or reordered");
        Ok(())
    })
}
