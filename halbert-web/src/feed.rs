//! The /ws fan-out: one upstream `WatchStatus` stream from halbertd, plus the events other
//! routes broadcast (`discovery_scan`, `decision`, `chat_token`, `chat_complete`), each
//! serialized once and sent to every WebSocket client through a bounded broadcast channel (a
//! slow client skips messages; memory never grows with it). The status stream reconnects with
//! exponential backoff when halbertd goes away.

use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::daemon::Daemon;
use crate::events::{Encoded, Event, SystemStatusData, status_view};
use crate::history::{History, Sample};

/// Messages kept for clients that fall behind; older ones are skipped (and the client told so
/// with `feed_lagged`). Streamed chats send one message per token, and many may run at once
/// (200 concurrent answers of 20 tokens are 4,000 messages in a second or two), so this leaves
/// room for bursts while staying bounded: messages are shared, not copied per client, so the
/// worst case is a few MB.
const BACKLOG: usize = 8192;
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The status stream's link to halbertd, as the worker last found it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    /// Before the first attempt.
    NotYet,
    Up,
    /// Why halbertd cannot be reached, said as what to do about it.
    Down(String),
}

#[derive(Debug)]
pub struct StatusFeed {
    tx: broadcast::Sender<Encoded>,
    latest: watch::Sender<Option<Encoded>>,
    link: std::sync::Mutex<Link>,
    /// Every sample, for the charts (`GET /api/status/history`).
    history: History,
}

impl Default for StatusFeed {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            latest: watch::channel(None).0,
            link: std::sync::Mutex::new(Link::NotYet),
            history: History::default(),
        }
    }
}

impl StatusFeed {
    pub fn subscribe(&self) -> broadcast::Receiver<Encoded> {
        self.tx.subscribe()
    }

    /// The last `system_status` message, for a client that just connected.
    pub fn latest(&self) -> Option<Encoded> {
        self.latest.borrow().clone()
    }

    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }

    fn link(&self) -> Link {
        self.link.lock().map(|l| l.clone()).unwrap_or(Link::NotYet)
    }

    pub fn connected(&self) -> bool {
        self.link() == Link::Up
    }

    /// The samples received so far, for the charts.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Why halbertd is unreachable, as said to a person (`None` while it is connected or
    /// before the first attempt).
    pub fn down_because(&self) -> Option<String> {
        match self.link() {
            Link::Down(why) => Some(why),
            _ => None,
        }
    }

    /// The `daemon_status` event for a client that just connected while halbertd is down, so
    /// that it shows why at once instead of waiting for the next change.
    pub fn down_event(&self) -> Option<Encoded> {
        self.down_because().map(|detail| {
            Event::DaemonStatus {
                connected: false,
                detail,
            }
            .encode()
        })
    }

    fn set_connected(&self, up: bool, detail: &str) {
        let now = if up {
            Link::Up
        } else {
            Link::Down(detail.to_owned())
        };
        let Ok(mut link) = self.link.lock() else {
            return;
        };
        let before = std::mem::replace(&mut *link, now);
        drop(link);
        // Told once per change between up and down (a new reason while down is kept, not sent).
        if matches!((&before, up), (Link::Up, true) | (Link::Down(_), false)) {
            return;
        }
        if up {
            tracing::info!("status stream from halbertd connected");
        } else {
            tracing::warn!(detail, "halbertd is unreachable");
        }
        let _ = self.tx.send(
            Event::DaemonStatus {
                connected: up,
                detail: detail.to_owned(),
            }
            .encode(),
        );
    }

    /// Sends any other event (e.g. `discovery_scan`) to every connected client.
    pub fn broadcast(&self, event: &Event) {
        let _ = self.tx.send(event.encode());
    }

    fn publish(&self, msg: Encoded) {
        self.latest.send_replace(Some(msg.clone()));
        // No receivers is fine: nobody is watching right now.
        let _ = self.tx.send(msg);
    }

    /// The worker: keeps one stream open while halbert-web runs.
    pub async fn run(
        &self,
        daemon: Daemon,
        interval_ms: u32,
        token: CancellationToken,
    ) -> Result<(), String> {
        let mut backoff = BACKOFF_MIN;
        loop {
            let detail = match daemon.watch_status(interval_ms).await {
                Ok(mut stream) => loop {
                    tokio::select! {
                        _ = token.cancelled() => return Ok(()),
                        item = stream.message() => match item {
                            Ok(Some(s)) => {
                                self.set_connected(true, "");
                                backoff = BACKOFF_MIN;
                                let view = status_view(&s);
                                self.history.push(sample(s.timestamp_unix_ms, &view));
                                self.publish(Event::SystemStatus(view).encode());
                            }
                            Ok(None) => break "halbertd closed the status stream".to_owned(),
                            Err(e) => break daemon.stream_error(e).to_string(),
                        }
                    }
                },
                Err(e) => e.to_string(),
            };
            self.set_connected(false, &detail);
            tokio::select! {
                _ = token.cancelled() => return Ok(()),
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

/// A status message as a sample for the charts, at halbertd's time of measuring.
fn sample(unix_ms: i64, v: &SystemStatusData) -> Sample {
    Sample {
        t: unix_ms.div_euclid(1000),
        cpu_percent: v.cpu.percent,
        memory_percent: v.memory.percent,
        swap_percent: v.swap.percent,
        load_one: v.load_average.one,
        disk_percent: v.disk.as_ref().map(|d| d.percent),
        temperatures: v
            .temperatures
            .iter()
            .map(|t| (format!("{} {}", t.chip, t.label), t.celsius))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_that_does_not_read_skips_instead_of_growing() {
        let feed = StatusFeed::default();
        let mut slow = feed.subscribe();
        for i in 0..(BACKLOG + 100) {
            feed.publish(Encoded(format!("{{\"n\":{i}}}").into()));
        }
        // The backlog is bounded: the slow receiver is told what it missed, then gets only
        // the newest BACKLOG messages.
        match slow.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 100),
            other => panic!("expected a lag notice, got {other:?}"),
        }
        let mut rest = Vec::new();
        while let Ok(m) = slow.try_recv() {
            rest.push(m.to_string());
        }
        assert_eq!(rest.len(), BACKLOG);
        let newest = format!("{{\"n\":{}}}", BACKLOG + 99);
        assert_eq!(rest.last(), Some(&newest));
        assert_eq!(feed.latest().map(|m| m.to_string()), Some(newest));
    }
}
