//! `read_journal`: a unit's newest journal lines (polkit decides whether the user may read
//! them).

use serde_json::{Value, json};

use super::{Ran, daemon_error, iso, only, required, text_arg};
use crate::daemon::Daemon;

/// The most lines one call may ask for.
pub const MAX_LINES: u64 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadJournal {
    pub unit: String,
    pub lines: u32,
    pub filter: String,
}

impl ReadJournal {
    pub const NAME: &'static str = "read_journal";

    pub fn definition() -> Value {
        super::function(
            Self::NAME,
            "The newest journal lines of a systemd unit, optionally only lines containing a text.",
            json!({
                "unit": {"type": "string", "description": "Unit name, e.g. nginx or cron.service"},
                "lines": {"type": "integer", "minimum": 1, "maximum": MAX_LINES, "description": "How many lines (default 20)"},
                "filter": {"type": "string", "description": "Only lines containing this text (case-insensitive)"}
            }),
            &["unit"],
        )
    }

    pub fn parse(args: &Value) -> Result<Self, String> {
        only(args, &["unit", "lines", "filter"])?;
        // Integers may come as numbers or as digit strings; nothing else is accepted.
        let lines = match &args["lines"] {
            Value::Null => 20,
            Value::Number(n) => n.as_u64().ok_or("lines must be a whole number")?,
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| "lines must be a whole number")?,
            _ => return Err("lines must be a whole number".into()),
        };
        if !(1..=MAX_LINES).contains(&lines) {
            return Err(format!("lines must be between 1 and {MAX_LINES}"));
        }
        Ok(Self {
            unit: required(args, "unit", 250)?,
            lines: lines as u32,
            filter: text_arg(args, "filter", 100)?.unwrap_or_default(),
        })
    }

    pub async fn run(&self, daemon: &Daemon) -> Ran {
        daemon
            .journal_tail(&self.unit, self.lines, &self.filter)
            .await
            .map(|j| {
                const PRIO: [&str; 8] = [
                    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
                ];
                json!({
                    "unit": j.unit,
                    "lines": j.lines.iter().map(|l| json!({
                        "time": iso(l.timestamp_unix_us / 1_000_000),
                        "priority": PRIO.get(l.priority as usize).copied().unwrap_or("info"),
                        "source": l.identifier,
                        "message": l.message,
                    })).collect::<Vec<_>>(),
                })
            })
            .map_err(|e| daemon_error(&e))
            .into()
    }
}
