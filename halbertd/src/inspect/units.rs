//! One unit's state (`LoadUnit`, then the Unit and Service properties) and the running
//! services (`ListUnits`), from systemd over D-Bus.

use super::InspectError;
use crate::systemd::{Iface, Systemd, SystemdError, prop};

impl From<SystemdError> for InspectError {
    fn from(e: SystemdError) -> Self {
        match e {
            SystemdError::NoSuchUnit(u) => {
                InspectError::NotFound(format!("systemd knows no unit {u}"))
            }
            other => InspectError::Unavailable(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceState {
    pub unit: String,
    pub description: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub unit_file_state: String,
    pub result: String,
    pub main_pid: u32,
    pub active_enter_unix: i64,
    pub restarts: u32,
    pub memory_bytes: u64,
    pub fragment_path: String,
    pub discovery_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningService {
    pub unit: String,
    pub description: String,
    pub sub_state: String,
}

/// The state of `unit` (already validated by [`super::unit_name`]). A unit systemd cannot
/// find is [`InspectError::NotFound`].
pub async fn service_status(sd: &Systemd, unit: &str) -> Result<ServiceState, InspectError> {
    let path = sd.load_unit(unit).await?;
    let u = sd.properties(&path, Iface::Unit).await?;
    let s = |k: &str| prop::<String>(&u, k).unwrap_or_default();
    let load_state = s("LoadState");
    if load_state == "not-found" {
        return Err(InspectError::NotFound(format!(
            "systemd knows no unit {unit}"
        )));
    }
    let mut st = ServiceState {
        unit: unit.to_owned(),
        description: s("Description"),
        load_state,
        active_state: s("ActiveState"),
        sub_state: s("SubState"),
        unit_file_state: s("UnitFileState"),
        fragment_path: s("FragmentPath"),
        discovery_id: unit
            .strip_suffix(".service")
            .map(|short| format!("service-{}", crate::discovery::slug(short)))
            .unwrap_or_default(),
        active_enter_unix: prop::<u64>(&u, "ActiveEnterTimestamp")
            .map_or(0, |us| (us / 1_000_000) as i64),
        ..Default::default()
    };
    if unit.ends_with(".service") {
        let sv = sd.properties(&path, Iface::Service).await?;
        st.result = prop::<String>(&sv, "Result").unwrap_or_default();
        st.main_pid = prop::<u32>(&sv, "MainPID").unwrap_or(0);
        st.restarts = prop::<u32>(&sv, "NRestarts").unwrap_or(0);
        // u64::MAX means "not accounted" (no memory controller for this unit).
        st.memory_bytes = prop::<u64>(&sv, "MemoryCurrent")
            .filter(|&m| m != u64::MAX)
            .unwrap_or(0);
    }
    Ok(st)
}

/// The most running services one answer lists (the proto says so too).
pub const MAX_LISTED: usize = 100;

/// Running services whose name contains `filter` (lower-case; empty for all): the first
/// [`MAX_LISTED`] by name, and how many matched.
pub async fn running_services(
    sd: &Systemd,
    filter: &str,
) -> Result<(Vec<RunningService>, usize), InspectError> {
    let mut all: Vec<RunningService> = sd
        .list_units()
        .await?
        .into_iter()
        .filter(|u| {
            u.name.ends_with(".service") && u.active_state == "active" && u.sub_state == "running"
        })
        .filter(|u| u.name.to_lowercase().contains(filter))
        .map(|u| RunningService {
            unit: u.name,
            description: u.description,
            sub_state: u.sub_state,
        })
        .collect();
    all.sort_by(|a, b| a.unit.cmp(&b.unit));
    let total = all.len();
    all.truncate(MAX_LISTED);
    Ok((all, total))
}
