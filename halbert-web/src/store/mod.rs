//! The per-user sled database in the state dir, with a format version so later releases can
//! migrate it; the stores kept in it (`conversations`, `rules`, and the bounded `log`s of the
//! terminal history and of recovery).

pub mod conversations;
pub mod log;
pub mod rules;

use std::path::Path;
use std::time::{Duration, Instant};

/// sled's page cache. Its default (1 GiB) lets the cache, and so the process, grow with the
/// data; conversations and memory are read a page at a time, so a small cache costs little.
pub const CACHE_BYTES: u64 = 16 << 20;

/// Bumped whenever the on-disk layout changes.
pub const FORMAT_VERSION: u32 = 1;
const VERSION_KEY: &[u8] = b"meta/format_version";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the database {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error(
        "the database {path} has format {found}; this halbert-web understands up to {FORMAT_VERSION}"
    )]
    TooNew { path: String, found: u32 },
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
}

pub fn open(dir: &Path) -> Result<sled::Db, StoreError> {
    let path = dir.join("db");
    let db = open_locked(&path, Duration::from_secs(5)).map_err(|source| StoreError::Open {
        path: path.display().to_string(),
        source,
    })?;
    match db.get(VERSION_KEY)? {
        Some(v) => {
            let found = v
                .as_ref()
                .try_into()
                .map(u32::from_be_bytes)
                .unwrap_or(u32::MAX);
            if found > FORMAT_VERSION {
                return Err(StoreError::TooNew {
                    path: path.display().to_string(),
                    found,
                });
            }
        }
        None => {
            db.insert(VERSION_KEY, &FORMAT_VERSION.to_be_bytes())?;
            db.flush()?;
        }
    }
    Ok(db)
}

/// Opens the database with the bounded cache. A database that was just closed can still be
/// locked for a moment by sled's flusher thread of the old handle (it holds the file lock
/// until it exits); waiting up to `patience` for it is what a restart needs, and a database
/// really in use by another process is still refused after that.
pub fn open_locked(path: &Path, patience: Duration) -> Result<sled::Db, sled::Error> {
    let t0 = Instant::now();
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
        {
            // sled reports it as `Other` with the OS error (EWOULDBLOCK) in its text.
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && t0.elapsed() < patience =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: reopening right after closing raced sled's flusher thread, which still held
    /// the file lock (`could not acquire lock … WouldBlock`, seen as a flaky test in CI).
    #[test]
    fn reopening_at_once_waits_for_the_old_handle() {
        const ROUNDS: u32 = 100;
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..ROUNDS {
            let db = open(dir.path()).expect("open");
            db.insert(b"n", &i.to_be_bytes()).expect("insert");
            db.flush().expect("flush");
            drop(db);
        }
        let db = open(dir.path()).expect("open");
        let n = db
            .get(b"n")
            .expect("get")
            .map(|v| u32::from_be_bytes(v.as_ref().try_into().expect("4 bytes")));
        assert_eq!(n, Some(ROUNDS - 1));
    }

    #[test]
    fn a_database_in_use_is_still_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _held = open(dir.path()).expect("open");
        // Another process holds it: sled's lock is per file description, so a second open in
        // this process is refused the same way.
        let e = open_locked(&dir.path().join("db"), Duration::from_millis(200));
        assert!(e.is_err(), "a second handle must not be handed out");
    }
}
