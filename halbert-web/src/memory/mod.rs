//! Vector memory, in the per-user sled database: named collections of entries (text, flat
//! metadata, an embedding), searched by cosine distance. Everything stays on this machine: the
//! embedding is computed locally (feature hashing of words and word pairs), so memory search
//! works offline and with no model configured (docs/decisions.md §6).
//!
//! Layout: for collection `c`, tree `memory/c` maps entry id → JSON `{content, metadata}` and
//! tree `memvec/c` maps entry id → the embedding as little-endian `f32`s. A search reads only the
//! vectors, then the entries it returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Collections Halbert itself fills; listed even when empty.
pub const KNOWN: [&str; 4] = [
    "self_conversations",
    "self_knowledge_all",
    "self_journald",
    "self_hwmon",
];
pub const CONVERSATIONS: &str = "self_conversations";
/// The embedding's name, stored with the data so a later change of embedding can re-embed.
pub const EMBEDDING: &str = "hashed-words-512";
const DIM: usize = 512;
const MAX_CONTENT: usize = 20_000;
const ENTRY_PREFIX: &str = "memory/";
const VEC_PREFIX: &str = "memvec/";

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("no memory collection called {0:?}")]
    UnknownCollection(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Store(#[from] sled::Error),
    #[error("stored memory data is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Metadata values are scalars only: the earlier store rejected lists and nulls and the errors
/// were swallowed; here the type makes them impossible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Number(f64),
    Flag(bool),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub content: String,
    pub metadata: BTreeMap<String, Scalar>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    content: String,
    metadata: BTreeMap<String, Scalar>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub entry: Entry,
    /// 1 − cosine similarity: 0 for the same words, 1 for nothing in common.
    pub distance: f64,
}

/// FNV-1a: stable across releases and platforms, unlike the standard library's hasher, so
/// stored embeddings stay comparable with new ones.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The local embedding: lower-cased words and adjacent word pairs hashed into 512 signed
/// buckets, weighted 1 + ln(count), normalized to length 1. It finds texts that share words,
/// not synonyms; a configured embedding model can replace it later (the name is stored).
pub fn embed(text: &str) -> Vec<f32> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut counts: BTreeMap<u64, f32> = BTreeMap::new();
    for w in &words {
        *counts.entry(fnv(w.as_bytes())).or_default() += 1.0;
    }
    for pair in words.windows(2) {
        let key = fnv(format!("{} {}", pair[0], pair[1]).as_bytes());
        *counts.entry(key).or_default() += 0.5;
    }
    let mut v = vec![0f32; DIM];
    for (h, c) in counts {
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[(h % DIM as u64) as usize] += sign * (1.0 + c.ln());
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn dot(a: &[f32], raw: &[u8]) -> f32 {
    a.iter()
        .zip(raw.chunks_exact(4))
        .map(|(x, b)| x * f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .sum()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Debug, Clone)]
pub struct Memory {
    db: sled::Db,
}

impl Memory {
    pub fn open(db: &sled::Db) -> Self {
        Self { db: db.clone() }
    }

    fn trees(&self, collection: &str) -> Result<(sled::Tree, sled::Tree), MemoryError> {
        Ok((
            self.db.open_tree(format!("{ENTRY_PREFIX}{collection}"))?,
            self.db.open_tree(format!("{VEC_PREFIX}{collection}"))?,
        ))
    }

    /// A collection that may be read or changed: a known one, or one that holds entries.
    fn existing(&self, collection: &str) -> Result<(sled::Tree, sled::Tree), MemoryError> {
        // Known collections (every chat searches one) need no look at the store's tree list.
        let present = || {
            let name = format!("{ENTRY_PREFIX}{collection}");
            self.db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == name.as_bytes())
        };
        if !valid_name(collection) || !(KNOWN.contains(&collection) || present()) {
            return Err(MemoryError::UnknownCollection(collection.to_owned()));
        }
        self.trees(collection)
    }

    /// Every collection with its count: the known ones first, then others found in the store.
    pub fn collections(&self) -> Result<Vec<(String, usize, bool)>, MemoryError> {
        let mut out: Vec<(String, usize, bool)> = Vec::new();
        for k in KNOWN {
            out.push((k.to_owned(), self.trees(k)?.0.len(), true));
        }
        let mut others: Vec<String> = self
            .db
            .tree_names()
            .iter()
            .filter_map(|n| {
                std::str::from_utf8(n)
                    .ok()?
                    .strip_prefix(ENTRY_PREFIX)
                    .map(str::to_owned)
            })
            .filter(|n| !KNOWN.contains(&n.as_str()))
            .collect();
        others.sort();
        for o in others {
            let n = self.trees(&o)?.0.len();
            out.push((o, n, false));
        }
        Ok(out)
    }

    /// Stores an entry under `id`; an id that is taken gets `-2`, `-3`, … so concurrent writers
    /// never overwrite each other. Returns the id used.
    pub fn add(
        &self,
        collection: &str,
        id: &str,
        content: &str,
        metadata: BTreeMap<String, Scalar>,
    ) -> Result<String, MemoryError> {
        if !valid_name(collection) {
            return Err(MemoryError::Invalid(format!(
                "collection names are 1 to 64 letters, digits, '_' or '-', not {collection:?}"
            )));
        }
        let content: String = content.chars().take(MAX_CONTENT).collect();
        let (entries, vectors) = self.trees(collection)?;
        let value = serde_json::to_vec(&Stored {
            content: content.clone(),
            metadata,
        })?;
        let mut key = id.to_owned();
        let mut n = 1;
        // Claiming the id atomically is what keeps concurrent writers apart; the vector follows.
        while entries
            .compare_and_swap(key.as_bytes(), None::<&[u8]>, Some(value.as_slice()))?
            .is_err()
        {
            n += 1;
            key = format!("{id}-{n}");
        }
        vectors.insert(key.as_bytes(), to_bytes(&embed(&content)))?;
        Ok(key)
    }

    /// Stores an entry under exactly `id`, replacing one that is there: for writers whose ids
    /// name the thing stored (an ingested event), so that storing it again changes nothing.
    pub fn put(
        &self,
        collection: &str,
        id: &str,
        content: &str,
        metadata: BTreeMap<String, Scalar>,
    ) -> Result<(), MemoryError> {
        if !valid_name(collection) {
            return Err(MemoryError::Invalid(format!(
                "collection names are 1 to 64 letters, digits, '_' or '-', not {collection:?}"
            )));
        }
        let content: String = content.chars().take(MAX_CONTENT).collect();
        let (entries, vectors) = self.trees(collection)?;
        let vector = to_bytes(&embed(&content));
        entries.insert(
            id.as_bytes(),
            serde_json::to_vec(&Stored { content, metadata })?,
        )?;
        vectors.insert(id.as_bytes(), vector)?;
        Ok(())
    }

    /// The `k` entries closest to `query`, nearest first.
    pub fn query(&self, collection: &str, query: &str, k: usize) -> Result<Vec<Hit>, MemoryError> {
        let (entries, vectors) = self.existing(collection)?;
        let q = embed(query);
        let mut scored: Vec<(f64, sled::IVec)> = Vec::new();
        for kv in vectors.iter() {
            let (key, raw) = kv?;
            if raw.len() != DIM * 4 {
                continue;
            }
            scored.push((1.0 - f64::from(dot(&q, &raw)), key));
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut out = Vec::new();
        for (distance, key) in scored.into_iter().take(k) {
            if let Some(v) = entries.get(&key)? {
                let s: Stored = serde_json::from_slice(&v)?;
                out.push(Hit {
                    entry: Entry {
                        id: String::from_utf8_lossy(&key).into_owned(),
                        content: s.content,
                        metadata: s.metadata,
                    },
                    distance: (distance * 10_000.0).round() / 10_000.0,
                });
            }
        }
        Ok(out)
    }

    /// A page of entries in id order, and the collection's total.
    pub fn entries(
        &self,
        collection: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Entry>, usize), MemoryError> {
        let (entries, _) = self.existing(collection)?;
        let mut page = Vec::new();
        for kv in entries.iter().skip(offset).take(limit) {
            let (key, v) = kv?;
            let s: Stored = serde_json::from_slice(&v)?;
            page.push(Entry {
                id: String::from_utf8_lossy(&key).into_owned(),
                content: s.content,
                metadata: s.metadata,
            });
        }
        Ok((page, entries.len()))
    }

    /// Removes the given entries; returns how many existed.
    pub fn delete(&self, collection: &str, ids: &[String]) -> Result<usize, MemoryError> {
        let (entries, vectors) = self.existing(collection)?;
        let mut n = 0;
        for id in ids {
            vectors.remove(id.as_bytes())?;
            if entries.remove(id.as_bytes())?.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes every entry whose id starts with `prefix` (a conversation's messages).
    pub fn delete_prefix(&self, collection: &str, prefix: &str) -> Result<usize, MemoryError> {
        let (entries, _) = self.trees(collection)?;
        let ids: Vec<String> = entries
            .scan_prefix(prefix.as_bytes())
            .keys()
            .filter_map(|k| k.ok().map(|k| String::from_utf8_lossy(&k).into_owned()))
            .collect();
        self.delete(collection, &ids)
    }

    pub fn clear(&self, collection: &str) -> Result<(), MemoryError> {
        let (entries, vectors) = self.existing(collection)?;
        entries.clear()?;
        vectors.clear()?;
        Ok(())
    }

    /// Stores one conversation message in `self_conversations` (id
    /// `conv:<conversation>:<epoch ms>`, metadata role, conversation_id, timestamp in epoch
    /// seconds as text, page).
    pub fn remember_message(
        &self,
        conversation_id: &str,
        role: &str,
        content: &str,
        page: &str,
    ) -> Result<String, MemoryError> {
        let now = time::OffsetDateTime::now_utc();
        let ms = now.unix_timestamp_nanos() / 1_000_000;
        let metadata = BTreeMap::from([
            ("role".to_owned(), Scalar::Text(role.to_owned())),
            (
                "conversation_id".to_owned(),
                Scalar::Text(conversation_id.to_owned()),
            ),
            (
                "timestamp".to_owned(),
                Scalar::Text(now.unix_timestamp().to_string()),
            ),
            ("page".to_owned(), Scalar::Text(page.to_owned())),
        ]);
        self.add(
            CONVERSATIONS,
            &format!("conv:{conversation_id}:{ms}"),
            content,
            metadata,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> (tempfile::TempDir, Memory) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db =
            crate::store::open_locked(&dir.path().join("db"), std::time::Duration::from_secs(5))
                .expect("db");
        (dir, Memory::open(&db))
    }

    #[test]
    fn the_embedding_is_stable_and_finds_shared_words() {
        let a = embed("bcachefs pool failed to mount");
        assert_eq!(
            a,
            embed("Bcachefs  pool FAILED to mount!"),
            "case and punctuation"
        );
        let close = 1.0 - dot(&a, &to_bytes(&embed("why did the bcachefs mount fail")));
        let far = 1.0 - dot(&a, &to_bytes(&embed("nginx returns 502 bad gateway")));
        assert!(close < far, "{close} < {far}");
        assert!((1.0 - dot(&a, &to_bytes(&a))).abs() < 1e-5);
        // Fixed by FNV-1a: the same bucket on every machine and release.
        assert_eq!(
            fnv(b"a"),
            0xaf63_dc4c_8601_ec8c,
            "the published FNV-1a value"
        );
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn memory_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = crate::store::open_locked(
                &dir.path().join("db"),
                std::time::Duration::from_secs(5),
            )
            .expect("db");
            Memory::open(&db)
                .remember_message("c1", "user", "the raid array is degraded", "storage")
                .expect("remember");
            db.flush().expect("flush");
        }
        let db =
            crate::store::open_locked(&dir.path().join("db"), std::time::Duration::from_secs(5))
                .expect("reopen");
        let hits = Memory::open(&db)
            .query(CONVERSATIONS, "degraded raid", 1)
            .expect("query");
        assert_eq!(hits[0].entry.content, "the raid array is degraded");
        assert_eq!(
            hits[0].entry.metadata.get("page"),
            Some(&Scalar::Text("storage".into()))
        );
    }

    #[test]
    fn add_query_page_delete_clear() {
        let (_d, m) = mem();
        let md = BTreeMap::new;
        m.add(
            "self_journald",
            "e1",
            "nginx failed: address already in use",
            md(),
        )
        .expect("add");
        m.add(
            "self_journald",
            "e2",
            "smartd: disk sda reallocated sectors",
            md(),
        )
        .expect("add");
        let again = m
            .add("self_journald", "e1", "duplicate id", md())
            .expect("add");
        assert_eq!(again, "e1-2", "a taken id is never overwritten");
        let hits = m
            .query("self_journald", "why did nginx fail", 2)
            .expect("query");
        assert_eq!(hits[0].entry.id, "e1");
        assert!(hits[0].distance <= hits[1].distance);
        let (page, total) = m.entries("self_journald", 2, 1).expect("page");
        assert_eq!((page.len(), total), (2, 3));
        assert_eq!(
            m.delete("self_journald", &["e2".into(), "nope".into()])
                .expect("del"),
            1
        );
        m.clear("self_journald").expect("clear");
        assert_eq!(m.entries("self_journald", 50, 0).expect("page").1, 0);
        assert!(matches!(
            m.query("nope", "x", 5),
            Err(MemoryError::UnknownCollection(_))
        ));
        m.add("notes", "n1", "hello", md()).expect("add");
        let cols = m.collections().expect("collections");
        assert_eq!(cols.len(), 5);
        assert_eq!(cols[4], ("notes".to_owned(), 1, false));
        assert!(matches!(
            m.add("../x", "n", "x", md()),
            Err(MemoryError::Invalid(_))
        ));
    }
}
