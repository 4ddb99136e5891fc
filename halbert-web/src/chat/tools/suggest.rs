//! `suggest_action`: the model proposes a service action. Nothing is run: the suggestion
//! carries the typed [`Action`] built from the validated fields (never text the model wrote
//! into a command), and the turn turns it into an approval request with its dry run
//! (`actions::gate::propose`), which a person approves or rejects.

use serde_json::{Value, json};

use super::{Ran, daemon_error, only, required, text_arg};
use crate::actions::Action;
use crate::daemon::Daemon;

#[derive(Debug, Clone, PartialEq)]
pub struct SuggestAction {
    pub action: SuggestedKind,
    pub service_name: String,
    pub reason: String,
    /// How sure the model says it is, 0–1 (0.5 when it does not say).
    pub confidence: f64,
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
            "Propose a service action to the user; it is NOT run: it waits for the user's approval.",
            json!({
                "action": {"type": "string", "enum": ["restart_service", "start_service", "stop_service"]},
                "service_name": {"type": "string"},
                "reason": {"type": "string"},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1, "description": "how sure you are that this is the right action, 0 to 1"}
            }),
            &["action", "service_name"],
        )
    }

    pub fn parse(args: &Value) -> Result<Self, String> {
        only(args, &["action", "service_name", "reason", "confidence"])?;
        let a = required(args, "action", 40)?;
        let confidence = match args.get("confidence") {
            None | Some(Value::Null) => 0.5,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(c) if (0.0..=1.0).contains(&c) => c,
                _ => return Err("confidence must be a number from 0 to 1".into()),
            },
            Some(_) => return Err("confidence must be a number from 0 to 1".into()),
        };
        Ok(Self {
            action: SuggestedKind::parse(&a).ok_or_else(|| {
                format!("action must be restart_service, start_service or stop_service, not {a:?}")
            })?,
            service_name: required(args, "service_name", 250)?,
            reason: text_arg(args, "reason", 300)?.unwrap_or_default(),
            confidence,
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
                        json!({"suggested": true, "note": "held for the user's approval; nothing was run"}),
                    ),
                    suggestion: Some(json!({
                        "id": self.action.id(), "label": self.action.label(), "target": target,
                        "unit": s.unit, "reason": self.reason, "source": "model",
                        "confidence": self.confidence,
                        "action": Action::unit_job(self.action.id(), &s.unit),
                    })),
                }
            }
            Err(e) => Err(daemon_error(&e)).into(),
        }
    }
}
