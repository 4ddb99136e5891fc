//! `get_system_load`: CPU, load average, memory and swap, uptime and temperatures.

use serde_json::{Value, json};

use super::{Ran, daemon_error, gb, only};
use crate::daemon::Daemon;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetSystemLoad;

impl GetSystemLoad {
    pub const NAME: &'static str = "get_system_load";

    pub fn definition() -> Value {
        super::function(
            Self::NAME,
            "CPU use and load average, memory and swap, uptime and temperatures.",
            json!({}),
            &[],
        )
    }

    pub fn parse(args: &Value) -> Result<Self, String> {
        only(args, &[])?;
        Ok(Self)
    }

    pub async fn run(&self, daemon: &Daemon) -> Ran {
        daemon
            .status()
            .await
            .map(|s| {
                let m = s.memory.unwrap_or_default();
                let l = s.load.unwrap_or_default();
                json!({
                    "cpu_percent": s.cpu.map_or(0.0, |c| c.percent),
                    "cores": s.cpu.map_or(0, |c| c.cores),
                    "load_average": {"1m": l.one, "5m": l.five, "15m": l.fifteen},
                    "memory": {"total_gb": gb(m.total_bytes), "used_gb": gb(m.used_bytes), "available_gb": gb(m.available_bytes)},
                    "swap": {"total_gb": gb(m.swap_total_bytes), "used_gb": gb(m.swap_total_bytes.saturating_sub(m.swap_free_bytes))},
                    "uptime_hours": s.uptime_seconds / 3600,
                    "temperatures_c": s.temperatures.iter().map(|t| json!({"sensor": format!("{} {}", t.chip, t.label).trim().to_owned(), "celsius": t.celsius})).collect::<Vec<_>>(),
                })
            })
            .map_err(|e| daemon_error(&e))
            .into()
    }
}
