//! Logging: tracing into journald when halbertd runs under systemd (structured fields become
//! `HALBERT_*` journal fields), else human-readable lines on stderr.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Sets the global subscriber; `HALBERT_LOG` overrides the filter (default `info`).
/// Returns where logs go, for the start-up message.
pub fn init(identifier: &str) -> &'static str {
    let filter =
        || EnvFilter::try_from_env("HALBERT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Started by systemd (JOURNAL_STREAM or INVOCATION_ID set), log natively to journald so the
    // fields are kept; started by hand (make dev), log to the terminal that started it. If the
    // journal socket does not answer, stderr it is.
    let under_systemd =
        std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some();
    let journald = under_systemd
        .then(|| tracing_journald::layer().ok())
        .flatten()
        .map(|l| {
            l.with_syslog_identifier(identifier.to_owned())
                .with_field_prefix(Some("HALBERT".into()))
        });
    match journald {
        Some(layer) => {
            tracing_subscriber::registry()
                .with(layer.with_filter(filter()))
                .init();
            "journald"
        }
        None => {
            tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stderr)
                        // Colours only for a terminal, not for a log file or a pipe.
                        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                        .with_filter(filter()),
                )
                .init();
            "stderr"
        }
    }
}
