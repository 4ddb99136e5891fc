//! halbertd's Files service over its real socket, on a temporary host tree: reads with a
//! version, compare-and-swap writes with backups, restores, the path rules, safe mode, and the
//! audit records (hashes and backup ids, never content).

mod common;

use common::{audit_records, channel, start_daemon};
use halbert_proto::v1::{
    self as pb, files_client::FilesClient, guardrails_client::GuardrailsClient,
};
use halbertd::host::HostRoot;
use tonic::Code;

fn tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(d.path().join("etc/app")).expect("mkdir");
    std::fs::write(d.path().join("etc/app/app.conf"), "port = 80\n").expect("write");
    std::fs::write(d.path().join("etc/shadow"), "root:*:1::::::\n").expect("write");
    std::os::unix::fs::symlink("../shadow", d.path().join("etc/app/sneaky")).expect("symlink");
    d
}

fn code(s: &tonic::Status) -> pb::ErrorCode {
    halbert_proto::error_detail(s).expect("detail").code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_with_version_backup_and_restore() {
    let host = tree();
    let d = start_daemon(HostRoot::new(host.path())).await;
    let mut c = FilesClient::new(channel(&d.socket));

    let f = c
        .read(pb::ReadFileRequest {
            path: "/etc/app/app.conf".into(),
        })
        .await
        .expect("read")
        .into_inner();
    assert_eq!(
        (f.content.as_str(), f.size, f.language.as_str()),
        ("port = 80\n", 10, "ini")
    );
    assert!(!f.needs_sudo, "root writes anything");

    let w = c
        .write(pb::WriteFileRequest {
            path: "/etc/app/app.conf".into(),
            content: b"port = 8080\n".to_vec(),
            version: Some(f.version.clone()),
        })
        .await
        .expect("write")
        .into_inner();
    assert!(w.backup_id.starts_with("app.conf.bak."), "{}", w.backup_id);
    assert_eq!(
        std::fs::read_to_string(host.path().join("etc/app/app.conf")).expect("read"),
        "port = 8080\n"
    );

    // A second writer with the old version is refused, with the version now, and loses nothing.
    let e = c
        .write(pb::WriteFileRequest {
            path: "/etc/app/app.conf".into(),
            content: b"lost\n".to_vec(),
            version: Some(f.version.clone()),
        })
        .await
        .expect_err("stale version");
    assert_eq!(
        (e.code(), code(&e)),
        (Code::Aborted, pb::ErrorCode::Conflict)
    );
    assert_eq!(
        halbert_proto::error_detail(&e)
            .expect("detail")
            .current_version,
        w.version
    );

    let list = c
        .backups(pb::FileBackupsRequest {
            path: "/etc/app/app.conf".into(),
        })
        .await
        .expect("backups")
        .into_inner();
    assert_eq!(list.backups.len(), 1);
    assert_eq!(
        (list.backups[0].size, list.backups[0].label.as_str()),
        (10, "Manual save")
    );

    c.restore(pb::RestoreFileRequest {
        path: "/etc/app/app.conf".into(),
        backup_id: w.backup_id.clone(),
        reason: String::new(),
    })
    .await
    .expect("restore");
    assert_eq!(
        std::fs::read_to_string(host.path().join("etc/app/app.conf")).expect("read"),
        "port = 80\n"
    );
    let e = c
        .restore(pb::RestoreFileRequest {
            path: "/etc/app/app.conf".into(),
            backup_id: "../../shadow".into(),
            reason: String::new(),
        })
        .await
        .expect_err("not a backup of this path");
    assert_eq!(
        (e.code(), code(&e)),
        (Code::NotFound, pb::ErrorCode::NotFound)
    );

    // The records say what changed by hash, with the backup; the content is not in the log.
    let recs = audit_records(&d.state_dir());
    let wrote = recs
        .iter()
        .find(|r| r["rpc"] == "Files.Write" && r["outcome"] == "ok")
        .expect("the write's record");
    assert_eq!(wrote["details"]["path"], "/etc/app/app.conf");
    assert_eq!(wrote["details"]["backup_id"], w.backup_id.as_str());
    assert!(
        wrote["details"]["old_sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    assert!(
        wrote["details"]["new_sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64)
    );
    let log = serde_json::to_string(&recs).expect("json");
    assert!(
        !log.contains("port = 8080"),
        "content leaked into the audit log"
    );
    assert!(
        recs.iter()
            .any(|r| r["rpc"] == "Files.Write" && r["outcome"] == "failed"),
        "the conflict is recorded"
    );
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_rules_and_safe_mode_are_refused() {
    let host = tree();
    let d = start_daemon(HostRoot::new(host.path())).await;
    let mut c = FilesClient::new(channel(&d.socket));
    for (path, want) in [
        (
            "/etc/shadow",
            (Code::PermissionDenied, pb::ErrorCode::PathNotAllowed),
        ),
        (
            "/etc/app/sneaky",
            (Code::PermissionDenied, pb::ErrorCode::PathNotAllowed),
        ),
        (
            "/etc/../etc/shadow",
            (Code::InvalidArgument, pb::ErrorCode::InvalidArgument),
        ),
        (
            "etc/app/app.conf",
            (Code::InvalidArgument, pb::ErrorCode::InvalidArgument),
        ),
        (
            "/etc/app",
            (Code::FailedPrecondition, pb::ErrorCode::NotRegular),
        ),
        (
            "/etc/app/missing",
            (Code::NotFound, pb::ErrorCode::NotFound),
        ),
    ] {
        let e = c
            .read(pb::ReadFileRequest { path: path.into() })
            .await
            .expect_err(path);
        assert_eq!((e.code(), code(&e)), want, "{path}: {}", e.message());
    }
    let e = c
        .write(pb::WriteFileRequest {
            path: "/etc/app/sneaky".into(),
            content: b"pwned\n".to_vec(),
            version: None,
        })
        .await
        .expect_err("through a link to shadow");
    assert_eq!(code(&e), pb::ErrorCode::PathNotAllowed);
    assert_eq!(
        std::fs::read_to_string(host.path().join("etc/shadow")).expect("read"),
        "root:*:1::::::\n"
    );

    GuardrailsClient::new(channel(&d.socket))
        .enter_safe_mode(pb::EnterSafeModeRequest {
            reason: "maintenance".into(),
        })
        .await
        .expect("enter");
    let e = c
        .write(pb::WriteFileRequest {
            path: "/etc/app/app.conf".into(),
            content: b"x\n".to_vec(),
            version: None,
        })
        .await
        .expect_err("safe mode");
    assert_eq!(
        (e.code(), code(&e)),
        (Code::FailedPrecondition, pb::ErrorCode::SafeModeActive)
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("etc/app/app.conf")).expect("read"),
        "port = 80\n"
    );
    d.shutdown().await;
}
