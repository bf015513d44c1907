//! test_heap_exhaust: the SDK's allocator (feature `alloc`) hands out the
//! heap and nothing more. Allocations fail cleanly once it is used up, no
//! block reaches past the heap (into the guard or the stack), and the
//! stack still works after that.
//!
//! Without an argument: allocate 4 KiB blocks until the allocator says no,
//! check them, print `SUCCESS`. With `abort`: then ask for one more block
//! the infallible way (`Box::new`), which must end the guest with one
//! `Solo5: PANIC: ... memory allocation of 4096 bytes failed` line and exit
//! status 255.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::alloc::{alloc, Layout};
use alloc::boxed::Box;
use core::hint::black_box;

use solo5_guest::{println, StartInfo};
use solo5_test_guests::{banner, check, failure, success};

solo5_guest::manifest! {}
solo5_guest::main!(app);

/// Size of each block.
const BLOCK: usize = 4096;

/// A function with a large frame, to show the stack is intact and usable.
#[inline(never)]
fn deep_frame(seed: u8) -> u32 {
    let mut buf = [0u8; 64 * 1024];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    black_box(&mut buf);
    buf.iter().map(|&b| b as u32).sum()
}

fn app(start: &StartInfo) -> i32 {
    banner("heap_exhaust");
    let (lo, hi) = (start.heap_start(), start.heap_start() + start.heap_size());
    let layout = Layout::from_size_align(BLOCK, BLOCK).unwrap_or(Layout::new::<u8>());
    let mut blocks = 0usize;
    let mut first = 0usize;
    let mut last = 0usize;
    loop {
        // SAFETY: a non-zero-size layout; the block is never freed.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            break;
        }
        let a = p as usize;
        check!(
            a >= lo && a + BLOCK <= hi,
            "block {a:#x} outside the heap [{lo:#x}, {hi:#x})"
        );
        check!(a > last, "block {a:#x} handed out twice");
        // SAFETY: the allocator gave us BLOCK bytes at p.
        unsafe { p.write_bytes(0xa5, BLOCK) };
        if first == 0 {
            first = a;
        }
        last = a;
        blocks += 1;
    }
    check!(
        blocks > 0,
        "no block at all from a heap of {} bytes",
        hi - lo
    );
    // At most one block's worth (plus alignment) is left over.
    check!(
        hi - (last + BLOCK) < 2 * BLOCK,
        "allocator stopped at {:#x}, heap ends at {hi:#x}",
        last + BLOCK
    );
    // SAFETY: first..last+BLOCK are blocks we filled above.
    let intact = (first..last + BLOCK)
        .step_by(BLOCK)
        .all(|a| unsafe { (a as *const u8).read_volatile() } == 0xa5);
    check!(intact, "a block lost its contents");
    check!(deep_frame(3) != 0, "the stack is unusable");
    println!(
        "heap exhausted after {} blocks ({} KiB of {} KiB)",
        blocks,
        blocks * BLOCK / 1024,
        (hi - lo) / 1024
    );
    if start.cmdline().trim() == "abort" {
        let b = Box::new([0u8; BLOCK]);
        black_box(&b);
        return failure(format_args!("Box::new past the end of the heap returned"));
    }
    success()
}
