//! What each process may link. halbert-web must never link halbertd (root's code) or zbus
//! (the system bus): it reaches the system only through halbertd's gRPC API. halbertd must
//! not depend on halbert-web in any way, not even for its tests: the end-to-end tests that
//! need both live in this crate.

use std::process::Command;

/// The package names in `cargo tree -p package -e edges`.
fn tree(package: &str, edges: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            edges,
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(
        names.iter().any(|n| n == "halbert-proto"),
        "the tree of {package} looks wrong: {names:?}"
    );
    names
}

#[test]
fn halbert_web_links_neither_halbertd_nor_zbus() {
    let names = tree("halbert-web", "normal,build");
    for forbidden in ["halbertd", "zbus", "zbus_macros"] {
        assert!(
            !names.iter().any(|n| n == forbidden),
            "halbert-web depends on {forbidden}: {names:?}"
        );
    }
}

#[test]
fn halbertd_does_not_depend_on_halbert_web_even_for_tests() {
    let names = tree("halbertd", "normal,build,dev");
    assert!(
        names.iter().any(|n| n == "zbus"),
        "the tree looks wrong: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n == "halbert-web"),
        "halbertd depends on halbert-web: {names:?}"
    );
}
