//! test_rnox: read-only data is not executable: a call into a `static` in
//! `.rodata` that holds a `ret` faults (spt: SIGSEGV, exit status 139;
//! hvt: a page fault the guest reports, status 255).
#![no_std]
#![no_main]

use core::arch::asm;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, failure};

solo5_guest::manifest! {}
solo5_guest::main!(app);

/// `ret`, should it run.
static CODE: [u8; 4] = [0xc3, 0xc3, 0xc3, 0xc3];

fn app(_start: &StartInfo) -> i32 {
    banner("rnox");
    let p = core::hint::black_box(CODE.as_ptr()) as usize;
    // SAFETY: deliberately faults: .rodata is not executable. Should it
    // run, the code is a lone `ret`, which returns here with every
    // register as the call left it.
    unsafe { asm!("call {}", in(reg) p, clobber_abi("C")) };
    failure(format_args!("executed read-only data at {p:#x}"))
}
