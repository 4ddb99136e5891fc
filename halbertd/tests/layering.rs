//! The design rules of ARCHITECTURE.md that a grep can hold: domain modules know nothing of
//! the transports; only `exec/` spawns processes and no code builds shell command lines; only
//! the listed modules write files.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).expect("read");
                out.push((p, text));
            }
        }
    }
    assert!(!out.is_empty(), "no sources under {}", dir.display());
    out
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

/// Non-comment lines, so that prose may name what code must not use.
fn code(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

/// The transports, which only the transport layers may name.
const TRANSPORT: [&str; 4] = ["tonic", "halbert_proto", "axum", "hyper"];

fn assert_no_transport(r: &str, text: &str) {
    for banned in TRANSPORT {
        assert!(
            !code(text).any(|l| l.contains(banned)),
            "{r} uses {banned}: domain code must not know the transport"
        );
    }
}

/// halbertd: every file is domain code except the transport layers (a deny list over the
/// whole tree, so a new module is checked without being listed).
#[test]
fn halbertd_domain_modules_know_no_transport() {
    // rpc/ and server: gRPC; peer: tonic's connection info; main: wiring; unix_http: the HTTP
    // client for the container runtimes' sockets.
    let transport = |r: &str| {
        r.starts_with("halbertd/src/rpc/")
            || [
                "halbertd/src/server.rs",
                "halbertd/src/peer.rs",
                "halbertd/src/main.rs",
                "halbertd/src/unix_http.rs",
            ]
            .contains(&r)
    };
    let mut checked = 0;
    for (p, text) in sources(&repo().join("halbertd/src")) {
        let r = rel(&p);
        if transport(&r) {
            continue;
        }
        assert_no_transport(&r, &text);
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} domain files found");
}

#[test]
fn halbert_web_domain_modules_know_no_transport() {
    let domain = [
        "halbert-web/src/config.rs",
        "halbert-web/src/sandbox.rs",
        "halbert-web/src/store.rs",
        "halbert-web/src/workers.rs",
    ];
    for f in domain {
        let text = std::fs::read_to_string(repo().join(f)).expect(f);
        assert_no_transport(f, &text);
    }
}

#[test]
fn only_exec_spawns_processes_and_nothing_builds_shell_strings() {
    for crate_dir in ["halbertd/src", "halbert-web/src"] {
        for (p, text) in sources(&repo().join(crate_dir)) {
            let r = rel(&p);
            for l in code(&text) {
                if !r.starts_with("halbertd/src/exec/") {
                    assert!(
                        !l.contains("Command::new") && !l.contains("process::Command"),
                        "{r} spawns a process: only halbertd's exec/ may"
                    );
                }
                assert!(
                    !(l.contains("\"sh\"") || l.contains("\"/bin/sh\"") || l.contains("\"bash\"")),
                    "{r} runs a shell: commands are argv vectors"
                );
            }
        }
    }
}

#[test]
fn only_known_modules_write_files() {
    // statefile and audit write inside halbertd's state dir; main binds the development
    // socket; halbert-web's config/store/main and the model settings (API keys, 0600) write
    // inside the user's state dir.
    let allowed = [
        "halbertd/src/host/statefile.rs",
        "halbertd/src/gate/audit.rs",
        "halbertd/src/main.rs",
        "halbert-web/src/config.rs",
        "halbert-web/src/main.rs",
        "halbert-web/src/store.rs",
        "halbert-web/src/llm/settings.rs",
    ];
    let writes = [
        "fs::write",
        "OpenOptions",
        "File::create",
        "set_permissions",
        "remove_file",
        "fs::rename",
        "DirBuilder",
        "create_dir",
    ];
    for crate_dir in ["halbertd/src", "halbert-web/src"] {
        for (p, text) in sources(&repo().join(crate_dir)) {
            let r = rel(&p);
            if allowed.contains(&r.as_str()) || r.starts_with("halbertd/src/files/") {
                continue;
            }
            // Test modules write into their own tempdirs.
            let body = text.split("#[cfg(test)]").next().unwrap_or("");
            for w in writes {
                assert!(
                    !code(body).any(|l| l.contains(w)),
                    "{r} writes files ({w}): only halbertd's files/ may write outside the state dir"
                );
            }
        }
    }
}
