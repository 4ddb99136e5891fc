//! `/ws`: live updates. Every message is `{"type": ..., "data": ...}`. `system_status` comes from
//! one upstream `WatchStatus` stream shared by all clients ([`StatusFeed`](crate::feed::StatusFeed));
//! a client that cannot keep up skips messages, and one whose socket blocks is dropped.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use halbert_proto::v1 as pb;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::guardrails::iso8601;

/// A client whose socket does not take a message within this time is disconnected.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The envelope of every `/ws` message.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub data: T,
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

/// Serializes a message once, for all clients.
pub fn encode<T: Serialize>(kind: &str, data: T) -> Utf8Bytes {
    serde_json::to_string(&Envelope { kind, data })
        .unwrap_or_default()
        .into()
}

pub async fn upgrade(State(st): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // Clients only listen for now; a small frame limit keeps a misbehaving one cheap.
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| client(socket, st))
}

async fn send(socket: &mut WebSocket, text: Utf8Bytes) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text))).await,
        Ok(Ok(()))
    )
}

async fn client(mut socket: WebSocket, st: AppState) {
    let mut rx = st.feed.subscribe();
    tracing::debug!(clients = st.feed.clients(), "websocket client connected");
    if let Some(latest) = st.feed.latest()
        && !send(&mut socket, latest).await
    {
        return;
    }
    loop {
        tokio::select! {
            _ = st.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            msg = rx.recv() => match msg {
                Ok(text) => if !send(&mut socket, text).await {
                    tracing::info!("dropping a websocket client that stopped reading");
                    break;
                },
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "slow websocket client skipped messages");
                    // Tell the client, so it takes chat text from chat_complete instead.
                    if !send(&mut socket, encode("feed_lagged", serde_json::json!({"skipped": n}))).await {
                        break;
                    }
                }
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                // No client-to-server protocol yet: everything else is ignored.
                Some(Ok(_)) => {}
            },
        }
    }
}
