//! Where ingested events live, in the per-user sled database: the raw events by source, keyed
//! by their own time and identity (so a replayed event lands on itself: no duplicates), the
//! journal cursor saved only after what came before it is durable, a time index of the memory
//! entries made from events (so retention removes them by range), and whether the user wants
//! ingestion running.

use std::collections::BTreeMap;

use crate::memory::{Memory, MemoryError, Scalar};

use super::pipeline::{Event, index_text};

const RAW_PREFIX: &str = "ingest/raw/";
const STATE: &str = "ingest/state";
const INDEX_TIMES: &str = "ingest/index-times";
const CURSOR_KEY: &[u8] = b"journald.cursor";
const WANTED_KEY: &[u8] = b"wanted";

#[derive(Debug, thiserror::Error)]
pub enum IngestStoreError {
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    #[error("event: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// FNV-1a, 64 bits: a stable identity for a cursor or a sensor (not a defence against anyone;
/// the events come from this machine's own journal).
pub fn fnv64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What names an event: the journal cursor, else its time, subsystem, type and text.
fn identity(e: &Event) -> String {
    e.cursor
        .clone()
        .unwrap_or_else(|| format!("{}|{}|{}|{}", e.ts_us, e.subsystem, e.kind, e.message))
}

/// The raw store's key: the event's time (big-endian, so a range is a span of time), then its
/// identity's hash.
pub fn raw_key(e: &Event) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&e.ts_us.to_be_bytes());
    k[8..].copy_from_slice(&fnv64(&identity(e)).to_be_bytes());
    k
}

/// The memory entry's id of an event.
pub fn memory_id(e: &Event) -> String {
    format!("{}:{:016x}", e.source, fnv64(&identity(e)))
}

/// Memory's collection for a source.
pub fn collection(source: &str) -> &'static str {
    match source {
        "hwmon" => "self_hwmon",
        _ => "self_journald",
    }
}

#[derive(Debug, Clone)]
pub struct IngestStore {
    db: sled::Db,
    state: sled::Tree,
    index_times: sled::Tree,
}

impl IngestStore {
    pub fn open(db: &sled::Db) -> Result<Self, IngestStoreError> {
        Ok(Self {
            db: db.clone(),
            state: db.open_tree(STATE)?,
            index_times: db.open_tree(INDEX_TIMES)?,
        })
    }

    fn raw(&self, source: &str) -> Result<sled::Tree, IngestStoreError> {
        Ok(self.db.open_tree(format!("{RAW_PREFIX}{source}"))?)
    }

    /// Stores `e` unless it is there already; false when it was (a replay after a crash).
    pub fn put_raw(&self, e: &Event) -> Result<bool, IngestStoreError> {
        let value = serde_json::to_vec(e)?;
        let fresh = self
            .raw(&e.source)?
            .compare_and_swap(raw_key(e), None::<&[u8]>, Some(value))?
            .is_ok();
        Ok(fresh)
    }

    /// Raw events of `source` from `from_us` on, oldest first, at most `limit` (the tests
    /// read the store back with it).
    #[cfg(test)]
    pub fn raw_events(
        &self,
        source: &str,
        from_us: i64,
        limit: usize,
    ) -> Result<Vec<Event>, IngestStoreError> {
        let mut out = Vec::new();
        for kv in self.raw(source)?.range(from_us.to_be_bytes()..).take(limit) {
            let (_, v) = kv?;
            out.push(serde_json::from_slice(&v)?);
        }
        Ok(out)
    }

    #[cfg(test)]
    pub fn raw_count(&self, source: &str) -> Result<usize, IngestStoreError> {
        Ok(self.raw(source)?.len())
    }

    /// Adds (or replaces: a replay) the memory entry of `e`, and notes its time for retention.
    pub fn index(&self, memory: &Memory, e: &Event) -> Result<String, IngestStoreError> {
        let id = memory_id(e);
        let mut meta = BTreeMap::from([
            ("source".to_owned(), Scalar::Text(e.source.clone())),
            ("host".to_owned(), Scalar::Text(e.host.clone())),
            ("ts".to_owned(), Scalar::Text(e.ts.clone())),
            ("type".to_owned(), Scalar::Text(e.kind.clone())),
            ("subsystem".to_owned(), Scalar::Text(e.subsystem.clone())),
            ("severity".to_owned(), Scalar::Text(e.severity.clone())),
            ("tags".to_owned(), Scalar::Text(e.tags.join(","))),
        ]);
        if let Some(c) = &e.cursor {
            meta.insert("cursor".to_owned(), Scalar::Text(c.clone()));
        }
        let coll = collection(&e.source);
        memory.put(coll, &id, &index_text(e), meta)?;
        let mut k = e.ts_us.to_be_bytes().to_vec();
        k.extend_from_slice(coll.as_bytes());
        k.push(0);
        k.extend_from_slice(id.as_bytes());
        self.index_times.insert(k, &[])?;
        Ok(id)
    }

    /// Removes raw events older than `raw_before_us` and memory entries made from events older
    /// than `index_before_us`; returns how many of each.
    pub fn prune(
        &self,
        memory: &Memory,
        raw_before_us: i64,
        index_before_us: i64,
    ) -> Result<(usize, usize), IngestStoreError> {
        let mut raw = 0;
        for source in ["journald", "hwmon"] {
            let t = self.raw(source)?;
            let old: Vec<_> = t
                .range(..raw_before_us.to_be_bytes())
                .keys()
                .collect::<Result<_, _>>()?;
            for k in old {
                t.remove(k)?;
                raw += 1;
            }
        }
        let old: Vec<_> = self
            .index_times
            .range(..index_before_us.to_be_bytes())
            .keys()
            .collect::<Result<_, _>>()?;
        let mut indexed = 0;
        for k in old {
            if let Some((coll, id)) = k
                .get(8..)
                .and_then(|rest| std::str::from_utf8(rest).ok())
                .and_then(|rest| rest.split_once('\0'))
            {
                indexed += memory.delete(coll, &[id.to_owned()]).unwrap_or(0);
            }
            self.index_times.remove(k)?;
        }
        Ok((raw, indexed))
    }

    pub fn cursor(&self) -> Result<Option<String>, IngestStoreError> {
        Ok(self
            .state
            .get(CURSOR_KEY)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Makes everything written so far durable, then records `cursor` (and makes that durable):
    /// a saved cursor never points past an event that a crash could lose.
    pub async fn save_cursor(&self, cursor: &str) -> Result<(), IngestStoreError> {
        self.db.flush_async().await?;
        self.state.insert(CURSOR_KEY, cursor.as_bytes())?;
        self.db.flush_async().await?;
        Ok(())
    }

    /// A small value a worker keeps across stops (the hour of sensor readings in progress).
    pub fn state_get(&self, key: &str) -> Option<Vec<u8>> {
        self.state
            .get(key.as_bytes())
            .ok()
            .flatten()
            .map(|v| v.to_vec())
    }

    pub fn state_put(&self, key: &str, value: &[u8]) -> Result<(), IngestStoreError> {
        self.state.insert(key.as_bytes(), value)?;
        self.db.flush()?;
        Ok(())
    }

    pub fn wanted(&self) -> bool {
        matches!(self.state.get(WANTED_KEY), Ok(Some(v)) if v.as_ref() == b"1")
    }

    pub fn set_wanted(&self, on: bool) -> Result<(), IngestStoreError> {
        self.state
            .insert(WANTED_KEY, if on { &b"1"[..] } else { &b"0"[..] })?;
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event(cursor: &str, ts_us: i64, msg: &str) -> Event {
        Event {
            ts: super::super::pipeline::iso_us(ts_us),
            ts_us,
            source: "journald".into(),
            host: "tb".into(),
            kind: "log".into(),
            subsystem: "app".into(),
            severity: "error".into(),
            message: msg.into(),
            data: BTreeMap::from([("identifier".to_owned(), Value::from("app"))]),
            tags: vec!["log".into()],
            cursor: Some(cursor.into()),
        }
    }

    #[tokio::test]
    async fn a_replayed_event_is_stored_once_and_retention_removes_by_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path().join("db")).expect("db");
        let s = IngestStore::open(&db).expect("store");
        let m = Memory::open(&db);
        let day = 86_400_000_000i64;
        let old = event("s=1;i=1", 10 * day, "old disk full");
        let new = event("s=1;i=2", 20 * day, "new disk full");
        for e in [&old, &new] {
            assert!(s.put_raw(e).expect("put"));
            s.index(&m, e).expect("index");
        }
        // The same events again (a resume after kill -9 reads them twice).
        for e in [&old, &new] {
            assert!(!s.put_raw(e).expect("put"), "a replay is not new");
            s.index(&m, e).expect("index");
        }
        assert_eq!(s.raw_count("journald").expect("count"), 2);
        assert_eq!(m.entries("self_journald", 10, 0).expect("entries").1, 2);
        let got = s.raw_events("journald", 15 * day, 10).expect("range");
        assert_eq!(got, std::slice::from_ref(&new));

        s.save_cursor("s=1;i=2").await.expect("save");
        assert_eq!(s.cursor().expect("cursor").as_deref(), Some("s=1;i=2"));

        let (raw, indexed) = s.prune(&m, 15 * day, 15 * day).expect("prune");
        assert_eq!((raw, indexed), (1, 1));
        assert_eq!(s.raw_count("journald").expect("count"), 1);
        let (left, n) = m.entries("self_journald", 10, 0).expect("entries");
        assert_eq!(n, 1);
        assert!(left[0].content.starts_with("new disk full"));

        assert!(!s.wanted());
        s.set_wanted(true).expect("set");
        assert!(s.wanted());
    }
}
