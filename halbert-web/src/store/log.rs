//! A bounded, append-only list of records in one sled tree: the terminal history, the
//! recovery actions and the alerts. Keys are sled's monotonic ids, big-endian, so the tree's
//! order is the order of appends; past `cap` records the oldest go. Every append is flushed
//! before it returns, so an answer never names a record a crash then loses.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("database: {0}")]
    Store(#[from] sled::Error),
    #[error("a stored record is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

#[derive(Debug, Clone)]
pub struct Log<T> {
    db: sled::Db,
    tree: sled::Tree,
    cap: usize,
    _records: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Log<T> {
    pub fn open(db: &sled::Db, name: &str, cap: usize) -> Result<Self, LogError> {
        Ok(Self {
            db: db.clone(),
            tree: db.open_tree(name)?,
            cap: cap.max(1),
            _records: PhantomData,
        })
    }

    pub fn append(&self, record: &T) -> Result<(), LogError> {
        let id = self.db.generate_id()?;
        self.tree
            .insert(id.to_be_bytes(), serde_json::to_vec(record)?)?;
        // Trimming reads only the keys beyond the cap, from the old end.
        let excess = self.tree.len().saturating_sub(self.cap);
        for k in self.tree.iter().keys().take(excess) {
            self.tree.remove(k?)?;
        }
        self.tree.flush()?;
        Ok(())
    }

    /// At most `n` records, newest first.
    pub fn newest(&self, n: usize) -> Result<Vec<T>, LogError> {
        self.tree
            .iter()
            .values()
            .rev()
            .take(n)
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    /// The newest records for as long as `keep` holds, newest first: with records appended
    /// in time order, "the ones since t" reads only those.
    pub fn newest_while(&self, mut keep: impl FnMut(&T) -> bool) -> Result<Vec<T>, LogError> {
        let mut out = Vec::new();
        for v in self.tree.iter().values().rev() {
            let r: T = serde_json::from_slice(&v?)?;
            if !keep(&r) {
                break;
            }
            out.push(r);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_cap_records_across_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = sled::open(dir.path().join("db")).expect("db");
            let log: Log<u32> = Log::open(&db, "t", 3).expect("log");
            for i in 0..5 {
                log.append(&i).expect("append");
            }
            assert_eq!(log.newest(10).expect("read"), vec![4, 3, 2]);
            assert_eq!(log.newest(2).expect("read"), vec![4, 3]);
        }
        // sled's flusher may hold the file lock a moment after the first handle is dropped.
        let db =
            crate::store::open_locked(&dir.path().join("db"), std::time::Duration::from_secs(5))
                .expect("reopen");
        let log: Log<u32> = Log::open(&db, "t", 3).expect("log");
        log.append(&5).expect("append");
        assert_eq!(log.newest(10).expect("read"), vec![5, 4, 3]);
        assert_eq!(log.newest_while(|&r| r >= 4).expect("read"), vec![5, 4]);
    }
}
