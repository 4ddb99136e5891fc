//! The assistant's tools: read-only questions a model may ask about this machine while it
//! answers, each with typed, validated arguments and answered by halbertd. Nothing a model asks
//! for here changes the system: `suggest_action` only records a suggestion that the user sees
//! as a button (`suggested_actions`), which goes through approval like any other action.
//!
//! Results go back to the model as JSON data labelled with their source (docs/decisions.md §5).

use std::time::Instant;

use serde_json::{Value, json};

use crate::chat::routing::{has, words};
use crate::daemon::{Daemon, DaemonError};

/// Phrases that make a message worth offering tools for (the rest is answered in one call).
const TRIGGERS: &[&str] = &[
    "how much space",
    "disk space",
    "free space",
    "storage left",
    "is full",
    "running out",
    "is running",
    "service status",
    "check if",
    "running services",
    "process running",
    "is alive",
    "memory usage",
    "cpu usage",
    "system load",
    "how loaded",
    "performance",
    "recent errors",
    "check logs",
    "log entries",
    "logs",
    "journal",
    "what happened",
    "network status",
    "ip address",
    "connected",
];

/// The most tool calls one answer may make; more are answered with an error.
pub const MAX_CALLS: usize = 6;
const MAX_LINES: u64 = 100;

/// Whether the message asks something a tool can answer live.
pub fn wanted(message: &str) -> bool {
    let w = words(message);
    TRIGGERS.iter().any(|t| has(&w, t))
}

/// One validated tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tool {
    CheckDiskSpace {
        path: Option<String>,
    },
    GetServiceStatus {
        service_name: String,
    },
    ListRunningServices {
        filter: String,
    },
    CheckProcess {
        process_name: String,
    },
    GetSystemLoad,
    ReadJournal {
        unit: String,
        lines: u32,
        filter: String,
    },
    GetNetworkInfo {
        interface: Option<String>,
    },
    SuggestAction {
        action: SuggestedKind,
        service_name: String,
        reason: String,
    },
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

/// The tool list in the shape both Ollama and OpenAI-compatible servers take.
pub fn definitions() -> Value {
    let f = |name: &str, description: &str, properties: Value, required: &[&str]| {
        json!({"type": "function", "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        }})
    };
    json!([
        f(
            "check_disk_space",
            "Size, used and free space of the mounted filesystems, or of the one holding a path.",
            json!({"path": {"type": "string", "description": "An absolute path, e.g. /var/lib"}}),
            &[]
        ),
        f(
            "get_service_status",
            "Live state of one systemd service: active/sub state, enabled, last result, main PID, restarts, memory.",
            json!({"service_name": {"type": "string", "description": "Unit name, e.g. nginx or nginx.service"}}),
            &["service_name"]
        ),
        f(
            "list_running_services",
            "The systemd services running now, optionally only those whose name contains a text.",
            json!({"filter": {"type": "string"}}),
            &[]
        ),
        f(
            "check_process",
            "Whether processes with a command name are running: pid, user id, memory, command line.",
            json!({"process_name": {"type": "string"}}),
            &["process_name"]
        ),
        f(
            "get_system_load",
            "CPU use and load average, memory and swap, uptime and temperatures.",
            json!({}),
            &[]
        ),
        f(
            "read_journal",
            "The newest journal lines of a systemd unit, optionally only lines containing a text.",
            json!({
                "unit": {"type": "string", "description": "Unit name, e.g. nginx or cron.service"},
                "lines": {"type": "integer", "minimum": 1, "maximum": MAX_LINES, "description": "How many lines (default 20)"},
                "filter": {"type": "string", "description": "Only lines containing this text (case-insensitive)"}
            }),
            &["unit"]
        ),
        f(
            "get_network_info",
            "Network interfaces with their state and addresses, or one interface.",
            json!({"interface": {"type": "string", "description": "e.g. eth0"}}),
            &[]
        ),
        f(
            "suggest_action",
            "Offer the user a button for a service action; it is NOT run, the user decides.",
            json!({
                "action": {"type": "string", "enum": ["restart_service", "start_service", "stop_service"]},
                "service_name": {"type": "string"},
                "reason": {"type": "string"}
            }),
            &["action", "service_name"]
        ),
    ])
}

fn text_arg(args: &Value, key: &str, max: usize) -> Result<Option<String>, String> {
    match &args[key] {
        Value::Null => Ok(None),
        Value::String(s) => {
            let s = s.trim();
            if s.chars().count() > max || s.chars().any(char::is_control) {
                Err(format!("{key} must be at most {max} printable characters"))
            } else if s.is_empty() {
                Ok(None)
            } else {
                Ok(Some(s.to_owned()))
            }
        }
        other => Err(format!("{key} must be a string, not {other}")),
    }
}

fn required(args: &Value, key: &str, max: usize) -> Result<String, String> {
    text_arg(args, key, max)?.ok_or_else(|| format!("{key} is required"))
}

fn only(args: &Value, keys: &[&str]) -> Result<(), String> {
    match args {
        Value::Object(m) => match m.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown argument {k:?}")),
            None => Ok(()),
        },
        Value::Null => Ok(()),
        _ => Err("arguments must be a JSON object".into()),
    }
}

/// Checks a call's name and arguments. Models send arguments as an object (Ollama) or as a
/// JSON string (OpenAI); both arrive here as a [`Value`] object.
pub fn parse(name: &str, args: &Value) -> Result<Tool, String> {
    let tool = match name {
        "check_disk_space" => {
            only(args, &["path"])?;
            let path = text_arg(args, "path", 4096)?;
            if let Some(p) = &path
                && (!p.starts_with('/') || p.split('/').any(|c| c == ".."))
            {
                return Err("path must be absolute and must not contain '..'".into());
            }
            Tool::CheckDiskSpace { path }
        }
        "get_service_status" => {
            only(args, &["service_name"])?;
            Tool::GetServiceStatus {
                service_name: required(args, "service_name", 250)?,
            }
        }
        "list_running_services" => {
            only(args, &["filter"])?;
            Tool::ListRunningServices {
                filter: text_arg(args, "filter", 100)?.unwrap_or_default(),
            }
        }
        "check_process" => {
            only(args, &["process_name"])?;
            Tool::CheckProcess {
                process_name: required(args, "process_name", 100)?,
            }
        }
        "get_system_load" => {
            only(args, &[])?;
            Tool::GetSystemLoad
        }
        "read_journal" => {
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
            Tool::ReadJournal {
                unit: required(args, "unit", 250)?,
                lines: lines as u32,
                filter: text_arg(args, "filter", 100)?.unwrap_or_default(),
            }
        }
        "get_network_info" => {
            only(args, &["interface"])?;
            let interface = text_arg(args, "interface", 15)?;
            if let Some(i) = &interface
                && !i
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:@-".contains(c))
            {
                return Err("interface must be an interface name such as eth0".into());
            }
            Tool::GetNetworkInfo { interface }
        }
        "suggest_action" => {
            only(args, &["action", "service_name", "reason"])?;
            let a = required(args, "action", 40)?;
            Tool::SuggestAction {
                action: SuggestedKind::parse(&a).ok_or_else(|| {
                    format!(
                        "action must be restart_service, start_service or stop_service, not {a:?}"
                    )
                })?,
                service_name: required(args, "service_name", 250)?,
                reason: text_arg(args, "reason", 300)?.unwrap_or_default(),
            }
        }
        other => return Err(format!("there is no tool called {other:?}")),
    };
    Ok(tool)
}

/// What one call produced: the JSON the model reads, whether it worked, and a suggested action
/// for the user when the call was `suggest_action`.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: Value,
    pub ok: bool,
    pub duration_ms: u64,
    pub suggestion: Option<Value>,
}

fn gb(bytes: u64) -> f64 {
    (bytes as f64 / 1e9 * 10.0).round() / 10.0
}

fn iso(unix: i64) -> String {
    crate::time::iso8601(unix).unwrap_or_default()
}

fn daemon_error(e: &DaemonError) -> String {
    match e {
        DaemonError::PermissionDenied { detail, .. } => {
            format!("not permitted for this user: {detail}")
        }
        other => other.to_string(),
    }
}

/// Whether `path` lies on the filesystem mounted at `mountpoint`.
fn under(path: &str, mountpoint: &str) -> bool {
    mountpoint == "/"
        || path == mountpoint
        || path
            .strip_prefix(mountpoint)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Runs one validated call against halbertd.
pub async fn run(daemon: &Daemon, tool: &Tool) -> Outcome {
    let t0 = Instant::now();
    let mut suggestion = None;
    let result: Result<Value, String> = match tool {
        Tool::CheckDiskSpace { path } => daemon
            .status()
            .await
            .map_err(|e| daemon_error(&e))
            .and_then(|s| {
                let view = |f: &halbert_proto::v1::Filesystem| {
                    json!({
                        "mountpoint": f.mountpoint, "device": f.device, "fstype": f.fstype,
                        "size_gb": gb(f.total_bytes), "used_gb": gb(f.used_bytes),
                        "available_gb": gb(f.available_bytes),
                        "used_percent": if f.total_bytes == 0 { 0.0 } else {
                            ((f.used_bytes as f64 / f.total_bytes as f64) * 1000.0).round() / 10.0
                        },
                    })
                };
                match path {
                    None => Ok(json!({"filesystems": s.filesystems.iter().map(view).collect::<Vec<_>>()})),
                    Some(p) => s
                        .filesystems
                        .iter()
                        .filter(|f| under(p, &f.mountpoint))
                        .max_by_key(|f| f.mountpoint.len())
                        .map(|f| json!({"path": p, "filesystem": view(f)}))
                        .ok_or_else(|| format!("no mounted filesystem holds {p}")),
                }
            }),
        Tool::GetServiceStatus { service_name } => daemon
            .service_status(service_name)
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
            .map_err(|e| daemon_error(&e)),
        Tool::ListRunningServices { filter } => daemon
            .running_services(filter)
            .await
            .map(|l| {
                json!({
                    "running": l.total,
                    "listed": l.services.iter().map(|s| json!({"unit": s.unit, "description": s.description})).collect::<Vec<_>>(),
                })
            })
            .map_err(|e| daemon_error(&e)),
        Tool::CheckProcess { process_name } => daemon
            .processes(process_name)
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
            .map_err(|e| daemon_error(&e)),
        Tool::GetSystemLoad => daemon
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
            .map_err(|e| daemon_error(&e)),
        Tool::ReadJournal {
            unit,
            lines,
            filter,
        } => daemon
            .journal_tail(unit, *lines, filter)
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
            .map_err(|e| daemon_error(&e)),
        Tool::GetNetworkInfo { interface } => daemon
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
            }),
        Tool::SuggestAction {
            action,
            service_name,
            reason,
        } => {
            // The service must exist; the suggestion names it the way the dashboard does.
            match daemon.service_status(service_name).await {
                Ok(s) => {
                    let target = if s.discovery_id.is_empty() {
                        s.unit.clone()
                    } else {
                        s.discovery_id.clone()
                    };
                    suggestion = Some(json!({
                        "id": action.id(), "label": action.label(), "target": target,
                        "unit": s.unit, "reason": reason, "source": "model",
                    }));
                    Ok(json!({"suggested": true, "note": "shown to the user as a button; nothing was run"}))
                }
                Err(e) => Err(daemon_error(&e)),
            }
        }
    };
    let ok = result.is_ok();
    Outcome {
        result: result.unwrap_or_else(|e| json!({"error": e})),
        ok,
        duration_ms: t0.elapsed().as_millis() as u64,
        suggestion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_whole_phrases() {
        assert!(wanted("How much space is left on /var?"));
        assert!(wanted("is nginx running? check the service status"));
        assert!(wanted("show me the recent errors of cron"));
        assert!(!wanted("write a haiku about disks"));
        assert!(!wanted("reconnected"), "no substring matches");
    }

    #[test]
    fn arguments_are_typed_and_validated() {
        assert_eq!(
            parse("check_disk_space", &json!({})).expect("test value"),
            Tool::CheckDiskSpace { path: None }
        );
        assert_eq!(
            parse("check_disk_space", &json!({"path": "/var/lib"})).expect("test value"),
            Tool::CheckDiskSpace {
                path: Some("/var/lib".into())
            }
        );
        assert!(parse("check_disk_space", &json!({"path": "var"})).is_err());
        assert!(parse("check_disk_space", &json!({"path": "/var/../etc"})).is_err());
        assert!(parse("check_disk_space", &json!({"path": 5})).is_err());
        assert!(parse("check_disk_space", &json!({"pth": "/"})).is_err());
        assert_eq!(
            parse("read_journal", &json!({"unit": "nginx", "lines": "30"})).expect("test value"),
            Tool::ReadJournal {
                unit: "nginx".into(),
                lines: 30,
                filter: String::new()
            }
        );
        assert_eq!(
            parse("read_journal", &json!({"unit": "nginx"})).expect("test value"),
            Tool::ReadJournal {
                unit: "nginx".into(),
                lines: 20,
                filter: String::new()
            }
        );
        for bad in [
            json!({"unit": "nginx", "lines": 0}),
            json!({"unit": "nginx", "lines": 101}),
            json!({"unit": "nginx", "lines": -1}),
            json!({"unit": "nginx", "lines": 2.5}),
            json!({"lines": 5}),
            json!({"unit": "nginx", "filter": "a\nb"}),
        ] {
            assert!(parse("read_journal", &bad).is_err(), "{bad} accepted");
        }
        assert!(parse("get_network_info", &json!({"interface": "eth0; ls"})).is_err());
        assert!(parse("get_service_status", &json!({})).is_err());
        assert!(parse("rm_rf", &json!({})).is_err());
        assert!(parse("get_system_load", &json!("x")).is_err());
        assert_eq!(
            parse(
                "suggest_action",
                &json!({"action": "restart_service", "service_name": "nginx"})
            )
            .expect("test value"),
            Tool::SuggestAction {
                action: SuggestedKind::Restart,
                service_name: "nginx".into(),
                reason: String::new()
            }
        );
        assert!(
            parse(
                "suggest_action",
                &json!({"action": "reboot", "service_name": "nginx"})
            )
            .is_err()
        );
    }

    #[test]
    fn paths_map_to_the_deepest_mount() {
        assert!(under("/var/lib", "/"));
        assert!(under("/var/lib", "/var"));
        assert!(under("/var", "/var"));
        assert!(!under("/variable", "/var"));
    }

    #[test]
    fn every_definition_parses_with_its_required_arguments() {
        let defs = definitions();
        for d in defs.as_array().expect("test value") {
            let f = &d["function"];
            let name = f["name"].as_str().expect("test value");
            let mut args = serde_json::Map::new();
            for r in f["parameters"]["required"].as_array().expect("test value") {
                let v = if r == "action" {
                    "restart_service"
                } else {
                    "nginx"
                };
                args.insert(r.as_str().expect("test value").into(), json!(v));
            }
            parse(name, &Value::Object(args)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
