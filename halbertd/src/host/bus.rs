//! The one system-bus connection halbertd holds. polkit (`gate::authz`) and systemd
//! (`systemd/`) share it; it is opened on first use and dropped after a failed call, so the
//! next call reconnects when dbus-daemon or dbus-broker has restarted.

use std::time::Duration;

/// How long opening the connection may take; a bus that does not answer in this time is
/// treated as absent (authorization degrades, systemd reads report "unavailable").
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    #[error("the system bus is not reachable: {0}")]
    Unreachable(String),
    #[error("the system bus did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Default)]
pub struct SystemBus {
    conn: tokio::sync::Mutex<Option<zbus::Connection>>,
}

impl SystemBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared connection, opened now if there is none.
    pub async fn get(&self) -> Result<zbus::Connection, BusError> {
        let mut g = self.conn.lock().await;
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(CONNECT_TIMEOUT, zbus::Connection::system())
            .await
            .map_err(|_| BusError::Timeout(CONNECT_TIMEOUT))?
            .map_err(|e| BusError::Unreachable(e.to_string()))?;
        *g = Some(c.clone());
        Ok(c)
    }

    /// Forgets the connection after a failed call, so that the next [`get`](Self::get)
    /// opens a new one.
    pub async fn reset(&self) {
        *self.conn.lock().await = None;
    }
}
