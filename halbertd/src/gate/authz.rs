//! Authorization of each RPC: read-only calls for root and group `halbert`, mutations through
//! polkit (`CheckAuthorization` on the system bus) for a named action with details.
//!
//! If the bus or polkitd cannot be reached, mutations are allowed to uid 0 (and to halbertd's
//! own uid, which is 0 when installed) and to nobody else, and [`Authority::health`] reports
//! `degraded` — never a silent allow.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zbus::Variant as Value;

use crate::host::bus::{BusError, SystemBus};
use crate::peer::Caller;

/// Members may use the read-only RPCs.
pub const READ_GROUP: &str = "halbert";
pub const ACTION_GUARDRAILS: &str = "org.halbert.guardrails.manage";
/// Journal lines can carry more than status does (paths, user names, tokens in URLs), so
/// reading them for someone is an action of its own, not a plain read.
pub const ACTION_JOURNAL: &str = "org.halbert.journal.read";
/// Reading a configuration file the caller could not read with their own rights.
pub const ACTION_CONFIG_READ: &str = "org.halbert.config.read";
/// Changing (or restoring) a configuration file.
pub const ACTION_CONFIG_WRITE: &str = "org.halbert.config.write";
/// Starting, stopping or restarting a unit (details `unit`, `verb`).
pub const ACTION_SERVICE: &str = "org.halbert.service.manage";
/// Running what a person typed, as that person (details `command`, `user`). Nothing is gained
/// by it, so the policy's default is yes; it is asked anyway so that a site's rules can take
/// the terminal away from some users.
pub const ACTION_EXEC_SELF: &str = "org.halbert.exec.self";
/// Running what a person typed after `sudo `, as root (detail `command`).
pub const ACTION_EXEC_ROOT: &str = "org.halbert.exec.root";

const POLKIT_TIMEOUT: Duration = Duration::from_secs(10);
const HEALTH_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthzError {
    #[error("not authorized for {action}: {reason}")]
    Denied { action: String, reason: String },
    #[error("{0}")]
    NotReader(String),
}

/// How a mutation came to be allowed; recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Polkit,
    /// polkit could not be asked; the caller is root.
    RootFallback,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Polkit => "polkit",
            Grant::RootFallback => "root-fallback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    Degraded,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Degraded => "degraded",
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum PolkitError {
    #[error("system bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error(transparent)]
    Connect(#[from] BusError),
    #[error("polkit did not answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug)]
pub struct Authority {
    own_uid: u32,
    bus: Arc<SystemBus>,
    /// Result and time of the last contact with polkit.
    last: Mutex<Option<(Instant, Health)>>,
}

impl Authority {
    /// An authority asking polkit over `bus` (shared with the rest of halbertd).
    pub fn new(bus: Arc<SystemBus>) -> Self {
        Self {
            own_uid: nix::unistd::geteuid().as_raw(),
            bus,
            last: Mutex::new(None),
        }
    }

    fn is_root_equivalent(&self, uid: u32) -> bool {
        uid == 0 || uid == self.own_uid
    }

    /// Read-only RPCs: root, halbertd's own uid, or a member of group `halbert`.
    pub fn check_read(&self, c: &Caller) -> Result<(), AuthzError> {
        if self.is_root_equivalent(c.uid) {
            return Ok(());
        }
        let gid = nix::unistd::Group::from_name(READ_GROUP)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw());
        match gid {
            Some(g) if c.gid == g || c.groups.contains(&g) => Ok(()),
            _ => Err(AuthzError::NotReader(format!(
                "reading system state needs membership in group {READ_GROUP}"
            ))),
        }
    }

    /// Asks polkit whether `c` may perform `action` with `details`.
    pub async fn check_action(
        &self,
        c: &Caller,
        action: &str,
        details: &BTreeMap<String, String>,
    ) -> Result<Grant, AuthzError> {
        let denied = |reason: String| AuthzError::Denied {
            action: action.to_owned(),
            reason,
        };
        if c.pid <= 0 {
            // A caller outside our PID namespace cannot be named to polkit.
            return if self.is_root_equivalent(c.uid) {
                Ok(Grant::RootFallback)
            } else {
                Err(denied(
                    "the calling process is not visible to halbertd, so polkit cannot judge it"
                        .into(),
                ))
            };
        }
        match self.polkit_check(c, action, details).await {
            Ok(true) => {
                self.note(Health::Ok);
                Ok(Grant::Polkit)
            }
            Ok(false) => {
                self.note(Health::Ok);
                Err(denied(format!("polkit refused {action} for uid {}", c.uid)))
            }
            Err(e) => {
                tracing::warn!(error = %e, action, "polkit unreachable; falling back to root-only");
                self.note(Health::Degraded);
                if self.is_root_equivalent(c.uid) {
                    Ok(Grant::RootFallback)
                } else {
                    Err(denied(
                        "polkit is unreachable, so only root may perform mutations".into(),
                    ))
                }
            }
        }
    }

    /// Whether polkit answered lately; pings it when the last contact is older than 30 s.
    pub async fn health(&self) -> Health {
        if let Some((at, h)) = *self.last.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < HEALTH_TTL
        {
            return h;
        }
        let h = match self.ping().await {
            Ok(()) => Health::Ok,
            Err(e) => {
                tracing::warn!(error = %e, "polkit health check failed");
                Health::Degraded
            }
        };
        self.note(h);
        h
    }

    fn note(&self, h: Health) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), h));
    }

    /// Runs one bus call; a failure drops the cached connection so the next call reconnects
    /// (the bus may have restarted).
    async fn call<B>(
        &self,
        iface: &str,
        method: &str,
        body: &B,
    ) -> Result<zbus::Message, PolkitError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let conn = self.bus.get().await?;
        let fut = conn.call_method(
            Some("org.freedesktop.PolicyKit1"),
            "/org/freedesktop/PolicyKit1/Authority",
            Some(iface),
            method,
            body,
        );
        let res = match tokio::time::timeout(POLKIT_TIMEOUT, fut).await {
            Ok(Ok(m)) => return Ok(m),
            Ok(Err(e)) => PolkitError::Bus(e),
            Err(_) => PolkitError::Timeout(POLKIT_TIMEOUT),
        };
        self.bus.reset().await;
        Err(res)
    }

    async fn ping(&self) -> Result<(), PolkitError> {
        self.call("org.freedesktop.DBus.Peer", "Ping", &())
            .await
            .map(|_| ())
    }

    async fn polkit_check(
        &self,
        c: &Caller,
        action: &str,
        details: &BTreeMap<String, String>,
    ) -> Result<bool, PolkitError> {
        // unix-process subject with pid + start-time + uid: polkit re-checks that the process
        // with this pid is still the one that started then.
        let subject_details: HashMap<&str, Value<'_>> = HashMap::from([
            ("pid", Value::U32(c.pid as u32)),
            ("start-time", Value::U64(c.start_time)),
            ("uid", Value::I32(c.uid as i32)),
        ]);
        let subject = ("unix-process", subject_details);
        let details: HashMap<&str, &str> = details
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Flags 0: no interactive authentication; there is no agent on this path.
        let body = (subject, action, details, 0u32, "");
        let reply = self
            .call(
                "org.freedesktop.PolicyKit1.Authority",
                "CheckAuthorization",
                &body,
            )
            .await?;
        let (authorized, _challenge, _details): (bool, bool, HashMap<String, String>) =
            reply.body().deserialize().map_err(PolkitError::Bus)?;
        Ok(authorized)
    }
}
