//! halbert-web against an in-process halbertd, through real HTTP and WebSocket clients.

use std::io::{Read, Write};
use std::time::Duration;

use crate::util::{start_daemon, start_web};
use futures_util::StreamExt;
use halbertd::host::HostRoot;
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardrails_routes_have_the_contract_shape() {
    let d = start_daemon(HostRoot::system()).await;
    let w = start_web(&d.socket, 1000).await;
    let c = client();

    let (s, b) = json(
        c.get(w.url("/api/settings/guardrails/status"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "ok");
    assert_eq!(b["safe_mode_active"], false);
    assert_eq!(b["config"]["confidence_threshold"], 0.8);
    assert_eq!(b["config"]["cpu_budget"], 80);

    let enter = || {
        c.post(w.url("/api/settings/guardrails/safe-mode/enter"))
            .json(&serde_json::json!({"reason": "Manual activation"}))
    };
    let (s, b) = json(enter().send().await.expect("enter")).await;
    assert_eq!(
        (s, &b["safe_mode_active"], &b["changed"], &b["reason"]),
        (
            200,
            &Value::Bool(true),
            &Value::Bool(true),
            &Value::from("Manual activation")
        )
    );
    assert!(b["since"].as_str().expect("since").ends_with('Z'));
    let (s, b) = json(enter().send().await.expect("enter again")).await;
    assert_eq!(
        (s, &b["changed"]),
        (200, &Value::Bool(false)),
        "a second enter is idempotent"
    );
    assert!(d.engine.safe_mode().active);

    let (s, b) = json(
        c.post(w.url("/api/settings/guardrails/safe-mode/exit"))
            .send()
            .await
            .expect("exit"),
    )
    .await;
    assert_eq!(
        (s, &b["safe_mode_active"], &b["changed"]),
        (200, &Value::Bool(false), &Value::Bool(true))
    );
    assert!(!d.engine.safe_mode().active);
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_400_and_422_in_the_error_shape() {
    let d = start_daemon(HostRoot::system()).await;
    let w = start_web(&d.socket, 1000).await;
    let c = client();
    let url = w.url("/api/settings/guardrails/safe-mode/enter");
    let send = |body: &'static str| {
        c.post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (s, b) = json(send("{\"reason\": ").await.expect("post")).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_json")));
    let (s, b) = json(send("{\"reason\": 5}").await.expect("post")).await;
    assert_eq!((s, b["code"].as_str()), (422, Some("validation_failed")));
    // Found by schemathesis: serde takes a struct written as an array; the API takes objects.
    let (s, b) = json(send("[null]").await.expect("post")).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (422, Some("validation_failed")),
        "{b}"
    );
    assert!(!d.engine.safe_mode().active);
    let (s, b) = json(
        send("{\"reason\": \"x\", \"force\": true}")
            .await
            .expect("post"),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (422, Some("validation_failed")));
    let (s, b) = json(send(r#"{"reason": "two\nlines"}"#).await.expect("post")).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (422, Some("validation_failed")),
        "{b}"
    );
    let (s, b) = json(c.post(&url).body("{}").send().await.expect("post")).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let (s, b) = json(c.get(w.url("/api/nope")).send().await.expect("get")).await;
    assert_eq!((s, b["code"].as_str()), (404, Some("not_found")));
    let (s, b) = json(c.get(&url).send().await.expect("get")).await;
    assert_eq!((s, b["code"].as_str()), (405, Some("method_not_allowed")));
    assert!(b["detail"].is_string());
    assert!(
        !d.engine.safe_mode().active,
        "no bad request may change state"
    );
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halbertd_down_is_503_naming_the_socket_and_recovers() {
    let d = start_daemon(HostRoot::system()).await;
    let w = start_web(&d.socket, 1000).await;
    let c = client();
    assert_eq!(
        c.get(w.url("/api/settings/guardrails/status"))
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    let dir = d.shutdown().await;
    let _ = std::fs::remove_file(dir.path().join("halbertd.sock"));
    let (s, b) = json(
        c.get(w.url("/api/settings/guardrails/status"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (503, Some("daemon_unavailable")));
    let detail = b["detail"].as_str().expect("detail");
    assert!(
        detail.contains("halbertd is unreachable") && detail.contains("halbertd.sock"),
        "{detail}"
    );

    // halbertd comes back on the same socket: requests and the status feed reconnect.
    let d = crate::util::start_daemon_in(dir, HostRoot::system()).await;
    assert_eq!(
        c.get(w.url("/api/settings/guardrails/status"))
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    let mut connected = false;
    for _ in 0..100 {
        if d.engine.watchers() == 1 {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(connected, "the status feed must reconnect with backoff");
    w.shutdown().await;
    d.shutdown().await;
}

async fn ws_connect(
    w: &crate::util::Web,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tungstenite::Error,
> {
    let mut req = format!("ws://{}/ws", w.addr)
        .into_client_request()
        .expect("request");
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", o.parse().expect("origin"));
    }
    tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("ok");
        if let tungstenite::Message::Text(t) = m {
            return serde_json::from_str(&t).expect("json");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_clients_share_one_upstream_stream() {
    let d = start_daemon(HostRoot::system()).await;
    let w = start_web(&d.socket, 1000).await;
    let origin = format!("http://{}", w.addr);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(ws_connect(&w, Some(&origin)).await.expect("connect"));
    }
    for ws in clients.iter_mut() {
        let mut stamps = Vec::new();
        while stamps.len() < 2 {
            let m = next_json(ws).await;
            if m["type"] == "system_status" {
                let data = &m["data"];
                for k in ["cpu", "memory", "disk", "uptime", "load_average"] {
                    assert!(data[k].is_object(), "system_status.{k} missing: {data}");
                }
                assert!(data["load_average"]["1min"].is_number());
                assert!(data["memory"]["total_gb"].as_f64().expect("total") > 0.0);
                stamps.push(data["timestamp"].as_str().expect("timestamp").to_owned());
            }
        }
    }
    assert_eq!(
        d.engine.watchers(),
        1,
        "one upstream WatchStatus stream for all clients"
    );
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_foreign_hosts_and_origins() {
    let d = start_daemon(HostRoot::system()).await;
    let w = start_web(&d.socket, 1000).await;
    let c = client();
    let status = w.url("/api/settings/guardrails/status");

    let (s, b) = json(
        c.get(&status)
            .header("host", "evil.example")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (403, Some("forbidden_host")));
    let (s, _) = json(
        c.get(&status)
            .header("host", format!("evil.example:{}", w.addr.port()))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(s, 403);

    // No Host header at all: reqwest always sends one, so this one is written by hand.
    let addr = w.addr;
    let raw = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /api/settings/guardrails/status HTTP/1.1\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    })
    .await
    .expect("join");
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert!(raw.contains("forbidden_host"));

    let (s, b) = json(
        c.post(w.url("/api/settings/guardrails/safe-mode/enter"))
            .header("origin", "http://evil.example")
            .json(&serde_json::json!({"reason": "csrf"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (403, Some("forbidden_origin")));
    assert!(
        !d.engine.safe_mode().active,
        "a refused cross-origin POST must not change state"
    );
    let records = halbertd::gate::audit::verify(&d.state_dir().join("audit"))
        .expect("verify")
        .records;
    assert_eq!(records, 0, "it never reached halbertd");

    match ws_connect(&w, Some("http://evil.example")).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        other => panic!(
            "a foreign-origin upgrade must be refused, got {:?}",
            other.map(|_| ())
        ),
    }
    // The same-origin one is fine.
    assert!(
        ws_connect(&w, Some(&format!("http://{}", w.addr)))
            .await
            .is_ok()
    );
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_and_offline_docs() {
    let d = start_daemon(HostRoot::system()).await;
    let w = start_web(&d.socket, 1000).await;
    let c = client();
    let (s, spec) = json(c.get(w.url("/openapi.json")).send().await.expect("get")).await;
    assert_eq!(s, 200);
    assert!(
        spec["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.1")
    );
    for p in [
        "/api/settings/guardrails/status",
        "/api/settings/guardrails/safe-mode/enter",
        "/api/settings/guardrails/safe-mode/exit",
    ] {
        assert!(
            spec["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());

    let html = c
        .get(w.url("/docs/"))
        .send()
        .await
        .expect("docs")
        .text()
        .await
        .expect("text");
    assert!(html.contains("swagger-ui"), "{html}");
    let init = c
        .get(w.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("init")
        .text()
        .await
        .expect("text");
    for page in [&html, &init] {
        assert!(
            !page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"),
            "external URL in /docs: {page}"
        );
    }
    // Every asset the page loads is served here.
    for asset in [
        "swagger-ui.css",
        "index.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    ] {
        assert_eq!(
            c.get(w.url(&format!("/docs/{asset}")))
                .send()
                .await
                .expect("asset")
                .status(),
            200,
            "{asset}"
        );
    }
    let page = c.get(w.url("/")).send().await.expect("index");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("default-src 'self'")
    );
    // The built dashboard (make ui) loads its script from /static/, and that file is served.
    let html = page.text().await.expect("text");
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page names its script (is halbert-web/ui built?)");
    assert!(
        script.starts_with("/static/") && script.ends_with(".js"),
        "{script}"
    );
    let js = c.get(w.url(script)).send().await.expect("script");
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/javascript")
    );
    w.shutdown().await;
    d.shutdown().await;
}

/// The status history fills from the feed and is read back in buckets; bad parameters are
/// client mistakes in the error shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_history_keeps_what_the_feed_received() {
    let d = start_daemon(HostRoot::system()).await;
    let w = start_web(&d.socket, 1000).await;
    let mut points = 0;
    for _ in 0..50 {
        let (code, h) = w.get("/api/status/history?step=1").await;
        assert_eq!(code, 200, "{h}");
        points = h["timestamps"].as_array().expect("timestamps").len();
        if points >= 2 {
            for col in [
                "cpu_percent",
                "memory_percent",
                "swap_percent",
                "load_one",
                "disk_percent",
            ] {
                assert_eq!(h[col].as_array().expect(col).len(), points, "{col}: {h}");
            }
            assert!(
                h["memory_percent"][0].as_f64().expect("memory") > 0.0,
                "{h}"
            );
            assert_eq!(h["step"], 1);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        points >= 2,
        "two samples a second apart within 10 s, got {points}"
    );
    // A day back at ten minutes: one-minute means, whatever the step asked.
    let since = "2000-01-01T00:00:00Z";
    let (code, h) = w
        .get(&format!("/api/status/history?since={since}&step=600"))
        .await;
    assert_eq!((code, h["step"].as_i64()), (200, Some(600)), "{h}");
    for (query, want, code_name) in [
        ("step=0", 422, "validation_failed"),
        ("step=3601", 422, "validation_failed"),
        ("step=ten", 400, "invalid_query"),
        ("since=yesterday", 422, "validation_failed"),
    ] {
        let (code, body) = w.get(&format!("/api/status/history?{query}")).await;
        assert_eq!(
            (code, body["code"].as_str()),
            (want, Some(code_name)),
            "{query}: {body}"
        );
    }
    w.shutdown().await;
    d.shutdown().await;
}
