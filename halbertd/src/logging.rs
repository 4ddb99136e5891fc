//! Logging: tracing into journald when it is there (structured fields become `HALBERT_*`
//! journal fields), else human-readable lines on stderr.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Sets the global subscriber; `HALBERT_LOG` overrides the filter (default `info`).
/// Returns where logs go, for the start-up message.
pub fn init(identifier: &str) -> &'static str {
    let filter =
        || EnvFilter::try_from_env("HALBERT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Under systemd, JOURNAL_STREAM says stderr already goes to the journal; the native
    // protocol keeps the fields, so prefer it whenever journald's socket answers.
    let journald = tracing_journald::layer().map(|l| {
        l.with_syslog_identifier(identifier.to_owned())
            .with_field_prefix(Some("HALBERT".into()))
    });
    match journald {
        Ok(layer) => {
            tracing_subscriber::registry()
                .with(layer.with_filter(filter()))
                .init();
            "journald"
        }
        Err(_) => {
            tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stderr)
                        .with_filter(filter()),
                )
                .init();
            "stderr"
        }
    }
}
