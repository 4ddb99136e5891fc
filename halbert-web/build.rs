//! Rebuilds halbert-web when the dashboard's build output changes: the page is embedded from
//! `ui/dist` (rust-embed), and a new build there must reach the binary.

fn main() {
    println!("cargo:rerun-if-changed=ui/dist");
}
