//! What the hypercalls and the net ring's thread share about the net
//! devices: their end-of-file state and the lines said about them. Both
//! [`crate::hypercalls`] and [`crate::ring`] use it; neither uses the
//! other.

use crate::sys::{self, Errno, PROG};
use solo5_tender::devices::io::{NetEof, NetStatus};

/// What the hypercalls and the ring thread share about the net devices:
/// the end-of-file state and lines of the shared device code, and which
/// devices' ring writes failed.
#[derive(Debug, Default)]
pub struct NetShared {
    /// Devices at end of file, and the line each gets.
    pub status: NetStatus,
    /// Devices whose ring writes failed (said once each).
    write_failed: NetEof,
    names: Vec<String>,
}

impl NetShared {
    /// For the net devices `names` (manifest index, name).
    pub fn new(names: &[(usize, &str)]) -> NetShared {
        let mut all = vec![String::new(); 64];
        for &(i, name) in names {
            if let Some(n) = all.get_mut(i) {
                *n = name.to_string();
            }
        }
        NetShared {
            status: NetStatus::new(PROG, names),
            write_failed: NetEof::new(),
            names: all,
        }
    }

    /// A frame written through the ring could not go out (`errno`, or a
    /// short write when `None`): the ring has no way to tell the guest,
    /// so the tender says so, once per device, and drops the frame.
    pub fn write_failed(&self, index: usize, errno: Option<i32>, wrote: usize, len: u32) {
        if !self.write_failed.set(index) {
            return;
        }
        let name = self.names.get(index).map_or("", String::as_str);
        match errno {
            Some(e) => sys::warn(format_args!(
                "warning: net '{name}': frame write failed: {}; frames that cannot be written are dropped",
                Errno(e)
            )),
            None => sys::warn(format_args!(
                "warning: net '{name}': wrote only {wrote} out of {len} bytes of a frame; frames that cannot be written are dropped"
            )),
        }
    }
}
