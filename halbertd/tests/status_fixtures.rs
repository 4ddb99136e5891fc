//! The status reader against host trees captured from real machines or written in the
//! kernel's formats (`tests/fixtures/hosts/`).

use std::path::PathBuf;

use halbertd::host::HostRoot;
use halbertd::status::StatusReader;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/hosts")
        .join(name)
}

#[test]
fn workstation_tree() {
    let s = StatusReader::new(HostRoot::new(fixture("workstation")))
        .read()
        .expect("read");
    assert_eq!(s.cores, 8);
    assert_eq!(s.load, [1.25, 0.98, 0.75]);
    assert_eq!(s.memory.total_bytes, 32_768_000 * 1024);
    assert_eq!(s.memory.available_bytes, 20_480_000 * 1024);
    assert_eq!(s.memory.used_bytes(), (32_768_000 - 20_480_000) * 1024);
    assert_eq!(
        (s.memory.swap_total_bytes, s.memory.swap_free_bytes),
        (8_388_604 * 1024, 8_000_000 * 1024)
    );
    assert_eq!(
        (s.uptime_seconds, s.boot_time_unix),
        (93_784, 1_764_316_800)
    );
    assert_eq!(s.hostname, "workstation");
    // First sample: busy share since boot = (total - idle - iowait) / total of the cpu line.
    assert_eq!(s.cpu_percent, 1.9);
    // Pseudo filesystems, the snap, NFS and docker's overlay are left out; the second btrfs
    // subvolume of the same device is one filesystem; the escaped space is decoded.
    let mounts: Vec<(&str, &str, &str)> = s
        .filesystems
        .iter()
        .map(|f| (f.mountpoint.as_str(), f.device.as_str(), f.fstype.as_str()))
        .collect();
    assert_eq!(
        mounts,
        vec![
            ("/", "/dev/nvme0n1p2", "ext4"),
            ("/boot/efi", "/dev/nvme0n1p1", "vfat"),
            ("/home", "/dev/nvme0n1p3", "btrfs"),
            ("/mnt/data disk", "/dev/sdb1", "xfs"),
        ]
    );
    assert!(
        s.filesystems
            .iter()
            .all(|f| f.total_bytes > 0 && f.used_bytes <= f.total_bytes)
    );
    let temps: Vec<(&str, &str, &str, f64)> = s
        .temperatures
        .iter()
        .map(|t| (t.source, t.chip.as_str(), t.label.as_str(), t.celsius))
        .collect();
    assert_eq!(
        temps,
        vec![
            ("hwmon", "acpitz", "temp1", 27.8),
            ("hwmon", "nvme", "Composite", 38.85),
            ("hwmon", "nvme", "Sensor 1", 41.85),
            ("hwmon", "coretemp", "Package id 0", 52.0),
            ("hwmon", "coretemp", "Core 0", 49.0),
            ("hwmon", "coretemp", "Core 4", 50.0),
            ("thermal", "acpitz", "thermal_zone0", 27.8),
            ("thermal", "x86_pkg_temp", "thermal_zone1", 52.0),
        ]
    );
}

#[test]
fn firecracker_vm_tree() {
    let s = StatusReader::new(HostRoot::new(fixture("firecracker-vm")))
        .read()
        .expect("read");
    assert_eq!(s.cores, 2);
    assert!(s.memory.total_bytes > 1 << 30);
    assert!(s.temperatures.is_empty(), "this VM has no sensors");
    let fs: Vec<&str> = s
        .filesystems
        .iter()
        .map(|f| f.mountpoint.as_str())
        .collect();
    assert_eq!(
        fs,
        vec!["/"],
        "only the ext4 root holds data; cgroups, devpts and tmpfs do not"
    );
    assert_eq!(s.filesystems[0].fstype, "ext4");
}

#[test]
fn cpu_percent_is_the_delta_between_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = fixture("workstation");
    for f in [
        "proc/stat",
        "proc/meminfo",
        "proc/loadavg",
        "proc/uptime",
        "proc/self/mountinfo",
    ] {
        let to = dir.path().join(f);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(src.join(f), to).expect("copy");
    }
    let r = StatusReader::new(HostRoot::new(dir.path()));
    r.read().expect("first");
    // 1000 more ticks, 250 of them idle: 75 % busy.
    let stat = std::fs::read_to_string(dir.path().join("proc/stat")).expect("read");
    let bumped = stat.replacen(
        "cpu  1432567 2345 456789 98765432",
        "cpu  1433317 2345 456789 98765682",
        1,
    );
    std::fs::write(dir.path().join("proc/stat"), bumped).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(220));
    assert_eq!(r.read().expect("second").cpu_percent, 75.0);
}

#[test]
fn missing_files_are_reported_by_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = StatusReader::new(HostRoot::new(dir.path()))
        .read()
        .expect_err("empty tree");
    assert!(e.to_string().contains("/proc/stat"), "{e}");
}
