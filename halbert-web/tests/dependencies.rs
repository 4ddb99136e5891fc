//! halbert-web must never link halbertd (root's code) or zbus (the system bus): it reaches
//! the system only through halbertd's gRPC API.

use std::process::Command;

#[test]
fn halbert_web_links_neither_halbertd_nor_zbus() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "halbert-web",
            "-e",
            "normal,build",
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
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"halbert-proto"),
        "the tree looks wrong: {tree}"
    );
    for forbidden in ["halbertd", "zbus", "zbus_macros"] {
        assert!(
            !names.contains(&forbidden),
            "halbert-web depends on {forbidden}:\n{tree}"
        );
    }
}
