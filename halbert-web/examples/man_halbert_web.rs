//! Writes halbert-web(1) and its shell completions into the directory given as the only
//! argument, from the clap definition `halbert-web --help` prints (`make man`, `make release`).

#[path = "../../packaging/manpages.rs"]
mod manpages;

fn main() -> std::io::Result<()> {
    manpages::write(halbert_web::cli::command(), "1")
}
