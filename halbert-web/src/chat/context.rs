//! The context a chat message is answered with: the machine's facts from halbertd (discovery
//! and status), selected by the message's words and @mentions, as labelled and quoted data —
//! never as instructions (docs/decisions.md §5).

use halbert_proto::v1 as pb;

use crate::chat::routing::{has, words};

/// Words that ask for troubleshooting; they pull in every discovery in a bad state.
const TROUBLE: &[&str] = &[
    "fail",
    "failed",
    "failing",
    "error",
    "errors",
    "broken",
    "down",
    "not working",
    "issue",
    "problem",
    "wrong",
    "crash",
    "stopped",
    "unable",
    "cannot",
    "can't",
];

/// Keyword blocks: (type, trigger words, cap).
const BLOCKS: &[(&str, &[&str], usize)] = &[
    (
        "storage",
        &[
            "disk",
            "disks",
            "storage",
            "drive",
            "filesystem",
            "mount",
            "bcachefs",
            "btrfs",
            "zfs",
            "raid",
            "nvme",
            "ssd",
            "hdd",
            "partition",
        ],
        10,
    ),
    (
        "backup",
        &[
            "backup",
            "backups",
            "timeshift",
            "snapshot",
            "restore",
            "rsync",
            "borg",
        ],
        10,
    ),
    (
        "service",
        &[
            "service", "services", "systemd", "daemon", "running", "status",
        ],
        15,
    ),
    (
        "network",
        &[
            "network",
            "interface",
            "ethernet",
            "wifi",
            "bridge",
            "bond",
            "ip",
            "mac",
            "tailscale",
            "vpn",
            "firewall",
            "port",
            "ports",
        ],
        10,
    ),
    (
        "security",
        &[
            "security",
            "ssh",
            "sudo",
            "user",
            "password",
            "key",
            "certificate",
            "ssl",
            "tls",
            "audit",
            "login",
            "root",
            "admin",
            "ufw",
            "iptables",
            "selinux",
            "apparmor",
            "permission",
            "fail2ban",
        ],
        10,
    ),
    (
        "container",
        &[
            "container",
            "containers",
            "docker",
            "podman",
            "kubernetes",
            "k8s",
            "compose",
            "image",
            "volume",
            "registry",
            "dockerfile",
            "pod",
        ],
        15,
    ),
    (
        "gpu",
        &[
            "gpu", "nvidia", "amd", "graphics", "cuda", "rocm", "vram", "driver", "opengl",
            "vulkan", "render", "display", "monitor", "geforce", "radeon",
        ],
        5,
    ),
    (
        "sharing",
        &[
            "share",
            "sharing",
            "smb",
            "samba",
            "nfs",
            "cifs",
            "mount",
            "network drive",
            "file share",
            "rclone",
            "fuse",
        ],
        10,
    ),
];

/// The discovery types, as the contract names them.
pub const TYPES: [&str; 8] = halbert_proto::v1::DiscoveryType::NAMES;

/// Whether the message asks about something going wrong (whole words only).
pub fn is_troubleshooting(message: &str) -> bool {
    let w = words(message);
    TROUBLE.iter().any(|t| has(&w, t))
}

/// The discovery types whose keywords the message uses (whole words; interface names like
/// `eth0`, `enp3s0`, `wlan0` count for network).
pub fn keyword_types(message: &str) -> Vec<&'static str> {
    let w = words(message);
    let iface = w.iter().any(|x| {
        ["eth", "enp", "eno", "wlan", "wlp"].iter().any(|p| {
            x.starts_with(p)
                && x.len() > p.len()
                && x[p.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit() || c == 's')
        })
    });
    BLOCKS
        .iter()
        .filter(|(t, triggers, _)| {
            triggers.iter().any(|k| has(&w, k)) || (*t == "network" && iface)
        })
        .map(|(t, _, _)| *t)
        .collect()
}

pub fn cap(kind: &str) -> usize {
    BLOCKS.iter().find(|b| b.0 == kind).map_or(10, |b| b.2)
}

/// One discovery as a labelled line of data.
pub fn item_line(i: &pb::DiscoveryItem) -> String {
    let mut s = format!("[{}] {} ({}): {}", i.type_name(), i.title, i.id, i.status);
    if !i.status_detail.is_empty() {
        s.push_str(&format!(" - {}", i.status_detail));
    }
    if !i.description.is_empty() {
        s.push_str(&format!(" — {}", i.description));
    }
    s
}

/// One discovery in full, for an @mention of its id.
pub fn item_block(i: &pb::DiscoveryItem) -> String {
    let mut s = format!(
        "@{} — {}\ntype: {}\nstatus: {} ({})\n",
        i.id,
        i.title,
        i.type_name(),
        i.status,
        i.status_detail
    );
    if !i.description.is_empty() {
        s.push_str(&format!("description: {}\n", i.description));
    }
    if let Ok(serde_json::Value::Object(data)) =
        serde_json::from_str::<serde_json::Value>(&i.data_json)
    {
        for (k, v) in data {
            if v.is_null() || v == "" || v == serde_json::json!([]) {
                continue;
            }
            let key = k.replace('_', " ");
            s.push_str(&format!(
                "{key}: {}\n",
                if let Some(t) = v.as_str() {
                    t.to_owned()
                } else {
                    v.to_string()
                }
            ));
        }
    }
    s.push_str(&format!("source: {}\n", i.source));
    s
}

/// One remembered message: `[role, date] text` (cut to 300 characters).
pub fn memory_line(h: &crate::memory::Hit) -> String {
    let field = |k: &str| match h.entry.metadata.get(k) {
        Some(crate::memory::Scalar::Text(s)) => s.clone(),
        _ => String::new(),
    };
    let when = field("timestamp")
        .parse::<i64>()
        .ok()
        .and_then(crate::time::date)
        .unwrap_or_default();
    let mut text: String = h.entry.content.chars().take(300).collect();
    if h.entry.content.chars().count() > 300 {
        text.push('…');
    }
    format!("[{}, {when}] {text}", field("role"))
}

/// A manual-page excerpt as chat quotes it: `[sshd_config(5)] sshd_config(5) — …: text`,
/// at most about 700 characters.
pub fn manual_line(h: &crate::memory::Hit) -> String {
    let page = match h.entry.metadata.get("page") {
        Some(crate::memory::Scalar::Text(s)) => s.clone(),
        _ => String::new(),
    };
    let mut text: String = h.entry.content.chars().take(700).collect();
    if h.entry.content.chars().count() > 700 {
        text.push('…');
    }
    format!("[{page}] {text}")
}

/// A block of data with its source, fenced so the model reads it as data.
pub fn data_block(label: &str, source: &str, body: &str) -> String {
    format!(
        "<data label=\"{label}\" source=\"{source}\">\n{}\n</data>\n",
        body.trim_end()
    )
}

/// The machine in a few lines, for every prompt: what it runs (and so which commands apply),
/// its size and state, and the notable facts of the last discovery scan. Missing pieces are
/// left out rather than guessed.
pub fn machine_summary(
    host: Option<&pb::HostInfo>,
    status: &pb::SystemStatus,
    lists: &[(String, Vec<pb::DiscoveryItem>)],
) -> String {
    let of = |t: &str| {
        lists
            .iter()
            .find(|(k, _)| k == t)
            .map_or(&[][..], |(_, v)| v.as_slice())
    };
    let data = |i: &pb::DiscoveryItem| {
        serde_json::from_str::<serde_json::Value>(&i.data_json).unwrap_or_default()
    };
    let mut s = format!("hostname: {}\n", status.hostname);
    if let Some(h) = host {
        s.push_str(&format!(
            "operating system: {} ({})\nkernel: {}\n",
            h.os_name, h.architecture, h.kernel
        ));
        if !h.package_manager.is_empty() {
            s.push_str(&format!(
                "package manager: {} (use it in commands)\n",
                h.package_manager
            ));
        }
    }
    let m = status.memory.unwrap_or_default();
    s.push_str(&format!(
        "uptime: {} h\nCPU: {:.0} % busy, {} cores, load {:.2}\nmemory: {:.1} of {:.1} GB used\n",
        status.uptime_seconds / 3600,
        status.cpu.map_or(0.0, |c| c.percent),
        status.cpu.map_or(0, |c| c.cores),
        status.load.map_or(0.0, |l| l.one),
        m.used_bytes as f64 / 1e9,
        m.total_bytes as f64 / 1e9
    ));
    if let Some(r) = status.filesystems.iter().find(|f| f.mountpoint == "/") {
        s.push_str(&format!(
            "root filesystem: {} ({}), {:.0} GB free\n",
            r.device,
            r.fstype,
            r.available_bytes as f64 / 1e9
        ));
    }
    let stacks: Vec<&str> = ["btrfs", "zfs", "bcachefs", "xfs", "ext4"]
        .into_iter()
        .filter(|fs| status.filesystems.iter().any(|f| f.fstype == *fs))
        .collect();
    let raid = of("storage").iter().any(|i| i.id.starts_with("md-"));
    if !stacks.is_empty() || raid {
        s.push_str(&format!(
            "storage stacks: {}{}\n",
            stacks.join(", "),
            if raid { ", md RAID" } else { "" }
        ));
    }
    let gpus: Vec<&str> = of("gpu").iter().map(|g| g.title.as_str()).collect();
    if !gpus.is_empty() {
        s.push_str(&format!("GPUs: {}\n", gpus.join("; ")));
    }
    let services = of("service");
    if !services.is_empty() {
        let running = services
            .iter()
            .filter(|i| i.status_detail == "Running")
            .count();
        let failed: Vec<&str> = services
            .iter()
            .filter(|i| i.status == "failed" || i.severity == "critical")
            .map(|i| i.name.as_str())
            .collect();
        s.push_str(&format!(
            "services: {running} running, {} failed{}\n",
            failed.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    failed
                        .iter()
                        .take(10)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
    }
    let runtimes: std::collections::BTreeSet<String> = of("container")
        .iter()
        .filter_map(|c| data(c)["runtime"].as_str().map(str::to_owned))
        .collect();
    if !runtimes.is_empty() {
        s.push_str(&format!(
            "containers: {} ({})\n",
            of("container").len(),
            runtimes.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let firewalls: Vec<String> = of("network")
        .iter()
        .filter(|i| i.id.starts_with("firewall-"))
        .map(|i| format!("{} {}", i.name, i.status_detail))
        .collect();
    if !firewalls.is_empty() {
        s.push_str(&format!("firewall: {}\n", firewalls.join(", ")));
    }
    let primary = of("network").iter().find_map(|i| {
        let d = data(i);
        let ip = d["ipv4"].as_array()?.first()?.as_str()?.to_owned();
        (i.id.starts_with("iface-") && d["operstate"] == "up" && d["type"] != "loopback")
            .then(|| format!("{ip} on {}", i.name))
    });
    if let Some(p) = primary {
        s.push_str(&format!("primary address: {p}\n"));
    }
    for (t, items) in lists {
        let bad = items.iter().filter(|i| i.severity == "critical").count();
        s.push_str(&format!("{t}: {} items, {bad} critical\n", items.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert!(is_troubleshooting("my backup failed"));
        assert!(
            !is_troubleshooting("show the download folder"),
            "'down' is not in 'download'"
        );
        assert_eq!(keyword_types("why is my disk full"), ["storage"]);
        assert_eq!(keyword_types("is eth0 up?"), ["network"]);
        assert!(
            keyword_types("describe the script").is_empty(),
            "'ip' is not in 'script'"
        );
        assert_eq!(keyword_types("nfs mount"), ["storage", "sharing"]);
    }
}
