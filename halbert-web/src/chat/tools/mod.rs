//! The assistant's tools: read-only questions a model may ask about this machine while it
//! answers, each with typed, validated arguments and answered by halbertd. Nothing a model asks
//! for here changes the system: `suggest_action` only records a suggestion that the user sees
//! as a button (`suggested_actions`), which goes through approval like any other action.
//!
//! Results go back to the model as JSON data labelled with their source (docs/decisions.md §5).
//!
//! One file per tool holds its definition, its argument parsing and its execution; the list
//! below (`tools!`) is the only place that names them all.

mod disk;
mod journal;
mod load;
mod network;
mod process;
mod running_services;
mod service_status;
mod suggest;

pub use disk::CheckDiskSpace;
pub use journal::{MAX_LINES, ReadJournal};
pub use load::GetSystemLoad;
pub use network::GetNetworkInfo;
pub use process::CheckProcess;
pub use running_services::ListRunningServices;
pub use service_status::GetServiceStatus;
pub use suggest::{SuggestAction, SuggestedKind};

use std::time::Instant;

use serde_json::{Value, json};

use crate::chat::routing::{has, words};
use crate::daemon::{Daemon, DaemonError};

/// Words that make a message about something the tools answer live, wherever they stand in
/// it ("Is cron running?", "cron: running or not?"): disks and space, services and processes,
/// load and memory, logs, the network. Whole words only ("reconnected" is not "connected").
const TOPICS: &[&str] = &[
    // Space.
    "space",
    "disk",
    "disks",
    "storage",
    "full",
    "filesystem",
    "filesystems",
    "partition",
    "mounted",
    "quota",
    // Services and processes.
    "running",
    "run",
    "runs",
    "status",
    "alive",
    "active",
    "inactive",
    "failed",
    "failing",
    "fails",
    "dead",
    "crashed",
    "crashing",
    "down",
    "started",
    "stopped",
    "enabled",
    "service",
    "services",
    "unit",
    "daemon",
    "process",
    "processes",
    "pid",
    // Load.
    "load",
    "cpu",
    "memory",
    "ram",
    "swap",
    "performance",
    "slow",
    "busy",
    "uptime",
    // Logs.
    "log",
    "logs",
    "journal",
    "errors",
    "error",
    "warnings",
    "happened",
    "happening",
    // The network.
    "network",
    "ip",
    "interface",
    "interfaces",
    "connected",
    "connection",
    "online",
    "offline",
    "address",
    "route",
    "dns",
];

/// The most tool calls one answer may make; more are answered with an error.
pub const MAX_CALLS: usize = 6;

/// Whether the message asks something a tool can answer live: it uses one of the
/// [`TOPICS`] words anywhere, or names something this machine has (`known`: the names of the
/// discovered services, containers, disks, … — "what about cron?").
pub fn wanted(message: &str, known: &[&str]) -> bool {
    let w = words(message);
    w.iter().any(|x| TOPICS.contains(&x.as_str()))
        || known.iter().any(|k| {
            let k = k.to_lowercase();
            let bare = k.strip_suffix(".service").unwrap_or(&k);
            !bare.is_empty() && has(&w, &words(bare).join(" "))
        })
}

macro_rules! tools {
    ($($variant:ident),* $(,)?) => {
        /// One validated tool call.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Tool {
            $($variant($variant),)*
        }

        /// The tool list in the shape both Ollama and OpenAI-compatible servers take.
        pub fn definitions() -> Value {
            Value::Array(vec![$($variant::definition(),)*])
        }

        /// Checks a call's name and arguments. Models send arguments as an object (Ollama) or
        /// as a JSON string (OpenAI); both arrive here as a [`Value`] object.
        pub fn parse(name: &str, args: &Value) -> Result<Tool, String> {
            match name {
                $($variant::NAME => $variant::parse(args).map(Tool::$variant),)*
                other => Err(format!("there is no tool called {other:?}")),
            }
        }

        impl Tool {
            async fn call(&self, daemon: &Daemon) -> Ran {
                match self {
                    $(Tool::$variant(t) => t.run(daemon).await,)*
                }
            }
        }
    };
}

tools! {
    CheckDiskSpace,
    GetServiceStatus,
    ListRunningServices,
    CheckProcess,
    GetSystemLoad,
    ReadJournal,
    GetNetworkInfo,
    SuggestAction,
}

/// One tool definition: a function with JSON-schema parameters.
fn function(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({"type": "function", "function": {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }})
}

/// What a tool's run produced: the JSON for the model (or the error it is told), and a
/// suggested action for the user (`suggest_action` only).
#[derive(Debug)]
pub struct Ran {
    result: Result<Value, String>,
    suggestion: Option<Value>,
}

impl From<Result<Value, String>> for Ran {
    fn from(result: Result<Value, String>) -> Self {
        Self {
            result,
            suggestion: None,
        }
    }
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

/// Runs one validated call against halbertd.
pub async fn run(daemon: &Daemon, tool: &Tool) -> Outcome {
    let t0 = Instant::now();
    let Ran { result, suggestion } = tool.call(daemon).await;
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
        let none: &[&str] = &[];
        assert!(wanted("How much space is left on /var?", none));
        assert!(wanted("is nginx running? check the service status", none));
        assert!(wanted("show me the recent errors of cron", none));
        // Issue 14, item 7: the words need not be next to each other.
        assert!(wanted("Is cron running?", none));
        assert!(wanted("cron: up or failed?", none));
        assert!(wanted("what is using all the memory", none));
        assert!(!wanted("write a haiku about the sea", none));
        assert!(!wanted("reconnected", none), "no substring matches");
        // A name this machine has is a question about it.
        let known = ["cron.service", "postgres-main", "sda"];
        assert!(wanted("what about cron?", &known));
        assert!(wanted("tell me about postgres-main", &known));
        assert!(!wanted("what about chronic pain?", &known));
    }

    #[test]
    fn arguments_are_typed_and_validated() {
        assert_eq!(
            parse("check_disk_space", &json!({})).expect("test value"),
            Tool::CheckDiskSpace(CheckDiskSpace { path: None })
        );
        assert_eq!(
            parse("check_disk_space", &json!({"path": "/var/lib"})).expect("test value"),
            Tool::CheckDiskSpace(CheckDiskSpace {
                path: Some("/var/lib".into())
            })
        );
        assert!(parse("check_disk_space", &json!({"path": "var"})).is_err());
        assert!(parse("check_disk_space", &json!({"path": "/var/../etc"})).is_err());
        assert!(parse("check_disk_space", &json!({"path": 5})).is_err());
        assert!(parse("check_disk_space", &json!({"pth": "/"})).is_err());
        assert_eq!(
            parse("read_journal", &json!({"unit": "nginx", "lines": "30"})).expect("test value"),
            Tool::ReadJournal(ReadJournal {
                unit: "nginx".into(),
                lines: 30,
                filter: String::new()
            })
        );
        assert_eq!(
            parse("read_journal", &json!({"unit": "nginx"})).expect("test value"),
            Tool::ReadJournal(ReadJournal {
                unit: "nginx".into(),
                lines: 20,
                filter: String::new()
            })
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
            Tool::SuggestAction(SuggestAction {
                action: SuggestedKind::Restart,
                service_name: "nginx".into(),
                reason: String::new(),
                confidence: 0.5,
            })
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
