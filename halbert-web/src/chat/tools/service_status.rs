//! `get_service_status`: one systemd service's live state.

use serde_json::{Value, json};

use super::{Ran, daemon_error, iso, only, required};
use crate::daemon::Daemon;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetServiceStatus {
    pub service_name: String,
}

impl GetServiceStatus {
    pub const NAME: &'static str = "get_service_status";

    pub fn definition() -> Value {
        super::function(
            Self::NAME,
            "Live state of one systemd service: active/sub state, enabled, last result, main PID, restarts, memory.",
            json!({"service_name": {"type": "string", "description": "Unit name, e.g. nginx or nginx.service"}}),
            &["service_name"],
        )
    }

    pub fn parse(args: &Value) -> Result<Self, String> {
        only(args, &["service_name"])?;
        Ok(Self {
            service_name: required(args, "service_name", 250)?,
        })
    }

    pub async fn run(&self, daemon: &Daemon) -> Ran {
        daemon
            .service_status(&self.service_name)
            .await
            .map(|s| {
                json!({
                    "unit": s.unit, "description": s.description, "load_state": s.load_state,
                    "active_state": s.active_state, "sub_state": s.sub_state,
                    "enabled": s.unit_file_state, "result": s.result,
                    "main_pid": s.main_pid, "restarts": s.restarts,
                    "active_since": if s.active_enter_unix > 0 { iso(s.active_enter_unix) } else { String::new() },
                    "memory_mb": if s.memory_bytes > 0 { Some(s.memory_bytes / (1 << 20)) } else { None },
                    "unit_file": s.fragment_path,
                })
            })
            .map_err(|e| daemon_error(&e))
            .into()
    }
}
