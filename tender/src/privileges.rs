//! Giving up privileges before a guest runs, the same way in every
//! tender: every capability set emptied once the tender has opened what
//! needs them (`/dev/kvm`, taps, block files).

use caps::{CapSet, Capability};
use nix::sys::personality::{self, Persona};
use thiserror::Error;

/// A capability set that could not be emptied.
#[derive(Debug, Error)]
#[error("could not drop capabilities ({0})")]
pub struct DropCapsError(pub &'static str, #[source] pub caps::errors::CapsError);

/// The capability sets emptied after the bounding set, in the order they
/// are emptied, with the names errors give them.
pub const SETS: [(CapSet, &str); 4] = [
    (CapSet::Ambient, "ambient"),
    (CapSet::Inheritable, "inheritable"),
    (CapSet::Effective, "effective"),
    (CapSet::Permitted, "permitted"),
];

/// Drop every capability: bounding (when the process may: it needs
/// CAP_SETPCAP), then [`SETS`]. A process without CAP_SETPCAP keeps its
/// bounding set, which only limits what an `execve` could regain: the
/// tenders' filters forbid `execve` and set no_new_privs.
pub fn drop_capabilities() -> Result<(), DropCapsError> {
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        caps::clear(None, CapSet::Bounding).map_err(|e| DropCapsError("bounding", e))?;
    }
    clear_sets()
}

/// Empty [`SETS`] (not the bounding set), in order.
pub fn clear_sets() -> Result<(), DropCapsError> {
    for (set, name) in SETS {
        caps::clear(None, set).map_err(|e| DropCapsError(name, e))?;
    }
    Ok(())
}

/// Whether the process runs with the `READ_IMPLIES_EXEC` personality
/// (every readable mapping also executable), which would undo the W^X
/// protections of guest memory. Each tender refuses to run then, with its
/// own line.
pub fn read_implies_exec() -> bool {
    // personality(0xffffffff): only queries the persona.
    personality::get().is_ok_and(|p| p.contains(Persona::READ_IMPLIES_EXEC))
}
