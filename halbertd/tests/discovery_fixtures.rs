//! Every discovery scanner against two host trees: `workstation` (NVMe + HDDs + degraded md
//! RAID + btrfs, bridge/bond/WireGuard/Tailscale, two NVIDIA GPUs and an Intel iGPU, NFS/SMB/
//! rclone, sshd/fail2ban/AppArmor, cron/borgmatic/rsnapshot/snapper) written in the kernel's and
//! the tools' formats, and `firecracker-vm` captured from a real VM (tests/fixtures/capture_host.py).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fixture;
use halbertd::discovery::{self, Item, Kind, ScanCtx, Status};
use halbertd::exec::{RecordedTools, ToolError, ToolFuture, ToolOutput, Tools};
use halbertd::host::HostRoot;
use serde_json::Value;

fn ctx(tree: &str) -> ScanCtx {
    let root = fixture(tree);
    ScanCtx::new(
        HostRoot::new(&root),
        Arc::new(RecordedTools {
            dir: root.join("tools"),
        }),
        None,
    )
}

async fn scan(tree: &str, kind: Kind) -> Vec<Item> {
    let items = discovery::scan(kind, &ctx(tree))
        .await
        .unwrap_or_else(|e| panic!("{kind:?} on {tree}: {e}"));
    discovery::check_unique(&items).expect("unique ids");
    items
}

fn find<'a>(items: &'a [Item], id: &str) -> &'a Item {
    items.iter().find(|i| i.id == id).unwrap_or_else(|| {
        panic!(
            "no {id} in {:?}",
            items.iter().map(|i| &i.id).collect::<Vec<_>>()
        )
    })
}

fn ids(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

#[tokio::test]
async fn storage_workstation() {
    let items = scan("workstation", Kind::Storage).await;
    assert_eq!(
        ids(&items),
        [
            "disk-nvme0n1",
            "disk-sda",
            "disk-sdb",
            "disk-sdc",
            "md-md0",
            "bcache-bcache0",
            "bcachefs-0f1e2d3c",
            "zpool-tank",
            "zpool-backup",
            "fs-root",
            "fs-boot-efi",
            "fs-home",
            "fs-mnt-data-disk"
        ]
    );
    let nvme = find(&items, "disk-nvme0n1");
    assert_eq!(
        (
            nvme.status,
            nvme.status_detail.as_str(),
            nvme.title.as_str()
        ),
        (Status::Healthy, "Healthy", "Samsung SSD 980 PRO 1TB")
    );
    assert_eq!(
        (
            &nvme.data["type"],
            &nvme.data["transport"],
            &nvme.data["smart_status"]
        ),
        (
            &Value::from("NVMe"),
            &Value::from("nvme"),
            &Value::from("PASSED")
        )
    );
    assert_eq!(nvme.data["size_bytes"], 1_953_525_168u64 * 512);
    let sda = find(&items, "disk-sda");
    assert_eq!(
        (
            sda.status,
            sda.status_detail.as_str(),
            &sda.data["type"],
            &sda.data["transport"]
        ),
        (
            Status::Critical,
            "SMART Failed",
            &Value::from("HDD"),
            &Value::from("sata")
        )
    );
    assert_eq!(
        find(&items, "disk-sdb").status,
        Status::Warning,
        "prefail attributes past threshold"
    );
    let usb = find(&items, "disk-sdc");
    assert_eq!(
        (
            usb.status,
            &usb.data["smart_status"],
            &usb.data["transport"]
        ),
        (
            Status::Unknown,
            &Value::from("UNKNOWN"),
            &Value::from("usb")
        ),
        "no verdict is never 'healthy'"
    );
    let md = find(&items, "md-md0");
    assert_eq!(
        (md.status, md.status_detail.as_str()),
        (Status::Critical, "Degraded [U_]")
    );
    assert_eq!(md.data["members"], serde_json::json!(["sdb1", "sda1"]));
    let home = find(&items, "fs-home");
    assert_eq!(
        (&home.data["fstype"], &home.data["parent_disk"]),
        (&Value::from("btrfs"), &Value::from("nvme0n1"))
    );
    assert_eq!(home.data["btrfs_devices"], serde_json::json!(["nvme0n1p3"]));
    assert_eq!(
        find(&items, "fs-mnt-data-disk").data["mountpoint"],
        "/mnt/data disk"
    );
    let bc = find(&items, "bcache-bcache0");
    assert_eq!(
        (
            bc.status_detail.as_str(),
            &bc.data["cache_mode"],
            &bc.data["backing_device"]
        ),
        (
            "Cached (clean)",
            &Value::from("writeback"),
            &Value::from("sdb1")
        )
    );
    let bfs = find(&items, "bcachefs-0f1e2d3c");
    assert_eq!(
        (bfs.status, &bfs.data["devices"], &bfs.data["labels"]),
        (
            Status::Warning,
            &serde_json::json!(["sda", "nvme0n1p3"]),
            &serde_json::json!(["hdd.hdd1", "ssd.ssd1"])
        )
    );
    assert_eq!(
        (
            find(&items, "zpool-tank").status,
            find(&items, "zpool-backup").status
        ),
        (Status::Healthy, Status::Warning)
    );
    assert_eq!(
        find(&items, "zpool-tank").data["used_bytes"],
        1_288_490_188_800u64
    );
}

#[tokio::test]
async fn storage_firecracker_vm() {
    let items = scan("firecracker-vm", Kind::Storage).await;
    assert_eq!(ids(&items), ["disk-vda", "fs-root"]);
    let vda = find(&items, "disk-vda");
    assert_eq!(
        (vda.status, &vda.data["smart_status"]),
        (Status::Unknown, &Value::from("N/A")),
        "smartctl is not installed there"
    );
    assert_eq!(vda.data["transport"], "virtio");
}

/// A `smartctl` that hangs: a real process, killed by the tool timeout.
#[derive(Debug)]
struct HangingSmartctl(RecordedTools);

impl Tools for HangingSmartctl {
    fn run<'a>(&'a self, argv: &'a [&'a str], timeout: Duration) -> ToolFuture<'a> {
        Box::pin(async move {
            if argv[0] != "smartctl" {
                return self.0.run(argv, timeout).await;
            }
            let limits = halbertd::exec::Limits {
                timeout,
                ..Default::default()
            };
            match halbertd::exec::run(&["sleep", "30"], limits).await {
                Err(e @ halbertd::exec::ExecError::Timeout { .. }) => {
                    Err(ToolError::Timeout(e.to_string()))
                }
                Err(e) => Err(ToolError::Failed(e.to_string())),
                Ok(o) => Ok(ToolOutput {
                    code: o.code,
                    stdout: o.stdout_text(),
                }),
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_tool_hits_its_timeout_and_the_other_scanners_are_intact() {
    let root = fixture("workstation");
    let dir = tempfile::tempdir().expect("tempdir");
    let tools = Arc::new(HangingSmartctl(RecordedTools {
        dir: root.join("tools"),
    }));
    let engine = Arc::new(
        halbertd::engine::Engine::open_with_tools(dir.path(), HostRoot::new(&root), tools)
            .expect("engine"),
    );
    let mut ctx = ScanCtx::new(
        HostRoot::new(&root),
        Arc::new(HangingSmartctl(RecordedTools {
            dir: root.join("tools"),
        })),
        None,
    );
    ctx.tool_timeout = Some(Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    let items = discovery::scan(Kind::Storage, &ctx)
        .await
        .expect("storage scan survives");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    let nvme = find(&items, "disk-nvme0n1");
    assert_eq!(nvme.status, Status::Unknown);
    assert!(
        nvme.status_detail.contains("timed out"),
        "{}",
        nvme.status_detail
    );
    // The filesystems' usage is measured with statvfs on the machine running the test (the
    // fixture holds no sizes), so their status follows that machine's disk: this test once
    // failed on a CI machine whose disk was 86% full. What must hold is that they were scanned
    // as usual, with their parsed data, while smartctl hung.
    let home = find(&items, "fs-home");
    assert!(
        home.status != Status::Unknown && home.status_detail.ends_with("% Used"),
        "the rest of the scan is intact: {:?} {}",
        home.status,
        home.status_detail
    );
    assert_eq!(home.data["fstype"], "btrfs");
    drop(engine);
}

#[tokio::test]
async fn network_workstation() {
    let items = scan("workstation", Kind::Network).await;
    let br = find(&items, "iface-br0");
    assert_eq!(
        (br.status, br.status_detail.as_str(), &br.data["type"]),
        (Status::Healthy, "Connected", &Value::from("bridge"))
    );
    assert_eq!(br.data["ipv4"], serde_json::json!(["192.168.1.20/24"]));
    assert_eq!(
        br.data["ipv6"],
        serde_json::json!(["2a01:2e0:10::20/64"]),
        "link-local addresses are left out"
    );
    assert_eq!(br.data["config_path"], "/etc/systemd/network/10-br0.netdev");
    let port = find(&items, "iface-enp4s0");
    assert_eq!(
        (
            port.status_detail.as_str(),
            &port.data["master"],
            &port.data["type"]
        ),
        (
            "Bridged to br0",
            &Value::from("br0"),
            &Value::from("ethernet")
        )
    );
    assert_eq!(
        port.data["config_path"],
        "/etc/systemd/network/20-enp4s0.network"
    );
    let bond = find(&items, "iface-bond0");
    assert_eq!(
        (bond.status, bond.status_detail.as_str(), &bond.data["type"]),
        (Status::Warning, "Up (No IP)", &Value::from("bond"))
    );
    assert_eq!(
        bond.data["bond_slaves"],
        serde_json::json!(["enp5s0", "enp6s0"])
    );
    assert_eq!(bond.data["config_path"], "/etc/netplan/01-bond.yaml");
    let wifi = find(&items, "iface-wlp2s0");
    assert_eq!(
        (wifi.status, &wifi.data["type"], &wifi.data["config_path"]),
        (
            Status::Stopped,
            &Value::from("wifi"),
            &Value::from("/etc/NetworkManager/system-connections/Home WiFi.nmconnection")
        )
    );
    assert_eq!(find(&items, "iface-docker0").data["type"], "docker");
    assert_eq!(find(&items, "iface-wg0").data["type"], "wireguard");
    assert_eq!(find(&items, "iface-tailscale0").data["type"], "tailscale");
    assert_eq!(find(&items, "firewall-ufw").status_detail, "Active");
    assert_eq!(
        find(&items, "firewall-nftables").status_detail,
        "2 rules in 1 tables"
    );
    let ports = find(&items, "listening-ports");
    let p: Vec<(String, u64, Value)> = ports.data["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|e| {
            (
                e["protocol"].as_str().unwrap_or("").to_owned(),
                e["port"].as_u64().unwrap_or(0),
                e["process"].clone(),
            )
        })
        .collect();
    assert_eq!(
        p,
        vec![
            ("tcp".into(), 22, Value::from("sshd")),
            ("tcp".into(), 445, Value::from("smbd")),
            ("tcp".into(), 5355, Value::Null),
            ("udp".into(), 5353, Value::Null),
            ("udp".into(), 51820, Value::Null),
        ],
        "one entry per port, the established connection left out"
    );
    assert_eq!(
        ports.data["ports"][0]["addresses"],
        serde_json::json!(["0.0.0.0", "::"])
    );
    assert_eq!(ports.data["ports"][0]["service"], "SSH");
}

#[tokio::test]
async fn network_firecracker_vm() {
    let items = scan("firecracker-vm", Kind::Network).await;
    let eth0 = find(&items, "iface-eth0");
    assert_eq!(
        (eth0.status, &eth0.data["type"], &eth0.data["virtual"]),
        (
            Status::Healthy,
            &Value::from("ethernet"),
            &Value::Bool(false)
        )
    );
    assert!(!eth0.data["ipv4"].as_array().expect("ipv4").is_empty());
    assert!(
        items.iter().all(|i| i.id != "iface-lo"),
        "loopback is not listed"
    );
    assert!(items.iter().any(|i| i.id == "listening-ports"));
}

#[tokio::test]
async fn gpu_workstation() {
    let items = scan("workstation", Kind::Gpu).await;
    assert_eq!(
        ids(&items),
        [
            "gpu-0000-00-02-0",
            "gpu-0000-01-00-0",
            "gpu-0000-02-00-0",
            "gpu-0000-03-00-0"
        ],
        "the USB controller is not a GPU"
    );
    let igpu = find(&items, "gpu-0000-00-02-0");
    assert_eq!(
        (
            igpu.title.as_str(),
            &igpu.data["role"],
            &igpu.data["driver_type"]
        ),
        (
            "AlderLake-S GT1",
            &Value::from("display"),
            &Value::from("i915")
        )
    );
    // Rows of nvidia-smi come in another order than sysfs: matched by bus id, not position.
    let rtx = find(&items, "gpu-0000-01-00-0");
    assert_eq!(
        (
            rtx.title.as_str(),
            &rtx.data["memory_total_mb"],
            &rtx.data["utilization_percent"]
        ),
        (
            "NVIDIA GeForce RTX 3090",
            &Value::from(24576.0),
            &Value::from(97.0)
        )
    );
    assert_eq!(
        (rtx.status, rtx.status_detail.as_str()),
        (Status::Warning, "Hot (92 °C)")
    );
    let a4000 = find(&items, "gpu-0000-02-00-0");
    assert_eq!(
        (
            a4000.title.as_str(),
            &a4000.data["role"],
            &a4000.data["vram_mb"]
        ),
        (
            "NVIDIA RTX A4000",
            &Value::from("compute"),
            &Value::from(16376.0)
        )
    );
    let amd = find(&items, "gpu-0000-03-00-0");
    assert_eq!(
        (
            amd.title.as_str(),
            &amd.data["vendor"],
            &amd.data["vram_mb"],
            &amd.data["utilization_percent"]
        ),
        (
            "Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]",
            &Value::from("AMD"),
            &Value::from(16368.0),
            &Value::from(12.0)
        )
    );
}

#[tokio::test]
async fn gpu_firecracker_vm() {
    assert!(
        scan("firecracker-vm", Kind::Gpu).await.is_empty(),
        "this VM has no PCI display device"
    );
}

#[tokio::test]
async fn sharing_workstation() {
    let items = scan("workstation", Kind::Sharing).await;
    assert_eq!(
        ids(&items),
        [
            "nfs-mount-mnt-nas",
            "smb-mount-mnt-office",
            "rclone-mnt-gdrive",
            "nfs-export-srv-media",
            "nfs-export-srv-backup",
            "smb-export-media",
            "smb-export-projects",
            "wg-wg0",
            "tailscale-nas",
            "tailscale-pixel-8"
        ]
    );
    assert_eq!(
        find(&items, "nfs-mount-mnt-nas").data["remote"],
        "nas.lan:/export/media"
    );
    assert_eq!(
        find(&items, "nfs-export-srv-media").status_detail,
        "Active",
        "listed by nfsd"
    );
    assert_eq!(
        find(&items, "nfs-export-srv-backup").status_detail,
        "Configured"
    );
    let smb = find(&items, "smb-export-projects");
    assert_eq!(
        (&smb.data["path"], &smb.data["read_only"]),
        (&Value::from("/srv/projects"), &Value::Bool(false))
    );
    let wg = find(&items, "wg-wg0");
    assert_eq!(
        (&wg.data["peers"], &wg.data["connected_peers"]),
        (&Value::from(2), &Value::from(0)),
        "handshakes long ago"
    );
    assert_eq!(find(&items, "tailscale-pixel-8").status_detail, "Offline");
}

#[tokio::test]
async fn sharing_firecracker_vm() {
    assert!(scan("firecracker-vm", Kind::Sharing).await.is_empty());
}

#[tokio::test]
async fn security_workstation() {
    let items = scan("workstation", Kind::Security).await;
    assert_eq!(
        ids(&items),
        [
            "ssh-config",
            "sudo-users",
            "auto-updates",
            "fail2ban",
            "apparmor"
        ]
    );
    let ssh = find(&items, "ssh-config");
    // The drop-in wins over the default and over the Match block that follows.
    assert_eq!(
        (
            ssh.status,
            ssh.status_detail.as_str(),
            &ssh.data["password_authentication"],
            &ssh.data["port"]
        ),
        (
            Status::Warning,
            "1 issue(s)",
            &Value::from("yes"),
            &Value::from("2222")
        )
    );
    assert_eq!(ssh.data["permit_root_login"], "prohibit-password");
    let sudo = find(&items, "sudo-users");
    assert_eq!(
        (sudo.status, &sudo.data["users"]),
        (
            Status::Warning,
            &serde_json::json!(["alice", "bob", "carol", "dave"])
        )
    );
    assert_eq!(find(&items, "auto-updates").status_detail, "Partial");
    assert_eq!(
        find(&items, "fail2ban").data["jails"],
        serde_json::json!(["nginx-http-auth", "sshd"])
    );
    assert_eq!(find(&items, "apparmor").data["profiles"], 3);
}

#[tokio::test]
async fn security_firecracker_vm() {
    let items = scan("firecracker-vm", Kind::Security).await;
    assert_eq!(
        ids(&items),
        ["sudo-users", "auto-updates"],
        "no sshd, fail2ban or MAC there"
    );
    assert_eq!(find(&items, "auto-updates").status_detail, "Disabled");
}

#[tokio::test]
async fn backup_workstation() {
    let items = scan("workstation", Kind::Backup).await;
    assert_eq!(
        ids(&items),
        [
            "backup-cron-crontab-4",
            "backup-cron-borgmatic-2",
            "backup-cron-alice-2",
            "backup-cron-dpkg-6",
            "backup-config-borgmatic",
            "backup-config-snapper",
            "backup-config-rsnapshot"
        ]
    );
    let rsync = find(&items, "backup-cron-crontab-4");
    assert_eq!(
        (
            rsync.title.as_str(),
            &rsync.data["schedule"],
            &rsync.data["source_path"]
        ),
        (
            "rsync Backup: crontab",
            &Value::from("30 2 * * *"),
            &Value::from("/home/")
        )
    );
    let restic = find(&items, "backup-cron-alice-2");
    assert_eq!(
        (&restic.data["user"], &restic.data["schedule"]),
        (&Value::from("alice"), &Value::from("0 */6 * * *"))
    );
    assert_eq!(
        find(&items, "backup-cron-borgmatic-2").data["tool"],
        "borgmatic"
    );
    assert_eq!(
        find(&items, "backup-config-snapper").data["configs"],
        serde_json::json!(["home", "root"])
    );
    assert_eq!(
        find(&items, "backup-config-rsnapshot").data["destination"],
        "/mnt/data disk/snapshots/"
    );
}

#[tokio::test]
async fn backup_firecracker_vm() {
    let items = scan("firecracker-vm", Kind::Backup).await;
    assert_eq!(
        ids(&items),
        ["backup-cron-dpkg-8"],
        "only dpkg's own database backup"
    );
}

#[tokio::test]
async fn containers_without_a_runtime_are_an_empty_list() {
    assert!(scan("workstation", Kind::Container).await.is_empty());
}
