//! Becoming the unprivileged user the tender runs as: bounding set
//! emptied while we still may, then uid/gid, then every other capability
//! set emptied (as the tenders empty them), then no_new_privs.

use crate::sys;
use caps::CapSet;
use solo5_tender::privileges::{clear_sets, DropCapsError, SETS};
use std::io;
use thiserror::Error;

/// A step of dropping privileges that failed.
#[derive(Debug, Error)]
pub enum DropError {
    /// Clearing a capability set failed.
    #[error("could not clear the {0} capability set")]
    Caps(&'static str, #[source] caps::errors::CapsError),
    /// Clearing the bounding set failed (it takes CAP_SETPCAP).
    #[error("could not clear the bounding capability set (needs CAP_SETPCAP)")]
    Bounding(#[source] caps::errors::CapsError),
    /// setgroups/setresgid/setresuid failed.
    #[error("could not become uid {0} gid {1} (needs CAP_SETUID and CAP_SETGID)")]
    Ids(u32, u32, #[source] io::Error),
    /// prctl(PR_SET_NO_NEW_PRIVS) failed.
    #[error("could not set no_new_privs")]
    NoNewPrivs(#[source] io::Error),
    /// A set still holds a capability afterwards.
    #[error("the {0} capability set is not empty after dropping it")]
    Left(&'static str),
}

/// Drop everything: after this the process holds no capability in any
/// set, runs as `uid`:`gid` with no supplementary groups, and no exec can
/// give it a privilege back.
pub fn drop_all(uid: u32, gid: u32) -> Result<(), DropError> {
    caps::clear(None, CapSet::Bounding).map_err(DropError::Bounding)?;
    sys::set_ids(uid, gid).map_err(|e| DropError::Ids(uid, gid, e))?;
    clear_sets().map_err(|DropCapsError(name, e)| DropError::Caps(name, e))?;
    sys::set_no_new_privs().map_err(DropError::NoNewPrivs)?;
    for (set, name) in SETS.into_iter().chain([(CapSet::Bounding, "bounding")]) {
        if !caps::read(None, set)
            .map_err(|e| DropError::Caps(name, e))?
            .is_empty()
        {
            return Err(DropError::Left(name));
        }
    }
    Ok(())
}
