//! Named long-running workers under one cancellation token, each with a status, stopped
//! together within a deadline.

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
