//! What the machine runs: distribution (os-release), kernel, architecture and the package
//! manager commands should use.

use crate::host::HostRoot;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInfo {
    pub os_name: String,
    pub os_id: String,
    pub kernel: String,
    pub architecture: String,
    pub package_manager: String,
}

/// Package managers in order of preference where several are installed (apt before dpkg's
/// helpers, dnf before yum).
const MANAGERS: &[(&str, &str)] = &[
    ("apt", "/usr/bin/apt-get"),
    ("dnf", "/usr/bin/dnf"),
    ("yum", "/usr/bin/yum"),
    ("zypper", "/usr/bin/zypper"),
    ("pacman", "/usr/bin/pacman"),
    ("apk", "/sbin/apk"),
    ("xbps", "/usr/bin/xbps-install"),
    ("emerge", "/usr/bin/emerge"),
    ("nix", "/run/current-system/sw/bin/nix-env"),
];

fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim().trim_matches(['"', '\'']).to_owned())
    })
}

pub fn read(root: &HostRoot) -> HostInfo {
    let rel = root
        .read_to_string("/etc/os-release")
        .or_else(|_| root.read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    HostInfo {
        os_name: os_release_value(&rel, "PRETTY_NAME")
            .or_else(|| os_release_value(&rel, "NAME"))
            .unwrap_or_else(|| "Linux".into()),
        os_id: os_release_value(&rel, "ID").unwrap_or_default(),
        kernel: root
            .read_attr("/proc/sys/kernel/osrelease")
            .unwrap_or_default(),
        architecture: root
            .read_attr("/proc/sys/kernel/arch")
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned()),
        package_manager: MANAGERS
            .iter()
            .find(|(_, p)| root.path(p).exists())
            .map(|(n, _)| (*n).to_owned())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_lines() {
        let t =
            "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\n";
        assert_eq!(
            os_release_value(t, "PRETTY_NAME").as_deref(),
            Some("Debian GNU/Linux 13 (trixie)")
        );
        assert_eq!(os_release_value(t, "ID").as_deref(), Some("debian"));
        assert_eq!(os_release_value(t, "VERSION_ID"), None);
    }
}
