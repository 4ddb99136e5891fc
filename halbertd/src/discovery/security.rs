//! Security posture: the SSH daemon's authentication settings, who holds sudo, automatic
//! updates, fail2ban jails and the mandatory access control in force.

use super::{Item, Kind, ScanCtx, ScanError, Status};
use crate::host::HostRoot;

/// sshd's effective value of each keyword: the first occurrence wins, including files pulled in
/// by `Include` (which Debian's default config puts first).
pub fn sshd_settings(root: &HostRoot) -> Option<std::collections::HashMap<String, String>> {
    fn walk(
        root: &HostRoot,
        path: &str,
        out: &mut std::collections::HashMap<String, String>,
        depth: u8,
    ) -> bool {
        let Ok(text) = root.read_to_string(path) else {
            return false;
        };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut parts = line.splitn(2, |c: char| c.is_whitespace() || c == '=');
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let (key, value) = (
                key.to_ascii_lowercase(),
                value.trim().trim_start_matches('=').trim().to_owned(),
            );
            if key == "match" {
                // Everything after a Match block applies conditionally; the global values are set.
                break;
            }
            if key == "include" && depth < 4 {
                for pat in value.split_whitespace() {
                    let pat = if pat.starts_with('/') {
                        pat.to_owned()
                    } else {
                        format!("/etc/ssh/{pat}")
                    };
                    let (dir, glob) = pat.rsplit_once('/').unwrap_or(("/etc/ssh", &pat));
                    let suffix = glob.strip_prefix('*').unwrap_or("");
                    let mut files: Vec<String> = std::fs::read_dir(root.path(dir))
                        .map(|d| {
                            d.flatten()
                                .map(|e| e.file_name().to_string_lossy().into_owned())
                                .collect()
                        })
                        .unwrap_or_default();
                    files.retain(|f| {
                        if glob.starts_with('*') {
                            f.ends_with(suffix)
                        } else {
                            f == glob
                        }
                    });
                    files.sort();
                    for f in files {
                        walk(root, &format!("{dir}/{f}"), out, depth + 1);
                    }
                }
                continue;
            }
            out.entry(key).or_insert(value);
        }
        true
    }
    let mut out = std::collections::HashMap::new();
    walk(root, "/etc/ssh/sshd_config", &mut out, 0).then_some(out)
}

fn ssh_item(root: &HostRoot) -> Option<Item> {
    let s = sshd_settings(root)?;
    let get = |k: &str, default: &str| {
        s.get(k)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
            .to_ascii_lowercase()
    };
    let root_login = get("permitrootlogin", "prohibit-password");
    let password = get("passwordauthentication", "yes");
    let pubkey = get("pubkeyauthentication", "yes");
    let mut issues = Vec::new();
    if root_login == "yes" {
        issues.push("root may log in with a password (PermitRootLogin yes)");
    }
    if password == "yes" {
        issues.push("password logins are allowed (PasswordAuthentication yes)");
    }
    if pubkey == "no" {
        issues.push("key logins are disabled (PubkeyAuthentication no)");
    }
    let (status, detail) = if issues.is_empty() {
        (Status::Healthy, "Secure".to_owned())
    } else {
        (Status::Warning, format!("{} issue(s)", issues.len()))
    };
    let mut it = Item::new(
        Kind::Security,
        "ssh-config".into(),
        "sshd",
        "SSH server configuration",
    )
    .status(status, detail);
    it.icon = "key-round".into();
    it.source = "/etc/ssh/sshd_config".into();
    it.set("permit_root_login", root_login);
    it.set("password_authentication", password);
    it.set("pubkey_authentication", pubkey);
    it.set(
        "port",
        s.get("port").cloned().unwrap_or_else(|| "22".into()),
    );
    it.set("issues", issues);
    Some(it)
}

/// Members of the groups that grant sudo (`sudo` on Debian, `wheel` elsewhere).
pub fn sudo_members(group_file: &str) -> Vec<String> {
    let mut out: Vec<String> = group_file
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() == 4 && (f[0] == "sudo" || f[0] == "wheel")).then(|| {
                f[3].split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
        })
        .flatten()
        .collect();
    out.sort();
    out.dedup();
    out
}

fn sudo_item(root: &HostRoot) -> Option<Item> {
    let members = sudo_members(&root.read_to_string("/etc/group").ok()?);
    let (status, detail) = if members.len() > 3 {
        (Status::Warning, format!("{} users", members.len()))
    } else {
        (Status::Healthy, format!("{} user(s)", members.len()))
    };
    let mut it = Item::new(
        Kind::Security,
        "sudo-users".into(),
        "sudo",
        "Administrators (sudo)",
    )
    .status(status, detail);
    it.icon = "users".into();
    it.source = "/etc/group".into();
    it.set("users", members);
    Some(it)
}

fn updates_item(root: &HostRoot) -> Option<Item> {
    if !root.path("/etc/apt").is_dir() {
        return None;
    }
    let text = root
        .read_to_string("/etc/apt/apt.conf.d/20auto-upgrades")
        .unwrap_or_default();
    let on = |key: &str| text.lines().any(|l| l.contains(key) && l.contains("\"1\""));
    let (lists, upgrades) = (on("Update-Package-Lists"), on("Unattended-Upgrade"));
    let (status, detail) = match (lists, upgrades) {
        (true, true) => (Status::Healthy, "Enabled"),
        (false, false) => (Status::Warning, "Disabled"),
        _ => (Status::Warning, "Partial"),
    };
    let mut it = Item::new(
        Kind::Security,
        "auto-updates".into(),
        "unattended-upgrades",
        "Automatic security updates",
    )
    .status(status, detail);
    it.icon = "refresh-cw".into();
    it.source = "/etc/apt/apt.conf.d/20auto-upgrades".into();
    it.set("update_package_lists", lists);
    it.set("unattended_upgrade", upgrades);
    Some(it)
}

/// Jails switched on in fail2ban's `.local` and `jail.d` files.
pub fn fail2ban_jails(root: &HostRoot) -> Option<Vec<String>> {
    if !root.path("/etc/fail2ban").is_dir() {
        return None;
    }
    let mut files = vec![
        "/etc/fail2ban/jail.conf".to_owned(),
        "/etc/fail2ban/jail.local".to_owned(),
    ];
    let mut extra: Vec<String> = std::fs::read_dir(root.path("/etc/fail2ban/jail.d"))
        .map(|d| {
            d.flatten()
                .map(|e| format!("/etc/fail2ban/jail.d/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    extra.sort();
    files.extend(extra);
    let mut enabled = std::collections::BTreeMap::new();
    for f in files {
        let Ok(t) = root.read_to_string(&f) else {
            continue;
        };
        let mut section = String::new();
        for l in t.lines() {
            let l = l.trim();
            if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = s.to_owned();
            } else if let Some((k, v)) = l.split_once('=')
                && k.trim() == "enabled"
                && section != "DEFAULT"
                && !section.is_empty()
            {
                // Later files override earlier ones, as fail2ban reads them.
                enabled.insert(section.clone(), v.trim().eq_ignore_ascii_case("true"));
            }
        }
    }
    Some(
        enabled
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(j, _)| j)
            .collect(),
    )
}

fn fail2ban_item(root: &HostRoot) -> Option<Item> {
    let jails = fail2ban_jails(root)?;
    let (status, detail) = if jails.is_empty() {
        (Status::Warning, "No jails enabled".to_owned())
    } else {
        (Status::Healthy, format!("{} jails", jails.len()))
    };
    let mut it =
        Item::new(Kind::Security, "fail2ban".into(), "fail2ban", "fail2ban").status(status, detail);
    it.icon = "shield-ban".into();
    it.source = "/etc/fail2ban".into();
    it.set("jails", jails);
    Some(it)
}

fn mac_item(root: &HostRoot) -> Option<Item> {
    if let Some(e) = root.read_attr("/sys/fs/selinux/enforce") {
        let enforcing = e == "1";
        let mut it = Item::new(Kind::Security, "selinux".into(), "selinux", "SELinux").status(
            if enforcing {
                Status::Healthy
            } else {
                Status::Warning
            },
            if enforcing { "Enforcing" } else { "Permissive" },
        );
        it.icon = "shield-check".into();
        it.source = "/sys/fs/selinux".into();
        it.set("enforcing", enforcing);
        return Some(it);
    }
    let on = root.read_attr("/sys/module/apparmor/parameters/enabled")?;
    let enabled = on == "Y";
    let profiles = root
        .read_to_string("/sys/kernel/security/apparmor/profiles")
        .map(|t| t.lines().count())
        .ok();
    let mut it = Item::new(Kind::Security, "apparmor".into(), "apparmor", "AppArmor").status(
        if enabled {
            Status::Healthy
        } else {
            Status::Warning
        },
        if enabled { "Enabled" } else { "Disabled" },
    );
    it.icon = "shield-check".into();
    it.source = "/sys/module/apparmor".into();
    it.set("enabled", enabled);
    it.set("profiles", profiles);
    Some(it)
}

pub async fn scan(ctx: &ScanCtx) -> Result<Vec<Item>, ScanError> {
    let r = &ctx.root;
    Ok([
        ssh_item(r),
        sudo_item(r),
        updates_item(r),
        fail2ban_item(r),
        mac_item(r),
    ]
    .into_iter()
    .flatten()
    .collect())
}
