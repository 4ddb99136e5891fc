//! Every message `/ws` carries, as one enum ([`Event`]) encoded in one place
//! ([`Event::encode`]): `{"type": ..., "data": ...}`. The status feed, the discovery scan and
//! the chat turn all send these, and nothing else reaches a WebSocket client. The payload
//! types here are the `/ws` contract, so they carry OpenAPI schemas like the API's views.

use std::sync::Arc;

use halbert_proto::v1 as pb;
use serde::Serialize;

use crate::time::iso8601;

/// One message for every WebSocket client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// Right after connecting, then every few seconds.
    SystemStatus(SystemStatusData),
    /// When the link to halbertd goes down or comes back.
    DaemonStatus { connected: bool, detail: String },
    /// Progress of a scan started with `POST /api/discovery/scan`.
    DiscoveryScan(ScanProgress),
    /// A step the assistant took for a chat turn (the model chosen, a tool called), or the
    /// safety gate's judgement of a proposed action.
    Decision(DecisionData),
    /// An action held for a person's decision (the whole request).
    ApprovalRequest(Box<crate::approvals::ApprovalRequest>),
    /// A request approved, rejected or expired.
    ApprovalDecision(crate::approvals::DecisionRecord),
    /// A piece of a streamed answer, in order; the last has `done: true`.
    ChatToken {
        request_id: String,
        token: String,
        done: bool,
    },
    /// The whole answer of a turn, with the same `debug` the POST returns.
    ChatComplete {
        request_id: String,
        response: String,
        debug: ChatDebug,
    },
    /// A chat request failed or was cancelled: instead of `chat_complete`, the last event of
    /// its `request_id`. `code` is the HTTP API's error code (`endpoint_unreachable`,
    /// `endpoint_timeout`, ...) or `cancelled` when the client went away; `detail` says what
    /// happened, as the POST's error does.
    ChatError {
        request_id: String,
        code: String,
        detail: String,
    },
    /// The model started writing a call of `tool`: its arguments are still coming (on a CPU
    /// this takes many seconds). The call itself follows as a `decision` event.
    ToolCallStarted { request_id: String, tool: String },
    /// Memory's entries being embedded again after the embedder changed (the local model was
    /// installed, say): `done` of `total` in `collection`, under `embedder`.
    MemoryReembed {
        collection: String,
        embedder: String,
        done: usize,
        total: usize,
    },
    /// The manual-page index being built: `done` of `total` pages looked at, `changed` of them
    /// read again, `removed` forgotten; `running` false when the job ended.
    KnowledgeIndex {
        running: bool,
        done: usize,
        total: usize,
        changed: usize,
        removed: usize,
    },
    /// An alert raised through `POST /api/settings/recovery/alert`.
    Alert(AlertData),
    /// This client fell behind and `skipped` messages were dropped for it.
    FeedLagged { skipped: u64 },
}

/// An event serialized once, shared by every client that is sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded(pub Arc<str>);

impl std::fmt::Display for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Event {
    pub fn encode(&self) -> Encoded {
        // Serializing plain data into a string cannot fail; an empty message would be noticed.
        Encoded(serde_json::to_string(self).unwrap_or_default().into())
    }
}

/// `data` of an `alert` event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertData {
    pub id: String,
    pub message: String,
    /// info, warning, error or critical.
    pub severity: String,
    /// ISO 8601 UTC.
    pub timestamp: String,
}

/// `data` of a `decision` event: a chat step, or a gate decision.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum DecisionData {
    Chat(Decision),
    Gate(GateDecision),
}

impl From<Decision> for DecisionData {
    fn from(d: Decision) -> Self {
        DecisionData::Chat(d)
    }
}

/// The safety gate's judgement of a proposed action: `{action, confidence, outcome,
/// reasoning}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GateDecision {
    pub request_id: String,
    /// What was proposed, in a line ("Restart hb-web.service").
    pub action: String,
    /// The action's type (`control_service`'s `restart_service`, `write_file`, ...).
    pub kind: String,
    pub confidence: f64,
    /// `auto`, `approval_required` or `refused`.
    pub outcome: String,
    pub reasoning: String,
}

/// `data` of a chat step's `decision` event.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub request_id: String,
    pub model: String,
    #[serde(flatten)]
    pub step: Step,
}

/// What the assistant decided, as the `action` of a `decision` event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// The model chosen for the turn and why.
    Route {
        model_type: String,
        complexity_score: f64,
        threshold: f64,
        reasoning: String,
    },
    /// One tool the model called.
    ToolCall {
        tool: String,
        arguments: serde_json::Value,
        ok: bool,
        duration_ms: u64,
        reasoning: String,
    },
    /// The model wrote a tool call as text; the turn was answered without tools.
    ToolFallback { reasoning: String },
}

/// How a chat turn was answered: in `chat_complete` and in the POST's answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChatDebug {
    pub model_used: String,
    /// `guide`, `specialist` or `vision`.
    pub model_type: String,
    pub complexity_score: f64,
    pub tokens_used: u64,
    /// The answer was cut off at the token limit (the server's `finish_reason` was `length`).
    pub truncated: bool,
    /// Why the model stopped, as the server said (`stop`, `length`, `tool_calls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The context window the prompt was fitted to, in tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// Context cut or left out to fit it (`memory`, `page (cut)`, `history (2 older turns)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_trimmed: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mentions_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_blocks: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redacted: Option<bool>,
}

/// `data` of a `discovery_scan` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScanProgress {
    pub scan_id: String,
    /// The type this event is about; absent on the final `complete` / `failed` event.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `started`, `done`, `failed` per type; then `complete` (or `failed` without a type).
    pub state: String,
    pub items: u32,
    pub duration_ms: u64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CpuView {
    pub percent: f64,
    /// °C of the first CPU sensor (coretemp, k10temp, cpu_thermal, zenpower), if any.
    pub temperature: Option<f64>,
    pub cores: u32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemoryView {
    pub total_gb: f64,
    pub used_gb: f64,
    pub available_gb: f64,
    pub percent: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SwapView {
    pub total_gb: f64,
    pub used_gb: f64,
    pub percent: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiskView {
    pub total_gb: f64,
    pub used_gb: f64,
    pub free_gb: f64,
    pub percent: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FilesystemView {
    pub mountpoint: String,
    pub device: String,
    pub fstype: String,
    pub total_gb: f64,
    pub used_gb: f64,
    pub free_gb: f64,
    pub percent: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UptimeView {
    pub seconds: u64,
    /// ISO 8601 UTC.
    pub boot_time: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoadView {
    #[serde(rename = "1min")]
    pub one: f64,
    #[serde(rename = "5min")]
    pub five: f64,
    #[serde(rename = "15min")]
    pub fifteen: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemperatureView {
    pub source: String,
    pub chip: String,
    pub label: String,
    pub celsius: f64,
}

/// `data` of a `system_status` message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SystemStatusData {
    pub cpu: CpuView,
    pub memory: MemoryView,
    pub swap: SwapView,
    /// Usage of `/`.
    pub disk: Option<DiskView>,
    pub filesystems: Vec<FilesystemView>,
    pub uptime: UptimeView,
    pub load_average: LoadView,
    pub temperatures: Vec<TemperatureView>,
    pub hostname: String,
    /// `ok`, or `degraded` when halbertd cannot reach polkit (mutations: root only).
    pub authorization: String,
    pub safe_mode_active: bool,
    /// ISO 8601 UTC.
    pub timestamp: Option<String>,
}

fn gb(bytes: u64) -> f64 {
    (bytes as f64 / 1e9 * 100.0).round() / 100.0
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

const CPU_CHIPS: &[&str] = &["coretemp", "k10temp", "cpu_thermal", "zenpower"];

pub fn status_view(s: &pb::SystemStatus) -> SystemStatusData {
    let cpu = s.cpu.unwrap_or_default();
    let m = s.memory.unwrap_or_default();
    let l = s.load.unwrap_or_default();
    let swap_used = m.swap_total_bytes.saturating_sub(m.swap_free_bytes);
    let fs = |f: &pb::Filesystem| FilesystemView {
        mountpoint: f.mountpoint.clone(),
        device: f.device.clone(),
        fstype: f.fstype.clone(),
        total_gb: gb(f.total_bytes),
        used_gb: gb(f.used_bytes),
        free_gb: gb(f.available_bytes),
        percent: pct(f.used_bytes, f.used_bytes + f.available_bytes),
    };
    SystemStatusData {
        cpu: CpuView {
            percent: cpu.percent,
            temperature: s
                .temperatures
                .iter()
                .find(|t| CPU_CHIPS.contains(&t.chip.as_str()))
                .map(|t| t.celsius),
            cores: cpu.cores,
        },
        memory: MemoryView {
            total_gb: gb(m.total_bytes),
            used_gb: gb(m.used_bytes),
            available_gb: gb(m.available_bytes),
            percent: pct(m.used_bytes, m.total_bytes),
        },
        swap: SwapView {
            total_gb: gb(m.swap_total_bytes),
            used_gb: gb(swap_used),
            percent: pct(swap_used, m.swap_total_bytes),
        },
        disk: s.filesystems.iter().find(|f| f.mountpoint == "/").map(|f| {
            let v = fs(f);
            DiskView {
                total_gb: v.total_gb,
                used_gb: v.used_gb,
                free_gb: v.free_gb,
                percent: v.percent,
            }
        }),
        filesystems: s.filesystems.iter().map(fs).collect(),
        uptime: UptimeView {
            seconds: s.uptime_seconds,
            boot_time: iso8601(s.boot_time_unix),
        },
        load_average: LoadView {
            one: l.one,
            five: l.five,
            fifteen: l.fifteen,
        },
        temperatures: s
            .temperatures
            .iter()
            .map(|t| TemperatureView {
                source: t.source.clone(),
                chip: t.chip.clone(),
                label: t.label.clone(),
                celsius: t.celsius,
            })
            .collect(),
        hostname: s.hostname.clone(),
        authorization: s.authorization.clone(),
        safe_mode_active: s.safe_mode_active,
        timestamp: iso8601(s.timestamp_unix_ms.div_euclid(1000)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_type_and_data() {
        let e = Event::DaemonStatus {
            connected: false,
            detail: "gone".into(),
        };
        assert_eq!(
            e.encode().to_string(),
            r#"{"type":"daemon_status","data":{"connected":false,"detail":"gone"}}"#
        );
        let d = Event::Decision(
            Decision {
                request_id: "r1".into(),
                model: "m".into(),
                step: Step::ToolFallback {
                    reasoning: "why".into(),
                },
            }
            .into(),
        );
        let v: serde_json::Value = serde_json::from_str(&d.encode().0).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"type": "decision", "data": {"request_id": "r1", "model": "m", "action": "tool_fallback", "reasoning": "why"}})
        );
        let l: serde_json::Value =
            serde_json::from_str(&Event::FeedLagged { skipped: 3 }.encode().0).expect("json");
        assert_eq!(
            l,
            serde_json::json!({"type": "feed_lagged", "data": {"skipped": 3}})
        );
    }
}
