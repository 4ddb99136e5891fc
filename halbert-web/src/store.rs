//! The per-user sled database in the state dir, with a format version so later releases can
//! migrate it.

use std::path::Path;

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
    let db = sled::open(&path).map_err(|source| StoreError::Open {
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
