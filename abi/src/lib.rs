//! What crosses the line between a Solo5 tender and its guest.
//!
//! Everything here is `#[repr(C)]`, x86_64, little endian, and checked
//! against the sizes and offsets of docs/abis.md and docs/hvt.md by `const`
//! assertions. Both the
//! tender (std) and the guest SDK (`no_std`) depend on this crate, so it has
//! no dependencies and no `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

pub mod hvt;
pub mod mft;
pub mod native;
pub mod note;
pub mod sptv2;
pub mod stack;
pub mod usermode;

/// Results of Solo5 calls (`solo5_result_t`).
pub mod result {
    /// The operation completed successfully.
    pub const OK: u32 = 0;
    /// The operation would block (net read with nothing queued).
    pub const AGAIN: u32 = 1;
    /// Invalid argument: bad handle, misaligned or out-of-range request.
    pub const EINVAL: u32 = 2;
    /// The operation failed for an unspecified reason (host I/O error).
    pub const EUNSPEC: u32 = 3;
}

/// Lowest guest address of the spt memory layout: guest memory is mapped
/// from here up to `mem_size`.
pub const GUEST_MIN: u64 = 0x10000;
/// Lowest address at which a `PT_LOAD` segment or the entry point may lie.
pub const LOAD_MIN: u64 = 0x100000;
/// Where the tender writes the boot info (both spt ABIs).
pub const BOOT_INFO_ADDR: u64 = 0x11000;
/// Size of the command-line buffer that follows the boot info and manifest.
pub const CMDLINE_SIZE: usize = 8192;
/// Page size the loader works with.
pub const PAGE_SIZE: u64 = 0x1000;
/// Default guest memory size in MiB.
pub const DEFAULT_MEM_MIB: u64 = 512;
/// The largest block request, in bytes, our tenders serve in one call
/// (solo5-hvt's BLOCK_READ/BLOCK_WRITE, the native spt table's
/// `block_read`/`block_write`): whole blocks, 1 MiB at most. Upstream's
/// hvt tender serves any whole request inside the device; upstream's spt
/// serves exactly one block.
pub const MAX_BLOCK_REQUEST: u64 = 1 << 20;
/// Exit status reserved for `solo5_abort()`.
pub const EXIT_ABORT: i32 = 255;
