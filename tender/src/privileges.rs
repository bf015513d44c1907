//! Giving up privileges before a guest runs, the same way in every
//! tender: every capability set emptied once the tender has opened what
//! needs them (`/dev/kvm`, taps, block files).

use caps::{CapSet, Capability};
use thiserror::Error;

/// A capability set that could not be emptied.
#[derive(Debug, Error)]
#[error("could not drop capabilities ({0})")]
pub struct DropCapsError(pub &'static str, #[source] pub caps::errors::CapsError);

/// Drop every capability: bounding (when the process may: it needs
/// CAP_SETPCAP), ambient, inheritable, then effective and permitted. A
/// process without CAP_SETPCAP keeps its bounding set, which only limits
/// what an `execve` could regain: the tenders' filters forbid `execve`
/// and set no_new_privs.
pub fn drop_capabilities() -> Result<(), DropCapsError> {
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        caps::clear(None, CapSet::Bounding).map_err(|e| DropCapsError("bounding", e))?;
    }
    let sets = [
        (CapSet::Ambient, "ambient"),
        (CapSet::Inheritable, "inheritable"),
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
    ];
    for (set, name) in sets {
        caps::clear(None, set).map_err(|e| DropCapsError(name, e))?;
    }
    Ok(())
}
