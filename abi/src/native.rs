//! Our native spt ABI: the guest calls back into the tender through a
//! versioned table of `extern "C"` functions (docs/native-abi.md).
//!
//! Binaries for this ABI carry an ABI1 note with target
//! [`crate::note::target::SPT_NATIVE`] and version
//! [`crate::note::version::SPT_NATIVE`]. The tender loads them exactly like
//! spt v2 binaries, writes a [`BootInfo`] at [`crate::BOOT_INFO_ADDR`], the
//! manifest right after it and the command line after that, and jumps to
//! the entry point with `rdi` = boot info address and the stack pointer at
//! `mem_size - 8`.

/// `BootInfo::magic`: "S5NATIVE" read as a little-endian u64.
pub const BOOT_MAGIC: u64 = u64::from_le_bytes(*b"S5NATIVE");
/// `BootInfo::version`.
pub const BOOT_VERSION: u32 = 1;
/// `Hypercalls::magic`: "S5HCALLS" read as a little-endian u64.
pub const HYPERCALLS_MAGIC: u64 = u64::from_le_bytes(*b"S5HCALLS");
/// `Hypercalls::version`.
pub const HYPERCALLS_VERSION: u32 = 1;

/// What the guest gets at entry (in `rdi`). All addresses are guest
/// addresses, which spt maps 1:1 into the tender's process.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// [`BOOT_MAGIC`].
    pub magic: u64,
    /// [`BOOT_VERSION`].
    pub version: u32,
    /// `size_of::<BootInfo>()` as the tender knows it.
    pub size: u32,
    /// End of guest memory (exclusive); guest memory starts at
    /// [`crate::GUEST_MIN`].
    pub mem_size: u64,
    /// End of the highest loaded segment.
    pub kernel_end: u64,
    /// NUL-terminated command line (guest arguments joined by spaces).
    pub cmdline: u64,
    /// Length of the command line, NUL excluded.
    pub cmdline_len: u64,
    /// The manifest ([`crate::mft::Header`] followed by the entries),
    /// attached entries filled in. `hostfd` is always 0 here.
    pub mft: u64,
    /// Size of the manifest in bytes.
    pub mft_size: u64,
    /// Address of the [`Hypercalls`] table.
    pub hypercalls: u64,
    /// The largest block request, in bytes, the table's `block_read` and
    /// `block_write` serve (whole blocks; at least one block is always
    /// served). Appended to version 1: present when `size` is at least
    /// [`BOOT_INFO_SIZE`]; a smaller boot info (an older tender) means one
    /// block per request.
    pub max_block_request: u64,
}

/// Size of the first version-1 boot info, before `max_block_request`.
pub const BOOT_INFO_V1_SIZE: u32 = 72;
/// Size of [`BootInfo`] as this crate knows it.
pub const BOOT_INFO_SIZE: u32 = core::mem::size_of::<BootInfo>() as u32;

/// Write `len` bytes from `buf` to the console.
pub type ConsoleWriteFn = unsafe extern "C" fn(buf: *const u8, len: usize);
/// Nanoseconds of a clock.
pub type ClockFn = unsafe extern "C" fn() -> u64;
/// Wait until `deadline` (monotonic ns) or until a net handle is readable;
/// `*ready_set` gets one bit per readable manifest index.
pub type YieldFn = unsafe extern "C" fn(deadline: u64, ready_set: *mut u64);
/// Read one frame; `*read_size` gets its length.
pub type NetReadFn =
    unsafe extern "C" fn(handle: u64, buf: *mut u8, size: usize, read_size: *mut usize) -> u32;
/// Write one frame.
pub type NetWriteFn = unsafe extern "C" fn(handle: u64, buf: *const u8, size: usize) -> u32;
/// Read whole blocks at byte `offset` (at most the boot info's
/// `max_block_request` bytes).
pub type BlockReadFn =
    unsafe extern "C" fn(handle: u64, offset: u64, buf: *mut u8, size: usize) -> u32;
/// Write whole blocks at byte `offset` (at most the boot info's
/// `max_block_request` bytes).
pub type BlockWriteFn =
    unsafe extern "C" fn(handle: u64, offset: u64, buf: *const u8, size: usize) -> u32;
/// Set the FS base (TLS pointer).
pub type SetTlsBaseFn = unsafe extern "C" fn(base: u64) -> u32;
/// End the process with `status`.
pub type ExitFn = unsafe extern "C" fn(status: i32) -> !;

/// The table of host-side Solo5 calls. Every function returns a
/// [`crate::result`] code where it returns anything, checks every argument
/// and runs on the guest's stack with the guest's FS base.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Hypercalls {
    /// [`HYPERCALLS_MAGIC`].
    pub magic: u64,
    /// [`HYPERCALLS_VERSION`].
    pub version: u32,
    /// `size_of::<Hypercalls>()`; later versions only append.
    pub size: u32,
    /// `solo5_console_write`.
    pub console_write: ConsoleWriteFn,
    /// `solo5_clock_monotonic`.
    pub clock_monotonic: ClockFn,
    /// `solo5_clock_wall`.
    pub clock_wall: ClockFn,
    /// `solo5_yield`.
    pub yield_: YieldFn,
    /// `solo5_net_read`.
    pub net_read: NetReadFn,
    /// `solo5_net_write`.
    pub net_write: NetWriteFn,
    /// `solo5_block_read`.
    pub block_read: BlockReadFn,
    /// `solo5_block_write`.
    pub block_write: BlockWriteFn,
    /// `solo5_set_tls_base`.
    pub set_tls_base: SetTlsBaseFn,
    /// `solo5_exit` / `solo5_abort`.
    pub exit: ExitFn,
}

const _: () = assert!(core::mem::size_of::<BootInfo>() == 80);
const _: () = assert!(core::mem::offset_of!(BootInfo, hypercalls) == 64);
const _: () =
    assert!(core::mem::offset_of!(BootInfo, max_block_request) == BOOT_INFO_V1_SIZE as usize);
const _: () = assert!(core::mem::size_of::<Hypercalls>() == 16 + 10 * 8);
const _: () = assert!(core::mem::offset_of!(Hypercalls, exit) == 88);
