//! The last scan result of every discovery type: served from memory, persisted as
//! `<state>/discovery/<type>.json` so a restart answers at once with the last known state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Item, Kind, ScanCtx, ScanError, check_unique, scan};
use crate::host::statefile;

/// Bumped whenever the file layout changes; older files are ignored and rescanned.
const FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TypeState {
    pub items: Vec<Item>,
    /// Unix ms of the last scan attempt; 0 = never scanned.
    pub last_scan_ms: i64,
    pub duration_ms: u64,
    /// Why the last attempt failed; the items are then those of the last good scan.
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    format: u32,
    #[serde(flatten)]
    state: TypeState,
}

/// Count, last scan and last error of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeSummary {
    pub kind: Kind,
    pub count: usize,
    pub last_scan_ms: i64,
    pub error: Option<String>,
}

/// Progress of a scan, one event per type started and finished.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Started(Kind),
    Done {
        kind: Kind,
        items: usize,
        duration_ms: u64,
    },
    Failed {
        kind: Kind,
        error: String,
        duration_ms: u64,
    },
}

#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    types: RwLock<BTreeMap<Kind, TypeState>>,
    /// One scan at a time; a second request waits for the first to finish.
    scanning: tokio::sync::Mutex<()>,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Store {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        statefile::ensure_private_dir(dir)?;
        let mut types = BTreeMap::new();
        for k in Kind::ALL {
            let path = dir.join(format!("{}.json", k.as_str()));
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            match serde_json::from_slice::<File>(&bytes) {
                Ok(f) if f.format == FORMAT => {
                    types.insert(k, f.state);
                }
                Ok(f) => {
                    tracing::warn!(file = %path.display(), format = f.format, "ignoring discovery state of another format")
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "ignoring unreadable discovery state")
                }
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            types: RwLock::new(types),
            scanning: tokio::sync::Mutex::new(()),
        })
    }

    pub fn list(&self, kind: Kind) -> TypeState {
        self.types
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&kind)
            .cloned()
            .unwrap_or_default()
    }

    pub fn get(&self, id: &str) -> Option<Item> {
        let t = self.types.read().unwrap_or_else(|p| p.into_inner());
        t.values()
            .flat_map(|s| s.items.iter())
            .find(|i| i.id == id)
            .cloned()
    }

    /// Count, last scan and error of every type.
    pub fn summary(&self) -> Vec<TypeSummary> {
        let t = self.types.read().unwrap_or_else(|p| p.into_inner());
        Kind::ALL
            .into_iter()
            .map(|kind| {
                let s = t.get(&kind);
                TypeSummary {
                    kind,
                    count: s.map_or(0, |s| s.items.len()),
                    last_scan_ms: s.map_or(0, |s| s.last_scan_ms),
                    error: s.and_then(|s| s.error.clone()),
                }
            })
            .collect()
    }

    /// Scans `kinds` concurrently, each within its own timeout; reports progress on `progress`.
    /// A successful scan replaces that type's items (vanished ones go away); a failed one keeps
    /// the last good items and records the error. One type's failure never affects another.
    pub async fn scan(
        &self,
        kinds: &[Kind],
        ctx: &ScanCtx,
        progress: &tokio::sync::mpsc::UnboundedSender<Progress>,
    ) {
        let _one_at_a_time = self.scanning.lock().await;
        let jobs: Vec<_> = kinds
            .iter()
            .map(|&kind| async move {
                let _ = progress.send(Progress::Started(kind));
                let t0 = Instant::now();
                let limit = ctx.scanner_limit(kind);
                let res = match tokio::time::timeout(limit, scan(kind, ctx)).await {
                    Ok(r) => r.and_then(|items| check_unique(&items).map(|()| items)),
                    Err(_) => Err(ScanError::Timeout {
                        kind: kind.as_str(),
                        after: limit,
                    }),
                };
                let duration_ms = t0.elapsed().as_millis() as u64;
                let at = now_ms();
                let (event, next) = match res {
                    Ok(mut items) => {
                        for i in &mut items {
                            i.last_scanned_ms = at;
                        }
                        let n = items.len();
                        (
                            Progress::Done {
                                kind,
                                items: n,
                                duration_ms,
                            },
                            TypeState {
                                items,
                                last_scan_ms: at,
                                duration_ms,
                                error: None,
                            },
                        )
                    }
                    Err(e) => {
                        tracing::warn!(kind = kind.as_str(), error = %e, "discovery scan failed");
                        let mut keep = self.list(kind);
                        keep.last_scan_ms = at;
                        keep.duration_ms = duration_ms;
                        keep.error = Some(e.to_string());
                        (
                            Progress::Failed {
                                kind,
                                error: e.to_string(),
                                duration_ms,
                            },
                            keep,
                        )
                    }
                };
                self.replace(kind, next);
                let _ = progress.send(event);
            })
            .collect();
        futures_util::future::join_all(jobs).await;
    }

    fn replace(&self, kind: Kind, state: TypeState) {
        let path = self.dir.join(format!("{}.json", kind.as_str()));
        let file = File {
            format: FORMAT,
            state,
        };
        match serde_json::to_vec(&file) {
            Ok(bytes) => {
                if let Err(e) = statefile::write_atomic(&path, &bytes) {
                    // Memory still has the fresh result; the next scan tries to persist again.
                    tracing::error!(file = %path.display(), error = %e, "cannot persist discovery state");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot serialize discovery state"),
        }
        self.types
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind, file.state);
    }
}
