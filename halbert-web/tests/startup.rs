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

/// With a token (bound beyond loopback), stdout names where the token is and never the
/// token: under systemd stdout is the journal, which group adm reads.
#[test]
fn the_token_is_never_printed() {
    use std::io::{BufRead, BufReader};
    let home = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_halbert-web"))
        .args([
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--new-token",
            "--sandbox",
            "off",
        ])
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env("HALBERT_SOCKET", home.path().join("none.sock"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run halbert-web");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut printed = String::new();
    for _ in 0..2 {
        out.read_line(&mut printed).expect("read");
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let file = home.path().join(".local/share/halbert/token");
    let token = std::fs::read_to_string(&file).expect("token file");
    assert!(token.trim().len() >= 32);
    assert!(
        !printed.contains(token.trim()) && !stderr.contains(token.trim()),
        "the token was printed: {printed}{stderr}"
    );
    assert!(printed.contains(&file.display().to_string()), "{printed}");
}
