//! Discovery through halbertd's socket and halbert-web's routes, on fixture trees.

use std::time::Duration;

use crate::util::{channel, copy_tree, start_daemon_on_tree, start_web};
use futures_util::StreamExt;
use halbert_proto::v1::{self as pb, discovery_client::DiscoveryClient};
use serde_json::Value;
use tokio_tungstenite::tungstenite;
use tonic::Code;

async fn scan_all(
    c: &mut DiscoveryClient<tonic::transport::Channel>,
    types: &[&str],
) -> Vec<pb::ScanEvent> {
    let mut s = c
        .scan(pb::ScanRequest {
            types: types
                .iter()
                .map(|t| pb::DiscoveryType::from_name(t).expect("a type") as i32)
                .collect(),
        })
        .await
        .expect("scan")
        .into_inner();
    let mut out = Vec::new();
    while let Some(ev) = s.message().await.expect("event") {
        out.push(ev);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_replace_persist_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trees = tempfile::tempdir().expect("tempdir");
    let tree = copy_tree("workstation", trees.path());
    let d = start_daemon_on_tree(dir, &tree).await;
    let mut c = DiscoveryClient::new(channel(&d.socket));

    let empty = c
        .list(pb::ListDiscoveriesRequest {
            r#type: pb::DiscoveryType::Storage as i32,
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        (empty.items.len(), empty.last_scan_unix_ms),
        (0, 0),
        "nothing before the first scan"
    );

    let events = scan_all(&mut c, &[]).await;
    let started = events.iter().filter(|e| e.state == "started").count();
    let finished: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.state != "started")
        .map(|e| (e.type_name(), e.state.as_str()))
        .collect();
    assert_eq!((started, finished.len()), (8, 8), "{events:?}");
    // Without a system bus (as on the CI host), the service scanner fails; the others are intact.
    for (t, state) in &finished {
        if *t != "service" {
            assert_eq!(*state, "done", "{t}: {events:?}");
        }
    }

    let storage = c
        .list(pb::ListDiscoveriesRequest {
            r#type: pb::DiscoveryType::Storage as i32,
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(storage.items.len(), 13);
    assert!(storage.last_scan_unix_ms > 0);
    let sdc = c
        .get(pb::GetDiscoveryRequest {
            id: "disk-sdc".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        (sdc.type_name(), sdc.status.as_str(), sdc.severity.as_str()),
        ("storage", "unknown", "info")
    );
    let data: Value = serde_json::from_str(&sdc.data_json).expect("data json");
    assert_eq!(data["transport"], "usb");

    // The USB stick is unplugged: the next scan drops it.
    std::fs::remove_file(tree.join("sys/block/sdc")).expect("unplug");
    let events = scan_all(&mut c, &["storage"]).await;
    assert_eq!(
        events.iter().map(|e| e.state.as_str()).collect::<Vec<_>>(),
        ["started", "done"]
    );
    let e = c
        .get(pb::GetDiscoveryRequest {
            id: "disk-sdc".into(),
        })
        .await
        .expect_err("gone");
    assert_eq!(e.code(), Code::NotFound);

    // A restart serves the last known state at once, without scanning.
    let dir = d.shutdown().await;
    let d = start_daemon_on_tree(dir, &tree).await;
    let mut c = DiscoveryClient::new(channel(&d.socket));
    let again = c
        .list(pb::ListDiscoveriesRequest {
            r#type: pb::DiscoveryType::Storage as i32,
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(again.items.len(), 12);
    assert_eq!(
        again.last_scan_unix_ms,
        storage.last_scan_unix_ms.max(again.last_scan_unix_ms)
    );
    let summary = c
        .summary(pb::DiscoverySummaryRequest {})
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(summary.types.len(), 8);
    assert!(summary.types.iter().all(|t| t.last_scan_unix_ms > 0));

    let e = c
        .list(pb::ListDiscoveriesRequest {
            // A value the contract does not define, as an older or newer client might send.
            r#type: 42,
        })
        .await
        .expect_err("unknown type");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("storage, service, network"),
        "{}",
        e.message()
    );
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routes_have_the_contract_shape_for_every_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = start_daemon_on_tree(dir, &crate::util::fixture("workstation")).await;
    let w = start_web(&d.socket, 1000).await;
    let http = reqwest::Client::new();

    let mut ws = crate::util::ws_connect(&w).await;

    let r = http
        .post(w.url("/api/discovery/scan"))
        .send()
        .await
        .expect("scan");
    assert_eq!(r.status().as_u16(), 202);
    let started: Value = r.json().await.expect("json");
    let scan_id = started["scan_id"].as_str().expect("scan id").to_owned();
    assert_eq!(started["types"].as_array().expect("types").len(), 8);

    // Progress on /ws, ending with `complete` for this scan id.
    let mut seen = Vec::new();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("ok");
        let tungstenite::Message::Text(t) = m else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).expect("json");
        if v["type"] != "discovery_scan" {
            continue;
        }
        assert_eq!(v["data"]["scan_id"], scan_id.as_str());
        let state = v["data"]["state"].as_str().expect("state").to_owned();
        seen.push((
            v["data"]["type"].as_str().unwrap_or("").to_owned(),
            state.clone(),
        ));
        if state == "complete" {
            break;
        }
    }
    assert_eq!(
        seen.iter().filter(|(_, s)| s == "started").count(),
        8,
        "{seen:?}"
    );

    for t in [
        "storage",
        "service",
        "network",
        "container",
        "gpu",
        "sharing",
        "security",
        "backup",
    ] {
        let r = http
            .get(w.url(&format!("/api/discovery/{t}")))
            .send()
            .await
            .expect("list");
        assert_eq!(r.status().as_u16(), 200, "{t}");
        let v: Value = r.json().await.expect("json");
        let list = v["discoveries"]
            .as_array()
            .unwrap_or_else(|| panic!("{t}: {v}"));
        for i in list {
            for (k, want) in [
                ("id", "string"),
                ("type", "string"),
                ("name", "string"),
                ("title", "string"),
                ("status", "string"),
                ("data", "object"),
            ] {
                let ok = match want {
                    "object" => i[k].is_object(),
                    _ => i[k].is_string(),
                };
                assert!(ok, "{t}: {k} must be a {want}: {i}");
            }
            assert_eq!(i["type"], t);
            assert!(
                [
                    "healthy", "warning", "critical", "failed", "stopped", "unknown"
                ]
                .contains(&i["status"].as_str().expect("status"))
            );
            assert_eq!(i["mention"], format!("@{}", i["id"].as_str().expect("id")));
        }
        if !["service", "container"].contains(&t) {
            assert!(!list.is_empty(), "{t} has items on the workstation tree");
            assert!(v["last_scan"].as_str().expect("last_scan").ends_with('Z'));
        }
    }
    let disk: Value = http
        .get(w.url("/api/discovery/storage/disk-nvme0n1"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (disk["title"].as_str(), disk["status"].as_str()),
        (Some("Samsung SSD 980 PRO 1TB"), Some("healthy"))
    );
    assert_eq!(
        http.get(w.url("/api/discovery/gpu/disk-nvme0n1"))
            .send()
            .await
            .expect("get")
            .status()
            .as_u16(),
        404
    );

    let (status, v) = w.get("/api/discovery/disks").await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["detail"]
            .as_str()
            .expect("detail")
            .contains("storage, service, network, container, gpu, sharing, security, backup")
    );

    let (status, body) = w
        .post(
            "/api/discovery/scan",
            serde_json::json!({"types": ["gpu", "disks"]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let all: Value = http
        .get(w.url("/api/discovery"))
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    assert_eq!(all["types"].as_array().expect("types").len(), 8);
    assert!(all["total"].as_u64().expect("total") > 30);
    let m: Value = http
        .get(w.url("/api/discovery/mentions"))
        .send()
        .await
        .expect("mentions")
        .json()
        .await
        .expect("json");
    let mentions: Vec<&str> = m["mentions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|x| x["mention"].as_str())
        .collect();
    assert!(
        mentions.contains(&"@storage")
            && mentions.contains(&"@disk-nvme0n1")
            && mentions.contains(&"@iface-br0"),
        "{mentions:?}"
    );
    w.shutdown().await;
    d.shutdown().await;
}
