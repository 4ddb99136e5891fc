//! `/api/health`: whether halbert-web, its workers and halbertd are up.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SandboxView {
    /// Landlock ABI in use; 0 when off or unavailable.
    pub landlock_abi: i32,
    pub enforcement: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
    /// Whether the status stream from halbertd is currently connected.
    pub daemon_connected: bool,
    pub daemon_socket: String,
    /// Why halbertd is unreachable, said as what to do about it (`usermod -aG halbert NAME`,
    /// `systemctl enable --now halbertd.socket`); absent while it is connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon_detail: Option<String>,
    /// Named background workers and their state (`running`, `stopped`, `failed: …`).
    pub workers: BTreeMap<String, String>,
    pub websocket_clients: usize,
    pub sandbox: SandboxView,
}

/// Liveness of halbert-web and its link to halbertd.
#[utoipa::path(get, path = "/api/health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health(State(st): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        daemon_connected: st.feed.connected(),
        daemon_socket: st.daemon.socket().display().to_string(),
        daemon_detail: st.feed.down_because(),
        workers: st.workers.statuses(),
        websocket_clients: st.feed.clients(),
        sandbox: SandboxView {
            landlock_abi: st.sandbox.abi,
            enforcement: st.sandbox.enforcement.into(),
        },
    })
}
