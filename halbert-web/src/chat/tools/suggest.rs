//! `suggest_action`: the model offers the user a button for a service action. Nothing is run:
//! the suggestion becomes one of the answer's `suggested_actions`, which goes through approval
//! like any other action.

use serde_json::{Value, json};

use super::{Ran, daemon_error, only, required, text_arg};
use crate::daemon::Daemon;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestAction {
    pub action: SuggestedKind,
    pub service_name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuggestedKind {
    Restart,
    Start,
    Stop,
}

impl SuggestedKind {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "restart_service" => Some(Self::Restart),
            "start_service" => Some(Self::Start),
            "stop_service" => Some(Self::Stop),
            _ => None,
        }
    }
    fn id(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Start => "start",
            Self::Stop => "stop",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Self::Restart => "Restart Service",
            Self::Start => "Start Service",
            Self::Stop => "Stop Service",
        }
    }
}

impl SuggestAction {
    pub const NAME: &'static str = "suggest_action";

    pub fn definition() -> Value {
        super::function(
            Self::NAME,
            "Offer the user a button for a service action; it is NOT run, the user decides.",
            json!({
                "action": {"type": "string", "enum": ["restart_service", "start_service", "stop_service"]},
                "service_name": {"type": "string"},
                "reason": {"type": "string"}
            }),
            &["action", "service_name"],
        )
    }

    pub fn parse(args: &Value) -> Result<Self, String> {
        only(args, &["action", "service_name", "reason"])?;
        let a = required(args, "action", 40)?;
        Ok(Self {
            action: SuggestedKind::parse(&a).ok_or_else(|| {
                format!("action must be restart_service, start_service or stop_service, not {a:?}")
            })?,
            service_name: required(args, "service_name", 250)?,
            reason: text_arg(args, "reason", 300)?.unwrap_or_default(),
        })
    }

    pub async fn run(&self, daemon: &Daemon) -> Ran {
        // The service must exist; the suggestion names it the way the dashboard does.
        match daemon.service_status(&self.service_name).await {
            Ok(s) => {
                let target = if s.discovery_id.is_empty() {
                    s.unit.clone()
                } else {
                    s.discovery_id.clone()
                };
                Ran {
                    result: Ok(
                        json!({"suggested": true, "note": "shown to the user as a button; nothing was run"}),
                    ),
                    suggestion: Some(json!({
                        "id": self.action.id(), "label": self.action.label(), "target": target,
                        "unit": s.unit, "reason": self.reason, "source": "model",
                    })),
                }
            }
            Err(e) => Err(daemon_error(&e)).into(),
        }
    }
}
