//! A unit's recent journal lines, read with `journalctl --output=json` (an argv, never a shell
//! line) and parsed here. The filter is applied in Rust to plain substrings, so nothing the
//! model wrote is ever interpreted as a pattern or an option.

use std::time::Duration;

use serde_json::Value;

use super::InspectError;
use crate::exec::{ToolError, Tools};

pub const MAX_LINES: u32 = 1000;
/// Lines read when filtering: the filter then picks the newest matches among them.
const FILTER_WINDOW: u32 = 2000;
const MAX_MESSAGE: usize = 500;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub timestamp_unix_us: i64,
    pub priority: u32,
    pub identifier: String,
    pub pid: u32,
    pub message: String,
}

/// The newest `lines` entries of `unit` (validated by [`super::unit_name`]) whose message
/// contains `filter` (lower-case; empty for all), oldest first.
pub async fn tail(
    tools: &dyn Tools,
    unit: &str,
    lines: u32,
    filter: &str,
) -> Result<Vec<JournalLine>, InspectError> {
    if !(1..=MAX_LINES).contains(&lines) {
        return Err(InspectError::Invalid(format!(
            "lines must be between 1 and {MAX_LINES}"
        )));
    }
    let window = if filter.is_empty() {
        lines
    } else {
        FILTER_WINDOW
    };
    let n = format!("--lines={window}");
    let u = format!("--unit={unit}");
    let argv = [
        "journalctl",
        "--no-pager",
        "--quiet",
        "--output=json",
        n.as_str(),
        u.as_str(),
    ];
    let out = tools.run(&argv, TIMEOUT).await.map_err(|e| match e {
        ToolError::Missing(_) => {
            InspectError::Unavailable("journalctl is not installed on this machine".into())
        }
        other => InspectError::Unavailable(format!("reading the journal failed: {other}")),
    })?;
    if out.code != Some(0) {
        return Err(InspectError::Unavailable(format!(
            "journalctl exited with {}",
            out.code
                .map_or_else(|| "a signal".to_owned(), |c| format!("code {c}"))
        )));
    }
    let mut all: Vec<JournalLine> = out
        .stdout
        .lines()
        .filter_map(parse_line)
        .filter(|l| filter.is_empty() || l.message.to_lowercase().contains(filter))
        .collect();
    let skip = all.len().saturating_sub(lines as usize);
    all.drain(..skip);
    Ok(all)
}

fn num(v: &Value) -> Option<u64> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
}

/// One JSON entry; `MESSAGE` may be a string, an array of bytes (non-UTF-8 text) or null.
pub fn parse_line(line: &str) -> Option<JournalLine> {
    let v: Value = serde_json::from_str(line).ok()?;
    let mut message = crate::telemetry::journal::text_of(&v["MESSAGE"]);
    crate::telemetry::journal::cut(&mut message, MAX_MESSAGE);
    Some(JournalLine {
        timestamp_unix_us: num(&v["__REALTIME_TIMESTAMP"]).unwrap_or(0) as i64,
        priority: num(&v["PRIORITY"]).unwrap_or(6) as u32,
        identifier: v["SYSLOG_IDENTIFIER"]
            .as_str()
            .or(v["_COMM"].as_str())
            .unwrap_or("")
            .to_owned(),
        pid: num(&v["_PID"]).unwrap_or(0) as u32,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_in_journald_json() {
        let l = parse_line(r#"{"__REALTIME_TIMESTAMP":"1764350000123456","PRIORITY":"3","SYSLOG_IDENTIFIER":"nginx","_PID":"812","MESSAGE":"bind() to 0.0.0.0:80 failed (98: Address already in use)"}"#).expect("test value");
        assert_eq!(l.timestamp_unix_us, 1_764_350_000_123_456);
        assert_eq!(l.priority, 3);
        assert_eq!(l.identifier, "nginx");
        assert_eq!(l.pid, 812);
        assert!(l.message.starts_with("bind()"));
        let bin = parse_line(r#"{"MESSAGE":[104,105,255],"_COMM":"x"}"#).expect("test value");
        assert_eq!(bin.message, "hi\u{fffd}");
        assert_eq!(bin.identifier, "x");
        let long =
            parse_line(&format!(r#"{{"MESSAGE":"{}"}}"#, "a".repeat(900))).expect("test value");
        assert_eq!(long.message.chars().count(), MAX_MESSAGE + 1);
        assert!(parse_line("not json").is_none());
    }
}
