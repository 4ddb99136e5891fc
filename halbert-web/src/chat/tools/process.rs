//! `check_process`: whether processes with a command name are running.

use serde_json::{Value, json};

use super::{Ran, daemon_error, only, required};
use crate::daemon::Daemon;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckProcess {
    pub process_name: String,
}

impl CheckProcess {
    pub const NAME: &'static str = "check_process";

    pub fn definition() -> Value {
        super::function(
            Self::NAME,
            "Whether processes with a command name are running: pid, user id, memory, command line.",
            json!({"process_name": {"type": "string"}}),
            &["process_name"],
        )
    }

    pub fn parse(args: &Value) -> Result<Self, String> {
        only(args, &["process_name"])?;
        Ok(Self {
            process_name: required(args, "process_name", 100)?,
        })
    }

    pub async fn run(&self, daemon: &Daemon) -> Ran {
        daemon
            .processes(&self.process_name)
            .await
            .map(|l| {
                json!({
                    "running": l.total > 0, "count": l.total,
                    "processes": l.processes.iter().map(|p| json!({
                        "pid": p.pid, "uid": p.uid, "command": p.comm, "cmdline": p.cmdline,
                        "rss_mb": p.rss_bytes / (1 << 20), "state": p.state,
                    })).collect::<Vec<_>>(),
                })
            })
            .map_err(|e| daemon_error(&e))
            .into()
    }
}
