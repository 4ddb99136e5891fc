//! Live, read-only facts for the assistant's tools: units, the journal, processes, host info.

use std::collections::BTreeMap;

use super::{Engine, EngineError, blocking};
use crate::gate::authz::ACTION_JOURNAL;
use crate::inspect;
use crate::peer::Caller;

impl Engine {
    /// One unit's live state from systemd.
    pub async fn service_status(
        &self,
        caller: &Caller,
        unit: &str,
    ) -> Result<inspect::units::ServiceState, EngineError> {
        self.check_read(caller)?;
        let unit = inspect::unit_name(unit)?;
        let sd = self.systemd().await?;
        Ok(inspect::units::service_status(&sd, &unit).await?)
    }

    /// Running services whose name contains `filter`: at most 100, and how many matched.
    pub async fn running_services(
        &self,
        caller: &Caller,
        filter: &str,
    ) -> Result<(Vec<inspect::units::RunningService>, usize), EngineError> {
        self.check_read(caller)?;
        let filter = inspect::search_term(filter, "filter")?;
        let sd = self.systemd().await?;
        Ok(inspect::units::running_services(&sd, &filter).await?)
    }

    /// A unit's newest journal lines. Reading logs for someone needs polkit's
    /// `org.halbert.journal.read`; it changes nothing, so it is not audited.
    pub async fn journal_tail(
        &self,
        caller: &Caller,
        unit: &str,
        lines: u32,
        filter: &str,
    ) -> Result<(String, Vec<inspect::journal::JournalLine>), EngineError> {
        self.check_read(caller)?;
        let unit = inspect::unit_name(unit)?;
        let filter = inspect::search_term(filter, "filter")?;
        let details = BTreeMap::from([("unit".to_owned(), unit.clone())]);
        self.authz
            .check_action(caller, ACTION_JOURNAL, &details)
            .await?;
        let lines = inspect::journal::tail(self.tools.as_ref(), &unit, lines, &filter).await?;
        Ok((unit, lines))
    }

    /// Processes whose command name contains `name`: at most 20, and how many matched.
    pub async fn processes(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<(Vec<inspect::procs::ProcessInfo>, usize), EngineError> {
        self.check_read(caller)?;
        let name = inspect::search_term(name, "name")?;
        if name.is_empty() {
            return Err(EngineError::InvalidArgument(
                "name must not be empty".into(),
            ));
        }
        let root = self.root.clone();
        blocking(move || inspect::procs::find(&root, &name)).await
    }

    /// Distribution, kernel, architecture and package manager. Read once: none of them changes
    /// while halbertd runs (a kernel or distribution upgrade comes with a reboot or a restart),
    /// and every chat asks.
    pub async fn host_info(&self, caller: &Caller) -> Result<inspect::host::HostInfo, EngineError> {
        self.check_read(caller)?;
        if let Some(h) = self.host_info.get() {
            return Ok(h.clone());
        }
        let root = self.root.clone();
        let h = blocking(move || inspect::host::read(&root)).await?;
        Ok(self.host_info.get_or_init(|| h).clone())
    }
}
