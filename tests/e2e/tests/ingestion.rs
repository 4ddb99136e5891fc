//! `/api/settings/ingestion/*` end to end: halbertd in-process on the composed nct6775 sensor
//! tree, halbert-web's ingestion started over HTTP, its sensor events in `self_hwmon` and the
//! raw store, its counters moving, a bad `ingestion.yml` refused naming the field, stop and
//! start again. The journal's own lines (systemd-cat, polkit's refusal for bob, kill -9 and
//! resume) are checked in the testbed, where journald runs.

use std::time::Duration;

use halbertd::host::HostRoot;
use serde_json::json;

use crate::util::{fixture, start_daemon, start_web};

async fn status_until(
    w: &crate::util::Web,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut last = json!(null);
    for _ in 0..100 {
        let (code, s) = w.get("/api/settings/ingestion/status").await;
        assert_eq!(code, 200, "{s}");
        if ok(&s) {
            return s;
        }
        last = s;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensors_are_ingested_and_the_service_starts_and_stops() {
    let d = start_daemon(HostRoot::new(fixture("desktop-nct6775"))).await;
    let w = start_web(&d.socket, 60_000).await;

    let (code, s) = w.get("/api/settings/ingestion/status").await;
    assert_eq!(code, 200);
    assert_eq!(s["running"], false);
    assert!(
        s["config_path"]
            .as_str()
            .expect("path")
            .ends_with("ingestion.yml")
    );
    let cfg = std::path::PathBuf::from(s["config_path"].as_str().expect("path"));

    // A bad file is refused, naming the field, and nothing starts.
    std::fs::write(&cfg, "sources:\n  hwmon:\n    interval_s: 0\n").expect("write");
    let (code, e) = w.post("/api/settings/ingestion/start", json!({})).await;
    assert_eq!(code, 422, "{e}");
    assert!(
        e["detail"]
            .as_str()
            .expect("detail")
            .contains("sources.hwmon.interval_s"),
        "{e}"
    );
    assert_eq!(
        w.get("/api/settings/ingestion/status").await.1["running"],
        false
    );

    std::fs::write(&cfg, "sources:\n  hwmon:\n    interval_s: 1\n").expect("write");
    let (code, s) = w.post("/api/settings/ingestion/start", json!({})).await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["running"], true);
    assert!(s["started_at"].is_string());
    // Starting again changes nothing.
    assert_eq!(
        w.post("/api/settings/ingestion/start", json!({})).await.0,
        200
    );

    // The tree's first reading: fan1 below its minimum, in1's alarm, temp1 past its max and
    // temp7 unreadable are four events; readings keep coming.
    let s = status_until(&w, "two readings of 9 sensors", |s| {
        s["hwmon_readings"].as_u64() >= Some(18)
    })
    .await;
    assert_eq!(s["hwmon_events"], 4, "{s}");
    assert!(s["last_hwmon_event"].is_string());
    assert_eq!(s["errors"], 0, "{s}");
    let (_, hits) = w
        .post(
            "/api/chat/memory/query",
            json!({"query": "fan below its minimum", "collection": "self_hwmon", "k": 4}),
        )
        .await;
    let texts: Vec<&str> = hits["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["content"].as_str())
        .collect();
    assert_eq!(texts.len(), 4, "{hits}");
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("nct6798 fan1 at 0 RPM crossed its min limit (300 RPM)")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("nct6798 SYSTIN at 91.0 °C crossed its max limit (80.0 °C)")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("nct6798 AUXTIN3 cannot be read")),
        "{texts:?}"
    );

    let (code, s) = w.post("/api/settings/ingestion/stop", json!({})).await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["running"], false);
    let readings = s["hwmon_readings"].as_u64().expect("count");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = w.get("/api/settings/ingestion/status").await.1;
    assert_eq!(
        s["hwmon_readings"].as_u64(),
        Some(readings),
        "stopped means stopped"
    );

    // Started again: the sensors' states were kept, so nothing is announced twice.
    assert_eq!(
        w.post("/api/settings/ingestion/start", json!({})).await.0,
        200
    );
    let s = status_until(&w, "readings again", |s| {
        s["hwmon_readings"].as_u64() >= Some(readings + 9)
    })
    .await;
    assert_eq!(s["hwmon_events"], 4, "{s}");
    assert_eq!(
        w.post("/api/settings/ingestion/stop", json!({})).await.0,
        200
    );
    w.shutdown().await;
    d.shutdown().await;
}
