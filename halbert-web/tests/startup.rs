//! Start-up refusals of the real binary.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let home = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_halbert-web"))
        .args(args)
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env("HALBERT_SOCKET", home.path().join("none.sock"))
        .output()
        .expect("run halbert-web");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn refuses_a_non_loopback_address_without_a_token() {
    let (ok, err) = run(&["--host", "0.0.0.0", "--port", "0"]);
    assert!(!ok);
    assert!(err.contains("without a bearer token"), "{err}");
}

#[test]
fn refuses_an_invalid_guardrails_config() {
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = home.path().join(".config/halbert");
    std::fs::create_dir_all(&cfg).expect("mkdir");
    std::fs::write(cfg.join("guardrails.yml"), "cpu_budget: 500\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_halbert-web"))
        .args(["--port", "0"])
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("guardrails.yml") && err.contains("cpu_budget"),
        "{err}"
    );
}

#[test]
fn rejects_unknown_arguments() {
    let (ok, err) = run(&["--sandbox", "maybe"]);
    assert!(!ok);
    assert!(err.contains("--sandbox"), "{err}");
}
