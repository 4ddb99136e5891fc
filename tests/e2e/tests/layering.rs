//! The design rules of ARCHITECTURE.md that a grep can hold: domain modules know nothing of
//! the transports (a deny list per folder); OpenAPI schemas only on API views; D-Bus only in
//! the bus modules; only `exec/` spawns processes and no code builds shell command lines; only
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
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

/// Non-comment lines, so that prose may name what code must not use.
fn code(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

/// What a file may not name, by where it lives: a deny list over every source file of both
/// crates, so a new module is checked the day it is added. The first rule whose prefix
/// matches a file decides; `[]` marks the transport layers themselves.
const RULES: &[(&str, &[&str])] = &[
    // halbertd: gRPC lives in rpc/ and server; peer reads tonic's connection info; main wires;
    // unix_http is the HTTP client for the container runtimes' sockets.
    ("halbertd/src/rpc/", &[]),
    ("halbertd/src/server.rs", &[]),
    ("halbertd/src/peer.rs", &["axum", "hyper"]),
    ("halbertd/src/main.rs", &["axum"]),
    (
        "halbertd/src/unix_http.rs",
        &["tonic", "halbert_proto", "axum"],
    ),
    (
        "halbertd/src/",
        &["tonic", "halbert_proto", "axum", "hyper"],
    ),
    // halbert-web: HTTP lives in api/, server/ and main; app wires; guard reads requests
    // (http types) but answers with its own Refusal; daemon is the gRPC client of halbertd
    // (tonic over hyper on the Unix socket);
    // events maps halbertd's status message onto the /ws contract; the chat turn, its context
    // and its tools read halbertd's discovery items.
    ("halbert-web/src/api/", &["tonic"]),
    ("halbert-web/src/server/", &["tonic", "halbert_proto"]),
    ("halbert-web/src/main.rs", &["tonic", "halbert_proto"]),
    (
        "halbert-web/src/app.rs",
        &["tonic", "halbert_proto", "hyper"],
    ),
    (
        "halbert-web/src/guard/",
        &[
            "tonic",
            "halbert_proto",
            "hyper",
            "axum::extract",
            "axum::response",
            "axum::middleware",
            "crate::api",
        ],
    ),
    ("halbert-web/src/daemon.rs", &["axum", "crate::api"]),
    (
        "halbert-web/src/events.rs",
        &["tonic", "axum", "hyper", "crate::api"],
    ),
    (
        "halbert-web/src/chat/context.rs",
        &["tonic", "axum", "hyper", "crate::api"],
    ),
    (
        "halbert-web/src/chat/tools/",
        &["tonic", "axum", "hyper", "crate::api"],
    ),
    // actions hands halbertd's answers back to the routes; the terminal and recovery act
    // through it and pass its answers on.
    (
        "halbert-web/src/actions/",
        &["tonic", "axum", "hyper", "crate::api"],
    ),
    (
        "halbert-web/src/terminal/",
        &["tonic", "axum", "hyper", "crate::api"],
    ),
    (
        "halbert-web/src/recovery/",
        &["tonic", "axum", "hyper", "crate::api"],
    ),
    (
        "halbert-web/src/chat/turn.rs",
        &["tonic", "axum", "hyper", "crate::api"],
    ),
    // Ingestion reads halbertd's journal and sensor streams (through daemon's Stream).
    (
        "halbert-web/src/ingestion/",
        &["tonic", "axum", "hyper", "crate::api"],
    ),
    // A dry run is made of halbertd's answers (the validator's verdict, a unit's plan).
    (
        "halbert-web/src/simulate/",
        &["tonic", "axum", "hyper", "crate::api"],
    ),
    (
        "halbert-web/src/",
        &["tonic", "halbert_proto", "axum", "hyper", "crate::api"],
    ),
];

fn denied(r: &str) -> &'static [&'static str] {
    RULES
        .iter()
        .find(|(prefix, _)| r.starts_with(prefix))
        .map(|(_, d)| *d)
        .unwrap_or_else(|| panic!("{r} is under no layering rule"))
}

/// Whether `l` names `what` as a path of its own (`tonic::`, `use tonic`), not as the tail of
/// another word (`Monotonic`).
fn names(l: &str, what: &str) -> bool {
    l.match_indices(what).any(|(i, _)| {
        !l[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn names_sees_paths_not_word_tails() {
    assert!(names("use tonic::Status;", "tonic"));
    assert!(names("x: tonic::Code", "tonic"));
    assert!(!names(
        "prop(&p, \"InactiveExitTimestampMonotonic\")",
        "tonic"
    ));
    assert!(names("crate::api::Code", "crate::api"));
}

#[test]
fn domain_modules_know_no_transport() {
    let mut checked = 0;
    for crate_dir in ["halbertd/src", "halbert-web/src"] {
        for (p, text) in sources(&repo().join(crate_dir)) {
            let r = rel(&p);
            // Unit tests may drive a module through the layer above it.
            let body = text.split("#[cfg(test)]").next().unwrap_or("");
            for banned in denied(&r) {
                assert!(
                    !code(body).any(|l| names(l, banned)),
                    "{r} names {banned}: that belongs to another layer (see ARCHITECTURE.md)"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 80, "only {checked} files found");
}

/// OpenAPI schemas describe the HTTP contract, so they live on the API's view types (and on
/// the /ws contract in `events.rs`), never on domain types a schema change would then bind —
/// except the few types that are one shape everywhere by design: the `Action`, a dry run, an
/// approval request and the health gate's verdict are serialized the same on every route, on
/// /ws and in the store (a copy per layer is what made three shapes of an action before).
#[test]
fn only_api_views_carry_openapi_schemas() {
    const ONE_SHAPE: &[&str] = &[
        "halbert-web/src/actions/mod.rs",
        "halbert-web/src/actions/health.rs",
        "halbert-web/src/simulate/mod.rs",
        "halbert-web/src/approvals/mod.rs",
    ];
    for (p, text) in sources(&repo().join("halbert-web/src")) {
        let r = rel(&p);
        if r.starts_with("halbert-web/src/api/")
            || r == "halbert-web/src/events.rs"
            || ONE_SHAPE.contains(&r.as_str())
        {
            continue;
        }
        assert!(
            !code(&text).any(|l| l.contains("ToSchema") || l.contains("utoipa")),
            "{r} derives an OpenAPI schema: put it on a view type in api/"
        );
    }
}

/// Everything halbertd says on D-Bus goes through host/bus.rs (the connection), systemd/
/// (PID 1) and gate/authz.rs (polkit).
#[test]
fn only_the_bus_modules_speak_dbus() {
    for (p, text) in sources(&repo().join("halbertd/src")) {
        let r = rel(&p);
        if r == "halbertd/src/host/bus.rs"
            || r.starts_with("halbertd/src/systemd/")
            || r == "halbertd/src/gate/authz.rs"
        {
            continue;
        }
        let body = text.split("#[cfg(test)]").next().unwrap_or("");
        assert!(
            !code(body).any(|l| l.contains("zbus") || l.contains("call_method")),
            "{r} talks D-Bus itself: ask systemd/ or the gate"
        );
    }
}

/// Every change halbert-web asks of halbertd goes through `actions::perform`, where the safety
/// gate's approval and policy checks hook in: no other module calls the daemon client's
/// mutating methods.
#[test]
fn only_actions_ask_halbertd_for_changes() {
    let mutating = [
        ".enter_safe_mode(",
        ".exit_safe_mode(",
        ".write_file(",
        ".restore_file(",
    ];
    let mut callers = Vec::new();
    for (p, text) in sources(&repo().join("halbert-web/src")) {
        let r = rel(&p);
        if r == "halbert-web/src/daemon.rs" {
            continue;
        }
        for l in code(&text) {
            if mutating.iter().any(|m| l.contains(m)) {
                assert!(
                    r.starts_with("halbert-web/src/actions/"),
                    "{r} asks halbertd for a change itself: go through actions::perform"
                );
                callers.push(r.clone());
            }
        }
    }
    assert!(
        !callers.is_empty(),
        "the check found no caller at all: it looks at the wrong names"
    );
}

/// Whether a line runs a shell: one is the program of an argv (`["sh", …`) or is given `-c`;
/// naming one elsewhere (a file's language) is not running it.
fn runs_a_shell(l: &str) -> bool {
    let shells = ["\"sh\"", "\"/bin/sh\"", "\"bash\"", "\"/bin/bash\""];
    shells
        .iter()
        .any(|sh| l.contains(&format!("[{sh}")) || (l.contains(sh) && l.contains("\"-c\"")))
}

#[test]
fn the_shell_rule_sees_a_shell_run_and_nothing_else() {
    let runs = runs_a_shell;
    assert!(runs(r#"run(&["sh", "-c", cmd])"#));
    assert!(runs(r#"let argv = ["/bin/bash", script];"#));
    assert!(runs(r#"args(["-c", line]).program("sh")"#));
    assert!(!runs(r#""sh" | "bash" => "shell","#));
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
                // What a person types at the terminal is shell, and runs as that person: the
                // one shell there is, in one file. The command analyzer names shells (to
                // follow `sh -c`) and never runs anything: the spawn rule above holds for it.
                if r != "halbertd/src/exec/terminal.rs"
                    && r != "halbert-web/src/simulate/command.rs"
                {
                    assert!(
                        !runs_a_shell(l),
                        "{r} runs a shell: commands are argv vectors"
                    );
                }
            }
        }
    }
}

#[test]
fn only_known_modules_write_files() {
    // statefile and audit write inside halbertd's state dir; main binds the development
    // socket; halbert-web's config (its `write_private`, which the model settings and the
    // policy use), store and main write inside the user's state dir.
    let allowed = [
        "halbertd/src/host/statefile.rs",
        "halbertd/src/gate/audit.rs",
        "halbertd/src/main.rs",
        "halbert-web/src/config.rs",
        "halbert-web/src/main.rs",
        "halbert-web/src/store/mod.rs",
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

/// utoipa names a schema after its type (or its `#[schema(as = …)]`), and two types of one
/// name silently become one schema in `/openapi.json`, so a route is described with another's
/// shape (the health gate's verdict once replaced `GET /api/health`'s). Every schema name is
/// used once.
#[test]
fn every_openapi_schema_name_is_used_once() {
    let mut seen: std::collections::BTreeMap<String, String> = Default::default();
    let mut count = 0;
    for (p, text) in sources(&repo().join("halbert-web/src")) {
        let r = rel(&p);
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !(l.contains("derive(") && l.contains("ToSchema")) {
                continue;
            }
            // The item the derive belongs to, and an `as` rename among its attributes.
            let mut renamed = None;
            let mut name = None;
            for next in lines.iter().skip(i + 1).take(8) {
                let t = next.trim();
                if let Some(rest) = t.strip_prefix("#[schema(as = ") {
                    renamed = rest.split(')').next().map(|n| n.trim().to_owned());
                }
                if let Some(rest) = t
                    .strip_prefix("pub struct ")
                    .or_else(|| t.strip_prefix("pub enum "))
                    .or_else(|| t.strip_prefix("struct "))
                    .or_else(|| t.strip_prefix("enum "))
                {
                    name = rest
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                        .map(str::to_owned);
                    break;
                }
            }
            let Some(name) = renamed.or(name) else {
                continue;
            };
            count += 1;
            let at = format!("{r}:{}", i + 1);
            if let Some(first) = seen.insert(name.clone(), at.clone()) {
                panic!(
                    "two schemas are named {name}: {first} and {at}; rename one with #[schema(as = …)]"
                );
            }
        }
    }
    assert!(
        count > 50,
        "only {count} schema types found: the check looks at the wrong lines"
    );
}
