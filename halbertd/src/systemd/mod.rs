//! Everything halbertd asks systemd: the units it has loaded, the unit files installed, a
//! unit's properties. Callers (discovery, inspect, later the service actions) get named rows
//! ([`UnitRow`], [`UnitFile`]) and typed errors, never raw D-Bus tuples.
//!
//! [`Systemd`] is either the real manager on the system bus (`dbus.rs`, typed zbus proxies) or
//! a simulated one (`sim.rs`) that unit tests fill with the units they need; the testbed runs
//! every path against the real systemd.

mod dbus;
pub mod sim;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use zbus::{OwnedObjectPath, OwnedVariant as OwnedValue, Type};

/// A unit's properties on one interface, as `GetAll` returns them.
pub type Props = HashMap<String, OwnedValue>;

/// One row of the manager's `ListUnits`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Type)]
pub struct UnitRow {
    pub name: String,
    pub description: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    /// The unit this one follows (a device alias), or empty.
    pub followed: String,
    pub path: OwnedObjectPath,
    pub job_id: u32,
    pub job_type: String,
    pub job_path: OwnedObjectPath,
}

/// One row of the manager's `ListUnitFilesByPatterns`: the file and its enablement state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Type)]
pub struct UnitFile {
    pub path: String,
    pub state: String,
}

/// The unit interfaces whose properties halbertd reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Iface {
    Unit,
    Service,
    Timer,
}

impl Iface {
    pub fn name(self) -> &'static str {
        match self {
            Iface::Unit => "org.freedesktop.systemd1.Unit",
            Iface::Service => "org.freedesktop.systemd1.Service",
            Iface::Timer => "org.freedesktop.systemd1.Timer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemdError {
    #[error("systemd did not answer {call}: {reason}")]
    Call { call: &'static str, reason: String },
    #[error("systemd knows no unit {0}")]
    NoSuchUnit(String),
    /// systemd answered, and would not do it (a masked unit, a job that does not apply).
    #[error("systemd refused to act on {unit}: {reason}")]
    Refused { unit: String, reason: String },
}

/// A job on a unit that a person may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Restart,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart => "restart",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "start" => Some(Verb::Start),
            "stop" => Some(Verb::Stop),
            "restart" => Some(Verb::Restart),
            _ => None,
        }
    }

    /// The manager's method for it.
    pub fn method(self) -> &'static str {
        match self {
            Verb::Start => "StartUnit",
            Verb::Stop => "StopUnit",
            Verb::Restart => "RestartUnit",
        }
    }
}

/// How a job ended, as its `JobRemoved` signal said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// systemd's result: `done`, `canceled`, `timeout`, `failed`, `dependency` or `skipped`.
    Done(String),
    /// The wait ran out; the job goes on in systemd.
    StillRunning,
}

/// A transient service running one argv as `uid` (root when `None`), with stdout and stderr
/// going to the given pipes. `Type=oneshot` with `RemainAfterExit`, so that the start job ends
/// when the process does and the unit, with its exit status, stays until the caller stops it
/// (which also kills whatever the process left running).
#[derive(Debug)]
pub struct Transient {
    pub name: String,
    pub description: String,
    /// The program (an absolute path) and its arguments.
    pub argv: Vec<String>,
    pub uid: Option<u32>,
    pub stdout: std::os::fd::OwnedFd,
    pub stderr: std::os::fd::OwnedFd,
    /// systemd's own backstop: the start job fails after this long even if halbertd is gone.
    pub start_timeout: std::time::Duration,
    /// Confine it (a validator): no network sockets (`RestrictAddressFamilies=AF_UNIX`), the
    /// whole file system read-only (`ProtectSystem=strict`) but for `writable`, no new
    /// privileges. Chosen for what they cost as well: each mount-namespace option systemd sets
    /// up (PrivateTmp, ProtectHome, ProtectKernel*) adds milliseconds to every dry run, and
    /// `strict` already makes /home and /tmp read-only.
    pub sandbox: bool,
    /// Paths left writable in the sandbox (`ReadWritePaths=`, missing ones ignored): a pid
    /// file's directory for `nginx -t`, say; `/tmp` means a private /tmp (`PrivateTmp=`).
    pub writable: Vec<String>,
}

impl Transient {
    fn properties(&self) -> Vec<(&'static str, zbus::Variant<'_>)> {
        use zbus::{Fd, Variant};
        let program = self.argv.first().cloned().unwrap_or_default();
        let exec: Vec<(String, Vec<String>, bool)> = vec![(program, self.argv.clone(), false)];
        let mut p = vec![
            ("Description", Variant::from(self.description.clone())),
            ("Type", Variant::from("oneshot")),
            ("RemainAfterExit", Variant::from(true)),
            ("ExecStart", Variant::from(exec)),
            ("StandardInput", Variant::from("null")),
            (
                "StandardOutputFileDescriptor",
                Variant::Fd(Fd::from(&self.stdout)),
            ),
            (
                "StandardErrorFileDescriptor",
                Variant::Fd(Fd::from(&self.stderr)),
            ),
            // The home of User= (or /root), and no failure where a user has none.
            ("WorkingDirectory", Variant::from("-~")),
            (
                "Environment",
                Variant::from(vec![
                    format!("PATH={}", crate::exec::PATH),
                    "LANG=C.UTF-8".to_owned(),
                    "TERM=dumb".to_owned(),
                ]),
            ),
            (
                "TimeoutStartUSec",
                Variant::from(u64::try_from(self.start_timeout.as_micros()).unwrap_or(u64::MAX)),
            ),
        ];
        if let Some(uid) = self.uid {
            p.push(("User", Variant::from(uid.to_string())));
        }
        if self.sandbox {
            let families: (bool, Vec<String>) = (true, vec!["AF_UNIX".to_owned()]);
            p.extend([
                ("RestrictAddressFamilies", Variant::from(families)),
                ("ProtectSystem", Variant::from("strict")),
                ("NoNewPrivileges", Variant::from(true)),
            ]);
            // `/tmp` is a private one (PrivateTmp=), never the shared /tmp of the machine.
            if self.writable.iter().any(|w| w == "/tmp") {
                p.push(("PrivateTmp", Variant::from(true)));
            }
            let rw: Vec<String> = self
                .writable
                .iter()
                .filter(|w| *w != "/tmp")
                .map(|w| format!("-{w}"))
                .collect();
            if !rw.is_empty() {
                p.push(("ReadWritePaths", Variant::from(rw)));
            }
        }
        p
    }
}

pub use dbus::Pid1;

/// The systemd manager halbertd talks to.
#[derive(Debug, Clone)]
pub enum Systemd {
    /// PID 1 on the system bus.
    Bus(Arc<Pid1>),
    /// An in-memory manager for unit tests.
    Sim(Arc<sim::SimSystemd>),
}

impl Systemd {
    /// Every unit systemd has loaded, in one call.
    pub async fn list_units(&self) -> Result<Vec<UnitRow>, SystemdError> {
        match self {
            Systemd::Bus(p) => dbus::list_units(p.connection()).await,
            Systemd::Sim(s) => Ok(s.list_units()),
        }
    }

    /// Installed unit files whose names match one of `patterns` (shell globs), in any state.
    pub async fn list_unit_files(&self, patterns: &[&str]) -> Result<Vec<UnitFile>, SystemdError> {
        match self {
            Systemd::Bus(p) => dbus::list_unit_files(p.connection(), patterns).await,
            Systemd::Sim(s) => Ok(s.list_unit_files(patterns)),
        }
    }

    /// The object of `unit`, loading it from disk if systemd has not; a unit without a file
    /// comes back with `LoadState` "not-found".
    pub async fn load_unit(&self, unit: &str) -> Result<OwnedObjectPath, SystemdError> {
        match self {
            Systemd::Bus(p) => dbus::load_unit(p.connection(), unit).await,
            Systemd::Sim(s) => Ok(s.load_unit(unit)),
        }
    }

    /// The object of a loaded `unit`; [`SystemdError::NoSuchUnit`] when it is not loaded.
    pub async fn get_unit(&self, unit: &str) -> Result<OwnedObjectPath, SystemdError> {
        match self {
            Systemd::Bus(p) => dbus::get_unit(p.connection(), unit).await,
            Systemd::Sim(s) => s
                .get_unit(unit)
                .ok_or_else(|| SystemdError::NoSuchUnit(unit.to_owned())),
        }
    }

    /// A unit's properties on `iface`.
    pub async fn properties(
        &self,
        path: &OwnedObjectPath,
        iface: Iface,
    ) -> Result<Props, SystemdError> {
        match self {
            Systemd::Bus(p) => dbus::properties(p.connection(), path, iface).await,
            Systemd::Sim(s) => Ok(s.properties(path, iface)),
        }
    }

    /// Submits `verb` on `unit` (mode `replace`) and waits up to `wait` for the job's end.
    pub async fn unit_job(
        &self,
        verb: Verb,
        unit: &str,
        wait: std::time::Duration,
    ) -> Result<JobEnd, SystemdError> {
        match self {
            Systemd::Bus(p) => dbus::unit_job(p, verb, unit, wait).await,
            Systemd::Sim(s) => s.unit_job(verb, unit),
        }
    }

    /// Whether this manager can run transient units (the simulated one cannot).
    pub fn runs_transient_units(&self) -> bool {
        matches!(self, Systemd::Bus(_))
    }

    /// Starts `t` and waits up to `wait` for its start job (the shell's run) to end.
    pub async fn start_transient(
        &self,
        t: &Transient,
        wait: std::time::Duration,
    ) -> Result<JobEnd, SystemdError> {
        match self {
            Systemd::Bus(p) => dbus::start_transient(p, t, wait).await,
            Systemd::Sim(_) => Err(SystemdError::Call {
                call: "StartTransientUnit",
                reason: "the simulated manager runs no processes".into(),
            }),
        }
    }

    /// Forgets a failed unit (a transient one then goes away).
    pub async fn reset_failed(&self, unit: &str) -> Result<(), SystemdError> {
        match self {
            Systemd::Bus(p) => dbus::reset_failed(p.connection(), unit).await,
            Systemd::Sim(_) => Ok(()),
        }
    }

    /// The ActiveState of a loaded unit, or `None` when systemd does not know it or does not
    /// answer (callers show "unknown").
    pub async fn active_state(&self, unit: &str) -> Option<String> {
        let path = self.get_unit(unit).await.ok()?;
        prop(
            &self.properties(&path, Iface::Unit).await.ok()?,
            "ActiveState",
        )
    }
}

/// systemd's object path for a unit name: every byte outside `[A-Za-z0-9]` as `_xx`
/// (sd_bus_path_encode). PID 1 loads a unit whose path is asked for, so this stands in for
/// `LoadUnit` without its round trip.
pub fn unit_path(unit: &str) -> OwnedObjectPath {
    let mut p = String::from("/org/freedesktop/systemd1/unit/");
    for b in unit.bytes() {
        if b.is_ascii_alphanumeric() {
            p.push(b as char);
        } else {
            p.push_str(&format!("_{b:02x}"));
        }
    }
    OwnedObjectPath::try_from(p).unwrap_or_default()
}

/// One property of a `GetAll` answer, converted; `None` when it is missing or of another type.
pub fn prop<T: TryFrom<OwnedValue>>(props: &Props, key: &str) -> Option<T> {
    props
        .get(key)
        .and_then(|v| v.try_clone().ok())
        .and_then(|v| T::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient(sandbox: bool, writable: &[&str]) -> Transient {
        let (r, w) = nix::unistd::pipe().expect("pipe");
        Transient {
            name: "halbert-run-test.service".into(),
            description: "test".into(),
            argv: vec!["/usr/sbin/sshd".into(), "-t".into()],
            uid: None,
            stdout: r,
            stderr: w,
            start_timeout: std::time::Duration::from_secs(5),
            sandbox,
            writable: writable.iter().map(|w| (*w).to_owned()).collect(),
        }
    }

    fn names(t: &Transient) -> Vec<&'static str> {
        t.properties().into_iter().map(|(k, _)| k).collect()
    }

    /// A validator's unit: no network sockets, the file system read-only, no new privileges;
    /// `/tmp` is a private one, other writable paths are ReadWritePaths (missing ones ignored).
    #[test]
    fn a_sandboxed_unit_is_confined_and_a_typed_command_is_not() {
        let plain = names(&transient(false, &[]));
        for k in [
            "RestrictAddressFamilies",
            "ProtectSystem",
            "NoNewPrivileges",
            "PrivateTmp",
        ] {
            assert!(!plain.contains(&k), "{k} on a terminal's unit");
        }
        let t = transient(true, &["/tmp", "/run"]);
        let props = t.properties();
        let get = |k: &str| {
            props
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        assert_eq!(get("ProtectSystem").as_deref(), Some("\"strict\""));
        assert_eq!(get("NoNewPrivileges").as_deref(), Some("true"));
        assert_eq!(get("PrivateTmp").as_deref(), Some("true"));
        assert_eq!(
            get("RestrictAddressFamilies").as_deref(),
            Some("(true, [\"AF_UNIX\"])")
        );
        assert_eq!(get("ReadWritePaths").as_deref(), Some("[\"-/run\"]"));
        let t = transient(true, &[]);
        let n = names(&t);
        assert!(
            !n.contains(&"PrivateTmp") && !n.contains(&"ReadWritePaths"),
            "{n:?}"
        );
    }
}
