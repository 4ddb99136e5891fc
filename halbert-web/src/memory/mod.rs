//! Vector memory, in the per-user sled database: named collections of entries (text, flat
//! metadata, an embedding), searched by cosine distance. Everything stays on this machine: the
//! embedding is computed locally (`embed`: all-MiniLM-L6-v2 when its files are installed, else
//! hashed words), so memory search works offline and with no model configured
//! (docs/decisions.md §6).
//!
//! Layout: for collection `c`, tree `memory/c` maps entry id → JSON `{content, metadata}`, and
//! tree `memq@<embedder>/c` maps entry id → its vector under that embedder, quantized (`index`).
//! Vectors of two embedders live in two trees and are never compared; entries written under
//! another embedder are embedded again in the background (`reembed`). A search scans the
//! collection's in-memory index, then reads the entries it returns.

pub mod embed;
pub mod index;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use embed::{Embedder, Hashed};
use index::Index;

/// Collections Halbert itself fills; listed even when empty.
pub const KNOWN: [&str; 4] = [
    "self_conversations",
    "self_knowledge_all",
    "self_journald",
    "self_hwmon",
];
pub const CONVERSATIONS: &str = "self_conversations";
/// The hashed-words embedding's name, stored with its vectors.
pub const EMBEDDING: &str = "hashed-words-512";
const DIM: usize = 512;
const MAX_CONTENT: usize = 20_000;
const ENTRY_PREFIX: &str = "memory/";
/// Vectors of the first release: hashed words as f32, one tree per collection. Read by nothing
/// now; dropped when their collection has been embedded again.
const LEGACY_VEC_PREFIX: &str = "memvec/";
const VEC_PREFIX: &str = "memq@";

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
    #[error(transparent)]
    Embed(#[from] embed::EmbedError),
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

#[cfg(test)]
fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[cfg(test)]
fn dot(a: &[f32], raw: &[u8]) -> f32 {
    a.iter()
        .zip(raw.chunks_exact(4))
        .map(|(x, b)| x * f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .sum()
}

/// A collection name that may be created: refused with the rule said.
fn check_name(collection: &str) -> Result<(), MemoryError> {
    if valid_name(collection) {
        Ok(())
    } else {
        Err(MemoryError::Invalid(format!(
            "collection names are 1 to 64 letters, digits, '_' or '-', not {collection:?}"
        )))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The collections' in-memory indexes, by vector tree name.
type Indexes = Arc<Mutex<HashMap<String, Arc<RwLock<Index>>>>>;

#[derive(Debug, Clone)]
pub struct Memory {
    db: sled::Db,
    /// The embedder in use, shared by every clone (chat, conversations, ingestion), so that a
    /// change in settings reaches them all at once.
    current: Arc<RwLock<Current>>,
    indexes: Indexes,
    /// One re-embedding at a time: a change of embedder waits for the previous job to stop.
    reembedding: Arc<Mutex<()>>,
}

#[derive(Debug, Clone)]
struct Current {
    embedder: Arc<dyn Embedder>,
    /// Which embedder is used and why, for the stats.
    note: Arc<str>,
    /// Counts changes of embedder: a re-embedding started under an earlier one stops.
    generation: u64,
}

/// What the stats say of the embedding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingInfo {
    pub name: String,
    pub dim: usize,
    pub note: String,
    /// Entries waiting to be embedded under the current embedder, over all collections.
    pub pending: usize,
}

impl Memory {
    /// Memory with hashed words (tests, and where no model is installed).
    pub fn open(db: &sled::Db) -> Self {
        Self::with_embedder(db, Arc::new(Hashed), "hashed words".into())
    }

    pub fn with_embedder(db: &sled::Db, embedder: Arc<dyn Embedder>, note: String) -> Self {
        Self {
            db: db.clone(),
            current: Arc::new(RwLock::new(Current {
                embedder,
                note: note.into(),
                generation: 0,
            })),
            indexes: Arc::default(),
            reembedding: Arc::default(),
        }
    }

    /// The embedder in use now.
    pub fn embedder(&self) -> Arc<dyn Embedder> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .embedder
            .clone()
    }

    /// Switches every clone of this memory to `embedder`. Entries already stored keep their
    /// vectors under the embedder that made them; until they are embedded again
    /// ([`Memory::reembed`]) searches do not find them.
    pub fn set_embedder(&self, embedder: Arc<dyn Embedder>, note: String) {
        let mut c = self.current.write().unwrap_or_else(|p| p.into_inner());
        tracing::info!(
            from = c.embedder.name(),
            to = embedder.name(),
            "memory embedder changed"
        );
        c.generation += 1;
        c.embedder = embedder;
        c.note = note.into();
    }

    fn generation(&self) -> u64 {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .generation
    }

    fn vec_tree_name(e: &dyn Embedder, collection: &str) -> String {
        format!("{VEC_PREFIX}{}/{collection}", e.name())
    }

    fn trees(
        &self,
        e: &dyn Embedder,
        collection: &str,
    ) -> Result<(sled::Tree, sled::Tree), MemoryError> {
        Ok((
            self.db.open_tree(format!("{ENTRY_PREFIX}{collection}"))?,
            self.db.open_tree(Self::vec_tree_name(e, collection))?,
        ))
    }

    fn entries_tree(&self, collection: &str) -> Result<sled::Tree, MemoryError> {
        Ok(self.db.open_tree(format!("{ENTRY_PREFIX}{collection}"))?)
    }

    /// The collection's index under embedder `e`, loaded from its tree on first use.
    fn index(&self, e: &dyn Embedder, collection: &str) -> Result<Arc<RwLock<Index>>, MemoryError> {
        let name = Self::vec_tree_name(e, collection);
        let mut map = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = map.get(&name) {
            return Ok(i.clone());
        }
        let mut idx = Index::new(e.dim());
        for kv in self.db.open_tree(&name)?.iter() {
            let (k, v) = kv?;
            idx.upsert(&k, &v);
        }
        let idx = Arc::new(RwLock::new(idx));
        map.insert(name, idx.clone());
        Ok(idx)
    }

    fn index_write(
        &self,
        e: &dyn Embedder,
        collection: &str,
        f: impl FnOnce(&mut Index),
    ) -> Result<(), MemoryError> {
        let idx = self.index(e, collection)?;
        f(&mut idx.write().unwrap_or_else(|p| p.into_inner()));
        Ok(())
    }

    /// Every vector tree of `collection`, whatever its embedder (for deletes).
    fn all_vec_trees(&self, collection: &str) -> Vec<sled::Tree> {
        let suffix = format!("/{collection}");
        self.db
            .tree_names()
            .iter()
            .filter_map(|n| std::str::from_utf8(n).ok().map(str::to_owned))
            .filter(|n| {
                (n.starts_with(VEC_PREFIX) && n.ends_with(&suffix))
                    || *n == format!("{LEGACY_VEC_PREFIX}{collection}")
            })
            .filter_map(|n| self.db.open_tree(n).ok())
            .collect()
    }

    fn embed_one(e: &dyn Embedder, text: &str) -> Result<Vec<u8>, MemoryError> {
        let v = e.embed(&[text])?;
        Ok(index::encode(v.first().map_or(&[][..], |v| v.as_slice())))
    }

    /// A collection that may be read or changed: a known one, or one that holds entries.
    fn existing(&self, collection: &str) -> Result<sled::Tree, MemoryError> {
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
        self.entries_tree(collection)
    }

    /// Every collection with its count: the known ones first, then others found in the store.
    pub fn collections(&self) -> Result<Vec<(String, usize, bool)>, MemoryError> {
        let mut out: Vec<(String, usize, bool)> = Vec::new();
        for k in KNOWN {
            out.push((k.to_owned(), self.entries_tree(k)?.len(), true));
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
            let n = self.entries_tree(&o)?.len();
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
        check_name(collection)?;
        let content: String = content.chars().take(MAX_CONTENT).collect();
        let e = self.embedder();
        let (entries, vectors) = self.trees(&*e, collection)?;
        let vector = Self::embed_one(&*e, &content)?;
        let value = serde_json::to_vec(&Stored { content, metadata })?;
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
        vectors.insert(key.as_bytes(), vector.as_slice())?;
        self.index_write(&*e, collection, |i| i.upsert(key.as_bytes(), &vector))?;
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
        check_name(collection)?;
        let content: String = content.chars().take(MAX_CONTENT).collect();
        let e = self.embedder();
        let (entries, vectors) = self.trees(&*e, collection)?;
        let vector = Self::embed_one(&*e, &content)?;
        entries.insert(
            id.as_bytes(),
            serde_json::to_vec(&Stored { content, metadata })?,
        )?;
        vectors.insert(id.as_bytes(), vector.as_slice())?;
        self.index_write(&*e, collection, |i| i.upsert(id.as_bytes(), &vector))?;
        Ok(())
    }

    /// Stores many entries under exactly their ids (replacing), embedded in batches, written
    /// in one batch per tree and flushed: durable when it returns.
    pub fn put_many(
        &self,
        collection: &str,
        items: Vec<(String, String, BTreeMap<String, Scalar>)>,
    ) -> Result<(), MemoryError> {
        self.put_many_with(&*self.embedder(), collection, items)
    }

    fn put_many_with(
        &self,
        e: &dyn Embedder,
        collection: &str,
        items: Vec<(String, String, BTreeMap<String, Scalar>)>,
    ) -> Result<(), MemoryError> {
        check_name(collection)?;
        let (entries, vectors) = self.trees(e, collection)?;
        for chunk in items.chunks(embed::BATCH) {
            let texts: Vec<String> = chunk
                .iter()
                .map(|(_, c, _)| c.chars().take(MAX_CONTENT).collect())
                .collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vecs = e.embed(&refs)?;
            let (mut eb, mut vb) = (sled::Batch::default(), sled::Batch::default());
            let mut encoded = Vec::with_capacity(chunk.len());
            for (((id, _, meta), content), v) in chunk.iter().zip(texts).zip(vecs) {
                eb.insert(
                    id.as_bytes(),
                    serde_json::to_vec(&Stored {
                        content,
                        metadata: meta.clone(),
                    })?,
                );
                let code = index::encode(&v);
                vb.insert(id.as_bytes(), code.as_slice());
                encoded.push((id.as_bytes(), code));
            }
            entries.apply_batch(eb)?;
            vectors.apply_batch(vb)?;
            self.index_write(e, collection, |i| {
                for (id, code) in &encoded {
                    i.upsert(id, code);
                }
            })?;
        }
        self.db.flush()?;
        Ok(())
    }

    /// The `k` entries closest to `query`, nearest first.
    pub fn query(&self, collection: &str, query: &str, k: usize) -> Result<Vec<Hit>, MemoryError> {
        Ok(self.query_each(&[collection], query, k)?.remove(0))
    }

    /// [`Memory::query`] in each of `collections`, with the question embedded once.
    pub fn query_each(
        &self,
        collections: &[&str],
        query: &str,
        k: usize,
    ) -> Result<Vec<Vec<Hit>>, MemoryError> {
        let trees = collections
            .iter()
            .map(|c| self.existing(c))
            .collect::<Result<Vec<_>, _>>()?;
        let e = self.embedder();
        let q = e.embed(&[query])?.into_iter().next().unwrap_or_default();
        collections
            .iter()
            .zip(&trees)
            .map(|(c, entries)| self.nearest(&*e, c, entries, &q, k))
            .collect()
    }

    fn nearest(
        &self,
        e: &dyn Embedder,
        collection: &str,
        entries: &sled::Tree,
        q: &[f32],
        k: usize,
    ) -> Result<Vec<Hit>, MemoryError> {
        let hits = {
            let idx = self.index(e, collection)?;
            let idx = idx.read().unwrap_or_else(|p| p.into_inner());
            idx.search(q, k)
        };
        let mut out = Vec::new();
        for (key, similarity) in hits {
            if let Some(v) = entries.get(&key)? {
                let s: Stored = serde_json::from_slice(&v)?;
                out.push(Hit {
                    entry: Entry {
                        id: String::from_utf8_lossy(&key).into_owned(),
                        content: s.content,
                        metadata: s.metadata,
                    },
                    distance: ((1.0 - f64::from(similarity)) * 10_000.0).round() / 10_000.0,
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
        let entries = self.existing(collection)?;
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

    /// Whether `collection` holds an entry `id`.
    pub fn contains(&self, collection: &str, id: &str) -> Result<bool, MemoryError> {
        Ok(self.entries_tree(collection)?.contains_key(id.as_bytes())?)
    }

    /// Removes the given entries; returns how many existed.
    pub fn delete(&self, collection: &str, ids: &[String]) -> Result<usize, MemoryError> {
        let entries = self.existing(collection)?;
        // Nothing to remove (a manual page indexed for the first time): no need to list the
        // database's trees.
        if ids.is_empty() {
            return Ok(0);
        }
        let trees = self.all_vec_trees(collection);
        let mut n = 0;
        for id in ids {
            for t in &trees {
                t.remove(id.as_bytes())?;
            }
            if entries.remove(id.as_bytes())?.is_some() {
                n += 1;
            }
        }
        self.remove_from_indexes(collection, |i| {
            for id in ids {
                i.remove(id.as_bytes());
            }
        });
        Ok(n)
    }

    /// Removes every entry whose id starts with `prefix` (a conversation's messages).
    pub fn delete_prefix(&self, collection: &str, prefix: &str) -> Result<usize, MemoryError> {
        let entries = self.entries_tree(collection)?;
        let ids: Vec<String> = entries
            .scan_prefix(prefix.as_bytes())
            .keys()
            .filter_map(|k| k.ok().map(|k| String::from_utf8_lossy(&k).into_owned()))
            .collect();
        self.delete(collection, &ids)
    }

    pub fn clear(&self, collection: &str) -> Result<(), MemoryError> {
        let entries = self.existing(collection)?;
        entries.clear()?;
        for t in self.all_vec_trees(collection) {
            t.clear()?;
        }
        self.remove_from_indexes(collection, Index::clear);
        Ok(())
    }

    /// Applies a removal to every loaded index of `collection`, whatever its embedder: an
    /// index of an earlier embedder, loaded before a change, must not keep deleted entries.
    fn remove_from_indexes(&self, collection: &str, f: impl Fn(&mut Index)) {
        let suffix = format!("/{collection}");
        let map = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        for (name, idx) in map.iter() {
            if name.ends_with(&suffix) {
                f(&mut idx.write().unwrap_or_else(|p| p.into_inner()));
            }
        }
    }

    /// Entries of `collection` without a vector under the current embedder.
    fn missing(&self, e: &dyn Embedder, collection: &str) -> Result<Vec<sled::IVec>, MemoryError> {
        let (entries, vectors) = self.trees(e, collection)?;
        let mut out = Vec::new();
        for k in entries.iter().keys() {
            let k = k?;
            if !vectors.contains_key(&k)? {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// What the stats say of the embedding, with the entries still to embed again.
    pub fn embedding_info(&self) -> Result<EmbeddingInfo, MemoryError> {
        let c = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut pending = 0;
        for (coll, _, _) in self.collections()? {
            pending += self.missing(&*c.embedder, &coll)?.len();
        }
        Ok(EmbeddingInfo {
            name: c.embedder.name().into(),
            dim: c.embedder.dim(),
            note: c.note.to_string(),
            pending,
        })
    }

    /// Embeds, under the current embedder, every entry of `collection` written under another
    /// (in batches; `progress(done, total)` after each), then drops the other embedders'
    /// vectors of it. Returns how many were embedded. It stops early when `stop` says so or
    /// the embedder changes again (the job for the new one takes over).
    pub fn reembed(
        &self,
        collection: &str,
        mut progress: impl FnMut(usize, usize),
        stop: &dyn Fn() -> bool,
    ) -> Result<usize, MemoryError> {
        let _one = self.reembedding.lock().unwrap_or_else(|p| p.into_inner());
        let generation = self.generation();
        let e = self.embedder();
        let stale = || stop() || self.generation() != generation;
        let missing = self.missing(&*e, collection)?;
        let total = missing.len();
        let entries = self.entries_tree(collection)?;
        let mut done = 0;
        for chunk in missing.chunks(embed::BATCH) {
            if stale() {
                return Ok(done);
            }
            let mut items = Vec::new();
            for k in chunk {
                if let Some(v) = entries.get(k)? {
                    let s: Stored = serde_json::from_slice(&v)?;
                    items.push((
                        String::from_utf8_lossy(k).into_owned(),
                        s.content,
                        s.metadata,
                    ));
                }
            }
            done += items.len();
            self.put_many_with(&*e, collection, items)?;
            progress(done, total);
        }
        if stale() {
            return Ok(done);
        }
        let current = Self::vec_tree_name(&*e, collection);
        for name in self.db.tree_names() {
            let Ok(n) = std::str::from_utf8(&name) else {
                continue;
            };
            let mine = n.ends_with(&format!("/{collection}"))
                && (n.starts_with(VEC_PREFIX) || n.starts_with(LEGACY_VEC_PREFIX));
            if mine && n != current {
                self.db.drop_tree(&name)?;
                self.indexes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(n);
            }
        }
        Ok(done)
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

    /// Letters counted into 26 buckets: an embedder of another name and size.
    #[derive(Debug)]
    struct Letters;
    impl Embedder for Letters {
        fn name(&self) -> &str {
            "letters-26"
        }
        fn dim(&self) -> usize {
            26
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, embed::EmbedError> {
            Ok(texts
                .iter()
                .map(|t| {
                    let mut v = [0f32; 26];
                    for b in t.bytes().filter(u8::is_ascii_lowercase) {
                        v[usize::from(b - b'a')] += 1.0;
                    }
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                    v.iter().map(|x| x / n).collect()
                })
                .collect())
        }
    }

    #[test]
    fn another_embedders_vectors_are_never_compared_and_are_embedded_again() {
        let (_d, hashed) = mem();
        hashed
            .add("self_journald", "a", "zzz zzz zzz", BTreeMap::new())
            .expect("add");
        hashed
            .add("self_journald", "b", "aaa bbb", BTreeMap::new())
            .expect("add");
        let letters = Memory::with_embedder(&hashed.db, Arc::new(Letters), "letters".into());
        // Under the new embedder nothing is searchable until embedded again...
        assert!(
            letters
                .query("self_journald", "zzz", 2)
                .expect("query")
                .is_empty()
        );
        let info = letters.embedding_info().expect("info");
        assert_eq!(
            (info.name.as_str(), info.dim, info.pending),
            ("letters-26", 26, 2)
        );
        let mut seen = Vec::new();
        let n = letters
            .reembed("self_journald", |d, t| seen.push((d, t)), &|| false)
            .expect("reembed");
        assert_eq!((n, seen), (2, vec![(2, 2)]));
        // ...then it is, by the new embedder's measure, and the old vectors are gone.
        let hits = letters.query("self_journald", "zz", 1).expect("query");
        assert_eq!(hits[0].entry.id, "a");
        assert_eq!(letters.embedding_info().expect("info").pending, 0);
        assert!(
            !hashed
                .db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == format!("memq@{EMBEDDING}/self_journald").as_bytes()),
            "the hashed vectors were dropped"
        );
        // Deletes reach the index.
        letters
            .delete("self_journald", &["a".into()])
            .expect("delete");
        let hits = letters.query("self_journald", "zz", 5).expect("query");
        assert!(hits.iter().all(|h| h.entry.id != "a"), "{hits:?}");
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
