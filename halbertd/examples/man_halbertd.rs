//! Writes halbertd(8), its subcommands' pages and its shell completions into the directory given
//! as the only argument, from the clap definition `halbertd --help` prints (`make man`, `make release`).

#[path = "../../packaging/manpages.rs"]
mod manpages;

fn main() -> std::io::Result<()> {
    manpages::write(halbertd::cli::command(), "8")
}
