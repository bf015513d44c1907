//! test_bigbss: a large `.bss` (768 KiB) is zero, writable to its last
//! byte, and the heap starts after it. The SDK counts it from its own
//! `_end`, whatever the tender makes of a segment that is mostly `.bss`:
//! with 2 MiB of memory the image leaves less than the 512 KiB upstream's
//! bindings require, and the guest stops with `Solo5: ABORT: Not enough
//! memory` (status 255); with 3 MiB it runs.
#![no_std]
#![no_main]

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, check, success, Global};

solo5_guest::manifest! {}
solo5_guest::main!(app);

/// Bytes of `.bss`.
const SIZE: usize = 768 << 10;

static BIG: Global<[u8; SIZE]> = Global::new([0; SIZE]);

fn app(start: &StartInfo) -> i32 {
    banner("bigbss");
    let p = BIG.as_ptr() as *mut u8;
    let (lo, hi) = (p as usize, p as usize + SIZE);
    check!(
        start.heap_start() >= hi,
        "heap starts at {:#x}, inside .bss [{lo:#x}, {hi:#x})",
        start.heap_start()
    );
    for off in (0..SIZE).step_by(4096).chain([SIZE - 1]) {
        // SAFETY: off < SIZE: a byte of BIG, which only this loop touches;
        // one thread. Volatile, so the compiler cannot assume the value.
        let (before, after) = unsafe {
            let b = p.add(off);
            let before = b.read_volatile();
            b.write_volatile(0x5a);
            (before, b.read_volatile())
        };
        check!(before == 0, ".bss byte {off:#x} is {before:#x}, not zero");
        check!(after == 0x5a, ".bss byte {off:#x} is not writable");
    }
    success()
}
