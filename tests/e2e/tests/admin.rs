//! The admin actions end to end, in-process: halbert-web → halbertd with a simulated systemd
//! (the testbed runs the same routes against the real one): unit jobs and their answers, the
//! terminal (run directly here, as the test's own user), its history, recovery with its
//! limits, the `alert` event, and safe mode refusing all of them.

use std::sync::Arc;

use crate::util::{start_daemon_with_systemd, start_web, ws_connect};
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
    s.add_unit(
        "hb-bad.service",
        SimUnit::new("Fails to start", "inactive", "dead").failing(),
    );
    Systemd::Sim(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unit_jobs_answer_with_systemds_result() {
    let host = tempfile::tempdir().expect("tempdir");
    let d = start_daemon_with_systemd(HostRoot::new(host.path()), sim()).await;
    let w = start_web(&d.socket, 1000).await;

    let (s, r) = w.post("/api/services/hb-web/start", json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        r,
        json!({"service_name": "hb-web.service", "action": "start", "success": true,
               "message": "started hb-web.service", "job_result": "done",
               "active_state": "active", "sub_state": "running"})
    );
    let (s, r) = w.get("/api/services/hb-web").await;
    assert_eq!(
        (s, r["active_state"].as_str()),
        (200, Some("active")),
        "{r}"
    );
    assert_eq!(r["service_name"], "hb-web.service");

    let (s, r) = w.post("/api/services/hb-web.service/stop", json!({})).await;
    assert_eq!((s, r["sub_state"].as_str()), (200, Some("dead")), "{r}");

    // A job that fails is an answer, not an error.
    let (s, r) = w.post("/api/services/hb-bad/restart", json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (
            r["success"].as_bool(),
            r["job_result"].as_str(),
            r["active_state"].as_str()
        ),
        (Some(false), Some("failed"), Some("failed"))
    );

    let (s, r) = w.post("/api/services/hb-none/start", json!({})).await;
    assert_eq!((s, r["code"].as_str()), (404, Some("not_found")), "{r}");
    let (s, r) = w.post("/api/services/-x/start", json!({})).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("validation_failed")),
        "{r}"
    );

    // Every job is in the audit log, the failed one as failed.
    let records = crate::util::audit_records(&d.state_dir());
    let jobs: Vec<_> = records
        .iter()
        .filter(|r| r["rpc"] == "Services.Control" && r["outcome"] != "intent")
        .map(|r| {
            (
                r["details"]["unit"].as_str().unwrap_or_default().to_owned(),
                r["details"]["verb"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let own = |u: &str, v: &str, o: &str| (u.to_owned(), v.to_owned(), o.to_owned());
    assert_eq!(
        jobs,
        vec![
            own("hb-web.service", "start", "ok"),
            own("hb-web.service", "stop", "ok"),
            own("hb-bad.service", "restart", "failed"),
            own("hb-none.service", "start", "failed"),
        ],
        "-x never reached halbertd: halbert-web refuses what its description does"
    );
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_runs_as_the_caller_and_keeps_a_history() {
    let host = tempfile::tempdir().expect("tempdir");
    let d = start_daemon_with_systemd(HostRoot::new(host.path()), sim()).await;
    let w = start_web(&d.socket, 1000).await;
    let me = nix::unistd::geteuid().as_raw();

    let (s, r) = w
        .post(
            "/api/terminal/execute",
            json!({"command": "id -u; echo oops >&2; exit 2"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (
            r["output"].clone(),
            r["error"].clone(),
            r["exit_code"].clone(),
            r["truncated"].clone()
        ),
        (
            json!(format!("{me}\n")),
            json!("oops\n"),
            json!(2),
            json!(false)
        )
    );

    let (s, r) = w
        .post(
            "/api/terminal/execute",
            json!({"command": "echo begun; sleep 30", "timeout_s": 1}),
        )
        .await;
    assert_eq!((s, r["exit_code"].as_i64()), (200, Some(-1)), "{r}");
    assert_eq!(r["output"], "begun\n");
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out after 1 s")),
        "{r}"
    );

    for (body, code) in [
        (json!({"command": "   "}), 422),
        (json!({"command": "true", "timeout_s": 301}), 422),
        (json!({"command": "true", "timeout_s": 0}), 422),
        (json!({"command": "sudo -u root id"}), 422),
        (json!({"cmd": "true"}), 422),
    ] {
        let (s, r) = w.post("/api/terminal/execute", body.clone()).await;
        assert_eq!(s, code, "{body}: {r}");
    }

    let (s, h) = w.get("/api/terminal/history").await;
    assert_eq!(s, 200, "{h}");
    let cmds: Vec<_> = h["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| (e["command"].clone(), e["exit_code"].clone()))
        .collect();
    assert_eq!(
        cmds,
        vec![
            (json!("echo begun; sleep 30"), json!(-1)),
            (json!("id -u; echo oops >&2; exit 2"), json!(2)),
        ],
        "newest first; refused requests are not history"
    );

    let audit = crate::util::audit_records(&d.state_dir());
    let runs: Vec<_> = audit
        .iter()
        .filter(|r| r["rpc"] == "Terminal.Execute" && r["outcome"] != "intent")
        .collect();
    assert_eq!(runs.len(), 3, "two runs and the sudo refused as invalid");
    assert_eq!(
        runs[0]["details"]["argv"],
        r#"["/bin/sh","-c","id -u; echo oops >&2; exit 2"]"#
    );
    assert_eq!(runs[0]["details"]["run_as_uid"], me.to_string());
    assert_eq!(runs[0]["details"]["exit_code"], "2");
    assert!(
        !serde_json::to_string(&audit)
            .expect("json")
            .contains("oops\\n"),
        "output never reaches the audit log"
    );
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_steps_back_within_its_limits_and_alerts_reach_ws() {
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(host.path().join("etc/app")).expect("mkdir");
    let conf = host.path().join("etc/app/app.conf");
    std::fs::write(&conf, "gen 0\n").expect("write");
    let d = start_daemon_with_systemd(HostRoot::new(host.path()), sim()).await;
    let w = start_web(&d.socket, 60_000).await;
    let file = || std::fs::read_to_string(&conf).expect("read");
    let rollback = || {
        w.post(
            "/api/settings/recovery/rollback",
            json!({"file_path": "/etc/app/app.conf"}),
        )
    };

    let (s, r) = w
        .put(
            "/api/settings/recovery/limits",
            json!({"throttle_minutes": 0, "max_rollback_depth": 2, "max_restart_attempts": 1}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = w
        .put(
            "/api/settings/recovery/limits",
            json!({"backoff_minutes": 9999}),
        )
        .await;
    assert_eq!(
        (s, r["code"].as_str()),
        (422, Some("validation_failed")),
        "{r}"
    );

    let (s, r) = rollback().await;
    assert_eq!(
        (s, r["code"].as_str()),
        (404, Some("not_found")),
        "no backup yet: {r}"
    );

    for g in 1..=3 {
        let (s, r) = w
            .post(
                "/api/editor/file",
                json!({"path": "/etc/app/app.conf", "content": format!("gen {g}\n")}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
    }
    for (want, depth) in [("gen 2\n", 1), ("gen 1\n", 2)] {
        let (s, r) = rollback().await;
        assert_eq!((s, r["depth"].as_u64()), (200, Some(depth)), "{r}");
        assert_eq!(file(), want);
    }
    let (s, r) = rollback().await;
    assert_eq!(
        (s, r["code"].as_str(), r["limit"].as_str()),
        (429, Some("limit_reached"), Some("max_rollback_depth")),
        "{r}"
    );
    assert_eq!(file(), "gen 1\n");

    let (s, r) = w
        .post(
            "/api/settings/recovery/restart-service",
            json!({"service": "hb-web"}),
        )
        .await;
    assert_eq!((s, r["success"].as_bool()), (200, Some(true)), "{r}");
    let (s, r) = w
        .post(
            "/api/settings/recovery/restart-service",
            json!({"service": "hb-web.service"}),
        )
        .await;
    assert_eq!(
        (s, r["limit"].as_str()),
        (429, Some("max_restart_attempts")),
        "{r}"
    );

    let mut ws = ws_connect(&w).await;
    let (s, r) = w
        .post(
            "/api/settings/recovery/alert",
            json!({"message": "disk almost full", "severity": "critical"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let got = crate::util::ws_next_of(&mut ws, "alert").await;
    assert_eq!(
        (
            got["data"]["message"].as_str(),
            got["data"]["severity"].as_str()
        ),
        (Some("disk almost full"), Some("critical"))
    );
    let (s, r) = w
        .post(
            "/api/settings/recovery/alert",
            json!({"message": "x", "severity": "loud"}),
        )
        .await;
    assert_eq!(s, 422, "{r}");

    let (s, st) = w.get("/api/settings/recovery/status").await;
    assert_eq!(s, 200, "{st}");
    let outcomes: Vec<_> = st["recent_actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            format!(
                "{} {} {}",
                a["action"].as_str().unwrap_or(""),
                a["target"].as_str().unwrap_or(""),
                a["outcome"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            "restart_service hb-web.service limited",
            "restart_service hb-web.service ok",
            "rollback /etc/app/app.conf limited",
            "rollback /etc/app/app.conf ok",
            "rollback /etc/app/app.conf ok",
            "rollback /etc/app/app.conf refused",
        ]
    );
    assert_eq!(st["alerts"][0]["message"], "disk almost full");
    assert_eq!(st["limits"]["max_rollback_depth"], 2);
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_mode_refuses_every_admin_action() {
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(host.path().join("etc")).expect("mkdir");
    std::fs::write(host.path().join("etc/a.conf"), "a\n").expect("write");
    let d = start_daemon_with_systemd(HostRoot::new(host.path()), sim()).await;
    let w = start_web(&d.socket, 1000).await;
    // A backup to roll back to, so that the rollback below meets safe mode and not a 404.
    let (s, r) = w
        .post(
            "/api/editor/file",
            json!({"path": "/etc/a.conf", "content": "b\n"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = w
        .post(
            "/api/settings/guardrails/safe-mode/enter",
            json!({"reason": "maintenance"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let marker = host.path().join("ran");
    for (path, body) in [
        ("/api/services/hb-web/start", json!({})),
        ("/api/services/hb-web/stop", json!({})),
        ("/api/services/hb-web/restart", json!({})),
        (
            "/api/terminal/execute",
            json!({"command": format!("touch {}", marker.display())}),
        ),
        (
            "/api/settings/recovery/restart-service",
            json!({"service": "hb-web"}),
        ),
        (
            "/api/settings/recovery/rollback",
            json!({"file_path": "/etc/a.conf"}),
        ),
    ] {
        let (s, r) = w.post(path, body).await;
        assert_eq!(
            (s, r["code"].as_str()),
            (423, Some("safe_mode_active")),
            "{path}: {r}"
        );
    }
    assert!(!marker.exists(), "the command did not run");
    assert_eq!(
        std::fs::read_to_string(host.path().join("etc/a.conf")).expect("read"),
        "b\n",
        "the file was not rolled back"
    );
    let (_, r) = w.get("/api/services/hb-web").await;
    assert_eq!(r["active_state"], "inactive", "the unit was not started");
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_policy_judges_every_action_and_names_the_rule() {
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(host.path().join("etc/sudoers.d")).expect("mkdir");
    std::fs::write(host.path().join("etc/sudoers.d/90-x"), "# x\n").expect("write");
    std::fs::write(host.path().join("etc/app.conf"), "a\n").expect("write");
    let d = start_daemon_with_systemd(HostRoot::new(host.path()), sim()).await;
    let w = start_web(&d.socket, 1000).await;

    let (s, p) = w.get("/api/settings/policy").await;
    assert_eq!((s, p["status"].as_str()), (200, Some("ok")), "{p}");
    assert_eq!(p["policy"]["default_allow"], true);
    assert!(
        p["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("policy.yml"))
    );

    let policy = json!({"policy": {"default_allow": true, "tools": {
        "service_control": {"allow": true, "conditions": {"names_allow": ["hb-bad*"]}},
        "write_config": {"conditions": {"paths_deny": ["/etc/sudoers.d/*"]}},
        "terminal_root": {"allow": false}
    }}});
    let (s, r) = w.post("/api/settings/policy", policy).await;
    assert_eq!(s, 200, "{r}");

    let (s, r) = w.post("/api/services/hb-web/start", json!({})).await;
    assert_eq!(
        (s, r["code"].as_str(), r["rule"].as_str()),
        (
            403,
            Some("policy_denied"),
            Some("tools.service_control.conditions.names_allow")
        ),
        "{r}"
    );
    let (_, u) = w.get("/api/services/hb-web").await;
    assert_eq!(u["active_state"], "inactive", "nothing was started");
    let (s, r) = w.post("/api/services/hb-bad/start", json!({})).await;
    assert_eq!(s, 200, "a unit the condition names is allowed: {r}");

    let (s, r) = w
        .post(
            "/api/editor/file",
            json!({"path": "/etc/sudoers.d/90-x", "content": "y\n"}),
        )
        .await;
    assert_eq!(
        (s, r["rule"].as_str()),
        (403, Some("tools.write_config.conditions.paths_deny")),
        "{r}"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("etc/sudoers.d/90-x")).expect("read"),
        "# x\n"
    );
    let (s, r) = w
        .post(
            "/api/editor/file",
            json!({"path": "/etc/app.conf", "content": "b\n"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");

    let (s, r) = w
        .post("/api/terminal/execute", json!({"command": "sudo id -u"}))
        .await;
    assert_eq!(
        (s, r["rule"].as_str()),
        (403, Some("tools.terminal_root.allow")),
        "{r}"
    );

    // A bad policy is refused naming the field, and the old one stays in force.
    let (s, r) = w
        .post(
            "/api/settings/policy",
            json!({"policy": {"tools": {"terminal": {"conditions": {"hours_allow": ["9-17"]}}}}}),
        )
        .await;
    assert_eq!(s, 422, "{r}");
    assert!(
        r["detail"]
            .as_str()
            .is_some_and(|d| d.contains("tools.terminal.conditions.hours_allow")),
        "{r}"
    );
    let (_, p) = w.get("/api/settings/policy").await;
    assert_eq!(p["policy"]["tools"]["terminal_root"]["allow"], false);

    let (s, _) = w
        .post(
            "/api/settings/policy/tool",
            json!({"tool": "terminal_root", "allow": true}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, r) = w
        .post("/api/terminal/execute", json!({"command": "sudo true"}))
        .await;
    assert_ne!(r["code"], "policy_denied", "{s} {r}");
    let (s, _) = w.delete("/api/settings/policy/tool/terminal_root").await;
    assert_eq!(s, 200);
    let (s, r) = w.delete("/api/settings/policy/tool/terminal_root").await;
    assert_eq!((s, r["code"].as_str()), (404, Some("not_found")), "{r}");

    // Safe mode is the emergency brake: no policy takes it away.
    let (s, _) = w
        .post(
            "/api/settings/policy",
            json!({"policy": {"default_allow": false}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, r) = w
        .post(
            "/api/settings/guardrails/safe-mode/enter",
            json!({"reason": "test"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = w.post("/api/services/hb-bad/stop", json!({})).await;
    assert_eq!((s, r["rule"].as_str()), (403, Some("default_allow")), "{r}");
    w.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_analyzed_and_never_run() {
    let host = tempfile::tempdir().expect("tempdir");
    let d = start_daemon_with_systemd(HostRoot::new(host.path()), sim()).await;
    let w = start_web(&d.socket, 1000).await;
    let marker = host.path().join("ran");
    let line = format!("touch {}; r''m -rf /", marker.display());
    let (s, r) = w
        .post(
            "/api/settings/simulate/command",
            json!({"command": line, "dry_run_flag": "--dry-run"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let sim = &r["simulation"];
    assert_eq!(
        (
            sim["success"].clone(),
            sim["risk"].clone(),
            sim["reversible"].clone()
        ),
        (json!(true), json!("destructive"), json!(false))
    );
    assert_eq!(sim["changes"][0]["programs"], json!(["touch", "rm"]));
    assert!(
        sim["warnings"][0]
            .as_str()
            .is_some_and(|w| w.starts_with("rm -r on /")),
        "{sim}"
    );
    assert_eq!(sim["commands_to_run"], json!([format!("{line} --dry-run")]));
    assert!(!marker.exists(), "the command was not run");
    let (s, r) = w
        .post(
            "/api/settings/simulate/command",
            json!({"command": "echo 'open"}),
        )
        .await;
    assert_eq!(
        (s, r["simulation"]["success"].clone()),
        (200, json!(false)),
        "{r}"
    );
    assert!(
        r["simulation"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("unclosed"))
    );
    let (s, _) = w
        .post("/api/settings/simulate/command", json!({"command": "  "}))
        .await;
    assert_eq!(s, 422);
    w.shutdown().await;
    d.shutdown().await;
}
