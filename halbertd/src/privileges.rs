//! Dropping capabilities right after start.
//!
//! halbertd keeps only what its current RPCs need. Today that is nothing: it runs as uid 0,
//! owns its state dir, reads world-readable `/proc` and `/sys` files, gets its socket from
//! systemd, and talks to polkit over the bus. So every capability is dropped from the
//! effective, permitted, inheritable, ambient and bounding sets. A capability added to
//! [`KEPT`] must say why in ARCHITECTURE.md.

use caps::{CapSet, Capability, CapsHashSet};

/// Capabilities halbertd keeps (see the module docs and ARCHITECTURE.md).
pub const KEPT: &[Capability] = &[];

#[derive(Debug, thiserror::Error)]
#[error("cannot drop capabilities: {0}")]
pub struct CapsError(String);

/// Drops every capability not in [`KEPT`]. A no-op for an unprivileged process that has none.
pub fn drop_unneeded() -> Result<CapsHashSet, CapsError> {
    let keep: CapsHashSet = KEPT.iter().copied().collect();
    let err = |e: caps::errors::CapsError| CapsError(e.to_string());
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).map_err(err)? {
        for c in caps::all() {
            if !keep.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
                caps::drop(None, CapSet::Bounding, c).map_err(err)?;
            }
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(err)?;
    for set in [CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        let now = caps::read(None, set).map_err(err)?;
        caps::set(None, set, &now.intersection(&keep).copied().collect()).map_err(err)?;
    }
    caps::read(None, CapSet::Permitted).map_err(err)
}
