//! halbertd killed with SIGKILL in the middle of changes, again and again: after every restart
//! the state on disk is the one its audit log explains, and the chain verifies.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::channel;
use halbert_proto::v1::{self as pb, guardrails_client::GuardrailsClient};

/// The daemon process, killed when the test ends however it ends (a failed assertion must
/// not leave a halbertd running).
struct Daemon(Child);

impl Daemon {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> Daemon {
    let socket = dir.join("halbertd.sock");
    let _ = std::fs::remove_file(&socket);
    let child = Command::new(env!("CARGO_BIN_EXE_halbertd"))
        .args(["serve", "--socket"])
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("HALBERT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start halbertd");
    let t0 = Instant::now();
    while !socket.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "halbertd did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Daemon(child)
}

/// What the log says safe mode is: the last completed enter/exit, or what the start-up after
/// an interrupted one found.
fn replay(records: &[serde_json::Value]) -> bool {
    let mut active = false;
    for r in records {
        match (r["rpc"].as_str(), r["outcome"].as_str()) {
            (Some("Guardrails.EnterSafeMode"), Some("ok")) => active = true,
            (Some("Guardrails.ExitSafeMode"), Some("ok")) => active = false,
            (_, Some("interrupted")) => {
                active = r["details"]["safe_mode_active_after"] == "true";
            }
            _ => {}
        }
    }
    active
}

fn on_disk(state: &Path) -> bool {
    match std::fs::read(state.join("safe-mode.json")) {
        Ok(b) => serde_json::from_slice::<serde_json::Value>(&b).expect("state")["active"] == true,
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_in_a_loop_never_leaves_a_change_without_its_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let rounds = 24u64;
    let mut interrupted_seen = 0;
    for round in 0..rounds {
        let mut child = start(dir.path());
        let socket = dir.path().join("halbertd.sock");
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        let client = tokio::spawn(async move {
            let mut g = GuardrailsClient::new(channel(&socket));
            let mut acknowledged = 0u64;
            let mut first = Some(first_tx);
            for i in 0.. {
                let r = if i % 2 == 0 {
                    g.enter_safe_mode(pb::EnterSafeModeRequest {
                        reason: format!("crash test {i}"),
                    })
                    .await
                    .map(drop)
                } else {
                    g.exit_safe_mode(pb::ExitSafeModeRequest {}).await.map(drop)
                };
                if r.is_err() {
                    break;
                }
                acknowledged += 1;
                if let Some(tx) = first.take() {
                    let _ = tx.send(());
                }
            }
            acknowledged
        });
        // Kill at a different point of the write cycle each round, counted from the first
        // acknowledged change (start-up takes longer on a loaded machine).
        tokio::time::timeout(Duration::from_secs(30), first_rx)
            .await
            .expect("a first change within 30 s")
            .expect("the client made a change");
        tokio::time::sleep(Duration::from_millis((round * 37) % 200)).await;
        child.0.kill().expect("SIGKILL");
        child.0.wait().expect("reap");
        let acknowledged = client.await.expect("client");
        assert!(
            acknowledged > 0,
            "round {round}: no change was made before the kill"
        );

        // Start again: dangling intents are recorded as interrupted (before the first RPC is
        // served). Then stop cleanly.
        let mut child = start(dir.path());
        GuardrailsClient::new(channel(&dir.path().join("halbertd.sock")))
            .get(pb::GetGuardrailsRequest {})
            .await
            .expect("serving again");
        let records = common::audit_records(&state);
        let v = halbertd::gate::audit::verify(&state.join("audit")).expect("verify");
        assert_eq!(v.broken, None, "round {round}");
        assert_eq!(
            replay(&records),
            on_disk(&state),
            "round {round}: the state on disk is not the one the log explains"
        );
        // Every intent has exactly one outcome.
        for r in records.iter().filter(|r| r["outcome"] == "intent") {
            let n = records.iter().filter(|o| o["intent"] == r["hash"]).count();
            assert_eq!(n, 1, "round {round}: intent {} has {n} outcomes", r["hash"]);
        }
        interrupted_seen = records
            .iter()
            .filter(|r| r["outcome"] == "interrupted")
            .count();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.pid() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        child.0.wait().expect("reap");
    }
    eprintln!("{rounds} kills; {interrupted_seen} actions were cut between intent and outcome");
}

/// A start with a dangling intent on a disk that takes no more records (here: the log file made
/// immutable) still starts; the intent is recorded as interrupted by the next start that can.
#[test]
fn an_unwritable_log_does_not_keep_halbertd_from_starting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let log = halbertd::gate::audit::AuditLog::open(&state.join("audit")).expect("log");
    let intent = halbertd::gate::audit::Entry {
        rpc: "Guardrails.EnterSafeMode".into(),
        request_id: "req-1".into(),
        caller: halbertd::gate::audit::CallerRef {
            uid: 1000,
            pid: 42,
            comm: "halbert-web".into(),
        },
        action: Some("org.halbert.guardrails.manage".into()),
        details: Default::default(),
        outcome: halbertd::gate::audit::Outcome::Intent,
        error: None,
        summary: "Guardrails.EnterSafeMode starting".into(),
        intent: None,
    };
    log.append(&intent, time::OffsetDateTime::now_utc())
        .expect("append");
    drop(log);
    let file = halbertd::gate::audit::log_files(&state.join("audit")).expect("files")[0].clone();
    let chattr = |flag: &str| {
        Command::new("chattr")
            .arg(flag)
            .arg(&file)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !chattr("+i") {
        eprintln!("SKIPPED: chattr +i is not available here (needs root and ext4-like files)");
        return;
    }
    let opened = halbertd::engine::Engine::open(&state, halbertd::host::HostRoot::system());
    assert!(chattr("-i"));
    assert!(opened.is_ok(), "{:?}", opened.err());
    drop(opened);
    let interrupted = |recs: &[serde_json::Value]| {
        recs.iter()
            .filter(|r| r["outcome"] == "interrupted")
            .count()
    };
    assert_eq!(interrupted(&common::audit_records(&state)), 0);
    let _engine =
        halbertd::engine::Engine::open(&state, halbertd::host::HostRoot::system()).expect("open");
    assert_eq!(interrupted(&common::audit_records(&state)), 1);
}
