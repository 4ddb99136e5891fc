//! The live status snapshot with halbertd's own health.

use std::sync::Arc;

use super::{Engine, EngineError, blocking, now};
use crate::peer::Caller;

use super::StatusView;

impl Engine {
    pub async fn status(self: &Arc<Self>, caller: &Caller) -> Result<StatusView, EngineError> {
        self.check_read(caller)?;
        let me = self.clone();
        let snapshot = blocking(move || me.status.read())
            .await?
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(StatusView {
            snapshot,
            authorization: self.authz.health().await,
            safe_mode_active: self.guardrails.get().active,
            timestamp_unix_ms: (now().unix_timestamp_nanos() / 1_000_000) as i64,
        })
    }
}
