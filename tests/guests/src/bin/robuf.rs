//! test_robuf: a guest hands the host read-only pages of its own image
//! (a `static` in `.rodata`) as buffers. The host must refuse to write
//! into them (`EINVAL`), never fault, and still read from them.
//!
//! Needs net device `service0` with one frame of [`FRAME_LEN`] bytes of
//! [`frame_byte`] waiting (the test suite writes it into a socketpair) and
//! block device `storage` of at least one 512-byte block.
//!
//! Native ABI: the calls go straight through the tender's hypercall table
//! (found through the boot info), so the tender's own checks are what is
//! tested, not the SDK's:
//!
//! 1. `yield` with a read-only ready set while a frame waits: the tender
//!    leaves it alone (yield has no result to say EINVAL with).
//! 2. `net_read` into a read-only buffer, and with a read-only `read_size`:
//!    `EINVAL`, and the frame is still there: `net_read` into a writable
//!    buffer then returns it whole.
//! 3. `block_read` into a read-only buffer: `EINVAL`.
//! 4. `block_write` *from* the read-only buffer works (it is readable), and
//!    reading the block back gives its bytes.
//!
//! spt v2 ABI: the guest makes its own system calls, so the kernel answers
//! (EFAULT): the C API's `solo5_net_read` and `solo5_block_read` into a
//! read-only buffer fail without a fault, and step 4 is the same.
#![no_std]
#![no_main]

use solo5_guest::abi::result;
use solo5_guest::{println, Block, Net, StartInfo};
use solo5_test_guests::{banner, check, success};

solo5_guest::manifest! { net "service0", block "storage" }
solo5_guest::main!(app);

/// Length of the frame the test suite sends.
pub const FRAME_LEN: usize = 60;

/// Byte `i` of that frame.
pub fn frame_byte(i: usize) -> u8 {
    (i as u8).wrapping_mul(3).wrapping_add(1)
}

/// A page of `.rodata`: immutable, no interior mutability.
#[repr(C, align(4096))]
struct Page([u8; 4096]);

static RO: Page = Page([0xa5; 4096]);

/// Whether [`RO`] still holds its initial bytes.
fn ro_intact() -> bool {
    // SAFETY: RO is a live static of 4096 bytes; volatile so the compiler
    // cannot assume the initial value.
    (0..RO.0.len()).all(|i| unsafe { RO.0.as_ptr().add(i).read_volatile() } == 0xa5)
}

fn app(_start: &StartInfo) -> i32 {
    banner("robuf");
    let Ok(net) = Net::acquire("service0") else {
        return solo5_test_guests::failure(format_args!("could not acquire service0"));
    };
    let Ok(block) = Block::acquire("storage") else {
        return solo5_test_guests::failure(format_args!("could not acquire storage"));
    };
    check!(
        block.block_size() == 512,
        "block size {}",
        block.block_size()
    );
    check!(
        RO.0.as_ptr() as u64 >= 0x100000,
        "RO at {:p} is not in the image",
        RO.0.as_ptr()
    );
    let r = flavor::run(net.handle().0, block.handle().0);
    if r != 0 {
        return r;
    }
    check!(ro_intact(), "the read-only page changed");
    println!("read-only buffers refused, guest alive");
    success()
}

#[cfg(feature = "spt")]
mod flavor {
    use super::*;
    use solo5_guest::abi::native::{BootInfo, Hypercalls, BOOT_MAGIC};
    use solo5_guest::abi::BOOT_INFO_ADDR;
    use solo5_test_guests::failure;

    /// The first 8 bytes of [`RO`] as the host would see them.
    fn ro_word() -> u64 {
        // SAFETY: RO is a live static, 4096-aligned, so 8 bytes are
        // readable; volatile so the compiler cannot assume the initial value.
        unsafe { (RO.0.as_ptr() as *const u64).read_volatile() }
    }

    /// The tender's table, from the boot info it wrote at BOOT_INFO_ADDR.
    fn table() -> Option<&'static Hypercalls> {
        // SAFETY: the native tender writes its BootInfo at BOOT_INFO_ADDR
        // (docs/native-abi.md) in read/write guest memory that nothing
        // reuses; the magic is checked before anything else is trusted.
        let bi = unsafe { (BOOT_INFO_ADDR as *const BootInfo).read_volatile() };
        if bi.magic != BOOT_MAGIC || bi.hypercalls == 0 {
            return None;
        }
        // SAFETY: the boot info points at the tender's table, which stays
        // mapped and unchanged for the life of the process.
        Some(unsafe { &*(bi.hypercalls as *const Hypercalls) })
    }

    pub fn run(net: u64, blk: u64) -> i32 {
        let Some(t) = table() else {
            return failure(format_args!("no hypercall table in the boot info"));
        };
        let ro = RO.0.as_ptr() as *mut u8;

        // 1. A frame waits: a writable ready set would get bit `net`.
        let before = ro_word();
        // SAFETY: deadline 0 returns at once; the tender must not write the
        // read-only set (what this test checks).
        unsafe { (t.yield_)(0, ro as *mut u64) };
        check!(ro_word() == before, "yield wrote the read-only ready set");
        let mut set = 0u64;
        // SAFETY: set is a writable u64.
        unsafe { (t.yield_)(0, &mut set) };
        check!(set & (1 << net) != 0, "no frame ready (set {set:#x})");

        // 2. net_read into read-only memory, and a read-only read_size.
        let mut n = 0usize;
        // SAFETY: the tender checks the buffers itself (what is tested).
        let r = unsafe { (t.net_read)(net, ro, 1514, &mut n) };
        check!(r == result::EINVAL, "net_read into .rodata: {r}");
        let mut buf = [0u8; 1514];
        // SAFETY: as above.
        let r = unsafe { (t.net_read)(net, buf.as_mut_ptr(), buf.len(), ro as *mut usize) };
        check!(
            r == result::EINVAL,
            "net_read with read_size in .rodata: {r}"
        );
        // SAFETY: both buffers are writable locals.
        let r = unsafe { (t.net_read)(net, buf.as_mut_ptr(), buf.len(), &mut n) };
        check!(r == result::OK, "net_read after the refusals: {r}");
        check!(n == FRAME_LEN, "frame of {n} bytes");
        check!(
            buf[..n]
                .iter()
                .enumerate()
                .all(|(i, &b)| b == frame_byte(i)),
            "frame bytes differ"
        );

        // 3. block_read into read-only memory.
        // SAFETY: the tender checks the buffer itself.
        let r = unsafe { (t.block_read)(blk, 0, ro, 512) };
        check!(r == result::EINVAL, "block_read into .rodata: {r}");

        // 4. Read-only memory is readable: write it to block 0, read back.
        // SAFETY: RO is readable for 512 bytes.
        let r = unsafe { (t.block_write)(blk, 0, ro, 512) };
        check!(r == result::OK, "block_write from .rodata: {r}");
        let mut back = [0u8; 512];
        // SAFETY: back is a writable local of 512 bytes.
        let r = unsafe { (t.block_read)(blk, 0, back.as_mut_ptr(), 512) };
        check!(r == result::OK, "block_read: {r}");
        check!(back.iter().all(|&b| b == 0xa5), "block 0 does not hold RO");
        0
    }
}

#[cfg(not(feature = "spt"))]
mod flavor {
    use super::*;
    use solo5_guest::capi;

    pub fn run(net: u64, blk: u64) -> i32 {
        let ro = RO.0.as_ptr() as *mut u8;
        let mut n = 0usize;
        // SAFETY: deliberately a read-only buffer: the kernel refuses to
        // write it (EFAULT), which is what is tested.
        let r = unsafe { capi::solo5_net_read(net, ro, 1514, &mut n) };
        check!(r != result::OK, "net_read into .rodata succeeded");
        // SAFETY: as above.
        let r = unsafe { capi::solo5_block_read(blk, 0, ro, 512) };
        check!(r != result::OK, "block_read into .rodata succeeded");
        // SAFETY: RO is readable for 512 bytes.
        let r = unsafe { capi::solo5_block_write(blk, 0, ro, 512) };
        check!(r == result::OK, "block_write from .rodata: {r}");
        let mut back = [0u8; 512];
        // SAFETY: back is a writable local of 512 bytes.
        let r = unsafe { capi::solo5_block_read(blk, 0, back.as_mut_ptr(), 512) };
        check!(r == result::OK, "block_read: {r}");
        check!(back.iter().all(|&b| b == 0xa5), "block 0 does not hold RO");
        0
    }
}
