//! This machine's own documentation in memory (`self_knowledge_all`): the manual pages of
//! sections 1, 5 and 8 under the man root (`/usr/share/man`), read with `zcat`'s format
//! (gzip or plain), turned into text by `roff`, and stored as one entry per section heading
//! (long sections in paragraphs of about [`CHUNK_CHARS`]), each labelled with its page,
//! e.g. `sshd_config(5) — PermitRootLogin`. Chat quotes matching excerpts with the page's
//! name, so an answer can cite the manual instead of guessing.
//!
//! Indexing is a background job (worker `knowledge-index`) with progress on `/ws`
//! (`knowledge_index`); it runs when asked and, once it has run, again by itself after
//! packages change the man directories (worker `knowledge-watch` compares the directories'
//! modification times every [`WATCH_EVERY`]). Only pages that changed are read again: each
//! page's size and time are kept in the database, and its entries are replaced as a whole.
//! The pages done are recorded only after their entries are durable, so a job cut short
//! (a stop, a `kill -9`) resumes where it was without losing or doubling anything.

pub mod roff;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use halbert_workers::Workers;
use serde::{Deserialize, Serialize};

use crate::memory::{Memory, MemoryError, Scalar};

/// The memory collection the pages go to.
pub const COLLECTION: &str = "self_knowledge_all";
/// The manual's sections indexed: commands, file formats, administration.
pub const SECTIONS: [&str; 3] = ["1", "5", "8"];
/// About how much text one entry holds (the local model reads the first 128 tokens of it,
/// about this much; longer entries would be found by their start only).
pub const CHUNK_CHARS: usize = 700;
/// The most entries one page gives (the rest of a huge page is not indexed).
const MAX_CHUNKS_PER_PAGE: usize = 200;
/// Pages larger than this, uncompressed, are read only this far.
const MAX_PAGE_BYTES: u64 = 4 << 20;
/// Entries written per batch (one flush each).
const BATCH_ENTRIES: usize = 256;
/// How often the man directories are compared with what was indexed.
pub const WATCH_EVERY: Duration = Duration::from_secs(60);

const PAGES_TREE: &str = "knowledge/pages";
const STATE_TREE: &str = "knowledge/state";
const BUILT_KEY: &[u8] = b"built";
const FINGERPRINT_KEY: &[u8] = b"fingerprint";
const LAST_RUN_KEY: &[u8] = b"last_run";

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error("database: {0}")]
    Store(#[from] sled::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// One page file found under the man root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFile {
    pub path: PathBuf,
    /// `sshd_config`
    pub name: String,
    /// `5`, or `1ssl` and the like.
    pub section: String,
    pub size: u64,
    pub mtime_ns: i128,
}

impl PageFile {
    /// `sshd_config(5)`: how the page is cited.
    pub fn title(&self) -> String {
        format!("{}({})", self.name, self.section)
    }

    fn prefix(&self) -> String {
        format!("man:{}:", self.title())
    }
}

/// What is kept per indexed page, to tell whether it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Indexed {
    title: String,
    size: u64,
    mtime_ns: i128,
    chunks: usize,
}

fn mtime_ns(m: &std::fs::Metadata) -> i128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

/// `sshd_config.5.gz` → (`sshd_config`, `5`); a file that is not a page gives `None`.
fn split_name(file: &str, section: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".gz").unwrap_or(file);
    let (name, sect) = stem.rsplit_once('.')?;
    (!name.is_empty() && sect.starts_with(section)).then(|| (name.to_owned(), sect.to_owned()))
}

/// The page files of [`SECTIONS`] under `root`, in path order.
pub fn scan(root: &Path) -> Vec<PageFile> {
    let mut out = Vec::new();
    for s in SECTIONS {
        let dir = root.join(format!("man{s}"));
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if !m.is_file() {
                continue;
            }
            let file = e.file_name().to_string_lossy().into_owned();
            if let Some((name, section)) = split_name(&file, s) {
                out.push(PageFile {
                    path: e.path(),
                    name,
                    section,
                    size: m.len(),
                    mtime_ns: mtime_ns(&m),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// What the man directories look like now: changes when a package adds, removes or replaces
/// a page (dpkg and rpm rename files into place, which changes the directory's time).
pub fn fingerprint(root: &Path) -> String {
    SECTIONS
        .iter()
        .map(|s| {
            std::fs::metadata(root.join(format!("man{s}")))
                .map(|m| mtime_ns(&m).to_string())
                .unwrap_or_else(|_| "-".into())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A page's source text: gunzipped when it is gzip, at most [`MAX_PAGE_BYTES`].
pub fn read_page(path: &Path) -> Result<String, KnowledgeError> {
    let io = |source| KnowledgeError::Io {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(f)
            .take(MAX_PAGE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    } else {
        f.take(MAX_PAGE_BYTES).read_to_end(&mut bytes).map_err(io)?;
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A page's entries: (heading, text), each text at most about [`CHUNK_CHARS`], split at
/// paragraphs (a paragraph longer than that is split at words).
pub fn chunks(page: &roff::Page) -> Vec<(String, String)> {
    let roff::Page::Sections(sections) = page else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in sections {
        let mut cur = String::new();
        let mut push = |cur: &mut String| {
            if !cur.trim().is_empty() {
                out.push((s.heading.clone(), std::mem::take(cur)));
            }
            cur.clear();
        };
        for para in s.text.split("\n\n") {
            if !cur.is_empty() && cur.len() + para.len() > CHUNK_CHARS {
                push(&mut cur);
            }
            if para.len() > CHUNK_CHARS {
                for w in para.split(' ') {
                    if cur.len() + 1 + w.len() > CHUNK_CHARS {
                        push(&mut cur);
                    }
                    if !cur.is_empty() {
                        cur.push(' ');
                    }
                    cur.push_str(w);
                }
                continue;
            }
            if !cur.is_empty() {
                cur.push('\n');
            }
            cur.push_str(para);
        }
        push(&mut cur);
    }
    out.truncate(MAX_CHUNKS_PER_PAGE);
    out
}

/// Where a job is, for the status and `/ws`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub running: bool,
    /// Pages looked at in this run, of `total`.
    pub done: usize,
    pub total: usize,
    /// Pages read again in this run because they were new or changed.
    pub changed: usize,
    pub removed: usize,
    pub last_error: Option<String>,
}

/// The status of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub progress: Progress,
    pub man_root: PathBuf,
    /// Pages indexed, and the entries they gave.
    pub pages: usize,
    pub entries: usize,
    /// The index has been built once, so it is kept current after package changes.
    pub built: bool,
    /// When the last run finished (epoch seconds).
    pub last_run: Option<i64>,
}

/// The manual-page index of one user's memory.
#[derive(Debug, Clone)]
pub struct Knowledge {
    memory: Memory,
    pages: sled::Tree,
    state: sled::Tree,
    root: PathBuf,
    progress: Arc<Mutex<Progress>>,
    /// A job is running: a second request does not start a second one.
    busy: Arc<AtomicBool>,
}

impl Knowledge {
    pub fn open(db: &sled::Db, memory: Memory, man_root: PathBuf) -> Result<Self, KnowledgeError> {
        Ok(Self {
            memory,
            pages: db.open_tree(PAGES_TREE)?,
            state: db.open_tree(STATE_TREE)?,
            root: man_root,
            progress: Arc::default(),
            busy: Arc::default(),
        })
    }

    pub fn status(&self) -> Status {
        let mut entries = 0;
        let mut pages = 0;
        for v in self.pages.iter().values().flatten() {
            if let Ok(i) = serde_json::from_slice::<Indexed>(&v) {
                pages += 1;
                entries += i.chunks;
            }
        }
        Status {
            progress: self
                .progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            man_root: self.root.clone(),
            pages,
            entries,
            built: self.built(),
            last_run: self
                .state
                .get(LAST_RUN_KEY)
                .ok()
                .flatten()
                .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()),
        }
    }

    fn built(&self) -> bool {
        self.state.contains_key(BUILT_KEY).unwrap_or(false)
    }

    fn set_progress(&self, f: impl FnOnce(&mut Progress)) -> Progress {
        let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut p);
        p.clone()
    }

    /// Brings the index up to date with the man directories: pages gone are forgotten, new
    /// and changed ones read again. `report` is called with the progress now and then; `stop`
    /// ends the run early (what was done stays done).
    pub fn refresh(
        &self,
        report: &dyn Fn(&Progress),
        stop: &dyn Fn() -> bool,
    ) -> Result<Progress, KnowledgeError> {
        let print = fingerprint(&self.root);
        let files = scan(&self.root);
        let on_disk: BTreeSet<Vec<u8>> = files
            .iter()
            .map(|f| f.path.to_string_lossy().as_bytes().to_vec())
            .collect();
        let mut removed = 0;
        for kv in self.pages.iter() {
            let (k, v) = kv?;
            if on_disk.contains(k.as_ref()) {
                continue;
            }
            if let Ok(i) = serde_json::from_slice::<Indexed>(&v) {
                self.memory
                    .delete_prefix(COLLECTION, &format!("man:{}:", i.title))?;
            }
            self.pages.remove(k)?;
            removed += 1;
        }
        let total = files.len();
        self.set_progress(|p| {
            *p = Progress {
                running: true,
                total,
                removed,
                ..Progress::default()
            }
        });
        let mut batch: Vec<(String, String, BTreeMap<String, Scalar>)> = Vec::new();
        let mut batch_pages: Vec<(Vec<u8>, Indexed)> = Vec::new();
        let mut changed = 0;
        let mut last_report = std::time::Instant::now();
        for (n, f) in files.iter().enumerate() {
            if stop() {
                break;
            }
            let key = f.path.to_string_lossy().as_bytes().to_vec();
            let known = self
                .pages
                .get(&key)?
                .and_then(|v| serde_json::from_slice::<Indexed>(&v).ok());
            // A page is read again when it changed, or when its entries are gone (the
            // collection was cleared in memory's settings).
            let current = match &known {
                Some(i) if i.size == f.size && i.mtime_ns == f.mtime_ns => {
                    i.chunks == 0
                        || self
                            .memory
                            .contains(COLLECTION, &format!("{}000", f.prefix()))?
                }
                _ => false,
            };
            if !current {
                changed += 1;
                let page = match read_page(&f.path) {
                    Ok(src) => roff::parse(&src, &f.name),
                    Err(e) => {
                        // One unreadable page does not stop the others; it is said once.
                        tracing::debug!(error = %e, "manual page skipped");
                        roff::Page::Sections(Vec::new())
                    }
                };
                // Whatever the page held before goes: its entries are replaced as a whole.
                self.memory.delete_prefix(COLLECTION, &f.prefix())?;
                let parts = chunks(&page);
                let title = f.title();
                for (i, (heading, text)) in parts.iter().enumerate() {
                    let label = if heading.is_empty() {
                        title.clone()
                    } else {
                        format!("{title} — {heading}")
                    };
                    batch.push((
                        format!("{}{i:03}", f.prefix()),
                        format!("{label}: {text}"),
                        BTreeMap::from([
                            ("page".to_owned(), Scalar::Text(title.clone())),
                            ("heading".to_owned(), Scalar::Text(heading.clone())),
                            (
                                "path".to_owned(),
                                Scalar::Text(f.path.display().to_string()),
                            ),
                            ("source".to_owned(), Scalar::Text("man".into())),
                        ]),
                    ));
                }
                batch_pages.push((
                    key,
                    Indexed {
                        title,
                        size: f.size,
                        mtime_ns: f.mtime_ns,
                        chunks: parts.len(),
                    },
                ));
            }
            if batch.len() >= BATCH_ENTRIES || batch_pages.len() >= BATCH_ENTRIES {
                self.write(&mut batch, &mut batch_pages)?;
            }
            let p = self.set_progress(|p| {
                p.done = n + 1;
                p.changed = changed;
            });
            if last_report.elapsed() >= Duration::from_millis(500) {
                report(&p);
                last_report = std::time::Instant::now();
            }
        }
        self.write(&mut batch, &mut batch_pages)?;
        let finished = !stop();
        if finished {
            self.state.insert(BUILT_KEY, b"1".as_slice())?;
            self.state.insert(FINGERPRINT_KEY, print.as_bytes())?;
            self.state.insert(
                LAST_RUN_KEY,
                time::OffsetDateTime::now_utc()
                    .unix_timestamp()
                    .to_string()
                    .as_bytes(),
            )?;
            self.state.flush()?;
        }
        let p = self.set_progress(|p| p.running = false);
        report(&p);
        Ok(p)
    }

    /// Stores the batch's entries (durably), then records its pages as done.
    fn write(
        &self,
        batch: &mut Vec<(String, String, BTreeMap<String, Scalar>)>,
        pages: &mut Vec<(Vec<u8>, Indexed)>,
    ) -> Result<(), KnowledgeError> {
        if !batch.is_empty() {
            self.memory.put_many(COLLECTION, std::mem::take(batch))?;
        }
        if !pages.is_empty() {
            let mut b = sled::Batch::default();
            for (k, i) in pages.drain(..) {
                b.insert(
                    k,
                    serde_json::to_vec(&i)
                        .map_err(|e| KnowledgeError::Memory(MemoryError::Corrupt(e)))?,
                );
            }
            self.pages.apply_batch(b)?;
            self.pages.flush()?;
        }
        Ok(())
    }

    /// Whether packages changed the man directories since the last complete run (and there
    /// was one).
    pub fn stale(&self) -> bool {
        self.built()
            && self
                .state
                .get(FINGERPRINT_KEY)
                .ok()
                .flatten()
                .is_none_or(|v| v.as_ref() != fingerprint(&self.root).as_bytes())
    }

    /// Starts the job (worker `knowledge-index`) unless one is running; `report` is called
    /// with its progress. Returns false when one was already running.
    pub fn start(&self, workers: &Workers, report: Report) -> bool {
        if self.busy.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.set_progress(|p| {
            p.running = true;
            p.last_error = None;
        });
        let me = self.clone();
        workers.spawn("knowledge-index", move |token| async move {
            let m = me.clone();
            let r =
                tokio::task::spawn_blocking(move || m.refresh(&*report, &|| token.is_cancelled()))
                    .await;
            // The job is over: the next request starts a new one.
            me.busy.store(false, Ordering::SeqCst);
            let failed = match r {
                Ok(Ok(p)) => {
                    tracing::info!(
                        pages = p.total,
                        changed = p.changed,
                        removed = p.removed,
                        "manual pages indexed"
                    );
                    return Ok(());
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            me.set_progress(|p| {
                p.running = false;
                p.last_error = Some(failed.clone());
            });
            Err(format!("indexing manual pages: {failed}"))
        });
        true
    }

    /// Starts the worker `knowledge-watch`: every [`WATCH_EVERY`], when packages changed the
    /// man directories since the index was built, the job runs again.
    pub fn watch(&self, workers: &Workers, report: Report) {
        let (me, w) = (self.clone(), workers.clone());
        workers.spawn("knowledge-watch", move |token| async move {
            loop {
                tokio::select! {
                    () = token.cancelled() => return Ok(()),
                    () = tokio::time::sleep(WATCH_EVERY) => {}
                }
                let m = me.clone();
                let stale = tokio::task::spawn_blocking(move || m.stale())
                    .await
                    .unwrap_or(false);
                if stale && me.start(&w, report.clone()) {
                    tracing::info!("the manual pages changed: indexing them again");
                }
            }
        });
    }
}

/// Where a job's progress goes (the `/ws` feed).
pub type Report = Arc<dyn Fn(&Progress) + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/man")
    }

    fn copy_dir(from: &Path, to: &Path) {
        for e in std::fs::read_dir(from).expect("read") {
            let e = e.expect("entry");
            let dest = to.join(e.file_name());
            if e.file_type().expect("type").is_dir() {
                std::fs::create_dir_all(&dest).expect("mkdir");
                copy_dir(&e.path(), &dest);
            } else {
                std::fs::copy(e.path(), dest).expect("copy");
            }
        }
    }

    /// Real pages (mdoc and man, gzip) are indexed by heading with their page's name; a run
    /// with nothing changed reads nothing; a page removed is forgotten, one replaced is read
    /// again, and a change in the directories makes the index stale.
    #[test]
    fn pages_are_indexed_kept_current_and_forgotten() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("man");
        std::fs::create_dir_all(&root).expect("mkdir");
        copy_dir(&fixture(), &root);
        let db =
            crate::store::open_locked(&tmp.path().join("db"), Duration::from_secs(5)).expect("db");
        let memory = Memory::open(&db);
        let k = Knowledge::open(&db, memory.clone(), root.clone()).expect("open");
        assert!(!k.stale(), "never built: nothing to keep current");
        let reports = Mutex::new(Vec::new());
        let p = k
            .refresh(&|p| reports.lock().expect("lock").push(p.clone()), &|| {
                false
            })
            .expect("refresh");
        // man1: rbash (an alias), ssh; man5: fstab, ssh_config; man8: adduser, blkid. Not man3.
        assert_eq!((p.total, p.changed, p.removed), (6, 6, 0), "{p:?}");
        assert!(!p.running);
        assert_eq!(
            reports.lock().expect("lock").last().map(|p| p.done),
            Some(6)
        );
        let st = k.status();
        assert_eq!(st.pages, 6);
        assert!(st.built && st.last_run.is_some());
        let (entries, total) = memory.entries(COLLECTION, 10_000, 0).expect("entries");
        assert_eq!(total, st.entries);
        assert!(total > 50, "{total} entries");
        assert!(entries.iter().all(|e| e.content.len() <= CHUNK_CHARS + 80));
        assert!(!entries.iter().any(|e| e.id.starts_with("man:rbash(1)")));
        assert!(!entries.iter().any(|e| e.id.starts_with("man:queue(3)")));
        let hit = &memory
            .query(COLLECTION, "StrictHostKeyChecking known_hosts", 1)
            .expect("query")[0];
        assert_eq!(
            hit.entry.metadata["page"],
            Scalar::Text("ssh_config(5)".into())
        );
        assert!(
            hit.entry
                .content
                .starts_with("ssh_config(5) — DESCRIPTION: "),
            "{}",
            hit.entry.content
        );
        let hit = &memory
            .query(COLLECTION, "fstab mount options filesystems", 1)
            .expect("query")[0];
        assert_eq!(hit.entry.metadata["page"], Scalar::Text("fstab(5)".into()));

        let again = k.refresh(&|_| {}, &|| false).expect("again");
        assert_eq!((again.changed, again.removed), (0, 0));
        assert!(!k.stale());
        // Cleared in memory's settings: the next run reads every page again.
        memory.clear(COLLECTION).expect("clear");
        let again = k.refresh(&|_| {}, &|| false).expect("after a clear");
        assert_eq!(again.changed, 5, "every page with entries: {again:?}");
        assert_eq!(k.status().entries, total);
        assert_eq!(memory.entries(COLLECTION, 1, 0).expect("entries").1, total);

        std::fs::remove_file(root.join("man8/blkid.8.gz")).expect("rm");
        // A page replaced by a package: plain text now, another size.
        std::fs::remove_file(root.join("man8/adduser.8.gz")).expect("rm");
        std::fs::write(
            root.join("man8/adduser.8"),
            ".TH ADDUSER 8\n.SH NAME\nadduser \\- add a user to the system\n",
        )
        .expect("write");
        assert!(k.stale(), "the directory changed");
        let p = k.refresh(&|_| {}, &|| false).expect("after changes");
        assert_eq!((p.total, p.changed, p.removed), (5, 1, 2), "{p:?}");
        let (entries, _) = memory.entries(COLLECTION, 10_000, 0).expect("entries");
        assert!(!entries.iter().any(|e| e.id.starts_with("man:blkid(8)")));
        let adduser: Vec<_> = entries
            .iter()
            .filter(|e| e.id.starts_with("man:adduser(8)"))
            .collect();
        assert_eq!(adduser.len(), 1);
        assert_eq!(
            adduser[0].content,
            "adduser(8) — NAME: adduser - add a user to the system"
        );
        assert!(!k.stale());
    }

    /// A run stopped halfway keeps what it did, and the next run does the rest.
    #[test]
    fn a_run_cut_short_resumes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let db =
            crate::store::open_locked(&tmp.path().join("db"), Duration::from_secs(5)).expect("db");
        let memory = Memory::open(&db);
        let k = Knowledge::open(&db, memory, fixture()).expect("open");
        let seen = std::sync::atomic::AtomicUsize::new(0);
        let p = k
            .refresh(&|_| {}, &|| seen.fetch_add(1, Ordering::SeqCst) >= 3)
            .expect("cut short");
        assert_eq!(p.done, 3);
        assert!(
            !k.status().built,
            "an incomplete run does not count as built"
        );
        let p = k.refresh(&|_| {}, &|| false).expect("rest");
        assert_eq!((p.total, p.changed), (6, 3), "{p:?}");
        assert_eq!(k.status().pages, 6);
    }

    #[test]
    fn page_files_are_named_by_their_section() {
        assert_eq!(
            split_name("sshd_config.5.gz", "5"),
            Some(("sshd_config".into(), "5".into()))
        );
        assert_eq!(
            split_name("openssl-req.1ssl.gz", "1"),
            Some(("openssl-req".into(), "1ssl".into()))
        );
        assert_eq!(split_name("README", "1"), None);
        assert_eq!(split_name("x.8.gz", "5"), None);
    }

    #[test]
    fn long_sections_are_cut_at_paragraphs() {
        let para = "word ".repeat(100);
        let page = roff::Page::Sections(vec![roff::Section {
            heading: "DESCRIPTION".into(),
            text: [para.trim(), para.trim(), "short"].join("\n\n"),
        }]);
        let c = chunks(&page);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(
            c.iter()
                .all(|(h, t)| h == "DESCRIPTION" && t.len() <= CHUNK_CHARS)
        );
        assert!(c[1].1.ends_with("short"));
        let huge = roff::Page::Sections(vec![roff::Section {
            heading: "X".into(),
            text: "w ".repeat(2000),
        }]);
        assert!(chunks(&huge).iter().all(|(_, t)| t.len() <= CHUNK_CHARS));
    }
}
