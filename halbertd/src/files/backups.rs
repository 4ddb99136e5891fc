//! Backups of edited files under `<state>/backups/`: one directory per canonical path, named by
//! the SHA-256 of the path (no encoding of `/` that two paths could share), holding the path
//! itself, each backup's content and its metadata. Ids are `<basename>.bak.<epoch>`, with `-2`,
//! `-3`, … when one second holds several; a restore only ever takes an id from the path's own
//! list, never a name joined into a path.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::host::statefile;

/// Backups kept per path (the oldest go first).
pub const KEEP_PER_PATH: usize = 50;
/// Backups kept in all, across paths.
pub const KEEP_TOTAL: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupMeta {
    pub backup_id: String,
    pub file_path: String,
    /// Unix seconds.
    pub timestamp: i64,
    pub label: String,
    pub size: u64,
    pub sha256: String,
    /// Who made the change that caused the backup.
    pub uid: u32,
}

#[derive(Debug)]
pub struct Backups {
    dir: PathBuf,
}

fn path_key(path: &Path) -> String {
    hex::encode(Sha256::digest(path.as_os_str().as_encoded_bytes()))
}

impl Backups {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        statefile::ensure_private_dir(&dir)?;
        Ok(Self { dir })
    }

    fn dir_of(&self, path: &Path) -> PathBuf {
        self.dir.join(path_key(path))
    }

    /// Stores `content` as a new backup of `path`; returns its metadata. Durable before it
    /// returns: a write that follows may rely on it.
    pub fn add(
        &self,
        path: &Path,
        content: &[u8],
        label: &str,
        uid: u32,
        now: i64,
    ) -> io::Result<BackupMeta> {
        let dir = self.dir_of(path);
        statefile::ensure_private_dir(&dir)?;
        let marker = dir.join("path");
        if !marker.exists() {
            statefile::write_atomic(&marker, path.as_os_str().as_encoded_bytes())?;
        }
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let stem = format!("{base}.bak.{now}");
        let id = (1..)
            .map(|n| {
                if n == 1 {
                    stem.clone()
                } else {
                    format!("{stem}-{n}")
                }
            })
            .find(|id| !dir.join(format!("{id}.json")).exists())
            .unwrap_or(stem);
        let meta = BackupMeta {
            backup_id: id.clone(),
            file_path: path.display().to_string(),
            timestamp: now,
            label: label.to_owned(),
            size: content.len() as u64,
            sha256: hex::encode(Sha256::digest(content)),
            uid,
        };
        statefile::write_atomic(&dir.join(&id), content)?;
        statefile::write_atomic(
            &dir.join(format!("{id}.json")),
            &serde_json::to_vec(&meta).map_err(io::Error::other)?,
        )?;
        self.prune(&dir, KEEP_PER_PATH)?;
        self.prune_total()?;
        Ok(meta)
    }

    /// The backups of `path`, newest first.
    pub fn list(&self, path: &Path) -> io::Result<Vec<BackupMeta>> {
        list_dir(&self.dir_of(path))
    }

    /// The content of backup `id` of `path`: `None` unless `id` is in that path's own list.
    pub fn content(&self, path: &Path, id: &str) -> io::Result<Option<(BackupMeta, Vec<u8>)>> {
        let Some(meta) = self.list(path)?.into_iter().find(|m| m.backup_id == id) else {
            return Ok(None);
        };
        let data = fs::read(self.dir_of(path).join(&meta.backup_id))?;
        Ok(Some((meta, data)))
    }

    fn prune(&self, dir: &Path, keep: usize) -> io::Result<()> {
        for old in list_dir(dir)?.into_iter().skip(keep) {
            remove(dir, &old.backup_id)?;
        }
        Ok(())
    }

    fn prune_total(&self) -> io::Result<()> {
        // Counting names is cheap; the metadata of every backup is read only when the total is
        // over the limit, not on every write.
        let mut count = 0;
        for d in fs::read_dir(&self.dir)?.flatten() {
            if d.path().is_dir() {
                count += fs::read_dir(d.path())?
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count();
            }
        }
        if count <= KEEP_TOTAL {
            return Ok(());
        }
        let mut all: Vec<(PathBuf, BackupMeta)> = Vec::new();
        for d in fs::read_dir(&self.dir)?.flatten() {
            let p = d.path();
            if p.is_dir() {
                all.extend(list_dir(&p)?.into_iter().map(|m| (p.clone(), m)));
            }
        }
        if all.len() <= KEEP_TOTAL {
            return Ok(());
        }
        all.sort_by(|a, b| {
            b.1.timestamp
                .cmp(&a.1.timestamp)
                .then(b.1.backup_id.cmp(&a.1.backup_id))
        });
        for (dir, m) in all.into_iter().skip(KEEP_TOTAL) {
            remove(&dir, &m.backup_id)?;
        }
        Ok(())
    }
}

fn remove(dir: &Path, id: &str) -> io::Result<()> {
    // The metadata goes first: a backup without it is not listed, so a crash in between
    // leaves an unlisted file, never a listed backup without content.
    fs::remove_file(dir.join(format!("{id}.json")))?;
    match fs::remove_file(dir.join(id)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => statefile::sync_dir(dir),
    }
}

fn list_dir(dir: &Path) -> io::Result<Vec<BackupMeta>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out: Vec<BackupMeta> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    // Newest first; within one second, the later suffix first.
    out.sort_by(|a, b| {
        b.timestamp
            .cmp(&a.timestamp)
            .then_with(|| suffix(&b.backup_id).cmp(&suffix(&a.backup_id)))
    });
    Ok(out)
}

fn suffix(id: &str) -> u32 {
    id.rsplit_once('-')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_lists_newest_first_and_retention_holds() {
        let d = tempfile::tempdir().expect("tempdir");
        let b = Backups::open(d.path().join("backups")).expect("open");
        let p = Path::new("/etc/app.conf");
        let a = b.add(p, b"one", "Manual save", 1000, 100).expect("add");
        let c = b.add(p, b"two", "Manual save", 1000, 100).expect("add");
        let e = b.add(p, b"three", "before restore", 0, 101).expect("add");
        assert_eq!(
            (
                a.backup_id.as_str(),
                c.backup_id.as_str(),
                e.backup_id.as_str()
            ),
            ("app.conf.bak.100", "app.conf.bak.100-2", "app.conf.bak.101")
        );
        let ids: Vec<String> = b
            .list(p)
            .expect("list")
            .into_iter()
            .map(|m| m.backup_id)
            .collect();
        assert_eq!(
            ids,
            ["app.conf.bak.101", "app.conf.bak.100-2", "app.conf.bak.100"]
        );
        let (m, data) = b
            .content(p, "app.conf.bak.100-2")
            .expect("read")
            .expect("found");
        assert_eq!((data.as_slice(), m.size), (&b"two"[..], 3));
        // Another path's id, or a name that would walk the tree, is not this path's backup.
        assert!(
            b.content(Path::new("/etc/other"), "app.conf.bak.100")
                .expect("read")
                .is_none()
        );
        assert!(b.content(p, "../path").expect("read").is_none());
        // /a_b and /a/b are different paths with different backups.
        b.add(Path::new("/etc/a_b"), b"x", "Manual save", 0, 1)
            .expect("add");
        assert!(b.list(Path::new("/etc/a/b")).expect("list").is_empty());
        for i in 0..(KEEP_PER_PATH + 5) {
            b.add(
                p,
                format!("v{i}").as_bytes(),
                "Manual save",
                0,
                200 + i as i64,
            )
            .expect("add");
        }
        let kept = b.list(p).expect("list");
        assert_eq!(kept.len(), KEEP_PER_PATH);
        assert_eq!(kept[0].timestamp, 200 + KEEP_PER_PATH as i64 + 4);
    }
}
