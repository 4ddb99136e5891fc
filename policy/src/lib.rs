//! Halbert's policy: what Halbert may do, per tool, with conditions (`policy.yml`). Two
//! layers share this schema and this judgement: the user's policy, which halbert-web asks
//! before every action it performs for that user, and the system-wide
//! `/etc/halbert/policy.yml`, which halbertd asks on every mutating call, so that an
//! administrator's rule holds even against a halbert-web that skipped its own. polkit, the
//! path rules and safe mode stand behind both.
//!
//! Decision order (docs/decisions.md §3d): the tool's `allow`, else `default_allow`; then each
//! non-empty condition in turn (`users`, `hosts`, `hours_allow`, `paths_deny`, `paths_allow`,
//! `names_allow`); the first that fails denies and is named. Anything that cannot be judged
//! (an input a condition needs is missing) denies.

mod glob;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use glob::glob_match;

/// The tool name of every action Halbert takes (policy entries may name others, e.g. for
/// tools a later release adds; they are kept, and match nothing today).
pub const TOOLS: &[&str] = &[
    "write_config",
    "restore_backup",
    "service_control",
    "terminal",
    "terminal_root",
    "rollback",
    "restart_service",
    "schedule_cron",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "yes")]
    pub default_allow: bool,
    #[serde(default)]
    pub tools: BTreeMap<String, ToolRule>,
}

fn yes() -> bool {
    true
}

impl Default for Policy {
    /// The earlier version's shipped default: everything allowed, `write_config` and
    /// `schedule_cron` named.
    fn default() -> Self {
        let allow = ToolRule {
            allow: Some(true),
            ..ToolRule::default()
        };
        Self {
            default_allow: true,
            tools: BTreeMap::from([
                ("write_config".to_owned(), allow.clone()),
                ("schedule_cron".to_owned(), allow),
            ]),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub simulation_required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub rollback_required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<String>,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The caller's user name must be one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// The host name must match one of these globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Local time must be in one of these `HH:MM-HH:MM` windows (`22:00-06:00` wraps
    /// midnight; the end is excluded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hours_allow: Vec<String>,
    /// The action's path must match one of these globs (`*` within a segment, `**` across).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths_allow: Vec<String>,
    /// The action's path must match none of these globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths_deny: Vec<String>,
    /// The action's name (a unit, a command's program) must be one of these globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names_allow: Vec<String>,
}

impl Conditions {
    fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.hosts.is_empty()
            && self.hours_allow.is_empty()
            && self.paths_allow.is_empty()
            && self.paths_deny.is_empty()
            && self.names_allow.is_empty()
    }
}

/// What the action is about, for the conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    pub path: Option<String>,
    pub name: Option<String>,
}

/// Who asks, where, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub user: String,
    pub host: String,
    /// Minutes since local midnight.
    pub minute_of_day: u32,
}

impl Context {
    /// `user` on this host, at the local time now.
    pub fn now_for(user: String) -> Self {
        let host = nix_hostname();
        Self {
            user,
            host,
            minute_of_day: local_minute_of_day(),
        }
    }
}

/// The host name (`gethostname`), empty when it cannot be read.
fn nix_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer lives across the call and its length is passed; gethostname writes
    // at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The most a policy file may hold.
pub const MAX_BYTES: u64 = 256 * 1024;

/// Reads and validates the policy at `path`; a missing file is `missing` (the layer's own
/// default). The error says what is wrong and where.
pub fn load(path: &std::path::Path, missing: impl FnOnce() -> Policy) -> Result<Policy, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(missing()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if meta.len() > MAX_BYTES {
        return Err(format!("{} is larger than 256 KiB", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let p: Policy =
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    p.validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(p)
}

/// Minutes since local midnight, by the C library's time zone rules (`localtime_r` is
/// thread-safe; neither process changes `TZ` after start).
fn local_minute_of_day() -> u32 {
    let now: libc::time_t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as libc::time_t);
    // SAFETY: `tm` is a plain C struct for which all-zero is a valid value; localtime_r
    // writes only into it and reads `now`, both of which live across the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    if ok {
        (tm.tm_hour * 60 + tm.tm_min).clamp(0, 1439) as u32
    } else {
        ((now / 60) % 1440) as u32
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allow: bool,
    pub reason: String,
    /// What decided: `tools.<tool>.allow`, `default_allow`, `tools.<tool>.conditions.<name>`.
    pub rule: String,
    pub simulation_required: bool,
    pub rollback_required: bool,
    pub approvals_needed: Vec<String>,
}

/// The bounds of a policy: a policy is small, and every field is judged on every action.
const MAX_TOOLS: usize = 100;
const MAX_ENTRIES: usize = 100;
const MAX_ENTRY: usize = 512;

fn window(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let hm = |t: &str| {
        let (h, m) = t.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    Some((hm(a)?, hm(b)?))
}

/// Whether `minute` is in the window `[start, end)`, which wraps midnight when start > end.
pub fn in_window(minute: u32, (start, end): (u32, u32)) -> bool {
    if start <= end {
        (start..end).contains(&minute)
    } else {
        minute >= start || minute < end
    }
}

impl Policy {
    /// Every field within its bounds and form; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.tools.len() > MAX_TOOLS {
            return Err(format!("tools: at most {MAX_TOOLS} entries"));
        }
        for (name, rule) in &self.tools {
            let ok = !name.is_empty()
                && name.chars().count() <= 64
                && !name.chars().any(char::is_control);
            if !ok {
                return Err(format!(
                    "tools: {name:?} is not a tool name (1 to 64 printable characters)"
                ));
            }
            let c = &rule.conditions;
            let lists = [
                ("approvals", &rule.approvals),
                ("conditions.users", &c.users),
                ("conditions.hosts", &c.hosts),
                ("conditions.hours_allow", &c.hours_allow),
                ("conditions.paths_allow", &c.paths_allow),
                ("conditions.paths_deny", &c.paths_deny),
                ("conditions.names_allow", &c.names_allow),
            ];
            for (field, list) in lists {
                let at = format!("tools.{name}.{field}");
                if list.len() > MAX_ENTRIES {
                    return Err(format!("{at}: at most {MAX_ENTRIES} entries"));
                }
                if let Some(e) = list.iter().find(|e| {
                    e.is_empty() || e.chars().count() > MAX_ENTRY || e.chars().any(char::is_control)
                }) {
                    return Err(format!(
                        "{at}: {e:?} must be 1 to {MAX_ENTRY} printable characters"
                    ));
                }
            }
            if let Some(w) = c.hours_allow.iter().find(|w| window(w).is_none()) {
                return Err(format!(
                    "tools.{name}.conditions.hours_allow: {w:?} is not HH:MM-HH:MM"
                ));
            }
            for (field, list) in [
                ("paths_allow", &c.paths_allow),
                ("paths_deny", &c.paths_deny),
            ] {
                if let Some(p) = list.iter().find(|p| !p.starts_with('/')) {
                    return Err(format!(
                        "tools.{name}.conditions.{field}: {p:?} must be an absolute path glob"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Judges `tool` with `inputs` for `ctx`.
    pub fn decide(&self, tool: &str, inputs: &Inputs, ctx: &Context) -> Decision {
        let rule = self.tools.get(tool);
        let (allowed, by) = match rule.and_then(|r| r.allow) {
            Some(a) => (a, format!("tools.{tool}.allow")),
            None => (self.default_allow, "default_allow".to_owned()),
        };
        let deny = |rule: String, reason: String| Decision {
            allow: false,
            reason,
            rule,
            simulation_required: false,
            rollback_required: false,
            approvals_needed: Vec::new(),
        };
        if !allowed {
            return deny(
                by.clone(),
                format!("the policy does not allow {tool} ({by} is false)"),
            );
        }
        let Some(r) = rule else {
            return Decision {
                allow: true,
                reason: format!("{tool} is allowed by default_allow"),
                rule: by,
                simulation_required: false,
                rollback_required: false,
                approvals_needed: Vec::new(),
            };
        };
        let c = &r.conditions;
        let at = |name: &str| format!("tools.{tool}.conditions.{name}");
        if !c.users.is_empty() && !c.users.contains(&ctx.user) {
            return deny(
                at("users"),
                format!("{tool} is not allowed for user {}", ctx.user),
            );
        }
        if !c.hosts.is_empty() && !c.hosts.iter().any(|h| glob_match(h, &ctx.host)) {
            return deny(
                at("hosts"),
                format!("{tool} is not allowed on host {}", ctx.host),
            );
        }
        if !c.hours_allow.is_empty()
            && !c
                .hours_allow
                .iter()
                .filter_map(|w| window(w))
                .any(|w| in_window(ctx.minute_of_day, w))
        {
            return deny(
                at("hours_allow"),
                format!(
                    "{tool} is allowed only during {} (local time now {:02}:{:02})",
                    c.hours_allow.join(", "),
                    ctx.minute_of_day / 60,
                    ctx.minute_of_day % 60
                ),
            );
        }
        let needs_path = !c.paths_allow.is_empty() || !c.paths_deny.is_empty();
        let path = inputs.path.as_deref();
        if needs_path && path.is_none() {
            return deny(
                at(if c.paths_deny.is_empty() {
                    "paths_allow"
                } else {
                    "paths_deny"
                }),
                format!("{tool} has path conditions, and this action names no path"),
            );
        }
        if let Some(p) = path {
            if let Some(g) = c.paths_deny.iter().find(|g| glob_match(g, p)) {
                return deny(at("paths_deny"), format!("{p} matches the denied {g}"));
            }
            if !c.paths_allow.is_empty() && !c.paths_allow.iter().any(|g| glob_match(g, p)) {
                return deny(
                    at("paths_allow"),
                    format!("{p} matches none of paths_allow"),
                );
            }
        }
        if !c.names_allow.is_empty() {
            match inputs.name.as_deref() {
                Some(n) if c.names_allow.iter().any(|g| glob_match(g, n)) => {}
                Some(n) => {
                    return deny(
                        at("names_allow"),
                        format!("{n} matches none of names_allow"),
                    );
                }
                None => {
                    return deny(
                        at("names_allow"),
                        format!(
                            "{tool} has a names_allow condition, and this action names nothing"
                        ),
                    );
                }
            }
        }
        Decision {
            allow: true,
            reason: format!("{tool} is allowed by tools.{tool}"),
            rule: format!("tools.{tool}"),
            simulation_required: r.simulation_required,
            rollback_required: r.rollback_required,
            approvals_needed: r.approvals.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(minute: u32) -> Context {
        Context {
            user: "alice".into(),
            host: "web-01".into(),
            minute_of_day: minute,
        }
    }

    fn parse(y: &str) -> Policy {
        let p: Policy = serde_norway::from_str(y).expect("yaml");
        p.validate().expect("valid");
        p
    }

    #[test]
    fn allow_falls_back_to_default_allow() {
        let p = parse("default_allow: false\ntools:\n  terminal: {allow: true}\n");
        let d = p.decide("terminal", &Inputs::default(), &ctx(0));
        assert!(d.allow, "{d:?}");
        let d = p.decide("service_control", &Inputs::default(), &ctx(0));
        assert_eq!((d.allow, d.rule.as_str()), (false, "default_allow"));
        let d = Policy::default().decide("terminal_root", &Inputs::default(), &ctx(0));
        assert!(d.allow);
    }

    #[test]
    fn conditions_deny_naming_the_first_that_fails() {
        let p = parse(
            "tools:\n  service_control:\n    allow: true\n    conditions:\n      users: [alice]\n      names_allow: ['hb-*']\n  write_config:\n    conditions:\n      paths_allow: ['/etc/**']\n      paths_deny: ['/etc/sudoers.d/*']\n",
        );
        let unit = |n: &str| Inputs {
            name: Some(n.into()),
            ..Inputs::default()
        };
        assert!(
            p.decide("service_control", &unit("hb-web.service"), &ctx(0))
                .allow
        );
        let d = p.decide("service_control", &unit("sshd.service"), &ctx(0));
        assert_eq!(
            (d.allow, d.rule.as_str()),
            (false, "tools.service_control.conditions.names_allow")
        );
        let bob = Context {
            user: "bob".into(),
            ..ctx(0)
        };
        let d = p.decide("service_control", &unit("hb-web.service"), &bob);
        assert_eq!(d.rule, "tools.service_control.conditions.users");
        let path = |p: &str| Inputs {
            path: Some(p.into()),
            ..Inputs::default()
        };
        assert!(
            p.decide("write_config", &path("/etc/nginx/nginx.conf"), &ctx(0))
                .allow
        );
        let d = p.decide("write_config", &path("/etc/sudoers.d/90-x"), &ctx(0));
        assert_eq!(d.rule, "tools.write_config.conditions.paths_deny");
        let d = p.decide("write_config", &path("/usr/local/etc/x"), &ctx(0));
        assert_eq!(d.rule, "tools.write_config.conditions.paths_allow");
        let d = p.decide("write_config", &Inputs::default(), &ctx(0));
        assert!(!d.allow, "a path condition without a path denies");
    }

    #[test]
    fn hour_windows_wrap_midnight() {
        let w = window("22:00-06:00").expect("window");
        for (m, inside) in [
            (0, true),
            (22 * 60, true),
            (23 * 60 + 59, true),
            (5 * 60 + 59, true),
            (6 * 60, false),
            (12 * 60, false),
            (21 * 60 + 59, false),
        ] {
            assert_eq!(in_window(m, w), inside, "{m}");
        }
        let day = window("09:00-17:30").expect("window");
        for m in 0..1440 {
            assert_eq!(in_window(m, day), (540..1050).contains(&m), "{m}");
            // A wrapping window and its complement split the day.
            assert_ne!(in_window(m, (1050, 540)), in_window(m, day), "{m}");
        }
        assert_eq!(window("9:00-17:00"), None);
        assert_eq!(window("24:00-01:00"), None);
        assert_eq!(window("10:60-11:00"), None);
        let p = parse("tools:\n  terminal:\n    conditions:\n      hours_allow: ['22:00-06:00']\n");
        assert!(p.decide("terminal", &Inputs::default(), &ctx(60)).allow);
        let d = p.decide("terminal", &Inputs::default(), &ctx(12 * 60));
        assert!(!d.allow && d.reason.contains("12:00"), "{d:?}");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |y: &str| {
            let p: Policy = serde_norway::from_str(y).expect("yaml");
            p.validate().expect_err(y)
        };
        assert!(bad("tools:\n  \"bad\\tname\": {allow: true}\n").contains("not a tool name"));
        assert!(
            bad("tools:\n  terminal:\n    conditions:\n      hours_allow: ['9-17']\n")
                .starts_with("tools.terminal.conditions.hours_allow")
        );
        assert!(
            bad("tools:\n  write_config:\n    conditions:\n      paths_allow: ['etc/*']\n")
                .starts_with("tools.write_config.conditions.paths_allow")
        );
        assert!(serde_norway::from_str::<Policy>("tools:\n  t: {alow: true}\n").is_err());
        assert!(serde_norway::from_str::<Policy>("defualt_allow: true\n").is_err());
    }

    /// For random windows and minutes: a window and its reverse split the day (each minute is
    /// in exactly one, unless the window is empty), and a minute is in `[s, e)` as arithmetic
    /// on the circle says.
    #[test]
    fn random_windows_agree_with_the_circle() {
        let mut seed = 0x9e37_79b9u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % n) as u32
        };
        for _ in 0..20_000 {
            let (s, e, m) = (next(1440), next(1440), next(1440));
            let inside = in_window(m, (s, e));
            // Minutes from the start, going forward round the clock.
            let want = (m + 1440 - s) % 1440 < (e + 1440 - s) % 1440;
            assert_eq!(inside, want, "{m} in [{s}, {e})");
            if s != e {
                assert_ne!(inside, in_window(m, (e, s)), "{m}: [{s},{e}) and [{e},{s})");
            }
            let text = format!("{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60);
            assert_eq!(window(&text), Some((s, e)), "{text}");
        }
    }
}
