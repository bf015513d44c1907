//! blkbounds OP CASE: one block request, `read` or `write`, that bypasses
//! the SDK's own checks and goes straight to the tender, so that the
//! tender's checks are what is tested (tests/tests/block_bounds.rs):
//!
//! - `spt` (native ABI): the tender's hypercall table, found through the
//!   boot info, as in `robuf`;
//! - `spt-v2`: the guest's own `pread64`/`pwrite64` system calls on the
//!   device's host descriptor, under upstream's seccomp filter;
//! - `hvt`: a raw BLOCK_READ / BLOCK_WRITE hypercall (`outl` to port
//!   0x505 / 0x504).
//!
//! It prints `blkbounds: OP CASE: ret=N` and exits 0: N is the Solo5
//! result code (0 OK, 2 EINVAL; -1 if an hvt tender wrote no result) or,
//! on spt-v2, the system call's return value (bytes moved, or -errno). A
//! request the tender stops the guest for never gets there.
//!
//! Device `storage` (at least 1 MiB + one block, for `max` and
//! `over-max`); the buffer is the heap (at least 1 MiB + one block of it,
//! so `--mem=4`), filled with 0xee before a write.
//!
//! | CASE | offset | length | buffer |
//! |---|---|---|---|
//! | ok, ok-last | 0, capacity - block | block | heap |
//! | at-capacity, past-capacity | capacity, capacity + block | block | heap |
//! | huge-offset | 2^64 - block | block | heap |
//! | wrap | capacity - block | 2^64 - 101 | heap |
//! | len-0, len-100, len-513 | 0 | 0, 100, 513 | heap |
//! | misaligned-1, misaligned-511 | 1, 511 | block | heap |
//! | outside-top | 0 | block | `mem_size` (just past guest memory) |
//! | outside-straddle | 0 | block | `mem_size - 256` |
//! | outside-far | 0 | block | 2^40 |
//! | two-blocks | 0 | 2 blocks | heap |
//! | two-straddle | capacity - block | 2 blocks | heap |
//! | max, over-max | 0 | 1 MiB, 1 MiB + block | heap |
#![no_std]
#![no_main]

use solo5_guest::{println, Block, StartInfo};
use solo5_test_guests::failure;

solo5_guest::manifest! { block "storage" }
solo5_guest::main!(app);

/// The largest request hvt serves in one call.
const MAX_REQUEST: u64 = 1 << 20;

/// (offset, length, buffer) of `case`, or None if there is no such case.
fn request(
    case: &str,
    capacity: u64,
    bs: u64,
    heap: u64,
    mem_size: u64,
) -> Option<(u64, u64, u64)> {
    Some(match case {
        "ok" => (0, bs, heap),
        "ok-last" => (capacity - bs, bs, heap),
        "at-capacity" => (capacity, bs, heap),
        "past-capacity" => (capacity + bs, bs, heap),
        "huge-offset" => (0u64.wrapping_sub(bs), bs, heap),
        "wrap" => (capacity - bs, u64::MAX - 100, heap),
        "len-0" => (0, 0, heap),
        "len-100" => (0, 100, heap),
        "len-513" => (0, 513, heap),
        "misaligned-1" => (1, bs, heap),
        "misaligned-511" => (511, bs, heap),
        "outside-top" => (0, bs, mem_size),
        "outside-straddle" => (0, bs, mem_size - 256),
        "outside-far" => (0, bs, 1 << 40),
        "two-blocks" => (0, 2 * bs, heap),
        "two-straddle" => (capacity - bs, 2 * bs, heap),
        "max" => (0, MAX_REQUEST, heap),
        "over-max" => (0, MAX_REQUEST + bs, heap),
        _ => return None,
    })
}

fn app(start: &StartInfo) -> i32 {
    let mut words = start.cmdline().split_ascii_whitespace();
    let (Some(op), Some(case)) = (words.next(), words.next()) else {
        return failure(format_args!("usage: blkbounds read|write CASE"));
    };
    let write = match op {
        "read" => false,
        "write" => true,
        _ => return failure(format_args!("unknown operation '{op}'")),
    };
    let Ok(blk) = Block::acquire("storage") else {
        return failure(format_args!("could not acquire storage"));
    };
    let (capacity, bs) = (blk.capacity(), blk.block_size());
    let heap = start.heap_start() as u64;
    let heap_size = start.heap_size() as u64;
    // The end of guest memory, from the tender's boot info.
    let mem_size = flavor::mem_size();
    let Some((offset, len, buf)) = request(case, capacity, bs, heap, mem_size) else {
        return failure(format_args!("unknown case '{case}'"));
    };
    let fill = MAX_REQUEST + bs;
    if heap_size < fill {
        return failure(format_args!("heap of {heap_size} bytes too small"));
    }
    if write {
        // SAFETY: [heap, heap + fill) is the heap, which this guest owns
        // and does not otherwise use (no allocation).
        unsafe { core::ptr::write_bytes(heap as *mut u8, 0xee, fill as usize) };
    }
    println!(
        "blkbounds: capacity {capacity}, block size {bs}, mem_size {mem_size:#x}, heap {heap:#x}"
    );
    println!("blkbounds: {op} {case}: offset {offset:#x}, len {len:#x}, buf {buf:#x}");
    let ret = flavor::request(blk.handle().0, write, offset, buf, len);
    println!("blkbounds: {op} {case}: ret={ret}");
    0
}

#[cfg(feature = "spt")]
mod flavor {
    use solo5_guest::abi::native::{BootInfo, Hypercalls, BOOT_MAGIC};
    use solo5_guest::abi::BOOT_INFO_ADDR;

    fn boot_info() -> BootInfo {
        // SAFETY: the native tender writes its BootInfo at BOOT_INFO_ADDR
        // in read/write guest memory that nothing reuses.
        unsafe { (BOOT_INFO_ADDR as *const BootInfo).read_volatile() }
    }

    pub fn mem_size() -> u64 {
        boot_info().mem_size
    }

    /// The tender's table function, with our arguments unchecked.
    pub fn request(handle: u64, write: bool, offset: u64, buf: u64, len: u64) -> i64 {
        let bi = boot_info();
        if bi.magic != BOOT_MAGIC || bi.hypercalls == 0 {
            return -1000;
        }
        // SAFETY: the boot info points at the tender's table, which stays
        // mapped and unchanged for the life of the process.
        let t = unsafe { &*(bi.hypercalls as *const Hypercalls) };
        let size = len as usize;
        // SAFETY: the tender checks every argument itself (what is
        // tested); the buffer is ours where it lies in guest memory.
        let r = unsafe {
            if write {
                (t.block_write)(handle, offset, buf as *const u8, size)
            } else {
                (t.block_read)(handle, offset, buf as *mut u8, size)
            }
        };
        i64::from(r)
    }
}

#[cfg(all(feature = "spt-v2", not(feature = "spt")))]
mod flavor {
    use solo5_guest::abi::mft::{Entry, HEADER_SIZE};
    use solo5_guest::abi::sptv2::BootInfo;
    use solo5_guest::abi::BOOT_INFO_ADDR;
    use solo5_test_guests::raw_syscall;

    const SYS_PREAD64: u64 = 17;
    const SYS_PWRITE64: u64 = 18;

    fn boot_info() -> BootInfo {
        // SAFETY: the spt tender writes the v2 boot info at BOOT_INFO_ADDR
        // in read/write guest memory that nothing reuses.
        unsafe { (BOOT_INFO_ADDR as *const BootInfo).read_volatile() }
    }

    pub fn mem_size() -> u64 {
        boot_info().mem_size
    }

    /// Our own `pread64`/`pwrite64` on the device's host descriptor: only
    /// upstream's seccomp filter stands between it and the host.
    pub fn request(handle: u64, write: bool, offset: u64, buf: u64, len: u64) -> i64 {
        let mft = boot_info().mft;
        // SAFETY: the tender copied the manifest (header, then entries)
        // there; handle is the index of an acquired entry.
        let e = unsafe {
            ((mft as usize + HEADER_SIZE) as *const Entry)
                .add(handle as usize)
                .read_unaligned()
        };
        let fd = u64::from(e.hostfd as u32);
        let nr = if write { SYS_PWRITE64 } else { SYS_PREAD64 };
        // SAFETY: the filter and the kernel decide (what is tested); the
        // buffer is ours where it lies in guest memory.
        unsafe { raw_syscall(nr, [fd, buf, len, offset, 0, 0]) }
    }
}

#[cfg(all(feature = "hvt", not(any(feature = "spt", feature = "spt-v2"))))]
mod flavor {
    use core::arch::asm;

    pub fn mem_size() -> u64 {
        // SAFETY: the hvt tender writes its boot info at 0x10000 (mem_size
        // first), mapped read-only for the guest.
        unsafe { (0x10000 as *const u64).read_volatile() }
    }

    #[repr(C)]
    struct BlockIo {
        handle: u64,
        offset: u64,
        data: u64,
        len: u64,
        ret: i32,
    }

    /// A raw BLOCK_WRITE (port 0x504) or BLOCK_READ (0x505) hypercall.
    pub fn request(handle: u64, write: bool, offset: u64, buf: u64, len: u64) -> i64 {
        let mut a = BlockIo {
            handle,
            offset,
            data: buf,
            len,
            ret: -1,
        };
        let port: u16 = if write { 0x504 } else { 0x505 };
        let gpa = &mut a as *mut BlockIo as usize as u32;
        // SAFETY: the hypercall ports are open at CPL3; the tender reads
        // and writes the struct (a live local) and the buffer it names.
        unsafe {
            asm!("out dx, eax", in("dx") port, in("eax") gpa, options(nostack, preserves_flags))
        };
        // SAFETY: a is a live local the tender may have written.
        i64::from(unsafe { core::ptr::addr_of!(a.ret).read_volatile() })
    }
}
