//! test_rnow: read-only data is not writable: a write to a `static` in
//! `.rodata` faults (spt: SIGSEGV, exit status 139; hvt: a page fault the
//! guest reports, status 255).
#![no_std]
#![no_main]

use core::arch::asm;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, failure};

solo5_guest::manifest! {}
solo5_guest::main!(app);

static CONSTANT: [u8; 8] = *b"rodata!!";

fn app(_start: &StartInfo) -> i32 {
    banner("rnow");
    let p = core::hint::black_box(CONSTANT.as_ptr()) as usize;
    // SAFETY: deliberately faults: .rodata is mapped read-only. Inline asm,
    // because a write through a shared reference is undefined behaviour.
    unsafe { asm!("mov byte ptr [{}], 0x41", in(reg) p, options(nostack)) };
    failure(format_args!("wrote to read-only data at {p:#x}"))
}
