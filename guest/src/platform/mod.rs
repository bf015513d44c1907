//! The per-flavor layer: how this guest talks to its tender.
//!
//! Everything above this module is the same for every flavor. A flavor
//! module provides the same set of items:
//!
//! - `ABI_TARGET`, `ABI_VERSION`: the values of the ABI1 note;
//! - `unsafe fn init(boot_info) -> Result<Boot, &str>`: checks and records
//!   what the tender handed over at entry;
//! - `console_write`, `exit`, `clock_monotonic`, `clock_wall`,
//!   `yield_until`, `set_tls_base`;
//! - `net_read`, `net_write`, `block_read`, `block_write`, which get a
//!   handle the core has already checked (index, type, attached) and, for
//!   block I/O, a size and offset it has checked too. They return Solo5
//!   result codes (`solo5_abi::result`).
//!
//! `spt` is the native function-table ABI (`native.rs`), `spt-v2` the raw
//! syscall ABI of upstream (`sptv2.rs`), `hvt` upstream's hvt ABI
//! (`hvt.rs`, with the CPU set-up of `hvt_cpu.rs`).

use solo5_abi::mft;

#[cfg(feature = "spt")]
mod native;
#[cfg(feature = "spt")]
pub(crate) use native::*;

#[cfg(all(feature = "spt-v2", not(feature = "spt")))]
mod sptv2;
#[cfg(all(feature = "spt-v2", not(feature = "spt")))]
pub(crate) use sptv2::*;

#[cfg(all(feature = "hvt", not(any(feature = "spt", feature = "spt-v2"))))]
mod hvt;
#[cfg(all(feature = "hvt", not(any(feature = "spt", feature = "spt-v2"))))]
mod hvt_call;
#[cfg(all(feature = "hvt", not(any(feature = "spt", feature = "spt-v2"))))]
pub(crate) mod hvt_cpu;
#[cfg(all(feature = "hvt", not(any(feature = "spt", feature = "spt-v2"))))]
pub(crate) use hvt::*;
#[cfg(all(feature = "hvt", not(any(feature = "spt", feature = "spt-v2"))))]
mod hvt_net;
// The ring's logic is tested on the build host, whatever the flavor.
#[cfg(any(
    test,
    all(feature = "hvt", not(any(feature = "spt", feature = "spt-v2")))
))]
#[cfg_attr(test, allow(dead_code))]
mod hvt_ring;

/// What the tender handed over, in a flavor-independent form.
pub(crate) struct Boot {
    /// End of guest memory.
    pub mem_size: u64,
    /// End of the loaded segments as the tender counts them (`p_filesz
    /// != 0` only: it may stop short of `.bss`). Only a sanity bound: the
    /// heap starts at the image's own `_end`.
    pub kernel_end: u64,
    /// NUL-terminated command line (never null).
    pub cmdline: *const u8,
    /// The manifest copy: `entries` entries follow its header.
    pub mft: Manifest,
    /// Where the flavor put the stack itself, and where the heap starts
    /// (hvt entered at CPL0: the stack below the heap); `None`: the heap
    /// from `_end`, the stack at the top of memory.
    pub placed: Option<Placed>,
}

/// A stack the flavor's start-up placed itself, and the heap above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placed {
    /// First byte of the heap.
    pub heap_start: u64,
    /// The guard range and the stack: `(guard start, stack start, stack
    /// end)`, exclusive ends.
    pub stack: (u64, u64, u64),
}

impl Boot {
    /// What both flavors' boot infos say, with a null command line read as
    /// an empty one.
    pub(crate) fn new(mem_size: u64, kernel_end: u64, cmdline: u64, mft: Manifest) -> Boot {
        let cmdline = if cmdline == 0 {
            EMPTY_CMDLINE.as_ptr()
        } else {
            cmdline as *const u8
        };
        Boot {
            mem_size,
            kernel_end,
            cmdline,
            mft,
            placed: None,
        }
    }
}

/// The manifest copy the tender filled in (attached devices).
#[derive(Clone, Copy)]
pub(crate) struct Manifest {
    pub entries: *const mft::Entry,
    pub len: usize,
}

/// An empty command line for tenders that pass none.
pub(crate) static EMPTY_CMDLINE: [u8; 1] = [0];

/// Checks the manifest header at `addr`; `size`, when the tender tells it,
/// bounds the whole manifest.
///
/// # Safety
/// `addr` must be readable for a header and, when the header is valid, for
/// the entries it announces (the tender writes them there).
pub(crate) unsafe fn manifest_at(addr: u64, size: Option<u64>) -> Result<Manifest, &'static str> {
    let header = addr as *const mft::Header;
    // Entries hold u64s: the manifest must be 8-byte aligned.
    if header.is_null() || !addr.is_multiple_of(8) {
        return Err("manifest: bad address");
    }
    // SAFETY: non-null, aligned, and the caller vouches that it is readable.
    let header = unsafe { *header };
    let len = header.entries as usize;
    if header.version != mft::VERSION || len == 0 || len > mft::MAX_ENTRIES {
        return Err("manifest: bad header");
    }
    if let Some(size) = size {
        if size < mft::size(len) as u64 {
            return Err("manifest: truncated");
        }
    }
    Ok(Manifest {
        entries: (addr as usize + mft::HEADER_SIZE) as *const mft::Entry,
        len,
    })
}
