//! The man pages and shell completions of one command line, written from its clap definition;
//! shared by the examples `man_halbertd` and `man_halbert_web` (each includes this file), so
//! that both are generated the same way. `make man` runs them for the packages.

use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Writes `cmd`'s man pages (its own and one per subcommand, in `section`) into `OUT/pages/`
/// and its bash, zsh and fish completions into `OUT/completions/<shell>/`, under the names
/// each shell looks for. `OUT` is the program's only argument.
pub fn write(mut cmd: clap::Command, section: &str) -> std::io::Result<()> {
    let out = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .ok_or_else(|| std::io::Error::other("usage: manpages OUT_DIR"))?,
    );
    let name = cmd.get_name().to_owned();
    for (shell, dir, file) in [
        (Shell::Bash, "bash", name.clone()),
        (Shell::Zsh, "zsh", format!("_{name}")),
        (Shell::Fish, "fish", format!("{name}.fish")),
    ] {
        let dir = out.join("completions").join(dir);
        std::fs::create_dir_all(&dir)?;
        let mut f = std::fs::File::create(dir.join(file))?;
        clap_complete::generate(shell, &mut cmd.clone(), &name, &mut f);
    }
    let pages_dir = out.join("pages");
    std::fs::create_dir_all(&pages_dir)?;
    // Building names each subcommand "cmd-sub", the name its page goes by.
    cmd.build();
    pages(&cmd, section, &pages_dir)
}

fn pages(cmd: &clap::Command, section: &str, out: &Path) -> std::io::Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.clone())
        .section(section)
        .manual("Halbert")
        .source(format!("halbert {}", env!("CARGO_PKG_VERSION")))
        .render(&mut page)?;
    std::fs::write(out.join(format!("{name}.{section}")), page)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        pages(sub, section, out)?;
    }
    Ok(())
}
