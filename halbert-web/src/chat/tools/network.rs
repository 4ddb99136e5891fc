//! `get_network_info`: interfaces with their state and addresses, from discovery (so at most
//! one scan old).

use serde_json::{Value, json};

use super::{Ran, daemon_error, iso, only, text_arg};
use crate::daemon::Daemon;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetNetworkInfo {
    pub interface: Option<String>,
}

impl GetNetworkInfo {
    pub const NAME: &'static str = "get_network_info";

    pub fn definition() -> Value {
        super::function(
            Self::NAME,
            "Network interfaces with their state and addresses, or one interface.",
            json!({"interface": {"type": "string", "description": "e.g. eth0"}}),
            &[],
        )
    }

    pub fn parse(args: &Value) -> Result<Self, String> {
        only(args, &["interface"])?;
        let interface = text_arg(args, "interface", 15)?;
        if let Some(i) = &interface
            && !i
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:@-".contains(c))
        {
            return Err("interface must be an interface name such as eth0".into());
        }
        Ok(Self { interface })
    }

    pub async fn run(&self, daemon: &Daemon) -> Ran {
        let interface = &self.interface;
        daemon
            .discovery_list("network")
            .await
            .map_err(|e| daemon_error(&e))
            .and_then(|l| {
                let items: Vec<Value> = l
                    .items
                    .iter()
                    .filter(|i| i.id.starts_with("iface-"))
                    .filter(|i| interface.as_ref().is_none_or(|n| &i.name == n))
                    .map(|i| {
                        json!({
                            "name": i.name, "status": i.status, "detail": i.status_detail,
                            "data": serde_json::from_str::<Value>(&i.data_json).unwrap_or(Value::Null),
                        })
                    })
                    .collect();
                match interface {
                    Some(n) if items.is_empty() => Err(format!("no interface called {n}")),
                    _ => Ok(json!({"interfaces": items, "scanned_at": iso(l.last_scan_unix_ms / 1000)})),
                }
            })
            .into()
    }
}
