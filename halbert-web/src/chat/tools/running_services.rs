//! `list_running_services`: the systemd services running now.

use serde_json::{Value, json};

use super::{Ran, daemon_error, only, text_arg};
use crate::daemon::Daemon;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRunningServices {
    pub filter: String,
}

impl ListRunningServices {
    pub const NAME: &'static str = "list_running_services";

    pub fn definition() -> Value {
        super::function(
            Self::NAME,
            "The systemd services running now, optionally only those whose name contains a text.",
            json!({"filter": {"type": "string"}}),
            &[],
        )
    }

    pub fn parse(args: &Value) -> Result<Self, String> {
        only(args, &["filter"])?;
        Ok(Self {
            filter: text_arg(args, "filter", 100)?.unwrap_or_default(),
        })
    }

    pub async fn run(&self, daemon: &Daemon) -> Ran {
        daemon
            .running_services(&self.filter)
            .await
            .map(|l| {
                json!({
                    "running": l.total,
                    "listed": l.services.iter().map(|s| json!({"unit": s.unit, "description": s.description})).collect::<Vec<_>>(),
                })
            })
            .map_err(|e| daemon_error(&e))
            .into()
    }
}
