//! `/api/editor/*` end to end: halbert-web → halbertd's Files service on a temporary host
//! tree, through the one action function: read with a version, a compare-and-swap write with
//! its backup, a conflicting writer, the backups, a restore, the path rules and safe mode.

use crate::util::{start_daemon, start_web};
use halbertd::host::HostRoot;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_a_file_with_versions_backups_and_restore() {
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(host.path().join("etc/app")).expect("mkdir");
    std::fs::write(host.path().join("etc/app/app.conf"), "port = 80\n").expect("write");
    std::fs::write(host.path().join("etc/shadow"), "root:*:1::::::\n").expect("write");
    let d = start_daemon(HostRoot::new(host.path())).await;
    let w = start_web(&d.socket, 1000).await;
    let file = || std::fs::read_to_string(host.path().join("etc/app/app.conf")).expect("read");

    let (s, f) = w.get("/api/editor/file?path=/etc/app/app.conf").await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(
        (
            f["content"].as_str(),
            f["language"].as_str(),
            f["needs_sudo"].as_bool()
        ),
        (Some("port = 80\n"), Some("ini"), Some(false))
    );
    assert_eq!(
        (f["owner"].as_str(), f["mode"].as_str()),
        (Some("root"), Some("0644"))
    );
    let v1 = f["version"].as_str().expect("version").to_owned();

    let (s, r) = w
        .post(
            "/api/editor/file",
            json!({"path": "/etc/app/app.conf", "content": "port = 8080\n", "version": v1}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["success"], true);
    let backup = r["backup_id"].as_str().expect("backup").to_owned();
    assert!(backup.starts_with("app.conf.bak."), "{backup}");
    assert_eq!(file(), "port = 8080\n");

    // A second editor that started from the same read is refused and told the version now.
    let (s, e) = w
        .post(
            "/api/editor/file",
            json!({"path": "/etc/app/app.conf", "content": "lost\n", "version": v1}),
        )
        .await;
    assert_eq!((s, e["code"].as_str()), (409, Some("conflict")), "{e}");
    assert_eq!(e["current_version"], r["version"]);
    assert_eq!(file(), "port = 8080\n");

    let (s, l) = w.get("/api/editor/backups?path=/etc/app/app.conf").await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["backups"][0]["backup_id"], backup.as_str());
    assert_eq!(l["backups"][0]["label"], "Manual save");

    let (s, r) = w
        .post(
            "/api/editor/restore",
            json!({"path": "/etc/app/app.conf", "backup": backup}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(file(), "port = 80\n");
    let (s, e) = w
        .post(
            "/api/editor/restore",
            json!({"path": "/etc/app/app.conf", "backup": "nope"}),
        )
        .await;
    assert_eq!(s, 404, "{e}");

    for (path, status, code) in [
        ("/etc/shadow", 403, "path_not_allowed"),
        ("/etc/app", 400, "not_a_regular_file"),
        ("/etc/app/missing", 404, "not_found"),
        ("/etc/../etc/shadow", 422, "validation_failed"),
        ("etc/app/app.conf", 422, "validation_failed"),
    ] {
        let (s, e) = w.get(&format!("/api/editor/file?path={path}")).await;
        assert_eq!((s, e["code"].as_str()), (status, Some(code)), "{path}: {e}");
    }

    let (s, _) = w
        .post(
            "/api/settings/guardrails/safe-mode/enter",
            json!({"reason": "maintenance"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) = w
        .post(
            "/api/editor/file",
            json!({"path": "/etc/app/app.conf", "content": "x\n"}),
        )
        .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (423, Some("safe_mode_active")),
        "{e}"
    );
    assert_eq!(file(), "port = 80\n");
    w.shutdown().await;
    d.shutdown().await;
}
