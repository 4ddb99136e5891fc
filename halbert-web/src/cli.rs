//! halbert-web's command line, defined once with clap: `main` parses it, and the man page
//! halbert-web(1) and the shell completions are generated from the same definition
//! (`examples/man_halbert_web.rs`), so the three never disagree.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::sandbox::Mode;

/// Halbert's dashboard and API for one user.
#[derive(Debug, Parser)]
#[command(
    name = "halbert-web",
    version,
    about = "Halbert's dashboard and API for this user",
    long_about = "Halbert's dashboard and API for this user. halbert-web serves the REST and \
WebSocket API, its documentation (/docs) and the browser dashboard; runs chat against Ollama or \
OpenAI-compatible model servers, memory, conversations, approvals and the user's policy; and asks \
halbertd, over its Unix socket, for everything that needs privileges. It runs as the user, \
sandboxed with Landlock, and keeps its state in $XDG_DATA_HOME/halbert (~/.local/share/halbert).\n\nThe user must be in \
group halbert to reach halbertd (an administrator runs: usermod -aG halbert NAME).",
    after_help = "Usually run as the user service: systemctl --user enable --now halbert-web. \
Files: $XDG_CONFIG_HOME/halbert/guardrails.yml (read only), $XDG_DATA_HOME/halbert \
(conversations, memory, approvals, the token, and policy.yml: halbert-policy(5))."
)]
pub struct Cli {
    /// Address to listen on. Anything but loopback needs a bearer token: pass --new-token once
    /// to create one (kept in the state dir, mode 0600)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on [default: 8000 + (uid - 1000) for uids 1000 to 1999, so that each
    /// user's halbert-web has its own (alice, uid 1000: 8000; bob, 1001: 8001); 8000 for others]
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// halbertd's socket
    #[arg(
        long,
        value_name = "PATH",
        env = "HALBERT_SOCKET",
        default_value = "/run/halbert/halbertd.sock"
    )]
    pub socket: PathBuf,
    /// Landlock: strict (refuse to run without it), best-effort or off
    #[arg(long, value_name = "MODE", default_value = "best-effort", value_parser = parse_mode)]
    pub sandbox: Mode,
    /// Another name this server may be reached by (the Host header), e.g. the machine's
    /// hostname; repeatable
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// Create a new bearer token (replacing the old one) and use it
    #[arg(long)]
    pub new_token: bool,
    /// How often system_status is pushed on /ws, in milliseconds
    #[arg(long, value_name = "N", default_value_t = 5000,
          value_parser = clap::value_parser!(u32).range(1000..=3_600_000))]
    pub status_interval_ms: u32,
    /// How long the health gate watches a unit after a config change before it keeps the
    /// change, in seconds
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub settle_s: u64,
    /// How long an approval request waits before it expires, in seconds
    #[arg(long, value_name = "N", default_value_t = crate::approvals::DEFAULT_LIFETIME_S,
          value_parser = clap::value_parser!(i64).range(1..=604_800))]
    pub approval_lifetime_s: i64,
    /// Where the manual pages indexed into memory (sections 1, 5 and 8) are
    #[arg(long, value_name = "DIR", default_value = "/usr/share/man")]
    pub man_root: PathBuf,
}

/// The port a user's halbert-web listens on unless told: one per user, so that every user on a
/// machine can run one at once, and the same one every time.
pub fn default_port(uid: u32) -> u16 {
    match uid {
        1000..=1999 => 8000 + (uid - 1000) as u16,
        _ => 8000,
    }
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

/// The definition, for the man page and the completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn defaults_and_both_value_spellings() {
        let c = Cli::try_parse_from(["halbert-web"]).expect("parse");
        assert_eq!(c.port, None);
        assert!(c.host.is_loopback());
        assert_eq!(c.sandbox, Mode::BestEffort);
        let c = Cli::try_parse_from([
            "halbert-web",
            "--port=8123",
            "--sandbox",
            "strict",
            "--allowed-host",
            "a",
            "--allowed-host=b",
        ])
        .expect("parse");
        assert_eq!(c.port, Some(8123));
        assert_eq!(c.sandbox, Mode::Strict);
        assert_eq!(c.allowed_hosts, ["a", "b"]);
    }

    #[test]
    fn each_user_has_a_port_of_their_own() {
        assert_eq!(default_port(1000), 8000);
        assert_eq!(default_port(1001), 8001);
        assert_eq!(default_port(1999), 8999);
        assert_eq!(default_port(0), 8000);
        assert_eq!(default_port(65534), 8000);
        let ports: std::collections::BTreeSet<u16> = (1000..2000).map(default_port).collect();
        assert_eq!(ports.len(), 1000, "no two of these users share one");
    }

    #[test]
    fn mistakes_are_usage_errors_with_status_2() {
        for argv in [
            &["halbert-web", "--bogus"][..],
            &["halbert-web", "--port", "70000"],
            &["halbert-web", "--settle-s", "0"],
            &["halbert-web", "--sandbox", "maybe"],
            &["halbert-web", "--host", "localhost"],
            &["halbert-web", "--status-interval-ms", "10"],
        ] {
            let e = Cli::try_parse_from(argv).expect_err("a mistake");
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
    }
}
