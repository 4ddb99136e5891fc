//! Discovery: what this machine has (storage, services, network, containers, GPUs, sharing,
//! security, backups), as [`Item`]s with stable ids, a status token and the data that grounds
//! Halbert's answers.
//!
//! Each type has a scanner module. Scanners read through the [`HostRoot`] and run tools only
//! through [`Tools`] (halbertd's `exec/` in production, recorded outputs in tests); the
//! [`store`] keeps the last result of every type, persisted in the state dir.

pub mod backup;
pub mod container;
pub mod gpu;
pub mod network;
pub mod security;
pub mod service;
pub mod sharing;
pub mod storage;
pub mod store;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::exec::Tools;
use crate::host::HostRoot;
use crate::systemd::Systemd;

/// The discovery types, in the order the API lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Storage,
    Service,
    Network,
    Container,
    Gpu,
    Sharing,
    Security,
    Backup,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Storage,
        Kind::Service,
        Kind::Network,
        Kind::Container,
        Kind::Gpu,
        Kind::Sharing,
        Kind::Security,
        Kind::Backup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Storage => "storage",
            Kind::Service => "service",
            Kind::Network => "network",
            Kind::Container => "container",
            Kind::Gpu => "gpu",
            Kind::Sharing => "sharing",
            Kind::Security => "security",
            Kind::Backup => "backup",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How long this type's scanner may take before it is reported as timed out.
    pub fn timeout(self) -> Duration {
        match self {
            // SMART queries spin up sleeping disks.
            Kind::Storage => Duration::from_secs(20),
            _ => Duration::from_secs(10),
        }
    }
}

/// The documented status tokens. Human text goes into `status_detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Warning,
    Critical,
    Failed,
    Stopped,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Failed => "failed",
            Status::Stopped => "stopped",
            Status::Unknown => "unknown",
        }
    }

    /// The UI severity that goes with a status.
    pub fn severity(self) -> &'static str {
        match self {
            Status::Critical | Status::Failed => "critical",
            Status::Warning => "warning",
            Status::Healthy => "success",
            Status::Stopped | Status::Unknown => "info",
        }
    }
}

/// A button the dashboard may show; it maps to an API call, never to a shell string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub id: String,
    pub label: String,
    pub icon: String,
    pub requires_approval: bool,
    pub danger: bool,
}

impl Action {
    /// An action needing approval (it changes the system) or not (it only shows something).
    pub fn new(id: &str, label: &str, icon: &str, requires_approval: bool, danger: bool) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
            icon: icon.into(),
            requires_approval,
            danger,
        }
    }

    pub fn restart() -> Self {
        Self::new("restart", "Restart", "rotate-cw", true, false)
    }

    pub fn logs() -> Self {
        Self::new("logs", "Logs", "scroll-text", false, false)
    }
}

/// One discovered thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub name: String,
    pub title: String,
    pub status: Status,
    pub status_detail: String,
    pub description: String,
    pub icon: String,
    /// Where the facts came from (`sysfs`, `systemd D-Bus`, `smartctl`, ...).
    pub source: String,
    pub data: Map<String, Value>,
    pub actions: Vec<Action>,
    /// Unix milliseconds of the scan that produced it.
    pub last_scanned_ms: i64,
}

impl Item {
    pub fn new(kind: Kind, id: String, name: impl Into<String>, title: impl Into<String>) -> Self {
        Self {
            id,
            kind,
            name: name.into(),
            title: title.into(),
            status: Status::Unknown,
            status_detail: String::new(),
            description: String::new(),
            icon: String::new(),
            source: String::new(),
            data: Map::new(),
            actions: Vec::new(),
            last_scanned_ms: 0,
        }
    }

    pub fn status(mut self, status: Status, detail: impl Into<String>) -> Self {
        self.status = status;
        self.status_detail = detail.into();
        self
    }

    pub fn set(&mut self, key: &str, v: impl Into<Value>) {
        self.data.insert(key.to_owned(), v.into());
    }
}

/// Lower-case, spaces and `/` to `-`: the id slug of docs/decisions.md §7.
pub fn slug(s: &str) -> String {
    let t: String = s
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c == ' ' || c == '/' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if t.is_empty() { "root".into() } else { t }
}

/// What scanners get: the host root, the tool runner, and systemd when the system bus answers.
#[derive(Debug, Clone)]
pub struct ScanCtx {
    pub root: HostRoot,
    pub tools: std::sync::Arc<dyn Tools>,
    pub systemd: Option<Systemd>,
    /// Caps every tool's timeout (tests use short ones); `None` keeps each tool's own.
    pub tool_timeout: Option<Duration>,
    /// Replaces every scanner's own timeout ([`Kind::timeout`]) when set.
    pub scanner_timeout: Option<Duration>,
}

impl ScanCtx {
    pub fn new(root: HostRoot, tools: std::sync::Arc<dyn Tools>, systemd: Option<Systemd>) -> Self {
        Self {
            root,
            tools,
            systemd,
            tool_timeout: None,
            scanner_timeout: None,
        }
    }

    /// The timeout for one tool run: its own, unless the context caps it lower.
    pub fn tool_limit(&self, own: Duration) -> Duration {
        self.tool_timeout.map_or(own, |cap| cap.min(own))
    }

    pub fn scanner_limit(&self, kind: Kind) -> Duration {
        self.scanner_timeout.unwrap_or_else(|| kind.timeout())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Failed(String),
    #[error("the {kind} scan did not finish within {after:?}")]
    Timeout { kind: &'static str, after: Duration },
}

/// Runs one type's scanner (without the timeout; see `store`).
pub async fn scan(kind: Kind, ctx: &ScanCtx) -> Result<Vec<Item>, ScanError> {
    match kind {
        Kind::Storage => storage::scan(ctx).await,
        Kind::Service => service::scan(ctx).await,
        Kind::Gpu => gpu::scan(ctx).await,
        Kind::Network => network::scan(ctx).await,
        Kind::Container => container::scan(ctx).await,
        Kind::Sharing => sharing::scan(ctx).await,
        Kind::Security => security::scan(ctx).await,
        Kind::Backup => backup::scan(ctx).await,
    }
}

/// Ids must be unique across the whole set; a scanner bug must not silently hide an item.
pub fn check_unique(items: &[Item]) -> Result<(), ScanError> {
    let mut seen = BTreeMap::new();
    for i in items {
        if let Some(prev) = seen.insert(i.id.as_str(), i.title.as_str()) {
            return Err(ScanError::Failed(format!(
                "duplicate id {} ({prev} and {})",
                i.id, i.title
            )));
        }
    }
    Ok(())
}
