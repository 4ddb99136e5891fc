//! The safety gate end to end, in-process: halbert-web → halbertd with a simulated systemd
//! (the testbed runs the same flow against the real one, with polkit and the real
//! validators): a model's suggestion held as an approval request until a person approves it,
//! the `/ws` events on the way, a person's action held when their policy asks for approval, a
//! write stopped by the dry run the policy requires, and the dry runs themselves.

use std::sync::Arc;

use crate::util::{
    start_daemon_with_systemd, start_scripted_llm, start_web, use_model, ws_connect, ws_next_of,
};
use halbertd::host::HostRoot;
use halbertd::systemd::Systemd;
use halbertd::systemd::sim::{SimSystemd, SimUnit};
use serde_json::json;

fn sim() -> Systemd {
    let s = Arc::new(SimSystemd::new());
    s.add_unit(
        "hb-web.service",
        SimUnit::new("A web server", "inactive", "dead"),
    );
    Systemd::Sim(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_suggestion_waits_for_a_person_then_runs_once() {
    let host = tempfile::tempdir().expect("tempdir");
    let d = start_daemon_with_systemd(HostRoot::new(host.path()), sim()).await;
    let w = start_web(&d.socket, 1000).await;
    let (url, _script) = start_scripted_llm().await;
    use_model(&w, "local", "ollama", &url, "scripted:8b").await;
    let mut ws = ws_connect(&w).await;

    let (s, r) = w
        .post(
            "/api/chat/send",
            json!({"message": "check if hb-web.service is running, and restart it if not"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let sug = &r["suggested_actions"][0];
    assert_eq!(sug["status"], "pending", "{r}");
    let id = sug["approval_id"].as_str().expect("approval id").to_owned();

    let decision = ws_next_of(&mut ws, "decision").await;
    // The chat's own steps come first; the gate's decision names the proposal.
    let mut decision = decision;
    while decision["data"]["outcome"].is_null() {
        decision = ws_next_of(&mut ws, "decision").await;
    }
    assert_eq!(
        (
            decision["data"]["action"].as_str(),
            decision["data"]["outcome"].as_str()
        ),
        (Some("Restart hb-web.service"), Some("approval_required")),
        "{decision}"
    );
    let req = ws_next_of(&mut ws, "approval_request").await;
    assert_eq!(req["data"]["id"], id.as_str(), "{req}");
    assert_eq!(
        req["data"]["action"],
        json!({"type": "control_service", "unit": "hb-web.service", "verb": "restart"})
    );

    let (_, st) = w.get("/api/services/hb-web").await;
    assert_eq!(
        st["active_state"], "inactive",
        "nothing ran before the approval"
    );
    let (s, p) = w.get("/api/approvals/pending").await;
    assert_eq!((s, p["count"].as_u64()), (200, Some(1)), "{p}");
    assert_eq!(
        p["approvals"][0]["simulation_result"]["changes"][0]["type"],
        "service_stop"
    );

    let (s, a) = w
        .post(&format!("/api/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["request"]["status"], "approved");
    assert_eq!(a["request"]["result"]["ok"], true, "{a}");
    let (_, st) = w.get("/api/services/hb-web").await;
    assert_eq!(st["active_state"], "active", "the approved restart ran");
    let dec = ws_next_of(&mut ws, "approval_decision").await;
    assert_eq!(
        (
            dec["data"]["request_id"].as_str(),
            dec["data"]["status"].as_str()
        ),
        (Some(id.as_str()), Some("approved"))
    );

    let (s, again) = w
        .post(&format!("/api/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(
        (s, again["code"].as_str()),
        (409, Some("already_decided")),
        "{again}"
    );
    let (s, r) = w
        .post(
            &format!("/api/approvals/{id}/reject"),
            json!({"reason": "late"}),
        )
        .await;
    assert_eq!(s, 409, "{r}");
    let (s, h) = w.get("/api/approvals/history?limit=5").await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["history"][0]["request_id"], id.as_str());
    let (s, r) = w
        .post(
            "/api/approvals/0123456789abcdef0123456789abcdef/approve",
            json!({}),
        )
        .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("not_found")), "{r}");
    let (s, r) = w.post("/api/approvals/x/reject", json!({})).await;
    assert_eq!((s, r["code"].as_str()), (400, Some("invalid_id")), "{r}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_action_is_held_when_their_policy_asks_and_rejected_runs_nothing() {
    let host = tempfile::tempdir().expect("tempdir");
    let d = start_daemon_with_systemd(HostRoot::new(host.path()), sim()).await;
    let w = start_web(&d.socket, 1000).await;
    let (s, r) = w
        .post(
            "/api/settings/policy",
            json!({"policy": {"tools": {"service_control": {"approvals": ["admin"]}}}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = w.post("/api/services/hb-web/start", json!({})).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (202, Some("approval_required")),
        "{r}"
    );
    let id = r["approval_id"].as_str().expect("id").to_owned();
    let (_, st) = w.get("/api/services/hb-web").await;
    assert_eq!(st["active_state"], "inactive");
    let (s, r) = w
        .post(&format!("/api/approvals/{id}/reject"), json!(null))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["request"]["rejection_reason"], "Rejected by the user");
    let (_, st) = w.get("/api/services/hb-web").await;
    assert_eq!(
        st["active_state"], "inactive",
        "a rejected action never runs"
    );

    let (_, r) = w.post("/api/services/hb-web/start", json!({})).await;
    let id = r["approval_id"].as_str().expect("id").to_owned();
    let (s, r) = w
        .post(&format!("/api/approvals/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, 200, "{r}");
    let (_, st) = w.get("/api/services/hb-web").await;
    assert_eq!(st["active_state"], "active");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_the_policy_requires_stops_a_rejected_write() {
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(host.path().join("etc/app")).expect("mkdir");
    std::fs::write(host.path().join("etc/app/config.json"), "{\"port\": 80}\n").expect("write");
    let d = start_daemon_with_systemd(HostRoot::new(host.path()), sim()).await;
    let w = start_web(&d.socket, 1000).await;

    // The dry run on its own: the diff, and the syntax check for JSON.
    let (s, r) = w
        .post(
            "/api/settings/simulate/file-write",
            json!({"path": "/etc/app/config.json", "content": "{\"port\": }\n"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let sim = &r["simulation"];
    assert_eq!(sim["success"], false, "{sim}");
    assert_eq!(
        (
            sim["validation"]["validator"].as_str(),
            sim["validation"]["status"].as_str()
        ),
        (Some("json"), Some("failed"))
    );
    assert_eq!(
        sim["changes"][0]["diff"],
        "--- /etc/app/config.json\n+++ /etc/app/config.json\n@@ -1 +1 @@\n-{\"port\": 80}\n+{\"port\": }\n"
    );
    let (_, r) = w
        .post(
            "/api/settings/simulate/file-write",
            json!({"path": "/etc/app/new.conf", "content": "a\nb\n"}),
        )
        .await;
    let c = &r["simulation"]["changes"][0];
    assert_eq!(c["type"], "file_create");
    assert_eq!(
        c["diff"],
        "--- /dev/null\n+++ /etc/app/new.conf\n@@ -0,0 +1,2 @@\n+a\n+b\n"
    );
    assert_eq!(r["simulation"]["validation"]["status"], "no_validator");

    let (s, _) = w
        .post(
            "/api/settings/policy",
            json!({"policy": {"tools": {"write_config": {"simulation_required": true}}}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, r) = w
        .post(
            "/api/editor/file",
            json!({"path": "/etc/app/config.json", "content": "{\"port\": }\n"}),
        )
        .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("simulation_failed")),
        "{r}"
    );
    assert_eq!(r["simulation"]["validation"]["status"], "failed");
    assert_eq!(
        std::fs::read_to_string(host.path().join("etc/app/config.json")).expect("read"),
        "{\"port\": 80}\n",
        "nothing was written"
    );
    let (s, r) = w
        .post(
            "/api/editor/file",
            json!({"path": "/etc/app/config.json", "content": "{\"port\": 8080}\n"}),
        )
        .await;
    assert_eq!(s, 200, "a content the validator passes is written: {r}");

    // A tool by name: write_config merges changes into the file; an unknown tool says so.
    let (s, r) = w
        .post(
            "/api/settings/simulate/tool",
            json!({"tool": "write_config", "args": {"path": "/etc/app/config.json", "changes": {"host": "::"}}}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let diff = r["simulation"]["outputs"]["diff"].as_str().expect("diff");
    assert!(diff.contains("+  \"host\": \"::\""), "{diff}");
    assert_eq!(r["simulation"]["outputs"]["applied"], false);
    let (_, r) = w
        .post(
            "/api/settings/simulate/tool",
            json!({"tool": "format_disk", "args": {}}),
        )
        .await;
    assert_eq!(r["simulation"]["success"], false);
    assert!(
        r["simulation"]["error"]
            .as_str()
            .expect("error")
            .contains("unknown tool")
    );
    w.shutdown().await;
}
