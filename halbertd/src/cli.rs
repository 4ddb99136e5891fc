//! halbertd's command line, defined once with clap: `main` parses it, and the man page
//! halbertd(8) and the shell completions are generated from the same definition
//! (`examples/man_halbertd.rs`), so the three never disagree.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Halbert's privileged daemon: discovery, status, config files, services, commands and the
/// audit log, served over gRPC on a Unix socket.
#[derive(Debug, Parser)]
#[command(
    name = "halbertd",
    version,
    // `halbertd --socket S serve` would leave it unclear whose --socket counts.
    args_conflicts_with_subcommands = true,
    // --help says it all; a `help` subcommand would only be one more page without content.
    disable_help_subcommand = true,
    about = "Halbert's privileged system daemon",
    long_about = "Halbert's privileged system daemon. halbertd owns everything that needs root: \
discovery, journald and hwmon reading, config-file writes with backups and rollback, systemd \
service control, command execution, dry runs, safe mode and the audit log. It speaks gRPC on a \
Unix socket only (no network, no model); every call is identified from the kernel, every change \
is asked of polkit and audited.\n\nUnder systemd it is started by socket activation \
(systemctl enable --now halbertd.socket); members of group halbert may connect.",
    after_help = "Files: /etc/halbert/halbertd.yaml (halbertd.yaml(5)), /etc/halbert/policy.yml \
(halbert-policy(5)), /var/lib/halbert (state: audit log, backups, safe mode)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default). Under systemd the listener comes from socket activation
    /// (halbertd.socket); without it, --socket PATH binds a socket for development.
    Serve(ServeArgs),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log's hash chain, and that the newest head recorded in the journal is in
    /// it; exit status 1 names the first broken record.
    Verify(StateArgs),
}

#[derive(Debug, Clone, Default, Args)]
pub struct StateArgs {
    /// The state directory [default: $STATE_DIRECTORY, else /var/lib/halbert]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Bind this socket when not started by socket activation (development)
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Directory standing for / when reading /proc and /sys [default: /]
    #[arg(long, value_name = "DIR")]
    pub host_root: Option<PathBuf>,
    /// halbertd's config file; a missing file means the defaults
    /// [default: /etc/halbert/halbertd.yaml]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub state: StateArgs,
}

/// The definition, for the man page and the completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn serve_is_the_default_and_takes_its_options_either_way() {
        let c = Cli::try_parse_from(["halbertd", "--socket", "/tmp/s"]).expect("parse");
        assert!(c.command.is_none());
        assert_eq!(
            c.serve.socket.as_deref(),
            Some(std::path::Path::new("/tmp/s"))
        );
        let c = Cli::try_parse_from(["halbertd", "serve", "--state-dir", "/x"]).expect("parse");
        match c.command {
            Some(Command::Serve(s)) => {
                assert_eq!(
                    s.state.state_dir.as_deref(),
                    Some(std::path::Path::new("/x"))
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn audit_verify_takes_the_state_dir_and_unknown_flags_are_usage_errors() {
        let c = Cli::try_parse_from(["halbertd", "audit", "verify", "--state-dir", "/s"])
            .expect("parse");
        match c.command {
            Some(Command::Audit(AuditCommand::Verify(s))) => {
                assert_eq!(s.state_dir.as_deref(), Some(std::path::Path::new("/s")))
            }
            other => panic!("{other:?}"),
        }
        let e = Cli::try_parse_from(["halbertd", "--bogus"]).expect_err("unknown flag");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
