//! A simulated systemd manager for unit tests: units and unit files that a test adds, answered
//! the way PID 1 answers (rows, object paths, `GetAll` maps). It stands beside the real one,
//! never instead of it: the testbed suite runs the same code against real systemd.

use std::collections::BTreeMap;
use std::sync::Mutex;

use zbus::{OwnedObjectPath, OwnedVariant as OwnedValue, Variant as Value};

use super::{Iface, JobEnd, Props, SystemdError, UnitFile, UnitRow, Verb};

/// A property value as a test writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimValue {
    Str(String),
    U32(u32),
    U64(u64),
}

impl SimValue {
    fn owned(&self) -> OwnedValue {
        let v = match self {
            SimValue::Str(s) => Value::from(s.clone()),
            SimValue::U32(n) => Value::from(*n),
            SimValue::U64(n) => Value::from(*n),
        };
        OwnedValue::try_from(v).unwrap_or_else(|_| OwnedValue::from(0u32))
    }
}

impl From<&str> for SimValue {
    fn from(s: &str) -> Self {
        SimValue::Str(s.to_owned())
    }
}

impl From<u32> for SimValue {
    fn from(n: u32) -> Self {
        SimValue::U32(n)
    }
}

impl From<u64> for SimValue {
    fn from(n: u64) -> Self {
        SimValue::U64(n)
    }
}

/// One simulated unit.
#[derive(Debug, Clone, Default)]
pub struct SimUnit {
    pub description: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// Properties beyond the four states, by interface.
    pub props: BTreeMap<(Iface, String), SimValue>,
    /// A start (or restart) of this unit fails, as one whose process exits non-zero does.
    pub fails_to_start: bool,
}

impl SimUnit {
    /// A loaded unit in the given states.
    pub fn new(description: &str, active: &str, sub: &str) -> Self {
        Self {
            description: description.into(),
            load_state: "loaded".into(),
            active_state: active.into(),
            sub_state: sub.into(),
            ..Self::default()
        }
    }

    pub fn with(mut self, iface: Iface, key: &str, v: impl Into<SimValue>) -> Self {
        self.props.insert((iface, key.to_owned()), v.into());
        self
    }

    /// Starting it fails (job result `failed`, unit `failed`).
    pub fn failing(mut self) -> Self {
        self.fails_to_start = true;
        self
    }
}

#[derive(Debug, Default)]
pub struct SimSystemd {
    units: Mutex<BTreeMap<String, SimUnit>>,
    files: Mutex<Vec<UnitFile>>,
}

use super::unit_path as object_path;

impl SimSystemd {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_unit(&self, name: &str, unit: SimUnit) {
        self.lock_units().insert(name.to_owned(), unit);
    }

    pub fn add_unit_file(&self, path: &str, state: &str) {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(UnitFile {
                path: path.into(),
                state: state.into(),
            });
    }

    fn lock_units(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SimUnit>> {
        self.units.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn list_units(&self) -> Vec<UnitRow> {
        self.lock_units()
            .iter()
            .map(|(name, u)| UnitRow {
                name: name.clone(),
                description: u.description.clone(),
                load_state: u.load_state.clone(),
                active_state: u.active_state.clone(),
                sub_state: u.sub_state.clone(),
                followed: String::new(),
                path: object_path(name),
                job_id: 0,
                job_type: String::new(),
                job_path: OwnedObjectPath::try_from("/").unwrap_or_default(),
            })
            .collect()
    }

    pub(super) fn list_unit_files(&self, patterns: &[&str]) -> Vec<UnitFile> {
        // Only the `*.suffix` globs halbertd uses are understood.
        let matches = |path: &str| {
            let name = path.rsplit('/').next().unwrap_or(path);
            patterns.is_empty()
                || patterns.iter().any(|p| match p.strip_prefix('*') {
                    Some(suffix) => name.ends_with(suffix),
                    None => name == *p,
                })
        };
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|f| matches(&f.path))
            .cloned()
            .collect()
    }

    pub(super) fn get_unit(&self, unit: &str) -> Option<OwnedObjectPath> {
        self.lock_units()
            .contains_key(unit)
            .then(|| object_path(unit))
    }

    /// Like systemd, loading an unknown unit gives an object whose LoadState is "not-found".
    pub(super) fn load_unit(&self, unit: &str) -> OwnedObjectPath {
        self.lock_units()
            .entry(unit.to_owned())
            .or_insert_with(|| SimUnit {
                load_state: "not-found".into(),
                active_state: "inactive".into(),
                sub_state: "dead".into(),
                ..SimUnit::default()
            });
        object_path(unit)
    }

    /// A job as systemd runs it on a unit that starts or fails at once.
    pub(super) fn unit_job(&self, verb: Verb, unit: &str) -> Result<JobEnd, SystemdError> {
        let mut units = self.lock_units();
        let u = units
            .get_mut(unit)
            .filter(|u| u.load_state == "loaded")
            .ok_or_else(|| SystemdError::NoSuchUnit(unit.to_owned()))?;
        let (active, sub, result) = match verb {
            Verb::Stop => ("inactive", "dead", "done"),
            Verb::Start | Verb::Restart if u.fails_to_start => ("failed", "failed", "failed"),
            Verb::Start | Verb::Restart => ("active", "running", "done"),
        };
        u.active_state = active.into();
        u.sub_state = sub.into();
        Ok(JobEnd::Done(result.into()))
    }

    pub(super) fn properties(&self, path: &OwnedObjectPath, iface: Iface) -> Props {
        let units = self.lock_units();
        let Some((name, u)) = units.iter().find(|(n, _)| object_path(n) == *path) else {
            return Props::new();
        };
        let mut out: Props = u
            .props
            .iter()
            .filter(|((i, _), _)| *i == iface)
            .map(|((_, k), v)| (k.clone(), v.owned()))
            .collect();
        if iface == Iface::Unit {
            for (k, v) in [
                ("Id", name.as_str()),
                ("Description", &u.description),
                ("LoadState", &u.load_state),
                ("ActiveState", &u.active_state),
                ("SubState", &u.sub_state),
            ] {
                out.insert(k.into(), SimValue::from(v).owned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Systemd, prop};
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn answers_like_the_manager() {
        let sim = Arc::new(SimSystemd::new());
        sim.add_unit(
            "nginx.service",
            SimUnit::new("nginx web server", "active", "running")
                .with(Iface::Service, "MainPID", 812u32)
                .with(Iface::Service, "MemoryCurrent", 4096u64),
        );
        sim.add_unit_file("/usr/lib/systemd/system/nginx.service", "enabled");
        sim.add_unit_file("/usr/lib/systemd/system/apt-daily.timer", "enabled");
        let sd = Systemd::Sim(sim);

        let rows = sd.list_units().await.expect("list");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "nginx.service");
        assert_eq!(
            rows[0].path.as_str(),
            "/org/freedesktop/systemd1/unit/nginx_2eservice"
        );
        assert_eq!(
            sd.active_state("nginx.service").await.as_deref(),
            Some("active")
        );
        assert_eq!(sd.active_state("gone.service").await, None);
        let svc = sd
            .properties(&rows[0].path, Iface::Service)
            .await
            .expect("props");
        assert_eq!(prop::<u32>(&svc, "MainPID"), Some(812));
        assert_eq!(prop::<u64>(&svc, "MemoryCurrent"), Some(4096));
        let files = sd.list_unit_files(&["*.service"]).await.expect("files");
        assert_eq!(files.len(), 1);

        let p = sd.load_unit("missing.service").await.expect("load");
        let u = sd.properties(&p, Iface::Unit).await.expect("props");
        assert_eq!(
            prop::<String>(&u, "LoadState").as_deref(),
            Some("not-found")
        );
    }
}
