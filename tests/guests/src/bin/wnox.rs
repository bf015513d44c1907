//! test_wnox: code is not writable: a write to a function's first byte
//! ends the process with SIGSEGV (exit status 139).
#![no_std]
#![no_main]

use core::arch::asm;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, failure};

solo5_guest::manifest! {}
solo5_guest::main!(app);

#[inline(never)]
fn nothing() {}

fn app(_start: &StartInfo) -> i32 {
    banner("wnox");
    let code = nothing as fn() as usize;
    // SAFETY: deliberately faults: .text is mapped read + execute, so the
    // store ends with SIGSEGV. Should it succeed, it writes `ret` (0xc3)
    // over `nothing`, which is what that function already does.
    unsafe { asm!("mov byte ptr [{}], 0xc3", in(reg) code, options(nostack)) };
    nothing();
    failure(format_args!("wrote to code at {code:#x}"))
}
