//! The native spt ABI: every host call goes through the tender's table of
//! `extern "C"` functions (`solo5_abi::native::Hypercalls`).
//!
//! The table's functions run on our stack with our FS base; they check
//! their arguments themselves, so the core's checks are a courtesy here.
//! Only before the table is known (a broken boot info) does this module
//! make raw `write(1)` / `exit_group` syscalls, which the native seccomp
//! filter allows, to say why it gives up.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use solo5_abi::mft::Entry;
use solo5_abi::native::{
    BootInfo, Hypercalls, BOOT_INFO_SIZE, BOOT_INFO_V1_SIZE, BOOT_MAGIC, BOOT_VERSION,
    HYPERCALLS_MAGIC, HYPERCALLS_VERSION,
};
use solo5_abi::note::{target, version};
use solo5_abi::result;

use super::{manifest_at, Boot};
use crate::sys;

/// ABI1 note target of this flavor.
pub(crate) const ABI_TARGET: u32 = target::SPT_NATIVE;
/// ABI1 note version of this flavor.
pub(crate) const ABI_VERSION: u32 = version::SPT_NATIVE;

/// The validated hypercall table; null until `init` succeeds.
static TABLE: AtomicPtr<Hypercalls> = AtomicPtr::new(core::ptr::null_mut());

/// Checks the boot info at `arg` and its hypercall table, and records the
/// table.
///
/// # Safety
/// `arg` must be the value the tender passed to `_start` in rdi.
pub(crate) unsafe fn init(arg: *const c_void) -> Result<Boot, &'static str> {
    let bi = arg as *const BootInfo;
    if bi.is_null() || !bi.is_aligned() {
        return Err("boot info: bad address");
    }
    // SAFETY: the tender wrote a BootInfo at this address in guest memory
    // (rdi at entry); it is aligned and non-null. Only the magic is read
    // before it is known to be one of ours.
    let magic = unsafe { (*bi).magic };
    if magic != BOOT_MAGIC {
        return Err("boot info: bad magic (this binary needs solo5-spt's native ABI)");
    }
    // SAFETY: as above; the magic says the tender wrote a native BootInfo.
    let bi = unsafe { *bi };
    if bi.version < BOOT_VERSION || bi.size < BOOT_INFO_V1_SIZE {
        return Err("boot info: unsupported version");
    }
    // A tender of the first version 1 serves one block per request.
    let max = if bi.size >= BOOT_INFO_SIZE {
        bi.max_block_request
    } else {
        0
    };
    MAX_BLOCK_REQUEST.store(max, Ordering::Relaxed);

    let table = bi.hypercalls as *mut Hypercalls;
    if table.is_null() || !table.is_aligned() {
        return Err("hypercall table: bad address");
    }
    // SAFETY: the boot info points at the table in tender memory mapped in
    // our address space; non-null and aligned. Its magic is checked before
    // anything else is trusted.
    let (t_magic, t_version, t_size) = unsafe { ((*table).magic, (*table).version, (*table).size) };
    if t_magic != HYPERCALLS_MAGIC
        || t_version < HYPERCALLS_VERSION
        || (t_size as usize) < core::mem::size_of::<Hypercalls>()
    {
        return Err("hypercall table: bad magic, version or size");
    }
    TABLE.store(table, Ordering::Release);

    // SAFETY: the tender wrote the manifest copy (mft_size bytes) there.
    let mft = unsafe { manifest_at(bi.mft, Some(bi.mft_size)) }?;
    Ok(Boot::new(bi.mem_size, bi.kernel_end, bi.cmdline, mft))
}

/// The table, or the end of the process if a host call comes before
/// `init` succeeded (which the SDK never does).
fn table() -> &'static Hypercalls {
    let t = TABLE.load(Ordering::Acquire);
    if t.is_null() {
        sys::write(
            1,
            b"Solo5: ABORT: host call before the hypercall table is set\n",
        );
        sys::exit_group(crate::EXIT_ABORT);
    }
    // SAFETY: non-null means init() checked magic, version and size; the
    // tender keeps the table mapped and unchanged for the life of the
    // process.
    unsafe { &*t }
}

pub(crate) fn console_write(buf: &[u8]) {
    let t = TABLE.load(Ordering::Acquire);
    if t.is_null() {
        // Reporting a broken boot info: no table to go through.
        sys::write(1, buf);
        return;
    }
    // SAFETY: t was validated by init (see table()); the function reads
    // buf.len() bytes of a live slice.
    unsafe { ((*t).console_write)(buf.as_ptr(), buf.len()) }
}

pub(crate) fn exit(status: i32) -> ! {
    if TABLE.load(Ordering::Acquire).is_null() {
        sys::exit_group(status);
    }
    // SAFETY: the table is valid (checked above); exit takes no pointer.
    unsafe { (table().exit)(status) }
}

pub(crate) fn clock_monotonic() -> u64 {
    // SAFETY: valid table; the function takes no argument.
    unsafe { (table().clock_monotonic)() }
}

pub(crate) fn clock_wall() -> u64 {
    // SAFETY: valid table; the function takes no argument.
    unsafe { (table().clock_wall)() }
}

pub(crate) fn yield_until(deadline: u64) -> u64 {
    let mut ready = 0u64;
    // SAFETY: valid table; ready_set points at a live local.
    unsafe { (table().yield_)(deadline, &mut ready) };
    ready
}

pub(crate) fn set_tls_base(base: u64) -> u32 {
    // SAFETY: valid table; the function changes the FS base, nothing in
    // memory. Code that later uses %fs owns what base points to.
    unsafe { (table().set_tls_base)(base) }
}

pub(crate) fn net_read(handle: u64, _e: &Entry, buf: &mut [u8]) -> Result<usize, u32> {
    let mut n = 0usize;
    // SAFETY: valid table; buf is a live exclusive slice of buf.len()
    // bytes and n a live local.
    let rc = unsafe { (table().net_read)(handle, buf.as_mut_ptr(), buf.len(), &mut n) };
    if rc == result::OK {
        Ok(n.min(buf.len()))
    } else {
        Err(rc)
    }
}

pub(crate) fn net_write(handle: u64, _e: &Entry, buf: &[u8]) -> u32 {
    // SAFETY: valid table; buf is a live slice of buf.len() bytes.
    unsafe { (table().net_write)(handle, buf.as_ptr(), buf.len()) }
}

/// What the tender's boot info says it serves in one block request (0:
/// one block).
static MAX_BLOCK_REQUEST: AtomicU64 = AtomicU64::new(0);

/// The largest block request the table serves, in bytes (at least one
/// block is always served).
pub(crate) fn max_block_request() -> u64 {
    MAX_BLOCK_REQUEST.load(Ordering::Relaxed)
}

pub(crate) fn block_read(handle: u64, _e: &Entry, offset: u64, buf: &mut [u8]) -> u32 {
    // SAFETY: valid table; buf is a live exclusive slice of buf.len() bytes.
    unsafe { (table().block_read)(handle, offset, buf.as_mut_ptr(), buf.len()) }
}

pub(crate) fn block_write(handle: u64, _e: &Entry, offset: u64, buf: &[u8]) -> u32 {
    // SAFETY: valid table; buf is a live slice of buf.len() bytes.
    unsafe { (table().block_write)(handle, offset, buf.as_ptr(), buf.len()) }
}
