//! Network: interfaces from `/sys/class/net` (kind from uevent and sysfs: bridge, bond, VLAN,
//! WireGuard, Wi-Fi, ...), addresses (`ip -j addr` for IPv4, `/proc/net/if_inet6` for IPv6),
//! the file that configures each interface (NetworkManager, systemd-networkd, netplan,
//! ifupdown), the firewall (ufw, firewalld, nftables) and the listening sockets with their
//! owning processes (`/proc/net/{tcp,udp}{,6}` + `/proc/*/fd`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{Value, json};

use super::{Item, Kind, ScanCtx, ScanError, Status, slug};
use crate::host::HostRoot;

/// The interface kind, from what sysfs says about it and then from its name.
pub fn iface_type(root: &HostRoot, name: &str) -> &'static str {
    let base = format!("/sys/class/net/{name}");
    let devtype = root
        .read_to_string(format!("{base}/uevent"))
        .ok()
        .and_then(|u| {
            u.lines()
                .find_map(|l| l.strip_prefix("DEVTYPE=").map(str::to_owned))
        })
        .unwrap_or_default();
    let has = |f: &str| root.path(format!("{base}/{f}")).exists();
    match devtype.as_str() {
        "bridge" => {
            return if name.starts_with("docker") || name.starts_with("br-") {
                "docker"
            } else {
                "bridge"
            };
        }
        "bond" => return "bond",
        "vlan" => return "vlan",
        "wlan" => return "wifi",
        "wireguard" => return "wireguard",
        _ => {}
    }
    if has("bridge") {
        return if name.starts_with("docker") || name.starts_with("br-") {
            "docker"
        } else {
            "bridge"
        };
    }
    if has("bonding") {
        return "bond";
    }
    if has("wireless") || has("phy80211") {
        return "wifi";
    }
    if name.starts_with("tailscale") {
        "tailscale"
    } else if name.starts_with("wg") {
        "wireguard"
    } else if name.starts_with("veth") {
        "veth"
    } else if has("tun_flags") || name.starts_with("tun") || name.starts_with("tap") {
        "vpn"
    } else if name.starts_with("en") || name.starts_with("eth") {
        "ethernet"
    } else if name.starts_with("wl") {
        "wifi"
    } else {
        "unknown"
    }
}

/// IPv6 addresses per interface from `/proc/net/if_inet6`, without link-local ones.
pub fn parse_if_inet6(text: &str) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 6 || f[0].len() != 32 {
            continue;
        }
        let Ok(bytes) = (0..16)
            .map(|i| u8::from_str_radix(&f[0][i * 2..i * 2 + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
        else {
            continue;
        };
        let Ok(arr) = <[u8; 16]>::try_from(bytes) else {
            continue;
        };
        let ip = std::net::Ipv6Addr::from(arr);
        if ip.segments()[0] & 0xffc0 == 0xfe80 {
            continue;
        }
        let prefix = u8::from_str_radix(f[2], 16).unwrap_or(128);
        out.entry(f[5].to_owned())
            .or_default()
            .push(format!("{ip}/{prefix}"));
    }
    out
}

/// IPv4 addresses per interface from `ip -j addr show`.
pub fn parse_ip_addr_json(text: &str) -> HashMap<String, Vec<String>> {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for link in v.as_array().into_iter().flatten() {
        let Some(name) = link["ifname"].as_str() else {
            continue;
        };
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if a["family"] == "inet"
                && let (Some(ip), Some(p)) = (a["local"].as_str(), a["prefixlen"].as_u64())
            {
                out.entry(name.to_owned())
                    .or_default()
                    .push(format!("{ip}/{p}"));
            }
        }
    }
    out
}

/// The first configuration file that names the interface.
pub fn config_path(root: &HostRoot, name: &str) -> Option<String> {
    let nm = "/etc/NetworkManager/system-connections";
    for f in root.names(nm) {
        let p = format!("{nm}/{f}");
        let named = f.trim_end_matches(".nmconnection") == name;
        if named
            || root.read_to_string(&p).is_ok_and(|t| {
                t.lines()
                    .any(|l| l.trim() == format!("interface-name={name}"))
            })
        {
            return Some(p);
        }
    }
    let nd = "/etc/systemd/network";
    for f in [
        format!("{name}.network"),
        format!("10-{name}.network"),
        format!("20-{name}.network"),
        format!("{name}.netdev"),
        format!("10-{name}.netdev"),
    ] {
        if root.path(format!("{nd}/{f}")).is_file() {
            return Some(format!("{nd}/{f}"));
        }
    }
    for f in root.names(nd) {
        let p = format!("{nd}/{f}");
        if root.read_to_string(&p).is_ok_and(|t| {
            t.lines().any(|l| {
                l.trim()
                    .strip_prefix("Name=")
                    .is_some_and(|n| n.split_whitespace().any(|x| x == name))
            })
        }) {
            return Some(p);
        }
    }
    for f in root.names("/etc/netplan") {
        let p = format!("/etc/netplan/{f}");
        if (f.ends_with(".yaml") || f.ends_with(".yml"))
            && root
                .read_to_string(&p)
                .is_ok_and(|t| t.lines().any(|l| l.trim().trim_end_matches(':') == name))
        {
            return Some(p);
        }
    }
    let ifupdown = "/etc/network/interfaces";
    if root.read_to_string(ifupdown).is_ok_and(|t| t.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        matches!(w.as_slice(), ["iface", n, ..] | ["auto", n, ..] | ["allow-hotplug", n, ..] if *n == name)
    })) {
        return Some(ifupdown.into());
    }
    None
}

fn interface_items(root: &HostRoot, v4: &HashMap<String, Vec<String>>) -> Vec<Item> {
    let v6 = root
        .read_to_string("/proc/net/if_inet6")
        .map(|t| parse_if_inet6(&t))
        .unwrap_or_default();
    root.names("/sys/class/net")
        .into_iter()
        .filter(|n| n != "lo")
        .map(|name| {
            let base = format!("/sys/class/net/{name}");
            let attr = |f: &str| root.read_attr(format!("{base}/{f}"));
            let operstate = attr("operstate").unwrap_or_else(|| "unknown".into());
            let master = std::fs::read_link(root.path(format!("{base}/master")))
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
            let kind = iface_type(root, &name);
            let ipv4 = v4.get(&name).cloned().unwrap_or_default();
            let ipv6 = v6.get(&name).cloned().unwrap_or_default();
            let up = operstate == "up"
                || (operstate == "unknown" && attr("carrier").as_deref() == Some("1"));
            let (status, detail) = if !ipv4.is_empty() {
                (Status::Healthy, "Connected".to_owned())
            } else if up && let Some(m) = &master {
                (Status::Healthy, format!("Bridged to {m}"))
            } else if up {
                (Status::Warning, "Up (No IP)".into())
            } else if operstate == "down" || operstate == "lowerlayerdown" {
                (Status::Stopped, "Down".into())
            } else {
                (Status::Unknown, operstate.clone())
            };
            let mut it = Item::new(
                Kind::Network,
                format!("iface-{}", slug(&name)),
                name.clone(),
                format!("{name} ({kind})"),
            )
            .status(status, detail);
            it.icon = match kind {
                "wifi" => "wifi",
                "bridge" | "docker" | "bond" | "vlan" => "network",
                "wireguard" | "tailscale" | "vpn" => "shield",
                _ => "ethernet-port",
            }
            .into();
            it.source = "sysfs + ip".into();
            it.set("interface", name.clone());
            it.set("type", kind);
            it.set("operstate", operstate);
            it.set("ipv4", ipv4);
            it.set("ipv6", ipv6);
            it.set("mac", attr("address"));
            it.set("mtu", attr("mtu").and_then(|m| m.parse::<u64>().ok()));
            it.set(
                "speed_mbps",
                attr("speed")
                    .and_then(|s| s.parse::<i64>().ok())
                    .filter(|&s| s > 0),
            );
            it.set("master", master);
            it.set(
                "bridge_ports",
                if root.path(format!("{base}/brif")).is_dir() {
                    Value::from(root.names(format!("{base}/brif")))
                } else {
                    Value::Null
                },
            );
            it.set(
                "bond_slaves",
                attr("bonding/slaves")
                    .map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>()),
            );
            it.set("virtual", !root.path(format!("{base}/device")).exists());
            it.set("config_path", config_path(root, &name));
            it
        })
        .collect()
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub proto: &'static str,
    pub address: String,
    pub port: u16,
    pub inode: u64,
}

fn hex_addr(s: &str) -> Option<(String, u16)> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => std::net::IpAddr::from(u32::from_str_radix(ip, 16).ok()?.to_ne_bytes()).to_string(),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(
                    &u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16)
                        .ok()?
                        .to_ne_bytes(),
                );
            }
            std::net::Ipv6Addr::from(b).to_string()
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Listening TCP sockets (state 0A) and bound UDP sockets (state 07, no peer).
pub fn parse_sockets(text: &str, proto: &'static str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let listening = if proto.starts_with("tcp") {
                f.get(3) == Some(&"0A")
            } else {
                f.get(3) == Some(&"07") && f.get(2).is_some_and(|r| r.ends_with(":0000"))
            };
            if !listening {
                return None;
            }
            let (address, port) = hex_addr(f.get(1)?)?;
            Some(Listener {
                proto,
                address,
                port,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// socket inode → (pid, comm), from `/proc/<pid>/fd`.
fn socket_owners(root: &HostRoot) -> HashMap<u64, (u32, String)> {
    let mut out = HashMap::new();
    for pid in root
        .names("/proc")
        .into_iter()
        .filter_map(|p| p.parse::<u32>().ok())
    {
        let Ok(fds) = std::fs::read_dir(root.path(format!("/proc/{pid}/fd"))) else {
            continue;
        };
        let comm = root
            .read_attr(format!("/proc/{pid}/comm"))
            .unwrap_or_default();
        for fd in fds.flatten() {
            if let Some(inode) = std::fs::read_link(fd.path()).ok().and_then(|t| {
                t.to_string_lossy()
                    .strip_prefix("socket:[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|n| n.parse().ok())
            }) {
                out.entry(inode).or_insert((pid, comm.clone()));
            }
        }
    }
    out
}

pub fn well_known(port: u16) -> Option<&'static str> {
    Some(match port {
        22 => "SSH",
        25 => "SMTP",
        53 => "DNS",
        80 => "HTTP",
        111 => "rpcbind",
        139 => "NetBIOS",
        443 => "HTTPS",
        445 => "SMB",
        631 => "IPP (CUPS)",
        2049 => "NFS",
        3000 => "Grafana / dev server",
        3306 => "MySQL",
        5353 => "mDNS",
        5432 => "PostgreSQL",
        6379 => "Redis",
        8000 => "Halbert / HTTP",
        8080 => "HTTP (alt)",
        9090 => "Cockpit / Prometheus",
        11434 => "Ollama",
        27017 => "MongoDB",
        41641 => "Tailscale",
        51820 => "WireGuard",
        _ => return None,
    })
}

/// The addresses a port listens on, and the process owning it (pid, comm).
type PortEntry = (Vec<String>, Option<(u32, String)>);

fn ports_item(root: &HostRoot) -> Option<Item> {
    let mut all = Vec::new();
    for (file, proto) in [
        ("tcp", "tcp"),
        ("tcp6", "tcp6"),
        ("udp", "udp"),
        ("udp6", "udp6"),
    ] {
        if let Ok(t) = root.read_to_string(format!("/proc/net/{file}")) {
            all.extend(parse_sockets(&t, proto));
        }
    }
    if all.is_empty() && !root.path("/proc/net/tcp").exists() {
        return None;
    }
    let owners = socket_owners(root);
    // De-duplicate: one entry per protocol family and port, listing its addresses.
    let mut by: BTreeMap<(&str, u16), PortEntry> = BTreeMap::new();
    for l in &all {
        let fam = if l.proto.starts_with("tcp") {
            "tcp"
        } else {
            "udp"
        };
        let e = by.entry((fam, l.port)).or_default();
        if !e.0.contains(&l.address) {
            e.0.push(l.address.clone());
        }
        if e.1.is_none() {
            e.1 = owners.get(&l.inode).cloned();
        }
    }
    let entries: Vec<Value> = by
        .iter()
        .map(|((proto, port), (addrs, owner))| {
            json!({
                "protocol": proto, "port": port, "addresses": addrs,
                "service": well_known(*port),
                "pid": owner.as_ref().map(|o| o.0), "process": owner.as_ref().map(|o| o.1.clone()),
                "exposed": addrs.iter().any(|a| a != "127.0.0.1" && a != "::1" && !a.starts_with("127.")),
            })
        })
        .collect();
    let tcp = by.keys().filter(|k| k.0 == "tcp").count();
    let exposed = entries.iter().filter(|e| e["exposed"] == true).count();
    let mut it = Item::new(
        Kind::Network,
        "listening-ports".into(),
        "listening-ports",
        "Listening ports",
    )
    .status(
        Status::Healthy,
        format!(
            "{tcp} TCP, {} UDP ({exposed} beyond loopback)",
            by.len() - tcp
        ),
    );
    it.icon = "radio-tower".into();
    it.source = "/proc/net".into();
    it.set("ports", entries);
    Some(it)
}

async fn firewall_items(ctx: &ScanCtx) -> Vec<Item> {
    let root = &ctx.root;
    let mut items = Vec::new();
    if let Ok(conf) = root.read_to_string("/etc/ufw/ufw.conf") {
        let on = conf
            .lines()
            .any(|l| l.trim().eq_ignore_ascii_case("ENABLED=yes"));
        let mut it = Item::new(
            Kind::Network,
            "firewall-ufw".into(),
            "ufw",
            "Firewall (ufw)",
        )
        .status(
            if on { Status::Healthy } else { Status::Warning },
            if on { "Active" } else { "Inactive" },
        );
        it.icon = "shield".into();
        it.source = "/etc/ufw/ufw.conf".into();
        it.set("enabled", on);
        items.push(it);
    }
    if root.path("/etc/firewalld").is_dir() {
        let state = match &ctx.systemd {
            Some(sd) => sd.active_state("firewalld.service").await,
            None => None,
        };
        let active = state.as_deref() == Some("active");
        let mut it = Item::new(
            Kind::Network,
            "firewall-firewalld".into(),
            "firewalld",
            "Firewall (firewalld)",
        )
        .status(
            if active {
                Status::Healthy
            } else {
                Status::Warning
            },
            if active {
                "Active".to_owned()
            } else {
                state.clone().unwrap_or_else(|| "Unknown".into())
            },
        );
        it.icon = "shield".into();
        it.source = "systemd D-Bus".into();
        it.set("active_state", state);
        items.push(it);
    }
    if let Ok(o) = ctx
        .tools
        .run(
            &["nft", "-j", "list", "ruleset"],
            ctx.tool_limit(Duration::from_secs(5)),
        )
        .await
        && o.code == Some(0)
    {
        let v: Value = serde_json::from_str(&o.stdout).unwrap_or(Value::Null);
        let objs = v["nftables"].as_array().cloned().unwrap_or_default();
        let count = |k: &str| objs.iter().filter(|o| o.get(k).is_some()).count();
        let (tables, rules) = (count("table"), count("rule"));
        let mut it = Item::new(
            Kind::Network,
            "firewall-nftables".into(),
            "nftables",
            "Firewall (nftables)",
        )
        .status(
            if rules > 0 {
                Status::Healthy
            } else {
                Status::Warning
            },
            if rules > 0 {
                format!("{rules} rules in {tables} tables")
            } else {
                "No rules".into()
            },
        );
        it.icon = "shield".into();
        it.source = "nft".into();
        it.set("tables", tables);
        it.set("rules", rules);
        items.push(it);
    }
    items
}

pub async fn scan(ctx: &ScanCtx) -> Result<Vec<Item>, ScanError> {
    if !ctx.root.path("/sys/class/net").is_dir() {
        return Err(ScanError::Failed("/sys/class/net is not readable".into()));
    }
    let v4 = match ctx
        .tools
        .run(
            &["ip", "-j", "addr", "show"],
            ctx.tool_limit(Duration::from_secs(5)),
        )
        .await
    {
        Ok(o) if o.code == Some(0) => parse_ip_addr_json(&o.stdout),
        _ => HashMap::new(),
    };
    let mut items = interface_items(&ctx.root, &v4);
    items.extend(firewall_items(ctx).await);
    items.extend(ports_item(&ctx.root));
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_and_addresses() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18817 1 0 100 0 0 10 0\n   1: 0100007F:1F40 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0 20 4 30 10 -1\n";
        let l = parse_sockets(tcp, "tcp");
        assert_eq!(
            l,
            vec![Listener {
                proto: "tcp",
                address: "0.0.0.0".into(),
                port: 22,
                inode: 18817
            }]
        );
        let v6 = parse_if_inet6(
            "fe8000000000000000fc00fffe000001 04 40 20 80     eth0\nfd000000000000000000000000000002 04 40 00 82     eth0\n",
        );
        assert_eq!(v6["eth0"], vec!["fd00::2/64".to_owned()]);
        let v4 = parse_ip_addr_json(
            r#"[{"ifname":"eth0","addr_info":[{"family":"inet","local":"10.0.0.5","prefixlen":24},{"family":"inet6","local":"fd00::2","prefixlen":64}]}]"#,
        );
        assert_eq!(v4["eth0"], vec!["10.0.0.5/24".to_owned()]);
    }
}
