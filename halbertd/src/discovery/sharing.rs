//! Sharing: NFS and SMB mounts and exports, FUSE remote mounts (rclone, sshfs, s3fs, gcsfuse),
//! WireGuard peers (`wg show all dump`) and Tailscale peers (`tailscale status --json`).

use std::time::Duration;

use serde_json::Value;

use super::{Item, Kind, ScanCtx, ScanError, Status, slug};
use crate::host::HostRoot;
use crate::host::mounts::parse_mountinfo;

fn mount_items(root: &HostRoot) -> Vec<Item> {
    let Ok(text) = root.read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let Ok(mounts) = parse_mountinfo(&text) else {
        return Vec::new();
    };
    mounts
        .into_iter()
        .filter_map(|m| {
            let (prefix, label, icon) = match m.fstype.as_str() {
                "nfs" | "nfs4" => ("nfs-mount", "NFS", "folder-symlink"),
                "cifs" | "smb3" => ("smb-mount", "SMB", "folder-symlink"),
                "fuse.rclone" => ("rclone", "rclone", "cloud"),
                "fuse.sshfs" => ("sshfs", "SSHFS", "folder-symlink"),
                "fuse.s3fs" => ("s3fs", "S3", "cloud"),
                "fuse.gcsfuse" => ("gcsfuse", "GCS", "cloud"),
                _ => return None,
            };
            let mut it = Item::new(
                Kind::Sharing,
                format!("{prefix}-{}", slug(&m.mountpoint)),
                m.mountpoint.clone(),
                format!("{label} mount {}", m.mountpoint),
            )
            .status(Status::Healthy, "Connected");
            it.icon = icon.into();
            it.source = "mountinfo".into();
            it.description = format!("{} mounted at {}", m.source, m.mountpoint);
            it.set("mountpoint", m.mountpoint);
            it.set("remote", m.source);
            it.set("fstype", m.fstype);
            Some(it)
        })
        .collect()
}

/// `/etc/exports`: (path, clients) per export line, continuation lines joined.
pub fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.replace("\\\n", " ")
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (path, rest) = if let Some(q) = l.strip_prefix('"') {
                q.split_once('"')?
            } else {
                l.split_once(char::is_whitespace).unwrap_or((&l, ""))
            };
            Some((path.to_owned(), rest.trim().to_owned()))
        })
        .collect()
}

fn export_items(root: &HostRoot) -> Vec<Item> {
    let Ok(text) = root.read_to_string("/etc/exports") else {
        return Vec::new();
    };
    // The kernel's own table lists what nfsd really exports right now.
    let live = root
        .read_to_string("/proc/fs/nfsd/exports")
        .unwrap_or_default();
    parse_exports(&text)
        .into_iter()
        .map(|(path, clients)| {
            let active = live
                .lines()
                .any(|l| l.split_whitespace().next() == Some(path.as_str()));
            let mut it = Item::new(
                Kind::Sharing,
                format!("nfs-export-{}", slug(&path)),
                path.clone(),
                format!("NFS export {path}"),
            )
            .status(
                if active {
                    Status::Healthy
                } else {
                    Status::Stopped
                },
                if active { "Active" } else { "Configured" },
            );
            it.icon = "share-2".into();
            it.source = "/etc/exports".into();
            it.set("path", path);
            it.set("clients", clients);
            it
        })
        .collect()
}

/// Shares of smb.conf: (name, path, read only, guest ok), without global/printers/print$.
pub fn parse_smb_conf(text: &str) -> Vec<(String, Option<String>, bool, bool)> {
    let mut out: Vec<(String, Option<String>, bool, bool)> = Vec::new();
    for l in text.lines() {
        let l = l.trim();
        if l.starts_with('#') || l.starts_with(';') || l.is_empty() {
            continue;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            out.push((name.to_owned(), None, true, false));
        } else if let (Some(share), Some((k, v))) = (out.last_mut(), l.split_once('=')) {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            let yes = matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "1");
            match k.as_str() {
                "path" => share.1 = Some(v.to_owned()),
                "read only" => share.2 = yes,
                "writable" | "writeable" | "write ok" => share.2 = !yes,
                "guest ok" | "public" => share.3 = yes,
                _ => {}
            }
        }
    }
    out.retain(|s| {
        !["global", "printers", "print$", "homes"].contains(&s.0.to_ascii_lowercase().as_str())
    });
    out
}

async fn samba_items(ctx: &ScanCtx) -> Vec<Item> {
    let Ok(text) = ctx.root.read_to_string("/etc/samba/smb.conf") else {
        return Vec::new();
    };
    let smbd = match &ctx.systemd {
        Some(sd) => sd.active_state("smbd.service").await,
        None => None,
    };
    let running = smbd.as_deref() == Some("active");
    parse_smb_conf(&text)
        .into_iter()
        .map(|(name, path, ro, guest)| {
            let mut it = Item::new(
                Kind::Sharing,
                format!("smb-export-{}", slug(&name)),
                name.clone(),
                format!("SMB share {name}"),
            )
            .status(
                if running {
                    Status::Healthy
                } else {
                    Status::Stopped
                },
                if running { "Active" } else { "Configured" },
            );
            it.icon = "share-2".into();
            it.source = "/etc/samba/smb.conf".into();
            it.set("path", path);
            it.set("read_only", ro);
            it.set("guest_ok", guest);
            it.set("smbd_state", smbd.clone());
            it
        })
        .collect()
}

/// WireGuard peers from `wg show all dump`: (interface, peer key, endpoint, latest handshake).
pub fn parse_wg_dump(text: &str) -> Vec<(String, String, String, i64)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            // Interface lines have 5 fields, peer lines 9.
            (f.len() == 9).then(|| {
                (
                    f[0].to_owned(),
                    f[1].to_owned(),
                    f[3].to_owned(),
                    f[5].parse().unwrap_or(0),
                )
            })
        })
        .collect()
}

async fn wireguard_items(ctx: &ScanCtx, now: i64) -> Vec<Item> {
    let Ok(o) = ctx
        .tools
        .run(
            &["wg", "show", "all", "dump"],
            ctx.tool_limit(Duration::from_secs(5)),
        )
        .await
    else {
        return Vec::new();
    };
    if o.code != Some(0) {
        return Vec::new();
    }
    let peers = parse_wg_dump(&o.stdout);
    let mut ifaces: Vec<String> = peers.iter().map(|p| p.0.clone()).collect();
    ifaces.dedup();
    ifaces
        .into_iter()
        .map(|ifname| {
            let mine: Vec<&(String, String, String, i64)> =
                peers.iter().filter(|p| p.0 == ifname).collect();
            // A handshake in the last three minutes means the tunnel is up.
            let live = mine.iter().filter(|p| p.3 > 0 && now - p.3 < 180).count();
            let mut it = Item::new(
                Kind::Sharing,
                format!("wg-{}", slug(&ifname)),
                ifname.clone(),
                format!("WireGuard {ifname}"),
            )
            .status(
                if live > 0 {
                    Status::Healthy
                } else {
                    Status::Stopped
                },
                if live > 0 { "Connected" } else { "Configured" },
            );
            it.icon = "shield".into();
            it.source = "wg".into();
            it.set("interface", ifname.clone());
            it.set("peers", mine.len());
            it.set("connected_peers", live);
            it.set(
                "endpoints",
                mine.iter()
                    .map(|p| p.2.clone())
                    .filter(|e| e != "(none)")
                    .collect::<Vec<_>>(),
            );
            it
        })
        .collect()
}

async fn tailscale_items(ctx: &ScanCtx) -> Vec<Item> {
    let Ok(o) = ctx
        .tools
        .run(
            &["tailscale", "status", "--json"],
            ctx.tool_limit(Duration::from_secs(5)),
        )
        .await
    else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&o.stdout).unwrap_or(Value::Null);
    let Some(peers) = v["Peer"].as_object() else {
        return Vec::new();
    };
    let mut items: Vec<Item> = peers
        .values()
        .map(|p| {
            let host = p["HostName"].as_str().unwrap_or("peer").to_owned();
            let online = p["Online"].as_bool().unwrap_or(false);
            let mut it = Item::new(
                Kind::Sharing,
                format!("tailscale-{}", slug(&host)),
                host.clone(),
                format!("Tailscale peer {host}"),
            )
            .status(
                if online {
                    Status::Healthy
                } else {
                    Status::Stopped
                },
                if online { "Online" } else { "Offline" },
            );
            it.icon = "network".into();
            it.source = "tailscale".into();
            it.set("dns_name", p["DNSName"].clone());
            it.set("os", p["OS"].clone());
            it.set("addresses", p["TailscaleIPs"].clone());
            it
        })
        .collect();
    items.sort_by(|a, b| a.id.cmp(&b.id));
    items
}

pub async fn scan(ctx: &ScanCtx) -> Result<Vec<Item>, ScanError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut items = mount_items(&ctx.root);
    items.extend(export_items(&ctx.root));
    items.extend(samba_items(ctx).await);
    items.extend(wireguard_items(ctx, now).await);
    items.extend(tailscale_items(ctx).await);
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_smb_and_wireguard() {
        let e = parse_exports(
            "# comment\n/srv/media 192.168.1.0/24(ro,sync) \\\n   10.0.0.2(rw)\n\"/srv/with space\" *(ro)\n",
        );
        assert_eq!(e[0].0, "/srv/media");
        assert!(e[0].1.contains("10.0.0.2(rw)"));
        assert_eq!(e[1].0, "/srv/with space");
        let s = parse_smb_conf(
            "[global]\n workgroup = WG\n[media]\n path = /srv/media\n read only = no\n guest ok = yes\n[printers]\n path = /var/spool\n",
        );
        assert_eq!(
            s,
            vec![("media".into(), Some("/srv/media".into()), false, true)]
        );
        let wg = parse_wg_dump(
            "wg0\tPRIV\tPUB\t51820\toff\nwg0\tPEERKEY\t(none)\t203.0.113.5:51820\t10.8.0.2/32\t1764316000\t100\t200\t25\n",
        );
        assert_eq!(
            wg,
            vec![(
                "wg0".into(),
                "PEERKEY".into(),
                "203.0.113.5:51820".into(),
                1764316000
            )]
        );
    }
}
