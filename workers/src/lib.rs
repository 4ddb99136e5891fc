//! Named long-running workers under one cancellation token, each with a status, stopped
//! together within a deadline. Both daemons run their background work this way (halbertd:
//! discovery, the status line, the audit summary; halbert-web: the status feed), so that a
//! shutdown waits for all of it and a failed loop shows up by name instead of vanishing.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone)]
pub struct Workers {
    token: CancellationToken,
    tracker: TaskTracker,
    states: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Workers {
    pub fn new(token: CancellationToken) -> Self {
        Self {
            token,
            tracker: TaskTracker::new(),
            states: Arc::default(),
        }
    }

    fn set(&self, name: &str, state: String) {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), state);
    }

    /// Runs `work` until it returns or the token is cancelled; its result becomes its status.
    pub fn spawn<F, Fut>(&self, name: &'static str, work: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.set(name, "running".into());
        let fut = work(self.token.child_token());
        let me = self.clone();
        self.tracker.spawn(async move {
            let state = match fut.await {
                Ok(()) => "stopped".to_owned(),
                Err(e) => {
                    tracing::error!(worker = name, error = %e, "worker failed");
                    format!("failed: {e}")
                }
            };
            me.set(name, state);
        });
    }

    pub fn statuses(&self) -> BTreeMap<String, String> {
        self.states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Cancels every worker and waits up to `deadline`; false if some did not stop in time.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn statuses_follow_the_work_and_shutdown_cancels_it() {
        let w = Workers::new(CancellationToken::new());
        w.spawn("waits", |t| async move {
            t.cancelled().await;
            Ok(())
        });
        w.spawn("fails", |_| async { Err("no socket".to_owned()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = w.statuses();
        assert_eq!(s["waits"], "running");
        assert_eq!(s["fails"], "failed: no socket");
        assert!(w.shutdown(Duration::from_secs(5)).await);
        assert_eq!(w.statuses()["waits"], "stopped");
    }

    #[tokio::test]
    async fn a_worker_that_ignores_cancellation_misses_the_deadline() {
        let w = Workers::new(CancellationToken::new());
        w.spawn("stubborn", |_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        });
        assert!(!w.shutdown(Duration::from_millis(50)).await);
        assert_eq!(w.statuses()["stubborn"], "running");
    }
}
