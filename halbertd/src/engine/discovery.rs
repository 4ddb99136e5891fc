//! Discovery: the persisted results per type, and scans (read-only, so no polkit action).

use super::{Engine, EngineError};
use crate::discovery::store::{Progress, TypeState, TypeSummary};
use crate::discovery::{Item, Kind, ScanCtx};
use crate::peer::Caller;

impl Engine {
    pub fn discovery_list(&self, caller: &Caller, kind: Kind) -> Result<TypeState, EngineError> {
        self.check_read(caller)?;
        Ok(self.discovery.list(kind))
    }

    pub fn discovery_get(&self, caller: &Caller, id: &str) -> Result<Item, EngineError> {
        self.check_read(caller)?;
        self.discovery
            .get(id)
            .ok_or_else(|| EngineError::NotFound(format!("no discovery with id {id:?}")))
    }

    pub fn discovery_summary(&self, caller: &Caller) -> Result<Vec<TypeSummary>, EngineError> {
        self.check_read(caller)?;
        Ok(self.discovery.summary())
    }

    /// Scans `kinds` (reading the system only, so no polkit action), reporting progress.
    pub async fn discovery_scan(
        &self,
        caller: &Caller,
        kinds: &[Kind],
        progress: &tokio::sync::mpsc::UnboundedSender<Progress>,
    ) -> Result<(), EngineError> {
        self.check_read(caller)?;
        self.scan_now(kinds, progress).await;
        Ok(())
    }

    /// Types that were never scanned (nothing persisted for them).
    pub fn never_scanned(&self) -> Vec<Kind> {
        self.discovery
            .summary()
            .into_iter()
            .filter(|t| t.last_scan_ms == 0)
            .map(|t| t.kind)
            .collect()
    }

    /// halbertd's own scans (at start and periodically), with nobody to report progress to.
    pub async fn scan_now(
        &self,
        kinds: &[Kind],
        progress: &tokio::sync::mpsc::UnboundedSender<Progress>,
    ) {
        let ctx = ScanCtx::new(
            self.root.clone(),
            self.tools.clone(),
            self.systemd().await.ok(),
        );
        self.discovery.scan(kinds, &ctx, progress).await;
    }
}
